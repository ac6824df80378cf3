from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext as _

register = template.Library()


@register.simple_tag
def org_badge(org: object) -> str:
    """The verification badge shown next to an organisation's name everywhere."""
    status = getattr(org, "verification_status", "")
    if status == "verified":
        return format_html(
            '<span class="badge badge-verified" title="{}">✓ {}</span>',
            _("Verified by the operator"),
            _("Verified"),
        )
    if status == "rejected":
        return format_html('<span class="badge badge-rejected">{}</span>', _("Verification rejected"))
    if status == "pending":
        return format_html('<span class="badge badge-pending">{}</span>', _("Awaiting verification"))
    return format_html('<span class="badge badge-unverified">{}</span>', _("Unverified"))


@register.filter
def cny(value: object) -> str:
    if value is None or value == "":
        return "—"
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{abs(amount):,.2f}"
