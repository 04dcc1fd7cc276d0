"""``check_plugin``: the contract checks Hallmark runs on a plugin, for the plugin's own tests.

A plugin author calls it from a test::

    from hallmark.sdk.testing import check_plugin

    def test_my_plugin_keeps_the_contract():
        check_plugin(MyPlugin)

It raises ``AssertionError`` naming the first problem. What it checks, in order:

1. declarations: the class attributes are present and of the SDK's types (``check_declarations``),
   and its ``hallmark_compat`` and ``sdk_compat`` ranges include this Hallmark and this SDK;
2. configuration: every declared default of ``config_schema`` and ``params_schema`` passes its
   own spec, and ``clean_config`` accepts the defaults (or the ``config`` given);
3. capabilities: the default size fits its range, aspect-ratio sizes are positive, the seed
   range fits Hallmark's;
4. an instance can be made, reports a ``Health``, and (``identity=True``) an identity of the
   right shape, with a model name, a version and a weights fingerprint;
5. with ``generate=True``: a small request (the smallest size or the first aspect ratio, up to
   two images) passes Hallmark's validation and the plugin's ``validate``; ``generate`` returns
   that many images of the requested size, each with an integer seed, and reports progress that
   rises to its total; with ``is_cancelled()`` true from the start it raises ``Cancelled``;
   ``unload`` then runs cleanly; a plugin that declares ``max_batch`` above 1 gets one result
   per request from ``generate_batch`` (each checked as above, the first with the seeds
   ``generate`` gave it), ``None`` for a cancelled request, and ``Cancelled`` when all are.

Everything runs in the calling process, without a database. Steps 4 and 5 call the plugin's
hooks: pass ``identity=False`` and ``generate=False`` for a plugin that needs weights or a
network it does not have in tests (its declarations and configuration are still checked).
Requests are built by Hallmark's own validation (``plugins.validation.build_request``), which
reads Hallmark's settings: run it where Hallmark is installed (``DJANGO_SETTINGS_MODULE`` is
``hallmark.settings`` unless set).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, NoReturn

from PIL import Image

from hallmark.sdk.compat import compatibility_problem
from hallmark.sdk.declarations import MAX_SEED, Health, ModelIdentity, ParamSpec
from hallmark.sdk.errors import Cancelled, ConfigInvalid, RequestInvalid
from hallmark.sdk.jobs import GeneratedImage, GenerationRequest, GenerationResult
from hallmark.sdk.plugin import Plugin, check_declarations


def check_plugin(
    plugin_class: type[Plugin],
    *,
    config: Mapping[str, Any] | None = None,
    identity: bool = True,
    generate: bool = True,
    prompt: str = "a small test image",
    params: Mapping[str, Any] | None = None,
) -> None:
    """Run the contract checks on ``plugin_class``; raise ``AssertionError`` at the first problem.

    ``config`` is the configuration to build the instance with (default: the schema's defaults);
    ``params`` are extra request parameters for the generated request. See the module docstring
    for what is checked, and what ``identity`` and ``generate`` switch off.
    """
    name = str(getattr(plugin_class, "id", None) or getattr(plugin_class, "__name__", repr(plugin_class)))
    if not (isinstance(plugin_class, type) and issubclass(plugin_class, Plugin)):
        _fail(name, "declarations", "is not a subclass of hallmark.sdk.Plugin")
    problems = check_declarations(plugin_class)
    if problems:
        _fail(name, "declarations", "; ".join(problems))
    incompatible = compatibility_problem(plugin_class)
    if incompatible:
        _fail(name, "compatibility", incompatible)
    _check_defaults(name, "config_schema", plugin_class.config_schema)
    _check_defaults(name, "params_schema", plugin_class.params_schema)
    try:
        plugin_class.clean_config(dict(config or {}))
    except ConfigInvalid as exc:
        given = "the config given" if config else "the default configuration"
        _fail(name, "configuration", f"clean_config refused {given}: {exc}")
    _check_capabilities(name, plugin_class)

    try:
        plugin = plugin_class(dict(config or {}))
    except Exception as exc:
        _fail(name, "instance", f"could not be made: {type(exc).__name__}: {exc}")
    health = plugin.health()
    if not isinstance(health, Health):
        _fail(name, "health()", f"returned {type(health).__name__}, not a Health")
    if identity:
        _check_identity(name, plugin.identity())
    if generate:
        _check_generate(name, plugin, prompt, dict(params or {}))


def _fail(name: str, topic: str, message: str) -> NoReturn:
    raise AssertionError(f"plugin {name}: {topic}: {message}")


def _check_defaults(name: str, schema_name: str, schema: Mapping[str, ParamSpec]) -> None:
    for key, spec in schema.items():
        if spec.default is None or (spec.default == "" and spec.type in ("str", "path", "env")):
            continue
        try:
            cleaned = spec.clean(spec.default)
        except ValueError as exc:
            _fail(name, schema_name, f"the default of {key!r} ({spec.default!r}) {exc}")
        if cleaned != spec.default:
            _fail(name, schema_name, f"the default of {key!r} ({spec.default!r}) is not of type {spec.type}")


def _check_capabilities(name: str, plugin_class: type[Plugin]) -> None:
    caps = plugin_class.capabilities
    sizes = caps.sizes
    if sizes is not None:
        if sizes.minimum < 1 or sizes.maximum < sizes.minimum or sizes.multiple_of < 1:
            _fail(name, "capabilities", f"sizes {sizes} is not a range of positive sizes")
        if _smallest(sizes.minimum, sizes.multiple_of) > sizes.maximum:
            _fail(name, "capabilities", f"sizes {sizes} holds no multiple of {sizes.multiple_of}")
        if sizes.default is not None and sizes.check(sizes.default):
            _fail(name, "capabilities", f"the default size {sizes.default} {sizes.check(sizes.default)}")
    for ratio, size in caps.aspect_ratios.items():
        if not (
            isinstance(size, tuple)
            and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            _fail(name, "capabilities", f"aspect ratio {ratio!r} maps to {size!r}, not (width, height)")
    if not 0 <= caps.seed_max <= MAX_SEED:
        _fail(name, "capabilities", f"seed_max {caps.seed_max} is outside 0..{MAX_SEED}")
    if caps.fidelity not in ("draft", "final"):
        _fail(name, "capabilities", f"fidelity {caps.fidelity!r} is neither 'draft' nor 'final'")


def _smallest(minimum: int, multiple_of: int) -> int:
    return -(-minimum // multiple_of) * multiple_of


def _check_identity(name: str, found: Any) -> None:
    if not isinstance(found, ModelIdentity):
        _fail(name, "identity()", f"returned {type(found).__name__}, not a ModelIdentity")
    for field in ("model_name", "model_version", "weights_fingerprint"):
        value = getattr(found, field)
        if not isinstance(value, str) or not value.strip():
            _fail(name, "identity()", f"{field} must be a non-empty string (got {value!r})")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in found.libraries.items()):
        _fail(name, "identity()", "libraries must map library names to version strings")
    try:
        json.dumps(found.as_dict())
    except (TypeError, ValueError) as exc:
        _fail(name, "identity()", f"is not JSON-serialisable (it goes into every asset): {exc}")


def _small_request(name: str, plugin: Plugin, prompt: str, params: dict[str, Any]) -> GenerationRequest:
    from plugins.validation import build_request  # Hallmark's validation: needs its settings

    caps = plugin.capabilities
    fields: dict[str, Any] = {"prompt": prompt, "seed": 1, "num_images": min(2, caps.max_images)}
    if caps.sizes is not None and not caps.aspect_ratios:
        side = _smallest(caps.sizes.minimum, caps.sizes.multiple_of)
        fields.update(width=side, height=side)
    if params:
        fields["params"] = params
    try:
        return build_request(plugin, **fields)
    except RequestInvalid as exc:
        return _fail(name, "validate", f"a small valid request was refused: {exc}")


def _check_generate(name: str, plugin: Plugin, prompt: str, params: dict[str, Any]) -> None:
    request = _small_request(name, plugin, prompt, params)
    progress: list[tuple[int, int]] = []
    plugin.load()
    try:
        try:
            result = plugin.generate(
                request, lambda step, total: progress.append((step, total)), lambda: False
            )
        except Exception as exc:
            _fail(name, "generate", f"raised {type(exc).__name__} on a small valid request: {exc}")
        _check_result(name, request, result)
        _check_progress(name, progress)
        try:
            plugin.generate(request, lambda step, total: None, lambda: True)
        except Cancelled:
            pass
        except Exception as exc:
            _fail(name, "cancellation", f"raised {type(exc).__name__} instead of Cancelled: {exc}")
        else:
            _fail(name, "cancellation", "generate returned although is_cancelled() was true throughout")
        if plugin.capabilities.max_batch > 1:
            _check_batch(name, plugin, request, result)
    finally:
        plugin.unload()


def _check_batch(name: str, plugin: Plugin, request: GenerationRequest, alone: GenerationResult) -> None:
    """``generate_batch`` keeps its contract: one result per request, each request's own seeds."""
    other = dataclasses.replace(request, prompt=f"{request.prompt} (second)", seed=request.seed + 100)
    try:
        results = plugin.generate_batch([request, other], [lambda *_: None] * 2, [lambda: False] * 2)
    except Exception as exc:
        _fail(name, "generate_batch", f"raised {type(exc).__name__} on two compatible requests: {exc}")
    if not isinstance(results, list) or len(results) != 2:
        _fail(name, "generate_batch", "did not return a list with one result per request")
    for given, result in zip((request, other), results, strict=True):
        _check_result(name, given, result)
    first = results[0]
    if first is None or [image.seed for image in first.images] != [image.seed for image in alone.images]:
        _fail(name, "generate_batch", "the first request's images do not have the seeds generate gives them")
    dropped = plugin.generate_batch([request, other], [lambda *_: None] * 2, [lambda: True, lambda: False])
    if dropped[0] is not None or dropped[1] is None:
        _fail(name, "generate_batch", "a cancelled request must give None, the others their results")
    try:
        plugin.generate_batch([request, other], [lambda *_: None] * 2, [lambda: True] * 2)
    except Cancelled:
        return
    _fail(name, "generate_batch", "returned although every request was cancelled (raise Cancelled)")


def _check_result(name: str, request: GenerationRequest, result: Any) -> None:
    if not isinstance(result, GenerationResult):
        _fail(name, "generate", f"returned {type(result).__name__}, not a GenerationResult")
    if len(result.images) != request.num_images:
        _fail(name, "generate", f"returned {len(result.images)} images for {request.num_images} requested")
    wanted = (request.width, request.height)
    for index, item in enumerate(result.images):
        if not isinstance(item, GeneratedImage) or not isinstance(item.image, Image.Image):
            _fail(name, "generate", f"image {index} is not a GeneratedImage holding a PIL image")
        if item.image.size != wanted:
            _fail(
                name,
                "generate",
                f"image {index} is {item.image.size[0]}x{item.image.size[1]}, not the requested {wanted[0]}x{wanted[1]}",
            )
        if isinstance(item.seed, bool) or not isinstance(item.seed, int):
            _fail(name, "generate", f"image {index} has seed {item.seed!r}, not an integer")
    if result.cost is not None and (
        isinstance(result.cost, bool) or not isinstance(result.cost, int | float) or result.cost < 0
    ):
        _fail(name, "generate", f"cost {result.cost!r} is not a non-negative number")


def _check_progress(name: str, progress: list[tuple[int, int]]) -> None:
    if not progress:
        _fail(name, "progress", "generate never called on_progress")
    previous = -1
    for step, total in progress:
        if not (isinstance(step, int) and isinstance(total, int) and 0 <= step <= total and total > 0):
            _fail(name, "progress", f"on_progress({step!r}, {total!r}) is not 0 <= step <= total, total > 0")
        if step < previous:
            _fail(name, "progress", f"went back from step {previous} to {step}")
        previous = step
    step, total = progress[-1]
    if step != total:
        _fail(name, "progress", f"ended at step {step} of {total}, not at its total")
