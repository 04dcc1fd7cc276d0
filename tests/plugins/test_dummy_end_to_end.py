"""The example plugin from docs/plugins.md, installed as its own distribution, end to end."""

from __future__ import annotations

import pytest
from PIL import Image

from assets.models import Asset
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def test_example_plugin_generates_through_entry_point_worker_and_api(celery_worker, client_for) -> None:
    admin = client_for("admin")
    enabled = admin.patch("/api/v1/plugins/dummy/", {"enabled": True, "config": {"label": "docs"}}, format="json")
    assert enabled.status_code == 200 and enabled.json()["health"]["status"] == "green"
    creator = client_for("creator")
    job = creator.post(
        "/api/v1/generations/",
        {"plugin": "dummy", "prompt": "two tiles", "width": 32, "height": 48, "seed": 5, "num_images": 2, "params": {"shade": 0.5}},
        format="json",
    ).json()
    done = wait_for(lambda: (j := creator.get(f"/api/v1/generations/{job['id']}/").json())["status"] == "succeeded" and j, timeout=60)
    assert done["progress"] == {"step": 2, "total": 2}
    assets = Asset.objects.filter(job_id=job["id"]).order_by("index_in_job")
    assert [a.seed for a in assets] == [5, 6]
    assert all((a.width, a.height) == (32, 48) for a in assets)
    assert assets[0].plugin_version == "1.2.0"
    assert assets[0].model_identity["name"] == "dummy-tiles"
    with assets[0].file.open("rb") as handle:
        pixel = Image.open(handle).convert("RGB").getpixel((0, 0))
    assert all(channel <= 128 for channel in pixel)  # shade 0.5 halves every channel
