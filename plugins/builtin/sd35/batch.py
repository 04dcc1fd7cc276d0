"""One ``StableDiffusion3Pipeline`` call for a batch of compatible jobs (SD3.5 plugins).

diffusers takes a list of prompts and a list of generators, one per image, and draws each
image's initial noise from its own generator with the shape of a single image: the noise of
image *i* is the noise a lone call with the same seed would draw. The text encoders pad every
prompt to the same length as a lone call does. So each job's images are, up to the last bits
of the floating-point sums of a larger matrix product, those ``generate`` makes for it alone
(docs/benchmarks.md measures the difference on the tiny test pipeline).

Progress is the call's denoising step, reported to every job; a job cancelled during the call is dropped from the
results (None), and the loop stops within a step once every job of the batch is cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hallmark.sdk import (
    CancelCheck,
    Cancelled,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    PluginError,
    ProgressCallback,
)

if TYPE_CHECKING:
    from plugins.builtin.sd35.pipeline import SD35Plugin


def generate_batch(
    plugin: SD35Plugin,
    pipe: Any,
    device: str,
    requests: Sequence[GenerationRequest],
    on_progress: Sequence[ProgressCallback],
    is_cancelled: Sequence[CancelCheck],
) -> list[GenerationResult | None]:
    """The images of every request, from one pipeline call (see the module's docstring)."""
    import torch

    from plugins.builtin.sd35.steps import StopDenoising

    first = requests[0]
    kwargs = plugin.pipeline_kwargs(first)
    steps = kwargs["num_inference_steps"]
    per_job = first.num_images
    seed_range = plugin.capabilities.seed_max + 1
    prompts: list[str] = []
    seeds: list[int] = []
    for request in requests:
        for index in range(per_job):
            prompts.append(request.prompt)
            seeds.append((request.seed + index) % seed_range)
    generators = [torch.Generator(device=device).manual_seed(seed) for seed in seeds]

    def report(step: int) -> None:
        for progress in on_progress:
            progress(step, steps)

    def step_end(_pipe: Any, step: int, _timestep: Any, _tensors: dict[str, Any]) -> dict[str, Any]:
        report(min(step + 1, steps))
        if all(cancelled() for cancelled in is_cancelled):
            raise StopDenoising()
        return {}

    report(0)
    try:
        output = pipe(
            prompt=prompts,
            negative_prompt=[first.negative_prompt] * len(prompts) if first.negative_prompt else None,
            width=first.width,
            height=first.height,
            generator=generators,
            callback_on_step_end=step_end,
            output_type="pil",
            **kwargs,
        )
    except StopDenoising:
        pipe.maybe_free_model_hooks()
        raise Cancelled() from None
    except torch.cuda.OutOfMemoryError:
        pipe.maybe_free_model_hooks()
        raise PluginError(
            f"{plugin.name}: the GPU ran out of memory for a batch of {len(prompts)} images at "
            f"{first.width}x{first.height}; lower HALLMARK_BATCH_MAX, or try drop_t5 or cpu_offload.",
            retryable=True,
            code="out_of_memory",
        ) from None
    parameters: dict[str, Any] = {
        "steps": steps,
        "sampler": type(pipe.scheduler).__name__,
        "guidance_scale": kwargs["guidance_scale"],
    }
    if kwargs.get("skip_guidance_layers"):
        parameters["skip_guidance_layers"] = list(kwargs["skip_guidance_layers"])
    results: list[GenerationResult | None] = []
    for number, cancelled in enumerate(is_cancelled):
        if cancelled():
            results.append(None)
            continue
        images = [
            GeneratedImage(image=output.images[i], seed=seeds[i], parameters=dict(parameters))
            for i in range(number * per_job, (number + 1) * per_job)
        ]
        results.append(GenerationResult(images=images, cost=0.0))
    if all(result is None for result in results):
        raise Cancelled()
    return results
