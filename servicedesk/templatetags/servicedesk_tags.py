"""Template helpers of the service desk: bilingual catalogue texts and SLA flags."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import get_language
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def in_language(texts: dict[str, str] | None) -> str:
    texts = texts or {}
    lang = "en" if (get_language() or "").startswith("en") else "zh"
    return texts.get(lang) or texts.get("zh") or texts.get("en") or ""


@register.simple_tag
def sla_flags(ticket: object) -> SafeString:
    """Late first response / resolution, live (a stored breach or a due time passed while still waiting)."""
    parts = []
    if getattr(ticket, "first_response_breached", False) or ticket.first_response_late():  # type: ignore[attr-defined]
        parts.append(
            format_html(
                '<span class="badge badge-rejected" data-testid="sla-first-late">{}</span>',
                _("First response late"),
            )
        )
    if getattr(ticket, "resolution_breached", False) or ticket.resolution_late():  # type: ignore[attr-defined]
        parts.append(
            format_html(
                '<span class="badge badge-rejected" data-testid="sla-resolution-late">{}</span>',
                _("Resolution late"),
            )
        )
    if not parts:
        return format_html(
            '<span class="badge badge-verified" data-testid="sla-ok">{}</span>', _("Within SLA")
        )
    return format_html(" ".join(["{}"] * len(parts)), *parts)
