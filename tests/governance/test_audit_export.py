"""Audit export: JSON Lines that can be verified offline, by the command, the API and a
standalone script that imports nothing from Hallmark."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rfc8785
from django.core.management import CommandError, call_command

from governance import checkpoints, offline_verify
from governance.audit_chain import GENESIS_HASH
from governance.audit_trail import record_event
from governance.export import ExportScope, export_lines, verify_export
from tests.governance.audit_helpers import edit_event_data, fast_passwords, quiet_identity_audit  # noqa: F401

# Written around exact seq numbers: the users fixture and logins add no events here.
pytestmark = pytest.mark.usefixtures("quiet_identity_audit")


@pytest.fixture
def events(users):
    """Eight events; targets alternate between two things so a target's events are not contiguous."""
    return [
        record_event(
            "test.event",
            acting_user=users["reviewer"] if n % 3 else None,
            target=("tests.thing", "a" if n % 2 == 0 else "b"),
            data={"n": n, "ratio": n / 3, "big": 2**60 + n, "text": "ünïcode ✓"},
        )
        for n in range(8)
    ]


def lines_of(scope: ExportScope = ExportScope(), **kwargs) -> list[str]:
    return list(export_lines(scope, **kwargs))


def test_whole_chain_export_verifies_and_describes_itself(events) -> None:
    lines = lines_of()
    header = json.loads(lines[0])
    assert header["format"] == "hallmark-audit-export/1"
    assert header["canonicalization"].startswith("RFC 8785")
    assert "sha256" in header["hash_algorithm"]
    assert header["anchor"] == {"seq": 0, "hash": GENESIS_HASH}
    assert header["event_count"] == 8 and header["range"]["contiguous"] is True
    exported = [json.loads(line) for line in lines[1:]]
    assert [e["seq"] for e in exported] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [e["hash"] for e in exported] == [e.hash for e in events]

    report = verify_export(lines)
    assert report["ok"], report["problems"]
    assert report["events_checked"] == 8 and report["checkpoint"] == "absent"


def test_each_exported_hash_recomputes_with_only_hashlib_and_rfc8785(events) -> None:
    for line in lines_of()[1:]:
        event = json.loads(line)
        body = {
            k: event[k]
            for k in ("seq", "at", "actor", "actor_id", "action", "target_type", "target_id", "data")
        }
        digest = hashlib.sha256(event["prev_hash"].encode("ascii") + rfc8785.dumps(body)).hexdigest()
        assert digest == event["hash"]


def test_time_range_exports_a_contiguous_slice_anchored_on_the_previous_event(events) -> None:
    scope = ExportScope(after=events[2].at, before=events[6].at)
    lines = lines_of(scope)
    header = json.loads(lines[0])
    seqs = [json.loads(line)["seq"] for line in lines[1:]]
    assert seqs == [e.seq for e in events if events[2].at <= e.at < events[6].at]
    assert seqs[0] == 3
    assert header["anchor"] == {"seq": 2, "hash": events[1].hash}
    assert verify_export(lines)["ok"]


def test_target_export_is_not_contiguous_but_each_event_verifies_on_its_own(events) -> None:
    lines = lines_of(ExportScope(targets=(("tests.thing", "b"),)))
    header = json.loads(lines[0])
    assert header["range"]["contiguous"] is False
    assert [json.loads(line)["seq"] for line in lines[1:]] == [2, 4, 6, 8]
    report = verify_export(lines)
    assert report["ok"], report["problems"]
    assert report["events_checked"] == 4


def test_an_edited_line_is_named(events) -> None:
    lines = lines_of()
    event = json.loads(lines[4])
    event["actor"] = "someone-else"
    lines[4] = json.dumps(event)
    report = verify_export(lines)
    assert not report["ok"]
    assert report["problems"] == ["audit event seq 4: content does not match its hash (edited)"]


def test_a_dropped_line_is_named_in_a_contiguous_export(events) -> None:
    lines = lines_of()
    del lines[3]
    problems = verify_export(lines)["problems"]
    assert "audit event seq 4: expected seq 3 here (events missing)" in problems
    assert any("declares 8 events but 7" in p for p in problems)


def test_a_dropped_line_of_a_target_export_is_caught_by_the_count(events) -> None:
    lines = lines_of(ExportScope(targets=(("tests.thing", "a"),)))
    assert not verify_export(lines[:-1])["ok"]


def test_a_row_edited_in_the_database_exports_as_a_failing_event(events) -> None:
    edit_event_data(5, {"n": 500})
    problems = verify_export(lines_of())["problems"]
    assert problems == ["audit event seq 5: content does not match its hash (edited)"]


def test_the_latest_checkpoint_travels_in_the_header(settings, tmp_path, events, users) -> None:
    settings.HALLMARK_AUDIT_SIGNING_KEY = tmp_path / "key.pem"
    settings.HALLMARK_AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    _, public_path = checkpoints.init_key()
    checkpoints.create_checkpoint()
    record_event("test.event", acting_user=users["admin"], target=("tests.thing", "a"), data={})

    lines = lines_of()
    header = json.loads(lines[0])
    assert header["checkpoint"]["checkpoint"]["seq"] == 8
    assert header["checkpoint_public_key"] == public_path.read_text()
    trusted = verify_export(lines, public_key_pem=public_path.read_bytes())
    assert trusted["ok"] and trusted["checkpoint"].startswith("verified with the trusted public key: seq 8")
    embedded = verify_export(lines)
    assert "embedded in the export" in embedded["checkpoint"]

    # A separate key pair, not the configured one: its own (empty) checkpoint directory.
    _, other = checkpoints.init_key(tmp_path / "other.pem", checkpoint_directory=tmp_path / "other")
    wrong = verify_export(lines, public_key_pem=other.read_bytes())
    assert not wrong["ok"] and "not with the given public key" in wrong["problems"][0]

    # A forger who rewrites seq 8 in the export (with a self-consistent hash) and the events after
    # it cannot match the signed checkpoint.
    forged = [json.loads(line) for line in lines]
    forged[8]["data"] = {"n": -8}
    body = {k: forged[8][k] for k in offline_verify.HASHED_FIELDS}
    forged[8]["hash"] = offline_verify.event_hash(forged[8]["prev_hash"], body)
    forged[9]["prev_hash"] = forged[8]["hash"]
    body = {k: forged[9][k] for k in offline_verify.HASHED_FIELDS}
    forged[9]["hash"] = offline_verify.event_hash(forged[9]["prev_hash"], body)
    report = verify_export([json.dumps(o) for o in forged], public_key_pem=public_path.read_bytes())
    assert report["problems"] == ["audit event seq 8: hash differs from the signed checkpoint (rewritten)"]


def test_command_writes_a_file_and_filters_by_target(events, tmp_path) -> None:
    out = tmp_path / "audit.jsonl"
    call_command(
        "audit_export",
        "--target-type",
        "tests.thing",
        "--target-id",
        "a",
        "-o",
        str(out),
        stderr=io.StringIO(),
    )
    lines = out.read_text().splitlines()
    assert len(lines) == 5 and verify_export(lines)["ok"]

    stdout = io.StringIO()
    call_command("audit_export", "--after", events[6].at.isoformat(), stdout=stdout)
    assert [json.loads(line)["seq"] for line in stdout.getvalue().splitlines()[1:]] == [7, 8]

    with pytest.raises(CommandError, match="go together"):
        call_command("audit_export", "--target-type", "tests.thing")
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("audit_export", "--after", "yesterday")


def test_standalone_verifier_needs_nothing_from_hallmark(events, tmp_path) -> None:
    export = tmp_path / "audit.jsonl"
    export.write_text("".join(lines_of()))
    script = tmp_path / "verify_evidence.py"
    shutil.copy(Path(offline_verify.__file__), script)
    # -I: isolated mode, so neither the repository nor PYTHONPATH is importable.
    # No checkpoint was signed here: without a trusted key the strict default fails...
    strict = subprocess.run(
        [sys.executable, "-I", str(script), str(export)], capture_output=True, text=True, cwd=tmp_path
    )
    assert strict.returncode == 1 and "no trusted public key given" in strict.stdout
    # ...and --no-checkpoint checks the hashes only.
    ok = subprocess.run(
        [sys.executable, "-I", str(script), str(export), "--no-checkpoint"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "audit events verified: 8" in ok.stdout

    tampered = export.read_text().replace('"n":3', '"n":33')
    export.write_text(tampered)
    bad = subprocess.run(
        [sys.executable, "-I", str(script), str(export), "--no-checkpoint"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert bad.returncode == 1
    assert "audit event seq 4: content does not match its hash" in bad.stdout


def test_api_streams_ndjson_to_reviewers(events, client_for) -> None:
    response = client_for("reviewer").get(
        "/api/v1/audit/export/",
        {"target_type": "tests.thing", "target_id": "a"},
        HTTP_ACCEPT="application/x-ndjson",
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert response.streaming
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 5
    assert verify_export(lines)["ok"]

    ranged = client_for("admin").get("/api/v1/audit/export/", {"after": events[7].at.isoformat()})
    assert [json.loads(line)["seq"] for line in b"".join(ranged.streaming_content).splitlines()[1:]] == [8]


@pytest.mark.parametrize("role", ["viewer", "creator", "nobody"])
def test_api_export_is_refused_to_other_roles(events, client_for, role) -> None:
    assert client_for(role).get("/api/v1/audit/export/").status_code == 403


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": "not-a-date"}, "after"),
        ({"before": "2026-13-45"}, "before"),
        ({"target_type": "assets.asset"}, "target_id"),
        ({"target_id": "123"}, "target_type"),
        ({"target_type": "assets.asset\x00", "target_id": "1"}, "target_type"),
        ({"target_type": "assets.asset", "target_id": "1" * 65}, "target_id"),
    ],
)
def test_api_export_names_the_bad_parameter(events, client_for, params, field) -> None:
    response = client_for("reviewer").get("/api/v1/audit/export/", params)
    assert response.status_code == 400
    assert field in response.json()["errors"]
