"""Formatting for the copyright registry's pages and PDFs."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def timecode(ms: Any) -> str:
    """Milliseconds as ``m:ss.s`` (``h:mm:ss`` past an hour)."""
    try:
        total = max(0, int(ms)) / 1000
    except (TypeError, ValueError):
        return "—"
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours >= 1:
        return f"{int(hours)}:{int(minutes):02d}:{int(seconds):02d}"
    return f"{int(minutes)}:{seconds:04.1f}"


@register.filter
def similarity(distance: Any) -> str:
    """A Hamming distance of 256-bit hashes as a similarity percentage."""
    try:
        return f"{100 * (1 - float(distance) / 256):.1f}%"
    except (TypeError, ValueError):
        return "—"


@register.filter
def short_hash(value: Any, length: int = 16) -> str:
    text = str(value or "")
    return text[:length] + "…" if len(text) > length else text
