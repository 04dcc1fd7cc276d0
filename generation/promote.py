"""Promote a draft: re-render it with another model, or refine it image to image.

``promote`` turns ``POST /api/v1/assets/{id}/promote/`` into an ordinary generation job through
``generation.services.submit`` (validation, licence policy, queue cap, audit, enqueue), with
the draft recorded as the job's source (``generation.derivation.DerivedFrom``). Its assets get
``parent`` = the draft, and their manifests name the draft as a ``parentOf`` ingredient
(``generation.lineage`` on the worker).

- ``rerender``: the draft's prompt, negative prompt and seed, its size adapted to what the
  target declares (``adapted_size``), and the draft's parameters that the target accepts and
  that were not merely the draft plugin's defaults (a draft model's step count is no guide for
  a final one).
- ``refine``: the same request, plus the draft's image to redraw at ``strength``; only for
  targets that declare ``Capabilities.refine``.

The target is a plugin named by the caller, or the plugin a tier resolves to through
``_choose_final_plugin``, the single place routing decides it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import User

from assets.models import Asset
from generation import services
from generation.derivation import DerivedFrom
from generation.models import Derivation, GenerationJob
from governance import roles
from hallmark.errors import InvalidInput, ServiceError
from hallmark.sdk import Plugin, RequestInvalid
from plugins import registry
from plugins import services as plugin_services
from routing.services import RoutingDecision, choose_plugin

#: The fields a promote request may have.
PROMOTE_FIELDS = frozenset({"tier", "policy", "plugin", "mode", "strength", "idempotency_key"})
MODES = (Derivation.RERENDER.value, Derivation.REFINE.value)
TIERS = ("draft", "final")
MIN_STRENGTH = 0.05
MAX_STRENGTH = 1.0
#: diffusers' img2img default: enough change to add detail, little enough to keep the draft.
DEFAULT_STRENGTH = 0.6


class AssetNotFound(ServiceError):
    """No live asset with that id (the API answers 404, as for any unknown asset)."""

    http_status = 404


class NotPermitted(ServiceError):
    """The caller does not hold the creator role."""

    http_status = 403


def promote(asset_id: Any, *, acting_user: User, body: Any) -> tuple[GenerationJob, bool]:
    """Queue the job that promotes the live asset ``asset_id``; return ``(job, created)``.

    Raises ``InvalidInput`` naming each field at fault, ``AssetNotFound``, ``NotPermitted``, and
    whatever ``generation.services.submit`` raises (``QueueFull``, ``IdempotencyConflict``).
    """
    if not roles.has_role(acting_user, roles.CREATOR):
        raise NotPermitted("Only creators may promote an asset.")
    if not isinstance(body, Mapping):
        raise InvalidInput({"non_field_errors": ["The request body must be a JSON object."]})
    errors: dict[str, list[str]] = {name: ["Unknown field."] for name in sorted(set(body) - PROMOTE_FIELDS)}
    mode = body.get("mode")
    if mode not in MODES:
        errors["mode"] = [f"Must be one of {', '.join(MODES)}."]
    strength = _strength(body, mode, errors)
    has_plugin, has_tier = body.get("plugin") is not None, body.get("tier") is not None
    if has_plugin == has_tier:
        errors["plugin"] = ["Give either plugin (a plugin id) or tier (draft or final), not both."]
    elif has_tier and body.get("tier") not in TIERS:
        errors["tier"] = [f"Must be one of {', '.join(TIERS)}."]
    elif has_plugin and not isinstance(body.get("plugin"), str):
        errors["plugin"] = ["Must be a plugin id."]
    if body.get("policy") is not None and (has_plugin or not isinstance(body.get("policy"), str)):
        errors["policy"] = ["A policy name goes with tier, not with plugin."]
    if errors:
        raise InvalidInput(errors)
    asset = Asset.objects.live().filter(pk=asset_id).first()
    if asset is None:
        raise AssetNotFound("No such asset.")
    decision = None
    if has_plugin:
        plugin_id = body["plugin"]
    else:
        decision = _choose_final_plugin(
            tier=body["tier"], policy=body.get("policy"), mode=str(mode), acting_user=acting_user
        )
        plugin_id = decision.plugin_id
    plugin = _target(plugin_id, acting_user)
    if mode == Derivation.REFINE and not plugin.capabilities.refine:
        raise InvalidInput(
            {"mode": [f"{plugin_id} cannot refine an image (it does not declare refine); use rerender."]}
        )
    return services.submit(
        acting_user=acting_user,
        plugin_id=plugin_id,
        fields=derived_fields(asset, plugin),
        idempotency_key=body.get("idempotency_key"),
        derived_from=DerivedFrom(str(asset.pk), str(mode), strength),
        routed=decision,
    )


def _strength(body: Mapping[str, Any], mode: Any, errors: dict[str, list[str]]) -> float | None:
    """The refinement's strength (default ``DEFAULT_STRENGTH``); None for a re-render."""
    value = body.get("strength")
    if value is None:
        return DEFAULT_STRENGTH if mode == Derivation.REFINE else None
    if mode != Derivation.REFINE:
        errors["strength"] = ["Only a refinement has a strength (mode refine)."]
    elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        errors["strength"] = ["Must be a number."]
    elif not MIN_STRENGTH <= value <= MAX_STRENGTH:
        errors["strength"] = [f"Must be between {MIN_STRENGTH:g} and {MAX_STRENGTH:g}."]
    else:
        return float(value)
    return None


def _choose_final_plugin(*, tier: str, policy: str | None, mode: str, acting_user: User) -> RoutingDecision:
    """The routing decision for a promotion that names a tier: the one call site of routing.

    The tier's plugins under ``policy`` (the default policy when None), as for a generation
    request; a refinement skips plugins that cannot refine, so that the fallback order of the
    policy still applies. Raises ``InvalidInput`` naming ``tier`` (or ``policy``) when nothing
    qualifies. The job records the decision (``routed_to``, ``routing_reason``).
    """
    needs = ("refine",) if mode == Derivation.REFINE else ()
    return choose_plugin(acting_user=acting_user, tier=tier, policy_name=policy, required_capabilities=needs)


def _target(plugin_id: str, acting_user: User) -> Plugin:
    """The enabled, healthy target plugin, or a 400 naming ``plugin`` (as ``submit`` words it)."""
    try:
        return plugin_services.available_plugin(plugin_id)
    except plugin_services.PluginUnavailable as exc:
        shown = str(exc) if roles.has_role(acting_user, roles.ADMIN) else exc.public_message
        raise RequestInvalid({"plugin": [shown]}) from None


def derived_fields(asset: Asset, plugin: Plugin) -> dict[str, Any]:
    """The request that re-makes ``asset`` with ``plugin``: same prompts and seed, an adapted
    size, and the parameters worth carrying over (see the module's docstring)."""
    caps = plugin.capabilities
    params = _carried_params(asset, plugin)
    width, height = adapted_size(plugin, asset.width, asset.height)
    if caps.aspect_ratios and "aspect_ratio" in plugin.params_schema:
        ratio = next(name for name, size in caps.aspect_ratios.items() if size == (width, height))
        params["aspect_ratio"] = ratio
    return {
        "prompt": asset.prompt,
        # A plugin without negative prompts gets none rather than a refusal.
        "negative_prompt": asset.negative_prompt if caps.negative_prompt else "",
        "seed": int(asset.seed) % (min(caps.seed_max, 2**63 - 1) + 1),
        "width": width,
        "height": height,
        "num_images": 1,
        "params": params,
    }


def _carried_params(asset: Asset, plugin: Plugin) -> dict[str, Any]:
    source_defaults: dict[str, Any] = {}
    entry = registry.discover().get(asset.plugin_id)
    if entry is not None and not entry.broken:
        source_defaults = {k: spec.default for k, spec in entry.get_class().params_schema.items()}
    carried: dict[str, Any] = {}
    for key, value in (asset.params or {}).items():
        spec = plugin.params_schema.get(key)
        if spec is None or key == "aspect_ratio" or value is None:
            continue
        if key in source_defaults and (asset.plugin_id != plugin.id) and value == source_defaults[key]:
            continue
        try:
            carried[key] = spec.clean(value)
        except ValueError:
            continue  # outside the target's range: its default applies
    return carried


def adapted_size(plugin: Plugin, width: int, height: int) -> tuple[int, int]:
    """The size closest to ``width`` x ``height`` that ``plugin`` makes: a named aspect ratio's
    size nearest in ratio, or each side brought into the declared range and rounded to its
    multiple, keeping the ratio as far as the range allows."""
    caps = plugin.capabilities
    if caps.aspect_ratios:
        wanted = width / height
        return min(caps.aspect_ratios.values(), key=lambda size: abs(math.log((size[0] / size[1]) / wanted)))
    sizes = caps.sizes
    assert sizes is not None  # check_declarations: sizes or aspect ratios
    scale = min(1.0, sizes.maximum / max(width, height))
    scale = max(scale, sizes.minimum / min(width, height))

    def fit(value: float) -> int:
        step = sizes.multiple_of
        rounded = round(value / step) * step
        low = math.ceil(sizes.minimum / step) * step
        high = (sizes.maximum // step) * step
        return min(max(rounded, low), high)

    return fit(width * scale), fit(height * scale)
