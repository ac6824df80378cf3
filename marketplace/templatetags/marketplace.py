"""Template helpers of the marketplace pages."""

from __future__ import annotations

import uuid
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext as _

register = template.Library()

STATUS_CLASSES = {
    "open": "badge-verified",
    "funded": "badge-verified",
    "awarded": "badge-verified",
    "won": "badge-verified",
    "accepted": "badge-verified",
    "completed": "badge-muted",
    "released": "badge-muted",
    "resolved": "badge-muted",
    "decided": "badge-muted",
    "disputed": "badge-rejected",
    "cancelled": "badge-rejected",
    "rejected": "badge-rejected",
    "withdrawn": "badge-rejected",
    "declined": "badge-rejected",
    "expired": "badge-rejected",
    "not_selected": "badge-rejected",
}


@register.simple_tag
def idempotency_field() -> str:
    """A hidden ``idempotency_key`` input with a fresh key: each rendered form is one operation, so
    submitting it twice (double click, back + resubmit) has a single effect."""
    return format_html('<input type="hidden" name="idempotency_key" value="{}">', uuid.uuid4().hex)


@register.simple_tag
def status_badge(obj: Any) -> str:
    """A coloured badge with the object's translated status."""
    status = getattr(obj, "status", "")
    label = obj.get_status_display() if hasattr(obj, "get_status_display") else status
    css = STATUS_CLASSES.get(status, "badge-pending")
    return format_html('<span class="badge {}" data-status="{}">{}</span>', css, status, label)


@register.filter
def percent(value: Any) -> str:
    try:
        return f"{float(value) * 100:.0f}%"
    except (TypeError, ValueError):
        return "—"


@register.filter
def factor_label(name: str) -> str:
    labels = {
        "coverage": _("skill coverage"),
        "experience": _("category experience"),
        "reputation": _("reputation"),
        "price": _("price fit"),
        "load": _("free capacity"),
        "verified": _("verified"),
        "community": _("same community"),
        "newcomer": _("newcomer boost"),
    }
    return labels.get(name, name)
