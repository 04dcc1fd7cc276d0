"""``manage.py bootstrap_demo [--username admin] [--password-file PATH]``: the quick start's first run.

Run by ``scripts/start.sh`` at every start; only the first start creates the admin account,
its token and password file (mode 0600) and enables the procedural plugin
(``generation.bootstrap``). It prints ``key=value`` lines for the start script::

    first_start=yes|no
    user=admin
    account=present|removed
    password_file=PATH            (empty when no file was written)
    password_file_state=present|removed|none
    password=...  token=...       (first start only, when the account was created then)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from generation.bootstrap import bootstrap_demo


class Command(BaseCommand):
    help = "On the first start only: create the demo admin, print its password and token once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--password-file",
            default="",
            help="Write a new account's password here (created with mode 0600).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["password_file"]).absolute() if options["password_file"] else None
        result = bootstrap_demo(username=options["username"], password_file=path)
        if not result.password_file:
            file_state = "none"
        else:
            file_state = "present" if result.password_file_exists else "removed"
        lines = [
            f"first_start={'yes' if result.first_start else 'no'}",
            f"user={result.username}",
            f"account={'present' if result.account_exists else 'removed'}",
            f"password_file={result.password_file}",
            f"password_file_state={file_state}",
        ]
        if result.password:
            lines.append(f"password={result.password}")
        if result.token:
            lines.append(f"token={result.token}")
        self.stdout.write("\n".join(lines))
