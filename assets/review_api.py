"""Review, legal hold, deletion, export and evidence actions of ``/api/v1/assets/{id}/``.

A mixin for ``assets.api.AssetViewSet``; the rules live in ``assets.review``. The actions call
the service and let its errors through: each error class names its status (``http_status``)
and ``hallmark.api.exception_handler`` answers with it: 403 not permitted (roles, four eyes),
409 the asset's state forbids it, 422 the licence policy forbids it (``errors.policy`` and
``violations`` name the rules), 400 bad input.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import renderers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from assets import evidence, retention, review
from assets.models import Asset
from assets.serializers import AssetSerializer
from assets.storage import open_for_download
from governance import policy
from governance.permissions import IsReviewer, IsViewer
from hallmark.api import invalid


class RejectSerializer(serializers.Serializer[Any]):
    """The body of ``reject``."""

    reason = serializers.CharField(max_length=review.MAX_REASON_LENGTH)


class LegalHoldSerializer(serializers.Serializer[Any]):
    """The body of ``legal-hold``: ``reason`` is required to place a hold."""

    hold = serializers.BooleanField()
    reason = serializers.CharField(max_length=review.MAX_HOLD_REASON_LENGTH, required=False)


_RESPONSES = {
    200: AssetSerializer,
    400: OpenApiResponse(description="Bad input; `errors` names the field"),
    403: OpenApiResponse(description="Not permitted (role, or four eyes)"),
    404: OpenApiResponse(description="No such asset (or deleted)"),
    409: OpenApiResponse(description="The asset's status (or legal hold) does not allow this"),
}
_POLICY_RESPONSE = {
    422: OpenApiResponse(description="The licence policy forbids it; `violations` name the rules"),
}


class ZipRenderer(renderers.BaseRenderer):
    """Lets ``Accept: application/zip`` reach the evidence action; errors still go out as JSON."""

    media_type = "application/zip"
    format = "zip"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return renderers.JSONRenderer().render(data)


class ReviewActionsMixin(viewsets.GenericViewSet[Asset]):
    """Adds the review workflow, legal hold, soft delete, export and evidence to the asset
    viewset. The viewset's queryset leaves soft-deleted assets out of every action but
    ``legal_hold`` (a hold may still stop the purge of a deleted asset)."""

    def get_permissions(self) -> list[Any]:
        if self.action in ("approve", "reject", "archive", "legal_hold", "evidence"):
            return [IsReviewer()]
        return [IsViewer()]

    def _review(self, request: Request, call: Any, **kwargs: Any) -> Response:
        updated = call(self.get_object().pk, acting_user=request.user, **kwargs)
        return Response(AssetSerializer(updated, context={"request": request}).data)

    @extend_schema(request=None, responses={**_RESPONSES, **_POLICY_RESPONSE})
    @action(detail=True, methods=["post"], url_path="submit-for-review", url_name="submit-for-review")
    def submit_for_review(self, request: Request, pk: str | None = None) -> Response:
        """draft or rejected -> in_review (the asset's creator, or an admin); checks the licence policy."""
        return self._review(request, review.submit_for_review)

    @extend_schema(request=None, responses={**_RESPONSES, **_POLICY_RESPONSE})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """in_review -> approved (reviewers and admins, never the requester); checks the licence policy."""
        return self._review(request, review.approve)

    @extend_schema(request=RejectSerializer, responses=_RESPONSES)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        """in_review -> rejected with a reason (reviewers and admins, never the requester)."""
        body = request.data if isinstance(request.data, dict) else {}
        return self._review(request, review.reject, reason=body.get("reason"))

    @extend_schema(request=None, responses=_RESPONSES)
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str | None = None) -> Response:
        """approved or rejected -> archived (reviewers and admins); refused under legal hold."""
        return self._review(request, review.archive)

    @extend_schema(request=LegalHoldSerializer, responses=_RESPONSES)
    @action(detail=True, methods=["post"], url_path="legal-hold", url_name="legal-hold")
    def legal_hold(self, request: Request, pk: str | None = None) -> Response:
        """Place (`hold: true`, `reason` required) or release a legal hold (reviewers and admins)."""
        body = request.data
        if not isinstance(body, dict):
            return invalid({"non_field_errors": ["The request body must be a JSON object."]})
        if "hold" not in body:
            return invalid({"hold": ["This field is required."]})
        return self._review(
            request, retention.set_legal_hold, hold=body.get("hold"), reason=body.get("reason", "")
        )

    @extend_schema(
        request=None,
        responses={
            204: OpenApiResponse(description="Deleted (soft); purged after the retention period"),
            **{k: v for k, v in _RESPONSES.items() if k != 200},
        },
    )
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        """Soft-delete an asset: admins, or the creator of a draft; refused under legal hold."""
        retention.soft_delete(self.get_object().pk, acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "purpose",
                str,
                enum=list(policy.PURPOSES),
                description="The intended use; by default the organisation's own (commercial or not). "
                "Only reviewers and admins may choose one that checks fewer licence rules.",
            )
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file, with X-License and X-Attribution headers"
            ),
            400: OpenApiResponse(description="Unknown purpose"),
            403: OpenApiResponse(
                description="A purpose less strict than the organisation's own, asked by a viewer or creator"
            ),
            409: OpenApiResponse(description="The asset is not approved"),
            **_POLICY_RESPONSE,
        },
    )
    @action(detail=True, methods=["get"])
    def export(self, request: Request, pk: str | None = None) -> Response | FileResponse:
        """Download an approved asset for use: the licence policy is checked for the purpose,
        the attribution travels in ``X-Attribution``, and the export is audited."""
        asset = self.get_object()
        purpose = request.query_params.get("purpose") or None
        if purpose is not None and purpose not in policy.PURPOSES:
            return invalid({"purpose": [f"Must be one of {', '.join(policy.PURPOSES)}."]})
        asset, _ = review.export_for_use(asset.pk, acting_user=request.user, purpose=purpose)
        name = str(asset.file.name)
        response = FileResponse(
            open_for_download(asset.file.storage, name),
            content_type=asset.mime_type,
            as_attachment=True,
            filename=f"{asset.pk}.{name.rsplit('.', 1)[-1]}",
        )
        response["Content-Length"] = str(asset.byte_size)
        response["X-License"] = str((asset.license or {}).get("spdx_id", ""))
        attribution = " ".join(str((asset.license or {}).get("attribution") or "").split())
        if attribution:
            response["X-Attribution"] = attribution
        return response

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The evidence pack"),
            403: OpenApiResponse(description="Reviewers and admins only"),
            409: OpenApiResponse(description="The stored file is missing or unreadable"),
        }
    )
    @action(detail=True, methods=["get"], renderer_classes=[renderers.JSONRenderer, ZipRenderer])
    def evidence(self, request: Request, pk: str | None = None) -> FileResponse:
        """A zip with the file, its C2PA manifest, XMP, licence, model identity, attribution and
        every audit event on it in the verifiable export format; README.txt explains the checks."""
        pack, filename = evidence.build_evidence_pack(self.get_object(), acting_user=request.user)
        return FileResponse(pack, content_type="application/zip", as_attachment=True, filename=filename)
