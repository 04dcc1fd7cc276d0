"""Stable Diffusion 3.5 Medium and Large Turbo, run locally through diffusers.

Both plugins load a ``StableDiffusion3Pipeline`` from a local folder (``weights_path``): a
``save_pretrained`` layout, a Hugging Face cache snapshot folder (``.../snapshots/<commit>``), or
the cache's repository folder (``models--stabilityai--...``, whose ``refs/main`` names the
snapshot). Loading always passes a local path with ``local_files_only=True``: nothing is ever
downloaded, at load or at run time. Only safetensors are loaded (``use_safetensors=True``); a
component with pickle weights only is refused. When ``HALLMARK_WEIGHTS_ROOT`` is set, the folder
and every file read from it must resolve inside it (``weights_root``). A folder saved without the
T5 encoder loads without it, as with ``drop_t5``, and its health says so (amber).

torch and diffusers are imported inside ``load`` and the hooks that need them, never at module
import: the web process (and any machine without torch) imports these classes to list them,
validate requests and check health without paying for torch.

Reproducibility: image *i* of a job is made by its own pipeline call with
``torch.Generator(device).manual_seed(seed + i)``, so an image's recorded seed remakes it alone,
on the same device, dtype and library versions. Batching images in one call would be faster on
a GPU, but a batch of two does not give bit-identical pixels to two batches of one.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from functools import cached_property
from importlib import metadata, util
from pathlib import Path
from typing import Any, ClassVar

from django.conf import settings

from plugins.builtin.weights_fingerprint import WEIGHT_SUFFIXES, fingerprint_folder
from plugins.builtin.weights_root import first_escaping_file, outside_root
from plugins.sdk import (
    CancelCheck,
    Cancelled,
    Capabilities,
    ConfigInvalid,
    CostModel,
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
    SizeRange,
)

logger = logging.getLogger(__name__)

PIPELINE_CLASS = "StableDiffusion3Pipeline"
#: Components a StableDiffusion3Pipeline cannot run without; T5 (``text_encoder_3``) is optional.
REQUIRED_COMPONENTS = (
    "transformer",
    "vae",
    "text_encoder",
    "text_encoder_2",
    "tokenizer",
    "tokenizer_2",
    "scheduler",
)
#: Components whose folders must hold weight files.
WEIGHTED_COMPONENTS = ("transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3")
#: The T5-XXL text encoder and its tokenizer: left out with ``drop_t5``, or when the folder has none.
T5_COMPONENTS = ("text_encoder_3", "tokenizer_3")
#: The only weight format loaded (``use_safetensors=True``): pickle files (.bin, .pt, .ckpt) can
#: run code when unpickled, so a folder that has nothing else is refused.
SAFE_SUFFIX = ".safetensors"
#: Optional metadata an operator may put beside the weights: {"name": ..., "version": ...}.
MODEL_METADATA_FILE = "hallmark_model.json"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
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


class WeightsFolderInvalid(Exception):
    """``weights_path`` does not name a usable StableDiffusion3Pipeline folder; says why."""


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (torch takes seconds)."""
    try:
        return util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return ""


def not_registered_message(plugin_id: str) -> str:
    """What an SD3.5 plugin without ``weights_path`` says, naming the command that fixes it."""
    return (
        f"weights not registered: run manage.py register_weights {plugin_id} <folder> --enable "
        "(docs/models.md says where the weights come from)."
    )


def resolve_pipeline_folder(path: str | Path, plugin_id: str = "<plugin>") -> Path:
    """The folder holding ``model_index.json`` for ``path``, or ``WeightsFolderInvalid``.

    Accepts the pipeline folder itself, or a Hugging Face cache repository folder
    (``models--org--name``) whose ``refs/main`` (or single snapshot) names the snapshot to use.
    """
    if not str(path).strip():
        raise WeightsFolderInvalid(not_registered_message(plugin_id))
    folder = Path(path).expanduser()
    if not folder.exists():
        raise WeightsFolderInvalid(f"weights_path {folder} does not exist on this machine.")
    if not folder.is_dir():
        raise WeightsFolderInvalid(f"weights_path {folder} is not a folder.")
    if (folder / "model_index.json").is_file():
        return folder
    snapshots = folder / "snapshots"
    if snapshots.is_dir():
        ref = folder / "refs" / "main"
        if ref.is_file():
            commit = ref.read_text().strip()
            if (snapshots / commit / "model_index.json").is_file():
                return snapshots / commit
        candidates = [p for p in snapshots.iterdir() if (p / "model_index.json").is_file()]
        if len(candidates) == 1:
            return candidates[0]
        raise WeightsFolderInvalid(
            f"{folder} is a Hugging Face cache folder without a usable refs/main; "
            "point weights_path at one of its snapshots/<commit> folders."
        )
    raise WeightsFolderInvalid(
        f"{folder} has no model_index.json: it is not a diffusers pipeline folder "
        "(save it with save_pretrained, or point at a Hugging Face cache snapshot)."
    )


def read_model_index(folder: Path) -> dict[str, Any]:
    """``model_index.json`` of a pipeline folder, checked to describe a StableDiffusion3Pipeline."""
    try:
        index = json.loads((folder / "model_index.json").read_text())
    except (OSError, ValueError) as exc:
        raise WeightsFolderInvalid(f"{folder}/model_index.json cannot be read: {exc}") from None
    if not isinstance(index, dict):
        raise WeightsFolderInvalid(f"{folder}/model_index.json is not a JSON object.")
    if index.get("_class_name") != PIPELINE_CLASS:
        raise WeightsFolderInvalid(
            f"{folder} holds a {index.get('_class_name')!r} pipeline; these plugins need {PIPELINE_CLASS}."
        )
    return index


def _listed(index: Mapping[str, Any], component: str) -> bool:
    """Whether model_index.json names a class for ``component`` (``[null, null]`` means absent)."""
    entry = index.get(component)
    return isinstance(entry, list) and len(entry) == 2 and entry[0] is not None and entry[1] is not None


def pipeline_components(index: Mapping[str, Any]) -> list[str]:
    """The component folders model_index.json names: what ``from_pretrained`` will load."""
    return sorted(name for name in index if not name.startswith("_") and _listed(index, name))


def t5_absent(index: Mapping[str, Any]) -> bool:
    """Whether the folder was saved without T5 (``text_encoder_3: [null, null]`` in model_index.json)."""
    return not _listed(index, "text_encoder_3")


def loaded_components(index: Mapping[str, Any], *, drop_t5: bool) -> list[str]:
    """The components ``load`` reads: those model_index.json lists, less T5 when it is dropped."""
    return [n for n in pipeline_components(index) if not (drop_t5 and n in T5_COMPONENTS)]


def check_pipeline_folder(folder: Path, *, drop_t5: bool) -> dict[str, Any]:
    """Check, without loading anything, that ``folder`` can be loaded; return its model index.

    Refuses a component whose weights are pickle files only (only safetensors are loaded) and,
    when ``HALLMARK_WEIGHTS_ROOT`` is set, any file that resolves outside it.
    """
    index = read_model_index(folder)
    missing = [name for name in REQUIRED_COMPONENTS if not _listed(index, name)]
    if missing:
        raise WeightsFolderInvalid(f"{folder}/model_index.json lists no {', '.join(missing)}.")
    needed = loaded_components(index, drop_t5=drop_t5)
    for name in needed:
        sub = folder / name
        if not sub.is_dir():
            remedy = " (download it, or set drop_t5 to load without T5)" if name in T5_COMPONENTS else ""
            raise WeightsFolderInvalid(
                f"{folder} lacks the {name}/ folder that model_index.json lists{remedy}."
            )
        if name not in WEIGHTED_COMPONENTS:
            continue
        weights = [p.name for p in sub.iterdir() if p.is_file() and p.name.lower().endswith(WEIGHT_SUFFIXES)]
        if not weights:
            raise WeightsFolderInvalid(f"{folder}/{name}/ holds no weight file.")
        if not any(w.lower().endswith(SAFE_SUFFIX) for w in weights):
            raise WeightsFolderInvalid(
                f"{folder}/{name}/ holds only pickle weights ({', '.join(sorted(weights))}): Hallmark "
                "loads safetensors only, since unpickling can run code. Use a safetensors copy of the "
                "model (docs/models.md)."
            )
    escaping = first_escaping_file(folder, needed)
    if escaping is not None:
        raise WeightsFolderInvalid(
            f"{escaping} resolves outside HALLMARK_WEIGHTS_ROOT (a symbolic link out of it); "
            "weights must lie inside that folder."
        )
    return index


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _json_safe(value: Any) -> Any:
    """``value`` as plain JSON types (tuples become lists), so it can enter the audit chain."""
    return json.loads(json.dumps(value, default=str))


def _config_digest(data: Any) -> str:
    """sha256 hex of ``data`` as sorted-key JSON: a stable name for a set of configs."""
    return hashlib.sha256(json.dumps(_json_safe(data), sort_keys=True).encode()).hexdigest()


def _hf_cache_name(folder: Path) -> tuple[str, str]:
    """(``org/name``, commit) when ``folder`` is ``.../models--org--name/snapshots/<commit>``."""
    repo = folder.parent.parent.name if folder.parent.name == "snapshots" else ""
    commit = folder.name if _COMMIT.match(folder.name) else ""
    if repo.startswith("models--") and commit:
        return repo[len("models--") :].replace("--", "/"), commit
    return "", ""


class _StopDenoising(Exception):
    """Raised inside diffusers' step callback to leave the denoising loop at once.

    Setting ``pipe._interrupt`` instead would skip the remaining steps but still run the VAE
    decode on a half-denoised latent: seconds of GPU for an image nobody will see.
    """


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
        # The files load reads: safetensors only, and no T5 when it is dropped.
        components = loaded_components(index, drop_t5=self.config["drop_t5"])
        try:
            fingerprint = fingerprint_folder(
                folder,
                cache_dir=Path(settings.VAR_DIR) / "fingerprints",
                subfolders=components,
                suffixes=(SAFE_SUFFIX,),
            )
        except OSError as exc:
            raise PluginError(
                f"{self.name}: cannot fingerprint the weights: {exc}", code="weights_invalid"
            ) from None
        meta = _read_json(folder / MODEL_METADATA_FILE)
        transformer = _read_json(folder / "transformer" / "config.json")
        scheduler = _read_json(folder / "scheduler" / "scheduler_config.json")
        hf_repo, hf_commit = _hf_cache_name(folder)
        named_by = str(transformer.get("_name_or_path") or "")
        if Path(named_by).is_absolute() or named_by.startswith("."):
            named_by = ""  # a local path where it was saved names no model

        name = str(meta.get("name") or hf_repo or named_by or self.default_model_name)
        if meta.get("version"):
            version, version_source = str(meta["version"]), MODEL_METADATA_FILE
        elif hf_commit:
            version, version_source = f"hf-{hf_commit[:12]}", "hugging face snapshot commit"
        else:
            # No release name to be had: the configs' digest tells architectures apart, and the
            # weights fingerprint tells weights apart.
            configs = {
                "model_index": index,
                **{c: _read_json(folder / c / "config.json") for c in ("transformer", "vae")},
            }
            digest = _config_digest(configs)
            version, version_source = f"configs-{digest[:12]}", "component configs"

        architecture_keys = (
            "num_layers",
            "num_attention_heads",
            "attention_head_dim",
            "joint_attention_dim",
            "caption_projection_dim",
            "pooled_projection_dim",
            "patch_size",
            "sample_size",
            "dual_attention_layers",
            "qk_norm",
        )
        extra = {
            "pipeline": PIPELINE_CLASS,
            "pipeline_diffusers_version": index.get("_diffusers_version", ""),
            "version_source": version_source,
            "hf_commit": hf_commit,
            "transformer": {k: transformer[k] for k in architecture_keys if k in transformer},
            "scheduler": {
                "class": scheduler.get("_class_name", ""),
                "config": {k: v for k, v in scheduler.items() if not k.startswith("_")},
            },
            "dtype": self.config["dtype"],
            "device": self._device or self.config["device"],
            "cpu_offload": self.config["cpu_offload"],
            "text_encoder_3": "dropped"
            if self.config["drop_t5"]
            else ("absent" if t5_absent(index) else "loaded"),
            "weight_files": len(fingerprint.files),
            "weight_bytes": fingerprint.total_bytes,
        }
        return ModelIdentity(
            model_name=name,
            model_version=version,
            weights_fingerprint=fingerprint.value,
            libraries={
                lib: _version_of(lib) for lib in ("diffusers", "transformers", "torch") if _version_of(lib)
            },
            extra=_json_safe(extra),
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

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback, is_cancelled: CancelCheck
    ) -> GenerationResult:
        """Make the images one pipeline call each (image *i* from seed ``request.seed + i``).

        Progress is reported after every denoising step through ``callback_on_step_end``, which
        also checks for cancellation and leaves the loop within one step.
        """
        self.load()
        import torch

        pipe = self._pipe
        kwargs = self.pipeline_kwargs(request)
        steps = kwargs["num_inference_steps"]
        total = steps * request.num_images
        sampler = type(pipe.scheduler).__name__
        images: list[GeneratedImage] = []
        on_progress(0, total)
        for index in range(request.num_images):
            if is_cancelled():
                raise Cancelled()
            seed = (request.seed + index) % (self.capabilities.seed_max + 1)
            done = index * steps

            def step_end(
                _pipe: Any, step: int, _timestep: Any, _tensors: dict[str, Any], done: int = done
            ) -> dict[str, Any]:
                on_progress(min(done + step + 1, total), total)
                if is_cancelled():
                    raise _StopDenoising()
                return {}

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
            except _StopDenoising:
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
            images.append(GeneratedImage(image=output.images[0], seed=seed, parameters=parameters))
        return GenerationResult(images=images, cost=0.0)


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
