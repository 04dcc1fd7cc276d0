"""Generation jobs: one row per request, the source of truth for its status (NetBox's habit)."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

#: Error codes whose messages speak of the request, the provider's answer or the worker's fate,
#: never of configuration: every role sees them as written. Other failures (a signer, weights,
#: a key's variable, a host an operator set) name paths, hosts and variable names, which only
#: admins see; everyone else is told the code and that an admin can read the details.
PUBLIC_ERROR_CODES = frozenset(
    {
        "invalid",
        "crash",
        "attempts_exhausted",
        "plugin_contract",
        "out_of_memory",
        "bad_image",
        "unsafe_image",
        "provider_error",
        "provider_unavailable",
        "provider_timeout",
        "provider_rejected",
        "provider_refused",
        "download_failed",
        "download_too_large",
        "disabled",
        # A promoted job's source asset is gone or its file no longer matches its record.
        "source_unavailable",
    }
)


class Derivation(models.TextChoices):
    """How a promoted job derives its image from its source asset (``generation.promote``)."""

    NONE = "", "none"
    RERENDER = "rerender"
    REFINE = "refine"


class GenerationJob(models.Model):
    """A request to make images with one plugin, and what became of it.

    Written only by the modules in ``WRITERS``: ``generation.services`` (the web side: submit,
    cancel, recover), ``generation.runner``, ``generation.claim``, ``generation.job_monitor``,
    ``generation.storing`` and ``generation.job_end`` (the worker side: claim, run, heartbeat,
    progress, store, end). ``attempts`` counts how often a worker took the job, so a job that
    kills its worker every time (a poison job) stops after ``max_attempts``.
    ``pending_files`` names files written but not yet committed as assets: a worker that takes
    over after a crash removes them, so no orphan file is left. ``enqueue_failed`` says the
    job's message never reached the broker (the API shows it as ``waiting_for_broker``).
    """

    #: The only modules that may save, update, create or delete jobs (tests/test_writers.py).
    WRITERS: ClassVar[tuple[str, ...]] = (
        "generation.services",
        "generation.runner",
        "generation.claim",
        "generation.job_monitor",
        "generation.storing",
        "generation.job_end",
        "generation.synthetic",
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plugin_id = models.CharField(max_length=63, db_index=True)
    plugin_version = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    num_images = models.PositiveSmallIntegerField(default=1)
    params = models.JSONField(default=dict, blank=True)
    progress_step = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    cancel_requested = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="generation_jobs"
    )
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)
    queue = models.CharField(max_length=100)
    worker = models.CharField(max_length=200, blank=True)
    pending_files = models.JSONField(default=list, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    # Set when the request named a tier or a routing policy instead of a plugin (routing/).
    routed_to = models.CharField(max_length=63, blank=True)
    routing_reason = models.CharField(max_length=500, blank=True)
    routing_policy = models.CharField(max_length=63, blank=True)
    routing_tier = models.CharField(max_length=16, blank=True)
    cost_currency = models.CharField(max_length=3, default="USD")
    # Seconds the worker spent storing the images (encode, sign, write, up to the commit): /metrics reads
    # it from the row, so a histogram of it needs nothing shared between worker hosts but this.
    store_seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # The last hand-over to the broker failed (it was down): the job waits for the broker, and
    # the recovery sweep enqueues it as soon as a publish succeeds (``services.enqueue``).
    enqueue_failed = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    # Acceptance (generation.checking): the checklist version each image is judged by on the
    # "checks" queue once stored, the text typography expects, and the attempts to pass it:
    # every attempt is a job of its own, linked to the first (attempt_of) and numbered.
    checklist_version = models.ForeignKey(
        "acceptance.ChecklistVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="jobs"
    )
    expected_text = models.TextField(blank=True)
    max_attempts_to_pass = models.PositiveSmallIntegerField(default=1)
    attempt_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="later_attempts"
    )
    attempt_number = models.PositiveSmallIntegerField(default=1)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Promotion (generation.promote): the asset this job derives from, how, and for a
    # refinement how much of it is redrawn. Its assets get ``parent`` = ``source_asset``. SET_NULL:
    # the lineage itself is kept by the assets' parent link and the audit trail, and a job must
    # never stop a purge.
    source_asset = models.ForeignKey(
        "assets.Asset", on_delete=models.SET_NULL, null=True, blank=True, related_name="derived_jobs"
    )
    derivation = models.CharField(max_length=16, choices=Derivation.choices, default="", blank=True)
    strength = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="generation_job_idempotency_key_per_user",
            ),
            # One job per attempt number: a redelivered checks task cannot submit an attempt twice.
            models.UniqueConstraint(
                fields=["attempt_of", "attempt_number"],
                condition=models.Q(attempt_of__isnull=False),
                name="generation_job_one_per_attempt",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="generation_status_heartbeat"),
            # /metrics aggregates only the jobs finished since its previous scrape (operations.job_stats).
            models.Index(fields=["finished_at"], name="generation_finished_at"),
        ]

    def __str__(self) -> str:
        return f"job {self.id} {self.plugin_id} {self.status}"

    def error_for(self, *, sees_configuration: bool) -> str:
        """The job's error as a user sees it: in full for admins (``sees_configuration``) and
        for codes in ``PUBLIC_ERROR_CODES``; otherwise only its code (the worker log and the
        admins' view have the rest)."""
        if not self.error or sees_configuration or self.error_code in PUBLIC_ERROR_CODES:
            return self.error
        return f"The job failed ({self.error_code or 'error'}); an admin can see why on the job's page."

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES
