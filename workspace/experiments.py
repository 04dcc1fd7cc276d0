"""Experiments: one prompt across several models and seeds, compared side by side. The writer
of ``Experiment`` and ``ExperimentCell``.

Each cell is a generation job submitted through ``generation.services.submit``, the path every
job takes (plugin enabled and healthy, validation against its capabilities, the user's queue
cap, a ``generation.requested`` audit event). An experiment is all or nothing: every cell is
validated before anything is written, then the experiment, its jobs and its audit events are
written in one transaction, so a cell refused at submit time (the queue cap reached by a
concurrent request) leaves no job behind either.

Who (docs/roles.md): creators make and extend experiments; every role reads them; the winner
is marked by the experiment's creator or an admin.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from assets.models import Asset
from assets.review import NoSuchAsset, NotPermitted
from generation import services as generation_services
from generation.models import GenerationJob, JobStatus
from governance import roles
from governance.audit_trail import record_event
from hallmark.errors import InvalidInput, ServiceError
from hallmark.sdk import RequestInvalid
from plugins import services as plugin_services
from plugins.validation import build_request
from workspace.experiment_input import (
    MAX_COMPARED_ASSETS,
    MAX_PLUGINS,
    MAX_SEEDS,
    clean_params,
    clean_plugins,
    clean_seeds,
    collect,
    plugin_errors,
)
from workspace.experiment_results import cell_assets
from workspace.models import Experiment, ExperimentCell
from workspace.services import clean_asset_ids, live_assets

ActingUser = AbstractBaseUser | AnonymousUser


class NoSuchExperiment(NoSuchAsset):
    """No experiment has this id (404)."""


class NoRoomInQueue(ServiceError):
    """The experiment's jobs do not fit in the user's queue (429); ``limit`` is the cap."""

    http_status = 429

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit

    def response_data(self) -> dict[str, Any]:
        """``{"detail", "errors": {"non_field_errors": [...]}, "limit"}``, as a full queue reads
        on ``/api/v1/generations/``."""
        return {"detail": str(self), "errors": {"non_field_errors": [str(self)]}, "limit": self.limit}


# ---------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------


def _fields(experiment: Experiment | Mapping[str, Any], plugin_id: str, seed: int) -> dict[str, Any]:
    """The generation request of one cell."""
    if isinstance(experiment, Experiment):
        shared = {
            "prompt": experiment.prompt,
            "negative_prompt": experiment.negative_prompt,
            "width": experiment.width,
            "height": experiment.height,
            "params": experiment.params,
        }
    else:
        shared = dict(experiment)
    params = shared.pop("params") or {}
    return {**shared, "seed": seed, "num_images": 1, "params": params.get(plugin_id, {})}


def _validate_cells(
    shared: Experiment | Mapping[str, Any], cells: list[tuple[str, int]], user: ActingUser
) -> None:
    """Check every cell as ``submit`` will, before any is submitted; all errors at once."""
    errors: dict[str, list[str]] = {}
    for plugin_id in dict.fromkeys(p for p, _ in cells):
        try:
            plugin = plugin_services.available_plugin(plugin_id)
        except plugin_services.PluginUnavailable as exc:
            shown = str(exc) if roles.has_role(user, roles.ADMIN) else exc.public_message
            errors.setdefault("plugins", []).append(shown)
            continue
        for cell_plugin, seed in cells:
            if cell_plugin != plugin_id:
                continue
            try:
                build_request(plugin, **_fields(shared, plugin_id, seed))
            except RequestInvalid as exc:
                for name, messages in plugin_errors(plugin_id, exc.errors).items():
                    errors.setdefault(name, []).extend(m for m in messages if m not in errors.get(name, []))
    if errors:
        raise InvalidInput(errors)


def _check_room(user: User, needed: int) -> None:
    """Refuse at once, with numbers, an experiment whose jobs would pass the user's queue cap
    (``submit`` would refuse the cell that passes it, and the whole experiment with it)."""
    limit = settings.HALLMARK_MAX_QUEUED_PER_USER
    if limit <= 0:
        return
    if needed > limit:
        raise InvalidInput(
            {"seeds": [f"{needed} cells are more jobs than one user may have queued ({limit})."]}
        )
    active = GenerationJob.objects.filter(
        requested_by=user, status__in=(JobStatus.QUEUED, JobStatus.RUNNING)
    ).count()
    if active + needed > limit:
        raise NoRoomInQueue(
            f"This needs {needed} jobs and you have {active} queued or running, of at most {limit}. "
            "Wait for some to finish or cancel some, then try again.",
            limit=limit,
        )


def _require_creator(user: ActingUser, doing: str) -> User:
    if not roles.has_role(user, roles.CREATOR) or not isinstance(user, User):
        raise NotPermitted(f"You need the creator role to {doing}.")
    return user


def _submit_cells(
    experiment: Experiment, cells: list[tuple[str, int]], user: User, start: int
) -> list[ExperimentCell]:
    """Submit one job per cell inside the caller's transaction (the jobs are sent on commit)."""
    made = []
    for offset, (plugin_id, seed) in enumerate(cells):
        try:
            job, _ = generation_services.submit(
                acting_user=user, plugin_id=plugin_id, fields=_fields(experiment, plugin_id, seed)
            )
        except RequestInvalid as exc:
            raise InvalidInput(plugin_errors(plugin_id, exc.errors)) from None
        except generation_services.QueueFull as exc:
            raise NoRoomInQueue(str(exc), limit=exc.limit) from None
        made.append(
            ExperimentCell.objects.create(
                experiment=experiment, plugin_id=plugin_id, seed=seed, job=job, position=start + offset
            )
        )
    return made


def _audited_cells(cells: Iterable[ExperimentCell]) -> list[dict[str, Any]]:
    return [
        {
            "plugin": c.plugin_id,
            "seed": c.seed,
            "job": str(c.job_id) if c.job_id else None,
            "asset": str(c.asset_id) if c.asset_id else None,
        }
        for c in cells
    ]


# ---------------------------------------------------------------------------------------------
# Writes
# ---------------------------------------------------------------------------------------------


def create_experiment(body: Mapping[str, Any], *, acting_user: ActingUser) -> Experiment:
    """An experiment from ``{"prompt", "plugins", "seeds", ...}`` (one job per plugin and seed)
    or from ``{"assets": [...]}`` (existing assets, compared as they are)."""
    user = _require_creator(acting_user, "run experiments")
    if body.get("assets") is not None:
        given = sorted(k for k in ("plugins", "seeds", "params") if body.get(k) is not None)
        if given:
            raise InvalidInput({given[0]: ["Give either assets or plugins and seeds, not both."]})
        return _compare_assets(body.get("assets"), user)
    errors: dict[str, list[str]] = {}
    plugins = collect(errors, clean_plugins, body.get("plugins")) or []
    seeds = collect(errors, clean_seeds, body.get("seeds")) or []
    params = collect(errors, lambda raw: clean_params(raw, plugins), body.get("params")) or {}
    if errors:
        raise InvalidInput(errors)
    shared = {k: body.get(k) for k in ("prompt", "negative_prompt", "width", "height")}
    shared["negative_prompt"] = shared["negative_prompt"] or ""
    cells = [(p, s) for p in plugins for s in seeds]
    _validate_cells({**shared, "params": params}, cells, user)
    with transaction.atomic():
        _check_room(user, len(cells))
        experiment = Experiment.objects.create(
            prompt=str(shared["prompt"]).strip(),
            negative_prompt=str(shared["negative_prompt"]).strip(),
            width=shared["width"],
            height=shared["height"],
            params=params,
            created_by=user,
        )
        made = _submit_cells(experiment, cells, user, start=0)
        record_event(
            "experiment.created",
            acting_user=user,
            target=experiment,
            data={"plugins": plugins, "seeds": seeds, "cells": _audited_cells(made)},
        )
    return experiment


def _compare_assets(raw: Any, user: User) -> Experiment:
    ids = clean_asset_ids(raw, limit=MAX_COMPARED_ASSETS)
    if len(ids) < 2:
        raise InvalidInput({"assets": ["Compare at least two assets."]})
    with transaction.atomic():
        assets = live_assets(ids)
        first = assets[0]
        experiment = Experiment.objects.create(
            prompt=first.prompt,
            negative_prompt=first.negative_prompt,
            width=first.width,
            height=first.height,
            source=Experiment.Source.ASSETS,
            created_by=user,
        )
        made = [
            ExperimentCell.objects.create(
                experiment=experiment,
                plugin_id=a.plugin_id,
                seed=a.seed,
                job_id=a.job_id,
                asset=a,
                position=i,
            )
            for i, a in enumerate(assets)
        ]
        record_event(
            "experiment.created", acting_user=user, target=experiment, data={"cells": _audited_cells(made)}
        )
    return experiment


def get_experiment(experiment_id: Any) -> Experiment:
    """The experiment ``experiment_id``; ``NoSuchExperiment`` (404) when there is none."""
    try:
        return Experiment.objects.select_related("created_by", "winner", "winner_by").get(pk=experiment_id)
    except (Experiment.DoesNotExist, ValidationError, ValueError, TypeError):
        raise NoSuchExperiment("No such experiment.") from None


def may_decide(experiment: Experiment, user: ActingUser) -> bool:
    """Whether ``user`` may mark the winner or extend ``experiment``: its creator (still a
    creator) or an admin."""
    if roles.has_role(user, roles.ADMIN):
        return True
    return experiment.created_by_id == user.pk and roles.has_role(user, roles.CREATOR)


def extend_experiment(
    experiment_id: Any, body: Mapping[str, Any], *, acting_user: ActingUser
) -> list[ExperimentCell]:
    """Add cells: every plugin (old and new) with every seed (old and new) not there yet."""
    user = _require_creator(acting_user, "extend experiments")
    experiment = get_experiment(experiment_id)
    if not may_decide(experiment, user):
        raise NotPermitted("Only the experiment's creator or an admin may extend it.")
    errors: dict[str, list[str]] = {}
    new_plugins = collect(errors, lambda raw: clean_plugins(raw, required=False), body.get("plugins")) or []
    new_seeds = collect(errors, lambda raw: clean_seeds(raw, required=False), body.get("seeds")) or []
    if not errors and not new_plugins and not new_seeds:
        errors["plugins"] = ["Give plugins or seeds to add."]
    if errors:
        raise InvalidInput(errors)
    with transaction.atomic():
        existing = list(ExperimentCell.objects.select_for_update().filter(experiment=experiment))
        have = {(c.plugin_id, c.seed) for c in existing}
        plugins = list(dict.fromkeys([*(c.plugin_id for c in existing), *new_plugins]))
        seeds = list(dict.fromkeys([*(c.seed for c in existing), *new_seeds]))
        if len(plugins) > MAX_PLUGINS or len(seeds) > MAX_SEEDS:
            raise InvalidInput(
                {
                    "plugins" if len(plugins) > MAX_PLUGINS else "seeds": [
                        f"An experiment holds at most {MAX_PLUGINS} plugins and {MAX_SEEDS} seeds."
                    ]
                }
            )
        cells = [(p, s) for p in plugins for s in seeds if (p, s) not in have]
        if not cells:
            raise InvalidInput({"plugins": ["Every plugin and seed given is in the experiment already."]})
        _validate_cells(experiment, cells, user)
        _check_room(user, len(cells))
        made = _submit_cells(experiment, cells, user, start=len(existing))
        record_event(
            "experiment.extended", acting_user=user, target=experiment, data={"cells": _audited_cells(made)}
        )
    return made


def mark_winner(experiment_id: Any, asset_id: Any, *, acting_user: ActingUser) -> Experiment:
    """Mark one of the experiment's assets as its winner (its creator or an admin); audited."""
    experiment = get_experiment(experiment_id)
    if not may_decide(experiment, acting_user):
        raise NotPermitted("Only the experiment's creator or an admin may mark its winner.")
    try:
        wanted = uuid.UUID(asset_id) if isinstance(asset_id, str) else None
    except ValueError:
        wanted = None
    if wanted is None:
        raise InvalidInput({"asset": ["Must be an asset id."]})
    with transaction.atomic():
        experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
        if wanted not in {a.pk for a in cell_assets(experiment).values()}:
            raise InvalidInput({"asset": ["Not an asset of this experiment's cells."]})
        Experiment.objects.filter(pk=experiment.pk).update(
            winner_id=wanted, winner_by_id=acting_user.pk, winner_at=timezone.now()
        )
        record_event(
            "experiment.winner", acting_user=acting_user, target=experiment, data={"asset": str(wanted)}
        )
    return get_experiment(experiment.pk)


def rerun_asset(asset_id: Any, *, acting_user: ActingUser) -> GenerationJob:
    """Submit the asset's request again (plugin, prompt, seed, size, its job's parameters), one image,
    through the normal path; the new job is returned."""
    user = _require_creator(acting_user, "generate images")
    asset = Asset.objects.live().select_related("job").filter(pk=asset_id).first()
    if asset is None:
        raise NoSuchAsset("No such asset.")
    # The job's parameters, as requested: the asset's also hold what the plugin reported back
    # (a sampler's name, a palette), which are not parameters a request may set.
    fields = {
        "prompt": asset.prompt,
        "negative_prompt": asset.negative_prompt,
        "width": asset.width,
        "height": asset.height,
        "seed": asset.seed,
        "num_images": 1,
        "params": asset.job.params,
    }
    try:
        job, _ = generation_services.submit(acting_user=user, plugin_id=asset.plugin_id, fields=fields)
    except generation_services.QueueFull as exc:
        raise NoRoomInQueue(str(exc), limit=exc.limit) from None
    return job
