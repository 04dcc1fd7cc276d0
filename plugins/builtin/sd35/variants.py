"""The two registered SD3.5 plugins: each model card's sizes, defaults and parameters."""

from __future__ import annotations

from typing import Any

from hallmark.sdk import Capabilities, CostModel, GenerationRequest, ParamSpec, SizeRange
from plugins.builtin.sd35.latents import SD3_LATENT_SPACE
from plugins.builtin.sd35.pipeline import SD35Plugin


class SD35MediumPlugin(SD35Plugin):
    """Stable Diffusion 3.5 Medium (MMDiT-X, 2.5B) with the model card's defaults."""

    id = "sd35-medium"
    name = "Stable Diffusion 3.5 Medium"
    version = "1.0.0"
    description = (
        "Stability AI's 2.5B-parameter MMDiT-X text-to-image model, run locally with diffusers. "
        "Model card defaults: 40 steps, guidance 4.5; optional skip-layer guidance."
    )
    default_model_name = "stabilityai/stable-diffusion-3.5-medium"
    # The model card's recommendation for SD3.5 Medium (diffusers' skip_guidance_layers).
    skip_guidance_layers = (7, 8, 9)
    capabilities = Capabilities(
        # Trained up to about 1440 px a side (0.25 to 2 megapixels); latents need multiples of 16.
        sizes=SizeRange(minimum=256, maximum=1440, multiple_of=16, default=1024),
        max_images=4,
        negative_prompt=True,
        negative_prompt_note="A negative prompt only acts through classifier-free guidance: "
        "set guidance_scale above 1.",
        seed_deterministic=True,
        fidelity="final",
        cost=CostModel(per_image=0.0, basis="compute"),
        max_batch=4,  # one pipeline call for up to 4 compatible jobs (SD35Plugin.generate_batch)
        refine=True,
        latent_space=SD3_LATENT_SPACE,
    )
    params_schema = {
        "steps": ParamSpec(
            "int", default=40, minimum=1, maximum=100, help="Denoising steps (model card: 40)."
        ),
        "guidance_scale": ParamSpec(
            "float",
            default=4.5,
            minimum=0.0,
            maximum=20.0,
            help="Classifier-free guidance (model card: 4.5).",
        ),
        "skip_layer_guidance": ParamSpec(
            "bool",
            default=False,
            help="Skip-layer guidance on transformer layers 7, 8 and 9 (model card: better anatomy and "
            "structure); one extra transformer pass on about a fifth of the steps.",
        ),
    }

    def pipeline_kwargs(self, request: GenerationRequest) -> dict[str, Any]:
        """Adds diffusers' ``skip_guidance_layers`` when skip-layer guidance is asked for."""
        kwargs = super().pipeline_kwargs(request)
        if request.params.get("skip_layer_guidance"):
            kwargs["skip_guidance_layers"] = list(self.skip_guidance_layers)
        return kwargs


class SD35LargeTurboPlugin(SD35Plugin):
    """Stable Diffusion 3.5 Large Turbo (8B, timestep-distilled) with the model card's defaults."""

    id = "sd35-large-turbo"
    name = "Stable Diffusion 3.5 Large Turbo"
    version = "1.0.0"
    description = (
        "Stability AI's 8B-parameter MMDiT, distilled to make an image in about 4 steps without "
        "classifier-free guidance; run locally with diffusers."
    )
    default_model_name = "stabilityai/stable-diffusion-3.5-large-turbo"
    capabilities = Capabilities(
        sizes=SizeRange(minimum=256, maximum=1536, multiple_of=16, default=1024),
        max_images=4,
        # Accepted only with guidance_scale above 1 (validate says so); at the default 0 it
        # would be silently ignored, which is worse than a clear refusal.
        negative_prompt=True,
        negative_prompt_note="SD3.5 Large Turbo is distilled to run without classifier-free guidance "
        "(guidance_scale 0), and without guidance a negative prompt has no effect; set guidance_scale "
        "above 1 to use one.",
        seed_deterministic=True,
        fidelity="draft",
        cost=CostModel(per_image=0.0, basis="compute"),
        max_batch=4,  # one pipeline call for up to 4 compatible jobs (SD35Plugin.generate_batch)
        refine=True,
        latent_space=SD3_LATENT_SPACE,
    )
    params_schema = {
        "steps": ParamSpec("int", default=4, minimum=1, maximum=16, help="Denoising steps (model card: 4)."),
        "guidance_scale": ParamSpec(
            "float",
            default=0.0,
            minimum=0.0,
            maximum=5.0,
            help="Model card: 0 (no classifier-free guidance). Above 1 turns guidance on, doubling "
            "the cost of each step.",
        ),
    }
