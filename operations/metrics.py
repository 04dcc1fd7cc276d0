"""``/metrics``: what an operator watches, in Prometheus' text format (``prometheus-client``).

Collected at scrape time from shared state, never from counters kept in one process: jobs and
their histograms from the job rows (``operations.job_stats`` says why), queue depth from the
broker, plugin health from the plugins' own checks, the audit chain from its head row and the
latest signed checkpoint. Each section is collected on its own: a broker that is down costs
its samples (and ``hallmark_scrape_error{section="queues"} 1``), not the whole answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from prometheus_client.core import (
    CollectorRegistry,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from governance import checkpoints
from governance.models import AuditChainHead
from operations import job_stats, queues
from plugins import services as plugin_services

logger = logging.getLogger(__name__)

HEALTH_STATES = ("green", "amber", "red")
_HISTOGRAMS = {
    "queue": ("hallmark_job_queue_seconds", "Time from the request until a worker first took the job."),
    "duration": ("hallmark_job_duration_seconds", "Time from a worker taking the job until it finished."),
    "store": (
        "hallmark_job_store_seconds",
        "Time a worker spent storing a job's images (encode, sign, write, commit).",
    ),
}


def _bound(value: float) -> str:
    """A bucket bound as Prometheus writes it (``30`` is ``30.0``)."""
    return repr(float(value))


def _jobs() -> Iterator[Metric]:
    stats = job_stats.job_stats()
    jobs = GaugeMetricFamily("hallmark_jobs", "Generation jobs by plugin and status.", labels=["plugin", "status"])
    for (plugin, status), group in sorted(stats.finished.items()):
        jobs.add_metric([plugin, status], group.finished)
    for (plugin, status), count in sorted(stats.live.items()):
        jobs.add_metric([plugin, status], count)
    yield jobs
    for kind, (name, documentation) in _HISTOGRAMS.items():
        labels = ["plugin"] if kind != "duration" else ["plugin", "status"]
        family = HistogramMetricFamily(name, documentation, labels=labels)
        merged: dict[tuple[str, ...], job_stats.Histogram] = {}
        for (plugin, status), group in stats.finished.items():
            key: tuple[str, ...] = (plugin,) if kind != "duration" else (plugin, status)
            histogram = group.histograms[kind]
            if key not in merged:
                merged[key] = job_stats.Histogram([0] * len(histogram.buckets))
            merged[key].add(histogram)
        for key, histogram in sorted(merged.items()):
            if not histogram.count:
                continue
            bounds = [*(_bound(b) for b in job_stats.BUCKETS[kind]), "+Inf"]
            counts = [*histogram.buckets, histogram.count]
            family.add_metric(list(key), list(zip(bounds, counts, strict=True)), histogram.total)
        yield family


def _queues() -> Iterator[Metric]:
    depth = GaugeMetricFamily(
        "hallmark_queue_depth", "Messages waiting in the broker for a worker, per queue.", labels=["queue"]
    )
    names = queues.watched_queues()
    for queue, count in sorted(queues.queue_depths(names, timeout=settings.HALLMARK_READY_TIMEOUT).items()):
        depth.add_metric([queue], count)
    yield depth


def _plugins() -> Iterator[Metric]:
    health = GaugeMetricFamily(
        "hallmark_plugin_health",
        "1 for the plugin's current health (green, amber or red), 0 for the others.",
        labels=["plugin", "health"],
    )
    enabled = GaugeMetricFamily("hallmark_plugin_enabled", "Whether an admin enabled the plugin.", labels=["plugin"])
    for state in plugin_services.states():
        current = plugin_services.health(state.id).status if not state.entry.broken else "red"
        for name in HEALTH_STATES:
            health.add_metric([state.id, name], 1.0 if current == name else 0.0)
        enabled.add_metric([state.id], 1.0 if state.enabled else 0.0)
    yield health
    yield enabled


def _audit() -> Iterator[Metric]:
    head = AuditChainHead.objects.filter(id=1).values_list("seq", flat=True).first() or 0
    yield GaugeMetricFamily("hallmark_audit_chain_length", "Events in the audit chain (its head's seq).", value=head)
    path = checkpoints.latest_checkpoint_file()
    present = GaugeMetricFamily(
        "hallmark_audit_checkpoint_present",
        "Whether this host sees a signed audit checkpoint in HALLMARK_AUDIT_CHECKPOINT_DIR.",
        value=1.0 if path is not None else 0.0,
    )
    yield present
    if path is None:
        return
    latest = checkpoints.read_file(path)
    signed_at = datetime.fromisoformat(latest.signed_at.replace("Z", "+00:00"))
    yield GaugeMetricFamily(
        "hallmark_audit_checkpoint_age_seconds",
        "Seconds since the latest signed audit checkpoint was signed.",
        value=max(0.0, (timezone.now() - signed_at).total_seconds()),
    )
    yield GaugeMetricFamily(
        "hallmark_audit_events_since_checkpoint",
        "Audit events recorded after the latest signed checkpoint.",
        value=max(0, head - latest.seq),
    )


SECTIONS: dict[str, Callable[[], Iterator[Metric]]] = {
    "jobs": _jobs,
    "queues": _queues,
    "plugins": _plugins,
    "audit": _audit,
}


class HallmarkCollector(Collector):
    """Collects every section at scrape time; a failing section is reported, not raised."""

    def collect(self) -> Iterator[Metric]:
        errors = GaugeMetricFamily(
            "hallmark_scrape_error", "1 when a section of this scrape could not be collected.", labels=["section"]
        )
        for name, section in SECTIONS.items():
            try:
                metrics = list(section())
            except Exception:
                logger.exception("metrics: the %s section failed", name)
                errors.add_metric([name], 1.0)
                continue
            errors.add_metric([name], 0.0)
            yield from metrics
        yield errors


def render() -> bytes:
    """The metrics in Prometheus' text exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HallmarkCollector())
    return generate_latest(registry)
