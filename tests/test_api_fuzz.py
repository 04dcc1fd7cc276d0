"""Fuzz every operation of the OpenAPI schema: no generated request may cause a 5xx.

schemathesis reads ``/api/schema/`` from the WSGI application (in this process, no network),
generates valid and invalid requests for each operation and sends them with an admin's token.
The database holds the procedural plugin (enabled), two finished jobs with their assets and
their audit events, so that the detail endpoints answer 200 as well as 404.

Generation is seeded (``derandomize``) so a failure replays identically.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

MAX_EXAMPLES = 25
_INSTALLED = {"POST /api/v1/generations/": {"plugin": "procedural"}}


@pytest.fixture
def fuzz_data(transactional_db: None, users, procedural) -> dict[str, Any]:
    """Real rows for the detail endpoints: two jobs run in this process, with their assets.

    Transactional (not one rolled-back transaction) because the WSGI handler closes the
    connection after each request, as it does in production.
    """
    from rest_framework.authtoken.models import Token

    from generation import runner, services
    from governance.models import AuditEvent

    jobs = []
    for prompt, seed in (("a quiet harbour at dawn", 11), ("copper kettle on a stove", 12)):
        job, _ = services.submit(
            acting_user=users["creator"],
            plugin_id="procedural",
            fields={"prompt": prompt, "seed": seed, "width": 64, "height": 64, "params": {"steps": 1}},
        )
        runner.run(str(job.pk))
        jobs.append(job)
    assets = [str(a.pk) for job in jobs for a in job.assets.all()]
    assert len(assets) == 2
    token, _ = Token.objects.get_or_create(user=users["admin"])
    return {
        "token": token.key,
        "ids": {
            "assets": assets,
            "generations": [str(job.pk) for job in jobs],
            "plugins": ["procedural"],
            "audit": [str(AuditEvent.objects.order_by("seq").values_list("seq", flat=True).first())],
        },
    }


@pytest.fixture
def _purge_generation_queues() -> Iterator[None]:
    """Jobs the fuzzer submits are enqueued on commit; no worker runs here, so drop them after."""
    yield
    from hallmark.celery import app
    from tests.conftest import all_plugin_queues

    with app.connection_for_write() as conn:
        for name in all_plugin_queues():
            with contextlib.suppress(Exception):  # a queue nobody declared yet
                conn.default_channel.queue_purge(name)


@pytest.fixture
def api_schema(fuzz_data: dict[str, Any], _purge_generation_queues: None) -> Any:
    """The schema served by the running application, as schemathesis sees it."""
    from hallmark.wsgi import application

    config = schemathesis.Config.from_dict(
        {
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                # The token is ours; generated Authorization headers or cookies would only
                # turn most requests into 401s.
                "with-security-parameters": False,
            }
        }
    )
    return schemathesis.openapi.from_wsgi("/api/schema/", application, config=config)


def _strategy(operation: Any, mode: GenerationMode, ids: dict[str, list[str]]) -> Any:
    """Cases for one operation. Detail paths of the known collections point at stored rows as
    well as at generated ids: a generated id almost never exists, so only the 404 branch
    would run otherwise."""
    generated = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters]
    collection = operation.path.removeprefix("/api/v1/").split("/", 1)[0]
    if len(names) != 1 or collection not in ids:
        return generated
    stored = [
        operation.as_strategy(generation_mode=mode, path_parameters={names[0]: v}) for v in ids[collection]
    ]
    return st.one_of(*stored, generated)


def _fuzz(
    operation: Any, mode: GenerationMode, ids: dict[str, list[str]], token: str, statuses: Counter[int]
) -> str | None:
    """Send ``MAX_EXAMPLES`` seeded cases; return the failure (shrunk by Hypothesis) or None."""

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,  # the same cases on every run, so a failure replays
        database=None,  # nothing to replay from: the seed already fixes the cases
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation, mode, ids))
    def send(case: Any) -> None:
        if mode is GenerationMode.POSITIVE and isinstance(case.body, dict):
            # A generated plugin id is never installed; name the real one so that valid
            # requests get past the first check and reach the rest of the validation.
            case.body.update(_INSTALLED.get(operation.label, {}))
        response = case.call_and_validate(
            headers={"Authorization": f"Token {token}"}, checks=[not_a_server_error]
        )
        statuses[response.status_code] += 1

    try:
        send()
    except Unsatisfiable:
        return None  # nothing to make invalid: the operation takes no parameters and no body
    # schemathesis reports failed checks as a BaseExceptionGroup; anything else is a crash.
    except (Exception, BaseExceptionGroup) as exc:
        return f"{operation.label} ({mode.value}): {exc}"
    return None


@pytest.mark.integration
def test_no_operation_answers_with_a_server_error(
    api_schema: Any, fuzz_data: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="django.request")  # 4xx by the hundred; 5xx still show
    # Deletions last, so that the other operations still find the stored rows.
    operations = sorted(
        (result.ok() for result in api_schema.get_all_operations()),
        key=lambda op: op.method.upper() == "DELETE",
    )
    assert len(operations) >= 12, [op.label for op in operations]
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    failures = [
        failure
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if (
            failure := _fuzz(operation, mode, fuzz_data["ids"], fuzz_data["token"], statuses[operation.label])
        )
        is not None
    ]
    for label, answered in statuses.items():  # shown with -s, and on failure
        print(f"{label}: {dict(sorted(answered.items()))}")
    assert not failures, "\n\n".join(failures)
    # The fuzzing reached the code behind each operation, not only its 404s and 401s.
    for operation in operations:
        answered = statuses[operation.label]
        assert answered, f"{operation.label}: no request was sent"
        assert set(answered) != {401}, f"{operation.label}: every request was refused as unauthenticated"
    for label in ("GET /api/v1/assets/{id}/", "GET /api/v1/generations/{id}/", "GET /api/v1/audit/{seq}/"):
        assert statuses[label][200] > 0, f"{label} never found a stored row: {dict(statuses[label])}"


# Regressions the fuzzer found: UTC offsets Python accepts but PostgreSQL refuses (beyond
# +-15:59), and moments that leave the calendar once shifted to UTC, were 500s.
@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/v1/assets/", "created_after"),
        ("/api/v1/assets/", "created_before"),
        ("/api/v1/audit/", "after"),
        ("/api/v1/audit/export/", "before"),
    ],
)
def test_date_time_filters_take_any_offset_and_refuse_moments_off_the_calendar(
    client_for, path: str, param: str
) -> None:
    client = client_for("admin")
    response = client.get(path, {param: "2000-01-01T00:00:00+16:00"})
    assert response.status_code == 200, response.content
    if path.endswith("/export/"):
        b"".join(response.streaming_content)  # the query runs while streaming
    response = client.get(path, {param: "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 400, response.content
    assert param in response.json()["errors"]
