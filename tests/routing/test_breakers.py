"""Circuit breakers: N consecutive failures open one, routing goes elsewhere, one request is
the probe once the wait is over, and the probe's outcome closes or reopens it."""

from __future__ import annotations

import datetime
import time

import pytest

from generation import runner
from generation.models import GenerationJob
from routing import breakers
from routing.models import BreakerState, PluginBreaker
from tests.conftest import wait_for


def _submit(client, **body):
    response = client.post("/api/v1/generations/", {"prompt": "SALE", **body}, format="json")
    assert response.status_code == 202, response.content
    return response.json()


def _wind_back(plugin_id: str, seconds: int) -> None:
    """Make the breaker's wait look over, as if ``seconds`` had passed (the test's own write)."""
    moment = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=seconds)
    PluginBreaker.objects.filter(plugin_id=plugin_id).update(opened_at=moment, last_probe_at=moment)


@pytest.mark.django_db(transaction=True)
def test_failures_open_the_breaker_requests_go_elsewhere_and_a_probe_closes_it(
    client_for, procedural, flaky, make_policy
) -> None:
    make_policy(
        "studio", draft=["flaky", "procedural"], breaker={"failures": 2, "probe_after_s": 60}, default=True
    )
    client = client_for("creator")
    flaky.failing = True
    for _ in range(2):
        job = _submit(client, tier="draft")
        assert job["plugin"] == "flaky" and job["routing_reason"] == "preferred"
        runner.run(job["id"])
        assert GenerationJob.objects.get(pk=job["id"]).error_code == "provider_unavailable"
    assert PluginBreaker.objects.get(plugin_id="flaky").state == BreakerState.OPEN

    elsewhere = _submit(client, tier="draft")
    assert elsewhere["plugin"] == "procedural"
    assert elsewhere["routing_reason"] == "fallback: flaky breaker open"

    _wind_back("flaky", 61)
    flaky.failing = False
    probe = _submit(client, tier="draft")
    assert probe["plugin"] == "flaky" and probe["routing_reason"] == "preferred (breaker probe)"
    # While the probe is out, everyone else goes elsewhere.
    meanwhile = _submit(client, tier="draft")
    assert meanwhile["routing_reason"] == "fallback: flaky breaker half-open (probe in flight)"
    runner.run(probe["id"])
    assert GenerationJob.objects.get(pk=probe["id"]).status == "succeeded"
    breaker = PluginBreaker.objects.get(plugin_id="flaky")
    assert (breaker.state, breaker.consecutive_failures) == (BreakerState.CLOSED, 0)
    assert _submit(client, tier="draft")["routing_reason"] == "preferred"


@pytest.mark.django_db(transaction=True)
def test_a_failed_probe_opens_the_breaker_again(client_for, procedural, flaky, make_policy) -> None:
    make_policy(
        "studio", draft=["flaky", "procedural"], breaker={"failures": 1, "probe_after_s": 30}, default=True
    )
    client = client_for("creator")
    flaky.failing = True
    runner.run(_submit(client, tier="draft")["id"])
    assert PluginBreaker.objects.get(plugin_id="flaky").state == BreakerState.OPEN
    _wind_back("flaky", 31)
    probe = _submit(client, tier="draft")
    assert probe["routing_reason"] == "preferred (breaker probe)"
    runner.run(probe["id"])
    breaker = PluginBreaker.objects.get(plugin_id="flaky")
    assert breaker.state == BreakerState.OPEN and breaker.consecutive_failures == 2
    assert _submit(client, tier="draft")["routing_reason"] == "fallback: flaky breaker open"


@pytest.mark.django_db
def test_only_one_request_claims_the_probe(flaky) -> None:
    breakers.record_failure("flaky", error_code="crash", failures_to_open=1)
    assert not breakers.try_probe("flaky", probe_after_s=60)  # the wait is not over
    _wind_back("flaky", 61)
    assert [breakers.try_probe("flaky", probe_after_s=60) for _ in range(3)] == [True, False, False]


@pytest.mark.django_db
def test_cancels_and_invalid_requests_do_not_count_as_failures() -> None:
    assert not breakers.counts_as_failure("invalid")
    assert not breakers.counts_as_failure("provider_refused")
    assert breakers.counts_as_failure("provider_unavailable")
    assert breakers.counts_as_failure("crash")


@pytest.mark.integration
def test_breaker_end_to_end_with_a_real_worker(
    flaky, celery_worker, client_for, procedural, make_policy
) -> None:
    make_policy(
        "studio", draft=["flaky", "procedural"], breaker={"failures": 2, "probe_after_s": 1}, default=True
    )
    client = client_for("creator")

    def ended(job_id: str) -> GenerationJob | None:
        job = GenerationJob.objects.get(pk=job_id)
        return job if job.is_terminal else None

    flaky.failing = True
    for _ in range(2):
        failing = _submit(client, tier="draft")["id"]
        assert wait_for(lambda job_id=failing: ended(job_id), timeout=60).status == "failed"
    wait_for(lambda: PluginBreaker.objects.filter(plugin_id="flaky", state=BreakerState.OPEN).exists())
    routed = _submit(client, tier="draft")
    assert routed["routing_reason"] == "fallback: flaky breaker open"
    assert wait_for(lambda: ended(routed["id"]), timeout=60).status == "succeeded"

    flaky.failing = False
    time.sleep(1.1)  # probe_after_s
    probe = _submit(client, tier="draft")
    assert probe["routing_reason"] == "preferred (breaker probe)"
    assert wait_for(lambda: ended(probe["id"]), timeout=60).status == "succeeded"
    wait_for(lambda: PluginBreaker.objects.filter(plugin_id="flaky", state=BreakerState.CLOSED).exists())
    breakers_api = client.get("/api/v1/routing/breakers/").json()
    assert {"plugin": "flaky", "state": "closed"}.items() <= next(
        b for b in breakers_api if b["plugin"] == "flaky"
    ).items()
