"""How the generation code is laid out: the web side sends the worker's task by name, and the
request's fields are listed once (``plugins.validation.REQUEST_FIELDS``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from generation import services, tasks
from generation.api import _ACCEPTED_FIELDS
from generation.models import GenerationJob
from generation.serializers import GenerationRequestSerializer, acceptance_request_fields
from generation.views import _FORM_FIELDS
from hallmark.celery import app
from hallmark.sdk import GenerationRequest
from plugins.builtin.procedural import ProceduralPlugin
from plugins.validation import REQUEST_FIELD_NAMES, REQUEST_FIELDS, build_request

ROOT = Path(__file__).resolve().parents[2]


def test_the_web_process_loads_no_worker_code() -> None:
    script = (
        "import sys, django; django.setup(); import hallmark.urls, generation.services; "
        "print(sorted(m for m in sys.modules if m in ('generation.runner', 'generation.tasks')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "hallmark.settings"},
    )
    assert out.stdout.strip() == "[]", out.stderr


def test_enqueue_sends_the_registered_task_by_name(monkeypatch: pytest.MonkeyPatch, users, procedural) -> None:
    sent: list[tuple[str, tuple, dict]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args=(), **options: sent.append((name, args, options)))
    job, _ = services.submit(acting_user=users["creator"], plugin_id="procedural", fields={"prompt": "x"})
    services.enqueue(job)
    # Published once, without Celery's publish retries: a broker that is down costs a submit one
    # connect timeout, not several.
    assert sent == [(services.RUN_GENERATION_TASK, (str(job.pk),), {"queue": "gen.procedural", "retry": False})]
    assert app.tasks[services.RUN_GENERATION_TASK].name == tasks.run_generation.name


def test_every_list_of_request_fields_is_derived_from_one() -> None:
    names = [field.name for field in REQUEST_FIELDS]
    assert tuple(names) == REQUEST_FIELD_NAMES
    # Then the routing fields, then those of an acceptance checklist (generation.checking).
    acceptance = list(acceptance_request_fields())
    assert acceptance == ["checklist", "expected_text", "max_attempts_to_pass"]
    expected = ["plugin", *names, "idempotency_key", "tier", "policy", *acceptance]
    assert list(GenerationRequestSerializer().fields) == expected
    assert set(expected) == _ACCEPTED_FIELDS
    assert ("plugin", *names, "tier", "policy", *acceptance) == _FORM_FIELDS
    job_fields = {f.name for f in GenerationJob._meta.get_fields()}
    assert set(names) <= job_fields
    assert set(names) <= set(GenerationRequest.__dataclass_fields__)


def test_build_request_names_a_field_it_does_not_know() -> None:
    with pytest.raises(TypeError, match="colour"):
        build_request(ProceduralPlugin(), prompt="x", colour="red")
