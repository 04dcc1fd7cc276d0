"""The shared base of the local SD3.5 plugins: loading the pipeline, generating, health.

``SD35Plugin`` loads a ``StableDiffusion3Pipeline`` from the configured folder (checked first by
``plugins.builtin.weights.folder``) onto the configured device, reports progress after every
denoising step, leaves the loop within one step when the job is cancelled, and tells the
worker's warm cache how much memory it holds. torch and diffusers are imported inside the hooks
that need them, never at module import.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Mapping, Sequence
from functools import cached_property
from importlib import util
from pathlib import Path
from typing import Any, ClassVar

from hallmark.sdk import (
    CancelCheck,
    Cancelled,
    ConfigInvalid,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    Health,
    License,
    ModelIdentity,
    ParamSpec,
    Plugin,
    PluginError,
    ProgressCallback,
    RequestInvalid,
)
from plugins.builtin.sd35.identity import model_identity
from plugins.builtin.sd35.latents import latents_array
from plugins.builtin.sd35.steps import StopDenoising, step_callback
from plugins.builtin.weights.folder import (
    WeightsFolderInvalid,
    check_pipeline_folder,
    resolve_pipeline_folder,
    t5_absent,
)
from plugins.builtin.weights.root import outside_root

logger = logging.getLogger(__name__)

_DTYPES = ("bfloat16", "float16", "float32")

STABILITY_COMMUNITY_LICENSE = License(
    spdx_id="LicenseRef-Stability-AI-Community",
    name="Stability AI Community License",
    url="https://stability.ai/community-license-agreement",
    commercial_use=True,
    revenue_ceiling_usd=1_000_000,
    attribution="Powered by Stability AI",
    restrictions=(
        "Commercial use is free only for individuals and organisations with less than US$1,000,000 "
        "in annual revenue; above that, an Enterprise licence from Stability AI is required.",
        "The model and its outputs must not be used to train or improve foundation models, other "
        "than Stability AI's own models and their derivatives.",
        "Products and services built on the model must display 'Powered by Stability AI'.",
        "Use must comply with Stability AI's Acceptable Use Policy.",
    ),
    allows_training=False,
)


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (torch takes seconds)."""
    try:
        return util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class SD35Plugin(Plugin):
    """Shared code of the local Stable Diffusion 3.5 plugins (not registered itself).

    Subclasses declare the model card's defaults; everything else (loading, identity,
    progress, cancellation, warm-cache footprint) is here.
    """

    hallmark_compat = ">=0.1,<1"
    license = STABILITY_COMMUNITY_LICENSE
    #: Model name when neither hallmark_model.json nor the Hugging Face cache names one.
    default_model_name: ClassVar[str] = ""
    #: Transformer blocks skipped for skip-layer guidance (empty: the option is not offered).
    skip_guidance_layers: ClassVar[tuple[int, ...]] = ()

    config_schema = {
        "weights_path": ParamSpec(
            "path",
            default="",
            help="Local folder of a StableDiffusion3Pipeline (save_pretrained layout or Hugging Face "
            "cache snapshot). Nothing is ever downloaded.",
        ),
        "device": ParamSpec(
            "choice", default="auto", choices=("auto", "cuda", "cpu"), help="auto: CUDA when present."
        ),
        "dtype": ParamSpec(
            "choice",
            default="bfloat16",
            choices=_DTYPES,
            help="Weights precision (the model card's is bfloat16).",
        ),
        "drop_t5": ParamSpec(
            "bool",
            default=False,
            help="Load without the T5-XXL text encoder (about 9 GB less memory, weaker prompt following).",
        ),
        "cpu_offload": ParamSpec(
            "bool",
            default=False,
            help="Keep components in CPU memory and move each to the GPU only while it runs (slower, "
            "for GPUs with little memory).",
        ),
    }

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self._pipe: Any = None
        self._device: str = ""
        self._identity: ModelIdentity | None = None
        #: How many times this instance loaded weights (tests and benchmarks read it).
        self.load_count = 0

    @classmethod
    def clean_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """The schema's checks, plus: CPU offload only makes sense with a GPU to offload to."""
        cleaned = super().clean_config(config)
        if cleaned["cpu_offload"] and cleaned["device"] == "cpu":
            raise ConfigInvalid({"cpu_offload": ["needs a CUDA device: set device to cuda or auto."]})
        if str(cleaned["weights_path"]).strip():
            problem = outside_root(cleaned["weights_path"])
            if problem:
                raise ConfigInvalid({"weights_path": [problem]})
        return cleaned

    # -- the weights folder ------------------------------------------------------------------

    @cached_property
    def folder(self) -> Path:
        """The resolved pipeline folder (raises ``WeightsFolderInvalid``)."""
        return resolve_pipeline_folder(self.config["weights_path"], self.id)

    def _checked_folder(self) -> tuple[Path, dict[str, Any]]:
        """The pipeline folder and its model index, or a ``PluginError`` the user can act on."""
        try:
            folder = self.folder
            return folder, check_pipeline_folder(folder, drop_t5=self.config["drop_t5"])
        except WeightsFolderInvalid as exc:
            raise PluginError(f"{self.name}: {exc}", code="weights_invalid") from None

    # -- hooks -------------------------------------------------------------------------------

    def health(self) -> Health:
        """Red when diffusers or torch is missing or ``weights_path`` is not a loadable folder.

        Amber when the folder was saved without T5: it loads without it, as with ``drop_t5``.
        Reads a few small JSON files and lists folders; never imports torch or loads weights.
        """
        missing = [name for name in ("torch", "diffusers", "transformers") if not _installed(name)]
        if missing:
            return Health(
                "red",
                f"{', '.join(missing)} not installed: scripts/install.sh installs the diffusers extra "
                "and a torch build for this machine (HALLMARK_INSTALL_MODELS=none skips them).",
            )
        try:
            folder = self.folder
            index = check_pipeline_folder(folder, drop_t5=self.config["drop_t5"])
        except WeightsFolderInvalid as exc:
            return Health("red", str(exc))
        if not self.config["drop_t5"] and t5_absent(index):
            return Health(
                "amber",
                "T5 encoder absent: loaded without it (drop_t5); prompt adherence for long prompts is "
                f"reduced. Weights at {folder}.",
            )
        return Health("green", f"weights at {folder}")

    def identity(self) -> ModelIdentity:
        """Name and version from the folder, a fingerprint of its weights, library versions.

        The first call hashes the weight files (cached on disk by path, size and mtime, so a
        restarted worker does not re-read gigabytes); later calls return the same answer, which
        stays true for the loaded weights even if the files change afterwards.
        """
        if self._identity is None:
            self._identity = self._compute_identity()
        return self._identity

    def _compute_identity(self) -> ModelIdentity:
        folder, index = self._checked_folder()
        return model_identity(
            folder,
            index,
            config=self.config,
            device=self._device,
            default_model_name=self.default_model_name,
            plugin_name=self.name,
        )

    def validate(self, request: GenerationRequest) -> None:
        """Refuse what the schema cannot say: guidance-only options without guidance."""
        errors: dict[str, list[str]] = {}
        guided = float(request.params.get("guidance_scale", 0.0)) > 1.0
        if request.params.get("skip_layer_guidance") and not guided:
            errors["params.skip_layer_guidance"] = [
                "Skip-layer guidance only acts with classifier-free guidance: set guidance_scale above 1."
            ]
        if request.negative_prompt and not guided:
            errors["negative_prompt"] = [
                self.capabilities.negative_prompt_note
                or "A negative prompt only acts through classifier-free guidance: set guidance_scale above 1."
            ]
        if errors:
            raise RequestInvalid(errors)

    def load(self) -> None:
        """Load the pipeline from ``weights_path`` onto the configured device (local files only)."""
        if self._pipe is not None:
            return
        if not (_installed("torch") and _installed("diffusers")):
            raise PluginError(
                f"{self.name}: torch and diffusers are not installed on this worker.", code="missing_library"
            )
        import diffusers
        import torch
        from packaging.version import Version

        folder, index = self._checked_folder()
        device = self._resolve_device(torch)
        dtype = getattr(torch, self.config["dtype"])
        # Fingerprint before loading: the identity then names the files that were read.
        self._device = device
        self._identity = self._compute_identity()
        # diffusers renamed torch_dtype to dtype; older releases ignore an unknown `dtype`.
        dtype_kwarg = "dtype" if Version(diffusers.__version__) >= Version("0.42") else "torch_dtype"
        # safetensors only: a pickle (.bin) file beside them is never unpickled.
        kwargs: dict[str, Any] = {dtype_kwarg: dtype, "local_files_only": True, "use_safetensors": True}
        if self.config["drop_t5"] or t5_absent(index):
            # A folder saved without T5 lists it as [null, null]; from_pretrained then refuses to
            # build the pipeline unless the missing components are passed explicitly as None.
            kwargs.update(text_encoder_3=None, tokenizer_3=None)
        logger.info("%s: loading %s (%s, %s)", self.id, folder, device, self.config["dtype"])
        try:
            pipe = diffusers.StableDiffusion3Pipeline.from_pretrained(str(folder), **kwargs)
            if self.config["cpu_offload"]:
                pipe.enable_model_cpu_offload(device=device)
            else:
                pipe.to(device)
        except Exception as exc:
            self._identity = None
            raise PluginError(
                f"{self.name}: could not load the weights in {folder}: {type(exc).__name__}: {exc}",
                code="load_failed",
            ) from exc
        pipe.set_progress_bar_config(disable=True)
        self._pipe = pipe
        self.load_count += 1

    def _resolve_device(self, torch: Any) -> str:
        choice = self.config["device"]
        if choice == "cpu":
            return "cpu"
        if torch.cuda.is_available():
            return "cuda"
        if choice == "cuda":
            raise PluginError(f"{self.name}: device is cuda but this worker sees no CUDA GPU.", code="no_gpu")
        if self.config["cpu_offload"]:
            raise PluginError(
                f"{self.name}: cpu_offload needs a CUDA GPU; this worker has none.", code="no_gpu"
            )
        return "cpu"

    def unload(self) -> None:
        """Drop the pipeline and give its memory back (CUDA caching allocator included)."""
        pipe, self._pipe = self._pipe, None
        if pipe is None:
            return
        if self.config["cpu_offload"]:
            pipe.remove_all_hooks()
        del pipe
        gc.collect()
        if self._device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def memory_footprint(self) -> int:
        """Bytes of the loaded components' parameters and buffers (0 when not loaded)."""
        if self._pipe is None:
            return 0
        import torch

        total = 0
        for component in self._pipe.components.values():
            if isinstance(component, torch.nn.Module):
                for tensor in (*component.parameters(), *component.buffers()):
                    total += tensor.numel() * tensor.element_size()
        return total

    def pipeline_kwargs(self, request: GenerationRequest) -> dict[str, Any]:
        """The model-specific arguments of one pipeline call (subclasses add theirs)."""
        return {
            "num_inference_steps": int(request.params["steps"]),
            "guidance_scale": float(request.params["guidance_scale"]),
        }

    def generate_batch(
        self,
        requests: Sequence[GenerationRequest],
        on_progress: Sequence[ProgressCallback],
        is_cancelled: Sequence[CancelCheck],
    ) -> list[GenerationResult | None]:
        """Every image of a batch of compatible jobs in one pipeline call (``sd35.batch``)."""
        from plugins.builtin.sd35.batch import generate_batch

        self.load()
        return generate_batch(self, self._pipe, self._device, requests, on_progress, is_cancelled)

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback, is_cancelled: CancelCheck
    ) -> GenerationResult:
        """Make the images one pipeline call each (image *i* from seed ``request.seed + i``).

        Progress is reported after every denoising step through ``callback_on_step_end``, which
        also checks for cancellation and leaves the loop within one step.
        """
        self.load()
        if request.is_refinement:
            from plugins.builtin.sd35.refine import refine

            return refine(self, request, on_progress, is_cancelled)
        import torch

        pipe = self._pipe
        kwargs = self.pipeline_kwargs(request)
        steps = kwargs["num_inference_steps"]
        total = steps * request.num_images
        sampler = type(pipe.scheduler).__name__
        images: list[GeneratedImage] = []
        on_progress(0, total)
        last: dict[str, Any] = {}  # the latest step's latents: the last are the image's (latent cache)
        for index in range(request.num_images):
            if is_cancelled():
                raise Cancelled()
            seed = (request.seed + index) % (self.capabilities.seed_max + 1)
            done = index * steps

            step_end = step_callback(
                last=last, on_progress=on_progress, is_cancelled=is_cancelled, done=done, total=total
            )
            generator = torch.Generator(device=self._device).manual_seed(seed)
            try:
                output = pipe(
                    prompt=request.prompt,
                    negative_prompt=request.negative_prompt or None,
                    width=request.width,
                    height=request.height,
                    generator=generator,
                    callback_on_step_end=step_end,
                    output_type="pil",
                    **kwargs,
                )
            except StopDenoising:
                pipe.maybe_free_model_hooks()  # with CPU offload, put the transformer back
                raise Cancelled() from None
            except torch.cuda.OutOfMemoryError:
                pipe.maybe_free_model_hooks()
                raise PluginError(
                    f"{self.name}: the GPU ran out of memory at {request.width}x{request.height}; "
                    "try a smaller size, drop_t5 or cpu_offload.",
                    retryable=True,
                    code="out_of_memory",
                ) from None
            parameters: dict[str, Any] = {
                "steps": steps,
                "sampler": sampler,
                "guidance_scale": kwargs["guidance_scale"],
            }
            if kwargs.get("skip_guidance_layers"):
                parameters["skip_guidance_layers"] = list(kwargs["skip_guidance_layers"])
            images.append(
                GeneratedImage(
                    image=output.images[0],
                    seed=seed,
                    parameters=parameters,
                    latents=latents_array(last.pop("latents", None)),
                )
            )
        return GenerationResult(images=images, cost=0.0)
