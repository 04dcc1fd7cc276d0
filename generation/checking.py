"""Acceptance checks on generated images, and attempts to pass them.

A request may name a ``checklist`` (its latest version is recorded on the job), the
``expected_text`` a typography check reads back, and ``max_attempts_to_pass`` (1..10). Once a
job's images are stored, the runner sends ``RUN_CHECKS_TASK`` by name to the ``checks`` queue
(``after_stored``), so a GPU worker never waits for OCR. That task (``run_checks``) runs the
checklist on each image through ``acceptance.services`` and, when no image passed and
attempts remain, submits the same request again with a new seed through
``generation.services.submit``: a job of its own, linked to the first attempt. Here and not in
``acceptance`` because submitting a job is generation's business (acceptance sits below it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from acceptance import services as acceptance_services
from acceptance.checks import CheckContext
from acceptance.models import Checklist, ChecklistVersion, CheckResult
from assets.models import Asset
from generation.models import GenerationJob, JobStatus
from hallmark.celery import app
from hallmark.errors import ServiceError
from hallmark.sdk import RequestInvalid
from plugins import registry

logger = logging.getLogger(__name__)

#: The Celery task that checks a job's stored images (``generation.tasks.run_checks``).
RUN_CHECKS_TASK = "generation.run_checks"
#: The queue checks run on: CPU workers (OCR), apart from the GPU workers' plugin queues.
CHECKS_QUEUE = "checks"
#: The most attempts one request may ask for to pass its checklist.
MAX_ATTEMPTS_TO_PASS = 10
#: The longest expected text, in characters (OCR reads a poster or a label, not a page).
MAX_EXPECTED_TEXT = 500


def job_fields(fields: Mapping[str, Any], *, retry_of: GenerationJob | None = None) -> dict[str, Any]:
    """The acceptance fields of a new job, from the request (or, for a retry, from the attempt
    before it: same checklist version and text, the next attempt number).

    Raises ``RequestInvalid`` naming each field at fault.
    """
    if retry_of is not None:
        first = retry_of.attempt_of or retry_of
        return {
            "checklist_version_id": retry_of.checklist_version_id,
            "expected_text": retry_of.expected_text,
            "max_attempts_to_pass": retry_of.max_attempts_to_pass,
            "attempt_of": first,
            "attempt_number": retry_of.attempt_number + 1,
        }
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    checklist_id = fields.get("checklist")
    expected = fields.get("expected_text")
    attempts = fields.get("max_attempts_to_pass")
    version = None
    if checklist_id is not None:
        checklist = None
        if isinstance(checklist_id, int) and not isinstance(checklist_id, bool):
            checklist = Checklist.objects.filter(pk=checklist_id).first()
        if checklist is None:
            errors["checklist"] = ["Must be the id of an existing checklist."]
        else:
            version = checklist.latest
            values["checklist_version_id"] = version.pk
    if expected is not None:
        if not isinstance(expected, str) or len(expected) > MAX_EXPECTED_TEXT or "\x00" in expected:
            errors["expected_text"] = [f"Must be a string of at most {MAX_EXPECTED_TEXT} characters."]
        else:
            values["expected_text"] = expected.strip()
    if attempts is not None:
        if (
            isinstance(attempts, bool)
            or not isinstance(attempts, int)
            or not 1 <= attempts <= MAX_ATTEMPTS_TO_PASS
        ):
            errors["max_attempts_to_pass"] = [f"Must be an integer from 1 to {MAX_ATTEMPTS_TO_PASS}."]
        elif checklist_id is None:
            errors["max_attempts_to_pass"] = ["Needs a checklist to pass."]
        else:
            values["max_attempts_to_pass"] = attempts
    typography = version is not None and any(check.get("type") == "typography" for check in version.checks)
    if typography and "expected_text" not in errors and not values.get("expected_text"):
        errors["expected_text"] = ["The checklist has a typography check: name the text the image must show."]
    if errors:
        raise RequestInvalid(errors)
    return values


def same_request(job: GenerationJob, values: Mapping[str, Any]) -> bool:
    """Whether ``job`` asked for the acceptance ``values`` (``job_fields``' answer) too: the same
    checklist (any version of it: an edit between a request and its retry is not a new
    request), expected text and attempts to pass. An idempotency key replays only such a job."""
    asked = values.get("checklist_version_id")
    had = job.checklist_version.checklist_id if job.checklist_version is not None else None
    wanted = ChecklistVersion.objects.get(pk=asked).checklist_id if asked is not None else None
    return (
        had == wanted
        and job.expected_text == values.get("expected_text", "")
        and job.max_attempts_to_pass == values.get("max_attempts_to_pass", 1)
    )


def audited(values: Mapping[str, Any]) -> dict[str, Any]:
    """What the ``generation.requested`` event records of the acceptance fields."""
    recorded: dict[str, Any] = {}
    if values.get("checklist_version_id"):
        recorded["checklist_version"] = values["checklist_version_id"]
        recorded["max_attempts_to_pass"] = values.get("max_attempts_to_pass", 1)
    if values.get("attempt_of") is not None:
        recorded["attempt_of"] = str(values["attempt_of"].pk)
        recorded["attempt_number"] = values["attempt_number"]
    return recorded


def after_stored(job: GenerationJob) -> None:
    """Called by the runner in the transaction that stored a job's images: send its checks to
    the ``checks`` queue once that commits (nothing for a job without a checklist)."""
    if job.checklist_version_id is not None:
        job_id = str(job.pk)
        transaction.on_commit(lambda: send_checks(job_id))


def send_checks(job_id: str) -> bool:
    """Hand a job's checks to the ``checks`` queue; return whether the broker took them.

    A failure is logged with the job's id, not raised: the job has succeeded and its images
    are stored; its checks are missing until sent again (docs/acceptance.md).
    """
    try:
        app.send_task(RUN_CHECKS_TASK, args=(job_id,), queue=CHECKS_QUEUE, retry=False)
    except Exception as exc:
        logger.warning("could not send the checks of job %s (%s: %s)", job_id, type(exc).__name__, exc)
        return False
    return True


def check_context(job: GenerationJob, asset: Asset) -> CheckContext:
    """What the checks of ``asset`` see of its job: the expected text, time taken, cost per image."""
    seconds = None
    if job.started_at is not None and job.finished_at is not None:
        seconds = (job.finished_at - job.started_at).total_seconds()
    cost = None
    if job.cost is not None:
        cost = (Decimal(job.cost) / max(1, job.num_images)).quantize(Decimal("0.000001"))
    return CheckContext(asset=asset, expected_text=job.expected_text, seconds=seconds, cost_usd=cost)


def run_checks(job_id: str) -> GenerationJob | None:
    """Check every stored image of a succeeded job against its checklist version, then submit
    the next attempt when none passed and attempts remain; return that attempt, if any.

    Safe to run more than once: results are recorded once per image and version, and each
    attempt number is submitted once (a unique constraint on the job).
    """
    job = (
        GenerationJob.objects.select_related("checklist_version__checklist", "requested_by", "attempt_of")
        .filter(pk=job_id)
        .first()
    )
    if job is None or job.checklist_version is None or job.status != JobStatus.SUCCEEDED:
        return None
    version = job.checklist_version
    passed = False
    last: tuple[Asset, list[CheckResult]] | None = None
    for asset in Asset.objects.live().filter(job=job).order_by("index_in_job"):
        if last is not None:
            # Each image's results show as soon as it is checked; the last image's judge the
            # attempt, and are recorded below.
            acceptance_services.record_results(version, *last)
        results = acceptance_services.evaluate(version, check_context(job, asset))
        passed = passed or all(result.passed for result in results)
        last = (asset, results)
    if passed or job.attempt_number >= job.max_attempts_to_pass:
        if last is not None:
            acceptance_services.record_results(version, *last)
        return None
    # The verdict and the next attempt commit together: the job page, which refreshes while an
    # attempt is not judged, must never see this one judged failed and the next not there yet
    # (it would stop refreshing while attempts remain). A submission refused for good still
    # records the verdict: the attempts end here. The submission goes first, so the audit
    # chain's head (locked by the first event) is held for the shortest time.
    with transaction.atomic():
        attempt = _submit_next_attempt(job)
        if last is not None:
            acceptance_services.record_results(version, *last)
    return attempt


def next_seed(job: GenerationJob) -> int:
    """The seed of the attempt after ``job``: past every seed its images used (image *i* of a
    job uses seed + i), wrapped into the plugin's seed range."""
    seed_max = registry.get_entry(job.plugin_id).get_class().capabilities.seed_max
    return (job.seed + job.num_images) % (seed_max + 1)


def _submit_next_attempt(job: GenerationJob) -> GenerationJob | None:
    from generation import services  # the web side's submit; services imports this module

    request = {
        "prompt": job.prompt,
        "negative_prompt": job.negative_prompt,
        "width": job.width,
        "height": job.height,
        "num_images": job.num_images,
        "params": dict(job.params),
    }
    try:
        request["seed"] = next_seed(job)
        attempt, _ = services.submit(
            acting_user=job.requested_by, plugin_id=job.plugin_id, fields=request, retry_of=job
        )
    except IntegrityError:
        logger.info("job %s: its next attempt was already submitted", job.pk)
        return None
    except (ServiceError, LookupError, services.QueueFull) as exc:
        # The plugin was disabled or removed, the user's queue is full or a budget is spent:
        # the attempts end here, and the job's checks say it did not pass.
        logger.warning("job %s: no further attempt to pass its checklist (%s)", job.pk, exc)
        return None
    return attempt
