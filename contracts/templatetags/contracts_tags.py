"""Template helpers of the contract pages: severity and rating badges."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from contracts.models import Rating, Severity

register = template.Library()

_CLASSES = {
    "high": "badge-rejected",
    "medium": "badge-pending",
    "low": "badge-muted",
    "none": "badge-verified",
}


@register.simple_tag
def severity_badge(severity: str) -> SafeString:
    label = Severity(severity).label if severity in Severity.values else severity
    return format_html(
        '<span class="badge {}" data-severity="{}">{}</span>',
        _CLASSES.get(severity, "badge-muted"),
        severity,
        label,
    )


@register.simple_tag
def rating_badge(rating: str) -> SafeString:
    label = Rating(rating).label if rating in Rating.values else rating
    return format_html(
        '<span class="badge {}" data-testid="rating" data-rating="{}">{}</span>',
        _CLASSES.get(rating, "badge-muted"),
        rating,
        label,
    )


@register.filter
def in_language(texts: dict[str, str] | None) -> str:
    """The zh or en text of a bilingual dict (rule library texts), following the active language."""
    from contracts.models import text_in_language

    return text_in_language(texts)
