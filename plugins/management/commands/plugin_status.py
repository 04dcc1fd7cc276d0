"""``manage.py plugin_status [--json] [--manage CMD]``: which plugins can take jobs, and what each lacks.

One line per installed plugin, from ``plugins.readiness``::

    ready      procedural
    not ready  sd35-medium: weights not registered: run manage.py register_weights sd35-medium ...
    disabled   ideogram-v2: an admin enables it: PATCH /api/v1/plugins/ideogram-v2/ ...

``--manage`` rewrites the ``manage.py`` the messages name into the command a user types
(``scripts/start.sh`` passes ``.venv/bin/python manage.py``). ``--json`` prints a list of objects.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from plugins import readiness

_MANAGE = re.compile(r"(?<![\w/.])manage\.py\b")


class Command(BaseCommand):
    help = "List each plugin as ready or not, with the one thing missing for those that are not."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
        parser.add_argument(
            "--manage", default="manage.py", help="how to run manage.py, e.g. '.venv/bin/python manage.py'"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        found = readiness.readiness()
        if options["json"]:
            self.stdout.write(json.dumps([r.as_dict() for r in found], indent=2))
            return
        manage = options["manage"]
        for item in found:
            message = _MANAGE.sub(lambda _: manage, item.message)
            line = f"{item.status:<10} {item.plugin_id}"
            self.stdout.write(f"{line}: {message}" if message else line)
