"""Hallmark's audit chain and the standalone verifier that evidence packs ship share one
definition of what is hashed and signed: a chain written by ``record_event`` and a checkpoint
signed by ``governance.checkpoints`` verify with ``governance.offline_verify`` alone."""

from __future__ import annotations

import json

import pytest

from governance import audit_chain, checkpoints, offline_verify
from governance.audit_chain import event_body
from governance.audit_trail import record_event, verify_audit_chain
from governance.export import ExportScope, export_lines
from governance.models import AuditEvent
from tests.governance.audit_helpers import fast_passwords, quiet_identity_audit  # noqa: F401

pytestmark = pytest.mark.usefixtures("quiet_identity_audit")


@pytest.fixture
def events(users):
    """A few events with the values canonical JSON is touchy about (floats, big ints, Unicode)."""
    return [
        record_event(
            "test.agreement",
            acting_user=users["reviewer"] if n % 2 else None,
            target=("tests.thing", str(n)),
            data={"n": n, "ratio": n / 7, "big": 2**60 + n, "text": "ünïcode ✓", "none": None},
        )
        for n in range(5)
    ]


def test_the_chain_hash_its_fields_and_the_checkpoint_format_are_the_offline_verifiers() -> None:
    assert audit_chain.chain_hash is offline_verify.event_hash
    assert audit_chain.HASHED_FIELDS is offline_verify.HASHED_FIELDS
    assert checkpoints.key_id is offline_verify.key_id
    assert checkpoints.CHECKPOINT_FORMAT is offline_verify.CHECKPOINT_FORMAT


def test_each_event_hash_recomputes_the_same_in_hallmark_and_offline(events) -> None:
    for row in AuditEvent.objects.order_by("seq"):
        body = event_body(
            seq=row.seq,
            at=row.at,
            actor=row.actor,
            actor_id=row.actor_id,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            data=row.data,
        )
        assert list(body) == list(offline_verify.HASHED_FIELDS)
        assert audit_chain.chain_hash(row.prev_hash, body) == row.hash
        assert offline_verify.event_hash(row.prev_hash, body) == row.hash
    assert verify_audit_chain().ok


def test_a_chain_written_by_record_event_verifies_offline_with_its_signed_checkpoint(events) -> None:
    _, public_path = checkpoints.init_key()
    checkpoint, _ = checkpoints.create_checkpoint()
    # The export's JSON text, as a recipient reads it: nothing of Hallmark's objects travels.
    lines = list(export_lines(ExportScope()))
    report = offline_verify.verify_export_lines(lines, public_key_pem=public_path.read_bytes())
    assert report["ok"], report["problems"]
    assert report["events_checked"] == len(events)
    assert report["checkpoint"].startswith(f"verified with the trusted public key: seq {checkpoint.seq}")
    assert offline_verify.checkpoint_problems(report, public_path.read_bytes()) == []


def test_a_checkpoint_signed_by_checkpoints_verifies_with_check_checkpoint(tmp_path) -> None:
    private_path, public_path = checkpoints.init_key(tmp_path / "key.pem", checkpoint_directory=tmp_path)
    signed = checkpoints.sign(checkpoints.load_private_key(private_path), seq=41, hash="ab" * 32)
    document = json.loads(json.dumps(signed.as_document()))
    assert offline_verify.check_checkpoint(document, public_path.read_bytes()) is None

    # The two disagree about nothing: a changed payload fails offline as it fails in Hallmark.
    document["checkpoint"]["seq"] = 42
    assert offline_verify.check_checkpoint(document, public_path.read_bytes()) == (
        "the signature does not match the checkpoint"
    )
    with pytest.raises(checkpoints.CheckpointError, match="signature does not match"):
        checkpoints.verify_signature(checkpoints.parse(document), checkpoints.load_public_key(public_path))
