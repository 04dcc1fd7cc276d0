"""C2PA signing: the manifest Hallmark signs into every stored image, and the signer.

``sign_c2pa`` signs ES256 with the configured certificate chain and key, without a timestamp
authority (no network). The signer and the SDK's settings are native objects made once per
process (``PerProcess``) and rebuilt when their files change. ``ProvenanceError`` and its
subclasses are what a job fails with when provenance cannot be written.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import c2pa
from django.conf import settings

import hallmark
from governance.provenance import prompt_digest, soft_binding
from governance.provenance.embedded_metadata import PNG_MIME

if TYPE_CHECKING:
    from governance.provenance.stamping import ProvenanceContext

logger = logging.getLogger(__name__)

# Hallmark's own assertion in each manifest: what made the image, without the prompt itself.
HALLMARK_ASSERTION = "org.hallmark.generation"
# The CAWG training-and-data-mining assertion (C2PA 2.x moved it from c2pa.training-mining,
# which the SDK still reads; Hallmark writes the current label and reads both).
TRAINING_MINING_LABEL = "cawg.training-mining"
LEGACY_TRAINING_MINING_LABEL = "c2pa.training-mining"
TRAINING_MINING_KEYS = ("cawg.ai_training", "cawg.ai_generative_training", "cawg.data_mining")


class ProvenanceError(Exception):
    """Provenance could not be written; the job fails with this message (never a secret).

    ``code`` becomes the job's ``error_code``.
    """

    code = "provenance_error"


class ProvenanceUnavailable(ProvenanceError):
    """No usable C2PA signer is configured while ``HALLMARK_C2PA_REQUIRED`` is on."""

    code = "provenance_unavailable"


class SigningFailed(ProvenanceError):
    """The configured signer is present but the C2PA SDK refused to sign."""

    code = "provenance_signing_failed"


_SETUP_HINT = (
    "Run `manage.py provenance_init` to create a development certificate, or point "
    "HALLMARK_C2PA_CERT_CHAIN and HALLMARK_C2PA_PRIVATE_KEY at a real certificate chain and key."
)


def file_key(path: Path) -> tuple[str, int, int] | None:
    """Path, size and mtime: a cached signer is rebuilt when its files are replaced."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return str(path), stat.st_size, stat.st_mtime_ns


class PerProcess:
    """One native object per process, rebuilt when the files it came from change.

    The C2PA SDK refuses handles inherited across fork (Celery's prefork pool forks after the
    parent may have signed), so the cache is keyed on the process id as well as the files.
    Native handles are shared between threads: the SDK wrapper takes shared borrows for
    signing and reading, and concurrent use was checked (see docs/provenance.md).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._value: Any = None

    def get(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        """The value cached for ``key`` in this process, made with ``build`` when it changed."""
        full_key = (os.getpid(), *key)
        with self._lock:
            if self._key != full_key:
                self._value = build()
                self._key = full_key
            return self._value


_signers = PerProcess()
_builder_contexts = PerProcess()


def _signer() -> c2pa.Signer | None:
    """The process's ES256 signer from the configured chain and key, or None when unconfigured."""
    chain_path = Path(settings.HALLMARK_C2PA_CERT_CHAIN)
    key_path = Path(settings.HALLMARK_C2PA_PRIVATE_KEY)
    chain_key, private_key = file_key(chain_path), file_key(key_path)
    if chain_key is None or private_key is None:
        return None

    def build() -> c2pa.Signer:
        try:
            info = c2pa.C2paSignerInfo(
                c2pa.C2paSigningAlg.ES256, chain_path.read_bytes(), key_path.read_bytes(), None
            )
            return c2pa.Signer.from_info(info)
        except (OSError, ValueError, c2pa.C2paError) as exc:
            # The SDK's message names what is wrong with the certificate; it never holds the key.
            raise ProvenanceUnavailable(
                f"The C2PA certificate chain {chain_path} or its key cannot be used to sign "
                f"({type(exc).__name__}: {exc}). {_SETUP_HINT}"
            ) from None

    signer: c2pa.Signer = _signers.get((chain_key, private_key), build)
    return signer


def _builder_context() -> c2pa.Context:
    # No thumbnail in the manifest: the file is the image, and a second JPEG encode per image
    # would cost more than the signature. Remote manifests are never fetched.
    return _builder_contexts.get(
        (),
        lambda: c2pa.Context.from_dict(
            {
                "builder": {"thumbnail": {"enabled": False}},
                "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
            }
        ),
    )


def training_mining_entries(allows_training: bool) -> dict[str, dict[str, str]]:
    """CAWG training-and-data-mining entries derived from the licence's ``allows_training``.

    Inference (using the image as an input) is not something model licences restrict, so
    only training and mining are declared.
    """
    use = "allowed" if allows_training else "notAllowed"
    return {key: {"use": use} for key in TRAINING_MINING_KEYS}


def manifest_definition(context: ProvenanceContext) -> dict[str, Any]:
    """The C2PA manifest Hallmark signs into each image (see docs/provenance.md)."""
    identity = context.identity
    model_name = str(identity.get("name") or context.plugin_id)
    model_version = str(identity.get("version") or context.plugin_version)
    created = {
        "action": "c2pa.created",
        "digitalSourceType": context.digital_source_type,
        "softwareAgent": {"name": model_name, "version": model_version},
        "when": context.created_at.isoformat(),
    }
    generation = {
        "asset_id": context.asset_id,
        "job_id": context.job_id,
        "model": {
            "id": context.plugin_id,
            "name": model_name,
            "version": model_version,
            "weights_fingerprint": str(identity.get("fingerprint", "")),
        },
        "plugin": {"id": context.plugin_id, "version": context.plugin_version},
        "is_ai_model": context.is_ai_model,
        "seed": context.seed,
        "width": context.width,
        "height": context.height,
        # Never the prompt itself: a manifest travels with the file. With prompts withheld
        # (HALLMARK_EMBED_PROMPTS=False) not its plain sha256 either, which would confirm a
        # guessed prompt, but an HMAC under the organisation key (governance.provenance.prompt_digest).
        **prompt_digest.prompt_digest(context.prompt),
        "license": {
            "spdx_id": context.license.get("spdx_id", ""),
            "commercial_use": bool(context.license.get("commercial_use", False)),
            "allows_training": bool(context.license.get("allows_training", False)),
        },
        "created_at": context.created_at.isoformat(),
    }
    actions: list[dict[str, Any]] = [created]
    if context.parent is not None:
        actions = derived_actions(context, created)
        generation["parent"] = {
            "asset_id": context.parent.asset_id,
            "derivation": context.parent.derivation,
            "strength": context.parent.strength,
        }
    return {
        "claim_generator_info": [{"name": "Hallmark", "version": hallmark.__version__}],
        "title": f"{context.asset_id}.png",
        "format": PNG_MIME,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": actions}},
            {"label": HALLMARK_ASSERTION, "data": generation},
            {
                "label": TRAINING_MINING_LABEL,
                "data": {
                    "entries": training_mining_entries(bool(context.license.get("allows_training", False)))
                },
            },
            # How to find the asset again once this manifest is stripped (docs/provenance.md).
            *soft_binding.assertions(context.fingerprint, context.watermark),
        ],
    }


#: The label of the parent's ingredient assertion, which the ``c2pa.opened`` action points to.
PARENT_INGREDIENT_LABEL = "c2pa.ingredient.v3"


def derived_actions(context: ProvenanceContext, created: dict[str, Any]) -> list[dict[str, Any]]:
    """The actions of an image derived from a parent asset: the parent ``c2pa.opened`` (the
    ``parentOf`` ingredient), then the model's work on it as ``c2pa.edited``, with the same
    agent, source type and time as a fresh image's ``c2pa.created``."""
    parent = context.parent
    assert parent is not None
    if parent.derivation == "refine":
        how = f"refined image to image from asset {parent.asset_id} (strength {parent.strength:g})"
    else:
        how = f"re-rendered from the prompt and seed of asset {parent.asset_id}"
    edited = {**created, "action": "c2pa.edited", "description": how}
    opened = {"action": "c2pa.opened", "parameters": {"ingredientIds": [PARENT_INGREDIENT_LABEL]}}
    return [opened, edited]


def _add_parent(builder: c2pa.Builder, context: ProvenanceContext) -> None:
    """Add the parent's stored file as the ``parentOf`` ingredient (its manifest goes with it)."""
    parent = context.parent
    if parent is None:
        return
    ingredient = {
        "title": f"{parent.asset_id}.{parent.mime_type.rsplit('/', 1)[-1]}",
        "relationship": "parentOf",
        "label": PARENT_INGREDIENT_LABEL,
    }
    builder.add_ingredient(ingredient, parent.mime_type, io.BytesIO(parent.data))


def signer_configured() -> bool:
    """Whether a certificate chain and key are in place (not whether they are valid)."""
    return (
        file_key(Path(settings.HALLMARK_C2PA_CERT_CHAIN)) is not None
        and file_key(Path(settings.HALLMARK_C2PA_PRIVATE_KEY)) is not None
    )


def sign_c2pa(data: bytes, context: ProvenanceContext) -> bytes:
    """Sign a C2PA manifest for ``context`` into the PNG ``data``; return the signed bytes.

    ES256 with the configured chain, no timestamp authority (no network). Without a signer
    this raises ``ProvenanceUnavailable`` when ``HALLMARK_C2PA_REQUIRED`` is on, and returns
    ``data`` unsigned (with a warning) when it is off.
    """
    signer = _signer()
    if signer is None:
        if settings.HALLMARK_C2PA_REQUIRED:
            raise ProvenanceUnavailable(f"No C2PA signing certificate is configured. {_SETUP_HINT}")
        logger.warning("C2PA signing is off (no certificate configured): storing an unsigned image")
        return data
    try:
        builder = c2pa.Builder(manifest_definition(context), context=_builder_context())
        _add_parent(builder, context)
        output = io.BytesIO()
        builder.sign(signer, PNG_MIME, io.BytesIO(data), output)
    except c2pa.C2paError as exc:
        raise SigningFailed(f"C2PA signing failed ({type(exc).__name__}: {exc}).") from None
    return output.getvalue()
