"""``manage.py audit_checkpoint``: sign the audit chain's head and write a checkpoint file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance import checkpoints


class Command(BaseCommand):
    help = (
        "Verify the audit chain, sign its head (seq, hash, time) with the Ed25519 key in "
        "HALLMARK_AUDIT_SIGNING_KEY and write the checkpoint to HALLMARK_AUDIT_CHECKPOINT_DIR; "
        "prints the file's path. Refuses when the chain no longer holds the latest checkpoint already "
        "written, or that checkpoint was signed by another key. --init-key creates the key pair "
        "first (only when there is no key and no checkpoint yet)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--init-key",
            action="store_true",
            help="Create the signing key (mode 600) and its public key beside it, then sign.",
        )
        parser.add_argument("--force", action="store_true", help="With --init-key: replace an existing key.")
        parser.add_argument(
            "--key", type=Path, help="Private key file (default: HALLMARK_AUDIT_SIGNING_KEY)."
        )
        parser.add_argument(
            "--output-dir", type=Path, help="Directory for the file (default: HALLMARK_AUDIT_CHECKPOINT_DIR)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["init_key"]:
                private_path, public_path = checkpoints.init_key(
                    options["key"], force=options["force"], checkpoint_directory=options["output_dir"]
                )
                self.stderr.write(f"Created signing key {private_path} and public key {public_path}.")
            checkpoint, path = checkpoints.create_checkpoint(
                private_key_path=options["key"], directory=options["output_dir"]
            )
        except checkpoints.CheckpointError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"Signed audit chain head seq {checkpoint.seq}, hash {checkpoint.hash}.")
        self.stdout.write(str(path))
