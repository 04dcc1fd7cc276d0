"""The SD3 latent space, as the SD3.5 plugins declare it and hand latents to Hallmark."""

from __future__ import annotations

from typing import Any

#: The latent space of every SD3 and SD3.5 model: the 16-channel SD3 VAE, shared by Medium and
#: Large Turbo, so either can refine the other's image from its cached latents.
SD3_LATENT_SPACE = "sd3-vae-16ch"


def latents_array(latents: Any) -> Any:
    """A pipeline's latents (a torch tensor) as the float32 numpy array the SDK passes on."""
    if latents is None:
        return None
    return latents.detach().to("cpu").float().numpy()
