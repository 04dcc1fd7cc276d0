"""What the generate and promote forms offer besides a plugin's own fields: enabled plugins,
routing tiers and policies, checklists; and the form's text for them turned into the fields
the services take (``generation.services.submit``, ``generation.promote.promote``).

Nothing here validates: blank text means "not given" and anything else reaches the service as
typed (a number where the text is one), so the form refuses exactly what the API refuses, with
the same messages, and the view places them beside the fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from acceptance.models import Checklist
from generation.form_fields import Choice
from hallmark.sdk import Plugin
from plugins import services as plugin_services
from routing.models import TIERS, RoutingPolicy

#: The generate form's ``target``: a named plugin, or a tier that routing resolves.
TARGET_PLUGIN = "plugin"
TARGET_TIER = "tier"


@dataclass(frozen=True)
class RoutingChoices:
    """The tiers and policies a request may name (every role may read and use every policy)."""

    tiers: tuple[Choice, ...]
    policies: tuple[Choice, ...]
    default_policy: str

    @property
    def available(self) -> bool:
        """Whether any policy exists (without one, a tier cannot be resolved)."""
        return bool(self.policies)


#: The error routing names when every plugin of the tier is over its policy's price ceiling:
#: a form shows it beside its tier select.
PRICE_CEILING_ERROR = "max_cost_per_image_usd"


def form_field_of(error_name: str) -> str:
    """The form input beside which an error of the API's request named ``error_name`` shows."""
    return TARGET_TIER if error_name == PRICE_CEILING_ERROR else error_name


def enabled_plugins() -> dict[str, type[Plugin]]:
    """Enabled, loadable plugins by id, in the registry's order."""
    return {
        s.id: s.entry.get_class()
        for s in plugin_services.states()
        if s.enabled and not s.entry.broken and s.entry.plugin_class is not None
    }


def routing_choices() -> RoutingChoices:
    """Every tier and policy; the default policy is marked in its label."""
    policies = list(RoutingPolicy.objects.order_by("name"))
    default = next((p.name for p in policies if p.is_default), "")
    return RoutingChoices(
        tiers=tuple(Choice(tier, tier.capitalize()) for tier in TIERS),
        policies=tuple(Choice(p.name, f"{p.name} (default)" if p.is_default else p.name) for p in policies),
        default_policy=default,
    )


@dataclass(frozen=True)
class ChecklistChoice:
    """One checklist of the select; ``typography`` when its latest version reads text back."""

    value: str
    label: str
    typography: bool


def checklist_choices() -> tuple[ChecklistChoice, ...]:
    """Every checklist, by name, judged by its latest version (the one a job records)."""
    choices = []
    for checklist in Checklist.objects.prefetch_related("versions").order_by("name"):
        latest = max(checklist.versions.all(), key=lambda version: version.number, default=None)
        typography = latest is not None and any(c.get("type") == "typography" for c in latest.checks)
        label = f"{checklist.name} (reads text: typography)" if typography else checklist.name
        choices.append(ChecklistChoice(str(checklist.pk), label, typography))
    return tuple(choices)


def number_or_text(text: str | None) -> int | str | None:
    """A whole number from the form's text; None when blank; the text itself when it is not a
    number (the service then names the field)."""
    if text is None or text.strip() == "":
        return None
    try:
        return int(text)
    except ValueError:
        return text


def routing_fields(values: Mapping[str, str]) -> dict[str, Any]:
    """``tier`` and ``policy`` for a form whose target is a tier; nothing otherwise."""
    if values.get("target") != TARGET_TIER:
        return {}
    fields: dict[str, Any] = {"tier": values.get("tier", "")}
    if values.get("policy", "").strip():
        fields["policy"] = values["policy"]
    return fields


def acceptance_fields(values: Mapping[str, str]) -> dict[str, Any]:
    """``checklist``, ``expected_text`` and ``max_attempts_to_pass``, those given."""
    fields: dict[str, Any] = {}
    checklist = number_or_text(values.get("checklist"))
    if checklist is not None:
        fields["checklist"] = checklist
    if values.get("expected_text", "").strip():
        fields["expected_text"] = values["expected_text"]
    attempts = number_or_text(values.get("max_attempts_to_pass"))
    if attempts is not None:
        fields["max_attempts_to_pass"] = attempts
    return fields
