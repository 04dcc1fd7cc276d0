"""``manage.py bootstrap_demo``: an admin account, its API token and the procedural plugin enabled.

Used by the quick start; safe to run again (an existing account keeps its password).
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandParser
from rest_framework.authtoken.models import Token

from governance import roles
from plugins import services as plugin_services


class Command(BaseCommand):
    help = "Create the demo admin (if missing), print its token, and enable the procedural plugin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--password-file", default="", help="Write a new account's password here (mode 600)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        username = options["username"]
        user = user_model.objects.filter(username=username).first()
        password = None
        if user is None:
            password = secrets.token_urlsafe(12)
            user = user_model.objects.create_superuser(username=username, email="", password=password)
            user.groups.add(Group.objects.get(name=roles.ADMIN))
            if options["password_file"]:
                with open(options["password_file"], "w") as handle:
                    handle.write(password + "\n")
                import os

                os.chmod(options["password_file"], 0o600)
        token, _ = Token.objects.get_or_create(user=user)
        plugin_services.update_plugin("procedural", acting_user=user, enabled=True)
        self.stdout.write(f"user={username}")
        if password:
            self.stdout.write(f"password={password}")
        self.stdout.write(f"token={token.key}")
