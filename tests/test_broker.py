"""The embedded filesystem broker publishes whole messages only."""

from __future__ import annotations

import os
from pathlib import Path

from kombu import Connection


def test_filesystem_urls_use_the_atomic_transport(tmp_path: Path) -> None:
    from hallmark.broker import AtomicFilesystemTransport

    folder = str(tmp_path)
    options = {"data_folder_in": folder, "data_folder_out": folder, "control_folder": folder}
    with Connection("filesystem://", transport_options=options) as conn:
        assert isinstance(conn.transport, AtomicFilesystemTransport)
        queue = conn.SimpleQueue("gen.test")
        queue.put({"job": "1"})
        # Only whole, renamed files are visible to readers; no temporary file is left behind.
        names = os.listdir(folder)
        messages = [n for n in names if n.endswith(".gen.test.msg")]
        assert len(messages) == 1 and not [n for n in names if n.startswith(".incoming-")]
        assert queue.get(timeout=1).payload == {"job": "1"}
        queue.close()


def test_a_reader_never_sees_a_message_being_written(tmp_path: Path, monkeypatch) -> None:
    """Until the rename, the folder holds only a hidden temporary file, never a partial message."""
    from hallmark import broker

    folder = str(tmp_path)
    visible_before_rename: list[list[str]] = []
    real_replace = os.replace

    def look_then_replace(src: str, dst: str) -> None:
        visible_before_rename.append(sorted(n for n in os.listdir(folder) if n.endswith(".msg")))
        assert Path(src).read_bytes()  # the whole message is written before it is renamed
        real_replace(src, dst)

    monkeypatch.setattr(broker.os, "replace", look_then_replace)
    channel = broker.AtomicFilesystemChannel.__new__(broker.AtomicFilesystemChannel)
    monkeypatch.setattr(broker.AtomicFilesystemChannel, "data_folder_out", folder, raising=False)
    channel._put("gen.test", {"job": "2"})
    assert visible_before_rename == [[]]
    assert [n for n in os.listdir(folder) if n.endswith(".gen.test.msg")]
