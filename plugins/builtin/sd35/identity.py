"""Which SD3.5 model a folder holds: its name, version, weights fingerprint and architecture.

The name comes from ``hallmark_model.json`` beside the weights (``{"name": ..., "version": ...}``),
else from the Hugging Face cache folder, else from the transformer's config, else the plugin's
default. The version comes from the same file, else the cache's snapshot commit, else a digest of
the component configs. The fingerprint covers exactly the files that ``load`` reads
(``plugins.builtin.weights.fingerprint``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from django.conf import settings

from hallmark.sdk import ModelIdentity, PluginError
from plugins.builtin.weights.fingerprint import fingerprint_folder
from plugins.builtin.weights.folder import PIPELINE_CLASS, SAFE_SUFFIX, loaded_components, t5_absent

#: Optional metadata an operator may put beside the weights: {"name": ..., "version": ...}.
MODEL_METADATA_FILE = "hallmark_model.json"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def _version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return ""


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


def model_identity(
    folder: Path,
    index: Mapping[str, Any],
    *,
    config: Mapping[str, Any],
    device: str,
    default_model_name: str,
    plugin_name: str,
) -> ModelIdentity:
    """The identity of the weights in a checked pipeline ``folder`` (``index``: its model index).

    ``config`` is the plugin's cleaned configuration, ``device`` the one it loaded onto ("" if
    not loaded yet). Raises ``PluginError`` (``weights_invalid``) when the files cannot be hashed.
    """
    # The files load reads: safetensors only, and no T5 when it is dropped.
    components = loaded_components(index, drop_t5=config["drop_t5"])
    try:
        fingerprint = fingerprint_folder(
            folder,
            cache_dir=Path(settings.VAR_DIR) / "fingerprints",
            subfolders=components,
            suffixes=(SAFE_SUFFIX,),
        )
    except OSError as exc:
        raise PluginError(
            f"{plugin_name}: cannot fingerprint the weights: {exc}", code="weights_invalid"
        ) from None
    meta = _read_json(folder / MODEL_METADATA_FILE)
    transformer = _read_json(folder / "transformer" / "config.json")
    scheduler = _read_json(folder / "scheduler" / "scheduler_config.json")
    hf_repo, hf_commit = _hf_cache_name(folder)
    named_by = str(transformer.get("_name_or_path") or "")
    if Path(named_by).is_absolute() or named_by.startswith("."):
        named_by = ""  # a local path where it was saved names no model

    name = str(meta.get("name") or hf_repo or named_by or default_model_name)
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
        "dtype": config["dtype"],
        "device": device or config["device"],
        "cpu_offload": config["cpu_offload"],
        "text_encoder_3": "dropped"
        if config["drop_t5"]
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
