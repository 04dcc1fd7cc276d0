"""Benchmarks: prompts x plugins x seeds run through the normal job path against a checklist."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models


class Benchmark(models.Model):
    """A benchmark run: what was asked (``prompts``, ``plugins``, ``seeds``, size) and the
    checklist version every image is judged by. Its scorecard is computed from its cells' jobs
    and their check results (``scorecards.scorecard``). Written only by ``scorecards.services``."""

    WRITERS: ClassVar[tuple[str, ...]] = ("scorecards.services",)

    name = models.CharField(max_length=100)
    checklist_version = models.ForeignKey(
        "acceptance.ChecklistVersion", on_delete=models.PROTECT, related_name="benchmarks"
    )
    prompt_set = models.CharField(max_length=63, blank=True)
    prompts = models.JSONField()
    plugins = models.JSONField()
    seeds = models.JSONField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"benchmark {self.name}"


class BenchmarkCell(models.Model):
    """One prompt x plugin x seed of a benchmark, and the job that ran it."""

    WRITERS: ClassVar[tuple[str, ...]] = ("scorecards.services",)

    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="cells")
    plugin_id = models.CharField(max_length=63)
    prompt_index = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    job = models.OneToOneField(
        "generation.GenerationJob", on_delete=models.PROTECT, related_name="benchmark_cell"
    )

    class Meta:
        ordering = ["benchmark", "prompt_index", "plugin_id", "seed"]
        constraints = [
            models.UniqueConstraint(
                fields=["benchmark", "plugin_id", "prompt_index", "seed"], name="benchmark_cell_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.benchmark_id}: {self.plugin_id} prompt {self.prompt_index} seed {self.seed}"
