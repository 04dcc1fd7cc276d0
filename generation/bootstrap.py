"""The quick start's first-run set-up: an admin account shown once, and the procedural plugin on.

``scripts/start.sh`` runs ``manage.py bootstrap_demo`` at every start; only the first one does
anything. It creates the ``admin`` superuser (unless an account of that name exists), writes
its password to a file created with mode 0600 (``os.open``: the file is never readable by
others, not even for an instant), makes its API token, enables the procedural plugin, and
records the audit event ``hallmark.bootstrapped`` in the same transaction. The password and the
token are handed back that once, for the banner.

The audit event is the memory of the first start: it lives in the database beside the account
(so it holds on PostgreSQL too, whatever host starts next) and the append-only chain cannot lose
it. Later starts therefore print no secret, never re-create an ``admin`` an operator deleted,
and never re-enable a plugin an admin disabled.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from rest_framework.authtoken.models import Token

from governance import roles
from governance.audit_trail import record_event
from governance.models import AuditEvent
from plugins import services as plugin_services

BOOTSTRAP_ACTION = "hallmark.bootstrapped"
DEMO_PLUGIN = "procedural"


@dataclass(frozen=True)
class BootstrapResult:
    """What a start should tell the user. Secrets are set only on the start that made them."""

    username: str
    first_start: bool
    #: Whether the account exists now (False: deleted since the first start, and not re-created).
    account_exists: bool
    #: Whether this start created the account (False on later starts, or when it existed already).
    created: bool
    password_file: str
    password: str | None = None
    token: str | None = None

    @property
    def password_file_exists(self) -> bool:
        return bool(self.password_file) and Path(self.password_file).is_file()


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file that is mode 0600 from its creation (a stale file is replaced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by an earlier installation whose database is gone
    # O_EXCL with O_NOFOLLOW: never write through a link someone planted at this path.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _first_start_event() -> AuditEvent | None:
    return AuditEvent.objects.filter(action=BOOTSTRAP_ACTION).order_by("seq").first()


def bootstrap_demo(*, username: str = "admin", password_file: Path | None = None) -> BootstrapResult:
    """Set up the quick start on its first run; on later runs only report (see the module docstring)."""
    user_model = get_user_model()
    with transaction.atomic():
        event = _first_start_event()
        if event is not None:
            recorded = str(event.data.get("username") or username)
            return BootstrapResult(
                username=recorded,
                first_start=False,
                account_exists=user_model.objects.filter(username=recorded).exists(),
                created=False,
                password_file=str(event.data.get("password_file") or ""),
            )
        user = user_model.objects.filter(username=username).first()
        password = token = None
        if user is None:
            password = secrets.token_urlsafe(16)
            user = user_model.objects.create_superuser(username=username, email="", password=password)
            user.groups.add(Group.objects.get(name=roles.ADMIN))
            token = Token.objects.create(user=user).key
        plugin_services.update_plugin(DEMO_PLUGIN, acting_user=user, enabled=True)
        written = str(password_file) if (password and password_file) else ""
        record_event(
            BOOTSTRAP_ACTION,
            acting_user=None,
            system_actor="bootstrap_demo",
            target=("user", username),
            data={
                "username": username,
                "created_account": password is not None,
                "password_file": written,
                "enabled_plugin": DEMO_PLUGIN,
            },
        )
        # Last, so a failure to write rolls the whole first start back and the next start retries.
        if password and password_file:
            _write_private(password_file, password + "\n")
    return BootstrapResult(
        username=username,
        first_start=True,
        account_exists=True,
        created=password is not None,
        password_file=written,
        password=password,
        token=token,
    )
