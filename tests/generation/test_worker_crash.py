"""A worker killed with SIGKILL mid-job: a new worker finishes the job, once, with no orphan files."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from django.conf import settings

from assets.models import Asset
from generation import runner, services
from generation.models import GenerationJob
from governance.models import AuditEvent
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

# Short timings so that the test does not wait a minute for the dead worker's heartbeat to age.
FAST_RECOVERY = {
    "HALLMARK_HEARTBEAT_SECONDS": "0.3",
    "HALLMARK_JOB_STALE_AFTER": "2",
    "HALLMARK_RECOVERY_INTERVAL": "0.5",
}


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_sigkilled_worker_job_completes_once_on_a_new_worker(worker_process, users, procedural) -> None:
    job, _ = services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={"prompt": "survive the crash", "num_images": 2, "width": 128, "height": 128, "params": {"steps": 8, "step_delay": 0.4}},
    )
    first = worker_process(["gen.procedural"], **FAST_RECOVERY)
    wait_for(lambda: GenerationJob.objects.get(pk=job.pk).progress_step >= 2, timeout=120)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    crashed = GenerationJob.objects.get(pk=job.pk)
    assert crashed.status == "running" and crashed.attempts == 1

    worker_process(["gen.procedural"], **FAST_RECOVERY)
    finished = wait_for(
        lambda: (j := GenerationJob.objects.get(pk=job.pk)).is_terminal and j, timeout=90
    )
    assert finished.status == "succeeded", finished.error
    assert finished.attempts == 2
    assets = list(Asset.objects.filter(job=job))
    assert len(assets) == 2
    assert AuditEvent.objects.filter(action="asset.created", data__job_id=str(job.pk)).count() == 2
    assert AuditEvent.objects.filter(action="generation.succeeded", target_id=str(job.pk)).count() == 1

    stored = _files_under(Path(settings.MEDIA_ROOT))
    expected = sorted(Path(settings.MEDIA_ROOT, name) for a in assets for name in (a.file.name, a.thumbnail.name))
    assert expected == stored, "orphan or missing files"
    assert not [p for p in stored if p.name.startswith(".incoming-")]


def test_crash_after_files_were_written_leaves_no_orphan(worker_process, users, procedural) -> None:
    """A crash between writing files and committing the assets: the next attempt removes them."""
    from assets import services as asset_services
    from plugins.builtin.procedural import ProceduralPlugin
    from plugins.validation import build_request

    job, _ = services.submit(
        acting_user=users["creator"], plugin_id="procedural", fields={"prompt": "half done", "width": 64, "height": 64}
    )
    # Reproduce what a worker does up to the crash: claim, generate, record pending names, write.
    claimed = runner._claim(str(job.pk), "dead-worker:1")
    assert claimed is not None
    plugin = ProceduralPlugin()
    request = build_request(plugin, prompt="half done", width=64, height=64, seed=123)
    result = plugin.generate(request, lambda s, t: None, lambda: False)
    prepared = asset_services.prepare(
        claimed, result.images, identity=plugin.identity().as_dict(), license=plugin.license.as_dict(), is_ai_model=False
    )
    GenerationJob.objects.filter(pk=job.pk).update(pending_files=prepared[0].file_names, heartbeat_at=None)
    asset_services.write_files(prepared)
    orphans = [Path(settings.MEDIA_ROOT, name) for name in prepared[0].file_names]
    assert all(orphan.exists() for orphan in orphans)

    worker_process(["gen.procedural"], **FAST_RECOVERY)
    finished = wait_for(lambda: (j := GenerationJob.objects.get(pk=job.pk)).is_terminal and j, timeout=120)
    assert finished.status == "succeeded"
    assert not any(orphan.exists() for orphan in orphans)
    asset = Asset.objects.get(job=job)
    assert _files_under(Path(settings.MEDIA_ROOT)) == sorted(
        Path(settings.MEDIA_ROOT, name) for name in (asset.file.name, asset.thumbnail.name)
    )


def test_poison_job_stops_after_max_attempts(users, procedural, db) -> None:
    job, _ = services.submit(acting_user=users["creator"], plugin_id="procedural", fields={"prompt": "poison"})
    for attempt in range(job.max_attempts):
        assert runner._claim(str(job.pk), f"doomed-{attempt}") is not None
        GenerationJob.objects.filter(pk=job.pk).update(heartbeat_at=None)  # its worker died
    runner.run(str(job.pk))
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == "attempts_exhausted"
    assert "Gave up after 3 attempts" in job.error
    assert not Asset.objects.filter(job=job).exists()
