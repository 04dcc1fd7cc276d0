"""Pages: the audit log (reviewers and admins), with filters and an on-demand chain check."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from governance import checkpoints, roles
from governance.audit_trail import verify_audit_chain
from governance.export import parse_bound
from governance.models import AuditEvent

PAGE_SIZE = 50
_TEXT_FILTERS = {"action": 64, "target_type": 64, "target_id": 64, "actor": 150}


def _require_reviewer(request: HttpRequest) -> None:
    if not roles.has_role(request.user, roles.REVIEWER):
        raise PermissionDenied("The audit log is for reviewers and admins.")


def _filtered(request: HttpRequest) -> tuple[QuerySet[AuditEvent], dict[str, str], dict[str, str]]:
    """The events the query string asks for, the filter values, and errors per filter."""
    events = AuditEvent.objects.order_by("-seq")
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, limit in _TEXT_FILTERS.items():
        # NUL never occurs in stored values, and PostgreSQL refuses it in a query.
        value = request.GET.get(name, "").replace("\x00", "").strip()[:limit]
        values[name] = value
        if value:
            events = events.filter(**{name: value})
    for name, lookup in (("after", "at__gte"), ("before", "at__lt")):
        value = request.GET.get(name, "").strip()[:40]
        values[name] = value
        if not value:
            continue
        try:
            events = events.filter(**{lookup: parse_bound(value)})
        except ValueError as exc:
            errors[name] = str(exc)
    return events, values, errors


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """Audit events newest first, filtered by action, target, actor and date; htmx swaps the
    results in place when the filters change."""
    _require_reviewer(request)
    events, values, errors = _filtered(request)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = urlencode({k: v for k, v in values.items() if v})
    context: dict[str, Any] = {"page": page, "values": values, "errors": errors, "query": query}
    # htmx asks for the results only; a plain request (or a reload of a pushed URL) gets the page.
    template = (
        "governance/_audit_results.html" if request.headers.get("HX-Request") else "governance/audit_log.html"
    )
    return render(request, template, context, status=400 if errors else 200)


@login_required
@require_POST
def audit_verify(request: HttpRequest) -> HttpResponse:
    """Walk the whole chain now, and check the latest signed checkpoint if there is one."""
    _require_reviewer(request)
    report = verify_audit_chain()
    checkpoint: dict[str, Any] | None = None
    latest = checkpoints.latest_checkpoint_file()
    if latest is not None:
        try:
            signed = checkpoints.read_file(latest)
            problem = checkpoints.verify(signed, checkpoints.load_public_key())
            checkpoint = {"seq": signed.seq, "signed_at": signed.signed_at, "problem": problem, "error": None}
        except checkpoints.CheckpointError as exc:
            checkpoint = {"seq": None, "signed_at": None, "problem": None, "error": str(exc)}
    ok = report.ok and (checkpoint is None or (checkpoint["problem"] is None and checkpoint["error"] is None))
    return render(
        request, "governance/_verify_result.html", {"report": report, "checkpoint": checkpoint, "ok": ok}
    )
