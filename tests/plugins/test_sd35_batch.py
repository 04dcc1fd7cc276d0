"""The SD3.5 plugins' batches: one pipeline call, each job's images from its own seeds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from django.db import transaction

from assets.models import Asset
from generation import services as generation_services
from generation.models import GenerationJob
from governance.models import AuditEvent
from hallmark.sdk import Cancelled, GenerationRequest, GenerationResult
from plugins.builtin import sd35
from plugins.validation import build_request
from tests.conftest import wait_for
from tests.plugins import test_sd35
from tests.plugins.test_sd35 import CPU, plugin

tiny_weights = test_sd35.tiny_weights  # the same session-wide tiny pipelines

PROMPTS = ("a lighthouse at dusk", "a red bicycle", "three green apples on a table")


def requests_for(p: sd35.SD35Plugin, seeds: Sequence[int], **fields: Any) -> list[GenerationRequest]:
    return [
        build_request(
            p,
            job_id=f"job-{n}",
            prompt=PROMPTS[n % len(PROMPTS)],
            seed=seed,
            **{"width": 256, "height": 256, "params": {"steps": 2}, **fields},
        )
        for n, seed in enumerate(seeds)
    ]


def array(result: GenerationResult | None, index: int = 0) -> np.ndarray:
    assert result is not None
    return np.asarray(result.images[index].image.convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("plugin_id", ["sd35-large-turbo", "sd35-medium"])
def test_a_batch_reproduces_each_job_run_alone(tiny_weights, plugin_id: str) -> None:
    p = plugin(plugin_id, tiny_weights["a"])
    requests = requests_for(p, [11, 12, 13])
    progress: list[tuple[int, int]] = []
    batch = p.generate_batch(
        requests, [lambda step, total: progress.append((step, total))] * 3, [lambda: False] * 3
    )
    assert progress[:3] == [(0, 2)] * 3 and progress[-3:] == [(2, 2)] * 3
    for request, result in zip(requests, batch, strict=True):
        alone = p.generate(request, lambda *_: None, lambda: False)
        assert result is not None and [image.seed for image in result.images] == [request.seed]
        assert result.images[0].parameters == alone.images[0].parameters
        # Same pixels up to the last bits of a larger matrix product: on CPU, at most one level
        # apart, in under 1 % of the pixels (docs/benchmarks.md).
        difference = np.abs(array(result) - array(alone))
        assert difference.max() <= 1 and (difference.max(axis=2) > 0).mean() < 0.02
    # Different prompts and seeds do give different images.
    assert np.abs(array(batch[0]) - array(batch[1])).mean() > 1


def test_several_images_per_job_keep_their_seeds(tiny_weights) -> None:
    p = plugin("sd35-large-turbo", tiny_weights["a"])
    requests = requests_for(p, [5, 40], num_images=2)
    batch = p.generate_batch(requests, [lambda *_: None] * len(requests), [lambda: False] * 2)
    assert [[image.seed for image in r.images] for r in batch if r] == [[5, 6], [40, 41]]
    alone = p.generate(requests[1], lambda *_: None, lambda: False)
    for index in range(2):
        assert np.abs(array(batch[1], index) - array(alone, index)).max() <= 1


def test_a_cancelled_job_is_dropped_and_all_cancelled_stops_within_a_step(tiny_weights) -> None:
    p = plugin("sd35-medium", tiny_weights["a"])
    requests = requests_for(p, [1, 2, 3], params={"steps": 4})
    batch = p.generate_batch(
        requests, [lambda *_: None] * len(requests), [lambda: False, lambda: True, lambda: False]
    )
    assert batch[1] is None and batch[0] is not None and batch[2] is not None

    p.load()
    decoder_calls: list[int] = []
    p._pipe.vae.decoder.register_forward_hook(lambda *_: decoder_calls.append(1))
    progress: list[tuple[int, int]] = []
    with pytest.raises(Cancelled):
        p.generate_batch(
            requests,
            [lambda step, total: progress.append((step, total))] * 3,
            [lambda: any(step >= 2 for step, _ in progress)] * 3,
        )
    assert max(step for step, _ in progress) == 2
    assert decoder_calls == []


@pytest.mark.integration
def test_queued_tiny_sd3_jobs_run_as_one_call_through_the_worker(
    celery_worker,
    users,
    enable_plugin,
    tiny_weights,
    settings,
    monkeypatch,
) -> None:
    settings.HALLMARK_BATCH_MAX = 4
    enable_plugin("sd35-large-turbo", config={"weights_path": str(tiny_weights["a"]), **CPU})
    calls: list[int] = []
    original = sd35.SD35Plugin.generate_batch

    def counted(self: sd35.SD35Plugin, requests: Any, *args: Any) -> Any:
        calls.append(len(requests))
        return original(self, requests, *args)

    monkeypatch.setattr(sd35.SD35Plugin, "generate_batch", counted)
    with transaction.atomic():
        jobs = [
            generation_services.submit(
                acting_user=users["creator"],
                plugin_id="sd35-large-turbo",
                fields={
                    "prompt": PROMPTS[n % 3],
                    "seed": 70 + n,
                    "width": 256,
                    "height": 256,
                    "params": {"steps": 2},
                },
            )[0]
            for n in range(4)
        ]
    ids = [job.pk for job in jobs]
    wait_for(lambda: GenerationJob.objects.filter(pk__in=ids, status="succeeded").count() == 4, timeout=120)
    assert calls == [4]
    for n, job_id in enumerate(ids):
        asset = Asset.objects.get(job_id=job_id)
        assert asset.seed == 70 + n and asset.prompt == PROMPTS[n % 3]
        assert AuditEvent.objects.filter(action="asset.created", target_id=str(asset.pk)).count() == 1
        assert GenerationJob.objects.get(pk=job_id).progress_step == 2
