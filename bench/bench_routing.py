"""What routing and budgets add to a submission, and to the end of a job.

Run from the repository root::

    .venv/bin/python bench/bench_routing.py [--jobs 300]
    .venv/bin/python bench/bench_routing.py --database postgres://postgres@127.0.0.1:5432/hallmark_bench

``generation.services.submit()`` is timed, one call at a time, four ways (``--jobs`` each, after
a warm-up): naming the plugin (the baseline), naming a tier (the default policy chooses the
procedural plugin, its second entry, after skipping a disabled one), naming the plugin under a
user budget (locks the budget, sums the month, writes the estimate), and a tier under a budget.
The broker is left out (``send_task`` is a no-op) so that only the database path is measured.
Then ``routing.outcomes.record()``, which the worker runs after each job's end commits
(breaker and ledger), is timed alone.

Everything runs in a throwaway ``HALLMARK_VAR_DIR`` (SQLite unless ``--database``), removed at
the end. ``--database`` must name a scratch database: it is migrated and the rows stay in it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _timed(calls: int, action: Any) -> list[float]:
    action()  # warm-up
    took = []
    for _ in range(calls):
        began = time.perf_counter()
        action()
        took.append((time.perf_counter() - began) * 1000)
    return took


def _line(name: str, took: list[float]) -> str:
    ordered = sorted(took)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"{name:<38} median {statistics.median(took):6.2f} ms   p95 {p95:6.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=300, help="submissions per way (default 300)")
    parser.add_argument("--database", help="DATABASE_URL of a scratch database (default: SQLite)")
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="hallmark-bench-routing-"))
    os.environ.update(HALLMARK_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="hallmark.settings")
    os.environ["HALLMARK_MAX_QUEUED_PER_USER"] = "0"
    if args.database:
        os.environ["DATABASE_URL"] = args.database
    sys.path.insert(0, str(ROOT))
    try:
        import django

        django.setup()
        from django.contrib.auth.models import User
        from django.core.management import call_command
        from django.utils import timezone

        from generation import services
        from hallmark.celery import app
        from plugins import services as plugin_services
        from routing import budgets, outcomes, policies

        call_command("migrate", verbosity=0)
        app.send_task = lambda *a, **k: None  # type: ignore[method-assign]
        admin = User.objects.create_superuser(f"bench-admin-{time.time_ns()}", password="x")
        plain = User.objects.create_user(f"bench-plain-{time.time_ns()}", password="x")
        budgeted = User.objects.create_user(f"bench-budget-{time.time_ns()}", password="x")
        plugin_services.update_plugin("procedural", acting_user=admin, enabled=True)
        plugin_services.update_plugin("dummy", acting_user=admin, enabled=False)
        name = f"bench-{time.time_ns()}"
        policies.create_policy({"name": name, "tiers": {"draft": ["dummy", "procedural"]}}, acting_user=admin)
        budgets.set_budget(acting_user=admin, limit=Decimal("1000000"), user=budgeted)
        fields = {"prompt": "a lighthouse", "width": 64, "height": 64, "params": {"steps": 1}}
        routed = {**fields, "policy": name, "tier": "draft"}

        def submit(user: User, plugin: str | None, body: dict[str, Any]) -> Any:
            return lambda: services.submit(acting_user=user, plugin_id=plugin, fields=body)

        print(
            f"{platform.node()}: {os.cpu_count()} cores, database {'PostgreSQL' if args.database else 'SQLite'}"
        )
        print(_line("submit, plugin named", _timed(args.jobs, submit(plain, "procedural", fields))))
        print(_line("submit, tier (one fallback)", _timed(args.jobs, submit(plain, None, routed))))
        print(
            _line(
                "submit, plugin named, user budget", _timed(args.jobs, submit(budgeted, "procedural", fields))
            )
        )
        print(_line("submit, tier, user budget", _timed(args.jobs, submit(budgeted, None, routed))))
        job, _ = services.submit(acting_user=budgeted, plugin_id="procedural", fields=fields)

        def record() -> None:
            now = timezone.now()
            outcomes.record(
                outcomes.JobOutcome(
                    job_id=job.pk,
                    user_id=budgeted.pk,
                    plugin_id="procedural",
                    status="succeeded",
                    error_code="",
                    images=1,
                    reported_cost=Decimal(0),
                    submitted_at=job.created_at,
                    started_at=now,
                    finished_at=now,
                )
            )

        print(_line("job end reported (breaker, ledger)", _timed(args.jobs, record)))
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
