"""/metrics: who may read it, and what it shows after real jobs on a real worker."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from generation.models import GenerationJob, JobStatus
from governance.models import AuditChainHead
from hallmark.celery import app
from operations import job_stats
from tests.conftest import all_plugin_queues, wait_for

TOKEN = "metrics-token-0123456789abcdef"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as {(name, sorted labels): value}."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return samples(response.content.decode())


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, tuple(sorted(labels.items())))


# --- who may read it ------------------------------------------------------------------------


def test_metrics_are_off_until_a_token_or_network_is_set(client: Any, settings: Any) -> None:
    settings.HALLMARK_METRICS_TOKEN = ""
    settings.HALLMARK_METRICS_ALLOWED_NETWORKS = ()
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


@pytest.mark.django_db
def test_the_token_is_required_and_compared_whole(client: Any, settings: Any) -> None:
    settings.HALLMARK_METRICS_TOKEN = TOKEN
    settings.HALLMARK_METRICS_ALLOWED_NETWORKS = ()
    for header in (None, f"Token {TOKEN}", f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}"):
        extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
        response = client.get("/metrics", **extra)
        assert response.status_code == 403, header
        assert TOKEN not in response.content.decode()
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"bearer {TOKEN}").status_code == 200


@pytest.mark.django_db
def test_networks_count_the_connecting_address_never_x_forwarded_for(client: Any, settings: Any) -> None:
    from ipaddress import ip_network

    settings.HALLMARK_METRICS_TOKEN = ""
    settings.HALLMARK_METRICS_ALLOWED_NETWORKS = (ip_network("10.0.0.0/8"), ip_network("::1/128"))
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:10.9.9.9").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.10").status_code == 403
    # Without a proxy configured, X-Forwarded-For is the client's own invention.
    spoofed = client.get("/metrics", REMOTE_ADDR="192.168.1.10", HTTP_X_FORWARDED_FOR="10.0.0.1")
    assert spoofed.status_code == 403
    # Not behind proxies either: a client that reaches the app port directly (inside the
    # cluster, a misrouted load balancer) would choose its own address through the header.
    settings.HALLMARK_NUM_PROXIES = 1
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.10", HTTP_X_FORWARDED_FOR="10.0.0.1").status_code == 403
    # A scraper inside an allowed network is let in whatever the header says.
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="192.168.1.10").status_code == 200
    # Both set: both must hold.
    settings.HALLMARK_NUM_PROXIES = 0
    settings.HALLMARK_METRICS_TOKEN = TOKEN
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.10", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_bad_metrics_settings_stop_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from hallmark.environment import network_list, optional_secret

    monkeypatch.setenv("HALLMARK_METRICS_TOKEN", "short")
    with pytest.raises(ImproperlyConfigured, match="HALLMARK_METRICS_TOKEN must be at least 24"):
        optional_secret("HALLMARK_METRICS_TOKEN", min_length=24)
    monkeypatch.setenv("HALLMARK_METRICS_ALLOWED_NETWORKS", "10.0.0.0/8, example.com")
    with pytest.raises(ImproperlyConfigured, match=r"'example\.com' is not an address or a network"):
        network_list("HALLMARK_METRICS_ALLOWED_NETWORKS")
    monkeypatch.setenv("HALLMARK_METRICS_ALLOWED_NETWORKS", "10.0.0.1, fd00::/8")
    assert [str(n) for n in network_list("HALLMARK_METRICS_ALLOWED_NETWORKS")] == ["10.0.0.1/32", "fd00::/8"]


# --- what it shows ---------------------------------------------------------------------------


@pytest.fixture
def metrics_on(settings: Any) -> None:
    settings.HALLMARK_METRICS_TOKEN = TOKEN
    settings.HALLMARK_METRICS_ALLOWED_NETWORKS = ()


def _purge_plugin_queues() -> None:
    with app.connection_for_write() as conn:
        for name in all_plugin_queues():
            with contextlib.suppress(Exception):
                conn.default_channel.queue_purge(name)


@pytest.mark.integration
def test_after_a_few_jobs_metrics_show_job_counters_queue_depth_and_histograms(
    transactional_db: None, client: Any, client_for: Any, procedural: str, metrics_on: None
) -> None:
    from celery.contrib.testing.worker import start_worker

    from generation.runner import drain_background_stores

    _purge_plugin_queues()
    creator = client_for("creator")
    ids = []
    for seed in range(3):
        response = creator.post("/api/v1/generations/", {"plugin": "procedural", "prompt": "m", "seed": seed, "width": 64, "height": 64}, format="json")
        assert response.status_code == 202, response.content
        ids.append(response.json()["id"])

    # Nothing serves the queue yet: three messages wait in the broker, three jobs are queued.
    before = scrape(client)
    assert before[key("hallmark_queue_depth", queue="gen.procedural")] == 3
    assert before[key("hallmark_jobs", plugin="procedural", status="queued")] == 3
    assert before[key("hallmark_plugin_health", plugin="procedural", health="green")] == 1
    assert before[key("hallmark_plugin_enabled", plugin="procedural")] == 1
    assert before[key("hallmark_scrape_error", section="queues")] == 0

    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, queues=["gen.procedural"], shutdown_timeout=30):
        wait_for(lambda: GenerationJob.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count() == 3, timeout=60)
        drain_background_stores()

    after = scrape(client)
    assert after[key("hallmark_queue_depth", queue="gen.procedural")] == 0
    assert after[key("hallmark_jobs", plugin="procedural", status="succeeded")] == 3
    assert key("hallmark_jobs", plugin="procedural", status="queued") not in after
    assert after[key("hallmark_job_duration_seconds_count", plugin="procedural", status="succeeded")] == 3
    assert after[key("hallmark_job_duration_seconds_bucket", plugin="procedural", status="succeeded", le="+Inf")] == 3
    assert after[key("hallmark_job_queue_seconds_count", plugin="procedural")] == 3
    assert after[key("hallmark_job_store_seconds_count", plugin="procedural")] == 3
    assert 0 < after[key("hallmark_job_store_seconds_sum", plugin="procedural")] < 60
    jobs = GenerationJob.objects.filter(pk__in=ids)
    assert all(job.store_seconds is not None and job.store_seconds > 0 for job in jobs)
    head = AuditChainHead.objects.get(id=1).seq
    assert after[key("hallmark_audit_chain_length")] == head > 0


@pytest.mark.django_db
def test_histograms_count_each_finished_job_once_across_scrapes(
    client: Any, users: Any, metrics_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_stats, "SETTLE_SECONDS", 0.3)
    now = timezone.now()

    def finished_job(seconds_ago: float, queued: float, ran: float, store: float | None, status: str = JobStatus.SUCCEEDED) -> None:
        job = GenerationJob.objects.create(
            plugin_id="procedural", prompt="p", width=64, height=64, seed=1, requested_by=users["creator"], queue="gen.procedural"
        )
        finished = now - timedelta(seconds=seconds_ago)
        started = finished - timedelta(seconds=ran)
        GenerationJob.objects.filter(pk=job.pk).update(
            status=status, created_at=started - timedelta(seconds=queued), started_at=started, finished_at=finished, store_seconds=store
        )

    finished_job(3600, queued=0.02, ran=0.3, store=0.04)  # long settled
    finished_job(0, queued=7, ran=40, store=None, status=JobStatus.FAILED)  # in the unsettled tail
    first = scrape(client)
    assert first[key("hallmark_jobs", plugin="procedural", status="succeeded")] == 1
    assert first[key("hallmark_jobs", plugin="procedural", status="failed")] == 1
    ok = {"plugin": "procedural", "status": "succeeded"}
    assert first[key("hallmark_job_duration_seconds_bucket", **ok, le="0.25")] == 0
    assert first[key("hallmark_job_duration_seconds_bucket", **ok, le="0.5")] == 1
    assert first[key("hallmark_job_duration_seconds_sum", **ok)] == pytest.approx(0.3, abs=1e-3)
    failed = {"plugin": "procedural", "status": "failed"}
    assert first[key("hallmark_job_duration_seconds_bucket", **failed, le="30.0")] == 0
    assert first[key("hallmark_job_duration_seconds_bucket", **failed, le="60.0")] == 1
    assert first[key("hallmark_job_queue_seconds_bucket", plugin="procedural", le="0.05")] == 1
    assert first[key("hallmark_job_queue_seconds_bucket", plugin="procedural", le="10.0")] == 2
    assert first[key("hallmark_job_store_seconds_count", plugin="procedural")] == 1
    assert first[key("hallmark_job_store_seconds_bucket", plugin="procedural", le="0.05")] == 1

    # The tail settles and a new job finishes: each job is still counted once.
    import time

    time.sleep(0.4)
    finished_job(0, queued=0.5, ran=2, store=0.2)
    second = scrape(client)
    assert second[key("hallmark_jobs", plugin="procedural", status="succeeded")] == 2
    assert second[key("hallmark_jobs", plugin="procedural", status="failed")] == 1
    assert second[key("hallmark_job_queue_seconds_count", plugin="procedural")] == 3
    third = scrape(client)
    assert third == second | {k: v for k, v in third.items() if k[0] == "hallmark_audit_checkpoint_age_seconds"}


@pytest.mark.django_db
def test_a_broker_that_is_down_costs_only_its_section(
    client: Any, metrics_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Celery reads CELERY_BROKER_URL from the environment before its own setting. Patched
    # second: undone first, so that the setting is restored to the value it had before both.
    monkeypatch.setattr(app.conf, "broker_url", "redis://:s3cret-pass@127.0.0.1:17238/0")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://:s3cret-pass@127.0.0.1:17238/0")
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    text = response.content.decode()
    assert "s3cret" not in text
    found = samples(text)
    assert found[key("hallmark_scrape_error", section="queues")] == 1
    assert found[key("hallmark_scrape_error", section="jobs")] == 0
    assert not any(name == "hallmark_queue_depth" for name, _ in found)


@pytest.mark.django_db
def test_the_age_of_the_latest_signed_checkpoint(client: Any, users: Any, metrics_on: None, settings: Any, tmp_path: Path) -> None:
    from governance import checkpoints
    from governance.audit_trail import record_event

    settings.HALLMARK_AUDIT_SIGNING_KEY = tmp_path / "audit" / "key.pem"
    settings.HALLMARK_AUDIT_CHECKPOINT_DIR = tmp_path / "audit" / "checkpoints"
    assert scrape(client)[key("hallmark_audit_checkpoint_present")] == 0
    checkpoints.init_key()
    checkpoint, _ = checkpoints.create_checkpoint()
    record_event("test.event", acting_user=users["admin"], target=("tests.thing", "1"))
    record_event("test.event", acting_user=users["admin"], target=("tests.thing", "2"))
    found = scrape(client)
    assert found[key("hallmark_audit_checkpoint_present")] == 1
    assert 0 <= found[key("hallmark_audit_checkpoint_age_seconds")] < 60
    assert found[key("hallmark_audit_events_since_checkpoint")] == 2
    assert found[key("hallmark_audit_chain_length")] == checkpoint.seq + 2
