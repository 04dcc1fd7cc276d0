"""Job counts and duration histograms for ``/metrics``, computed from the job rows.

Workers run on other hosts than the web process that answers the scrape, and a Celery worker
serves no HTTP. Prometheus' multiprocess mode shares a folder between the processes of one
host only, so worker-side histograms would never reach a web host's scrape. Everything a
histogram needs is on the job row instead (``created_at``, ``started_at``, ``finished_at`` and
``store_seconds``, written by whichever worker ran it), so the numbers are computed at scrape
time from the shared database: every web process on every host gives the same answer, a
restart loses nothing, and no worker needs a port.

Cheap at scale: the histograms are cumulative over all finished jobs, so each process keeps
the sums for jobs that finished before a watermark (``SETTLE_SECONDS`` ago, beyond the time
between a worker stamping ``finished_at`` and its commit) and adds only the newer rows at each
scrape: one aggregate query over the jobs that finished since the previous scrape (found
through the ``finished_at`` index; those now settled are added to the kept sums, the others
counted for this answer only) and one count of queued and running jobs. The first scrape of a
process walks the table once (docs/benchmarks.md measures both). A worker whose clock lags the database host's by more than the margin could
commit a job below the watermark, which this process then never counts: keep hosts on NTP.

Observed when a job finishes: the time in queue is ``started_at - created_at`` (from the
request until a worker first took it, re-enqueues included), the duration
``finished_at - started_at`` (first claim to the end, storing included), the store time what
the worker measured from generated images to committed assets.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Case, Count, F, FloatField, Func, Q, QuerySet, Sum, Value, When
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone

from generation.models import TERMINAL_STATUSES, GenerationJob, JobStatus

#: Counted afresh at each scrape, through the status index.
LIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)

#: Finished jobs this recent may still be committing; they are counted afresh at each scrape.
SETTLE_SECONDS = 120.0

#: Upper bounds (seconds) of the histogram buckets; +Inf is added when rendered.
BUCKETS: dict[str, tuple[float, ...]] = {
    "queue": (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
    "duration": (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600),
    "store": (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
}


@dataclass
class Histogram:
    """Cumulative bucket counts (one per bound in ``BUCKETS[kind]``), sum and count."""

    buckets: list[int]
    total: float = 0.0
    count: int = 0

    def add(self, other: Histogram) -> None:
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]
        self.total += other.total
        self.count += other.count


@dataclass
class Group:
    """What is known about the finished jobs of one plugin and one terminal status."""

    finished: int = 0
    histograms: dict[str, Histogram] = field(
        default_factory=lambda: {kind: Histogram([0] * len(b)) for kind, b in BUCKETS.items()}
    )

    def add(self, other: Group) -> None:
        self.finished += other.finished
        for kind, histogram in other.histograms.items():
            self.histograms[kind].add(histogram)


Key = tuple[str, str]  # (plugin id, status)


@dataclass(frozen=True)
class JobStats:
    """Finished jobs by (plugin, status) with their histograms; live jobs by (plugin, status)."""

    finished: dict[Key, Group]
    live: dict[Key, int]


class Seconds(Func):
    """``end - start`` in seconds, as a float computed by the database itself.

    Django's duration arithmetic runs a Python function per row on SQLite (20,000 jobs took 15 s
    to aggregate, docs/benchmarks.md); ``julianday`` and ``EXTRACT(EPOCH ...)`` are native.
    """

    arity = 2
    output_field = FloatField()

    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    arg_joiner = " - "

    def as_sqlite(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any) -> Any:
        return super().as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra,
        )


def _seconds(value: Any) -> float:
    return float(value or 0.0)


def _aggregate(rows: QuerySet[GenerationJob], *, settled_before: datetime) -> dict[tuple[Key, bool], Group]:
    """One GROUP BY over ``rows``: counts, each histogram's buckets, sum and count, per
    (plugin, status) and whether the jobs finished before ``settled_before``."""
    annotated = rows.annotate(
        m_queue=Seconds(F("started_at"), F("created_at")),
        m_duration=Seconds(F("finished_at"), F("started_at")),
        m_settled=Case(When(finished_at__lt=settled_before, then=Value(1)), default=Value(0)),
    )
    aggregates: dict[str, Any] = {"n": Count("pk")}
    for kind, bounds in BUCKETS.items():
        column = "store_seconds" if kind == "store" else f"m_{kind}"
        for index, bound in enumerate(bounds):
            aggregates[f"{kind}_{index}"] = Count("pk", filter=Q(**{f"{column}__lte": float(bound)}))
        aggregates[f"{kind}_sum"] = Sum(column)
        aggregates[f"{kind}_count"] = Count(column)
    result: dict[tuple[Key, bool], Group] = {}
    grouped: Any = annotated.values("plugin_id", "status", "m_settled").annotate(**aggregates).order_by()
    for row in grouped:
        group = Group(finished=row["n"])
        for kind, bounds in BUCKETS.items():
            group.histograms[kind] = Histogram(
                buckets=[row[f"{kind}_{i}"] for i in range(len(bounds))],
                total=_seconds(row[f"{kind}_sum"]),
                count=row[f"{kind}_count"],
            )
        result[((row["plugin_id"], row["status"]), bool(row["m_settled"]))] = group
    return result


def _merge(into: dict[Key, Group], other: dict[Key, Group]) -> None:
    for key, group in other.items():
        into.setdefault(key, Group()).add(group)


class _Accumulator:
    """The settled part of the histograms, kept per process and extended at each scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settled: dict[Key, Group] = {}
        self._until: datetime | None = None

    def stats(self) -> JobStats:
        # By finished_at alone, so that the database walks its index from the watermark (a
        # status filter made SQLite scan every terminal job); only a finished job has one.
        finished = GenerationJob.objects.filter(finished_at__isnull=False)
        with self._lock:
            until = timezone.now() - timedelta(seconds=SETTLE_SECONDS)
            if self._until is not None:
                until = max(until, self._until)
                # The recent rows found through the finished_at index, then grouped: asked in
                # one query, SQLite walked the whole table along the plugin index to group it.
                recent = GenerationJob.objects.filter(finished_at__gte=self._until).values("pk")
                finished = GenerationJob.objects.filter(pk__in=recent)
            # One query: the rows that settled since the last scrape are added to the kept
            # sums; the unsettled tail is counted for this answer only.
            result: dict[Key, Group] = {}
            for (key, settled), group in _aggregate(finished, settled_before=until).items():
                if key[1] not in TERMINAL_STATUSES:
                    continue
                if settled:
                    self._settled.setdefault(key, Group()).add(group)
                else:
                    result.setdefault(key, Group()).add(group)
            self._until = until
            _merge(result, self._settled)
        live_rows = (
            GenerationJob.objects.filter(status__in=LIVE_STATUSES)
            .values("plugin_id", "status")
            .annotate(n=Count("pk"))
            .order_by()
        )
        live = {(row["plugin_id"], row["status"]): row["n"] for row in live_rows}
        return JobStats(finished=result, live=live)

    def reset(self) -> None:
        with self._lock:
            self._settled = {}
            self._until = None


_accumulator = _Accumulator()


def job_stats() -> JobStats:
    """Jobs by plugin and status, and the histograms of the finished ones."""
    return _accumulator.stats()


def reset() -> None:
    """Forget the settled sums (tests; the next scrape walks the table again)."""
    _accumulator.reset()
