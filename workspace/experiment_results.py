"""What an experiment shows: each cell's job, asset, latency, cost and model identity, the
experiment's status derived from its cells, and the searchable history. Reads only."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet

from assets.models import Asset
from generation.models import GenerationJob, JobStatus
from workspace.models import Experiment, ExperimentCell

#: An experiment's status: some cell still queued or running; every cell made its image;
#: some did and some did not; none did.
RUNNING, SUCCEEDED, PARTIAL, FAILED = "running", "succeeded", "partial", "failed"


@dataclass(frozen=True)
class CellResult:
    """One cell as pages and the API show it."""

    cell: ExperimentCell
    job: GenerationJob | None
    asset: Asset | None

    @property
    def status(self) -> str:
        """The job's status; for a compared asset ``succeeded``; ``failed`` when the image is
        gone (soft-deleted since), as there is nothing left to compare."""
        if self.cell.asset_id is not None or self.job is None:
            return JobStatus.SUCCEEDED if self.asset is not None else JobStatus.FAILED
        if self.job.status == JobStatus.SUCCEEDED and self.asset is None:
            return JobStatus.FAILED
        return str(self.job.status)

    @property
    def finished(self) -> bool:
        """Whether nothing more will happen to this cell."""
        return self.status not in (JobStatus.QUEUED, JobStatus.RUNNING)

    @property
    def latency_ms(self) -> int | None:
        """From the job's start to its end on the worker (queueing not included)."""
        job = self.job
        if job is None or job.started_at is None or job.finished_at is None:
            return None
        return max(0, round((job.finished_at - job.started_at).total_seconds() * 1000))

    @property
    def cost_usd(self) -> Decimal | None:
        """What the job cost, when its plugin reported a cost in US dollars."""
        job = self.job
        if job is None or job.cost is None or job.cost_currency != "USD":
            return None
        return job.cost

    @property
    def model(self) -> dict[str, str]:
        """The model identity of the image: name, version and weights fingerprint."""
        identity: dict[str, Any] = self.asset.model_identity if self.asset is not None else {}
        return {k: str(identity.get(k) or "") for k in ("name", "version", "fingerprint")}

    @property
    def params(self) -> dict[str, Any]:
        """The parameters the image was made with (the job's, until there is an image)."""
        if self.asset is not None:
            return dict(self.asset.params)
        return dict(self.job.params) if self.job is not None else {}


def _assets_of(cells: list[ExperimentCell]) -> dict[int, Asset]:
    """Each cell's live asset by cell id: the compared asset, or the first image of its job."""
    job_ids = [c.job_id for c in cells if c.asset_id is None and c.job_id]
    by_job: dict[Any, Asset] = {}
    for made in Asset.objects.live().filter(job_id__in=job_ids).order_by("-index_in_job"):
        by_job[made.job_id] = made  # the lowest index wins
    compared = {
        a.pk: a for a in Asset.objects.live().filter(pk__in=[c.asset_id for c in cells if c.asset_id])
    }
    found: dict[int, Asset] = {}
    for cell in cells:
        if (asset := compared.get(cell.asset_id) if cell.asset_id else by_job.get(cell.job_id)) is not None:
            found[cell.pk] = asset
    return found


def cell_assets(experiment: Experiment) -> dict[int, Asset]:
    """Each cell's live asset by cell id (the assets a winner may be chosen from)."""
    return _assets_of(list(ExperimentCell.objects.filter(experiment=experiment)))


def results_for(experiments: list[Experiment]) -> dict[Any, list[CellResult]]:
    """Each experiment's cells in order, with their jobs and assets, by experiment id; three
    queries however many experiments (a page of the history)."""
    cells = list(
        ExperimentCell.objects.filter(experiment__in=experiments)
        .select_related("job")
        .order_by("position", "id")
    )
    assets = _assets_of(cells)
    found: dict[Any, list[CellResult]] = {e.pk: [] for e in experiments}
    for cell in cells:
        found[cell.experiment_id].append(CellResult(cell, cell.job, assets.get(cell.pk)))
    return found


def results(experiment: Experiment, cells: list[ExperimentCell] | None = None) -> list[CellResult]:
    """The experiment's cells in order (or only ``cells``), with their jobs and assets."""
    if cells is None:
        return results_for([experiment])[experiment.pk]
    assets = _assets_of(cells)
    return [CellResult(cell, cell.job, assets.get(cell.pk)) for cell in cells]


def status_of(cells: list[CellResult]) -> str:
    """``running`` while any cell is; else ``succeeded``, ``partial`` or ``failed``."""
    statuses = [c.status for c in cells]
    if any(s in (JobStatus.QUEUED, JobStatus.RUNNING) for s in statuses):
        return RUNNING
    done = sum(s == JobStatus.SUCCEEDED for s in statuses)
    if statuses and done == len(statuses):
        return SUCCEEDED
    return PARTIAL if done else FAILED


def search(q: str = "", plugin: str = "", created_by: str = "") -> QuerySet[Experiment]:
    """Experiments, newest first, whose prompt holds ``q``, with a cell of ``plugin``, made by
    the user named ``created_by`` (each optional)."""
    found = Experiment.objects.select_related("created_by", "winner", "winner_by")
    if q:
        found = found.filter(Q(prompt__icontains=q) | Q(negative_prompt__icontains=q))
    if plugin:
        found = found.filter(pk__in=ExperimentCell.objects.filter(plugin_id=plugin).values("experiment_id"))
    if created_by:
        found = found.filter(created_by__username=created_by)
    return found.order_by("-created_at", "-id")


def plugins_by_experiment(experiments: list[Experiment]) -> dict[Any, list[str]]:
    """Each experiment's plugin ids, in cell order, in one query (for history lists)."""
    found: dict[Any, list[str]] = {}
    rows = ExperimentCell.objects.filter(experiment__in=experiments).order_by("position")
    for experiment_id, plugin_id in rows.values_list("experiment_id", "plugin_id"):
        names = found.setdefault(experiment_id, [])
        if plugin_id not in names:
            names.append(plugin_id)
    return found
