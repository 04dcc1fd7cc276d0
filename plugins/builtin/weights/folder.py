"""A diffusers ``StableDiffusion3Pipeline`` folder on local disk: found, read and checked.

Nothing here imports torch or loads a weight: these checks run in the web process (health,
``register_weights``) as well as on workers before loading. A folder passes when its
``model_index.json`` names a StableDiffusion3Pipeline with every required component, each
component folder that holds weights holds safetensors (pickle files are never loaded, since
unpickling can run code), T5 (``text_encoder_3``) is there unless it is dropped, and, when
``HALLMARK_WEIGHTS_ROOT`` is set, no file resolves outside that root (``root``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plugins.builtin.weights.fingerprint import WEIGHT_SUFFIXES
from plugins.builtin.weights.root import first_escaping_file

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


class WeightsFolderInvalid(Exception):
    """``weights_path`` does not name a usable StableDiffusion3Pipeline folder; says why."""


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
