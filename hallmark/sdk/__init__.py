"""Hallmark's plugin SDK (``SDK_VERSION``): what a model plugin imports, and all it needs.

A plugin is a class found through the entry-point group ``hallmark.plugins``. It declares what
it is as data (id, licence, capabilities, parameter and configuration schemas) and implements a
handful of hooks. Everything outside a plugin (jobs, assets, provenance, audit) is Hallmark's.

The smallest complete plugin::

    from hallmark.sdk import Capabilities, GenerationResult, License, ModelIdentity, Plugin, SizeRange

    class EchoPlugin(Plugin):
        id = "echo"
        name = "Echo"
        version = "1.0.0"
        hallmark_compat = ">=0.1,<1"
        sdk_compat = ">=1.1,<2"
        license = License(spdx_id="MIT", name="MIT", commercial_use=True)
        capabilities = Capabilities(sizes=SizeRange(64, 512, multiple_of=8), max_images=1)

        def identity(self) -> ModelIdentity: ...
        def generate(self, request, on_progress, is_cancelled) -> GenerationResult: ...

The modules, by topic: ``declarations`` (licence, capabilities, schemas, identity, health),
``jobs`` (the request a plugin receives and the result it returns), ``plugin`` (the base
class), ``errors``, ``secret_env`` (secrets by environment variable name), ``compat`` (version
ranges), ``hosted`` (retries, backoff and capped reads for hosted models), ``egress`` (which
hosts and addresses a hosted plugin may reach) and ``testing`` (``check_plugin``, for a plugin's
own tests). Everything a plugin needs is importable from ``hallmark.sdk`` itself, except
``hosted``, ``egress`` and ``testing``, which are imported as modules. ``plugins.sdk`` is the
old name of this package and re-exports it. See docs/plugins.md for the whole contract.
"""

from __future__ import annotations

from hallmark.sdk.compat import DEFAULT_SDK_COMPAT, SDK_VERSION, compatibility_problem
from hallmark.sdk.declarations import (
    MAX_SEED,
    Capabilities,
    CostModel,
    Health,
    License,
    ModelIdentity,
    ParamSpec,
    SizeRange,
)
from hallmark.sdk.errors import Cancelled, ConfigInvalid, PluginError, RequestInvalid
from hallmark.sdk.jobs import (
    CancelCheck,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    ProgressCallback,
)
from hallmark.sdk.plugin import PLUGIN_ID_PATTERN, Plugin, check_declarations
from hallmark.sdk.secret_env import NEVER_SECRET_ENV, secret_env_refusal, secret_from_env

__all__ = [
    "DEFAULT_SDK_COMPAT",
    "MAX_SEED",
    "NEVER_SECRET_ENV",
    "PLUGIN_ID_PATTERN",
    "SDK_VERSION",
    "CancelCheck",
    "Cancelled",
    "Capabilities",
    "ConfigInvalid",
    "CostModel",
    "GeneratedImage",
    "GenerationRequest",
    "GenerationResult",
    "Health",
    "License",
    "ModelIdentity",
    "ParamSpec",
    "Plugin",
    "PluginError",
    "ProgressCallback",
    "RequestInvalid",
    "SizeRange",
    "check_declarations",
    "compatibility_problem",
    "secret_env_refusal",
    "secret_from_env",
]
