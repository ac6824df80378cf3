"""Template helpers of the quota console."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def cny4(value: object) -> str:
    """CNY with four decimal places (request costs are fractions of a fen)."""
    if value is None or value == "":
        return "—"
    amount = Decimal(str(value)).quantize(Decimal("0.0001"))
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{abs(amount):,.4f}"


@register.filter
def signed_cny(value: object) -> str:
    if value is None or value == "":
        return "—"
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    sign = "+" if amount > 0 else "-" if amount < 0 else "±"
    return f"{sign}¥{abs(amount):,.2f}"
