"""The plugin base class and the check of what a plugin class declares."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from hallmark.sdk.compat import DEFAULT_SDK_COMPAT
from hallmark.sdk.declarations import Capabilities, Health, License, ModelIdentity, ParamSpec
from hallmark.sdk.errors import Cancelled, ConfigInvalid
from hallmark.sdk.jobs import CancelCheck, GenerationRequest, GenerationResult, ProgressCallback

PLUGIN_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
#: A capability feature name (``Capabilities.features``), e.g. ``typography``.
FEATURE_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,39}")


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
    #: PEP 440 specifier of the plugin SDK versions (``hallmark.sdk.SDK_VERSION``) this plugin
    #: was written against. The default accepts every 1.x SDK: minor versions only add.
    sdk_compat: ClassVar[str] = DEFAULT_SDK_COMPAT
    description: ClassVar[str] = ""
    #: False for generators that are not AI models (the procedural demo): provenance says so.
    is_ai_model: ClassVar[bool] = True
    #: Whether Hallmark may embed its invisible watermark in this plugin's images (soft binding,
    #: docs/provenance.md). None: the organisation's ``HALLMARK_WATERMARK`` decides (AI models on,
    #: others off); False where the model's licence or the provider's terms forbid altering its
    #: outputs (never overridden); True asks for it even when ``is_ai_model`` is False.
    watermark: ClassVar[bool | None] = None
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

    def generate_batch(
        self,
        requests: Sequence[GenerationRequest],
        on_progress: Sequence[ProgressCallback],
        is_cancelled: Sequence[CancelCheck],
    ) -> list[GenerationResult | None]:
        """Make the images of several compatible jobs in one call (SDK 1.3, optional).

        Called only when ``capabilities.max_batch`` is above 1, with up to ``max_batch``
        requests (2 or more; 1 when the others were refused before the call) that differ in
        ``prompt``, ``seed`` and ``job_id`` only (same size, number of images, negative prompt
        and ``params``). Each request's images must be those that
        ``generate`` would make for it alone, from its own seeds.

        ``on_progress[i](step, total)`` reports job *i*'s progress (a call that advances all
        jobs together reports the same step to each); ``is_cancelled[i]()`` says whether job *i*
        was cancelled, and is asked at least once per step.
        Return one entry per request, in order: its ``GenerationResult``, or None for a job
        that was cancelled (its images are dropped, never stored). Raise ``Cancelled`` when
        every job is cancelled, and ``PluginError`` when the call fails: every job of the
        batch then fails with it.

        The default runs ``generate`` once per request, which is correct but gains nothing;
        a plugin that declares ``max_batch`` overrides it with one model call.
        """
        results: list[GenerationResult | None] = []
        for request, progress, cancelled in zip(requests, on_progress, is_cancelled, strict=True):
            try:
                results.append(self.generate(request, progress, cancelled))
            except Cancelled:
                results.append(None)
        if all(result is None for result in results):
            raise Cancelled()
        return results

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
        problems.append("license must be a hallmark.sdk.License")
    caps = cls.capabilities
    if not isinstance(caps, Capabilities):
        problems.append("capabilities must be a hallmark.sdk.Capabilities")
    else:
        if caps.sizes is None and not caps.aspect_ratios:
            problems.append("capabilities must declare sizes or aspect_ratios")
        if caps.max_images < 1:
            problems.append("capabilities.max_images must be at least 1")
        if not isinstance(caps.features, tuple) or not all(
            isinstance(f, str) and FEATURE_PATTERN.fullmatch(f) for f in caps.features
        ):
            problems.append("capabilities.features must be a tuple of lower-case names (a-z, 0-9, -, _)")
        if not isinstance(caps.max_batch, int) or caps.max_batch < 1:
            problems.append("capabilities.max_batch must be an integer of at least 1")
        if not isinstance(caps.refine, bool):
            problems.append("capabilities.refine must be true or false")
        if not isinstance(caps.latent_space, str) or len(caps.latent_space) > 64:
            problems.append("capabilities.latent_space must be a name of at most 64 characters")
    for schema_name in ("params_schema", "config_schema"):
        for key, spec in getattr(cls, schema_name).items():
            if not isinstance(spec, ParamSpec):
                problems.append(f"{schema_name}[{key!r}] must be a hallmark.sdk.ParamSpec")
    return problems
