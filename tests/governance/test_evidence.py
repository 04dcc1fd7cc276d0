"""Evidence packs verify offline with nothing but the zip and the development root certificate."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import c2pa
import pytest

from assets import review
from assets.models import Asset
from generation import runner
from generation import services as generation_services
from governance import checkpoints
from governance.export import verify_export
from tests.governance.audit_helpers import fast_passwords  # noqa: F401

EXPECTED_FILES = {
    "README.txt",
    "asset.json",
    "c2pa_manifest.json",
    "xmp.xml",
    "license.json",
    "model_identity.json",
    "policy.json",
    "ATTRIBUTION.txt",
    "audit.jsonl",
    "verify_evidence.py",
    "SHA256SUMS",
}


def c2pa_state(data: bytes, mime_type: str, root_pem: str | None) -> str:
    """The C2PA SDK's verdict, trusting only ``root_pem`` (and never the network)."""
    config: dict = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if root_pem is not None:
        config["trust"] = {"trust_anchors": root_pem}
    try:
        reader = c2pa.Reader.try_create(mime_type, io.BytesIO(data), None, c2pa.Context.from_dict(config))
    except c2pa.C2paError:
        return "Unreadable"
    with reader:
        return json.loads(reader.json())["validation_state"]


@pytest.fixture
def generated(transactional_db, users, procedural, settings, tmp_path) -> Asset:
    """An asset made by the real service path (submit + run), submitted and approved, with a
    signed audit checkpoint."""
    settings.HALLMARK_AUDIT_SIGNING_KEY = tmp_path / "keys" / "checkpoint_ed25519.pem"
    settings.HALLMARK_AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    job, _ = generation_services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={"prompt": "an evidence lighthouse", "seed": 11, "width": 128, "height": 128},
    )
    runner.run(str(job.pk))
    asset = Asset.objects.get(job=job)
    review.submit_for_review(asset.pk, acting_user=users["creator"])
    review.approve(asset.pk, acting_user=users["reviewer"])
    checkpoints.init_key()
    checkpoints.create_checkpoint()
    return Asset.objects.get(pk=asset.pk)


def unpack(client, asset: Asset, folder: Path) -> Path:
    response = client.get(f"/api/v1/assets/{asset.pk}/evidence/")
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/zip"
    assert f"hallmark-evidence-{asset.pk}.zip" in response["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        archive.extractall(folder)
    return folder


def test_evidence_pack_verifies_offline(generated, client_for, settings, tmp_path) -> None:
    asset = generated
    pack = unpack(client_for("reviewer"), asset, tmp_path / "pack")
    root_pem = Path(settings.HALLMARK_C2PA_TRUST_ANCHORS).read_text()  # the development root
    public_key = settings.HALLMARK_AUDIT_SIGNING_KEY.with_name("checkpoint_ed25519.pub.pem")

    names = {str(p.relative_to(pack)) for p in pack.rglob("*") if p.is_file()}
    image_name = f"asset/{asset.pk}.png"
    assert names == EXPECTED_FILES | {image_name}

    # The file: byte for byte what Hallmark stored and audited.
    data = (pack / image_name).read_bytes()
    record = json.loads((pack / "asset.json").read_text())
    assert hashlib.sha256(data).hexdigest() == asset.sha256 == record["sha256"]
    assert record["file"] == image_name and record["status"] == "approved"

    # C2PA: Trusted against the development root, merely Valid without it.
    assert c2pa_state(data, "image/png", root_pem) == "Trusted"
    assert c2pa_state(data, "image/png", None) == "Valid"
    manifest = json.loads((pack / "c2pa_manifest.json").read_text())
    assert manifest["validation_state"] == "Trusted"
    assert manifest["summary"]["hallmark"]["asset_id"] == str(asset.pk)
    assert "algorithmicMedia" in (pack / "xmp.xml").read_text()

    # Licence, model identity, attribution and policy travel with it.
    assert json.loads((pack / "license.json").read_text()) == asset.license
    assert (
        json.loads((pack / "model_identity.json").read_text())["fingerprint"]
        == asset.model_identity["fingerprint"]
    )
    assert (pack / "ATTRIBUTION.txt").read_text().strip() == asset.license["attribution"]
    assert json.loads((pack / "policy.json").read_text())["allowed"] is True
    assert "verify_evidence.py" in (pack / "README.txt").read_text()

    # SHA256SUMS covers every other file.
    for line in (pack / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((pack / name).read_bytes()).hexdigest() == digest
    assert len((pack / "SHA256SUMS").read_text().splitlines()) == len(names) - 1

    # The audit events of the asset and its job, each re-verified, with the signed checkpoint.
    lines = (pack / "audit.jsonl").read_text().splitlines()
    report = verify_export(lines, public_key_pem=public_key.read_bytes())
    assert report["ok"], report["problems"]
    # The checkpoint was signed for the pack, after its own asset.evidence_exported event.
    evidence_seq = report["events"][-1]["seq"]
    assert (
        report["checkpoint"]
        == f"verified with the trusted public key: seq {evidence_seq} matches the signed hash"
    )
    assert checkpoints.read_file(checkpoints.latest_checkpoint_file()).seq == evidence_seq
    actions = [(e["target_type"], e["action"]) for e in report["events"]]
    assert actions == [
        ("generation.generationjob", "generation.requested"),
        ("assets.asset", "asset.created"),
        ("generation.generationjob", "generation.succeeded"),
        ("assets.asset", "asset.submitted_for_review"),
        ("assets.asset", "asset.approved"),
        ("assets.asset", "asset.evidence_exported"),
    ]
    created = report["events"][1]
    assert created["data"]["sha256"] == asset.sha256
    assert created["data"]["model"]["fingerprint"] == asset.model_identity["fingerprint"]
    assert report["events"][-1]["actor"] == "rita"

    # The shipped standalone verifier agrees, with only the standard library and rfc8785.
    ok = subprocess.run(
        [sys.executable, "-I", str(pack / "verify_evidence.py"), str(pack), "--public-key", str(public_key)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK: everything verified." in ok.stdout


def test_a_changed_byte_is_caught_by_every_check(generated, client_for, settings, tmp_path) -> None:
    pack = unpack(client_for("admin"), generated, tmp_path / "pack")
    image = pack / f"asset/{generated.pk}.png"
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0xFF
    image.write_bytes(bytes(data))

    root_pem = Path(settings.HALLMARK_C2PA_TRUST_ANCHORS).read_text()
    assert c2pa_state(bytes(data), "image/png", root_pem) != "Trusted"
    result = subprocess.run(
        [sys.executable, "-I", str(pack / "verify_evidence.py"), str(pack)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert f"asset/{generated.pk}.png: does not match SHA256SUMS" in result.stdout
    assert "differs from the asset record" in result.stdout


def test_an_edited_audit_line_in_the_pack_is_caught(generated, client_for, tmp_path) -> None:
    pack = unpack(client_for("reviewer"), generated, tmp_path / "pack")
    audit = pack / "audit.jsonl"
    audit.write_text(audit.read_text().replace('"actor":"rita"', '"actor":"mallory"', 1))
    result = subprocess.run(
        [sys.executable, "-I", str(pack / "verify_evidence.py"), str(pack)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "content does not match its hash (edited)" in result.stdout


@pytest.mark.parametrize("role", ["viewer", "creator"])
def test_evidence_is_for_reviewers_and_admins(generated, client_for, role) -> None:
    assert client_for(role).get(f"/api/v1/assets/{generated.pk}/evidence/").status_code == 403


def run_verifier(pack: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", str(pack / "verify_evidence.py"), str(pack), *args],
        capture_output=True,
        text=True,
    )


def test_the_verifier_fails_without_a_trusted_key_unless_told_to_skip_the_checkpoint(
    generated, client_for, settings, tmp_path
) -> None:
    pack = unpack(client_for("reviewer"), generated, tmp_path / "pack")
    plain = run_verifier(pack)
    assert plain.returncode == 1
    assert "no trusted public key given (--public-key)" in plain.stdout
    skipped = run_verifier(pack, "--no-checkpoint")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    # A key the user trusts that did not sign the checkpoint: refused.
    _, other = checkpoints.init_key(tmp_path / "other" / "key.pem", checkpoint_directory=tmp_path / "other")
    wrong = run_verifier(pack, "--public-key", str(other))
    assert wrong.returncode == 1 and "not with the given public key" in wrong.stdout


def test_the_verifier_fails_when_sha256sums_is_missing_or_incomplete(
    generated, client_for, settings, tmp_path
) -> None:
    pack = unpack(client_for("reviewer"), generated, tmp_path / "pack")
    public_key = str(settings.HALLMARK_AUDIT_SIGNING_KEY.with_name("checkpoint_ed25519.pub.pem"))
    (pack / "notes.txt").write_text("added after packing\n")
    added = run_verifier(pack, "--public-key", public_key)
    assert added.returncode == 1 and "notes.txt: in the pack but not listed in SHA256SUMS" in added.stdout
    (pack / "notes.txt").unlink()
    (pack / "SHA256SUMS").unlink()
    missing = run_verifier(pack, "--public-key", public_key)
    assert missing.returncode == 1 and "SHA256SUMS is missing" in missing.stdout


def test_a_checkpoint_that_covers_none_of_the_events_is_not_enough(
    generated, client_for, settings, tmp_path
) -> None:
    from governance.models import AuditEvent

    pack = unpack(client_for("reviewer"), generated, tmp_path / "pack")
    public_key = str(settings.HALLMARK_AUDIT_SIGNING_KEY.with_name("checkpoint_ed25519.pub.pem"))
    # Swap in a genuine checkpoint whose seq is none of the pack's events, and fix the sums.
    from governance.audit_trail import record_event

    record_event("test.unrelated", acting_user=None, target=("tests.thing", "1"), data={})
    other, _ = checkpoints.create_checkpoint()
    assert not AuditEvent.objects.filter(seq=other.seq, target_id=str(generated.pk)).exists()
    older = other.as_document()
    audit = pack / "audit.jsonl"
    lines = audit.read_text().splitlines(keepends=True)
    header = json.loads(lines[0])
    header["checkpoint"] = older
    lines[0] = json.dumps(header) + "\n"
    audit.write_text("".join(lines))
    sums = pack / "SHA256SUMS"
    sums.write_text(
        "".join(
            f"{hashlib.sha256((pack / name).read_bytes()).hexdigest()}  {name}\n"
            for name in (line.split("  ", 1)[1] for line in sums.read_text().splitlines())
        )
    )
    result = run_verifier(pack, "--public-key", public_key)
    assert result.returncode == 1
    assert "does not cover any exported event" in result.stdout


def test_a_missing_stored_file_is_a_clear_409(generated, client_for) -> None:
    from governance.models import AuditEvent

    generated.file.storage.delete(generated.file.name)
    response = client_for("reviewer").get(f"/api/v1/assets/{generated.pk}/evidence/")
    assert response.status_code == 409
    assert "cannot be read" in response.json()["detail"]
    assert not AuditEvent.objects.filter(action="asset.evidence_exported").exists()
