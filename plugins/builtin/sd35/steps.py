"""The step callback both SD3.5 pipelines (text to image and image to image) run after each
denoising step: progress, cancellation, and the latest latents for the latent cache."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hallmark.sdk import CancelCheck, ProgressCallback


class StopDenoising(Exception):
    """Raised inside diffusers' step callback to leave the denoising loop at once.

    Setting ``pipe._interrupt`` instead would skip the remaining steps but still run the VAE
    decode on a half-denoised latent: seconds of GPU for an image nobody will see.
    """


def step_callback(
    *, last: dict[str, Any], on_progress: ProgressCallback, is_cancelled: CancelCheck, done: int, total: int
) -> Callable[[Any, int, Any, dict[str, Any]], dict[str, Any]]:
    """A ``callback_on_step_end`` for one image: keeps the step's latents in ``last["latents"]``
    (after the last step, the image's), reports ``done + step + 1`` of ``total`` steps, and
    raises ``StopDenoising`` once the job is cancelled."""

    def step_end(_pipe: Any, step: int, _timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        last["latents"] = tensors.get("latents")
        on_progress(min(done + step + 1, total), total)
        if is_cancelled():
            raise StopDenoising()
        return {}

    return step_end
