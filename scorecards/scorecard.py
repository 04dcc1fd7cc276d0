"""A benchmark's scorecard, computed from its cells' jobs and their check results.

Per plugin: the model identity that produced its images (name, version, weights fingerprint),
``images`` stored, ``pass_rate`` (images that passed every check, over the cells asked for:
a failed job counts as not accepted), typography accuracy (mean and worst of the OCR scores),
p50/p95 latency (a job's start to its images stored, succeeded jobs only), ``failures`` by kind
(a failed job's error code, or ``check:<type>`` for each check an image failed), cost per image
and cost per accepted image (None when no image was accepted or no cost was reported).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from acceptance.models import CheckResult
from assets.models import Asset
from generation.models import TERMINAL_STATUSES, JobStatus
from scorecards.models import Benchmark, BenchmarkCell


@dataclass
class CellView:
    """One cell as the benchmark page shows it: its job, image and check results."""

    cell: BenchmarkCell
    asset: Asset | None
    results: list[CheckResult] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """``passed``, ``failed``, ``error`` (the job failed), ``missing`` (its image was deleted)
        or ``pending`` (queued, running, or waiting for its checks)."""
        if self.cell.job.status == JobStatus.FAILED or self.cell.job.status == JobStatus.CANCELLED:
            return "error"
        if self.asset is None and self.cell.job.status == JobStatus.SUCCEEDED:
            return "missing"  # its image was deleted since
        if self.asset is None or not self.results:
            return "pending"
        return "passed" if all(r.passed for r in self.results) else "failed"


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (``fraction`` in 0..1) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def cells(benchmark: Benchmark) -> list[CellView]:
    """Every cell of ``benchmark`` with its (first) image and that image's check results."""
    rows = list(benchmark.cells.select_related("job").order_by("prompt_index", "plugin_id", "seed"))
    job_ids = [row.job_id for row in rows]
    assets: dict[Any, Asset] = {}
    for asset in Asset.objects.live().filter(job_id__in=job_ids).order_by("index_in_job"):
        assets.setdefault(asset.job_id, asset)
    results: dict[Any, list[CheckResult]] = defaultdict(list)
    for result in CheckResult.objects.filter(
        asset_id__in=[a.pk for a in assets.values()], checklist_version_id=benchmark.checklist_version_id
    ).order_by("check_index"):
        results[result.asset_id].append(result)
    views = []
    for row in rows:
        found = assets.get(row.job_id)
        views.append(CellView(row, found, results.get(found.pk, []) if found else []))
    return views


def status(views: list[CellView]) -> str:
    """``running`` while a job runs or an image waits for its checks, then ``finished``."""
    for view in views:
        if view.cell.job.status not in TERMINAL_STATUSES or view.verdict == "pending":
            return "running"
    return "finished"


def _usd(value: Decimal | None) -> float | None:
    return None if value is None else float(value.quantize(Decimal("0.000001")))


def scorecard(benchmark: Benchmark, views: list[CellView] | None = None) -> list[dict[str, Any]]:
    """One row per plugin, in the order the benchmark named them (see the module docstring)."""
    views = cells(benchmark) if views is None else views
    rows = []
    for plugin_id in benchmark.plugins:
        mine = [view for view in views if view.cell.plugin_id == plugin_id]
        stored = [view for view in mine if view.asset is not None]
        accepted = [view for view in stored if view.verdict == "passed"]
        failures: Counter[str] = Counter()
        latencies: list[float] = []
        typography: list[float] = []
        costs = [view.cell.job.cost for view in mine if view.cell.job.cost is not None]
        for view in mine:
            job = view.cell.job
            if job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
                failures[job.error_code or str(job.status)] += 1
            if job.status == JobStatus.SUCCEEDED and job.started_at and job.finished_at:
                latencies.append((job.finished_at - job.started_at).total_seconds() * 1000)
            for result in view.results:
                if not result.passed:
                    failures[f"check:{result.check_type}"] += 1
                if result.check_type == "typography" and result.score is not None:
                    typography.append(result.score)
        identity = stored[0].asset.model_identity if stored and stored[0].asset else {}
        total_cost = sum(costs, Decimal(0)) if costs else None
        p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
        rows.append(
            {
                "plugin": plugin_id,
                "model": {
                    "name": identity.get("name"),
                    "version": identity.get("version"),
                    "weights_fingerprint": identity.get("fingerprint"),
                },
                "cells": len(mine),
                "images": len(stored),
                "accepted": len(accepted),
                "pass_rate": round(len(accepted) / len(mine), 4) if mine else None,
                "typography_accuracy": {
                    "mean": round(sum(typography) / len(typography), 4) if typography else None,
                    "worst": round(min(typography), 4) if typography else None,
                },
                "p50_ms": None if p50 is None else round(p50, 1),
                "p95_ms": None if p95 is None else round(p95, 1),
                "failures": dict(sorted(failures.items())),
                "cost_per_image_usd": _usd(total_cost / len(stored))
                if total_cost is not None and stored
                else None,
                "cost_per_accepted_usd": _usd(total_cost / len(accepted))
                if total_cost is not None and accepted
                else None,
            }
        )
    return rows
