"""Long management commands show a progress bar on a terminal and stay quiet elsewhere."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import select
import struct
import termios
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest
from django.core.management import call_command

from governance.audit_trail import record_event
from hallmark import progress
from plugins.builtin.weights.fingerprint import fingerprint_folder, reporting_progress
from tests.governance.audit_helpers import make_asset


@pytest.fixture
def terminal() -> Iterator[tuple[TextIO, Callable[[], str]]]:
    """A real pseudo-terminal: the stream to write to, and a function reading what it shows."""
    master, slave = pty.openpty()
    # A terminal 100 columns wide, as a person's would be (a new pty has none).
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    stream = os.fdopen(slave, "w", encoding="utf-8")

    def shown() -> str:
        stream.flush()
        chunks = []
        while select.select([master], [], [], 0.2)[0]:
            data = os.read(master, 65536)
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks).decode("utf-8", "replace")

    yield stream, shown
    stream.close()
    os.close(master)


@pytest.fixture
def history(users: Any) -> None:
    for n in range(5):
        record_event("test.event", acting_user=users["admin"], target=("tests.thing", str(n)))


def test_on_terminal_sees_through_django_output_wrappers(terminal: Any) -> None:
    from django.core.management.base import OutputWrapper

    stream, _ = terminal
    assert progress.on_terminal(stream) and progress.on_terminal(OutputWrapper(stream))
    assert not progress.on_terminal(io.StringIO()) and not progress.on_terminal(OutputWrapper(io.StringIO()))
    assert not progress.on_terminal(object())


@pytest.mark.django_db
def test_verify_audit_is_quiet_off_a_terminal(history: None) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("verify_audit", stdout=out, stderr=err)
    assert "Audit chain intact" in out.getvalue()
    assert err.getvalue() == ""


@pytest.mark.django_db
def test_verify_audit_shows_a_bar_on_a_terminal(history: None, terminal: Any) -> None:
    from governance.models import AuditChainHead

    stream, shown = terminal
    out = io.StringIO()
    call_command("verify_audit", stdout=out, stderr=stream)
    text = shown()
    head = AuditChainHead.objects.get(id=1).seq
    assert "audit events: 100%" in text and f"{head}/{head}" in text, text
    assert "\r" in text  # redrawn in place, not a line per update
    assert "Audit chain intact" in out.getvalue()  # the verdict stays on standard output


@pytest.mark.django_db
def test_verify_assets_bar_on_a_terminal_quiet_elsewhere(users: Any, terminal: Any) -> None:
    for seed in range(2):
        make_asset(users["creator"], seed=seed, color=(seed, 1, 2))
    err = io.StringIO()
    call_command("verify_assets", stdout=io.StringIO(), stderr=err)
    assert err.getvalue() == ""
    stream, shown = terminal
    call_command("verify_assets", stdout=io.StringIO(), stderr=stream)
    text = shown()
    assert "assets: 100%" in text and "2/2" in text, text


@pytest.mark.django_db
def test_audit_export_counts_lines_on_a_terminal_and_leaves_the_export_alone(
    history: None, terminal: Any, tmp_path: Path
) -> None:
    quiet_err = io.StringIO()
    call_command("audit_export", "-o", str(tmp_path / "quiet.jsonl"), stdout=io.StringIO(), stderr=quiet_err)
    assert quiet_err.getvalue().startswith("Wrote ") and "\r" not in quiet_err.getvalue()
    stream, shown = terminal
    call_command("audit_export", "-o", str(tmp_path / "shown.jsonl"), stdout=io.StringIO(), stderr=stream)
    text = shown()
    lines = (tmp_path / "shown.jsonl").read_text().splitlines()
    assert f"audit export: {len(lines)}line" in text.replace(" line", "line"), text
    assert (tmp_path / "quiet.jsonl").read_text().splitlines()[1:] == lines[1:]  # same events
    # To standard output, the export is untouched by the bar (which goes to standard error).
    out = io.StringIO()
    call_command("audit_export", stdout=out, stderr=stream)
    assert out.getvalue().splitlines()[1:] == lines[1:]
    shown()


def test_fingerprinting_reports_bytes_hashed_and_bytes_found_in_the_cache(tmp_path: Path) -> None:
    folder = tmp_path / "weights"
    (folder / "unet").mkdir(parents=True)
    (folder / "unet" / "a.safetensors").write_bytes(b"a" * 5_000_000)
    (folder / "b.safetensors").write_bytes(b"b" * 1234)
    calls: list[tuple[int, int]] = []
    with reporting_progress(lambda total, done: calls.append((total, done))):
        first = fingerprint_folder(folder, cache_dir=tmp_path / "cache")
        second = fingerprint_folder(folder, cache_dir=tmp_path / "cache")  # from the cache
    assert first == second
    size = 5_001_234
    starts = [total for total, _ in calls if total]
    assert starts == [size, size]
    assert sum(done for _, done in calls) == 2 * size
    reported = len(calls)
    fingerprint_folder(folder, cache_dir=None)
    assert len(calls) == reported  # outside the block nobody is told
