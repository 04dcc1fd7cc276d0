"""Serializers of ``/api/v1/experiments/``: the request bodies (documented; the rules are
``workspace.experiments``') and an experiment with its cells."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers
from rest_framework.request import Request

from hallmark.sdk import MAX_SEED
from workspace import experiment_results
from workspace.experiment_input import MAX_COMPARED_ASSETS, MAX_PLUGINS, MAX_SEEDS
from workspace.models import Experiment


class ExperimentCreateSerializer(serializers.Serializer[Any]):
    """Either ``prompt``, ``plugins`` and ``seeds`` (one job per plugin and seed) or ``assets``
    (existing assets, compared as they are; the prompt is the first one's)."""

    prompt = serializers.CharField(required=False, max_length=4000)
    negative_prompt = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    plugins = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        min_length=1,
        max_length=MAX_PLUGINS,
        help_text="Distinct ids of enabled plugins",
    )
    seeds = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=MAX_SEED),
        required=False,
        min_length=1,
        max_length=MAX_SEEDS,
        help_text="Distinct seeds",
    )
    width = serializers.IntegerField(required=False, min_value=1)
    height = serializers.IntegerField(required=False, min_value=1)
    params = serializers.DictField(
        child=serializers.DictField(),
        required=False,
        help_text="Each chosen plugin's own parameters, by plugin id",
    )
    assets = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        min_length=2,
        max_length=MAX_COMPARED_ASSETS,
        help_text="Instead of plugins and seeds: existing assets to compare",
    )


class ExperimentExtendSerializer(serializers.Serializer[Any]):
    """Plugins and/or seeds to add: every plugin and seed not in the experiment yet is submitted."""

    plugins = serializers.ListField(child=serializers.CharField(), required=False, max_length=MAX_PLUGINS)
    seeds = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=MAX_SEEDS)


class WinnerSerializer(serializers.Serializer[Any]):
    """``{"asset": id}``: an asset of one of the experiment's cells."""

    asset = serializers.UUIDField()


class CellModelSerializer(serializers.Serializer[Any]):
    """The model that made a cell's image."""

    name = serializers.CharField()
    version = serializers.CharField()
    fingerprint = serializers.CharField()


class CellSerializer(serializers.Serializer[Any]):
    """One plugin and seed: its job, its image once made, latency (start to end on the worker,
    ms) and cost (US dollars, when the plugin reports one)."""

    id = serializers.IntegerField()
    plugin = serializers.CharField()
    seed = serializers.IntegerField()
    job = serializers.UUIDField(allow_null=True)
    job_status = serializers.CharField()
    asset = serializers.UUIDField(allow_null=True)
    image_url = serializers.CharField(allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)
    cost_usd = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True)
    model = CellModelSerializer()
    params = serializers.DictField()


class ExperimentSerializer(serializers.Serializer[Any]):
    """An experiment: ``status`` is ``running``, ``succeeded``, ``partial`` or ``failed``."""

    id = serializers.UUIDField()
    url = serializers.CharField()
    prompt = serializers.CharField()
    negative_prompt = serializers.CharField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    params = serializers.DictField()
    origin = serializers.ChoiceField(
        choices=Experiment.Source.choices,
        help_text="generated: jobs were run for it; assets: existing assets compared",
    )
    status = serializers.CharField()
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    cells = CellSerializer(many=True)
    winner = serializers.UUIDField(allow_null=True)
    winner_by = serializers.CharField(allow_null=True)
    winner_at = serializers.DateTimeField(allow_null=True)


def _cell(result: experiment_results.CellResult, request: Request) -> dict[str, Any]:
    asset = result.asset
    return {
        "id": result.cell.pk,
        "plugin": result.cell.plugin_id,
        "seed": result.cell.seed,
        "job": str(result.cell.job_id) if result.cell.job_id else None,
        "job_status": result.status,
        "asset": str(asset.pk) if asset else None,
        "image_url": request.build_absolute_uri(reverse("asset-file", args=[asset.pk])) if asset else None,
        "latency_ms": result.latency_ms,
        "cost_usd": None if result.cost_usd is None else str(result.cost_usd),
        "model": result.model,
        "params": result.params,
    }


def experiment_data(
    experiment: Experiment, request: Request, cells: list[experiment_results.CellResult] | None = None
) -> dict[str, Any]:
    """The experiment as the API returns it (``ExperimentSerializer``'s shape); ``cells`` when
    they were read already (``experiment_results.results_for``)."""
    if cells is None:
        cells = experiment_results.results(experiment)
    return {
        "id": str(experiment.pk),
        "url": request.build_absolute_uri(reverse("experiment-page", args=[experiment.pk])),
        "prompt": experiment.prompt,
        "negative_prompt": experiment.negative_prompt,
        "width": experiment.width,
        "height": experiment.height,
        "params": experiment.params,
        "origin": experiment.source,
        "status": experiment_results.status_of(cells),
        "created_by": experiment.created_by.get_username(),
        "created_at": serializers.DateTimeField().to_representation(experiment.created_at),
        "cells": [_cell(c, request) for c in cells],
        "winner": str(experiment.winner_id) if experiment.winner_id else None,
        "winner_by": experiment.winner_by.get_username() if experiment.winner_by else None,
        "winner_at": serializers.DateTimeField().to_representation(experiment.winner_at)
        if experiment.winner_at
        else None,
    }
