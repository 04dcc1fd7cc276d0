"""The asset page's Promote action (Django's test client): the form panel for creators, the POST
through ``generation.promote`` to the new job's page, errors beside the fields, roles, CSRF."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from assets.models import Asset
from generation import services
from generation.models import GenerationJob
from routing import policies
from tests.conftest import draft_asset
from tests.generation.page_helpers import field_error, logged_in


@pytest.fixture
def draft(users: dict[str, Any], procedural: str) -> Asset:
    return draft_asset(users["creator"])


def _new_jobs(draft: Asset) -> Any:
    return GenerationJob.objects.filter(source_asset_id=draft.pk)


def test_the_asset_page_loads_the_form_for_creators_only(users: dict[str, Any], draft: Asset) -> None:
    page = logged_in(users["creator"]).get(f"/assets/{draft.pk}/").content.decode()
    assert f'hx-get="/assets/{draft.pk}/promote/panel/"' in page
    assert f'<a href="/assets/{draft.pk}/promote/">Promote this asset</a>' in page  # without script
    panel = logged_in(users["creator"]).get(f"/assets/{draft.pk}/promote/panel/")
    assert panel.status_code == 200
    form = panel.content.decode()
    assert (
        f'<form method="post" action="/assets/{draft.pk}/promote/"' in form and "csrfmiddlewaretoken" in form
    )
    for control in ("f-promote-mode-rerender", "f-promote-mode-refine", "f-promote-tier", "f-promote-policy"):
        assert f'<label for="{control}">' in form
    for control in (
        "f-promote-target-tier",
        "f-promote-target-plugin",
        "f-promote-plugin",
        "f-promote-strength",
    ):
        assert f'<label for="{control}">' in form
    viewer = logged_in(users["viewer"])
    assert "promote" not in viewer.get(f"/assets/{draft.pk}/").content.decode().lower()
    assert viewer.get(f"/assets/{draft.pk}/promote/panel/").status_code == 403
    assert viewer.get(f"/assets/{draft.pk}/promote/").status_code == 403


def test_rerender_with_a_plugin_goes_to_the_new_job(users: dict[str, Any], draft: Asset) -> None:
    response = logged_in(users["creator"]).post(
        f"/assets/{draft.pk}/promote/",
        {"mode": "rerender", "target": "plugin", "plugin": "procedural", "tier": "final", "strength": "0.3"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    job = _new_jobs(draft).get()
    assert response["Location"] == f"/jobs/{job.pk}/"
    # A re-render has no strength, whatever the input held; the tier select was not chosen.
    assert (job.derivation, job.strength, job.plugin_id, job.routing_tier) == (
        "rerender",
        None,
        "procedural",
        "",
    )
    assert (job.prompt, job.seed) == (draft.prompt, draft.seed)


def test_refine_by_tier_through_a_policy(users: dict[str, Any], draft: Asset) -> None:
    policies.create_policy({"name": "finals", "tiers": {"final": ["procedural"]}}, acting_user=users["admin"])
    response = logged_in(users["creator"]).post(
        f"/assets/{draft.pk}/promote/",
        {"mode": "refine", "target": "tier", "tier": "final", "policy": "finals", "strength": "0.3"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    job = _new_jobs(draft).get()
    assert (job.derivation, job.strength, job.routing_policy, job.routing_tier) == (
        "refine",
        0.3,
        "finals",
        "final",
    )


def test_each_error_sits_beside_its_field(users: dict[str, Any], draft: Asset) -> None:
    client = logged_in(users["creator"])
    url = f"/assets/{draft.pk}/promote/"
    no_mode = client.post(url, {"target": "plugin", "plugin": "procedural"})
    assert no_mode.status_code == 400 and "Must be one of rerender, refine" in field_error(no_mode, "mode")
    no_default = client.post(url, {"mode": "rerender", "target": "tier", "tier": "final"})
    assert no_default.status_code == 400 and "No routing policy is the default" in field_error(
        no_default, "tier"
    )
    bad_tier = client.post(url, {"mode": "rerender", "target": "tier", "tier": "gold"})
    assert bad_tier.status_code == 400 and "Must be one of draft, final" in field_error(bad_tier, "tier")
    unknown_policy = client.post(
        url, {"mode": "rerender", "target": "tier", "tier": "final", "policy": "nope"}
    )
    assert unknown_policy.status_code == 400 and "nope" in field_error(unknown_policy, "policy")
    plugin = client.post(url, {"mode": "rerender", "target": "plugin", "plugin": "no-such-plugin"})
    assert plugin.status_code == 400 and field_error(plugin, "plugin")
    word = client.post(
        url, {"mode": "refine", "target": "plugin", "plugin": "procedural", "strength": "lots"}
    )
    assert word.status_code == 400 and "Must be a number" in field_error(word, "strength")
    high = client.post(url, {"mode": "refine", "target": "plugin", "plugin": "procedural", "strength": "2"})
    assert high.status_code == 400 and "between 0.05 and 1" in field_error(high, "strength")
    # The page keeps what was chosen, with the error tied to its input.
    page = high.content.decode()
    assert 'id="f-promote-mode-refine" name="mode" value="refine" checked' in page
    assert 'aria-describedby="e-promote-strength h-promote-strength" aria-invalid="true"' in page
    assert _new_jobs(draft).count() == 0


def test_the_queue_cap_is_shown_above_the_form(users: dict[str, Any], draft: Asset, settings: Any) -> None:
    settings.HALLMARK_MAX_QUEUED_PER_USER = 1
    services.submit(acting_user=users["creator"], plugin_id="procedural", fields={"prompt": "queued"})
    response = logged_in(users["creator"]).post(
        f"/assets/{draft.pk}/promote/", {"mode": "rerender", "target": "plugin", "plugin": "procedural"}
    )
    assert response.status_code == 429 and 'role="alert"' in response.content.decode()
    assert _new_jobs(draft).count() == 0


def test_a_second_click_of_one_form_makes_one_job(users: dict[str, Any], draft: Asset) -> None:
    client = logged_in(users["creator"])
    key = client.get(f"/assets/{draft.pk}/promote/panel/").context["idempotency_key"]
    body = {"mode": "rerender", "target": "plugin", "plugin": "procedural", "idempotency_key": key}
    first = client.post(f"/assets/{draft.pk}/promote/", body)
    again = client.post(f"/assets/{draft.pk}/promote/", body)
    assert first.status_code == again.status_code == 302 and first["Location"] == again["Location"]
    assert _new_jobs(draft).count() == 1


def test_viewers_are_refused_and_a_post_needs_its_csrf_token(users: dict[str, Any], draft: Asset) -> None:
    body = {"mode": "rerender", "target": "plugin", "plugin": "procedural"}
    assert logged_in(users["viewer"]).post(f"/assets/{draft.pk}/promote/", body).status_code == 403
    strict = logged_in(users["creator"], enforce_csrf_checks=True)
    page = strict.get(f"/assets/{draft.pk}/promote/")
    assert page.status_code == 200 and "Back to the asset" in page.content.decode()
    assert strict.post(f"/assets/{draft.pk}/promote/", body).status_code == 403  # a cross-site form
    token = str(page.context["csrf_token"])
    assert (
        strict.post(f"/assets/{draft.pk}/promote/", {**body, "csrfmiddlewaretoken": token}).status_code == 302
    )
    assert _new_jobs(draft).count() == 1
    assert Client().get(f"/assets/{draft.pk}/promote/panel/").status_code == 302  # to the login page


def test_a_deleted_asset_is_not_found(users: dict[str, Any], draft: Asset) -> None:
    from assets import retention

    retention.soft_delete(draft.pk, acting_user=users["admin"])
    client = logged_in(users["creator"])
    assert client.get(f"/assets/{draft.pk}/promote/panel/").status_code == 404
    body = {"mode": "rerender", "target": "plugin", "plugin": "procedural"}
    assert client.post(f"/assets/{draft.pk}/promote/", body).status_code == 404


def test_a_form_sent_again_with_other_settings_is_not_answered_with_the_first_job(
    users: dict[str, Any], draft: Asset
) -> None:
    # The browser's Back button brings the form back with its key: the user switches to refine.
    client = logged_in(users["creator"])
    body = {"mode": "rerender", "target": "plugin", "plugin": "procedural", "idempotency_key": "form-1"}
    first = client.post(f"/assets/{draft.pk}/promote/", body)
    assert first.status_code == 302
    refine = client.post(f"/assets/{draft.pk}/promote/", {**body, "mode": "refine", "strength": "0.3"})
    assert refine.status_code == 409 and "already used" in refine.content.decode()
    assert _new_jobs(draft).get().derivation == "rerender"
    # The form drawn again carries a new key, so sending it as it is now queues the refinement.
    key = refine.context["idempotency_key"]
    assert key != "form-1"
    again = client.post(
        f"/assets/{draft.pk}/promote/", {**body, "mode": "refine", "strength": "0.3", "idempotency_key": key}
    )
    assert again.status_code == 302
    refined = _new_jobs(draft).get(derivation="refine")
    assert again["Location"] == f"/jobs/{refined.pk}/" and refined.strength == 0.3


def test_a_refused_key_is_not_drawn_again(users: dict[str, Any], draft: Asset) -> None:
    client = logged_in(users["creator"])
    body = {"mode": "rerender", "target": "plugin", "plugin": "procedural"}
    refused = client.post(f"/assets/{draft.pk}/promote/", {**body, "idempotency_key": "k" * 200})
    assert refused.status_code == 400 and "idempotency_key" in refused.content.decode()
    key = refused.context["idempotency_key"]
    assert key != "k" * 200
    assert client.post(f"/assets/{draft.pk}/promote/", {**body, "idempotency_key": key}).status_code == 302


def test_a_policy_name_with_nul_is_refused_beside_the_policy(users: dict[str, Any], draft: Asset) -> None:
    # PostgreSQL refuses NUL in a query's text: the service must refuse it first (not a 500).
    response = logged_in(users["creator"]).post(
        f"/assets/{draft.pk}/promote/",
        {"mode": "rerender", "target": "tier", "tier": "final", "policy": "a\x00b"},
    )
    assert response.status_code == 400
    assert field_error(response, "policy") == "Must be the name of a routing policy."
