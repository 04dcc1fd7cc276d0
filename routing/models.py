"""Routing's rows: policies (admin-defined), a circuit breaker per plugin, monthly budgets and
the spend ledger that budgets are checked against.

Jobs are named by id only (``Spend.job_id`` is a plain UUID): routing sits below generation and
knows nothing of its models.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models

TIERS = ("draft", "final")


class RoutingPolicy(models.Model):
    """Which plugins serve each tier, in order of preference, and what a plugin must offer.

    ``tiers`` maps ``"draft"`` and/or ``"final"`` to a list of plugin ids. A plugin is skipped
    when it costs more per image than ``max_cost_per_image_usd`` or lacks one of
    ``required_capabilities``. ``breaker_failures`` consecutive failures of a plugin routed by
    this policy open its breaker; ``breaker_probe_after_s`` later one request goes through as a
    probe. At most one policy is the default (a partial unique constraint).
    """

    WRITERS: ClassVar[tuple[str, ...]] = ("routing.policies",)

    name = models.SlugField(max_length=63, unique=True)
    tiers = models.JSONField(default=dict)
    max_cost_per_image_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    required_capabilities = models.JSONField(default=list, blank=True)
    breaker_failures = models.PositiveSmallIntegerField(default=3)
    breaker_probe_after_s = models.PositiveIntegerField(default=60)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="routing_one_default_policy"
            )
        ]

    def __str__(self) -> str:
        return self.name


class BreakerState(models.TextChoices):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class PluginBreaker(models.Model):
    """A plugin's circuit breaker: closed (normal), open (skipped), half-open (one probe out).

    ``opened_at`` is when it last opened (or reopened after a failed probe); ``last_probe_at``
    when the last probe request was let through. A plugin with no row is closed.
    """

    WRITERS: ClassVar[tuple[str, ...]] = ("routing.breakers",)

    plugin_id = models.CharField(max_length=63, unique=True)
    state = models.CharField(max_length=16, choices=BreakerState.choices, default=BreakerState.CLOSED)
    consecutive_failures = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    last_probe_at = models.DateTimeField(null=True, blank=True)
    last_failure = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["plugin_id"]

    def __str__(self) -> str:
        return f"{self.plugin_id} breaker {self.state}"


class Budget(models.Model):
    """A monthly spending limit in US dollars for one user or one group (never both)."""

    WRITERS: ClassVar[tuple[str, ...]] = ("routing.budgets",)

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="budget"
    )
    group = models.OneToOneField(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="budget"
    )
    monthly_limit_usd = models.DecimalField(max_digits=12, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(user__isnull=False) & models.Q(group__isnull=True))
                | (models.Q(user__isnull=True) & models.Q(group__isnull=False)),
                name="routing_budget_user_xor_group",
            )
        ]

    def __str__(self) -> str:
        owner = f"user {self.user_id}" if self.user_id else f"group {self.group_id}"
        return f"budget of {owner}: ${self.monthly_limit_usd}/month"


class Spend(models.Model):
    """One job's cost in the month it was submitted.

    Written at submission with the estimate (``settled`` false) when a budget applies, so that
    queued jobs count against the budget; replaced by the actual cost when the job ends.
    """

    WRITERS: ClassVar[tuple[str, ...]] = ("routing.spend",)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    plugin_id = models.CharField(max_length=63)
    job_id = models.UUIDField(unique=True)
    amount_usd = models.DecimalField(max_digits=12, decimal_places=6)
    images = models.PositiveSmallIntegerField(default=1)
    # Seconds the job ran per image, for the estimate of local plugins' cost (None: not measured).
    seconds_per_image = models.FloatField(null=True, blank=True)
    month = models.DateField(help_text="The first day of the month the job was submitted in.")
    settled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "month"], name="routing_spend_user_month"),
            models.Index(fields=["month", "plugin_id"], name="routing_spend_month_plugin"),
            models.Index(fields=["plugin_id", "-updated_at"], name="routing_spend_plugin_recent"),
        ]

    def __str__(self) -> str:
        return f"job {self.job_id}: ${self.amount_usd} on {self.plugin_id}"
