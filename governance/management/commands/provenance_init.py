"""``manage.py provenance_init``: a development C2PA root CA and ES256 signer.

Writes the signer's chain (signer, then the CA) to ``HALLMARK_C2PA_CERT_CHAIN``, its key to
``HALLMARK_C2PA_PRIVATE_KEY`` (mode 600) and the root to ``HALLMARK_C2PA_TRUST_ANCHORS``.
The CA's own key is never written: nothing else can be issued under this root. For
development and tests only; production points the settings at a real certificate.
"""

from __future__ import annotations

import datetime
import fcntl
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hallmark.files import atomic_write

ORGANISATION = "Hallmark development"


def _name(common_name: str) -> x509.Name:
    # The C2PA SDK refuses a signer whose subject has no organisation.
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
        ]
    )


def _key_usage(*, signer: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signer,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signer,
        crl_sign=not signer,
        encipher_only=False,
        decipher_only=False,
    )


def make_development_chain(*, days: int = 825) -> tuple[bytes, bytes, bytes]:
    """A fresh root CA and an ES256 signer under it: ``(chain_pem, key_pem, root_pem)``.

    The signer carries what the C2PA SDK requires of a claim signer: ``CA:FALSE``, key usage
    ``digitalSignature``, an extended key usage (``emailProtection``) and an ``O=``.
    """
    now = datetime.datetime.now(datetime.UTC)
    not_before = now - datetime.timedelta(minutes=5)  # tolerate small clock differences
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("Hallmark Development Root CA")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + datetime.timedelta(days=days + 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signer=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer = (
        x509.CertificateBuilder()
        .subject_name(_name("Hallmark Development Signer"))
        .issuer_name(root_name)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signer=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    root_pem = root.public_bytes(pem)
    key_pem = signer_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return signer.public_bytes(pem) + root_pem, key_pem, root_pem


class Command(BaseCommand):
    """Create the development C2PA certificate chain, key and trust anchor."""

    help = "Create a development C2PA root CA and ES256 signer at the configured paths."

    def add_arguments(self, parser: CommandParser) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--if-missing", action="store_true", help="Do nothing when a chain and key are already there."
        )
        group.add_argument("--force", action="store_true", help="Replace an existing chain and key.")
        parser.add_argument("--days", type=int, default=825, help="Validity of the signer certificate.")

    def handle(self, *args: Any, **options: Any) -> None:
        chain = Path(settings.HALLMARK_C2PA_CERT_CHAIN)
        key = Path(settings.HALLMARK_C2PA_PRIVATE_KEY)
        anchors = Path(settings.HALLMARK_C2PA_TRUST_ANCHORS)
        paths = (chain, key, anchors)
        chain.parent.mkdir(parents=True, exist_ok=True)
        # Several processes (test workers, a start script beside a running worker) may run
        # this at once: one lock keeps the key and the chain from two different runs apart.
        with open(chain.parent / ".provenance_init.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            present = [p for p in paths if p.exists()]
            if present and options["if_missing"] and chain.exists() and key.exists():
                if options["verbosity"] >= 1:
                    self.stdout.write(f"C2PA signer already configured: {chain}")
                return
            if present and not options["force"] and not options["if_missing"]:
                raise CommandError(
                    "Refusing to overwrite " + ", ".join(map(str, present)) + ": use --force to replace "
                    "them or --if-missing to keep them."
                )
            chain_pem, key_pem, root_pem = make_development_chain(days=options["days"])
            # Mode 600 from before the first byte, through a fresh temporary file: a key is never
            # briefly world-readable, and no leftover or planted file is written through.
            atomic_write(key, key_pem, mode=0o600)
            atomic_write(chain, chain_pem)
            atomic_write(anchors, root_pem)
        if options["verbosity"] < 1:
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Development C2PA signer written: chain {chain}, key {key} (mode 600), "
                f"trust anchor {anchors}. For development only; see docs/provenance.md for production."
            )
        )
