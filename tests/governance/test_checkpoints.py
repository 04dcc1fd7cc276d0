"""Signed checkpoints: tampering behind Hallmark's back is caught, even a cut and rewound tail."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from governance import checkpoints
from governance.audit_trail import record_event, verify_audit_chain
from governance.models import AuditEvent
from tests.conftest import ROOT, database_url_for_subprocess
from tests.governance.audit_helpers import (  # noqa: F401 - fast_passwords is an autouse fixture
    delete_tail,
    edit_event_data,
    fast_passwords,
    quiet_identity_audit,
    rewrite_event,
)

# Written around exact seq numbers: the users fixture and logins add no events here.
pytestmark = pytest.mark.usefixtures("quiet_identity_audit")


@pytest.fixture
def audit_dirs(settings, tmp_path: Path) -> tuple[Path, Path]:
    settings.HALLMARK_AUDIT_SIGNING_KEY = tmp_path / "keys" / "checkpoint_ed25519.pem"
    settings.HALLMARK_AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    return settings.HALLMARK_AUDIT_SIGNING_KEY, settings.HALLMARK_AUDIT_CHECKPOINT_DIR


@pytest.fixture
def events(users) -> list[AuditEvent]:
    """Six events by different users on a few targets."""
    made = []
    for n in range(6):
        user = users["admin"] if n % 2 else users["creator"]
        made.append(
            record_event("test.event", acting_user=user, target=("tests.thing", str(n % 3)), data={"n": n})
        )
    return made


def checkpoint_now(*extra: str) -> Path:
    out = io.StringIO()
    call_command("audit_checkpoint", *extra, stdout=out, stderr=io.StringIO())
    return Path(out.getvalue().strip())


def verify(*extra: str) -> str:
    out = io.StringIO()
    call_command("verify_audit", *extra, stdout=out)
    return out.getvalue()


def test_init_key_writes_private_key_mode_600_and_public_key_beside(audit_dirs, events) -> None:
    key_path, checkpoint_dir = audit_dirs
    path = checkpoint_now("--init-key")

    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    public = key_path.with_name("checkpoint_ed25519.pub.pem")
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert path.parent == checkpoint_dir and path.name.startswith("checkpoint-000000000006-")
    document = json.loads(path.read_text())
    assert document["checkpoint"]["seq"] == 6
    assert document["checkpoint"]["hash"] == events[-1].hash
    assert document["algorithm"] == "Ed25519"
    assert document["checkpoint"]["key_id"] == checkpoints.key_id(checkpoints.load_public_key(public))
    # A second --init-key would orphan every checkpoint signed so far: refused.
    with pytest.raises(CommandError, match="already exists"):
        checkpoint_now("--init-key")


def test_checkpoint_without_a_key_says_how_to_make_one(audit_dirs, events) -> None:
    with pytest.raises(CommandError, match="--init-key"):
        checkpoint_now()


def test_intact_chain_verifies_against_its_checkpoints(audit_dirs, users, events) -> None:
    first = checkpoint_now("--init-key")
    record_event("test.event", acting_user=users["admin"], target=("tests.thing", "9"), data={"n": 9})
    second = checkpoint_now()
    output = verify("--checkpoint", str(first), "--checkpoint", str(second))
    assert "7 events" in output
    assert "Checkpoint seq 6" in output and "Checkpoint seq 7" in output
    assert checkpoints.latest_checkpoint_file() == second


def test_deleting_the_tail_and_rewinding_the_head_is_caught_only_by_the_checkpoint(
    audit_dirs, events
) -> None:
    path = checkpoint_now("--init-key")
    delete_tail(5, rewind_head=True)

    # What is left is a perfect chain: the walk alone cannot tell.
    assert verify_audit_chain().ok
    with pytest.raises(CommandError, match=r"seq 6: is missing.*chain now ends at seq 4"):
        verify("--checkpoint", str(path))
    # verify_audit with no options checks the latest checkpoint in the checkpoint directory.
    with pytest.raises(CommandError, match=r"seq 6: is missing.*chain now ends at seq 4"):
        verify()
    # ...and the cut chain gets no fresh signature that would make it look whole.
    with pytest.raises(CommandError, match=r"Refusing to sign: audit chain broken at audit event seq 6"):
        checkpoint_now()
    assert checkpoints.latest_checkpoint_file() == path


def test_deleting_the_tail_without_rewinding_the_head_is_caught_by_the_walk(audit_dirs, events) -> None:
    path = checkpoint_now("--init-key")
    delete_tail(6, rewind_head=False)
    with pytest.raises(CommandError, match="seq 6"):
        verify("--checkpoint", str(path))


def test_rewriting_the_last_event_with_a_recomputed_hash_is_caught_by_the_checkpoint(
    audit_dirs, events
) -> None:
    path = checkpoint_now("--init-key")
    forged = rewrite_event(6, {"n": 600})

    assert AuditEvent.objects.get(seq=6).hash == forged
    assert verify_audit_chain().ok  # a consistent forgery
    with pytest.raises(CommandError, match=r"seq 6: has hash.*rewritten"):
        verify("--checkpoint", str(path))
    with pytest.raises(CommandError, match=r"seq 6: has hash.*rewritten"):
        verify()
    with pytest.raises(CommandError, match=r"Refusing to sign.*seq 6: has hash.*rewritten"):
        checkpoint_now()


@pytest.mark.parametrize("seq", [1, 3, 6])
def test_editing_any_row_behind_hallmarks_back_names_that_event(audit_dirs, events, seq) -> None:
    path = checkpoint_now("--init-key")
    edit_event_data(seq, {"n": 1000})
    with pytest.raises(CommandError, match=rf"seq {seq}: content does not match its hash"):
        verify("--checkpoint", str(path))
    with pytest.raises(CommandError, match=rf"seq {seq}\b"):
        verify()


def test_a_checkpoint_edited_after_signing_is_refused(audit_dirs, events) -> None:
    path = checkpoint_now("--init-key")
    document = json.loads(path.read_text())
    document["checkpoint"]["seq"] = 3
    document["checkpoint"]["hash"] = events[2].hash
    path.write_text(json.dumps(document))
    with pytest.raises(CommandError, match="signature does not match"):
        verify("--checkpoint", str(path))


def test_a_checkpoint_signed_by_another_key_is_refused(audit_dirs, events, tmp_path) -> None:
    path = checkpoint_now("--init-key")
    _, other_public = checkpoints.init_key(
        tmp_path / "other" / "key.pem", checkpoint_directory=tmp_path / "other"
    )
    with pytest.raises(CommandError, match="not with the given public key"):
        verify("--checkpoint", str(path), "--public-key", str(other_public))


def test_a_broken_chain_is_not_signed(audit_dirs, events) -> None:
    checkpoints.init_key()
    edit_event_data(2, {"n": -1})
    with pytest.raises(CommandError, match="Refusing to sign a broken audit chain: audit event seq 2"):
        checkpoint_now()
    assert checkpoints.latest_checkpoint_file() is None


def test_malformed_checkpoint_files_are_reported(audit_dirs, events, tmp_path) -> None:
    checkpoints.init_key()
    bad = tmp_path / "bad.json"
    bad.write_text('{"checkpoint": {"seq": 1}}')
    with pytest.raises(CommandError, match="lacks its signed fields"):
        verify("--checkpoint", str(bad))
    bad.write_text("not json")
    with pytest.raises(CommandError, match="not JSON"):
        verify("--checkpoint", str(bad))


def test_verify_audit_exits_non_zero_naming_the_seq(transactional_db, users, audit_dirs, settings) -> None:
    for n in range(4):
        record_event("test.event", acting_user=users["admin"], target=("tests.thing", "1"), data={"n": n})
    path = checkpoint_now("--init-key")
    delete_tail(3, rewind_head=True)
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocess(),
        "HALLMARK_AUDIT_SIGNING_KEY": str(settings.HALLMARK_AUDIT_SIGNING_KEY),
        "HALLMARK_AUDIT_CHECKPOINT_DIR": str(settings.HALLMARK_AUDIT_CHECKPOINT_DIR),
    }
    plain = subprocess.run(
        [sys.executable, "manage.py", "verify_audit"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    # With no options the latest checkpoint in HALLMARK_AUDIT_CHECKPOINT_DIR is checked.
    assert plain.returncode != 0
    assert "seq 4" in plain.stderr
    walk_only = subprocess.run(
        [sys.executable, "manage.py", "verify_audit"],
        cwd=ROOT,
        env={
            **env,
            "HALLMARK_AUDIT_CHECKPOINT_DIR": str(Path(settings.HALLMARK_AUDIT_CHECKPOINT_DIR) / "none"),
        },
        capture_output=True,
        text=True,
    )
    assert walk_only.returncode == 0, walk_only.stderr  # the walk alone cannot tell
    checked = subprocess.run(
        [sys.executable, "manage.py", "verify_audit", "--checkpoint", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert checked.returncode != 0
    assert "seq 4" in checked.stderr


def test_verify_audit_with_no_options_checks_the_latest_checkpoint(audit_dirs, users, events) -> None:
    checkpoint_now("--init-key")
    record_event("test.event", acting_user=users["admin"], target=("tests.thing", "9"), data={"n": 9})
    latest = checkpoint_now()
    output = verify()
    assert "7 events" in output and "Checkpoint seq 7" in output
    assert checkpoints.latest_checkpoint_file() == latest


def test_a_lost_key_is_not_replaced_quietly_when_checkpoints_exist(audit_dirs, events) -> None:
    key_path, _ = audit_dirs
    first = checkpoint_now("--init-key")
    key_path.unlink()
    with pytest.raises(CommandError, match=r"Checkpoints already exist.*restore that key"):
        checkpoint_now("--init-key")
    assert not key_path.exists()
    assert checkpoints.latest_checkpoint_file() == first


def test_a_new_key_does_not_sign_over_checkpoints_of_the_old_one(audit_dirs, events) -> None:
    first = checkpoint_now("--init-key")
    forged = rewrite_event(6, {"n": 600})
    assert forged != events[-1].hash
    # Someone replaces the key on purpose (--force) to sign the rewritten chain afresh: refused.
    checkpoints.init_key(force=True)
    with pytest.raises(CommandError, match=r"was signed with key sha256:.*not with the current key"):
        checkpoint_now()
    assert checkpoints.latest_checkpoint_file() == first


def test_an_intact_chain_is_signed_again_after_an_earlier_checkpoint(audit_dirs, users, events) -> None:
    first = checkpoint_now("--init-key")
    second = checkpoint_now()  # nothing new: the same head signed again
    record_event("test.event", acting_user=users["admin"], target=("tests.thing", "9"), data={"n": 9})
    third = checkpoint_now()
    assert checkpoints.read_file(first).seq == checkpoints.read_file(second).seq == 6
    assert checkpoints.read_file(third).seq == 7


def _start_sh_checkpoint_block() -> str:
    """The checkpoint lines of scripts/start.sh, run here as they are written there."""
    lines = (ROOT / "scripts" / "start.sh").read_text().splitlines()
    begin = next(
        i for i, line in enumerate(lines) if line.startswith("# A signed checkpoint of the audit chain")
    )
    end = next(i for i in range(begin, len(lines)) if lines[i] == "fi")
    return "\n".join(["set -euo pipefail", f"PY={sys.executable}", *lines[begin : end + 1]]) + "\n"


def test_start_script_makes_the_key_only_on_a_first_start_and_warns_when_refused(
    transactional_db, users, tmp_path
) -> None:
    for n in range(4):
        record_event("test.event", acting_user=users["admin"], target=("tests.thing", "1"), data={"n": n})
    key_path = tmp_path / "keys" / "checkpoint_ed25519.pem"
    checkpoint_dir = tmp_path / "checkpoints"
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocess(),
        "HALLMARK_AUDIT_SIGNING_KEY": str(key_path),
        "HALLMARK_AUDIT_CHECKPOINT_DIR": str(checkpoint_dir),
    }
    block = _start_sh_checkpoint_block()

    def start() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", block], cwd=ROOT, env=env, capture_output=True, text=True)

    first = start()
    assert first.returncode == 0 and "WARNING" not in first.stderr, first.stderr
    assert key_path.exists() and len(list(checkpoint_dir.glob("checkpoint-*.json"))) == 1

    # The tail is cut and the head rewound: the next start signs nothing, but still starts.
    delete_tail(3, rewind_head=True)
    cut = start()
    assert cut.returncode == 0
    assert "WARNING" in cut.stderr and "seq 4" in cut.stderr
    assert len(list(checkpoint_dir.glob("checkpoint-*.json"))) == 1

    # The key goes missing: no new key is made behind the operator's back.
    key_path.unlink()
    lost = start()
    assert lost.returncode == 0 and "WARNING" in lost.stderr
    assert not key_path.exists()


def test_an_incremental_checkpoint_walks_only_the_events_after_the_latest_one(
    audit_dirs, users, events
) -> None:
    checkpoint_now("--init-key")
    for n in range(3):
        record_event("test.event", acting_user=users["admin"], target=("tests.thing", "9"), data={"n": n})
    signed, _ = checkpoints.create_checkpoint(incremental=True)
    assert signed.seq == 9 and signed.hash == AuditEvent.objects.get(seq=9).hash

    # An edited event after the latest checkpoint is refused by the incremental walk too.
    record_event("test.event", acting_user=users["admin"], target=("tests.thing", "9"), data={"n": 10})
    edit_event_data(10, {"n": -1})
    with pytest.raises(checkpoints.CheckpointError, match="audit event seq 10"):
        checkpoints.create_checkpoint(incremental=True)
    with pytest.raises(CommandError, match="audit event seq 10"):
        checkpoint_now()
