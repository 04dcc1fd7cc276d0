"""Each built-in check's verdict, the registry, and recording results once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from acceptance import checks, services
from acceptance.builtin_checks import (
    AspectRatio,
    MaxCost,
    MaxSeconds,
    MinResolution,
    ProvenanceIntact,
    ProviderSafe,
)
from acceptance.checks import CheckContext, CheckOutcome
from acceptance.models import CheckResult
from assets.models import Asset
from governance.models import AuditEvent
from hallmark.errors import InvalidInput

pytestmark = pytest.mark.django_db


def run(cls, params, asset, **context) -> CheckOutcome:
    return cls(cls.clean_params(params)).run(CheckContext(asset=asset, **context))


def test_min_resolution(stored) -> None:
    asset = stored("a poster", width=512, height=256)
    assert run(MinResolution, {"width": 512, "height": 256}, asset).passed
    assert not run(MinResolution, {"width": 513, "height": 100}, asset).passed
    assert not run(MinResolution, {"width": 100, "height": 257}, asset).passed


def test_aspect_ratio(stored) -> None:
    wide = stored("a banner", width=640, height=360)
    assert run(AspectRatio, {"ratio": "16:9"}, wide).passed
    outcome = run(AspectRatio, {"ratio": "1:1"}, wide)
    assert not outcome.passed and outcome.score == pytest.approx(640 / 360 - 1, rel=1e-3)
    # Within the tolerance given.
    assert run(AspectRatio, {"ratio": "16:10", "tolerance": 0.2}, wide).passed
    assert not run(AspectRatio, {"ratio": "16:10"}, wide).passed


@pytest.mark.parametrize("ratio", ["16-9", "0:9", "a:b", "16:", ""])
def test_aspect_ratio_refuses_a_bad_ratio(ratio) -> None:
    with pytest.raises(InvalidInput) as caught:
        AspectRatio.clean_params({"ratio": ratio})
    assert "ratio" in caught.value.errors


def test_max_seconds_and_max_cost(stored) -> None:
    asset = stored("a label")
    assert run(MaxSeconds, {"seconds": 5}, asset, seconds=4.9).passed
    assert not run(MaxSeconds, {"seconds": 5}, asset, seconds=5.1).passed
    assert not run(MaxSeconds, {"seconds": 5}, asset).passed  # not recorded
    assert run(MaxCost, {"usd": 0.04}, asset, cost_usd=Decimal("0.04")).passed
    assert not run(MaxCost, {"usd": 0.04}, asset, cost_usd=Decimal("0.05")).passed
    assert run(MaxCost, {"usd": 0}, asset).passed  # a local model reports no cost


def test_provider_safe(stored) -> None:
    asset = stored("a sign")
    assert run(ProviderSafe, {}, asset).passed  # no flag recorded
    asset.provider_data = {"is_image_safe": False}
    assert not run(ProviderSafe, {}, asset).passed
    asset.provider_data = {"is_image_safe": True}
    assert run(ProviderSafe, {}, asset).passed


def test_provenance_intact(stored) -> None:
    asset = stored("a sign")
    outcome = run(ProvenanceIntact, {}, asset)
    assert outcome.passed, outcome.detail
    # A file changed after signing no longer passes.
    path = asset.file.path
    with open(path, "r+b") as handle:
        handle.seek(-10, 2)
        handle.write(b"0123456789")
    outcome = run(ProvenanceIntact, {}, Asset.objects.get(pk=asset.pk))
    assert not outcome.passed and "sha256" in outcome.detail


def test_another_assets_manifest_does_not_pass(stored) -> None:
    first, second = stored("a sign", seed=1), stored("a sign", seed=2)
    second.file.name = first.file.name  # the record points at a file made for another asset
    second.sha256 = first.sha256
    outcome = run(ProvenanceIntact, {}, second)
    assert not outcome.passed and str(first.pk) in outcome.detail


def test_clean_checks_names_the_field_at_fault() -> None:
    with pytest.raises(InvalidInput) as caught:
        checks.clean_checks(
            [
                {"type": "min_resolution", "width": 10, "height": 10},
                {"type": "nonsense"},
                {"type": "aspect_ratio"},
                {"type": "min_resolution", "width": "wide", "height": 10},
                {"type": "typography", "min_accuracy": 1.5, "colour": "red"},
            ]
        )
    errors = caught.value.errors
    assert set(errors) == {
        "checks[1].type",
        "checks[2].ratio",
        "checks[3].width",
        "checks[4].min_accuracy",
        "checks[4].colour",
    }
    assert checks.clean_checks([{"type": "typography"}]) == [{"type": "typography", "min_accuracy": 0.9}]


def test_a_third_party_check_registers_by_entry_point(monkeypatch) -> None:
    class Even(checks.Check):
        type = "even_seed"

        def run(self, context: CheckContext) -> CheckOutcome:
            return CheckOutcome(context.asset.seed % 2 == 0, None, "")

    class EntryPoint:
        name, value = "even_seed", "third.party:Even"

        def load(self):
            return Even

    class Broken(EntryPoint):
        name = "broken_check"

        def load(self):
            raise ImportError("missing dependency")

    monkeypatch.setattr(
        checks,
        "entry_points",
        lambda group: [EntryPoint(), Broken()] if group == checks.ENTRY_POINT_GROUP else [],
    )
    monkeypatch.setattr(checks, "_registry", None)
    found = checks.check_types()
    monkeypatch.setattr(checks, "_registry", None)  # the next caller discovers again
    assert found["even_seed"] is Even and "broken_check" not in found and "typography" in found


def test_results_are_recorded_once_and_audited(stored, make_checklist) -> None:
    asset = stored("a sign")
    checklist = make_checklist(
        [{"type": "min_resolution", "width": 64, "height": 64}, {"type": "provider_safe"}]
    )
    version = checklist.latest
    first = services.run_checks(version, CheckContext(asset=asset))
    again = services.run_checks(version, CheckContext(asset=asset))
    assert [r.check_type for r in first] == ["min_resolution", "provider_safe"]
    assert CheckResult.objects.filter(asset=asset).count() == 2 and len(again) == 2
    assert all(r.passed for r in CheckResult.objects.filter(asset=asset, checklist_version=version))
    assert AuditEvent.objects.filter(action="checks.ran", target_id=str(asset.pk)).count() == 1


def test_a_crashing_check_fails_without_raising(stored, make_checklist, monkeypatch) -> None:
    asset = stored("a sign")
    checklist = make_checklist([{"type": "provider_safe"}])

    def boom(self, context):
        raise RuntimeError("bug")

    monkeypatch.setattr(ProviderSafe, "run", boom)
    [result] = services.run_checks(checklist.latest, CheckContext(asset=asset))
    assert not result.passed and "RuntimeError" in result.detail


def test_stored_parameters_an_upgraded_check_refuses_fail_with_the_reason(
    stored, make_checklist, monkeypatch
) -> None:
    from hallmark.sdk import ParamSpec

    asset = stored("a sign")
    checklist = make_checklist([{"type": "provider_safe"}])
    monkeypatch.setattr(ProviderSafe, "params_schema", {"strict": ParamSpec("bool", required=True)})
    [result] = services.run_checks(checklist.latest, CheckContext(asset=asset))
    assert not result.passed and "no longer accepts" in result.detail and "strict" in result.detail
