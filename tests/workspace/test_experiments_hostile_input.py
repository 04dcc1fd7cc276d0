"""Hostile input to the compare and experiment pages and to ``/api/v1/experiments/``: every
refusal is a 4xx naming the field, nothing is written, and nothing is a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from generation.models import GenerationJob
from workspace.models import Experiment

# More digits than Python turns into an int (``sys.get_int_max_str_digits``, 4300 by default).
HUGE_NUMBER = "9" * 5000


@pytest.fixture
def page_client(users: dict[str, Any], enable_plugin: Any) -> Client:
    enable_plugin("procedural")
    client = Client(raise_request_exception=False)
    client.force_login(users["creator"])
    return client


@pytest.mark.parametrize("field", ["seeds", "width", "height"])
def test_compare_form_refuses_a_number_too_long_to_read_naming_the_field(
    page_client: Client, field: str
) -> None:
    form = {"prompt": "a kite", "plugins": "procedural", "seeds": "1", "width": "64", "height": "64"}
    response = page_client.post("/compare/", {**form, field: HUGE_NUMBER})
    assert response.status_code == 400
    assert field in response.context["field_errors"]
    assert not Experiment.objects.exists() and not GenerationJob.objects.exists()


def test_extend_form_refuses_a_seed_too_long_to_read(page_client: Client) -> None:
    made = page_client.post(
        "/compare/",
        {"prompt": "a kite", "plugins": "procedural", "seeds": "1", "width": "64", "height": "64"},
    )
    assert made.status_code == 302
    experiment = Experiment.objects.get()
    response = page_client.post(f"/experiments/{experiment.pk}/extend/", {"seeds": HUGE_NUMBER})
    assert response.status_code == 400
    assert "is not a seed" in response.content.decode()
    assert GenerationJob.objects.count() == 1
