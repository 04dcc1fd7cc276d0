"""The job path's shortcuts keep the behaviour of the long way: claim, progress, cancel, audit."""

from __future__ import annotations

from assets.models import Asset
from generation import claim, job_monitor, runner, services
from generation.models import GenerationJob
from governance.audit_trail import PendingEvent, record_events, verify_audit_chain
from governance.models import AuditChainHead, AuditEvent
from plugins import services as plugin_services


def _submit(users, **fields):
    job, _ = services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={"prompt": "path", "width": 64, "height": 64, **fields},
    )
    return job


def test_the_claim_returns_the_requester_and_the_plugin_settings_of_that_moment(users, procedural) -> None:
    job = _submit(users)
    plugin_services.update_plugin("procedural", acting_user=users["admin"], config={"default_palette": "sea"})
    claimed = claim.claim_fast(str(job.pk), "me:1")
    assert claimed is not None
    assert claimed.enabled and claimed.config == {"default_palette": "sea"}
    assert claimed.job.requested_by.get_username() == users["creator"].get_username()
    assert claimed.job.attempts == 1 and claimed.job.worker == "me:1" and claimed.job.status == "running"
    # A second delivery while this worker's heartbeat is fresh takes nothing.
    assert claim.claim_fast(str(job.pk), "other:2") is None
    assert runner._claim(str(job.pk), "other:2") is None
    assert GenerationJob.objects.get(pk=job.pk).attempts == 1


def test_an_unusual_job_goes_the_locked_way(users, procedural) -> None:
    job = _submit(users)
    services.cancel(job.pk, acting_user=users["creator"])  # cancelled while queued: terminal
    assert claim.claim_fast(str(job.pk), "me:1") is None
    assert claim.claim_fast("not-a-uuid", "me:1") is None
    runner.run(str(job.pk))
    assert GenerationJob.objects.get(pk=job.pk).status == "cancelled"


def test_progress_and_cancel_checks_are_rate_bounded_and_the_last_step_lands_with_the_end(
    users, procedural, django_assert_max_num_queries
) -> None:
    job = _submit(users)
    claimed = claim.claim_fast(str(job.pk), "me:1")
    assert claimed is not None
    monitor = job_monitor.JobMonitor(claimed.job, interval=60)
    GenerationJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    with django_assert_max_num_queries(0):
        for step in range(1, 5):
            monitor.on_progress(step, 4)
            assert not monitor.is_cancelled()  # the claim's answer, for ``interval``
    assert monitor.latest == (4, 4)
    eager = job_monitor.JobMonitor(claimed.job, interval=0)
    assert eager.is_cancelled()
    eager.on_progress(2, 4)
    assert GenerationJob.objects.get(pk=job.pk).progress_step == 2


def test_a_job_ends_with_its_last_reported_progress_and_one_chain_append(users, procedural) -> None:
    job = _submit(users, params={"steps": 3})
    before = AuditChainHead.objects.get(id=1).seq
    runner.run(str(job.pk))
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.progress_total == 3 and job.progress_step == 3
    asset = Asset.objects.get(job=job)
    actions = list(AuditEvent.objects.filter(seq__gt=before).values_list("action", "target_id"))
    assert actions == [("asset.created", str(asset.pk)), ("generation.succeeded", str(job.pk))]
    assert verify_audit_chain().ok


def test_events_appended_together_chain_in_order_and_verify(users) -> None:
    before = AuditChainHead.objects.get_or_create(id=1)[0].seq
    events = record_events(
        [PendingEvent("test.first", ("thing", "1"), {"n": 1}), PendingEvent("test.second", ("thing", "2"))]
    )
    assert [e.seq for e in events] == [before + 1, before + 2]
    assert events[1].prev_hash == events[0].hash
    head = AuditChainHead.objects.get(id=1)
    assert (head.seq, head.hash) == (before + 2, events[1].hash)
    assert verify_audit_chain().ok
