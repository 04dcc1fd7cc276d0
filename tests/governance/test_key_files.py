"""Key files are created mode 600 and are never, not even for an instant, readable by others.

Each test runs under umask 022 (the usual default, under which a plainly written file is 0644)
and watches the file system calls that could expose a key: every file ``os.open`` creates is
checked right after creation, and every ``chmod``, ``replace``, ``rename`` or ``link`` that
touches a key file is checked for the mode the file had at that moment. A key written first
and tightened by ``chmod`` afterwards is caught by its mode just before the ``chmod``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from governance import checkpoints
from hallmark import settings as hallmark_settings

Seen = list[tuple[str, str, int]]


def _mode(path: Any) -> int | None:
    """The mode of the file ``path`` leads to (through a link: the mode of what it exposes)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Seen]]:
    """``watch(name)``: every (call, path, mode) seen for files whose name contains ``name``."""
    seen: Seen = []
    previous_umask = os.umask(0o022)
    real_open, real_chmod = os.open, os.chmod
    real_replace, real_rename, real_link = os.replace, os.rename, os.link

    def record(call: str, path: Any) -> None:
        mode = _mode(path)
        if mode is not None:
            seen.append((call, os.fspath(path), mode))

    def watched_open(path: Any, flags: int, mode: int = 0o777, *args: Any, **kwargs: Any) -> int:
        fd = real_open(path, flags, mode, *args, **kwargs)
        if flags & os.O_CREAT:
            seen.append(("open", os.fspath(path), stat.S_IMODE(os.fstat(fd).st_mode)))
        return fd

    def watched_chmod(path: Any, mode: int, *args: Any, **kwargs: Any) -> None:
        record("before chmod", path)
        real_chmod(path, mode, *args, **kwargs)

    def moving(call: str, real: Callable[..., None]) -> Callable[..., None]:
        def move(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            record(f"{call} source", src)
            real(src, dst, *args, **kwargs)
            record(f"{call} target", dst)

        return move

    monkeypatch.setattr(os, "open", watched_open)
    monkeypatch.setattr(os, "chmod", watched_chmod)
    monkeypatch.setattr(os, "replace", moving("replace", real_replace))
    monkeypatch.setattr(os, "rename", moving("rename", real_rename))
    monkeypatch.setattr(os, "link", moving("link", real_link))
    try:
        yield lambda name: [event for event in seen if name in Path(event[1]).name]
    finally:
        os.umask(previous_umask)


def assert_private_throughout(events: Seen, final: Path) -> None:
    """No group or other permission bit at any point, and the file ends up exactly 0600."""
    exposed = [(call, path, oct(mode)) for call, path, mode in events if mode & 0o077]
    assert exposed == [], f"key file readable by others at some point: {exposed}"
    assert stat.S_IMODE(final.stat().st_mode) == 0o600
    assert not final.is_symlink()


def test_django_secret_key_file_is_private_from_the_start(
    watch: Callable[[str], Seen], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    monkeypatch.setattr(hallmark_settings, "VAR_DIR", tmp_path)
    key = hallmark_settings._secret_key()
    assert len(key) >= 50
    assert_private_throughout(watch("secret_key"), tmp_path / "secret_key")
    assert hallmark_settings._secret_key() == key  # kept, not made again
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no temporary file left


def test_prompt_hmac_key_file_is_private_and_kept(
    watch: Callable[[str], Seen], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("HALLMARK_PROMPT_HMAC_KEY", raising=False)
    monkeypatch.setattr(hallmark_settings, "VAR_DIR", tmp_path)
    key = hallmark_settings._prompt_hmac_key()
    assert len(key) >= 32
    assert_private_throughout(watch("prompt_hmac_key"), tmp_path / "prompt_hmac_key")
    assert hallmark_settings._prompt_hmac_key() == key

    monkeypatch.setenv("HALLMARK_PROMPT_HMAC_KEY", "x" * 32)
    assert hallmark_settings._prompt_hmac_key() == "x" * 32
    monkeypatch.setenv("HALLMARK_PROMPT_HMAC_KEY", "short")
    with pytest.raises(ImproperlyConfigured):
        hallmark_settings._prompt_hmac_key()


def test_a_key_file_made_meanwhile_by_another_process_is_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two processes starting at once: the second must read the first's key, not replace it."""
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    monkeypatch.setattr(hallmark_settings, "VAR_DIR", tmp_path)
    real_exists = Path.exists

    def raced_exists(self: Path) -> bool:
        if self.name == "secret_key" and not real_exists(self):
            self.write_text("the-first-process-key")  # lands between the check and the write
            return False
        return real_exists(self)

    monkeypatch.setattr(Path, "exists", raced_exists)
    assert hallmark_settings._secret_key() == "the-first-process-key"


def test_provenance_init_writes_the_signer_key_private_from_the_start(
    watch: Callable[[str], Seen], settings: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "provenance"
    folder.mkdir()
    settings.HALLMARK_C2PA_CERT_CHAIN = folder / "signer-chain.pem"
    settings.HALLMARK_C2PA_PRIVATE_KEY = folder / "signer-key.pem"
    settings.HALLMARK_C2PA_TRUST_ANCHORS = folder / "trust-anchors.pem"
    # Someone with write access to the folder (or a crashed earlier run) left a world-readable
    # file at the temporary name a predictable writer would use, linked to where they can read.
    stolen = tmp_path / "stolen.pem"
    stolen.write_bytes(b"")
    os.chmod(stolen, 0o644)
    (folder / f".signer-key.pem.{os.getpid()}.tmp").symlink_to(stolen)

    call_command("provenance_init", verbosity=0)

    key = folder / "signer-key.pem"
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert stolen.read_bytes() == b"", "the key was written through a planted link"
    assert_private_throughout(watch("signer-key.pem"), key)
    for public in ("signer-chain.pem", "trust-anchors.pem"):
        assert stat.S_IMODE((folder / public).stat().st_mode) == 0o644

    call_command("provenance_init", force=True, verbosity=0)  # replacing keeps it private too
    assert_private_throughout(watch("signer-key.pem"), key)


def test_audit_checkpoint_key_is_private_from_the_start(watch: Callable[[str], Seen], tmp_path: Path) -> None:
    private_path = tmp_path / "audit" / "checkpoint_ed25519.pem"
    created, public = checkpoints.init_key(private_path, checkpoint_directory=tmp_path / "none")
    assert created == private_path
    assert_private_throughout(watch("checkpoint_ed25519.pem"), private_path)
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    first = private_path.read_bytes()

    with pytest.raises(checkpoints.CheckpointError):
        checkpoints.init_key(private_path, checkpoint_directory=tmp_path / "none")
    assert private_path.read_bytes() == first

    checkpoints.init_key(private_path, force=True, checkpoint_directory=tmp_path / "none")
    assert private_path.read_bytes() != first
    assert_private_throughout(watch("checkpoint_ed25519.pem"), private_path)
    assert sorted(p.name for p in private_path.parent.iterdir()) == [
        "checkpoint_ed25519.pem",
        "checkpoint_ed25519.pub.pem",
    ]
