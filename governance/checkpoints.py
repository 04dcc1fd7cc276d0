"""Signed checkpoints of the audit chain.

The hash chain makes an edit in the middle of the trail visible, but someone who can write the
database can also delete the last events and rewind ``AuditChainHead``: what is left is still a
perfect chain. A checkpoint closes that gap. It is the chain head (seq and hash) signed with an
Ed25519 key that is kept outside the database (``HALLMARK_AUDIT_SIGNING_KEY``); a later
verification demands that the chain still holds event ``seq`` with exactly that ``hash``.
Copy checkpoints (and the public key) somewhere the database's administrators cannot rewrite.

A checkpoint file is JSON::

    {"checkpoint": {"format": "hallmark-audit-checkpoint/1", "seq": 41, "hash": "<hex>",
                    "signed_at": "2026-01-01T00:00:00.000000Z", "key_id": "sha256:<hex>"},
     "algorithm": "Ed25519",
     "signature": "<base64 of Ed25519 over RFC 8785 canonical JSON of checkpoint>"}
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.utils import timezone

from governance.audit_chain import ChainProblem, format_time
from governance.audit_trail import verify_audit_chain
from governance.models import AuditEvent

# The format, the key id and the signed bytes are the standalone verifier's (evidence packs ship
# it), so a checkpoint signed here is exactly what ``offline_verify.check_checkpoint`` checks.
from governance.offline_verify import CHECKPOINT_FORMAT, key_id, signed_bytes
from hallmark.files import atomic_write

SIGNATURE_ALGORITHM = "Ed25519"
_PAYLOAD_FIELDS = ("format", "seq", "hash", "signed_at", "key_id")


class CheckpointError(Exception):
    """A checkpoint could not be made, read or verified; the message says why."""


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement that the audit chain's event ``seq`` had hash ``hash``."""

    seq: int
    hash: str
    signed_at: str
    key_id: str
    signature: bytes

    def payload(self) -> dict[str, Any]:
        """The signed fields, as they are canonicalized for the signature."""
        return {
            "format": CHECKPOINT_FORMAT,
            "seq": self.seq,
            "hash": self.hash,
            "signed_at": self.signed_at,
            "key_id": self.key_id,
        }

    def as_document(self) -> dict[str, Any]:
        """The JSON document written to a checkpoint file."""
        return {
            "checkpoint": self.payload(),
            "algorithm": SIGNATURE_ALGORITHM,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }


# ---------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------


def signing_key_path() -> Path:
    """Where the private signing key lives (``HALLMARK_AUDIT_SIGNING_KEY``)."""
    return Path(settings.HALLMARK_AUDIT_SIGNING_KEY)


def public_key_path_for(private_path: Path) -> Path:
    """The public key is written beside the private one: ``<name>.pub.pem``."""
    stem = private_path.name.removesuffix(".pem")
    return private_path.with_name(f"{stem}.pub.pem")


def init_key(
    path: Path | None = None, *, force: bool = False, checkpoint_directory: Path | None = None
) -> tuple[Path, Path]:
    """Create an Ed25519 key pair: the private key mode 600, the public key beside it.

    Refuses unless ``force`` when a key already exists, or when checkpoints already exist in
    ``checkpoint_directory`` (default ``HALLMARK_AUDIT_CHECKPOINT_DIR``): checkpoints signed
    with the old key could then no longer be verified against the configured public key.
    """
    private_path = path or signing_key_path()
    public_path = public_key_path_for(private_path)
    if private_path.exists() and not force:
        raise CheckpointError(f"A signing key already exists at {private_path}; pass --force to replace it.")
    existing = latest_checkpoint_file(checkpoint_directory)
    if existing is not None and not force:
        # A lost key must not be replaced quietly: the new key would sign whatever the database
        # now holds, including a rewritten chain that the old checkpoints would have caught.
        raise CheckpointError(
            f"Checkpoints already exist (latest {existing}) but the key that signed them is missing "
            f"at {private_path}; restore that key, or pass --force and move the old checkpoints aside."
        )
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Mode 600 from before the first byte, synced, then moved into place in one step: the key is
    # never readable by others, not even briefly, and a replaced key is never missing. Without
    # ``force`` a key that appeared meanwhile is not overwritten.
    try:
        atomic_write(private_path, private_pem, mode=0o600, replace=force)
    except FileExistsError:
        raise CheckpointError(
            f"A signing key already exists at {private_path}; pass --force to replace it."
        ) from None
    atomic_write(public_path, public_pem(key.public_key()))
    return private_path, public_path


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    """A public key as SubjectPublicKeyInfo PEM."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(path: Path | None = None) -> Ed25519PrivateKey:
    """The configured signing key; a clear error when it is missing or not Ed25519."""
    key_path = path or signing_key_path()
    try:
        data = key_path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(
            f"No audit signing key at {key_path}; create one with `manage.py audit_checkpoint --init-key`."
        ) from None
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{key_path} is not an Ed25519 private key.")
    return key


def load_public_key(source: Path | bytes | None = None) -> Ed25519PublicKey:
    """A public key from PEM bytes or a file; by default the one beside the configured key."""
    if isinstance(source, bytes):
        data = source
    else:
        key_path = source or public_key_path_for(signing_key_path())
        try:
            data = key_path.read_bytes()
        except FileNotFoundError:
            raise CheckpointError(f"No audit public key at {key_path}.") from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise CheckpointError(f"Not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError("The public key is not an Ed25519 key.")
    return key


# ---------------------------------------------------------------------------------------------
# Signing and verification
# ---------------------------------------------------------------------------------------------


def sign(private_key: Ed25519PrivateKey, *, seq: int, hash: str, signed_at: str | None = None) -> Checkpoint:
    """Sign ``(seq, hash)`` now (or at ``signed_at``) with ``private_key``."""
    unsigned = Checkpoint(
        seq=seq,
        hash=hash,
        signed_at=signed_at or format_time(timezone.now()),
        key_id=key_id(private_key.public_key()),
        signature=b"",
    )
    signature = private_key.sign(signed_bytes(unsigned.payload()))
    return Checkpoint(unsigned.seq, unsigned.hash, unsigned.signed_at, unsigned.key_id, signature)


def parse(document: str | bytes | Mapping[str, Any]) -> Checkpoint:
    """Read a checkpoint document; ``CheckpointError`` when it is not one."""
    try:
        data = json.loads(document) if isinstance(document, str | bytes) else dict(document)
    except ValueError as exc:
        raise CheckpointError(f"The checkpoint is not JSON: {exc}") from None
    payload = data.get("checkpoint") if isinstance(data, dict) else None
    if not isinstance(payload, dict) or set(payload) != set(_PAYLOAD_FIELDS):
        raise CheckpointError("The checkpoint document lacks its signed fields.")
    if payload["format"] != CHECKPOINT_FORMAT:
        raise CheckpointError(f"Unknown checkpoint format {payload['format']!r}.")
    if data.get("algorithm") != SIGNATURE_ALGORITHM:
        raise CheckpointError(f"Unsupported signature algorithm {data.get('algorithm')!r}.")
    seq, digest = payload["seq"], payload["hash"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise CheckpointError("The checkpoint's seq is not a non-negative integer.")
    if not isinstance(digest, str) or len(digest) != 64:
        raise CheckpointError("The checkpoint's hash is not a sha256 hex digest.")
    try:
        signature = base64.b64decode(str(data.get("signature", "")), validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError("The checkpoint's signature is not base64.") from None
    return Checkpoint(seq, digest, str(payload["signed_at"]), str(payload["key_id"]), signature)


def verify_signature(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> None:
    """Raise ``CheckpointError`` unless ``public_key`` signed exactly this checkpoint."""
    if checkpoint.key_id != key_id(public_key):
        raise CheckpointError(
            f"Checkpoint at seq {checkpoint.seq} was signed with key {checkpoint.key_id}, "
            f"not with the given public key {key_id(public_key)}."
        )
    try:
        public_key.verify(checkpoint.signature, signed_bytes(checkpoint.payload()))
    except InvalidSignature:
        raise CheckpointError(
            f"Checkpoint at seq {checkpoint.seq}: the signature does not match its content."
        ) from None


def check_chain_holds(checkpoint: Checkpoint) -> ChainProblem | None:
    """Whether the database still holds event ``seq`` with the checkpoint's hash.

    A missing event means the tail was cut (even if the chain head row was rewound with it);
    another hash means the tail was rewritten.
    """
    if checkpoint.seq == 0:
        return None  # signed while the chain was empty: nothing to hold
    row = AuditEvent.objects.filter(seq=checkpoint.seq).values_list("hash", flat=True).first()
    if row is None:
        last = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
        return ChainProblem(
            checkpoint.seq,
            f"is missing, but a signed checkpoint of {checkpoint.signed_at} vouches for it "
            f"(the chain now ends at seq {last}: events were deleted)",
        )
    if row != checkpoint.hash:
        return ChainProblem(
            checkpoint.seq,
            f"has hash {row[:16]}…, but the signed checkpoint of {checkpoint.signed_at} says "
            f"{checkpoint.hash[:16]}… (the chain was rewritten)",
        )
    return None


def verify(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> ChainProblem | None:
    """Verify the signature (raising ``CheckpointError``), then that the chain still holds it."""
    verify_signature(checkpoint, public_key)
    return check_chain_holds(checkpoint)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def checkpoint_dir() -> Path:
    """Where checkpoint files are written (``HALLMARK_AUDIT_CHECKPOINT_DIR``)."""
    return Path(settings.HALLMARK_AUDIT_CHECKPOINT_DIR)


def create_checkpoint(
    *, private_key_path: Path | None = None, directory: Path | None = None, incremental: bool = False
) -> tuple[Checkpoint, Path]:
    """Verify the whole chain, sign its head and write the checkpoint file; return both.

    A broken chain is refused: a signature over it would vouch for the damage. So is a chain
    that no longer holds the highest checkpoint already in ``directory`` (a cut or rewritten
    tail is a perfect chain on its own, and a fresh signature would bless it), and a key other
    than the one that signed that checkpoint (see ``check_against_latest``).

    ``incremental`` walks only the events after that latest checkpoint (the database still
    holds its seq and hash, so everything up to it hashes to what was signed): an evidence pack
    needs a fresh signed head, and a full walk costs seconds per 100k events. Edits to older
    events that leave their stored hashes alone are then found by the next full walk
    (``verify_audit``, a plain ``audit_checkpoint``), not here.
    """
    key = load_private_key(private_key_path)
    target_dir = directory or checkpoint_dir()
    latest = check_against_latest(key.public_key(), target_dir)
    if incremental and latest is not None:
        report = verify_audit_chain(after_seq=latest.seq, after_hash=latest.hash)
    else:
        report = verify_audit_chain()
    if not report.ok:
        raise CheckpointError(f"Refusing to sign a broken audit chain: {report.problem}.")
    checkpoint = sign(key, seq=report.last_seq, hash=report.last_hash)
    stamp = checkpoint.signed_at.replace("-", "").replace(":", "").split(".")[0] + "Z"
    path = target_dir / f"checkpoint-{checkpoint.seq:012d}-{stamp}.json"
    text = json.dumps(checkpoint.as_document(), indent=2, sort_keys=True) + "\n"
    # Tamper evidence: synced to disk with its folder before anyone relies on it.
    atomic_write(path, text.encode("utf-8"))
    return checkpoint, path


def check_against_latest(public_key: Ed25519PublicKey, directory: Path | None = None) -> Checkpoint | None:
    """Verify the highest checkpoint in ``directory`` against ``public_key`` and the database.

    Returns it (``None`` when there is none); raises ``CheckpointError`` when it was signed by
    another key, its signature is bad, or the chain no longer holds its event and hash.
    """
    path = latest_checkpoint_file(directory)
    if path is None:
        return None
    latest = read_file(path)
    if latest.key_id != key_id(public_key):
        raise CheckpointError(
            f"The latest checkpoint {path} was signed with key {latest.key_id}, not with the current "
            f"key {key_id(public_key)}: restore the key that signed it, or move the old checkpoints "
            "aside deliberately after verifying them with their own public key."
        )
    problem = verify(latest, public_key)
    if problem is not None:
        raise CheckpointError(f"Refusing to sign: audit chain broken at {problem} (checkpoint {path}).")
    return latest


def latest_checkpoint_file(directory: Path | None = None) -> Path | None:
    """The checkpoint file with the highest seq (then the latest time), if any."""
    target_dir = directory or checkpoint_dir()
    if not target_dir.is_dir():
        return None
    files = sorted(target_dir.glob("checkpoint-*.json"))
    return files[-1] if files else None


def read_file(path: Path) -> Checkpoint:
    """Parse a checkpoint file."""
    try:
        return parse(path.read_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"No checkpoint file at {path}.") from None
