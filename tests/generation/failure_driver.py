"""The web side of the failure tests, run as a process of its own against the private services
the test started (its environment names them): ``python -m tests.generation.failure_driver``.

- ``setup``: a creator and the procedural plugin enabled (a fresh database);
- ``submit N INTERVAL FIELDS_JSON``: N submissions, INTERVAL seconds apart; one JSON line each
  (job id, seconds the submit took, ``waiting_for_broker`` as the API shows it);
- ``cancel JOB_ID``: cancel as the creator once a line arrives on stdin; prints the job's
  status once it ends (10 s at most) and the seconds from the committed cancel to that;
- ``report``: one JSON object: jobs, assets with their files, and ``verify_audit``'s verdict.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time

import django


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hallmark.settings")
    django.setup()
    from django.contrib.auth.models import Group, User

    from assets.models import Asset
    from generation import services
    from generation.models import GenerationJob
    from generation.serializers import GenerationJobSerializer
    from plugins import services as plugin_services

    command = argv[0]
    if command == "setup":
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        admin = User.objects.create_superuser("ada", password="pw-ada-12345")
        creator = User.objects.create_user("carl", password="pw-carl-12345")
        creator.groups.add(Group.objects.get_or_create(name="creator")[0])
        plugin_services.update_plugin("procedural", acting_user=admin, enabled=True, config=None)
        return 0
    if command == "submit":
        count, interval, fields = int(argv[1]), float(argv[2]), json.loads(argv[3])
        creator = User.objects.get(username="carl")
        for i in range(count):
            began = time.monotonic()
            job, _ = services.submit(acting_user=creator, plugin_id="procedural", fields={**fields, "seed": i})
            took = time.monotonic() - began
            shown = GenerationJobSerializer(job).data
            print(json.dumps({"id": str(job.pk), "seconds": took, "waiting_for_broker": shown["waiting_for_broker"]}), flush=True)
            time.sleep(interval)
        return 0
    if command == "cancel":
        sys.stdin.readline()  # started ahead, so that a test's cancel does not wait for Django to load
        services.cancel(argv[1], acting_user=User.objects.get(username="carl"))
        asked = time.monotonic()
        while time.monotonic() - asked < 10:
            job = GenerationJob.objects.get(pk=argv[1])
            if job.is_terminal:
                break
            time.sleep(0.01)
        print(json.dumps({"status": job.status, "seconds": time.monotonic() - asked}))
        return 0
    if command == "report":
        from django.core.management import call_command

        audit_ok = True
        try:
            call_command("verify_audit", stdout=io.StringIO(), stderr=io.StringIO())
        except BaseException:  # a broken chain exits non-zero (CommandError or SystemExit)
            audit_ok = False
        jobs = [
            {"id": str(j.pk), "status": j.status, "attempts": j.attempts, "error": j.error}
            for j in GenerationJob.objects.all()
        ]
        assets = [
            {"job": str(a.job_id), "files": [a.file.name, a.thumbnail.name]} for a in Asset.objects.all()
        ]
        print(json.dumps({"jobs": jobs, "assets": assets, "audit_ok": audit_ok}))
        return 0
    print(f"unknown command {command}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
