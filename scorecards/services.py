"""The only writer of benchmarks: validate a benchmark request and submit its cells through
the normal job path (``generation.services.submit``, with the checklist and expected text)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from acceptance.models import Checklist
from generation import services as generation_services
from governance.audit_trail import record_event
from hallmark.errors import InvalidInput
from hallmark.sdk import RequestInvalid
from plugins import services as plugin_services
from plugins.validation import build_request
from scorecards import prompt_sets
from scorecards.models import Benchmark, BenchmarkCell

#: The size used when a benchmark names none: large enough for OCR to read the type.
DEFAULT_SIZE = 512
MAX_PROMPT_LENGTH = 1000
MAX_SEED = 2**32 - 1


def _prompts(body: dict[str, Any], errors: dict[str, list[str]]) -> tuple[str, list[dict[str, str]]]:
    if ("prompt_set" in body) == ("prompts" in body):
        errors["prompts"] = ['Name exactly one of "prompt_set" and "prompts".']
        return "", []
    if "prompt_set" in body:
        name = body["prompt_set"]
        sets = prompt_sets.available()
        if not isinstance(name, str) or name not in sets:
            errors["prompt_set"] = [f"Unknown prompt set; one of: {', '.join(sorted(sets))}."]
            return "", []
        return name, sets[name]
    raw = body["prompts"]
    if not isinstance(raw, list) or not raw:
        errors["prompts"] = ["Must be a non-empty list of {prompt, expected_text}."]
        return "", []
    prompts: list[dict[str, str]] = []
    for index, item in enumerate(raw):
        where = f"prompts[{index}]"
        if not isinstance(item, dict) or set(item) - {"prompt", "expected_text"}:
            errors[where] = ['Must be an object with "prompt" and optionally "expected_text".']
            continue
        prompt, expected = item.get("prompt"), item.get("expected_text", "")
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_PROMPT_LENGTH:
            errors[f"{where}.prompt"] = [
                f"Must be a non-empty string of at most {MAX_PROMPT_LENGTH} characters."
            ]
        elif not isinstance(expected, str) or len(expected) > 500:
            errors[f"{where}.expected_text"] = ["Must be a string of at most 500 characters."]
        else:
            prompts.append({"prompt": prompt.strip(), "expected_text": expected.strip()})
    return "", prompts


def _ints(
    body: dict[str, Any], name: str, errors: dict[str, list[str]], *, default: int | None = None
) -> Any:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096:
        errors[name] = ["Must be an integer from 1 to 4096."]
        return None
    return value


def create_benchmark(*, acting_user: User, body: Any) -> Benchmark:
    """Validate ``body`` (``{"name", "checklist", "prompt_set" | "prompts", "plugins", "seeds",
    "width"?, "height"?}``) and queue one job per prompt x plugin x seed; raises ``InvalidInput``
    naming each field at fault (a plugin that cannot take the size names ``plugins[i]``)."""
    if not isinstance(body, dict):
        raise InvalidInput({"non_field_errors": ["The request body must be a JSON object."]})
    known = {"name", "checklist", "prompt_set", "prompts", "plugins", "seeds", "width", "height"}
    errors: dict[str, list[str]] = {name: ["Unknown field."] for name in sorted(set(body) - known)}
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        errors["name"] = ["Must be a non-empty string of at most 100 characters."]
    checklist_id = body.get("checklist")
    checklist = None
    if isinstance(checklist_id, int) and not isinstance(checklist_id, bool):
        checklist = Checklist.objects.filter(pk=checklist_id).first()
    if checklist is None:
        errors["checklist"] = ["Must be the id of an existing checklist."]
    prompt_set, prompts = _prompts(body, errors)
    plugins = body.get("plugins")
    if (
        not isinstance(plugins, list)
        or not plugins
        or not all(isinstance(p, str) for p in plugins)
        or len(set(plugins)) != len(plugins)
    ):
        errors["plugins"] = ["Must be a non-empty list of distinct plugin ids."]
        plugins = []
    seeds = body.get("seeds")
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SEED for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        errors["seeds"] = [f"Must be a non-empty list of distinct integers from 0 to {MAX_SEED}."]
        seeds = []
    width = _ints(body, "width", errors, default=DEFAULT_SIZE)
    height = _ints(body, "height", errors, default=DEFAULT_SIZE)
    cells = len(prompts) * len(plugins) * len(seeds)
    limit = settings.HALLMARK_BENCHMARK_MAX_CELLS
    if cells > limit:
        errors["seeds"] = [
            f"{len(prompts)} prompts x {len(plugins)} plugins x {len(seeds)} seeds make {cells} cells; "
            f"at most {limit} per benchmark."
        ]
    if not errors:
        for index, plugin_id in enumerate(plugins):
            problem = _plugin_problem(plugin_id, prompts[0]["prompt"], width, height, seeds[0])
            if problem:
                errors[f"plugins[{index}]"] = [problem]
    if errors:
        raise InvalidInput(errors)
    assert checklist is not None
    with transaction.atomic():
        version = checklist.latest
        benchmark = Benchmark.objects.create(
            name=str(name).strip(),
            checklist_version=version,
            prompt_set=prompt_set,
            prompts=prompts,
            plugins=plugins,
            seeds=seeds,
            width=width,
            height=height,
            created_by=acting_user,
        )
        record_event(
            "benchmark.created",
            acting_user=acting_user,
            target=benchmark,
            data={
                "name": benchmark.name,
                "checklist_version": version.pk,
                "plugins": plugins,
                "cells": cells,
            },
        )
        rows = []
        for prompt_index, item in enumerate(prompts):
            for plugin_id in plugins:
                for seed in seeds:
                    job, _ = generation_services.submit(
                        acting_user=acting_user,
                        plugin_id=plugin_id,
                        fields={
                            "prompt": item["prompt"],
                            "width": width,
                            "height": height,
                            "seed": seed,
                            "checklist": checklist.pk,
                            "expected_text": item["expected_text"],
                        },
                        queue_cap=False,
                    )
                    rows.append(
                        BenchmarkCell(
                            benchmark=benchmark,
                            plugin_id=plugin_id,
                            prompt_index=prompt_index,
                            seed=seed,
                            job=job,
                        )
                    )
        BenchmarkCell.objects.bulk_create(rows)
    return benchmark


def _plugin_problem(plugin_id: str, prompt: str, width: int, height: int, seed: int) -> str:
    """Why ``plugin_id`` cannot run this benchmark's requests ("" when it can)."""
    try:
        plugin = plugin_services.available_plugin(plugin_id)
        build_request(plugin, prompt=prompt, width=width, height=height, seed=seed)
    except plugin_services.PluginUnavailable as exc:
        return exc.public_message
    except RequestInvalid as exc:
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.errors.items())
    return ""
