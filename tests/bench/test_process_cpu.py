"""The database server's CPU reading counts each backend once, even one reaped mid-reading."""

from __future__ import annotations

import pytest

from bench import process_cpu

POSTMASTER = 10


class _ProcessTable:
    """A fake ``/proc``: ticks per pid (utime, stime, cutime, cstime); a backend reaped at a
    chosen moment of the reading moves its time into the postmaster's cutime, as the kernel
    does when the postmaster waits for it."""

    def __init__(self, reap: int, when: str) -> None:
        self.ticks = {POSTMASTER: [5, 1, 100, 20], 11: [7, 3, 0, 0], 12: [30, 10, 0, 0], 13: [2, 2, 0, 0]}
        self.reap, self.when = reap, when

    def total(self) -> int:
        return sum(sum(ticks) for ticks in self.ticks.values())

    def _reap(self) -> None:
        utime, stime, _, _ = self.ticks.pop(self.reap)
        self.ticks[POSTMASTER][2] += utime
        self.ticks[POSTMASTER][3] += stime
        self.reap = -1

    def children(self, pid: int) -> list[int]:
        assert pid == POSTMASTER
        return [p for p in self.ticks if p != POSTMASTER]

    def stat(self, pid: int) -> list[str]:
        if pid == self.reap and self.when == "before its read":
            self._reap()
        if pid not in self.ticks:
            raise FileNotFoundError(pid)
        fields = ["S"] * 11 + [str(t) for t in self.ticks[pid]]
        if pid == self.reap and self.when == "after its read":
            self._reap()
        return fields


@pytest.mark.parametrize("when", ["before its read", "after its read"])
@pytest.mark.parametrize("reap", [11, 12, 13])
def test_a_backend_reaped_during_the_reading_is_counted_once(
    monkeypatch: pytest.MonkeyPatch, reap: int, when: str
) -> None:
    table = _ProcessTable(reap, when)
    expected = table.total()  # reaping moves ticks, it neither adds nor removes any
    monkeypatch.setattr(process_cpu, "_children", table.children)
    monkeypatch.setattr(process_cpu, "_stat", table.stat)
    assert process_cpu._server_ticks(POSTMASTER) == expected


def test_the_reading_without_reaping_sums_every_process() -> None:
    table = _ProcessTable(reap=-1, when="never")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(process_cpu, "_children", table.children)
        patch.setattr(process_cpu, "_stat", table.stat)
        assert process_cpu._server_ticks(POSTMASTER) == 5 + 1 + 100 + 20 + 10 + 40 + 4
