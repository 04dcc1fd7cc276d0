"""The set-up the job benchmarks share: a migrated database, the signer's keys, and a user
with the creator and admin roles for whom the procedural plugin is enabled."""

from __future__ import annotations

import uuid
from typing import Any


def procedural_user() -> Any:
    """Migrate, create the dev signer if missing, and return a new creator+admin user with the
    procedural plugin enabled (call after ``django.setup()``)."""
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from plugins import services as plugin_services

    call_command("migrate", verbosity=0)
    call_command("provenance_init", "--if-missing", verbosity=0)
    user = User.objects.create_user(f"bench-{uuid.uuid4().hex[:8]}")
    for role in ("creator", "admin"):
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    plugin_services.update_plugin("procedural", acting_user=user, enabled=True)
    return user
