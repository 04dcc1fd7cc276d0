"""Progress bars for long management commands: on a terminal only, silent otherwise.

One helper, so every command behaves alike: a bar on standard error when that is a terminal
(a person is watching), nothing at all when it is a file, a pipe or cron's mail (a log would
fill with carriage returns). Imports no app: any layer's commands may use it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def on_terminal(stream: Any) -> bool:
    """Whether ``stream`` (a file, or Django's ``OutputWrapper`` around one) is a terminal."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):  # a closed or detached stream
        return False


def bar(*, total: float | None, desc: str, unit: str = "it", stream: Any = None) -> tqdm[Any]:
    """A progress bar writing to ``stream`` (default standard error), disabled off a terminal.

    ``unit="B"`` shows bytes scaled (MB/s). Use it as a context manager and call ``update(n)``.
    """
    # Django's OutputWrapper ends every write with a newline, which would break a bar's redraws:
    # write to the stream it wraps.
    out: IO[str] = getattr(stream, "_out", stream) if stream is not None else sys.stderr
    scale = unit == "B"
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=scale,
        unit_divisor=1024 if scale else 1000,
        file=out,
        disable=not on_terminal(out),
        dynamic_ncols=True,
        leave=True,
    )


def iterate(items: Iterable[T], *, total: int | None, desc: str, unit: str = "it", stream: Any = None) -> Iterator[T]:
    """Yield ``items``, advancing a bar (see ``bar``) by one for each."""
    with bar(total=total, desc=desc, unit=unit, stream=stream) as progress:
        for item in items:
            yield item
            progress.update(1)
