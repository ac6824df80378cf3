"""Template helpers of the contract pages: severity and rating badges."""

from __future__ import annotations

from typing import Any

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


@register.simple_tag(takes_context=True)
def attachment_review_link(context: template.Context, attachment: Any) -> str:
    """The one-click review URL of a marketplace order attachment when the viewer's organisation is party to
    the order (client, invited or bidding OPC), else "" (the link is not shown)."""
    from contracts.links import attachment_review_url
    from contracts.services import attachment_party_ids

    request = context.get("request")
    scope = getattr(request, "org_scope", None)
    org = getattr(scope, "organisation", None)
    if org is None or org.pk not in attachment_party_ids(attachment):
        return ""
    return attachment_review_url(attachment)
