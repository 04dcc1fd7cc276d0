"""What a plugin declares as data: licence, capabilities, parameter and config schemas, identity.

Hallmark validates every request and every admin configuration against these declarations
before a plugin sees them, and copies the licence and the identity onto every asset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from hallmark.sdk.secret_env import secret_env_refusal

# Seeds are stored in a signed 64-bit column and passed through JSON: the largest safe value.
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class License:
    """The licence under which a model's outputs are produced.

    ``spdx_id`` is an SPDX identifier or ``LicenseRef-...``. ``revenue_ceiling_usd`` is the annual
    revenue above which commercial use needs another licence (None: no ceiling).
    """

    spdx_id: str
    name: str
    url: str = ""
    commercial_use: bool = True
    revenue_ceiling_usd: int | None = None
    attribution: str = ""
    restrictions: tuple[str, ...] = ()
    # Whether outputs may be used to train other models (C2PA training-and-mining assertion).
    allows_training: bool = True

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["restrictions"] = list(self.restrictions)
        return data


@dataclass(frozen=True)
class SizeRange:
    """Width and height each within ``[minimum, maximum]`` and a multiple of ``multiple_of``."""

    minimum: int
    maximum: int
    multiple_of: int = 1
    default: int | None = None

    def check(self, value: int) -> str | None:
        if value < self.minimum or value > self.maximum:
            return f"must be between {self.minimum} and {self.maximum}."
        if value % self.multiple_of:
            return f"must be a multiple of {self.multiple_of}."
        return None


@dataclass(frozen=True)
class CostModel:
    """What one image costs. ``per_image`` may be overridden by the admin's config."""

    per_image: float = 0.0
    currency: str = "USD"
    basis: str = "free"  # "free", "per_image" (hosted API), "compute" (local GPU time)


# Hallmark's own configuration: never a plugin's secret, whatever the operator allows.
@dataclass(frozen=True)
class ParamSpec:
    """One setting: a generation parameter (``params``) or a configuration key (``config``).

    ``type`` is one of ``int``, ``float``, ``str``, ``bool``, ``choice``, ``path``, ``env``
    (the name of an environment variable that holds a secret; the secret itself is never stored;
    the name must be on the operator's ``HALLMARK_SECRET_ENV_ALLOWLIST``, see ``secret_env_refusal``).
    """

    type: Literal["int", "float", "str", "bool", "choice", "path", "env"]
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    required: bool = False
    help: str = ""
    max_length: int = 1024

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v not in (None, (), "") or k == "default"}
        if self.choices:
            data["choices"] = list(self.choices)
        return data

    def clean(self, value: Any) -> Any:
        """Return the value in its proper type, or raise ValueError with a message for the user."""
        if self.type == "bool":
            if not isinstance(value, bool):
                raise ValueError("must be true or false.")
            return value
        if self.type == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("must be an integer.")
            self._check_range(value)
            return value
        if self.type == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError("must be a number.")
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError("must be a finite number.")
            self._check_range(value)
            return float(value)
        if self.type == "choice":
            if value not in self.choices or isinstance(value, bool):
                raise ValueError(f"must be one of {', '.join(map(str, self.choices))}.")
            return value
        # str, path, env
        if not isinstance(value, str):
            raise ValueError("must be a string.")
        if len(value) > self.max_length:
            raise ValueError(f"must be at most {self.max_length} characters.")
        if "\x00" in value:
            raise ValueError("must not contain NUL characters.")
        # Conventional names only (upper case, at most 64): an API key pasted here by mistake is
        # refused instead of being stored, audited and shown as configuration.
        if self.type == "env" and value and not re.fullmatch(r"[A-Z_][A-Z0-9_]{0,63}", value):
            raise ValueError(
                "must be the name of an environment variable (A-Z, 0-9, _; at most 64 characters)."
            )
        if self.type == "env" and value:
            refusal = secret_env_refusal(value)
            if refusal:
                raise ValueError(refusal)
        return value

    def _check_range(self, value: float) -> None:
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"must be at least {self.minimum:g}.")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"must be at most {self.maximum:g}.")


@dataclass(frozen=True)
class Capabilities:
    """What a plugin can do, as data. Hallmark validates every request against it.

    Either ``sizes`` (free width/height in a range) or ``aspect_ratios`` (named ratios mapped to
    the pixel size the model returns) must be given.
    """

    sizes: SizeRange | None = None
    aspect_ratios: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    max_images: int = 1
    negative_prompt: bool = True
    # Why a negative prompt is refused, when it is (shown in the 4xx).
    negative_prompt_note: str = ""
    seed_deterministic: bool = True
    seed_max: int = MAX_SEED
    fidelity: Literal["draft", "final"] = "final"
    cost: CostModel = field(default_factory=CostModel)
    max_prompt_length: int = 4000
    # What else the model is good at, as short lower-case names (SDK 1.2), e.g. ``"typography"``
    # for a model that renders the text a prompt asks for. Routing policies require them by name.
    features: tuple[str, ...] = ()
    #: How many compatible jobs one ``Plugin.generate_batch`` call may take (1: the plugin does
    #: not batch, and ``generate_batch`` is never called). SDK 1.3.
    max_batch: int = 1
    #: Image-to-image refinement (SDK 1.4): the plugin accepts a request carrying
    #: ``init_image`` and ``strength`` and redraws that image instead of starting from noise.
    refine: bool = False
    #: The latent space the plugin works in (SDK 1.4), e.g. ``"sd3-vae-16ch"``; "" for none. A
    #: plugin that names one returns each image's final latents (``GeneratedImage.latents``) and,
    #: when it also refines, accepts ``init_latents`` from any plugin that names the same space.
    latent_space: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "sizes": asdict(self.sizes) if self.sizes else None,
            "aspect_ratios": {k: list(v) for k, v in self.aspect_ratios.items()},
            "max_images": self.max_images,
            "negative_prompt": self.negative_prompt,
            "negative_prompt_note": self.negative_prompt_note,
            "seed_deterministic": self.seed_deterministic,
            "seed_max": self.seed_max,
            "fidelity": self.fidelity,
            "cost": asdict(self.cost),
            "max_prompt_length": self.max_prompt_length,
            "features": list(self.features),
            "max_batch": self.max_batch,
            "refine": self.refine,
            "latent_space": self.latent_space,
        }


@dataclass(frozen=True)
class ModelIdentity:
    """Which model, in which version, with which weights, through which libraries, made an image."""

    model_name: str
    model_version: str
    weights_fingerprint: str
    libraries: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.model_name,
            "version": self.model_version,
            "fingerprint": self.weights_fingerprint,
            "libraries": dict(self.libraries),
            "extra": dict(self.extra),
        }


@dataclass(frozen=True)
class Health:
    """A plugin's own view of whether it can take jobs now. ``red`` refuses new jobs."""

    status: Literal["green", "amber", "red"]
    message: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"status": self.status, "message": self.message}


