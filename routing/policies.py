"""Routing policies: validate, create, change and delete them, audited. The only writer of
``RoutingPolicy``.

A policy is admin input: every plugin id must name an installed plugin and every required
capability one that some installed plugin can declare, so a policy cannot point at anything
outside the registry. Errors name the field at fault, e.g. ``tiers.draft[1]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from governance.audit_trail import record_event
from hallmark.errors import InvalidInput
from plugins import registry
from routing.models import TIERS, RoutingPolicy

#: Capabilities every plugin declares one way or the other (``Capabilities`` fields).
BUILT_IN_CAPABILITIES = ("negative_prompt", "seed_deterministic")
_FIELDS = ("name", "tiers", "max_cost_per_image_usd", "required_capabilities", "breaker", "default")


def known_capabilities() -> set[str]:
    """The capability names a policy may require: the built-in ones and every feature an
    installed plugin declares."""
    known = set(BUILT_IN_CAPABILITIES)
    for entry in registry.discover().values():
        if entry.plugin_class is not None:
            known.update(entry.plugin_class.capabilities.features)
    return known


def clean(data: Any, *, partial: bool = False) -> dict[str, Any]:
    """The model fields of a policy from the API's shape, or ``InvalidInput`` naming each field.

    ``{"name", "tiers": {"draft": [...], "final": [...]}, "max_cost_per_image_usd"?,
    "required_capabilities"?, "breaker"?: {"failures", "probe_after_s"}, "default"?}``.
    With ``partial`` (a PATCH) absent fields are left as they are.
    """
    if not isinstance(data, Mapping):
        raise InvalidInput({"non_field_errors": ["The request body must be a JSON object."]})
    errors: dict[str, list[str]] = {name: ["Unknown field."] for name in sorted(set(data) - set(_FIELDS))}
    cleaned: dict[str, Any] = {}
    if "name" in data or not partial:
        name = data.get("name")
        if not isinstance(name, str) or not name or len(name) > 63 or not _is_slug(name):
            errors["name"] = ["Required: 1 to 63 letters, digits, '-' or '_'."]
        else:
            cleaned["name"] = name
    if "tiers" in data or not partial:
        cleaned["tiers"] = _clean_tiers(data.get("tiers"), errors)
    if "max_cost_per_image_usd" in data:
        cleaned["max_cost_per_image_usd"] = _clean_cost(data["max_cost_per_image_usd"], errors)
    if "required_capabilities" in data:
        cleaned["required_capabilities"] = _clean_capabilities(data["required_capabilities"], errors)
    if "breaker" in data:
        cleaned.update(_clean_breaker(data["breaker"], errors))
    if "default" in data:
        if not isinstance(data["default"], bool):
            errors["default"] = ["Must be true or false."]
        else:
            cleaned["is_default"] = data["default"]
    if errors:
        raise InvalidInput(errors)
    return cleaned


def _is_slug(value: str) -> bool:
    return all(c.isascii() and (c.isalnum() or c in "-_") for c in value)


def _clean_tiers(tiers: Any, errors: dict[str, list[str]]) -> dict[str, list[str]]:
    if not isinstance(tiers, Mapping) or not tiers:
        errors["tiers"] = [f"Required: an object mapping {' and/or '.join(TIERS)} to lists of plugin ids."]
        return {}
    installed = registry.discover()
    cleaned: dict[str, list[str]] = {}
    for tier, plugin_ids in tiers.items():
        if tier not in TIERS:
            errors[f"tiers.{tier}"] = [f"Unknown tier; the tiers are {', '.join(TIERS)}."]
            continue
        if not isinstance(plugin_ids, list) or not plugin_ids:
            errors[f"tiers.{tier}"] = ["Must be a non-empty list of plugin ids, in order of preference."]
            continue
        for index, plugin_id in enumerate(plugin_ids):
            where = f"tiers.{tier}[{index}]"
            if not isinstance(plugin_id, str) or plugin_id not in installed:
                shown = plugin_id if isinstance(plugin_id, str) and len(plugin_id) <= 63 else "this value"
                errors[where] = [f"No plugin {shown!r} is installed."]
            elif plugin_ids.index(plugin_id) != index:
                errors[where] = [f"Plugin {plugin_id!r} is listed twice."]
        cleaned[tier] = [p for p in plugin_ids if isinstance(p, str)]
    return cleaned


def _clean_cost(value: Any, errors: dict[str, list[str]]) -> Decimal | None:
    if value is None:
        return None
    message = ["Must be null or a number of US dollars of at least 0 (at most 6 decimals)."]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        errors["max_cost_per_image_usd"] = message
        return None
    try:
        cost = Decimal(str(value))
    except InvalidOperation:
        errors["max_cost_per_image_usd"] = message
        return None
    if not cost.is_finite() or cost < 0 or cost >= 10**6 or cost != cost.quantize(Decimal("0.000001")):
        errors["max_cost_per_image_usd"] = message
        return None
    return cost


def _clean_capabilities(value: Any, errors: dict[str, list[str]]) -> list[str]:
    if not isinstance(value, list):
        errors["required_capabilities"] = ["Must be a list of capability names."]
        return []
    known = known_capabilities()
    for index, name in enumerate(value):
        if not isinstance(name, str) or name not in known:
            errors[f"required_capabilities[{index}]"] = [
                f"Unknown capability; the installed plugins declare {', '.join(sorted(known))}."
            ]
    return sorted({name for name in value if isinstance(name, str)})


def _clean_breaker(value: Any, errors: dict[str, list[str]]) -> dict[str, int]:
    if not isinstance(value, Mapping):
        errors["breaker"] = ['Must be an object: {"failures": 1-100, "probe_after_s": 1-86400}.']
        return {}
    cleaned: dict[str, int] = {}
    for key, field, low, high in (
        ("failures", "breaker_failures", 1, 100),
        ("probe_after_s", "breaker_probe_after_s", 1, 86400),
    ):
        if key not in value:
            continue
        number = value[key]
        if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
            errors[f"breaker.{key}"] = [f"Must be a whole number from {low} to {high}."]
        else:
            cleaned[field] = number
    for key in sorted(set(value) - {"failures", "probe_after_s"}):
        errors[f"breaker.{key}"] = ["Unknown field."]
    return cleaned


def as_dict(policy: RoutingPolicy) -> dict[str, Any]:
    """A policy in the API's shape (also what its audit events record)."""
    cost = policy.max_cost_per_image_usd
    return {
        "name": policy.name,
        "tiers": policy.tiers,
        "max_cost_per_image_usd": None if cost is None else str(cost.normalize()),
        "required_capabilities": list(policy.required_capabilities),
        "breaker": {"failures": policy.breaker_failures, "probe_after_s": policy.breaker_probe_after_s},
        "default": policy.is_default,
    }


def _unset_other_defaults(policy: RoutingPolicy, *, acting_user: User) -> None:
    """A new default takes over: the policy that was the default stops being it, with an audit
    event of its own (its history would otherwise never say when it lost the default)."""
    if not policy.is_default:
        return
    for other in RoutingPolicy.objects.select_for_update().filter(is_default=True).exclude(pk=policy.pk):
        before = as_dict(other)
        other.is_default = False
        other.updated_by = acting_user
        other.save(update_fields=["is_default", "updated_by", "updated_at"])
        record_event(
            "routing.policy_changed",
            acting_user=acting_user,
            target=other,
            data={"before": before, "after": as_dict(other)},
        )


@contextmanager
def _concurrent_change_refused(fields: Mapping[str, Any]) -> Iterator[None]:
    """Turn the unique constraints' refusal of a change that raced another admin's (the same
    name, or a second default, committed in between) into a 400 naming the field."""
    try:
        yield
    except IntegrityError:
        name = fields.get("name")
        if name is not None and RoutingPolicy.objects.filter(name=name).exists():
            raise InvalidInput({"name": [f"A policy named {name!r} already exists."]}) from None
        raise InvalidInput(
            {"default": ["Another policy was made the default at the same time; try again."]}
        ) from None


def create_policy(data: Any, *, acting_user: User) -> RoutingPolicy:
    """Create a policy (``routing.policy_created``); a new default replaces the old one."""
    fields = clean(data)
    with _concurrent_change_refused(fields), transaction.atomic():
        if RoutingPolicy.objects.filter(name=fields["name"]).exists():
            raise InvalidInput({"name": [f"A policy named {fields['name']!r} already exists."]})
        policy = RoutingPolicy(created_by=acting_user, updated_by=acting_user, **fields)
        _unset_other_defaults(policy, acting_user=acting_user)
        policy.save()
        record_event(
            "routing.policy_created", acting_user=acting_user, target=policy, data={"after": as_dict(policy)}
        )
    return policy


def change_policy(policy: RoutingPolicy, data: Any, *, acting_user: User, partial: bool) -> RoutingPolicy:
    """Change a policy (``routing.policy_changed`` with before and after)."""
    fields = clean(data, partial=partial)
    with _concurrent_change_refused(fields), transaction.atomic():
        locked = RoutingPolicy.objects.select_for_update().get(pk=policy.pk)
        renamed = "name" in fields and fields["name"] != locked.name
        if renamed and RoutingPolicy.objects.filter(name=fields["name"]).exists():
            raise InvalidInput({"name": [f"A policy named {fields['name']!r} already exists."]})
        before = as_dict(locked)
        if not partial:
            # A PUT sets every field: those left out return to their defaults.
            fields = {
                "max_cost_per_image_usd": None,
                "required_capabilities": [],
                "breaker_failures": 3,
                "breaker_probe_after_s": 60,
                "is_default": False,
                **fields,
            }
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.updated_by = acting_user
        _unset_other_defaults(locked, acting_user=acting_user)
        locked.save()
        after = as_dict(locked)
        if after != before:
            record_event(
                "routing.policy_changed",
                acting_user=acting_user,
                target=locked,
                data={"before": before, "after": after},
            )
    return locked


def delete_policy(policy: RoutingPolicy, *, acting_user: User) -> None:
    """Delete a policy (``routing.policy_deleted``). Jobs keep its name."""
    with transaction.atomic():
        pk, before = policy.pk, as_dict(policy)
        policy.delete()
        record_event(
            "routing.policy_deleted",
            acting_user=acting_user,
            target=(RoutingPolicy._meta.label_lower, str(pk)),
            data={"before": before},
        )
