"""Which manifests count as signed by Hallmark: its own certificate, under a trusted root.

The development chain from ``provenance_init`` names one organisation as both issuer and
subject; a production certificate from a real CA does not (issuer "Example CA Ltd", subject the
organisation). Hallmark must recognise its own manifests under such a chain, and must not be
fooled by a chain someone made themselves with Hallmark's names and serial number.
"""

from __future__ import annotations

import datetime
import io
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.core.files.storage import default_storage
from PIL import Image

from assets.models import Asset
from generation import runner
from governance.management.commands.provenance_init import _key_usage
from governance.provenance.credentials import read_credentials

_PEM = serialization.Encoding.PEM


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )


def _chain(
    root_name: x509.Name, leaf_name: x509.Name, serial: int | None = None
) -> tuple[bytes, bytes, bytes]:
    """(signer chain PEM, signer key PEM, root PEM): a root and a signer it issued."""
    now = datetime.datetime.now(datetime.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signer=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(leaf_name)
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signer=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(_PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return leaf.public_bytes(_PEM) + root.public_bytes(_PEM), key_pem, root.public_bytes(_PEM)


def _use_real_ca_chain(settings: Any, tmp_path: Path) -> None:
    chain, key, root = _chain(_name("Example Root CA", "Example CA Ltd"), _name("Hallmark signer", "Acme Media Ltd"))
    folder = tmp_path / "pki"
    folder.mkdir()
    (folder / "chain.pem").write_bytes(chain)
    (folder / "key.pem").write_bytes(key)
    (folder / "anchors.pem").write_bytes(root)
    settings.HALLMARK_C2PA_CERT_CHAIN = folder / "chain.pem"
    settings.HALLMARK_C2PA_PRIVATE_KEY = folder / "key.pem"
    settings.HALLMARK_C2PA_TRUST_ANCHORS = folder / "anchors.pem"


def test_an_asset_signed_under_a_real_ca_is_recognised_as_hallmarks(
    client_for, procedural, settings, tmp_path
) -> None:
    _use_real_ca_chain(settings, tmp_path)
    submitted = client_for("creator").post(
        "/api/v1/generations/", {"plugin": "procedural", "prompt": "signed by a real CA"}, format="json"
    )
    runner.run(submitted.json()["id"])
    job = client_for("viewer").get(f"/api/v1/generations/{submitted.json()['id']}/").json()
    assert job["status"] == "succeeded", job
    asset_id = job["assets"][0]
    provenance = client_for("viewer").get(f"/api/v1/assets/{asset_id}/provenance/").json()
    assert provenance["validation_state"] == "Trusted"
    assert provenance["credentials"]["signed_by_hallmark"] is True
    assert provenance["problems"] == {}
    stored = default_storage.open(Asset.objects.get(pk=asset_id).file.name).read()
    assert read_credentials(stored, "image/png").trusted_asset_claim == asset_id


def test_a_chain_made_with_hallmarks_names_and_serial_is_not_hallmarks(client_for, users, settings) -> None:
    real = x509.load_pem_x509_certificates(Path(settings.HALLMARK_C2PA_CERT_CHAIN).read_bytes())
    signer, root = real[0], real[-1]
    chain, key, _ = _chain(root.subject, signer.subject, serial=signer.serial_number)
    image = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(image, format="PNG")
    builder = c2pa.Builder(
        {
            "claim_generator_info": [{"name": "Hallmark", "version": "0.1.0"}],
            "title": "forged.png",
            "format": "image/png",
            "assertions": [
                {"label": "c2pa.actions", "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"}]}},
                {"label": "org.hallmark.generation", "data": {"asset_id": "00000000-0000-0000-0000-000000000000"}},
            ],
        }
    )
    forged = io.BytesIO()
    builder.sign(
        c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None)),
        "image/png",
        io.BytesIO(image.getvalue()),
        forged,
    )
    body = client_for("viewer").post(
        "/api/v1/provenance/verify/", forged.getvalue(), content_type="image/png"
    ).json()
    assert body["validation_state"] != "Trusted"
    assert body["signed_by_hallmark"] is False and body["made_by_hallmark"] is False
