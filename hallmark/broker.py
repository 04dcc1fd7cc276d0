"""The embedded broker: kombu's filesystem transport, with messages published atomically.

kombu writes a message file in place: a worker that lists the folder at the wrong moment moves
and reads an empty or partial file, fails to decode it, stops with an unrecoverable error, and
the message is gone. Here each message is written to a hidden temporary name in the same
folder and renamed into place, so a reader sees a whole message or none.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

from hallmark.files import atomic_write


class AtomicFilesystemChannel(filesystem.Channel):
    """A filesystem channel whose ``_put`` is a write-then-rename."""

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        folder = self.data_folder_out
        try:
            # Readers match "<...>.<queue>.msg" and never pick up atomic_write's temporary name.
            atomic_write(os.path.join(folder, name), str_to_bytes(dumps(payload)))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to directory") from exc


class AtomicFilesystemTransport(filesystem.Transport):
    """kombu's filesystem transport with atomic publishing (``filesystem://``)."""

    Channel = AtomicFilesystemChannel


def install() -> None:
    """Make ``filesystem://`` URLs use the atomic transport in this process."""
    TRANSPORT_ALIASES["filesystem"] = "hallmark.broker:AtomicFilesystemTransport"
