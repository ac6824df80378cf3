"""Fen arithmetic for the engine, without Django.

The rounding rules match ``ledger.money``: amounts are ``Decimal`` with two places. A computed subsidy is
rounded *down* to the fen (``floor_fen``): a rule says "at most 30 %", so half a fen more would exceed it.
Every amount the engine returns therefore passes ``ledger.money.exact_fen`` unchanged.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
ZERO = Decimal("0.00")


def floor_fen(value: Decimal) -> Decimal:
    """``Decimal("1.239") → Decimal("1.23")``; amounts here are never negative."""
    return value.quantize(FEN, rounding=ROUND_DOWN)


def half_up_fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def is_fen(value: Decimal) -> bool:
    return value == value.quantize(FEN)


def cny(value: Decimal) -> str:
    """``Decimal("1234.5") → "¥1,234.50"`` (the same format as ``ledger.money.format_cny``)."""
    amount = half_up_fen(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{abs(amount):,.2f}"


def exact(value: Decimal) -> str:
    """Like :func:`cny`, but a sub-fen value is shown with all its digits, not rounded: ``¥500.005``."""
    if is_fen(value):
        return cny(value)
    whole, _, frac = f"{value:f}".partition(".")
    return f"¥{int(whole):,}.{frac.rstrip('0')}"


def pct(rate: Decimal) -> str:
    """``Decimal("0.3") → "30%"``, ``Decimal("0.125") → "12.5%"``."""
    value = (rate * 100).normalize()
    text = f"{value:f}"
    return f"{text}%"
