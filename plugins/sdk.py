"""Hallmark plugin SDK, version 1.

A plugin is a class found through the entry-point group ``hallmark.plugins``. It declares what
it is as data (id, licence, capabilities, parameter and configuration schemas) and implements a
handful of hooks. Everything outside a plugin (jobs, assets, provenance, audit) is Hallmark's.

The smallest complete plugin::

    class EchoPlugin(Plugin):
        id = "echo"
        name = "Echo"
        version = "1.0.0"
        hallmark_compat = ">=0.1,<1"
        license = License(spdx_id="MIT", name="MIT", commercial_use=True)
        capabilities = Capabilities(sizes=SizeRange(64, 512, multiple_of=8), max_images=1)

        def identity(self) -> ModelIdentity: ...
        def generate(self, request, on_progress, is_cancelled) -> GenerationResult: ...

See docs/plugins.md for the whole contract.
"""

from __future__ import annotations

import fnmatch
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from PIL import Image

from hallmark.errors import InvalidInput

SDK_VERSION = "1"
PLUGIN_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
# Seeds are stored in a signed 64-bit column and passed through JSON: the largest safe value.
MAX_SEED = 2**63 - 1

ProgressCallback = Callable[[int, int], None]
"""``on_progress(step, total)``: the plugin reports how far it is. Cheap to call every step."""

CancelCheck = Callable[[], bool]
"""``is_cancelled()``: True once the job was cancelled; the plugin stops and raises ``Cancelled``."""


class PluginError(Exception):
    """A generation failed for a reason the user can act on; the message is shown as the job error.

    ``retryable`` says whether another attempt may succeed (a provider outage) or not (a
    refused prompt); it is recorded with the failure so that clients know whether to resubmit.
    A plugin retries transient errors itself, within its own time budget (as the Ideogram
    plugins do) before raising. Messages must never contain secrets.
    """

    def __init__(self, message: str, *, retryable: bool = False, code: str = "plugin_error") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


class Cancelled(Exception):
    """Raised by a plugin's ``generate`` when ``is_cancelled()`` became true."""


class RequestInvalid(InvalidInput):
    """A request breaks the plugin's declared capabilities. Maps field names to messages."""


class ConfigInvalid(RequestInvalid):
    """A plugin configuration breaks the plugin's config schema. Maps keys to messages."""


# ---------------------------------------------------------------------------------------------
# Declarations
# ---------------------------------------------------------------------------------------------


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
NEVER_SECRET_ENV = ("DJANGO_*", "DATABASE_URL", "CELERY_*", "HALLMARK_*", "AWS_*")


def secret_env_refusal(name: str) -> str:
    """Why a plugin may not read environment variable ``name`` ("" when it may).

    The variables an ``env`` setting may name are the operator's choice, not the database's:
    an admin who could name any variable could have the worker send ``DATABASE_URL`` or
    ``DJANGO_SECRET_KEY`` to a provider as an API key. The operator lists names or
    ``fnmatch`` globs in ``HALLMARK_SECRET_ENV_ALLOWLIST``; a missing setting allows nothing.
    """
    from django.conf import settings  # here, so that importing the SDK needs no settings

    if any(fnmatch.fnmatchcase(name, pattern) for pattern in NEVER_SECRET_ENV):
        return f"{name} holds Hallmark's own configuration and can never be a plugin's secret."
    configured = getattr(settings, "HALLMARK_SECRET_ENV_ALLOWLIST", ())
    patterns = [
        p.strip().upper() for p in (configured.split(",") if isinstance(configured, str) else configured)
    ]
    patterns = [p for p in patterns if p]
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
        return ""
    return (
        f"{name} is not a variable plugins may read; the operator allows more names with "
        f"HALLMARK_SECRET_ENV_ALLOWLIST (now: {', '.join(patterns) or 'nothing'})."
    )


def secret_from_env(name: str) -> str:
    """The secret in environment variable ``name``, stripped ("" when unset).

    Plugins read their secrets through this, never ``os.environ`` directly: it checks the
    operator's allow-list again at the moment of use (a row saved before the list was narrowed
    must not leak) and raises ``PluginError`` (code ``secret_not_allowed``) before reading.
    """
    refusal = secret_env_refusal(name)
    if refusal:
        raise PluginError(f"Refused to read the secret: {refusal}", code="secret_not_allowed")
    return os.environ.get(name, "").strip()


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


@dataclass(frozen=True)
class GenerationRequest:
    """A validated request, as a plugin receives it. ``params`` has every declared default filled."""

    prompt: str
    negative_prompt: str
    width: int
    height: int
    seed: int
    num_images: int
    params: Mapping[str, Any]
    job_id: str = ""
    aspect_ratio: str | None = None


@dataclass
class GeneratedImage:
    """One image a plugin made.

    ``seed`` is the seed that reproduces this image. ``parameters`` feeds the A1111-style
    ``parameters`` text (steps, sampler, guidance, ...). ``provider`` holds what a hosted model
    reported (its rewritten prompt, resolution); it is kept on the asset beside the user's own.
    """

    image: Image.Image
    seed: int
    parameters: dict[str, Any] = field(default_factory=dict)
    provider: dict[str, Any] = field(default_factory=dict)


@dataclass
class GenerationResult:
    """What ``generate`` returns: the images and, for priced models, what they cost."""

    images: list[GeneratedImage]
    cost: float | None = None
    currency: str = "USD"


# ---------------------------------------------------------------------------------------------
# The plugin base class
# ---------------------------------------------------------------------------------------------


class Plugin(ABC):
    """Base class of every Hallmark model plugin.

    Subclasses set the class attributes below and implement ``identity`` and ``generate``; the
    other hooks have sensible defaults. An instance is built with its validated configuration
    and may be kept warm by a worker between jobs (``load`` once, ``generate`` many times).
    """

    #: Stable identifier, lower case with dashes (``sd35-medium``). Also names the job queue.
    id: ClassVar[str]
    #: Display name.
    name: ClassVar[str]
    #: The plugin's own version (not the model's).
    version: ClassVar[str]
    #: PEP 440 specifier of the Hallmark versions this plugin works with, e.g. ``">=0.1,<1"``.
    hallmark_compat: ClassVar[str] = ">=0.1"
    description: ClassVar[str] = ""
    #: False for generators that are not AI models (the procedural demo): provenance says so.
    is_ai_model: ClassVar[bool] = True
    license: ClassVar[License]
    capabilities: ClassVar[Capabilities]
    #: Plugin-specific generation parameters accepted in ``params``.
    params_schema: ClassVar[Mapping[str, ParamSpec]] = {}
    #: Settings an admin sets (weights path, device, API key's environment variable...).
    config_schema: ClassVar[Mapping[str, ParamSpec]] = {}

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config: dict[str, Any] = self.clean_config(config or {})

    # -- declarations as data -------------------------------------------------------------

    @classmethod
    def clean_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``config`` against ``config_schema``; return it with defaults filled in.

        Raises ``ConfigInvalid`` naming each key at fault. Subclasses may extend it for checks
        across keys, calling ``super()`` first.
        """
        if not isinstance(config, Mapping):
            raise ConfigInvalid({"config": ["must be an object."]})
        errors: dict[str, list[str]] = {}
        cleaned: dict[str, Any] = {}
        for key in config:
            if key not in cls.config_schema:
                errors[key] = [f"unknown setting for plugin {cls.id}."]
        for key, spec in cls.config_schema.items():
            if key in config and config[key] is not None:
                try:
                    cleaned[key] = spec.clean(config[key])
                except ValueError as exc:
                    errors[key] = [str(exc)]
            elif spec.required:
                errors[key] = ["is required."]
            else:
                cleaned[key] = spec.default
        if errors:
            raise ConfigInvalid(errors)
        return cleaned

    # -- hooks ----------------------------------------------------------------------------

    @abstractmethod
    def identity(self) -> ModelIdentity:
        """Return the model's name, version, weights fingerprint and library versions.

        Called for every job, so it must be cheap after the first call (cache fingerprints).
        """

    def validate(self, request: GenerationRequest) -> None:
        """Check what the declared capabilities cannot express; raise ``RequestInvalid``.

        Receives a request that already satisfies ``capabilities`` and ``params_schema``.
        Runs in the web process at submission, so it must not load models.
        """

    def load(self) -> None:
        """Load weights or open clients. Called once before the first ``generate`` on a worker."""

    def unload(self) -> None:
        """Release what ``load`` took (GPU memory, sessions). The instance may be loaded again."""

    def memory_footprint(self) -> int:
        """Bytes this loaded plugin holds; the worker's warm cache evicts by this (default 0)."""
        return 0

    @abstractmethod
    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback, is_cancelled: CancelCheck
    ) -> GenerationResult:
        """Make ``request.num_images`` images.

        Call ``on_progress(step, total)`` as work advances and check ``is_cancelled()`` at least
        once per step, raising ``Cancelled`` when it is true. Raise ``PluginError`` for failures
        the user should see. Never log or raise secrets.
        """

    def health(self) -> Health:
        """Say whether the plugin can take jobs now (weights present, key set, provider up).

        Runs in the web process: it must be quick and must not load models. Red refuses jobs.
        """
        return Health("green")

    def on_enabled(self) -> None:
        """Called in the web process when an admin enables the plugin (pretix's ``installed``)."""

    def on_disabled(self) -> None:
        """Called in the web process when an admin disables the plugin."""


def check_declarations(cls: type[Plugin]) -> list[str]:
    """Return what is wrong with a plugin class's declared metadata (empty when it is sound)."""
    problems: list[str] = []
    for attr in ("id", "name", "version", "license", "capabilities"):
        if not hasattr(cls, attr):
            problems.append(f"missing class attribute {attr!r}")
    if problems:
        return problems
    if not isinstance(cls.id, str) or not PLUGIN_ID_PATTERN.match(cls.id):
        problems.append(f"id {cls.id!r} must be 2-63 lower-case letters, digits or dashes")
    if not isinstance(cls.license, License):
        problems.append("license must be a plugins.sdk.License")
    caps = cls.capabilities
    if not isinstance(caps, Capabilities):
        problems.append("capabilities must be a plugins.sdk.Capabilities")
    else:
        if caps.sizes is None and not caps.aspect_ratios:
            problems.append("capabilities must declare sizes or aspect_ratios")
        if caps.max_images < 1:
            problems.append("capabilities.max_images must be at least 1")
    for schema_name in ("params_schema", "config_schema"):
        for key, spec in getattr(cls, schema_name).items():
            if not isinstance(spec, ParamSpec):
                problems.append(f"{schema_name}[{key!r}] must be a plugins.sdk.ParamSpec")
    return problems
