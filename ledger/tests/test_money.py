from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.errors import InvalidAmount, SubFenAmount
from ledger.money import exact_fen, format_cny, to_fen


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (Decimal("1.005"), Decimal("1.01")),  # half up, not banker's rounding
        (Decimal("1.015"), Decimal("1.02")),
        (Decimal("2.675"), Decimal("2.68")),  # the classic float trap
        (Decimal("-1.005"), Decimal("-1.01")),  # half away from zero
        (Decimal("1.004999"), Decimal("1.00")),
        ("12.3", Decimal("12.30")),
        (" 1,234.5 ", Decimal("1234.50")),
        (7, Decimal("7.00")),
        (Decimal("0"), Decimal("0.00")),
    ],
)
def test_to_fen_rounds_half_up_to_two_places(raw: object, expected: Decimal) -> None:
    result = to_fen(raw)
    assert result == expected
    assert result.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "raw",
    [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), "-inf", "abc", "", None, 0.1, True, [], "1e400"],
)
def test_to_fen_refuses_non_numbers_floats_and_bools(raw: object) -> None:
    with pytest.raises(InvalidAmount):
        to_fen(raw)


def test_to_fen_refuses_amounts_beyond_the_limit() -> None:
    assert to_fen("1000000000000") == Decimal("1000000000000.00")
    with pytest.raises(InvalidAmount):
        to_fen("1000000000000.01")


def test_exact_fen_refuses_sub_fen_parts() -> None:
    assert exact_fen("3.10") == Decimal("3.10")
    assert exact_fen(Decimal("3.1000")) == Decimal("3.10")
    with pytest.raises(SubFenAmount) as excinfo:
        exact_fen(Decimal("3.105"))
    assert "3.105" in excinfo.value.message


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1234.5"), "¥1,234.50"),
        (Decimal("0"), "¥0.00"),
        (Decimal("-3"), "-¥3.00"),
        ("1234567.891", "¥1,234,567.89"),
    ],
)
def test_format_cny(value: object, text: str) -> None:
    assert format_cny(value) == text  # type: ignore[arg-type]
