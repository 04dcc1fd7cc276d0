"""The asset serializer's hand-built rows are DRF's generic ones, field for field."""

from __future__ import annotations

from django.db.models import F
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from assets import retention
from assets.models import Asset
from assets.serializers import AssetSerializer
from generation import runner, services


def test_rows_equal_the_generic_serializer_s(users, procedural, enable_plugin, settings) -> None:
    settings.ALLOWED_HOSTS = ["hallmark.example"]
    enable_plugin("dummy")
    for plugin, fields in (
        ("procedural", {"prompt": "a red kite", "negative_prompt": "blur", "num_images": 2}),
        ("dummy", {"prompt": "ünïcode ✓ tile", "num_images": 2}),
    ):
        job, _ = services.submit(
            acting_user=users["creator"], plugin_id=plugin, fields={**fields, "width": 64, "height": 64}
        )
        runner.run(str(job.pk))
    held = Asset.objects.first()
    assert held is not None
    held = retention.set_legal_hold(held.pk, acting_user=users["admin"], hold=True, reason="litigation 7")

    request = APIRequestFactory().get("/api/v1/assets/", HTTP_HOST="hallmark.example:8443")
    assets = list(Asset.objects.select_related("created_by"))
    assert len(assets) == 4
    for context in ({"request": request}, {}):
        fast = AssetSerializer(assets, many=True, context=context).data
        generic = [serializers.ModelSerializer.to_representation(AssetSerializer(context=context), a) for a in assets]
        assert [dict(row) for row in fast] == [dict(row) for row in generic]
        assert [list(row) for row in fast] == [list(row) for row in generic]  # same keys, same order
    # The list annotates the creator's name instead of loading the user.
    annotated = list(Asset.objects.annotate(created_by_username=F("created_by__username")))
    assert [dict(r) for r in AssetSerializer(annotated, many=True).data] == [
        dict(serializers.ModelSerializer.to_representation(AssetSerializer(), a)) for a in annotated
    ]
    row = AssetSerializer(held, context={"request": request}).data
    assert row["legal_hold"] is True and row["legal_hold_reason"] == "litigation 7"
    assert row["file"] == f"http://hallmark.example:8443/api/v1/assets/{held.pk}/file/"
    assert row["thumbnail"] == f"http://hallmark.example:8443/api/v1/assets/{held.pk}/thumbnail/"
