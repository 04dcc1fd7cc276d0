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


def test_try_another_model_link_carries_the_asset_not_its_prompt(
    users: dict[str, Any], page_client: Client
) -> None:
    """A prompt in a URL lands in access logs and browser history; with prompts confidential
    (HALLMARK_EMBED_PROMPTS off) that is where it must not go. The link names the asset and
    the compare page reads the prompt on the server."""
    from generation import runner
    from generation import services as generation_services

    secret = "launch poster for Project Falcon"
    made, _ = generation_services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={"prompt": secret, "negative_prompt": "blurry text", "seed": 11, "width": 64, "height": 64},
    )
    runner.run(str(made.pk))
    asset = made.assets.get()
    html = page_client.get(f"/assets/{asset.pk}/").content.decode()
    links = [part.split('"', 1)[0] for part in html.split('href="')[1:]]
    compare = [link for link in links if link.startswith("/compare/?")]
    assert compare == [f"/compare/?from_asset={asset.pk}"]
    assert not [link for link in links if "Falcon" in link or "blurry" in link]

    form = page_client.get(compare[0].replace("&amp;", "&"))
    assert form.status_code == 200
    values = form.context["values"]
    assert (values["prompt"], values["negative_prompt"], values["seeds"], values["plugins"]) == (
        secret,
        "blurry text",
        "11",
        ["procedural"],
    )
    # An id that is no live asset pre-fills nothing (and says nothing about it).
    for wrong in ("00000000-0000-0000-0000-000000000000", "not-an-id", "-" * 36, "\x00"):
        empty = page_client.get("/compare/", {"from_asset": wrong})
        assert empty.status_code == 200 and empty.context["values"]["prompt"] == ""
