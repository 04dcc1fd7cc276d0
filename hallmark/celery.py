"""The Celery application. Workers: ``celery -A hallmark worker -Q gen.<plugin_id> -c 1``."""

from __future__ import annotations

import os

from celery import Celery

from hallmark import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hallmark.settings")
# Producers (web) and consumers (workers) both publish through this module: filesystem://
# messages are written atomically (see hallmark/broker.py).
broker.install()

app = Celery("hallmark")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["generation", "operations"])
