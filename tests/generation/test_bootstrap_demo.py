"""``manage.py bootstrap_demo``: the quick start's admin is made, and its secrets shown, once."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from governance.models import AuditEvent
from plugins import services
from plugins.models import PluginSetting


def bootstrap(password_file: Path) -> dict[str, str]:
    out = io.StringIO()
    call_command("bootstrap_demo", "--password-file", str(password_file), stdout=out)
    return dict(line.split("=", 1) for line in out.getvalue().splitlines() if "=" in line)


@pytest.fixture
def umask_000() -> Any:
    """A permissive umask, so that only the mode given at creation can keep the file private."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_first_start_creates_admin_and_shows_password_and_token_once(db: None, tmp_path: Path) -> None:
    first = bootstrap(tmp_path / "admin-password.txt")
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(first["password"])
    assert first["token"] == Token.objects.get(user=admin).key
    assert (tmp_path / "admin-password.txt").read_text() == first["password"] + "\n"
    assert PluginSetting.objects.get(plugin_id="procedural").enabled

    second = bootstrap(tmp_path / "admin-password.txt")
    assert "password" not in second and "token" not in second
    assert (first["first_start"], second["first_start"]) == ("yes", "no")
    assert second["password_file_state"] == "present"
    assert second["password_file"] == str(tmp_path / "admin-password.txt")
    text = "\n".join(f"{k}={v}" for k, v in second.items())
    assert first["password"] not in text and first["token"] not in text
    assert User.objects.get(username="admin").check_password(first["password"])  # unchanged
    event = AuditEvent.objects.get(action="hallmark.bootstrapped")
    assert event.actor == "system:bootstrap_demo" and event.data["created_account"] is True
    assert first["password"] not in str(event.data)


def test_password_file_is_created_0600_not_chmodded_afterwards(
    db: None, tmp_path: Path, umask_000: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stale world-readable file from an earlier installation is replaced, not reused.
    stale = tmp_path / "admin-password.txt"
    stale.write_text("old secret\n")
    stale.chmod(0o644)
    chmodded: list[Any] = []
    monkeypatch.setattr(os, "chmod", lambda *args, **kwargs: chmodded.append(args))
    result = bootstrap(stale)
    assert stat.S_IMODE(stale.stat().st_mode) == 0o600
    assert stale.read_text() == result["password"] + "\n"
    assert chmodded == []  # the mode came from os.open, with no window in which others could read


def test_a_deleted_admin_is_not_re_created_and_a_disabled_demo_stays_disabled(
    db: None, tmp_path: Path
) -> None:
    bootstrap(tmp_path / "pw.txt")
    admin = User.objects.get(username="admin")
    services.update_plugin("procedural", acting_user=admin, enabled=False)
    admin.delete()
    (tmp_path / "pw.txt").unlink()

    later = bootstrap(tmp_path / "pw.txt")
    assert not User.objects.filter(username="admin").exists()
    assert not (tmp_path / "pw.txt").exists()
    assert "password" not in later and "token" not in later
    assert later["account"] == "removed" and later["password_file_state"] == "removed"
    assert not PluginSetting.objects.get(plugin_id="procedural").enabled
    assert AuditEvent.objects.filter(action="hallmark.bootstrapped").count() == 1


def test_an_existing_admin_is_adopted_without_showing_or_changing_anything(db: None, tmp_path: Path) -> None:
    """An installation whose admin predates this release: no new password, no token printed."""
    User.objects.create_superuser("admin", password="chosen-by-operator")
    result = bootstrap(tmp_path / "pw.txt")
    assert result["first_start"] == "yes" and "password" not in result and "token" not in result
    assert result["password_file_state"] == "none" and not (tmp_path / "pw.txt").exists()
    assert User.objects.get(username="admin").check_password("chosen-by-operator")
    assert not Token.objects.exists()
