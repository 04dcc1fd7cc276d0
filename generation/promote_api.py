"""``POST /api/v1/assets/{id}/promote/``: re-render or refine an asset with another model.

A mixin for the asset viewset (the assets app sits below generation, so the route is added
where the two meet, in the workspace's asset viewset); the work is ``generation.promote``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from assets.models import Asset
from generation import promote as promotion
from generation import services
from generation.serializers import GenerationJobSerializer
from governance.permissions import IsCreator
from hallmark.api import Conflict, too_many


class PromoteRequestSerializer(serializers.Serializer[Any]):
    """The body of a promotion: a target (``plugin``, or ``tier``), a ``mode`` and, for a
    refinement, a ``strength``. Validated by ``generation.promote``; this documents the shape."""

    plugin = serializers.CharField(required=False, help_text="Target plugin id, e.g. `sd35-medium`.")
    tier = serializers.ChoiceField(
        choices=promotion.TIERS,
        required=False,
        help_text="Instead of plugin: the tier a routing policy resolves.",
    )
    policy = serializers.CharField(
        required=False, help_text="With tier: the routing policy to use (default: the default policy)."
    )
    mode = serializers.ChoiceField(
        choices=promotion.MODES,
        help_text="rerender: same prompt, negative prompt and seed with the target model; refine: "
        "image to image from this asset (targets that declare refine only).",
    )
    strength = serializers.FloatField(
        required=False,
        min_value=promotion.MIN_STRENGTH,
        max_value=promotion.MAX_STRENGTH,
        help_text=f"refine only: how much of the image is redrawn (default {promotion.DEFAULT_STRENGTH:g}).",
    )
    idempotency_key = serializers.CharField(required=False, max_length=128)


class PromoteActionMixin(viewsets.GenericViewSet[Asset]):
    """Adds ``promote`` to an asset viewset; creators only."""

    def get_permissions(self) -> list[Any]:
        if self.action == "promote":
            return [IsCreator()]
        return list(super().get_permissions())

    @extend_schema(
        request=PromoteRequestSerializer,
        responses={
            202: GenerationJobSerializer,
            200: OpenApiResponse(GenerationJobSerializer, description="Replay of an idempotency key"),
            400: OpenApiResponse(description="Invalid request; `errors` names each field at fault"),
            404: OpenApiResponse(description="No such asset"),
            409: OpenApiResponse(description="Idempotency key reused with other parameters"),
            429: OpenApiResponse(description="Too many jobs queued or running for this user"),
        },
    )
    @action(detail=True, methods=["post"], url_path="promote", url_name="promote")
    def promote(self, request: Request, pk: str | None = None) -> Response:
        """Queue a job that re-renders or refines this asset; its image gets this asset as parent."""
        asset = self.get_object()
        try:
            job, created = promotion.promote(asset.pk, acting_user=request.user, body=request.data)  # type: ignore[arg-type]
        except services.IdempotencyConflict as exc:
            raise Conflict(str(exc)) from None
        except services.QueueFull as exc:
            return too_many(str(exc), limit=exc.limit)
        data = GenerationJobSerializer(job, context={"request": request}).data
        return Response(data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)
