"""Money is CNY as ``Decimal``, exact to the fen (0.01). Never ``float``.

``to_fen`` rounds (ROUND_HALF_UP, the usual commercial rule) and is for amounts that are *computed*, e.g. a
share of a subsidy; ``exact_fen`` refuses anything finer than a fen and is what postings use, so that a
rounding decision is always made explicitly by the caller, never silently by the ledger.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils.translation import gettext as _

from ledger.errors import InvalidAmount, SubFenAmount

CNY = "CNY"
FEN = Decimal("0.01")
ZERO = Decimal("0.00")
# Largest magnitude of one amount (¥1 trillion). Balances are stored with 16 digits, 2 of them decimals.
MAX_AMOUNT = Decimal("1000000000000.00")


def _as_decimal(value: object) -> Decimal:
    # bool is an int subclass and float is inexact: both are refused rather than guessed at.
    if isinstance(value, bool | float):
        raise InvalidAmount(
            _("Amounts must be given as Decimal, int or str, not %(type)s.") % {"type": type(value).__name__}
        )
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            raise InvalidAmount(_("“%(value)s” is not a number.") % {"value": value[:40]}) from None
    else:
        raise InvalidAmount(
            _("Amounts must be given as Decimal, int or str, not %(type)s.") % {"type": type(value).__name__}
        )
    if not number.is_finite():
        raise InvalidAmount(_("An amount must be a finite number."))
    if abs(number) > MAX_AMOUNT:
        raise InvalidAmount(_("An amount may not exceed ¥1,000,000,000,000.00."))
    return number


def to_fen(value: object) -> Decimal:
    """The amount rounded half-up to the fen: ``to_fen("1.005") == Decimal("1.01")``."""
    return _as_decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def exact_fen(value: object) -> Decimal:
    """The amount with exactly two decimal places; raises ``SubFenAmount`` if it has a finer part."""
    number = _as_decimal(value)
    quantized = number.quantize(FEN, rounding=ROUND_HALF_UP)
    if quantized != number:
        raise SubFenAmount(
            _("%(value)s has a part smaller than one fen; round it before posting.") % {"value": number}
        )
    return quantized


def format_cny(value: Decimal | int | str) -> str:
    """``Decimal("1234.5")`` → ``"¥1,234.50"``; negative amounts get a leading minus: ``"-¥3.00"``."""
    amount = to_fen(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{abs(amount):,.2f}"
