"""Hallmark's own checks: resolution, aspect ratio, typography (OCR), time, cost, provider
safety and intact provenance. Registered by ``acceptance.checks``; see docs/acceptance.md."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from acceptance import ocr
from acceptance.checks import Check, CheckContext, CheckOutcome
from assets.verification import check_stored_asset
from hallmark.errors import InvalidInput
from hallmark.sdk import ParamSpec

_RATIO = re.compile(r"^\s*(\d{1,5})\s*:\s*(\d{1,5})\s*$")


class MinResolution(Check):
    """The image is at least ``width`` x ``height`` pixels."""

    type = "min_resolution"
    label = "Minimum resolution"
    params_schema = {
        "width": ParamSpec("int", minimum=1, maximum=100_000, required=True),
        "height": ParamSpec("int", minimum=1, maximum=100_000, required=True),
    }

    def run(self, context: CheckContext) -> CheckOutcome:
        """Compare the stored image's size with the minimum."""
        width, height = int(context.asset.width), int(context.asset.height)
        want_w, want_h = self.params["width"], self.params["height"]
        passed = width >= want_w and height >= want_h
        return CheckOutcome(passed, None, f"{width}x{height} against at least {want_w}x{want_h}.")


class AspectRatio(Check):
    """The image's width:height is ``ratio`` (e.g. ``"16:9"``) within ``tolerance`` (relative)."""

    type = "aspect_ratio"
    label = "Aspect ratio"
    params_schema = {
        "ratio": ParamSpec("str", required=True, max_length=11, help='Width:height, e.g. "16:9".'),
        "tolerance": ParamSpec("float", default=0.01, minimum=0.0, maximum=0.5),
    }

    @classmethod
    def clean_params(cls, raw: Any) -> dict[str, Any]:
        """Also require ``ratio`` to be two positive whole numbers joined by a colon."""
        cleaned = super().clean_params(raw)
        match = _RATIO.match(cleaned["ratio"])
        if match is None or int(match[1]) == 0 or int(match[2]) == 0:
            raise InvalidInput({"ratio": ['Must be two positive whole numbers as "W:H", e.g. "16:9".']})
        cleaned["ratio"] = f"{int(match[1])}:{int(match[2])}"
        return cleaned

    def run(self, context: CheckContext) -> CheckOutcome:
        """Relative difference between the image's ratio and the wanted one."""
        want_w, want_h = (int(part) for part in self.params["ratio"].split(":"))
        wanted = want_w / want_h
        actual = int(context.asset.width) / max(1, int(context.asset.height))
        off = abs(actual - wanted) / wanted
        passed = off <= float(self.params["tolerance"])
        return CheckOutcome(
            passed,
            round(off, 6),
            f"{actual:.4f} against {self.params['ratio']} ({wanted:.4f}), off by {off:.2%}.",
        )


class Typography(Check):
    """The text the request expects is read back from the image by OCR with at least
    ``min_accuracy`` character accuracy (``acceptance.ocr.character_accuracy``)."""

    type = "typography"
    label = "Typography (OCR)"
    params_schema = {"min_accuracy": ParamSpec("float", default=0.9, minimum=0.0, maximum=1.0)}

    def run(self, context: CheckContext) -> CheckOutcome:
        """Read the stored image's text and score it against the expected text."""
        if not context.expected_text.strip():
            return CheckOutcome(False, 0.0, "The request named no expected text to read back.")
        try:
            read = ocr.read_asset_text(context.asset)
        except ocr.UnreadableImage as exc:
            return CheckOutcome(False, 0.0, str(exc))
        accuracy = ocr.character_accuracy(context.expected_text, read)
        passed = accuracy >= float(self.params["min_accuracy"])
        shown = read if len(read) <= 200 else read[:199] + "…"
        return CheckOutcome(
            passed,
            round(accuracy, 4),
            f"Read {shown!r}: accuracy {accuracy:.1%} (at least {self.params['min_accuracy']:.0%}).",
        )


class MaxSeconds(Check):
    """The job that made the image took at most ``seconds`` from start to stored."""

    type = "max_seconds"
    label = "Generation time limit"
    params_schema = {"seconds": ParamSpec("float", minimum=0.0, maximum=86_400.0, required=True)}

    def run(self, context: CheckContext) -> CheckOutcome:
        """Compare the job's recorded time with the limit."""
        if context.seconds is None:
            return CheckOutcome(False, None, "The job's time was not recorded.")
        passed = context.seconds <= float(self.params["seconds"])
        return CheckOutcome(
            passed,
            round(context.seconds, 3),
            f"{context.seconds:.2f} s against at most {self.params['seconds']:g} s.",
        )


class MaxCost(Check):
    """The image cost at most ``usd``; a plugin that reports no cost (a local model) counts as free."""

    type = "max_cost"
    label = "Cost limit"
    params_schema = {"usd": ParamSpec("float", minimum=0.0, maximum=1_000.0, required=True)}

    def run(self, context: CheckContext) -> CheckOutcome:
        """Compare the job's cost per image with the limit."""
        limit = Decimal(str(self.params["usd"]))
        if context.cost_usd is None:
            return CheckOutcome(True, 0.0, f"No cost reported (a local model); limit US${limit}.")
        passed = context.cost_usd <= limit
        return CheckOutcome(
            passed, float(context.cost_usd), f"US${context.cost_usd} against at most US${limit}."
        )


class ProviderSafe(Check):
    """The provider did not flag the image as unsafe (``is_image_safe`` in what it reported).
    A provider or local model that reports no flag passes, and the detail says so."""

    type = "provider_safe"
    label = "Provider safety flag"

    def run(self, context: CheckContext) -> CheckOutcome:
        """Read the flag a hosted plugin recorded with the asset."""
        flag = (context.asset.provider_data or {}).get("is_image_safe")
        if flag is None:
            return CheckOutcome(True, None, "The plugin records no safety flag.")
        passed = flag is True
        return CheckOutcome(passed, None, f"The provider reported is_image_safe: {str(flag).lower()}.")


class ProvenanceIntact(Check):
    """The stored file still hashes to its record and its C2PA manifest validates and names
    this asset (``assets.verification.check_stored_asset``, the one verification)."""

    type = "provenance_intact"
    label = "Provenance intact"

    def run(self, context: CheckContext) -> CheckOutcome:
        """Re-read the stored file and re-validate its manifest."""
        checked = check_stored_asset(context.asset)
        if checked.ok:
            state = checked.credentials.validation_state if checked.credentials else None
            return CheckOutcome(True, None, f"Manifest {state or 'present'} and names this asset.")
        return CheckOutcome(False, None, " ".join(checked.problems.values()))


BUILTIN_CHECKS: tuple[type[Check], ...] = (
    MinResolution,
    AspectRatio,
    Typography,
    MaxSeconds,
    MaxCost,
    ProviderSafe,
    ProvenanceIntact,
)
