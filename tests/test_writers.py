"""Only a model's writer modules write it: the house rule, checked by reading the code.

Every model of Hallmark's apps names the modules allowed to write it in ``WRITERS`` (a class
attribute: ``Asset.WRITERS = ("assets.services", "assets.review", "assets.retention")``); a package named there
covers its submodules. Views, API viewsets, admin classes, management commands and Celery
tasks are not writers: they call one. ``tests.write_checker`` finds the writes (how, and what
it cannot see, is in its docstring).

Django's own models are written by Django (its admin, auth views, ``createsuperuser``) and
django-axes, outside this code; in Hallmark only ``generation.bootstrap`` writes them (the
quick start's account, its admin group and API token), and ``workspace.synthetic`` users (the
inactive owners of a synthetic library), and every change to a user, group or
token is audited whichever code made it, by the signal receivers in
``governance.identity_audit``. They carry no ``WRITERS``; ``write_checker.OTHER_WRITERS``
lists Hallmark's writers of them, and any other model written without a list fails the test.
"""

from __future__ import annotations

import importlib.util

import pytest

from tests.write_checker import module_name, project_files, project_models, writes_in


def test_every_model_names_its_writers() -> None:
    found = project_models()
    assert {m._meta.label for m in found} >= {
        "assets.Asset",
        "generation.GenerationJob",
        "governance.AuditEvent",
        "governance.AuditChainHead",
        "governance.OrganisationProfile",
        "plugins.PluginSetting",
    }
    missing = [m._meta.label for m in found if not m.__dict__.get("WRITERS")]
    assert missing == [], f"models that declare no WRITERS: {missing}"
    for model in found:
        writers = model.__dict__["WRITERS"]
        assert isinstance(writers, tuple) and all(isinstance(w, str) for w in writers), model
        # Apps own their models: only the model's own app writes it.
        foreign = [w for w in writers if not w.startswith(model._meta.app_label + ".")]
        # A writer that does not exist is a stale list (a module renamed or split).
        absent = [w for w in writers if importlib.util.find_spec(w) is None]
        assert absent == [], f"{model._meta.label}.WRITERS names modules that do not exist: {absent}"
        assert foreign == [], f"{model._meta.label} names writers outside its app: {foreign}"


def test_models_are_written_only_by_their_writers() -> None:
    files = project_files()
    assert len(files) > 50  # the walk found the project
    problems = []
    for path in files:
        problems += writes_in(path.read_text(), module_name(path))
    assert [str(p) for p in problems] == []


SAMPLES = [
    ("Asset.objects.filter(status='draft').update(status='approved')", "update"),
    ("Asset.objects.create(prompt='x')", "create"),
    ("a = Asset.objects.get(pk=1)\na.status = 'approved'\na.save()", "save"),
    ("a = get_object_or_404(Asset.objects.live(), pk=1)\na.delete()", "delete"),
    ("for a in Asset.objects.all():\n    a.delete()", "delete"),
    ("[a.save() for a in Asset.objects.filter(legal_hold=True)]", "save"),
    ("def f(asset: Asset) -> None:\n    asset.save()", "save"),
    ("def f(assets: QuerySet[Asset]) -> None:\n    assets.delete()", "delete"),
    ("job = GenerationJob.objects.get(pk=1)\njob.assets.all().delete()", "delete"),
    ("def f(job: GenerationJob) -> None:\n    job.assets.update(status='approved')", "update"),
    ("row, _ = Asset.objects.select_for_update().get_or_create(id=1)\nrow.save()", "get_or_create save"),
    ("Asset.objects.bulk_create([Asset()])", "bulk_create"),
    (
        "class V(viewsets.GenericViewSet[Asset]):\n    def go(self):\n        self.get_object().save()",
        "save",
    ),
    ("Asset(prompt='x').save()", "save"),
    ("with transaction.atomic():\n    locked = Asset.objects.select_for_update().first()\n    locked.save()", "save"),
    ("Token.objects.create(user=None)", "create"),
    ("from assets import review\nreview.approve(1, acting_user=None).save()", "save"),
    ("from assets.review import export_for_use\nasset, _ = export_for_use(1, acting_user=None)\nasset.delete()", "delete"),
    ("def _load(pk) -> Asset:\n    return Asset.objects.get(pk=pk)\n\n_load(1).save()", "save"),
    (
        "class W:\n    def _mine(self) -> QuerySet[Asset]:\n        return Asset.objects.all()\n"
        "    def go(self):\n        self._mine().update(status='x')",
        "update",
    ),
    ("User = get_user_model()\nUser.objects.create_user('x')", "create_user"),
    ("from django.contrib.auth.models import Group\nGroup.objects.get(name='x').delete()", "delete"),
    # The bulk loader writes the model it is given, however it is imported.
    ("from hallmark.bulk import load_rows\nload_rows(Asset, [])", "load_rows"),
    ("from hallmark import bulk\nbulk.load_rows(model=Asset, rows=[])", "load_rows"),
    ("import hallmark.bulk\nhallmark.bulk.load_rows(GenerationJob, [])", "load_rows"),
]
HEADER = (
    "from django.contrib.auth import get_user_model\n"
    "from django.db.models import QuerySet\n"
    "from rest_framework import viewsets\n"
    "from rest_framework.authtoken.models import Token\n"
    "from django.shortcuts import get_object_or_404\n"
    "from assets.models import Asset\n"
    "from generation.models import GenerationJob\n"
)


@pytest.mark.parametrize(("code", "methods"), SAMPLES)
def test_the_checker_sees_the_usual_write_patterns(code: str, methods: str) -> None:
    found = writes_in(HEADER + code, "assets.views")
    assert sorted(w.method for w in found) == methods.split(), code


@pytest.mark.parametrize(
    "code",
    [
        "Asset.objects.filter(status='draft').count()",
        "a = Asset.objects.get(pk=1)\na.file.delete()\nstorage.delete(a.file.name)",
        "data = {}\ndata.update(x=1)\nnames = set()\nnames.add('x')",
        "a = Asset.objects.get(pk=1)\na.refresh_from_db()",
    ],
)
def test_the_checker_leaves_reads_and_other_objects_alone(code: str) -> None:
    assert writes_in(HEADER + code, "assets.views") == []


def test_a_writer_module_may_write() -> None:
    code = HEADER + "Asset.objects.filter(pk=1).update(status='approved')"
    assert writes_in(code, "assets.review") == []
    assert writes_in(code, "assets.services") == []
    assert [w.method for w in writes_in(code, "generation.services")] == ["update"]


def test_bulk_loads_count_as_writes_of_the_model_loaded() -> None:
    code = HEADER + "from hallmark.bulk import load_rows\nload_rows(Asset, [])\nload_rows(GenerationJob, [])"
    assert [w.model._meta.label for w in writes_in(code, "assets.synthetic")] == ["generation.GenerationJob"]
    assert sorted(w.model._meta.label for w in writes_in(code, "workspace.synthetic")) == [
        "assets.Asset",
        "generation.GenerationJob",
    ]
    # A function of another name is not the loader.
    assert writes_in(HEADER + "def load_rows(model, rows): ...\nload_rows(Asset, [])", "workspace.views") == []
