"""The append-only, hash-chained audit trail."""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn

from django.conf import settings
from django.db import models


class AppendOnlyError(Exception):
    """Raised on any attempt to change or remove an audit event through the ORM."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    """Refuses bulk updates and deletes; the database trigger refuses them underneath too."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events are append-only")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("audit events are append-only")


class AuditEvent(models.Model):
    """One fact in the audit trail: who did what to which object, and when.

    ``hash = sha256(prev_hash || RFC 8785 canonical JSON of the event)``; see
    ``governance.audit_chain``. Written only by ``governance.audit_trail.record_event``
    (``WRITERS``).
    """

    #: The only modules that may create audit events (tests/test_writers.py); nothing updates
    #: or deletes one.
    WRITERS: ClassVar[tuple[str, ...]] = ("governance.audit_trail",)

    seq = models.BigIntegerField(unique=True)
    at = models.DateTimeField()
    actor = models.CharField(max_length=150, help_text="Username of the acting user, or system:<component>.")
    actor_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, db_index=True)
    target_id = models.CharField(max_length=64, db_index=True)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["target_type", "target_id", "seq"]), models.Index(fields=["at"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.target_type}:{self.target_id} by {self.actor}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events are append-only")


class AuditChainHead(models.Model):
    """The single row holding the chain's last seq and hash.

    Writers lock it (SELECT ... FOR UPDATE) so concurrent writers cannot fork the chain, and
    ``verify_audit`` compares it with the last event to notice a removed tail. Written only by
    ``governance.audit_trail.record_event``, with each event (``WRITERS``).
    """

    #: The only modules that may save the head (tests/test_writers.py).
    WRITERS: ClassVar[tuple[str, ...]] = ("governance.audit_trail",)

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"head #{self.seq} {self.hash[:12]}"


class RevenueBand(models.TextChoices):
    """The organisation's annual revenue, in the bands licence ceilings are written against."""

    UNDER_1M = "under_1m", "Under US$1M"
    FROM_1M_TO_10M = "1m_to_10m", "US$1M to US$10M"
    OVER_10M = "over_10m", "Over US$10M"


class OrganisationProfile(models.Model):
    """The single row describing the organisation, against which licence policy is checked.

    Written only by ``governance.organisation.update_profile`` (``WRITERS``; every change
    audited as ``policy.updated``); read by ``governance.policy.check``.
    """

    #: The only modules that may save the profile (tests/test_writers.py); the Django admin
    #: saves through ``governance.organisation`` too.
    WRITERS: ClassVar[tuple[str, ...]] = ("governance.organisation",)

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    commercial_use = models.BooleanField(
        default=True, help_text="Whether the organisation uses generated images commercially."
    )
    revenue_band = models.CharField(max_length=16, choices=RevenueBand.choices, default=RevenueBand.UNDER_1M)
    enterprise_licenses = models.JSONField(
        default=list,
        blank=True,
        help_text="Licence ids (SPDX or LicenseRef-...) the organisation holds an enterprise licence for.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = "organisation profile"

    def __str__(self) -> str:
        return "organisation profile"
