"""``manage.py runworker``: a Celery worker for the queues of the given (or all) plugins, and with
``--maintenance`` the queue of the scheduled maintenance that ``celery beat`` sends, and with
``--checks`` the ``checks`` queue of acceptance checks (OCR) on stored images."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from generation.checking import CHECKS_QUEUE
from generation.services import queue_for
from hallmark.celery import app
from plugins import registry


class Command(BaseCommand):
    help = (
        "Start a Celery worker serving gen.<plugin> queues (all installed plugins unless --plugin is given)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--plugin", action="append", dest="plugins", help="Serve this plugin's queue (repeatable)."
        )
        parser.add_argument("--concurrency", "-c", type=int, default=1, help="Jobs at once (1 per GPU).")
        parser.add_argument("--pool", default="prefork", help="Celery pool: prefork, threads or solo.")
        parser.add_argument("--loglevel", default="INFO")
        parser.add_argument(
            "--maintenance",
            action="store_true",
            help="Also run the scheduled maintenance (audit checkpoints, purges, sweeps) that celery beat sends.",
        )

        parser.add_argument(
            "--checks",
            action="store_true",
            help="Also run the acceptance checks (OCR and the rest) of stored images (queue checks).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        plugin_ids = options["plugins"] or [e.id for e in registry.discover().values() if not e.broken]
        names = [queue_for(p) for p in plugin_ids]
        if options["maintenance"]:
            names.append(settings.HALLMARK_MAINTENANCE_QUEUE)
        if options["checks"]:
            names.append(CHECKS_QUEUE)
        queues = ",".join(names)
        self.stdout.write(f"Worker serving queues: {queues}")
        app.worker_main(
            [
                "worker",
                f"--queues={queues}",
                f"--concurrency={options['concurrency']}",
                f"--pool={options['pool']}",
                f"--loglevel={options['loglevel']}",
                "--without-gossip",
                "--without-mingle",
            ]
        )
