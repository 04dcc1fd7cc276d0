"""The provenance endpoints: a stored asset's check, and verification of any uploaded image."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import c2pa
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import BmpImagePlugin, GifImagePlugin, Image, TiffImagePlugin

from assets import verification
from assets.models import Asset
from governance.management.commands.provenance_init import make_development_chain
from governance.provenance import credentials, stamping, xmp_parser
from tests.conftest import wait_for
from tests.governance.test_provenance import (
    ALGORITHMIC,
    flip_pixel_bit,
    generate,
    make_context,
    noise_image,
    stored_bytes,
)

VERIFY = "/api/v1/provenance/verify/"


def exact_match(method: str) -> dict[str, object]:
    """What an exact match (bytes, pixels, manifest) reports beside its flags."""
    return {"method": method}


def upload(client: Any, data: bytes, name: str = "image.png", content_type: str = "image/png") -> Any:
    return client.post(
        VERIFY, {"file": SimpleUploadedFile(name, data, content_type=content_type)}, format="multipart"
    )


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def assert_refused(response: Any, status: int) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["errors"]["file"] and body["detail"]


# --- GET /api/v1/assets/{id}/provenance/ -------------------------------------------------------


def test_asset_provenance_reports_an_intact_signed_file(
    users: dict, procedural: str, client_for: Any
) -> None:
    asset = generate(users, prompt="harbour at dawn", seed=3)
    response = client_for("viewer").get(f"/api/v1/assets/{asset.pk}/provenance/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["file"] == {
        "present": True,
        "recorded_sha256": asset.sha256,
        "actual_sha256": asset.sha256,
        "matches_record": True,
    }
    assert body["validation_state"] == "Trusted"
    assert body["manifest_names_asset"] is True
    assert body["xmp_digital_source_type"] == ALGORITHMIC
    assert body["problems"] == {}
    summary = body["credentials"]["summary"]
    assert summary["digital_source_type"] == ALGORITHMIC
    assert summary["software_agent"]["name"] == asset.model_identity["name"]
    assert summary["hallmark"]["asset_id"] == str(asset.pk)


def test_asset_provenance_after_one_bit_changes(users: dict, procedural: str, client_for: Any) -> None:
    asset = generate(users, prompt="changed later")
    Path(default_storage.path(asset.file.name)).write_bytes(flip_pixel_bit(stored_bytes(asset)))
    body = client_for("reviewer").get(f"/api/v1/assets/{asset.pk}/provenance/").json()
    assert body["file"]["matches_record"] is False
    assert body["file"]["actual_sha256"] != asset.sha256
    assert body["validation_state"] == "Invalid"
    assert {"hash_mismatch", "invalid_manifest"} <= set(body["problems"])


def test_asset_provenance_access(users: dict, procedural: str, client_for: Any) -> None:
    asset = generate(users, prompt="access")
    assert client_for("nobody").get(f"/api/v1/assets/{asset.pk}/provenance/").status_code == 403
    missing = client_for("viewer").get("/api/v1/assets/00000000-0000-0000-0000-000000000000/provenance/")
    assert missing.status_code == 404


# --- POST /api/v1/provenance/verify/ ---------------------------------------------------------


def test_verify_recognises_a_hallmark_file_by_bytes_multipart_and_raw(
    users: dict, procedural: str, client_for: Any
) -> None:
    asset = generate(users, prompt="recognise me")
    data = stored_bytes(asset)
    client = client_for("viewer")
    for response in (upload(client, data), client.post(VERIFY, data, content_type="image/png")):
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["made_by_hallmark"] is True
        assert body["asset_matches"] == [
            {"asset_id": str(asset.pk), "sha256": True, "pixels": True, "manifest": True, **exact_match("manifest")}
        ]
        assert body["validation_state"] == "Trusted"
        assert body["sha256"] == asset.sha256
        assert body["image"] == {"format": "PNG", "width": 64, "height": 64, "byte_size": len(data)}


def test_verify_recognises_stripped_pixels_and_a_trusted_manifest(
    users: dict, procedural: str, client_for: Any
) -> None:
    asset = generate(users, prompt="strip my metadata")
    client = client_for("viewer")

    # Metadata stripped (re-saved by a tool that drops every chunk): only the pixels are left.
    stripped = io.BytesIO()
    Image.open(io.BytesIO(stored_bytes(asset))).save(stripped, format="PNG")
    body = upload(client, stripped.getvalue()).json()
    assert body["validation_state"] is None and body["xmp_digital_source_type"] is None
    assert body["asset_matches"] == [
        {"asset_id": str(asset.pk), "sha256": False, "pixels": True, "manifest": False, **exact_match("pixels")}
    ]

    # Other pixels, but a manifest signed by our chain naming the asset.
    signed, _ = stamping.stamp(noise_image(), make_context(asset_id=str(asset.pk)))
    body = upload(client, signed).json()
    assert body["made_by_hallmark"] is True
    assert body["asset_matches"] == [
        {"asset_id": str(asset.pk), "sha256": False, "pixels": False, "manifest": True, **exact_match("manifest")}
    ]


def test_verify_does_not_take_a_foreign_signers_word(
    users: dict, procedural: str, client_for: Any, settings: Any, tmp_path: Path
) -> None:
    asset = generate(users, prompt="impersonated")
    chain, key, _ = make_development_chain()
    (tmp_path / "chain.pem").write_bytes(chain)
    (tmp_path / "key.pem").write_bytes(key)
    settings.HALLMARK_C2PA_CERT_CHAIN = tmp_path / "chain.pem"
    settings.HALLMARK_C2PA_PRIVATE_KEY = tmp_path / "key.pem"
    forged, _ = stamping.stamp(noise_image(), make_context(asset_id=str(asset.pk)))
    body = upload(client_for("viewer"), forged).json()
    assert body["validation_state"] == "Valid"  # intact, but not signed by our chain
    assert body["summary"]["hallmark"]["asset_id"] == str(asset.pk)
    assert body["made_by_hallmark"] is False and body["asset_matches"] == []


def test_verify_reports_an_unknown_png_without_credentials(users: dict, client_for: Any) -> None:
    buffer = io.BytesIO()
    noise_image(40, 30, seed=99).save(buffer, format="PNG")
    response = upload(client_for("viewer"), buffer.getvalue())
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["validation_state"] is None
    assert body["manifest"] is None and body["summary"] is None
    assert body["made_by_hallmark"] is False and body["asset_matches"] == []
    assert body["sha256"] == hashlib.sha256(buffer.getvalue()).hexdigest()


@pytest.mark.parametrize(
    ("fmt", "plugin_class", "content_type"),
    [
        ("BMP", BmpImagePlugin.BmpImageFile, "image/bmp"),
        ("GIF", GifImagePlugin.GifImageFile, "image/gif"),
        ("TIFF", TiffImagePlugin.TiffImageFile, "image/tiff"),
    ],
)
def test_verify_refuses_other_formats_without_parsing_them(
    users: dict, client_for: Any, monkeypatch: pytest.MonkeyPatch, fmt: str, plugin_class: Any, content_type: str
) -> None:
    """Only PNG, JPEG and WebP are decoded from uploads: a valid image in any other format that
    Pillow can open is refused under `file` before Pillow's parser for it runs at all."""
    buffer = io.BytesIO()
    noise_image(16, 16).save(buffer, format=fmt)
    assert Image.open(io.BytesIO(buffer.getvalue())).format == fmt  # Pillow would open it
    parsed: list[str] = []
    real_open = plugin_class._open

    def recording_open(self: Any) -> None:
        parsed.append(fmt)
        real_open(self)

    monkeypatch.setattr(plugin_class, "_open", recording_open)
    client = client_for("viewer")
    for response in (
        upload(client, buffer.getvalue(), name=f"old.{fmt.lower()}", content_type=content_type),
        client.post(VERIFY, buffer.getvalue(), content_type=content_type),
    ):
        assert_refused(response, 400)
        assert "PNG, JPEG or WebP" in response.json()["errors"]["file"][0]
    assert parsed == []


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_verify_still_reads_jpeg_and_webp(users: dict, client_for: Any, fmt: str) -> None:
    buffer = io.BytesIO()
    noise_image(16, 16).save(buffer, format=fmt)
    response = upload(client_for("viewer"), buffer.getvalue(), name="x", content_type="image/" + fmt.lower())
    assert response.status_code == 200, response.content
    assert response.json()["image"]["format"] == fmt


def test_verify_names_no_soft_deleted_asset(users: dict, procedural: str, client_for: Any) -> None:
    """A deleted asset is "no match" by bytes, by pixels and by a trusted manifest naming it."""
    from assets import retention

    asset = generate(users, prompt="deleted later")
    data = stored_bytes(asset)
    stripped = io.BytesIO()
    Image.open(io.BytesIO(data)).save(stripped, format="PNG")
    signed, _ = stamping.stamp(noise_image(), make_context(asset_id=str(asset.pk)))
    client = client_for("viewer")
    assert all(upload(client, d).json()["made_by_hallmark"] for d in (data, stripped.getvalue(), signed))

    retention.soft_delete(asset.pk, acting_user=users["admin"])
    for sample in (data, stripped.getvalue(), signed):
        response = upload(client, sample)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["asset_matches"] == [] and body["made_by_hallmark"] is False
        assert str(asset.pk) not in json.dumps(body["asset_matches"])
    # What the file itself says is still reported: the manifest is in the file.
    assert upload(client, data).json()["validation_state"] == "Trusted"


def test_verify_refuses_what_is_not_a_safe_image(users: dict, client_for: Any, settings: Any) -> None:
    client = client_for("viewer")
    assert_refused(upload(client, b"just some notes\n", name="notes.txt", content_type="text/plain"), 400)
    assert_refused(client.post(VERIFY, {}, format="multipart"), 400)
    assert_refused(client.post(VERIFY, b"plain text", content_type="text/plain"), 415)

    # A valid PNG header declaring 100000 x 100000 pixels, in a file of a few dozen bytes.
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    response = upload(client, bomb + png_chunk(b"IEND", b""))
    assert_refused(response, 400)
    assert "pixels" in response.json()["errors"]["file"][0]

    settings.HALLMARK_MAX_UPLOAD_BYTES = 2048
    big = io.BytesIO()
    noise_image(64, 64).save(big, format="PNG")  # ~12 KB of noise
    assert_refused(upload(client, big.getvalue()), 413)
    assert_refused(client.post(VERIFY, big.getvalue(), content_type="image/png"), 413)


def test_verify_needs_a_sign_in_but_no_role(users: dict, client_for: Any) -> None:
    """Anyone signed in may ask "did we make this?" (a user without a role is told no more:
    tests/assets/test_soft_binding.py); anonymous callers are refused."""
    from rest_framework.test import APIClient

    assert APIClient().post(VERIFY, b"x", content_type="image/png").status_code in (401, 403)
    refused = client_for("nobody").post(VERIFY, b"x", content_type="image/png")
    assert refused.status_code == 400 and "file" in refused.json()["errors"]


# --- through the worker ----------------------------------------------------------------------


@pytest.mark.integration
def test_worker_made_asset_verifies_through_the_api(
    celery_worker: Any, client_for: Any, procedural: str
) -> None:
    client = client_for("creator")
    job_id = client.post(
        "/api/v1/generations/",
        {"plugin": "procedural", "prompt": "signed by the worker", "seed": 5, "width": 128, "height": 128},
        format="json",
    ).json()["id"]
    job = wait_for(
        lambda: (
            (body := client.get(f"/api/v1/generations/{job_id}/").json())["status"] != "queued"
            and body["status"] != "running"
            and body
        ),
        timeout=60,
    )
    assert job["status"] == "succeeded", job
    asset_id = job["assets"][0]
    download = client.get(f"/api/v1/assets/{asset_id}/file/")
    data = b"".join(download.streaming_content)
    assert hashlib.sha256(data).hexdigest() == Asset.objects.get(pk=asset_id).sha256
    with c2pa.Reader("image/png", io.BytesIO(data)) as reader:
        assert reader.get_validation_state() == "Valid"  # untrusted without our anchors, yet intact
    provenance_body = client.get(f"/api/v1/assets/{asset_id}/provenance/").json()
    assert provenance_body["validation_state"] == "Trusted" and provenance_body["problems"] == {}
    verified = upload(client, data).json()
    assert verified["made_by_hallmark"] is True


# --- hostile metadata --------------------------------------------------------------------------


def _bmp_with_trailer(trailer: bytes) -> bytes:
    buffer = io.BytesIO()
    noise_image(16, 16).save(buffer, format="BMP")
    return buffer.getvalue() + trailer


@pytest.mark.parametrize(
    ("trailer", "packet_found"),
    [
        (b"<x:xmpmeta " * 95_000, False),  # ~1 MB of openings without an end: no packet
        (b"<x:xmpmeta>" + b"DigitalSourceType " * 56_000 + b"</x:xmpmeta>", True),  # ~1 MB packet
    ],
    ids=["unclosed-openings", "names-without-values"],
)
def test_verify_reads_adversarial_xmp_in_an_unknown_container_in_linear_time(
    users: dict, client_for: Any, trailer: bytes, packet_found: bool
) -> None:
    """XMP in a container Hallmark does not parse is found by a bounded, linear scan; the
    DigitalSourceType lookup is tried at a bounded number of places. Before, each of these
    payloads took minutes (quadratic regular expressions). The verify endpoint now refuses such
    a container outright (only PNG, JPEG and WebP are read), so the reader is called directly."""
    import time

    data = _bmp_with_trailer(trailer)
    assert len(data) > 1_000_000
    assert_refused(upload(client_for("viewer"), data, name="odd.bmp", content_type="image/bmp"), 400)
    started = time.monotonic()
    report = verification.verify_file(data, "image/bmp")
    elapsed = time.monotonic() - started
    assert report.xmp_digital_source_type is None and report.asset_matches == []
    assert (xmp_parser.extract_xmp(data) is not None) is packet_found
    assert elapsed < 20  # generous: linear work on 1 MB takes milliseconds


def test_xmp_scan_finds_a_real_packet_after_false_starts_and_only_within_its_window() -> None:
    packet = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
        b'Iptc4xmpExt:DigitalSourceType="http://example.test/trained"/></rdf:RDF></x:xmpmeta>'
    )
    data = b"BM" + b"<x:xmpmetadata <x:xmpmeta" + packet
    assert xmp_parser.extract_xmp(data) == packet.decode()
    assert xmp_parser.xmp_digital_source_type(packet.decode()) == "http://example.test/trained"
    far = b"BM" + b"\x00" * xmp_parser._XMP_SCAN_WINDOW + packet
    assert xmp_parser.extract_xmp(far) is None


def _png_with_chunk_before_iend(kind: bytes, body: bytes) -> bytes:
    buffer = io.BytesIO()
    noise_image(8, 8).save(buffer, format="PNG")
    data = buffer.getvalue()
    iend = data.rindex(b"IEND") - 4
    return data[:iend] + png_chunk(kind, body) + data[iend:]


_XMP_KEY = b"XML:com.adobe.xmp\x00"


@pytest.mark.parametrize(
    "itxt",
    [
        _XMP_KEY,  # nothing after the keyword
        _XMP_KEY + b"\x00",  # the compression method is missing
        _XMP_KEY + b"\x00\x00" + b"en",  # no NUL after the language
        _XMP_KEY + b"\x00\x00" + b"en\x00",  # no NUL after the translated keyword
        _XMP_KEY + b"\x01\x00\x00\x00" + b"this is not zlib",  # a broken zlib stream
        _XMP_KEY + b"\x01\x07\x00\x00" + zlib.compress(b"<x:xmpmeta/>"),  # unknown method
        _XMP_KEY + b"\x05\x00\x00\x00" + b"<x:xmpmeta/>",  # a flag that is neither 0 nor 1
    ],
    ids=["empty", "no-method", "no-lang-nul", "no-translated-nul", "bad-zlib", "bad-method", "bad-flag"],
)
def test_malformed_xmp_itxt_means_no_xmp_not_a_server_error(
    users: dict, client_for: Any, itxt: bytes
) -> None:
    data = _png_with_chunk_before_iend(b"iTXt", itxt)
    assert xmp_parser.extract_xmp(data, "image/png") is None
    report = credentials.read_credentials(data, "image/png")
    assert report.xmp_packet is None and report.xmp_digital_source_type is None
    response = upload(client_for("viewer"), data)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["xmp_digital_source_type"] is None


def test_a_well_formed_compressed_xmp_itxt_is_still_read() -> None:
    packet = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"></x:xmpmeta>'
    data = _png_with_chunk_before_iend(b"iTXt", _XMP_KEY + b"\x01\x00\x00\x00" + zlib.compress(packet))
    assert xmp_parser.extract_xmp(data, "image/png") == packet.decode()


# --- whose signature counts --------------------------------------------------------------------


def _two_signers_under_one_root(directory: Path) -> dict[str, Path]:
    """A root CA and two signers under it, written as PEM files: Hallmark's and somebody else's."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from governance.management.commands.provenance_init import _key_usage, _name

    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=30)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(_name("Shared Test Root"))
        .issuer_name(_name("Shared Test Root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signer=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = {"root": directory / "root.pem"}
    paths["root"].write_bytes(root.public_bytes(pem))
    for who in ("hallmark", "other"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{who} signer"))
            .issuer_name(root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(signer=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
            )
            .sign(root_key, hashes.SHA256())
        )
        paths[f"{who}_cert"] = directory / f"{who}-cert.pem"
        paths[f"{who}_cert"].write_bytes(cert.public_bytes(pem))
        paths[f"{who}_chain"] = directory / f"{who}-chain.pem"
        paths[f"{who}_chain"].write_bytes(cert.public_bytes(pem) + root.public_bytes(pem))
        paths[f"{who}_key"] = directory / f"{who}-key.pem"
        paths[f"{who}_key"].write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
    return paths


def _sign_as(settings: Any, paths: dict[str, Path], who: str) -> None:
    settings.HALLMARK_C2PA_CERT_CHAIN = paths[f"{who}_chain"]
    settings.HALLMARK_C2PA_PRIVATE_KEY = paths[f"{who}_key"]


def test_a_trusted_manifest_from_another_signer_under_the_same_root_is_not_hallmarks(
    users: dict, procedural: str, client_for: Any, settings: Any, tmp_path: Path
) -> None:
    paths = _two_signers_under_one_root(tmp_path)
    settings.HALLMARK_C2PA_TRUST_ANCHORS = paths["root"]
    _sign_as(settings, paths, "hallmark")
    asset = generate(users, prompt="pinned signer")
    client = client_for("viewer")
    own = upload(client, stored_bytes(asset)).json()
    assert own["validation_state"] == "Trusted" and own["signed_by_hallmark"] is True

    # Another signer chained to the same root writes a Hallmark assertion naming our asset.
    _sign_as(settings, paths, "other")
    forged, _ = stamping.stamp(noise_image(), make_context(asset_id=str(asset.pk)))
    _sign_as(settings, paths, "hallmark")
    body = upload(client, forged).json()
    assert body["validation_state"] == "Trusted"  # it does chain to the anchor...
    assert body["summary"]["hallmark"]["asset_id"] == str(asset.pk)  # ...and is reported,
    assert body["signed_by_hallmark"] is False  # but it is not our signature,
    assert body["made_by_hallmark"] is False and body["asset_matches"] == []  # so it is not credited.

    # After a rotation, the previous certificate is listed and its manifests count again.
    settings.HALLMARK_C2PA_PREVIOUS_CERTS = paths["other_cert"]
    rotated = upload(client, forged).json()
    assert rotated["signed_by_hallmark"] is True
    assert rotated["asset_matches"] == [
        {"asset_id": str(asset.pk), "sha256": False, "pixels": False, "manifest": True, **exact_match("manifest")}
    ]


def test_the_stored_asset_check_names_a_foreign_signer(
    users: dict, procedural: str, settings: Any, tmp_path: Path
) -> None:
    paths = _two_signers_under_one_root(tmp_path)
    settings.HALLMARK_C2PA_TRUST_ANCHORS = paths["root"]
    _sign_as(settings, paths, "other")
    asset = generate(users, prompt="signed by somebody else")
    _sign_as(settings, paths, "hallmark")
    check = verification.check_stored_asset(asset)
    assert set(check.problems) == {"foreign_signer"}
    assert "not Hallmark's signer" in check.problems["foreign_signer"]
    settings.HALLMARK_C2PA_PREVIOUS_CERTS = paths["other_cert"]
    assert verification.check_stored_asset(asset).ok
