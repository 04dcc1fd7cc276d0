"""Helpers for the governance tests: assets made through the real storing path, and tampering
with audit rows the way someone with database access would (bypassing Hallmark)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from PIL import Image

from assets import services as asset_services
from assets.models import Asset
from generation.models import GenerationJob, JobStatus
from governance.audit_chain import chain_hash, event_body
from governance.models import AuditEvent
from plugins.builtin.procedural import ProceduralPlugin
from plugins.sdk import GeneratedImage, License


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    """Users are made with a cheap hasher: PBKDF2's million rounds cost seconds per test on a
    busy 2-core machine, and these tests are not about passwords. Import it into a test module
    to use it (it is autouse there)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def quiet_identity_audit() -> Any:
    """No audit events for users, groups, tokens and logins during the test.

    For tests of the chain itself (export, checkpoints, the audit page) that are written
    around exact seq numbers: the users fixture and logging in would add events of their own.
    Identity auditing is tested in test_identity_audit.py.
    """
    from governance import identity_audit

    identity_audit.disconnect()
    yield
    identity_audit.connect()


SD35_COMMUNITY = License(
    spdx_id="LicenseRef-Stability-AI-Community",
    name="Stability AI Community License",
    url="https://stability.ai/community-license-agreement",
    commercial_use=True,
    revenue_ceiling_usd=1_000_000,
    attribution="Powered by Stability AI",
    restrictions=("Not to be used to train foundation models.",),
    allows_training=False,
)
NON_COMMERCIAL = License(
    spdx_id="CC-BY-NC-4.0",
    name="Creative Commons Attribution Non Commercial 4.0",
    commercial_use=False,
    attribution="Licensed CC BY-NC 4.0",
)


def make_asset(
    user: User,
    *,
    license: License | None = None,
    prompt: str = "a lighthouse at dusk",
    seed: int = 7,
    color: tuple[int, int, int] = (40, 90, 160),
) -> Asset:
    """An asset stored through ``assets.services`` (stamped, hashed, written, audited) for a
    succeeded job of the procedural plugin, optionally under another licence."""
    plugin = ProceduralPlugin()
    identity = plugin.identity().as_dict()
    license_data = (license or plugin.license).as_dict()
    job = GenerationJob.objects.create(
        plugin_id=plugin.id,
        plugin_version=plugin.version,
        status=JobStatus.SUCCEEDED,
        prompt=prompt,
        width=64,
        height=64,
        seed=seed,
        requested_by=user,
        queue="gen.procedural",
    )
    image = Image.new("RGB", (64, 64), color)
    prepared = asset_services.prepare(
        job,
        [GeneratedImage(image=image, seed=seed, parameters={"steps": 1})],
        identity=identity,
        license=license_data,
        is_ai_model=plugin.is_ai_model,
    )
    asset_services.write_files(prepared)
    with transaction.atomic():
        (asset,) = asset_services.create_assets_of_jobs(
            [asset_services.JobAssets(job, prepared, identity, license_data)]
        )
    return asset


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_sql(sql: str, params: list[Any] | None = None) -> None:
    """Run SQL on the audit table with its append-only trigger switched off, as a database
    superuser could, then switch the trigger back on."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "ALTER TABLE governance_auditevent DISABLE TRIGGER governance_auditevent_no_update_delete"
            )
            cursor.execute(sql, params or [])
            cursor.execute(
                "ALTER TABLE governance_auditevent ENABLE TRIGGER governance_auditevent_no_update_delete"
            )
        else:
            cursor.execute("DROP TRIGGER governance_auditevent_no_update")
            cursor.execute(sql, params or [])
            cursor.execute(
                "CREATE TRIGGER governance_auditevent_no_update BEFORE UPDATE ON governance_auditevent "
                "BEGIN SELECT RAISE(ABORT, 'audit events are append-only (UPDATE refused)'); END;"
            )


def edit_event_data(seq: int, data: dict[str, Any]) -> None:
    """Change one event's data in place, leaving its stored hash as it was."""
    raw_sql(
        "UPDATE governance_auditevent SET data = %s WHERE seq = %s",
        [connection.ops.adapt_json_value(data, None), seq],
    )


def delete_tail(from_seq: int, *, rewind_head: bool) -> None:
    """Delete every event from ``from_seq`` on; optionally rewind the chain head to match."""
    raw_sql("DELETE FROM governance_auditevent WHERE seq >= %s", [from_seq])
    if rewind_head:
        last = AuditEvent.objects.order_by("-seq").first()
        seq, digest = (last.seq, last.hash) if last else (0, "0" * 64)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE governance_auditchainhead SET seq = %s, hash = %s WHERE id = 1", [seq, digest]
            )


def rewrite_event(seq: int, data: dict[str, Any]) -> str:
    """Rewrite the last event with new data and a correctly recomputed hash, and move the head
    to it: a perfect forgery as far as the chain alone can tell. Returns the new hash."""
    event = AuditEvent.objects.get(seq=seq)
    body = event_body(
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        actor_id=event.actor_id,
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        data=data,
    )
    digest = chain_hash(event.prev_hash, body)
    raw_sql(
        "UPDATE governance_auditevent SET data = %s, hash = %s WHERE seq = %s",
        [connection.ops.adapt_json_value(data, None), digest, seq],
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE governance_auditchainhead SET hash = %s WHERE id = 1 AND seq = %s", [digest, seq]
        )
    return digest
