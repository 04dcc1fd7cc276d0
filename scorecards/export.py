"""A scorecard as CSV, safe to open in a spreadsheet, and as an SVG chart for its page."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.utils.html import escape

#: A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

CSV_COLUMNS = [
    "plugin",
    "model",
    "model_version",
    "weights_fingerprint",
    "cells",
    "images",
    "accepted",
    "pass_rate",
    "typography_mean",
    "typography_worst",
    "p50_ms",
    "p95_ms",
    "failures",
    "cost_per_image_usd",
    "cost_per_accepted_usd",
]


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: empty for None, and text that would start a
    formula gets a leading apostrophe. Numbers are written as they are (a negative number is
    not text a user typed)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def scorecard_csv(rows: list[dict[str, Any]]) -> str:
    """The scorecard, one line per plugin, with a header line."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        model = row["model"]
        failures = "; ".join(f"{kind}={count}" for kind, count in row["failures"].items())
        values = [
            row["plugin"],
            model["name"],
            model["version"],
            model["weights_fingerprint"],
            row["cells"],
            row["images"],
            row["accepted"],
            row["pass_rate"],
            row["typography_accuracy"]["mean"],
            row["typography_accuracy"]["worst"],
            row["p50_ms"],
            row["p95_ms"],
            failures,
            row["cost_per_image_usd"],
            row["cost_per_accepted_usd"],
        ]
        writer.writerow([safe_cell(value) for value in values])
    return out.getvalue()


def chart_svg(rows: list[dict[str, Any]], *, width: int = 480, height: int = 300) -> str:
    """Pass rate (y, 0..100 %) against cost per accepted image (x, US$), one labelled point per
    model. A model with no accepted image has no cost per accepted image: it is drawn at the
    right edge, marked "none accepted", so it is not mistaken for a free one."""
    left, right, top, bottom = 56, 24, 16, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    costs = [r["cost_per_accepted_usd"] for r in rows if r["cost_per_accepted_usd"] is not None]
    top_cost = max(costs) if costs and max(costs) > 0 else 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        'aria-labelledby="chart-title" class="chart">',
        '<title id="chart-title">Pass rate against cost per accepted image, one point per model</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="currentColor"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="currentColor"/>',
    ]
    for tick in (0, 50, 100):
        y = top + plot_h - plot_h * tick / 100
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{tick}%</text>')
    parts.append(f'<text x="{left}" y="{height - 8}" font-size="11">US$0</text>')
    parts.append(
        f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end" font-size="11">US${top_cost:g} per accepted image</text>'
    )
    for row in rows:
        rate = row["pass_rate"] or 0.0
        cost = row["cost_per_accepted_usd"]
        x = left + plot_w * (cost / top_cost if cost is not None else 1.0)
        y = top + plot_h - plot_h * rate
        label = escape(f"{row['model']['name'] or row['plugin']} ({row['plugin']})")
        note = "" if cost is not None else escape(" · none accepted")
        anchor = "end" if x > left + plot_w / 2 else "start"
        dx = -8 if anchor == "end" else 8
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" class="point"><title>{label}: pass rate {rate:.0%}</title></circle>'
        )
        parts.append(
            f'<text x="{x + dx:.1f}" y="{y - 8:.1f}" text-anchor="{anchor}" font-size="12">{label}{note}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
