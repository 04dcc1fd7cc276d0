"""``manage.py register_weights <plugin_id> <folder> [--enable] [--set KEY=VALUE ...] [--user NAME]``.

Checks that ``folder`` is a loadable pipeline folder for a local-weights plugin (the SD3.5
plugins), fingerprints its weight files (which also fills the on-disk fingerprint cache, so the
first job on a worker sharing this ``var/`` does not hash gigabytes), stores ``weights_path``
through ``plugins.services.update_plugin`` (one audited change) and prints the fingerprint.
``--set`` changes other settings in the same change, checked with the folder: ``--set drop_t5=true``
registers a folder downloaded without the T5 encoder (values are JSON: true, 4, "cuda"; a bare
word is a string).

When ``HALLMARK_WEIGHTS_ROOT`` is set, the folder must resolve inside it (symbolic links
followed); components with pickle weights only are refused (only safetensors are loaded).

The change is audited under the acting user: ``--user`` names an admin; without it, the
earliest-created active superuser acts, and with no superuser the command asks for ``--user``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance import roles
from hallmark import progress
from hallmark.sdk import ConfigInvalid, PluginError
from plugins import registry, services
from plugins.builtin.sd35 import SD35Plugin, WeightsFolderInvalid, resolve_pipeline_folder
from plugins.builtin.weights.fingerprint import reporting_progress
from plugins.builtin.weights.root import outside_root


class Command(BaseCommand):
    help = "Point a local-weights plugin at a weights folder (audited) and print its fingerprint."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("plugin_id", help="e.g. sd35-medium or sd35-large-turbo")
        parser.add_argument(
            "folder", help="pipeline folder, Hugging Face cache snapshot or repository folder"
        )
        parser.add_argument("--enable", action="store_true", help="also enable the plugin")
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="another setting to change with the folder, e.g. drop_t5=true or cpu_offload=true",
        )
        parser.add_argument(
            "--user", default="", help="admin username recorded in the audit log (default: first superuser)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        plugin_id: str = options["plugin_id"]
        try:
            entry = registry.get_entry(plugin_id)
        except LookupError:
            raise CommandError(f"No plugin {plugin_id!r} is installed.") from None
        plugin_class = entry.plugin_class
        if plugin_class is None:
            raise CommandError(f"Plugin {plugin_id} is broken: {entry.error}")
        if not issubclass(plugin_class, SD35Plugin):
            raise CommandError(f"Plugin {plugin_id} does not load local weights (no weights_path setting).")
        acting_user = self._acting_user(options["user"])

        given = Path(options["folder"]).expanduser().absolute()
        # Before reading anything in it (refs/main, model_index.json): outside the root, refuse.
        problem = outside_root(given)
        if problem:
            raise CommandError(f"Invalid configuration: weights_path: {problem}")
        try:
            folder = resolve_pipeline_folder(given, plugin_id)
        except WeightsFolderInvalid as exc:
            raise CommandError(str(exc)) from None
        current = services.state(plugin_id).config
        # Keep the other settings (device, dtype...); store the resolved snapshot folder, so
        # that a later download moving refs/main does not change the weights silently.
        config = {**current, **self._settings(options["set"]), "weights_path": str(folder)}
        try:
            plugin = plugin_class(config)
        except ConfigInvalid as exc:
            raise CommandError(f"Invalid configuration: {exc}") from None
        status = plugin.health()
        if status.status == "red":
            raise CommandError(status.message)
        # Hashing gigabytes takes minutes: a bar on a terminal (hallmark.progress), else nothing.
        with progress.bar(total=0, desc="fingerprinting", unit="B", stream=self.stderr) as shown:

            def advance(total: int, done: int) -> None:
                if total:
                    shown.total = (shown.total or 0) + total
                    shown.refresh()
                shown.update(done)

            try:
                with reporting_progress(advance):
                    identity = plugin.identity()
            except PluginError as exc:
                raise CommandError(str(exc)) from None

        services.update_plugin(
            plugin_id, acting_user=acting_user, config=config, enabled=True if options["enable"] else None
        )
        self.stdout.write(f"plugin={plugin_id}")
        self.stdout.write(f"weights_path={folder}")
        self.stdout.write(f"model={identity.model_name} {identity.model_version}")
        self.stdout.write(f"fingerprint={identity.weights_fingerprint}")
        self.stdout.write(f"health={status.status} {status.message}".rstrip())
        if options["enable"]:
            self.stdout.write("enabled=true")

    @staticmethod
    def _settings(pairs: list[str]) -> dict[str, Any]:
        """``KEY=VALUE`` pairs as a dict; a value is JSON when it parses, else the string itself."""
        found: dict[str, Any] = {}
        for pair in pairs:
            key, sep, raw = pair.partition("=")
            if not sep or not key.strip():
                raise CommandError(f"--set takes KEY=VALUE, not {pair!r}.")
            try:
                found[key.strip()] = json.loads(raw)
            except ValueError:
                found[key.strip()] = raw
        return found

    @staticmethod
    def _acting_user(username: str) -> Any:
        users = get_user_model().objects
        if username:
            user = users.filter(username=username, is_active=True).first()
            if user is None:
                raise CommandError(f"No active user {username!r}.")
            if not roles.has_role(user, roles.ADMIN):
                raise CommandError(f"User {username!r} is not an admin.")
            return user
        user = users.filter(is_superuser=True, is_active=True).order_by("date_joined", "pk").first()
        if user is None:
            raise CommandError("No superuser exists: name the acting admin with --user.")
        return user
