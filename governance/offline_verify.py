"""Verify a Hallmark audit export (and an evidence pack) offline, without Hallmark.

This module is deliberately standalone: it imports nothing from Hallmark or Django, only the
standard library and ``rfc8785`` (plus ``cryptography`` for checkpoint signatures, when it is
installed). Evidence packs ship a copy of it as ``verify_evidence.py``; Hallmark's own
``governance.export.verify_export`` calls the same functions, so what the pack's recipient runs
is what Hallmark's tests exercise. It is also the one definition of what is hashed and signed:
``governance.audit_chain`` hashes every event with ``event_hash`` over ``HASHED_FIELDS``, and
``governance.checkpoints`` signs ``signed_bytes`` of a ``CHECKPOINT_FORMAT`` payload naming its
key by ``key_id``, so ``verify_audit`` and this verifier cannot silently disagree.

Usage::

    python verify_evidence.py [FOLDER_OR_AUDIT_JSONL] --public-key checkpoint.pub.pem [--no-checkpoint]

It fails unless the audit checkpoint verifies with the public key you give (``--no-checkpoint``
checks the hashes only), and fails when a pack lacks ``SHA256SUMS``.

The hash of each event is ``sha256(prev_hash || RFC8785(body))`` where ``prev_hash`` is the
64-character lower-case hex hash of the previous event (ASCII) and ``body`` holds the fields
seq, at, actor, actor_id, action, target_type, target_id, data.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import rfc8785

EXPORT_FORMAT = "hallmark-audit-export/1"
CHECKPOINT_FORMAT = "hallmark-audit-checkpoint/1"
HASHED_FIELDS = ("seq", "at", "actor", "actor_id", "action", "target_type", "target_id", "data")
#: Every field of an exported event: the hashed ones, then the links of the chain.
EVENT_FIELDS = (*HASHED_FIELDS, "prev_hash", "hash")


def event_hash(prev_hash: str, body: Mapping[str, Any]) -> str:
    """The hash an event must carry: ``sha256(prev_hash || RFC8785(body))`` as hex.

    ``prev_hash`` is the previous event's hash (ASCII hex), ``body`` the ``HASHED_FIELDS``.
    """
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(canonical_body(body))
    return digest.hexdigest()


def canonical_body(body: Mapping[str, Any]) -> bytes:
    """The bytes an event's hash covers after its ``prev_hash``: RFC 8785 canonical JSON."""
    return rfc8785.dumps(dict(body))


def key_id(public_key: Any) -> str:
    """``sha256:<hex>`` of an Ed25519 public key's raw bytes: names the key a checkpoint was
    signed with."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def signed_bytes(payload: Mapping[str, Any]) -> bytes:
    """The bytes a checkpoint's signature covers: RFC 8785 canonical JSON of its payload."""
    return rfc8785.dumps(dict(payload))


def check_checkpoint(document: dict[str, Any], public_key_pem: bytes) -> str | None:
    """Verify a checkpoint's Ed25519 signature; return a problem, or None when it holds."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:  # pragma: no cover - depends on the verifier's machine
        return "the 'cryptography' package is not installed: signature not checked"
    payload = document.get("checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        return "not a Hallmark checkpoint"
    try:
        key = serialization.load_pem_public_key(public_key_pem)
    except ValueError:
        return "the public key is not PEM"
    if not isinstance(key, Ed25519PublicKey):
        return "the public key is not Ed25519"
    if payload.get("key_id") != key_id(key):
        return f"signed with key {payload.get('key_id')}, not with the given public key"
    try:
        key.verify(base64.b64decode(str(document.get("signature", ""))), signed_bytes(payload))
    except (InvalidSignature, ValueError):
        return "the signature does not match the checkpoint"
    return None


def verify_export_lines(
    lines: Iterable[str | bytes], *, public_key_pem: bytes | None = None
) -> dict[str, Any]:
    """Check an audit export: every event's hash, the chain's links where the export is
    contiguous, the event count, and the embedded checkpoint.

    ``public_key_pem`` is the checkpoint key you trust; without it the key embedded in the
    export is used and the report says so (compare its ``key_id`` with one you trust).
    Returns a report: ``ok``, ``problems`` (each naming its seq), ``events_checked``,
    ``first_seq``, ``last_seq``, ``contiguous``, ``checkpoint`` and ``events``.
    """
    problems: list[str] = []
    report: dict[str, Any] = {
        "ok": False,
        "problems": problems,
        "events_checked": 0,
        "first_seq": None,
        "last_seq": None,
        "contiguous": False,
        "checkpoint": "absent",
        "events": [],
    }
    iterator = iter(lines)
    try:
        first_line = next(iterator)
    except StopIteration:
        problems.append("the export is empty: no header")
        return report
    try:
        header = json.loads(first_line)
    except ValueError:
        problems.append("line 1: the header is not JSON")
        return report
    if (
        not isinstance(header, dict)
        or header.get("type") != "header"
        or header.get("format") != EXPORT_FORMAT
    ):
        problems.append(f"line 1: not a {EXPORT_FORMAT} header")
        return report
    report["header"] = header
    contiguous = bool(header.get("range", {}).get("contiguous"))
    report["contiguous"] = contiguous
    targets = {(t.get("type"), t.get("id")) for t in header.get("range", {}).get("targets") or []}
    anchor = header.get("anchor") or {}
    expected_prev = anchor.get("hash")
    expected_seq = anchor.get("seq", 0) + 1 if isinstance(anchor.get("seq"), int) else None
    last_seq: int | None = None
    hashes: dict[int, str] = {}

    for number, line in enumerate(iterator, start=2):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            problems.append(f"line {number}: not JSON")
            continue
        if not isinstance(event, dict) or event.get("type") != "event":
            problems.append(f"line {number}: not an event")
            continue
        missing = [f for f in EVENT_FIELDS if f not in event]
        seq = event.get("seq")
        if missing or isinstance(seq, bool) or not isinstance(seq, int):
            problems.append(f"line {number}: event lacks {', '.join(missing) or 'an integer seq'}")
            continue
        label = f"audit event seq {seq}"
        if last_seq is not None and seq <= last_seq:
            problems.append(f"{label}: out of order (after seq {last_seq})")
        body = {f: event[f] for f in HASHED_FIELDS}
        if event_hash(str(event["prev_hash"]), body) != event["hash"]:
            problems.append(f"{label}: content does not match its hash (edited)")
        if contiguous:
            if expected_seq is not None and seq != expected_seq:
                problems.append(f"{label}: expected seq {expected_seq} here (events missing)")
            if expected_prev is not None and event["prev_hash"] != expected_prev:
                problems.append(f"{label}: prev_hash does not match the previous event")
        if targets and (event["target_type"], event["target_id"]) not in targets:
            problems.append(f"{label}: its target is not one this export covers")
        expected_prev = event["hash"]
        expected_seq = seq + 1
        last_seq = seq
        hashes[seq] = event["hash"]
        if report["first_seq"] is None:
            report["first_seq"] = seq
        report["events_checked"] += 1
        report["events"].append(event)
    report["last_seq"] = last_seq

    declared = header.get("event_count")
    if isinstance(declared, int) and declared != report["events_checked"]:
        problems.append(
            f"the header declares {declared} events but {report['events_checked']} are present (truncated?)"
        )

    checkpoint = header.get("checkpoint")
    if isinstance(checkpoint, dict):
        key_pem = public_key_pem
        source = "the trusted public key"
        if key_pem is None and header.get("checkpoint_public_key"):
            key_pem = str(header["checkpoint_public_key"]).encode("ascii")
            source = "the public key embedded in the export (compare its key_id with one you trust)"
        payload = checkpoint.get("checkpoint") or {}
        if key_pem is None:
            report["checkpoint"] = "present, but no public key to check it with"
        else:
            problem = check_checkpoint(checkpoint, key_pem)
            cp_seq = payload.get("seq")
            if problem is not None:
                problems.append(f"checkpoint at seq {cp_seq}: {problem}")
                report["checkpoint"] = f"invalid: {problem}"
            elif cp_seq in hashes and hashes[cp_seq] != payload.get("hash"):
                problems.append(
                    f"audit event seq {cp_seq}: hash differs from the signed checkpoint (rewritten)"
                )
                report["checkpoint"] = "invalid: the exported event differs from the signed checkpoint"
            elif cp_seq in hashes:
                report["checkpoint"] = f"verified with {source}: seq {cp_seq} matches the signed hash"
            else:
                report["checkpoint"] = (
                    f"signature verified with {source}; seq {cp_seq} is not among the exported events"
                )
    report["ok"] = not problems
    return report


NO_TRUSTED_KEY = (
    "no trusted public key given (--public-key): the audit checkpoint's signature cannot be checked "
    "against a key you trust (the key inside the pack proves nothing); pass --no-checkpoint to "
    "verify without it"
)


def checkpoint_problems(report: dict[str, Any], public_key_pem: bytes | None) -> list[str]:
    """What the strict command line demands of a checkpoint: a key the user trusts, and a
    checkpoint that verifies with it at the seq of one of the exported events, so that the
    signature covers an event in hand (by default the pack's own ``asset.evidence_exported``)."""
    if public_key_pem is None:
        return [NO_TRUSTED_KEY]
    checkpoint = str(report.get("checkpoint", "absent"))
    if checkpoint == "absent":
        return ["the export carries no signed audit checkpoint"]
    if checkpoint.startswith("invalid"):
        return []  # already among the report's problems
    if not checkpoint.startswith("verified"):
        return [f"the signed checkpoint does not cover any exported event ({checkpoint})"]
    return []


def _verify_pack(folder: Path, public_key_pem: bytes | None, *, require_checkpoint: bool = True) -> list[str]:
    """Check an unzipped evidence pack: listed file hashes, the asset's sha256 against the
    asset record and its audit events, then the audit export. Returns the problems."""
    problems: list[str] = []
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        problems.append("SHA256SUMS is missing: the pack's files cannot be checked")
    else:
        listed: set[str] = set()
        for line in sums.read_text(encoding="utf-8").splitlines():
            expected, _, name = line.partition("  ")
            listed.add(name)
            path = folder / name
            if not path.is_file():
                problems.append(f"{name}: listed in SHA256SUMS but missing")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != expected:
                problems.append(f"{name}: does not match SHA256SUMS")
        for path in sorted(folder.rglob("*")):
            name = path.relative_to(folder).as_posix()
            if path.is_file() and name != "SHA256SUMS" and name not in listed and "__pycache__" not in name:
                problems.append(f"{name}: in the pack but not listed in SHA256SUMS")
    record = json.loads((folder / "asset.json").read_text(encoding="utf-8"))
    file_path = folder / record["file"]
    file_sha = hashlib.sha256(file_path.read_bytes()).hexdigest()
    if file_sha != record["sha256"]:
        problems.append(
            f"{record['file']}: sha256 {file_sha} differs from the asset record {record['sha256']}"
        )
    with (folder / "audit.jsonl").open(encoding="utf-8") as handle:
        report = verify_export_lines(handle, public_key_pem=public_key_pem)
    problems.extend(report["problems"])
    if require_checkpoint:
        problems.extend(checkpoint_problems(report, public_key_pem))
    created = [
        e for e in report["events"] if e["action"] == "asset.created" and e["target_id"] == record["id"]
    ]
    if not created:
        problems.append("the audit export holds no asset.created event for this asset")
    elif created[0]["data"].get("sha256") != file_sha:
        problems.append("the file's sha256 differs from the one audited when the asset was created")
    print(f"file {record['file']}: sha256 {file_sha}")
    print(f"audit events verified: {report['events_checked']}; checkpoint: {report['checkpoint']}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command line: verify an evidence pack folder (default: this script's folder) or a
    ``.jsonl`` audit export. Exit status 0 when everything holds."""
    parser = argparse.ArgumentParser(description="Verify a Hallmark evidence pack or audit export offline.")
    parser.add_argument("path", nargs="?", default=str(Path(__file__).resolve().parent))
    parser.add_argument("--public-key", help="The audit checkpoint public key (PEM) you trust.")
    parser.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="Do not demand a checkpoint signed by a key you trust (only hashes are then checked).",
    )
    args = parser.parse_args(argv)
    key = Path(args.public_key).read_bytes() if args.public_key else None
    target = Path(args.path)
    if target.is_dir():
        problems = _verify_pack(target, key, require_checkpoint=not args.no_checkpoint)
    else:
        with target.open(encoding="utf-8") as handle:
            report = verify_export_lines(handle, public_key_pem=key)
        problems = report["problems"]
        if not args.no_checkpoint:
            problems.extend(checkpoint_problems(report, key))
        print(f"audit events verified: {report['events_checked']}; checkpoint: {report['checkpoint']}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("OK: everything verified." if not problems else f"FAILED: {len(problems)} problem(s).")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
