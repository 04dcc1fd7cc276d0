"""Which plugin serves a request that names a tier or a policy instead of a plugin.

The entry point, for generation's submit and for promotion::

    choose_plugin(
        *,
        acting_user: User,
        tier: str | None,                        # "draft" | "final"; None: the policy's first tier
        policy_name: str | None = None,          # None: the default policy
        required_capabilities: Iterable[str] = (),  # on top of the policy's own
    ) -> RoutingDecision(plugin_id, reason, policy, tier, cost_per_image_usd, skipped, plugin)

It walks the tier's plugins in the policy's order and takes the first that is installed,
declares every required capability, costs no more per image than the policy's ceiling
(``routing.costs``), is enabled and healthy (``plugins.services.available_plugin``) and whose
circuit breaker is closed, or open long enough for this request to be its probe
(``routing.breakers``). ``reason`` is ``"preferred"`` for the first plugin, otherwise
``"fallback: <why each earlier one was skipped>"`` (e.g. ``"fallback: ideogram-v2 disabled"``),
with ``" (breaker probe)"`` added when the request is a half-open breaker's probe. When no
plugin qualifies it raises ``InvalidInput`` naming ``tier`` (``policy`` for an unknown policy,
``max_cost_per_image_usd`` when every plugin was too dear) and why each was skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth.models import User

from hallmark.errors import InvalidInput
from hallmark.sdk import Plugin
from plugins import registry
from plugins import services as plugin_services
from routing import breakers, costs
from routing.models import TIERS, BreakerState, RoutingPolicy


@dataclass(frozen=True)
class RoutingDecision:
    """The plugin routing chose, why, and under which policy and tier.

    ``skipped`` lists ``(plugin_id, why)`` for each plugin passed over; ``plugin`` is the
    available instance (configured, not loaded), so that the caller need not look it up again.
    """

    plugin_id: str
    reason: str
    policy: str
    tier: str
    cost_per_image_usd: Decimal
    skipped: tuple[tuple[str, str], ...] = ()
    probe: bool = False
    plugin: Plugin | None = field(default=None, compare=False, repr=False)

    def audit_data(self) -> dict[str, object]:
        """What the ``generation.requested`` event records of the decision."""
        return {
            "policy": self.policy,
            "tier": self.tier,
            "routed_to": self.plugin_id,
            "reason": self.reason,
            "skipped": [{"plugin": p, "why": why} for p, why in self.skipped],
            "cost_per_image_usd": str(self.cost_per_image_usd),
        }


def policy_for(policy_name: str | None) -> RoutingPolicy:
    """The named policy, or the default one; ``InvalidInput`` naming ``policy`` when absent."""
    if policy_name is None:
        policy = RoutingPolicy.objects.filter(is_default=True).first()
        if policy is None:
            raise InvalidInput(
                {
                    "tier": [
                        "No routing policy is the default: name a policy, or ask an admin to make one the default."
                    ]
                }
            )
        return policy
    # NUL: PostgreSQL refuses it in a query's text (a 500), and no policy's name holds one.
    if not isinstance(policy_name, str) or len(policy_name) > 63 or "\x00" in policy_name:
        raise InvalidInput({"policy": ["Must be the name of a routing policy."]})
    policy = RoutingPolicy.objects.filter(name=policy_name).first()
    if policy is None:
        raise InvalidInput({"policy": [f"No routing policy is named {policy_name!r}."]})
    return policy


def _has_capability(plugin_class: type[Plugin], name: str) -> bool:
    caps = plugin_class.capabilities
    if name == "negative_prompt":
        return caps.negative_prompt
    if name == "seed_deterministic":
        return caps.seed_deterministic
    if name == "refine":
        return caps.refine
    return name in caps.features


def _skip_reason(
    plugin_id: str, policy: RoutingPolicy, required: set[str], open_breakers: dict[str, BreakerState]
) -> tuple[str, Decimal, Plugin | None, bool]:
    """``(why it is skipped or "", cost per image, instance, probe)`` for one candidate."""
    entry = registry.discover().get(plugin_id)
    if entry is None:
        return f"{plugin_id} not installed", Decimal(0), None, False
    if entry.plugin_class is None:
        return f"{plugin_id} broken", Decimal(0), None, False
    missing = sorted(name for name in required if not _has_capability(entry.plugin_class, name))
    if missing:
        return f"{plugin_id} lacks {', '.join(missing)}", Decimal(0), None, False
    # The price first (the stored configuration, one query), then availability, whose health
    # check can take a plugin's own time.
    priced = costs.basis_of(entry.plugin_class) == "per_image"  # only a price is configured
    cost = costs.cost_per_image(
        entry.plugin_class, plugin_services.state(plugin_id).config if priced else None
    )
    ceiling = policy.max_cost_per_image_usd
    if ceiling is not None and cost > ceiling:
        return f"{plugin_id} costs ${cost:.4f} per image, over the ${ceiling:.4f} ceiling", cost, None, False
    try:
        plugin = plugin_services.available_plugin(plugin_id)
    except plugin_services.PluginUnavailable as exc:
        return f"{plugin_id} {exc.code}", Decimal(0), None, False
    state = open_breakers.get(plugin_id)
    if state is not None:
        if breakers.try_probe(plugin_id, probe_after_s=policy.breaker_probe_after_s):
            return "", cost, plugin, True
        if state == BreakerState.HALF_OPEN:
            return f"{plugin_id} breaker half-open (probe in flight)", cost, None, False
        return f"{plugin_id} breaker open", cost, None, False
    return "", cost, plugin, False


def choose_plugin(
    *,
    acting_user: User,
    tier: str | None,
    policy_name: str | None = None,
    required_capabilities: Iterable[str] = (),
) -> RoutingDecision:
    """Choose the plugin for a tier of a policy (see the module docstring); ``acting_user`` is
    who asks (skip reasons are the same for every role: they name no configuration)."""
    del acting_user  # the same choice for everyone: skip reasons name no configuration
    policy = policy_for(policy_name)
    if tier is None:
        tier = next((t for t in TIERS if policy.tiers.get(t)), TIERS[0])
    if tier not in TIERS:
        raise InvalidInput({"tier": [f"Must be one of {', '.join(TIERS)}."]})
    candidates = policy.tiers.get(tier) or []
    if not candidates:
        raise InvalidInput({"tier": [f"Routing policy {policy.name!r} has no {tier} tier."]})
    required = set(policy.required_capabilities) | set(required_capabilities)
    open_breakers = {
        plugin_id: BreakerState(b.state)
        for plugin_id, b in breakers.states().items()
        if b.state != BreakerState.CLOSED
    }
    skipped: list[tuple[str, str]] = []
    for plugin_id in candidates:
        why, cost, plugin, probe = _skip_reason(plugin_id, policy, required, open_breakers)
        if why:
            skipped.append((plugin_id, why))
            continue
        reason = "preferred" if not skipped else "fallback: " + "; ".join(w for _, w in skipped)
        return RoutingDecision(
            plugin_id=plugin_id,
            reason=reason + (" (breaker probe)" if probe else ""),
            policy=policy.name,
            tier=tier,
            cost_per_image_usd=cost,
            skipped=tuple(skipped),
            probe=probe,
            plugin=plugin,
        )
    reasons = "; ".join(why for _, why in skipped)
    field_name = "max_cost_per_image_usd" if all(" ceiling" in why for _, why in skipped) else "tier"
    raise InvalidInput(
        {
            field_name: [
                f"No plugin of the {tier} tier of routing policy {policy.name!r} can take this request: {reasons}."
            ]
        }
    )
