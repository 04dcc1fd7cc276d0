"""The only writers of checklists and check results: create and revise checklists, run a
checklist version's checks on an asset and record the results, each with its audit event."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from acceptance import checks as check_registry
from acceptance.checks import CheckContext, CheckOutcome
from acceptance.models import Checklist, ChecklistVersion, CheckResult
from assets.models import Asset
from governance import roles
from governance.audit_trail import record_event
from hallmark.errors import InvalidInput, ServiceError

logger = logging.getLogger(__name__)


class NotYourChecklist(ServiceError):
    """Only a checklist's author or an admin may revise it (403)."""

    http_status = 403


def _clean_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100 or "\x00" in name:
        raise InvalidInput({"name": ["Must be a non-empty string of at most 100 characters."]})
    return name.strip()


def create_checklist(*, acting_user: User, name: Any, checks: Any) -> Checklist:
    """Make a checklist with its first version; raises ``InvalidInput`` naming each field at
    fault (``name`` taken, ``checks[2].ratio`` ...)."""
    clean_name = _clean_name(name)
    cleaned = check_registry.clean_checks(checks)
    try:
        with transaction.atomic():
            checklist = Checklist.objects.create(name=clean_name, created_by=acting_user)
            version = ChecklistVersion.objects.create(
                checklist=checklist, number=1, checks=cleaned, created_by=acting_user
            )
            record_event(
                "checklist.created",
                acting_user=acting_user,
                target=checklist,
                data={"name": clean_name, "version": version.number, "checks": cleaned},
            )
    except IntegrityError:
        raise InvalidInput({"name": ["A checklist with this name already exists."]}) from None
    return checklist


def revise_checklist(
    checklist_id: int, *, acting_user: User, name: Any = None, checks: Any = None
) -> Checklist:
    """Rename a checklist and/or give it new checks; new checks make a new version (results
    already recorded keep naming the version they were judged by)."""
    clean_name = _clean_name(name) if name is not None else None
    cleaned = check_registry.clean_checks(checks) if checks is not None else None
    try:
        with transaction.atomic():
            checklist = Checklist.objects.select_for_update().get(pk=checklist_id)
            if checklist.created_by_id != acting_user.pk and not roles.has_role(acting_user, roles.ADMIN):
                raise NotYourChecklist("Only the checklist's author or an admin may revise it.")
            data: dict[str, Any] = {}
            if clean_name is not None and clean_name != checklist.name:
                data["name"] = {"from": checklist.name, "to": clean_name}
                checklist.name = clean_name
                checklist.save(update_fields=["name"])
            latest = checklist.latest
            if cleaned is not None and cleaned != latest.checks:
                latest = ChecklistVersion.objects.create(
                    checklist=checklist, number=latest.number + 1, checks=cleaned, created_by=acting_user
                )
                data["checks"] = cleaned
            if data:
                record_event(
                    "checklist.revised",
                    acting_user=acting_user,
                    target=checklist,
                    data={"version": latest.number, **data},
                )
    except IntegrityError:
        raise InvalidInput({"name": ["A checklist with this name already exists."]}) from None
    return checklist


def _outcome(spec: Mapping[str, Any], context: CheckContext) -> CheckOutcome:
    """Run one check; a check that is gone or crashes fails with the reason, never raises."""
    try:
        return check_registry.build(spec).run(context)
    except LookupError as exc:
        return CheckOutcome(False, None, str(exc))
    except InvalidInput as exc:
        return CheckOutcome(False, None, f"The installed check no longer accepts these parameters: {exc}")
    except Exception as exc:
        logger.exception("check %s crashed on asset %s", spec.get("type"), context.asset.pk)
        return CheckOutcome(False, None, f"The check failed unexpectedly ({type(exc).__name__}).")


def run_checks(version: ChecklistVersion, context: CheckContext) -> list[CheckResult]:
    """Run every check of ``version`` on ``context.asset`` and record the results, once: a
    second call (a redelivered task) returns the results already recorded."""
    return record_results(version, context.asset, evaluate(version, context))


def evaluate(version: ChecklistVersion, context: CheckContext) -> list[CheckResult]:
    """The results of every check of ``version`` on ``context.asset``: those already recorded,
    or else new ones, run now and not saved yet (``record_results`` saves them). Call it
    outside any transaction: the checks (OCR) take a second or so."""
    existing = list(CheckResult.objects.filter(asset=context.asset, checklist_version=version))
    if existing:
        return existing
    outcomes = [(index, spec, _outcome(spec, context)) for index, spec in enumerate(version.checks)]
    return [
        CheckResult(
            asset=context.asset,
            checklist_version=version,
            check_index=index,
            check_type=str(spec.get("type")),
            passed=outcome.passed,
            score=outcome.score,
            detail=outcome.detail[:2000],
        )
        for index, spec, outcome in outcomes
    ]


def record_results(version: ChecklistVersion, asset: Asset, rows: list[CheckResult]) -> list[CheckResult]:
    """Save the results ``evaluate`` made for ``asset``, with their audit event, once; results
    already recorded (``evaluate`` found them, or another delivery saved them first) are returned
    as recorded. May run inside the caller's transaction (the next attempt's submission)."""
    if not rows or not rows[0]._state.adding:
        return rows
    try:
        with transaction.atomic():
            CheckResult.objects.bulk_create(rows)
            record_event(
                "checks.ran",
                acting_user=None,
                system_actor="worker",
                target=asset,
                data={
                    "checklist": version.checklist_id,
                    "version": version.number,
                    "passed": all(row.passed for row in rows),
                    "results": [{"check": r.check_type, "passed": r.passed, "score": r.score} for r in rows],
                },
            )
    except IntegrityError:
        # Another delivery of the same task recorded them first.
        return list(CheckResult.objects.filter(asset=asset, checklist_version=version))
    return rows


def results_for(asset_id: Any) -> list[CheckResult]:
    """Every check result of an asset, newest checklist version first, in check order."""
    return list(
        CheckResult.objects.filter(asset_id=asset_id)
        .select_related("checklist_version__checklist")
        .order_by("-checklist_version__created_at", "checklist_version_id", "check_index")
    )
