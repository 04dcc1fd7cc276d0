"""Pages: an asset's page (the library is workspace.views')."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from assets.lineage import lineage_of
from assets.models import Asset
from assets.verification import check_stored_asset
from governance import roles
from governance.models import AuditEvent


def _require_viewer(request: HttpRequest) -> None:
    if not roles.has_role(request.user, roles.VIEWER):
        raise PermissionDenied("You need a role to see the library.")


@login_required
def asset_detail(request: HttpRequest, asset_id: UUID) -> HttpResponse:
    """One asset: the image, its model identity, licence and audit trail."""
    _require_viewer(request)
    asset = get_object_or_404(Asset.objects.live().select_related("created_by", "job"), pk=asset_id)
    events = AuditEvent.objects.filter(target_type="assets.asset", target_id=str(asset.pk)).order_by("seq")
    context = {"asset": asset, "events": events, "lineage": lineage_of(asset)}
    return render(request, "assets/detail.html", context)


# Plain words for what a manifest says (IPTC digital source types; C2PA assertion labels).
_SOURCE_TYPES = {
    "trainedAlgorithmicMedia": "Made by a trained AI model",
    "compositeWithTrainedAlgorithmicMedia": "A composite that includes AI-made parts",
    "algorithmicMedia": "Made by an algorithm that is not a trained model",
    "digitalCapture": "Captured by a camera or scanner",
}
_ASSERTIONS = {
    "c2pa.actions": "What was done to make it (actions)",
    "c2pa.actions.v2": "What was done to make it (actions)",
    "c2pa.hash.data": "A hash binding the manifest to these exact bytes",
    "c2pa.training-mining": "Whether it may be used to train AI or be mined for data",
    "cawg.training-mining": "Whether it may be used to train AI or be mined for data",
    "stds.schema-org.CreativeWork": "Who made it (authorship)",
    "c2pa.thumbnail.claim.jpeg": "A thumbnail of the claim",
}
_STATES = {
    "Trusted": "Valid, and signed by a certificate this Hallmark trusts",
    "Valid": "Intact, but the signer is not one this Hallmark trusts",
    "Invalid": "Broken: the file or its manifest was changed after signing",
    None: "No content credentials found in the file",
}


#: How long a credentials panel is reused. Each check reads the whole file (a GET from S3),
#: hashes it and validates its manifest, and the panel is a page no API throttle covers. The
#: key holds the recorded sha256, so a change of record is seen at once; a file changed behind
#: the record's back shows here within this time (``manage.py verify_assets`` does not wait).
CREDENTIALS_CACHE_SECONDS = 300


@login_required
def asset_credentials(request: HttpRequest, asset_id: UUID) -> HttpResponse:
    """The content-credentials panel (htmx partial of the asset page): the stored file read by
    the C2PA SDK and described in plain words; one check per file every few minutes."""
    _require_viewer(request)
    asset = get_object_or_404(Asset.objects.live(), pk=asset_id)
    key = f"assets.credentials-panel:{asset.pk}:{asset.sha256}"
    context = cache.get(key)
    if context is None:
        context = _credentials_context(asset)
        cache.set(key, context, CREDENTIALS_CACHE_SECONDS)
    return render(request, "assets/_credentials.html", {"asset": asset, **context})


def _credentials_context(asset: Asset) -> dict[str, Any]:
    """What the panel shows of ``asset``'s stored file, as plain data (it is cached)."""
    check = check_stored_asset(asset)
    report = check.credentials
    summary = (report.summary if report else None) or {}
    source = str(summary.get("digital_source_type") or (report.xmp_digital_source_type if report else "") or "")
    assertions = []
    for assertion in ((report.manifest if report else None) or {}).get("assertions") or []:
        label = str(assertion.get("label", "")).split("__", 1)[0]
        words = "Hallmark's record of the job, model and licence" if label.startswith("hallmark") else None
        assertions.append({"label": label, "words": words or _ASSERTIONS.get(label, "")})
    state = report.validation_state if report else None
    return {
        "check": {
            "file_present": check.file_present,
            "file_matches_record": check.file_matches_record,
            "manifest_names_asset": check.manifest_names_asset,
        },
        "state": state,
        "state_words": _STATES.get(state, str(state)),
        "source": source,
        "source_words": _SOURCE_TYPES.get(source.rsplit("/", 1)[-1], ""),
        "signature": summary.get("signature") or {},
        "claim_generator": summary.get("claim_generator", ""),
        "signed_by_hallmark": bool(report and report.signed_by_hallmark),
        "assertions": assertions,
    }
