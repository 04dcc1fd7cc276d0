"""Image-to-image refinement for the SD3.5 plugins (``Capabilities.refine``).

diffusers' ``StableDiffusion3Img2ImgPipeline`` is built over the loaded text-to-image pipeline's
own components (no second copy of the weights; a new pipeline object per call costs
microseconds). It starts from the request's ``init_latents`` when they fit, or from
``init_image`` encoded by the VAE otherwise. diffusers' img2img treats an input tensor with the
VAE's latent channel count as latents already scaled and shifted (``prepare_latents`` then skips
``vae.encode``) and noises it to the timestep ``strength`` selects, exactly as it does an encoded
image; the latents Hallmark caches are the denoising loop's final ones, in that same space.

``strength`` s of ``steps`` n runs the last ``n - int(n - n * s)`` steps of the schedule.
"""

from __future__ import annotations

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
from plugins.builtin.sd35.latents import latents_array
from plugins.builtin.sd35.steps import StopDenoising, step_callback

if TYPE_CHECKING:
    from plugins.builtin.sd35.pipeline import SD35Plugin


def steps_run(steps: int, strength: float) -> int:
    """How many denoising steps img2img runs for ``steps`` and ``strength`` (diffusers'
    ``get_timesteps``)."""
    return steps - int(max(steps - min(steps * strength, steps), 0))


def img2img_pipeline(pipe: Any) -> Any:
    """An img2img pipeline sharing ``pipe``'s components (same modules, same memory)."""
    from diffusers import StableDiffusion3Img2ImgPipeline

    img2img: Any = StableDiffusion3Img2ImgPipeline(**pipe.components)
    img2img.set_progress_bar_config(disable=True)
    return img2img


def usable_latents(pipe: Any, request: GenerationRequest) -> Any:
    """``request.init_latents`` as a tensor when they fit this request's size and the VAE's
    channels; None otherwise (the image is encoded instead)."""
    latents = request.init_latents
    if latents is None:
        return None
    import torch

    scale = pipe.vae_scale_factor
    expected = (1, pipe.vae.config.latent_channels, request.height // scale, request.width // scale)
    if tuple(getattr(latents, "shape", ())) != expected:
        return None
    return torch.from_numpy(latents).to(device=pipe._execution_device, dtype=pipe.transformer.dtype)


def refine(
    plugin: SD35Plugin, request: GenerationRequest, on_progress: ProgressCallback, is_cancelled: CancelCheck
) -> GenerationResult:
    """Redraw ``request.init_image`` (image *i* from seed ``request.seed + i``); progress per step."""
    import torch

    pipe = img2img_pipeline(plugin._pipe)
    kwargs = plugin.pipeline_kwargs(request)
    strength = float(request.strength if request.strength is not None else 0.6)
    per_image = max(steps_run(kwargs["num_inference_steps"], strength), 1)
    total = per_image * request.num_images
    latents = usable_latents(pipe, request)
    start = latents if latents is not None else request.init_image
    images: list[GeneratedImage] = []
    on_progress(0, total)
    last: dict[str, Any] = {}
    for index in range(request.num_images):
        if is_cancelled():
            raise Cancelled()
        seed = (request.seed + index) % (plugin.capabilities.seed_max + 1)
        done = index * per_image

        step_end = step_callback(
            last=last, on_progress=on_progress, is_cancelled=is_cancelled, done=done, total=total
        )
        try:
            output = pipe(
                prompt=request.prompt,
                negative_prompt=request.negative_prompt or None,
                image=start,
                strength=strength,
                width=request.width,
                height=request.height,
                generator=torch.Generator(device=plugin._device).manual_seed(seed),
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
                f"{plugin.name}: the GPU ran out of memory refining at {request.width}x{request.height}.",
                retryable=True,
                code="out_of_memory",
            ) from None
        parameters: dict[str, Any] = {
            "steps": per_image,
            "sampler": type(pipe.scheduler).__name__,
            "guidance_scale": kwargs["guidance_scale"],
            "strength": strength,
            "from_latents": latents is not None,
        }
        images.append(
            GeneratedImage(
                image=output.images[0],
                seed=seed,
                parameters=parameters,
                latents=latents_array(last.pop("latents", None)),
            )
        )
    return GenerationResult(images=images, cost=0.0)
