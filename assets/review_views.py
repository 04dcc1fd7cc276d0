"""Pages: the review queue, and the review panel shown on an asset's page (htmx partials).

The buttons post to ``review_action``; the rules (roles, four eyes, states, policy, legal hold)
are ``assets.review``'s, and a refusal is shown in the panel with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from assets import retention, review
from assets.models import Asset, AssetStatus
from governance import roles
from governance.models import AuditEvent
from hallmark.errors import ServiceError

_ACTIONS: dict[str, Callable[..., Asset]] = {
    "submit": review.submit_for_review,
    "approve": review.approve,
    "reject": review.reject,
    "archive": review.archive,
}


def _panel_context(request: HttpRequest, asset: Asset, **extra: Any) -> dict[str, Any]:
    last = (
        AuditEvent.objects.filter(
            target_type="assets.asset",
            target_id=str(asset.pk),
            action__in=["asset.rejected", "asset.approved", "asset.submitted_for_review", "asset.archived"],
        )
        .order_by("-seq")
        .first()
    )
    purpose, violations = review.policy_violations(asset)
    return {
        "asset": asset,
        "actions": review.allowed_actions(asset, request.user),
        "can_hold": roles.has_role(request.user, roles.REVIEWER),
        "last_review": last,
        "purpose": purpose,
        "purpose_label": purpose.replace("_", "-"),
        "violations": violations,
        **extra,
    }


@login_required
def review_queue(request: HttpRequest) -> HttpResponse:
    """Assets waiting for review, oldest first, with approve and reject buttons."""
    if not roles.has_role(request.user, roles.REVIEWER):
        raise PermissionDenied("The review queue is for reviewers and admins.")
    waiting = (
        Asset.objects.live()
        .filter(status=AssetStatus.IN_REVIEW)
        .select_related("created_by")
        .order_by("created_at", "id")
    )
    page = Paginator(waiting, 24).get_page(request.GET.get("page"))
    rows = [_panel_context(request, asset) for asset in page.object_list]
    return render(request, "assets/review_queue.html", {"page": page, "rows": rows})


@login_required
def review_panel(request: HttpRequest, asset_id: UUID) -> HttpResponse:
    """The review panel of one asset: status, legal hold, policy verdict, allowed actions."""
    if not roles.has_role(request.user, roles.VIEWER):
        raise PermissionDenied("You need a role to see assets.")
    asset = get_object_or_404(Asset.objects.live().select_related("created_by"), pk=asset_id)
    return render(request, "assets/_review_panel.html", _panel_context(request, asset))


@login_required
@require_POST
def review_action(request: HttpRequest, asset_id: UUID, action: str) -> HttpResponse:
    """Run one review action (or place/release a legal hold) and return the updated panel;
    without htmx, go back to the asset's page."""
    if not roles.has_role(request.user, roles.VIEWER):
        raise PermissionDenied("You need a role to review assets.")
    error = ""
    status = 200
    try:
        if action == "legal-hold":
            retention.set_legal_hold(
                asset_id,
                acting_user=request.user,
                hold=request.POST.get("hold") == "true",
                reason=request.POST.get("reason", ""),
            )
        elif action in _ACTIONS:
            kwargs = {"reason": request.POST.get("reason", "")} if action == "reject" else {}
            _ACTIONS[action](asset_id, acting_user=request.user, **kwargs)
        else:
            raise Http404("No such review action.")
    except Asset.DoesNotExist:  # review.NoSuchAsset too: the page's own 404
        raise Http404("No such asset.") from None
    except ServiceError as exc:
        # The status the API gives the same refusal (403, 409, 422, 400), and its message.
        error, status = str(exc), exc.http_status
    if not request.headers.get("HX-Request") and status == 200:
        return redirect("asset-detail-page", asset_id=asset_id)
    asset = get_object_or_404(Asset.objects.live().select_related("created_by"), pk=asset_id)
    # htmx swaps the panel in place (htmx leaves 4xx responses unswapped unless told otherwise,
    # so the panel asks for them in hx-on); a plain form post gets a page around the panel.
    template = (
        "assets/_review_panel.html" if request.headers.get("HX-Request") else "assets/review_action.html"
    )
    return render(request, template, _panel_context(request, asset, error=error), status=status)
