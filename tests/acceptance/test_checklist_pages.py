"""The checklists pages: define a checklist in the UI, revise it into a new version."""

from __future__ import annotations

import pytest

from acceptance.models import Checklist

pytestmark = pytest.mark.django_db


def test_create_and_revise_in_the_ui(client, users) -> None:
    client.force_login(users["creator"])
    page = client.get("/checklists/").content.decode()
    assert "No checklist yet." in page and 'name="typography.min_accuracy"' in page and "<label>" in page
    made = client.post(
        "/checklists/",
        {
            "name": "Signs",
            "min_resolution": "1",
            "min_resolution.width": "512",
            "min_resolution.height": "512",
            "typography": "1",
            "typography.min_accuracy": "0.8",
        },
    )
    assert made.status_code == 302
    checklist = Checklist.objects.get(name="Signs")
    assert checklist.latest.checks == [
        {"type": "min_resolution", "width": 512, "height": 512},
        {"type": "typography", "min_accuracy": 0.8},
    ]
    shown = client.get(made["Location"]).content.decode()
    assert "Version 1" in shown and "min_accuracy=0.8" in shown and "Save a new version" in shown
    revised = client.post(made["Location"], {"name": "Signs", "provider_safe": "1"})
    assert revised.status_code == 302 and checklist.latest.number == 2
    assert checklist.latest.checks == [{"type": "provider_safe"}]


def test_form_errors_name_the_field(client, users) -> None:
    client.force_login(users["creator"])
    bad = client.post(
        "/checklists/",
        {
            "name": "Bad",
            "aspect_ratio": "1",
            "aspect_ratio.ratio": "wide",
            "min_resolution": "1",
            "min_resolution.width": "big",
        },
    )
    assert bad.status_code == 400
    page = bad.content.decode()
    assert "checks[0].width" in page and "checks[1].ratio" in page
    assert not Checklist.objects.exists()
    empty = client.post("/checklists/", {"name": "Empty"})
    assert empty.status_code == 400 and "checks" in empty.content.decode()


def test_who_may_post(client, users) -> None:
    client.force_login(users["creator"])
    client.post("/checklists/", {"name": "Mine", "provider_safe": "1"})
    checklist = Checklist.objects.get(name="Mine")
    client.force_login(users["viewer"])
    assert client.post("/checklists/", {"name": "V", "provider_safe": "1"}).status_code == 403
    assert "Save a new version" not in client.get(f"/checklists/{checklist.pk}/").content.decode()
    client.force_login(users["creator2"])
    assert (
        client.post(f"/checklists/{checklist.pk}/", {"name": "Mine", "provenance_intact": "1"}).status_code
        == 403
    )
    client.force_login(users["admin"])
    assert (
        client.post(f"/checklists/{checklist.pk}/", {"name": "Mine", "provenance_intact": "1"}).status_code
        == 302
    )
    assert checklist.latest.number == 2
