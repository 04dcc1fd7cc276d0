"""The generate page asks for a tier (and policy) instead of a plugin, and for a checklist to pass
(Django's test client); the job page shows each image's check results and every attempt."""

from __future__ import annotations

from typing import Any

import pytest

from acceptance import services as acceptance_services
from generation import checking, runner, services
from generation.models import GenerationJob
from routing import policies
from tests.generation.page_helpers import field_error, logged_in

BASE = {"prompt": "a harbour at night", "seed": "5", "width": "64", "height": "64", "num_images": "1"}
TIER = {**BASE, "target": "tier", "fields_for": "tier:", "tier": "draft"}


@pytest.fixture
def default_policy(users: dict[str, Any], procedural: str) -> Any:
    return policies.create_policy(
        {"name": "studio", "tiers": {"draft": ["procedural"], "final": ["procedural"]}, "default": True},
        acting_user=users["admin"],
    )


def test_the_tier_choice_is_offered_once_a_policy_exists(users: dict[str, Any], procedural: str) -> None:
    client = logged_in(users["creator"])
    assert 'name="target"' not in client.get("/generate/").content.decode()
    policies.create_policy(
        {"name": "posters", "tiers": {"final": ["procedural"]}}, acting_user=users["admin"]
    )
    html = client.get("/generate/").content.decode()
    assert '<label for="f-target-tier">A tier</label>' in html
    assert (
        '<label for="f-tier">Tier</label>' in html and '<label for="f-policy">Routing policy</label>' in html
    )
    assert '<option value="posters">posters</option>' in html and "The default (none is set)" in html


def test_generate_by_tier_routes_through_the_default_policy(
    users: dict[str, Any], default_policy: Any
) -> None:
    response = logged_in(users["creator"]).post("/generate/", TIER)
    assert response.status_code == 302, response.content.decode()[:3000]
    job = GenerationJob.objects.get()
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert (job.plugin_id, job.routing_policy, job.routing_tier) == ("procedural", "studio", "draft")
    page = logged_in(users["creator"]).get(f"/jobs/{job.pk}/").content.decode()
    assert "Routed by policy studio (draft tier)" in page


def test_a_named_policy_and_params_from_the_json_box(users: dict[str, Any], default_policy: Any) -> None:
    policies.create_policy(
        {"name": "posters", "tiers": {"final": ["procedural"]}}, acting_user=users["admin"]
    )
    response = logged_in(users["creator"]).post(
        "/generate/", {**TIER, "tier": "final", "policy": "posters", "params": '{"steps": 2}'}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    job = GenerationJob.objects.get()
    assert (job.routing_policy, job.routing_tier, job.params["steps"]) == ("posters", "final", 2)


def test_routing_errors_sit_beside_tier_and_policy(users: dict[str, Any], procedural: str) -> None:
    client = logged_in(users["creator"])
    policies.create_policy(
        {"name": "posters", "tiers": {"final": ["procedural"]}}, acting_user=users["admin"]
    )
    no_default = client.post("/generate/", TIER)
    assert no_default.status_code == 400 and "No routing policy is the default" in field_error(
        no_default, "tier"
    )
    unknown = client.post("/generate/", {**TIER, "policy": "nope"})
    assert unknown.status_code == 400 and "No routing policy is named 'nope'" in field_error(
        unknown, "policy"
    )
    no_tier = client.post("/generate/", {**TIER, "policy": "posters"})  # posters has no draft tier
    assert no_tier.status_code == 400 and "has no draft tier" in field_error(no_tier, "tier")
    bad_tier = client.post("/generate/", {**TIER, "tier": "gold", "policy": "posters"})
    assert bad_tier.status_code == 400 and "Must be one of draft, final" in field_error(bad_tier, "tier")
    # What was typed is kept, and the tier stays chosen.
    assert 'id="f-target-tier" name="target" value="tier" checked' in bad_tier.content.decode()
    assert "a harbour at night</textarea>" in bad_tier.content.decode()
    assert GenerationJob.objects.count() == 0


def test_a_size_the_routed_plugin_refuses_is_shown_beside_width(
    users: dict[str, Any], default_policy: Any
) -> None:
    response = logged_in(users["creator"]).post("/generate/", {**TIER, "width": "65"})
    assert response.status_code == 400 and "multiple of 8" in field_error(response, "width")


def test_the_tier_fields_partial_and_switching_without_script(
    users: dict[str, Any], default_policy: Any
) -> None:
    client = logged_in(users["creator"])
    partial = client.get("/generate/fields/", {"target": "tier", "plugin": "procedural"}).content.decode()
    assert 'name="fields_for" value="tier:"' in partial and "param." not in partial
    assert (
        'id="f-negative_prompt"' in partial
        and 'name="width" type="number" inputmode="numeric" min="1"' in partial
    )
    # The radio changed to a tier but the fields shown were procedural's: redrawn, nothing queued.
    switched = client.post("/generate/", {**TIER, "fields_for": "procedural"})
    assert switched.status_code == 200 and "routed by tier" in switched.content.decode()
    assert switched.context["fields"].plugin_id == "tier:"
    assert GenerationJob.objects.count() == 0


def test_checklist_fields_reach_the_job(users: dict[str, Any], default_policy: Any) -> None:
    signs = acceptance_services.create_checklist(
        acting_user=users["creator"], name="Signs", checks=[{"type": "typography"}]
    )
    client = logged_in(users["creator"])
    html = client.get("/generate/").content.decode()
    assert (
        f'<option value="{signs.pk}" data-typography="true">Signs (reads text: typography)</option>' in html
    )
    for label in ("Checklist", "Expected text", "Attempts to pass"):
        assert f">{label}</label>" in html
    response = client.post(
        "/generate/",
        {**TIER, "checklist": str(signs.pk), "expected_text": "OPEN LATE", "max_attempts_to_pass": "3"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    job = GenerationJob.objects.get()
    assert (job.checklist_version_id, job.expected_text, job.max_attempts_to_pass) == (
        signs.latest.pk,
        "OPEN LATE",
        3,
    )


def test_checklist_errors_sit_beside_their_fields(users: dict[str, Any], procedural: str) -> None:
    signs = acceptance_services.create_checklist(
        acting_user=users["creator"], name="Signs", checks=[{"type": "typography"}]
    )
    client = logged_in(users["creator"])
    plain = {**BASE, "plugin": "procedural", "fields_for": "procedural"}
    unknown = client.post("/generate/", {**plain, "checklist": "999"})
    assert unknown.status_code == 400 and "existing checklist" in field_error(unknown, "checklist")
    text = client.post("/generate/", {**plain, "checklist": "x"})
    assert text.status_code == 400 and "existing checklist" in field_error(text, "checklist")
    typography = client.post("/generate/", {**plain, "checklist": str(signs.pk)})
    assert typography.status_code == 400 and "typography check" in field_error(typography, "expected_text")
    zero = client.post(
        "/generate/", {**plain, "checklist": str(signs.pk), "expected_text": "A", "max_attempts_to_pass": "0"}
    )
    assert zero.status_code == 400 and "from 1 to 10" in field_error(zero, "max_attempts_to_pass")
    alone = client.post("/generate/", {**plain, "max_attempts_to_pass": "2"})
    assert alone.status_code == 400 and "Needs a checklist" in field_error(alone, "max_attempts_to_pass")
    too_long = client.post("/generate/", {**plain, "expected_text": "x" * 501})
    assert too_long.status_code == 400 and "at most 500" in field_error(too_long, "expected_text")
    assert (
        'aria-describedby="e-expected_text h-expected_text" aria-invalid="true"' in too_long.content.decode()
    )
    assert GenerationJob.objects.count() == 0


def test_viewers_get_no_form_and_a_post_needs_its_csrf_token(
    users: dict[str, Any], default_policy: Any
) -> None:
    viewer = logged_in(users["viewer"])
    assert viewer.get("/generate/").status_code == 403
    assert viewer.post("/generate/", TIER).status_code == 403
    assert viewer.get("/generate/fields/", {"target": "tier"}).status_code == 403
    strict = logged_in(users["creator"], enforce_csrf_checks=True)
    page = strict.get("/generate/")
    assert strict.post("/generate/", TIER).status_code == 403  # what a cross-site form sends
    token = str(page.context["csrf_token"])
    assert strict.post("/generate/", {**TIER, "csrfmiddlewaretoken": token}).status_code == 302
    assert GenerationJob.objects.count() == 1


def test_the_job_page_shows_check_results_and_attempts(users: dict[str, Any], procedural: str) -> None:
    big = acceptance_services.create_checklist(
        acting_user=users["creator"],
        name="Big",
        checks=[{"type": "min_resolution", "width": 4096, "height": 64}],
    )
    job, _ = services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={
            **{k: int(v) for k, v in BASE.items() if k != "prompt"},
            "prompt": "tiny",
            "checklist": big.pk,
            "max_attempts_to_pass": 2,
        },
    )
    client = logged_in(users["viewer"])
    queued = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Checklist Big v1" in queued and "Attempt 1 (this job)" in queued and "not judged yet" in queued
    runner.run(str(job.pk))
    checking_panel = client.get(f"/jobs/{job.pk}/progress/")
    # Stored but not checked yet: the panel keeps refreshing.
    assert (
        checking_panel.context["checks"].pending
        and 'hx-trigger="every 1s"' in checking_panel.content.decode()
    )
    assert "being checked" in checking_panel.content.decode()
    second = checking.run_checks(str(job.pk))
    assert second is not None  # failed: the next attempt is queued
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "min_resolution</strong> ✗ failed" in page and "64x64 against at least 4096x64." in page
    assert "did not pass" in page and f'<a href="/jobs/{second.pk}/">Attempt 2</a>' in page
    assert 'hx-trigger="every 1s"' in page  # attempt 2 is still to come
    runner.run(str(second.pk))
    checking.run_checks(str(second.pk))
    done = client.get(f"/jobs/{second.pk}/")
    assert not done.context["checks"].pending and 'hx-trigger="every 1s"' not in done.content.decode()
    assert (
        "Attempt 2 (this job)" in done.content.decode()
        and f'<a href="/jobs/{job.pk}/">Attempt 1</a>' in done.content.decode()
    )


def test_a_job_without_a_checklist_shows_no_checks(users: dict[str, Any], procedural: str) -> None:
    job, _ = services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={"prompt": "p", "width": 64, "height": 64},
    )
    page = logged_in(users["creator"]).get(f"/jobs/{job.pk}/")
    assert page.context["checks"] is None and "Acceptance checks" not in page.content.decode()


def test_run_again_asks_for_the_same_checklist(users: dict[str, Any], procedural: str) -> None:
    signs = acceptance_services.create_checklist(
        acting_user=users["creator"], name="Signs", checks=[{"type": "typography"}]
    )
    job, _ = services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={"prompt": "OPEN", "checklist": signs.pk, "expected_text": "OPEN", "max_attempts_to_pass": 3},
    )
    form = logged_in(users["creator"]).get(f"/generate/?from_job={job.pk}")
    values = form.context["values"]
    assert (values["checklist"], values["expected_text"], values["max_attempts_to_pass"]) == (
        str(signs.pk),
        "OPEN",
        "3",
    )
    assert f'<option value="{signs.pk}" data-typography="true" selected>' in form.content.decode()


def test_a_policy_name_with_nul_is_refused_beside_the_policy(
    users: dict[str, Any], default_policy: Any
) -> None:
    # PostgreSQL refuses NUL in a query's text: the service must refuse it first (not a 500).
    response = logged_in(users["creator"]).post("/generate/", {**TIER, "policy": "a\x00b"})
    assert response.status_code == 400
    assert field_error(response, "policy") == "Must be the name of a routing policy."
    assert GenerationJob.objects.count() == 0
