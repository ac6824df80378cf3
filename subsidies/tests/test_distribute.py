"""Distribution by consumption: exact to the fen, capped, redistributing what caps cut off."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subsidies.engine import distribute

D = Decimal
fen = st.integers(min_value=0, max_value=10**9).map(lambda n: D(n) / 100)
weight = st.one_of(
    st.integers(min_value=0, max_value=10**8).map(D),
    st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False),
)


@st.composite
def claims(draw: st.DrawFn) -> tuple[Decimal, dict[str, Decimal], dict[str, Decimal | None]]:
    n = draw(st.integers(min_value=0, max_value=12))
    weights = {f"m{i}": draw(weight) for i in range(n)}
    caps: dict[str, Decimal | None] = {m: draw(st.one_of(st.none(), fen)) for m in weights}
    return draw(fen), weights, caps


@given(claims())
@settings(max_examples=400, deadline=None)
def test_shares_are_exact_capped_and_non_negative(
    case: tuple[Decimal, dict[str, Decimal], dict[str, Decimal | None]],
) -> None:
    received, weights, caps = case
    result = distribute(received, weights, caps)
    for member, share in result.shares.items():
        assert share >= 0
        assert share == share.quantize(D("0.01"))
        if caps[member] is not None:
            assert share <= caps[member]
        if weights[member] == 0:
            assert share == 0
    # the shares plus what is reported undistributed are exactly what was received
    assert result.distributed + result.undistributed == received
    assert result.undistributed >= 0
    positive = [m for m in weights if weights[m] > 0]
    if result.undistributed:
        # only when every member with a weight is at its cap (or nobody has a weight)
        assert all(caps[m] is not None and result.shares[m] == caps[m] for m in positive)
    capacity = (
        None if any(caps[m] is None for m in positive) else sum((caps[m] for m in positive), D(0))  # type: ignore[misc]
    )
    if positive:
        expected = received if capacity is None else min(received, capacity)
        assert result.distributed == expected


@given(claims())
@settings(max_examples=200, deadline=None)
def test_uncapped_shares_are_pro_rata_within_one_fen(
    case: tuple[Decimal, dict[str, Decimal], dict[str, Decimal | None]],
) -> None:
    received, weights, _ = case
    result = distribute(received, weights)
    total = sum(weights.values(), D(0))
    if not total:
        return
    for member, w in weights.items():
        exact = received * w / total
        assert abs(result.shares[member] - exact) < D("0.01")


def test_largest_remainder_example() -> None:
    result = distribute(D("100.00"), {"a": D(1), "b": D(1), "c": D(1)})
    assert result.shares == {"a": D("33.34"), "b": D("33.33"), "c": D("33.33")}
    assert result.undistributed == 0


def test_what_a_cap_cuts_off_goes_to_the_others() -> None:
    result = distribute(
        D("1000.00"), {"a": D(50), "b": D(30), "c": D(20)}, {"a": D("100.00"), "b": None, "c": None}
    )
    assert result.shares == {"a": D("100.00"), "b": D("540.00"), "c": D("360.00")}


def test_cascading_caps() -> None:
    # after a is capped, b's share grows past its cap too
    result = distribute(
        D("100.00"), {"a": D(60), "b": D(30), "c": D(10)}, {"a": D("10.00"), "b": D("60.00"), "c": None}
    )
    assert result.shares == {"a": D("10.00"), "b": D("60.00"), "c": D("30.00")}


def test_everyone_capped_reports_what_is_left() -> None:
    result = distribute(D("100.00"), {"a": D(1), "b": D(1)}, {"a": D("20.00"), "b": D("30.00")})
    assert result.shares == {"a": D("20.00"), "b": D("30.00")}
    assert result.undistributed == D("50.00")


def test_refuses_sub_fen_or_negative_input() -> None:
    with pytest.raises(ValueError, match="smaller than one fen"):
        distribute(D("1.001"), {"a": D(1)})
    with pytest.raises(ValueError, match="negative"):
        distribute(D("1.00"), {"a": D(-1)})
