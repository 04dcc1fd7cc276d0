"""The asset page's Promote action (draft to final, docs/lineage.md): a form panel that the asset
page loads (assets sits below generation, so the page links here rather than importing this),
its own page for a browser without script or a refused request, and the POST, which goes
through ``generation.promote.promote`` as the API's promote action does."""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from assets.models import Asset
from generation import promote as promotion
from generation import services
from generation.form_choices import (
    TARGET_PLUGIN,
    TARGET_TIER,
    enabled_plugins,
    form_field_of,
    routing_choices,
)
from generation.models import Derivation
from governance import roles
from hallmark.errors import InvalidInput, ServiceError

# The form's fields that show their errors beside them; any other goes above the form.
_FIELDS = ("mode", "target", "tier", "policy", "plugin", "strength")


def _require_creator(request: HttpRequest) -> None:
    if not roles.has_role(request.user, roles.CREATOR):
        raise PermissionDenied("You need the creator role to promote an asset.")


def promote_body(values: Mapping[str, str]) -> dict[str, Any]:
    """The promote request from the form's text: the mode, the target its radio chose (a tier
    with its optional policy, or a plugin), and the strength of a refinement (a re-render has
    none, whatever the input holds). Text that is not a number reaches the service as it is,
    which names the field."""
    body: dict[str, Any] = {"mode": values.get("mode", "")}
    if values.get("target") == TARGET_PLUGIN:
        body["plugin"] = values.get("plugin") or None
    else:
        body["tier"] = values.get("tier", "")
        if values.get("policy", "").strip():
            body["policy"] = values["policy"]
    strength = values.get("strength", "").strip()
    if body["mode"] == Derivation.REFINE and strength:
        try:
            number = float(strength)
            body["strength"] = number if math.isfinite(number) else strength
        except ValueError:
            body["strength"] = strength
    if values.get("idempotency_key"):
        body["idempotency_key"] = values["idempotency_key"]
    return body


def _context(
    asset: Asset, values: Mapping[str, str], errors: Mapping[str, list[str]] | None = None
) -> dict[str, Any]:
    by_field: dict[str, list[str]] = {}
    other: list[str] = []
    for name, messages in (errors or {}).items():
        if form_field_of(name) in _FIELDS:
            by_field.setdefault(form_field_of(name), []).extend(messages)
        else:
            other.extend(
                message if name == "non_field_errors" else f"{name}: {message}" for message in messages
            )
    return {
        "asset": asset,
        "values": {"mode": "rerender", "target": TARGET_TIER, "tier": "final", **values},
        "errors": by_field,
        "other_errors": other,
        "modes": (
            (Derivation.RERENDER.value, "Re-render: the same prompt and seed with the target model"),
            (Derivation.REFINE.value, "Refine: redraw this image, image to image (models that refine)"),
        ),
        "routing": routing_choices(),
        "plugins": [(plugin_id, cls.name) for plugin_id, cls in enabled_plugins().items()],
        "strength": {
            "minimum": promotion.MIN_STRENGTH,
            "maximum": promotion.MAX_STRENGTH,
            "default": promotion.DEFAULT_STRENGTH,
        },
        # One key per form drawn: a second click of the same form returns the first job.
        "idempotency_key": values.get("idempotency_key") or secrets.token_hex(16),
    }


@login_required
def promote_panel(request: HttpRequest, asset_id: UUID) -> HttpResponse:
    """The promote form alone, for the asset page to load (creators only)."""
    _require_creator(request)
    asset = get_object_or_404(Asset.objects.live(), pk=asset_id)
    return render(request, "generation/_promote_form.html", _context(asset, {}))


@login_required
@require_http_methods(["GET", "POST"])
def promote_page(request: HttpRequest, asset_id: UUID) -> HttpResponseBase:
    """GET: the promote form on a page of its own. POST: queue the promotion and go to the new
    job's page; a refusal shows the form again with each error beside its field."""
    _require_creator(request)
    asset = get_object_or_404(Asset.objects.live(), pk=asset_id)
    if request.method != "POST":
        return render(request, "generation/promote.html", _context(asset, {}))
    values = {name: request.POST[name] for name in (*_FIELDS, "idempotency_key") if name in request.POST}
    try:
        job, _ = promotion.promote(asset.pk, acting_user=request.user, body=promote_body(values))  # type: ignore[arg-type]
    except InvalidInput as exc:
        errors, status = exc.errors, 400
    except services.QueueFull as exc:
        errors, status = {"non_field_errors": [str(exc)]}, 429
    except services.IdempotencyConflict as exc:
        errors, status = {"non_field_errors": [str(exc)]}, 409
    except ServiceError as exc:  # not found since the page was drawn, or a budget spent
        errors, status = {"non_field_errors": [str(exc)]}, exc.http_status
    else:
        return redirect("job-detail-page", job_id=job.pk)
    if status == 409 or "idempotency_key" in errors:
        # The key is another job's (the form came back with the Back button and other settings)
        # or was altered: the form drawn again gets a new one, or it could only be refused again.
        values.pop("idempotency_key", None)
    return render(request, "generation/promote.html", _context(asset, values, errors), status=status)
