"""Which Hallmark and which SDK a plugin works with.

A plugin declares two PEP 440 ranges: ``hallmark_compat`` (Hallmark's own version, as today)
and ``sdk_compat`` (the version of this SDK, ``SDK_VERSION``). The SDK's minor version grows
when it gains something (a plugin written for 1.0 runs on 1.1); its major version changes only
when a plugin written for the old one could break. The registry lists a plugin whose ranges
exclude this Hallmark or this SDK as broken, with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

if TYPE_CHECKING:
    from hallmark.sdk.plugin import Plugin

#: The plugin SDK's version. 1.1 added ``sdk_compat``, ``hallmark.sdk.hosted``,
#: ``hallmark.sdk.egress`` and ``hallmark.sdk.testing``; 1.2 ``Capabilities.features``; 1.3
#: batching (``Capabilities.max_batch`` and ``Plugin.generate_batch``); 1.4
#: refinement (``Capabilities.refine``, ``GenerationRequest.init_image`` and ``strength``) and
#: latents (``Capabilities.latent_space``, ``GeneratedImage.latents``,
#: ``GenerationRequest.init_latents``).
SDK_VERSION = "1.4"
#: What a plugin that declares no ``sdk_compat`` is taken to work with: any 1.x SDK.
DEFAULT_SDK_COMPAT = ">=1,<2"


def compatibility_problem(plugin_class: type[Plugin]) -> str:
    """Why ``plugin_class`` cannot run on this Hallmark and SDK ("" when it can).

    Checks ``hallmark_compat`` against Hallmark's version, then ``sdk_compat`` against
    ``SDK_VERSION``; a range that is not a valid specifier is a problem too.
    """
    import hallmark  # the project's version; hallmark.sdk lives inside it

    problem = _range_problem(plugin_class, "hallmark_compat", hallmark.__version__)
    if problem is None:
        return f"needs Hallmark {plugin_class.hallmark_compat}; this is Hallmark {hallmark.__version__}"
    if problem:
        return problem
    problem = _range_problem(plugin_class, "sdk_compat", SDK_VERSION)
    if problem is None:
        return (
            f"needs plugin SDK {plugin_class.sdk_compat}; this Hallmark provides SDK {SDK_VERSION} "
            "(hallmark.sdk)"
        )
    return problem


def _range_problem(plugin_class: type[Plugin], attribute: str, version: str) -> str | None:
    """"" when ``version`` is in the class's range ``attribute``, None when it is outside, or
    why the range itself is wrong."""
    declared = getattr(plugin_class, attribute, None)
    try:
        inside = Version(version) in SpecifierSet(declared)  # type: ignore[arg-type]
    except (InvalidSpecifier, TypeError):
        return f"{attribute} {declared!r} is not a valid version specifier"
    return "" if inside else None
