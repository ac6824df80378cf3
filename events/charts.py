"""Server-side SVG charts (no JavaScript, no chart library): horizontal bars with their values written out,
so a chart reads the same on screen, in print and to a screen reader (``<title>`` per bar)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

BAR_HEIGHT = 22
GAP = 8
LABEL_WIDTH = 180
VALUE_WIDTH = 90
WIDTH = 640
PALETTE = ["#2a7be4", "#17a673", "#e5a000", "#a1221b", "#6f42c1", "#4a5563"]


@dataclass(frozen=True)
class Chart:
    title: str
    labels: Sequence[str]
    values: Sequence[float | int | Decimal]
    unit: str = ""
    maximum: float | None = None  # e.g. 100 for percentages


def _fmt(value: float | int | Decimal, unit: str) -> str:
    number = float(value)
    text = f"{number:,.0f}" if number == int(number) else f"{number:,.1f}"
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}".strip()


def _clip(text: str, limit: int = 14) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bar_chart(chart: Chart, *, color: int = 0) -> SafeString:
    rows = list(zip(chart.labels, chart.values, strict=True))
    height = max(1, len(rows)) * (BAR_HEIGHT + GAP) + GAP
    top = max([float(v) for _l, v in rows] + [float(chart.maximum or 0), 1e-9])
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    fill = PALETTE[color % len(PALETTE)]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" aria-label="{escape(chart.title)}">',
        f"<title>{escape(chart.title)}</title>",
    ]
    if not rows:
        parts.append(f'<text x="{GAP}" y="{BAR_HEIGHT}" font-size="13" fill="#6b7280">—</text>')
    for i, (label, value) in enumerate(rows):
        y = GAP + i * (BAR_HEIGHT + GAP)
        w = max(0.0, float(value)) / top * span
        text = _fmt(value, chart.unit)
        parts.append(
            f"<g><title>{escape(label)}: {escape(text)}</title>"
            f'<text x="{LABEL_WIDTH - 6}" y="{y + BAR_HEIGHT * 0.7:.1f}" font-size="12" text-anchor="end" '
            f'fill="#374151">{escape(_clip(str(label)))}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{w:.1f}" height="{BAR_HEIGHT}" rx="3" fill="{fill}"/>'
            f'<text x="{LABEL_WIDTH + w + 6:.1f}" y="{y + BAR_HEIGHT * 0.7:.1f}" font-size="12" '
            f'fill="#111827">{escape(text)}</text></g>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above
