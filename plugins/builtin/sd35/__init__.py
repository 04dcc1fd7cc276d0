"""Stable Diffusion 3.5 Medium and Large Turbo, run locally through diffusers.

Both plugins load a ``StableDiffusion3Pipeline`` from a local folder (``weights_path``): a
``save_pretrained`` layout, a Hugging Face cache snapshot folder (``.../snapshots/<commit>``), or
the cache's repository folder (``models--stabilityai--...``, whose ``refs/main`` names the
snapshot). Loading always passes a local path with ``local_files_only=True``: nothing is ever
downloaded, at load or at run time. Only safetensors are loaded (``use_safetensors=True``); a
component with pickle weights only is refused. When ``HALLMARK_WEIGHTS_ROOT`` is set, the folder
and every file read from it must resolve inside it (``plugins.builtin.weights.root``). A folder saved without the
T5 encoder loads without it, as with ``drop_t5``, and its health says so (amber).

torch and diffusers are imported inside ``load`` and the hooks that need them, never at module
import: the web process (and any machine without torch) imports these classes to list them,
validate requests and check health without paying for torch.

Reproducibility: image *i* of a job is made by its own pipeline call with
``torch.Generator(device).manual_seed(seed + i)``, so an image's recorded seed remakes it alone,
on the same device, dtype and library versions. Batching images in one call would be faster on
a GPU, but a batch of two does not give bit-identical pixels to two batches of one.

The modules: ``pipeline`` (``SD35Plugin``, the shared loading, generation and health),
``identity`` (name, version and fingerprint of a folder) and ``variants`` (the two registered
plugins). The folder checks are ``plugins.builtin.weights.folder``'s.
"""

from __future__ import annotations

from plugins.builtin.sd35.pipeline import STABILITY_COMMUNITY_LICENSE, SD35Plugin
from plugins.builtin.sd35.variants import SD35LargeTurboPlugin, SD35MediumPlugin
from plugins.builtin.weights.folder import WeightsFolderInvalid, resolve_pipeline_folder

__all__ = [
    "STABILITY_COMMUNITY_LICENSE",
    "SD35LargeTurboPlugin",
    "SD35MediumPlugin",
    "SD35Plugin",
    "WeightsFolderInvalid",
    "resolve_pipeline_folder",
]
