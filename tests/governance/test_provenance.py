"""Provenance inside every stored file, checked with third-party readers.

The C2PA SDK's own Reader (c2pa-python), exiftool and sd-parsers read what Hallmark wrote;
none of them shares code with the writer. Generations run through the real service path
(``generation.services.submit`` + ``run``) with the procedural plugin; the AI-model case
stamps directly with ``is_ai_model=True`` since no weightless AI plugin exists.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import c2pa
import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image
from sd_parsers import ParserManager

from assets import verification
from assets.models import Asset
from generation import services as generation_services
from generation.models import GenerationJob
from governance.management.commands.provenance_init import make_development_chain
from governance.provenance import c2pa_signing, credentials, prompt_digest, stamping, xmp_parser

TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
ALGORITHMIC = "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia"


# --- helpers ---------------------------------------------------------------------------------


def make_context(**overrides: Any) -> stamping.ProvenanceContext:
    values: dict[str, Any] = {
        "asset_id": str(uuid.uuid4()),
        "job_id": str(uuid.uuid4()),
        "plugin_id": "tiny-diffusion",
        "plugin_version": "0.3.1",
        "is_ai_model": True,
        "identity": {"name": "tiny-sd", "version": "2024.06", "fingerprint": "sha256:" + "ab" * 32},
        "license": {"spdx_id": "LicenseRef-Test", "commercial_use": False, "allows_training": False},
        "prompt": "a brass astrolabe on velvet",
        "negative_prompt": "blurry",
        "seed": 1234,
        "width": 96,
        "height": 64,
        "created_at": datetime.now(UTC),
        "requested_by": "carl",
        "parameters": {"steps": 3, "sampler": "euler", "guidance_scale": 4.5},
    }
    values.update(overrides)
    return stamping.ProvenanceContext(**values)


def noise_image(width: int = 96, height: int = 64, seed: int = 0) -> Image.Image:
    return Image.frombytes(
        "RGB", (width, height), hashlib.shake_256(str(seed).encode()).digest(width * height * 3)
    )


def c2pa_read(data: bytes, *, anchors: bool) -> c2pa.Reader:
    """c2pa-python's Reader, with the dev root as trust anchor or with SDK defaults."""
    if anchors:
        context = c2pa.Context.from_dict(
            {"trust": {"trust_anchors": Path(django_settings.HALLMARK_C2PA_TRUST_ANCHORS).read_text()}}
        )
        return c2pa.Reader("image/png", io.BytesIO(data), None, context)
    return c2pa.Reader("image/png", io.BytesIO(data))


def assertion(manifest: dict[str, Any], prefix: str) -> dict[str, Any]:
    found = [a["data"] for a in manifest["assertions"] if a["label"].startswith(prefix)]
    assert len(found) == 1, [a["label"] for a in manifest["assertions"]]
    return found[0]


def exiftool_source_type(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / f"{uuid.uuid4()}.png"
    path.write_bytes(data)
    out = subprocess.run(
        ["exiftool", "-j", "-G1", "-XMP-iptcExt:DigitalSourceType", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)[0]["XMP-iptcExt:DigitalSourceType"]


def sd_parse(data: bytes) -> Any:
    info = ParserManager().parse(Image.open(io.BytesIO(data)))
    assert info is not None, "sd-parsers found no generation parameters"
    return info


def generate(users: dict, **fields: Any) -> Asset:
    """One asset through the real service path (submit, then run as a worker would)."""
    from generation import runner, services

    job, _ = services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={"width": 64, "height": 64, "params": {"steps": 1}, **fields},
    )
    runner.run(str(job.pk))
    job.refresh_from_db()
    assert job.status == "succeeded", (job.error_code, job.error)
    return job.assets.get()


def flip_pixel_bit(data: bytes) -> bytes:
    """One bit changed inside the image data (IDAT), which the manifest's hash covers."""
    changed = bytearray(data)
    changed[data.index(b"IDAT") + 12] ^= 0x01
    return bytes(changed)


def stored_bytes(asset: Asset) -> bytes:
    with default_storage.open(asset.file.name, "rb") as handle:
        return handle.read()


needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed")


# --- an AI model's image ---------------------------------------------------------------------


@needs_exiftool
def test_ai_image_carries_signed_c2pa_created_action_xmp_and_a1111(db: None, tmp_path: Path) -> None:
    context = make_context()
    data, mime_type = stamping.stamp(noise_image(), context)
    assert mime_type == "image/png"

    # c2pa-python: intact but untrusted without anchors, Trusted with the dev root.
    with c2pa_read(data, anchors=False) as reader:
        assert reader.get_validation_state() == "Valid"
    with c2pa_read(data, anchors=True) as reader:
        assert reader.get_validation_state() == "Trusted"
        manifest = reader.get_active_manifest()
    assert manifest["claim_generator_info"][0]["name"] == "Hallmark"
    assert manifest["signature_info"]["alg"].lower() == "es256"
    created = assertion(manifest, "c2pa.actions")["actions"]
    assert [a["action"] for a in created] == ["c2pa.created"]
    assert created[0]["digitalSourceType"] == TRAINED
    assert created[0]["softwareAgent"] == {"name": "tiny-sd", "version": "2024.06"}
    hallmark = assertion(manifest, c2pa_signing.HALLMARK_ASSERTION)
    assert hallmark["asset_id"] == context.asset_id
    assert hallmark["job_id"] == context.job_id
    assert hallmark["seed"] == 1234
    assert hallmark["model"]["weights_fingerprint"] == context.identity["fingerprint"]
    assert hallmark["plugin"] == {"id": "tiny-diffusion", "version": "0.3.1"}
    assert hallmark["prompt_sha256"] == hashlib.sha256(context.prompt.encode()).hexdigest()
    # The manifest holds the prompt's hash, never the prompt.
    assert context.prompt not in json.dumps(manifest)
    training = assertion(manifest, "cawg.training-mining")["entries"]
    assert training and all(entry["use"] == "notAllowed" for entry in training.values())

    assert exiftool_source_type(data, tmp_path) == TRAINED

    info = sd_parse(data)
    assert [p.value for p in info.prompts] == [context.prompt]
    assert [p.value for p in info.negative_prompts] == ["blurry"]
    assert info.samplers[0].parameters["seed"] == "1234"


def test_training_assertion_follows_the_licence(db: None) -> None:
    data, _ = stamping.stamp(
        noise_image(), make_context(license={"spdx_id": "MIT", "allows_training": True})
    )
    with c2pa_read(data, anchors=True) as reader:
        entries = assertion(reader.get_active_manifest(), "cawg.training-mining")["entries"]
    assert {entry["use"] for entry in entries.values()} == {"allowed"}


def test_confidential_prompt_is_in_no_part_of_the_file(db: None, settings: Any) -> None:
    settings.HALLMARK_EMBED_PROMPTS = False
    context = make_context(prompt="project nightjar launch poster", negative_prompt="competitor logo")
    data, _ = stamping.stamp(noise_image(), context)

    assert b"nightjar" not in data and b"competitor" not in data
    info = sd_parse(data)
    assert info.prompts == [] and info.negative_prompts == []
    assert info.samplers[0].parameters["seed"] == "1234"  # the rest is still there
    report = credentials.read_credentials(data, "image/png")
    assert report.validation_state == "Trusted"
    # Nor its plain sha256, which would confirm a guessed prompt: an HMAC under the org key.
    assert "prompt_sha256" not in report.hallmark_assertion
    plain_digest = hashlib.sha256(context.prompt.encode("utf-8")).hexdigest()
    assert plain_digest not in json.dumps(report.manifest_store)
    assert plain_digest.encode() not in data


def test_withheld_prompt_is_recorded_as_an_hmac_that_verifies_with_the_key(
    db: None, settings: Any
) -> None:
    settings.HALLMARK_EMBED_PROMPTS = False
    settings.HALLMARK_PROMPT_HMAC_KEY = "k" * 40
    context = make_context(prompt="project nightjar launch poster")
    data, _ = stamping.stamp(noise_image(), context)
    with c2pa_read(data, anchors=True) as reader:
        assert reader.get_validation_state() == "Trusted"
        hallmark = assertion(reader.get_active_manifest(), c2pa_signing.HALLMARK_ASSERTION)

    assert "prompt_sha256" not in hallmark
    expected = hmac.new(b"k" * 40, context.prompt.encode("utf-8"), hashlib.sha256).hexdigest()
    assert hallmark["prompt_hmac_sha256"] == expected
    assert hallmark["prompt_hmac_key_id"] == hashlib.sha256(b"k" * 40).hexdigest()[:8]
    assert prompt_digest.prompt_matches(context.prompt, hallmark) is True
    assert prompt_digest.prompt_matches("project falcon launch poster", hallmark) is False
    # Without the key, a guess cannot be told apart: another key's HMAC is not even comparable.
    assert prompt_digest.prompt_matches(context.prompt, hallmark, key="x" * 40) is None


def test_embedded_prompt_keeps_the_plain_sha256(db: None, settings: Any) -> None:
    settings.HALLMARK_EMBED_PROMPTS = True
    context = make_context()
    data, _ = stamping.stamp(noise_image(), context)
    hallmark = credentials.read_credentials(data, "image/png").hallmark_assertion
    assert hallmark["prompt_sha256"] == hashlib.sha256(context.prompt.encode()).hexdigest()
    assert "prompt_hmac_sha256" not in hallmark
    assert prompt_digest.prompt_matches(context.prompt, hallmark) is True


def test_asset_created_event_and_its_export_follow_the_same_rule(
    users: dict, procedural: str, settings: Any
) -> None:
    from governance.export import ExportScope, export_lines
    from governance.models import AuditEvent

    prompt = "secret rebrand of the harbour ferries"
    plain = hashlib.sha256(prompt.encode()).hexdigest()
    settings.HALLMARK_EMBED_PROMPTS = False
    withheld = generate(users, prompt=prompt)
    event = AuditEvent.objects.get(action="asset.created", target_id=str(withheld.pk))
    assert "prompt_sha256" not in event.data
    assert prompt_digest.prompt_matches(prompt, event.data) is True
    exported = "".join(export_lines(ExportScope(targets=(("assets.asset", str(withheld.pk)),))))
    assert plain not in exported and event.data["prompt_hmac_sha256"] in exported
    assert plain.encode() not in stored_bytes(withheld)

    settings.HALLMARK_EMBED_PROMPTS = True
    embedded = generate(users, prompt=prompt)
    event = AuditEvent.objects.get(action="asset.created", target_id=str(embedded.pk))
    assert event.data["prompt_sha256"] == plain and "prompt_hmac_sha256" not in event.data


def test_withheld_prompts_are_in_no_exported_audit_event(users: dict, procedural: str, settings: Any) -> None:
    """The job's generation.requested event follows the rule too: an audit export (or an
    evidence pack) of a confidential job carries the prompts' HMACs, never their text."""
    from governance.export import ExportScope, export_lines
    from governance.models import AuditEvent

    settings.HALLMARK_EMBED_PROMPTS = False
    prompt, negative = "logo for Project Falcon", "the old falcon mark"
    job, _ = generation_services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={"prompt": prompt, "negative_prompt": negative},
    )
    event = AuditEvent.objects.get(action="generation.requested", target_id=str(job.pk))
    assert "prompt" not in event.data and "negative_prompt" not in event.data
    assert prompt_digest.prompt_matches(prompt, event.data) is True
    assert prompt_digest.prompt_matches(negative, event.data["negative_prompt_digest"]) is True
    exported = "".join(export_lines(ExportScope(targets=(("generation.generationjob", str(job.pk)),))))
    assert event.data["prompt_hmac_sha256"] in exported
    assert "Falcon" not in exported and "falcon" not in exported


# --- the real generation path ------------------------------------------------------------------


@needs_exiftool
def test_generated_asset_is_signed_and_its_record_matches_the_file(
    users: dict, procedural: str, tmp_path: Path
) -> None:
    asset = generate(users, prompt="a lighthouse at dusk", seed=7)
    data = stored_bytes(asset)
    assert hashlib.sha256(data).hexdigest() == asset.sha256
    assert len(data) == asset.byte_size

    with c2pa_read(data, anchors=True) as reader:
        assert reader.get_validation_state() == "Trusted"
        manifest = reader.get_active_manifest()
    created = assertion(manifest, "c2pa.actions")["actions"][0]
    # The procedural demo is not an AI model: algorithmic, not trained.
    assert created["digitalSourceType"] == ALGORITHMIC
    assert created["softwareAgent"] == {
        "name": asset.model_identity["name"],
        "version": asset.model_identity["version"],
    }
    hallmark = assertion(manifest, c2pa_signing.HALLMARK_ASSERTION)
    assert hallmark["asset_id"] == str(asset.pk)
    assert hallmark["job_id"] == str(asset.job_id)
    assert hallmark["seed"] == 7
    assert hallmark["model"]["weights_fingerprint"] == asset.model_identity["fingerprint"]
    assert exiftool_source_type(data, tmp_path) == ALGORITHMIC
    info = sd_parse(data)
    assert [p.value for p in info.prompts] == ["a lighthouse at dusk"]
    assert info.samplers[0].parameters["seed"] == "7"

    report = verification.verify_file(data, asset.mime_type)
    assert report.summary["digital_source_type"] == report.xmp_digital_source_type == ALGORITHMIC
    assert report.summary["claim_generator"].startswith("Hallmark ")
    store = report.as_dict(include_store=True)["manifest_store"]
    assert store["manifests"][store["active_manifest"]] == report.manifest
    assert [(m.asset_id, m.sha256, m.manifest) for m in report.asset_matches] == [(str(asset.pk), True, True)]
    call_command("verify_assets", stdout=io.StringIO())


def test_job_fails_clearly_without_a_signer(
    users: dict, procedural: str, settings: Any, tmp_path: Path
) -> None:
    from generation import runner, services

    settings.HALLMARK_C2PA_CERT_CHAIN = tmp_path / "absent-chain.pem"
    job, _ = services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={"prompt": "x", "width": 64, "height": 64},
    )
    runner.run(str(job.pk))
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error_code == "provenance_unavailable"
    assert "provenance_init" in job.error and "HALLMARK_C2PA_CERT_CHAIN" in job.error
    assert not Asset.objects.filter(job=job).exists()


def test_unsigned_storage_when_signing_is_not_required(
    users: dict, procedural: str, settings: Any, tmp_path: Path
) -> None:
    settings.HALLMARK_C2PA_CERT_CHAIN = tmp_path / "absent-chain.pem"
    settings.HALLMARK_C2PA_REQUIRED = False
    asset = generate(users, prompt="unsigned")
    report = credentials.read_credentials(stored_bytes(asset), asset.mime_type)
    assert report.validation_state is None and report.manifest is None
    assert report.xmp_digital_source_type == ALGORITHMIC  # XMP is written either way
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_assets", stdout=out)
    assert f"{asset.pk} no_manifest" in out.getvalue()


# --- verify_assets ---------------------------------------------------------------------------


def test_verify_assets_reports_changed_missing_and_misattributed_files(users: dict, procedural: str) -> None:
    intact, changed, missing, swapped = (generate(users, prompt=f"asset {i}", seed=i) for i in range(4))
    Path(default_storage.path(changed.file.name)).write_bytes(flip_pixel_bit(stored_bytes(changed)))
    default_storage.delete(missing.file.name)
    # Another asset's genuine, validly signed file under this asset's name.
    shutil.copyfile(default_storage.path(intact.file.name), default_storage.path(swapped.file.name))

    out = io.StringIO()
    with pytest.raises(CommandError, match="4 assets checked, 3 with problems"):
        call_command("verify_assets", stdout=out)
    lines = out.getvalue().splitlines()
    codes = {(line.split()[0], line.split()[1].rstrip(":")) for line in lines}
    assert (str(changed.pk), "hash_mismatch") in codes
    assert (str(changed.pk), "invalid_manifest") in codes
    assert (str(missing.pk), "missing_file") in codes
    assert (str(swapped.pk), "hash_mismatch") in codes
    assert (str(swapped.pk), "manifest_asset_mismatch") in codes
    assert not any(line.startswith(str(intact.pk)) for line in lines)

    call_command("verify_assets", str(intact.pk), stdout=io.StringIO())  # one asset: clean


# --- reading ---------------------------------------------------------------------------------


def test_reader_reports_tampering_and_untrusted_signers(db: None, tmp_path: Path, settings: Any) -> None:
    data, _ = stamping.stamp(noise_image(), make_context())
    report = credentials.read_credentials(flip_pixel_bit(data), "image/png")
    assert report.validation_state == "Invalid"
    assert report.validation_errors

    # A manifest signed by a chain we do not trust is intact ("Valid") but not "Trusted".
    chain, key, _root = make_development_chain()
    (tmp_path / "chain.pem").write_bytes(chain)
    (tmp_path / "key.pem").write_bytes(key)
    settings.HALLMARK_C2PA_CERT_CHAIN = tmp_path / "chain.pem"
    settings.HALLMARK_C2PA_PRIVATE_KEY = tmp_path / "key.pem"
    foreign, _ = stamping.stamp(noise_image(), make_context())
    report = credentials.read_credentials(foreign, "image/png")
    assert report.validation_state == "Valid"
    assert "signingCredential.untrusted" in {e["code"] for e in report.validation_errors}


def test_extract_xmp_from_png_jpeg_and_webp() -> None:
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        f'Iptc4xmpExt:DigitalSourceType="{TRAINED}"/></rdf:RDF></x:xmpmeta>'
    )
    for fmt in ("JPEG", "WEBP", "PNG"):
        buffer = io.BytesIO()
        extra: dict[str, Any] = {}
        if fmt == "PNG":
            from PIL import PngImagePlugin

            info = PngImagePlugin.PngInfo()
            info.add_itxt("XML:com.adobe.xmp", packet, zip=True)  # compressed iTXt
            extra["pnginfo"] = info
        else:
            extra["xmp"] = packet.encode()
        noise_image(32, 32).save(buffer, format=fmt, **extra)
        xmp = xmp_parser.extract_xmp(buffer.getvalue())
        assert xmp is not None and "xmpmeta" in xmp, fmt
        assert xmp_parser.xmp_digital_source_type(xmp) == TRAINED, fmt
    plain = io.BytesIO()
    noise_image(8, 8).save(plain, format="PNG")
    assert xmp_parser.extract_xmp(plain.getvalue()) is None


# --- provenance_init and the signer ----------------------------------------------------------


def test_provenance_init_makes_a_usable_chain_and_keeps_or_replaces_it(
    db: None, settings: Any, tmp_path: Path
) -> None:
    base = tmp_path / "prov"
    settings.HALLMARK_C2PA_CERT_CHAIN = base / "chain.pem"
    settings.HALLMARK_C2PA_PRIVATE_KEY = base / "key.pem"
    settings.HALLMARK_C2PA_TRUST_ANCHORS = base / "roots.pem"

    call_command("provenance_init", stdout=io.StringIO())
    key = base / "key.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    first_chain = (base / "chain.pem").read_bytes()
    assert first_chain.count(b"BEGIN CERTIFICATE") == 2
    assert b"PRIVATE KEY" not in first_chain + (base / "roots.pem").read_bytes()

    call_command("provenance_init", "--if-missing", stdout=io.StringIO())
    assert (base / "chain.pem").read_bytes() == first_chain
    with pytest.raises(CommandError, match="--force"):
        call_command("provenance_init", stdout=io.StringIO())

    signer = c2pa_signing._signer()
    assert signer is c2pa_signing._signer()  # made once, reused
    call_command("provenance_init", "--force", stdout=io.StringIO())
    assert (base / "chain.pem").read_bytes() != first_chain
    assert c2pa_signing._signer() is not signer  # new files, new signer

    data, _ = stamping.stamp(noise_image(), make_context())
    report = credentials.read_credentials(data, "image/png")
    assert report.validation_state == "Trusted"


def test_job_status_unchanged_by_reading(users: dict, procedural: str) -> None:
    """Reading credentials is read-only: no row changes, no audit events."""
    from governance.models import AuditEvent

    asset = generate(users, prompt="read-only")
    before = (AuditEvent.objects.count(), GenerationJob.objects.get(pk=asset.job_id).status)
    verification.verify_file(stored_bytes(asset), asset.mime_type)
    verification.check_stored_asset(asset)
    assert (AuditEvent.objects.count(), GenerationJob.objects.get(pk=asset.job_id).status) == before
