"""Price reference: exact Decimal percentiles of accepted prices of completed contracts, the minimum sample,
and flags for quotes and budgets far outside the distribution."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.testing import World
from marketplace.models import Contract, ContractStatus
from trust import selectors
from trust.selectors import PRICE_MIN_SAMPLE, PriceLevel, PriceReference, percentile

from .conftest import awarded, category, completed

D = Decimal


class TestPercentile:
    def test_linear_interpolation_exact_in_decimal(self) -> None:
        values = [D("1000.00"), D("2000.00"), D("3000.00"), D("4000.00"), D("10000.00")]
        assert percentile(values, D("0.25")) == D("2000.00")
        assert percentile(values, D("0.5")) == D("3000.00")
        assert percentile(values, D("0.75")) == D("4000.00")
        # Between ranks: position (6-1)*0.25 = 1.25 → 200 + 0.25 × (300 − 200)
        six = [D("100"), D("200"), D("300"), D("400"), D("500"), D("600.01")]
        assert percentile(six, D("0.25")) == D("225.00")
        assert percentile(six, D("0.5")) == D("350.00")
        assert percentile(six, D("0.75")) == D("475.00")
        # Rounded half-up to the fen, never through floats.
        assert percentile([D("0.01"), D("0.02")], D("0.5")) == D("0.02")
        assert percentile([D("0.10"), D("0.20"), D("0.20")], D("0.25")) == D("0.15")
        assert percentile([D("7.77")], D("0.75")) == D("7.77")
        with pytest.raises(ValueError):
            percentile([], D("0.5"))

    @given(st.lists(st.decimals(min_value=1, max_value=10**6, places=2), min_size=1, max_size=40))
    def test_percentiles_are_ordered_and_within_range(self, raw: list[Decimal]) -> None:
        values = sorted(raw)
        p25, p50, p75 = (percentile(values, D(f)) for f in ("0.25", "0.5", "0.75"))
        assert values[0] <= p25 <= p50 <= p75 <= values[-1]
        assert p50.as_tuple().exponent == -2


@pytest.mark.django_db
class TestPriceReference:
    def test_not_enough_data(self, world: World) -> None:
        completed(world, price="5000.00")
        ref = selectors.price_reference(category())
        assert ref.count == 1 and not ref.enough and ref.median is None
        flag = selectors.price_flag(category(), "1.00")
        assert flag.level == PriceLevel.NO_DATA and not flag.flagged
        assert selectors.price_reference(None).count == 0

    def test_distribution_of_completed_contracts_only(self, world: World) -> None:
        for price in ("8000.00", "9000.00", "10000.00", "11000.00", "12000.00"):
            completed(world, price=price)
        awarded(world, price="99999.00")  # active, not counted
        other = completed(world, price="500.00", skill=category("design"))  # other category
        assert other.status == ContractStatus.COMPLETED
        ref = selectors.price_reference(category())
        assert (ref.count, ref.p25, ref.median, ref.p75) == (5, D("9000.00"), D("10000.00"), D("11000.00"))
        assert ref.enough and ref.low_limit == D("4500.00") and ref.high_limit == D("22000.00")
        assert ref.as_dict()["median"] == "10000.00"

    def test_flags(self) -> None:
        ref = PriceReference(
            category=None, count=PRICE_MIN_SAMPLE, p25=D("9000"), median=D("10000"), p75=D("11000")
        )
        flag = selectors.price_flag(None, "4499.99", reference=ref)
        assert flag.level == PriceLevel.FAR_BELOW and flag.flagged and "9" in flag.message
        assert selectors.price_flag(None, "4500.00", reference=ref).level == PriceLevel.WITHIN
        assert selectors.price_flag(None, "22000.00", reference=ref).level == PriceLevel.WITHIN
        assert selectors.price_flag(None, "22000.01", reference=ref).level == PriceLevel.FAR_ABOVE
        # Garbage amounts are not judged.
        for junk in ("abc", "", None, "NaN", "-5", "Infinity"):
            assert not selectors.price_flag(None, junk, reference=ref).flagged
        # Budgets: far below when even the top is far below; far above when even the bottom is far above.
        assert selectors.budget_flag(None, "1000", "4000", reference=ref).level == PriceLevel.FAR_BELOW
        assert selectors.budget_flag(None, "1000", "30000", reference=ref).level == PriceLevel.WITHIN
        assert selectors.budget_flag(None, "23000", "30000", reference=ref).level == PriceLevel.FAR_ABOVE
        small = PriceReference(
            category=None, count=PRICE_MIN_SAMPLE - 1, p25=D("1"), median=D("1"), p75=D("1")
        )
        assert selectors.price_flag(None, "1000000", reference=small).level == PriceLevel.NO_DATA

    def test_newest_contracts_make_the_sample(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(selectors, "PRICE_SAMPLE_LIMIT", 5)
        for price in ("1000.00", "2000.00", "3000.00", "4000.00", "5000.00", "6000.00"):
            completed(world, price=price)
        oldest = Contract.objects.get(price=D("1000.00"))
        Contract.objects.filter(pk=oldest.pk).update(closed_at=oldest.closed_at.replace(year=2020))
        ref = selectors.price_reference(category())
        assert ref.count == 5 and ref.median == D("4000.00")

    def test_cached_reference_follows_every_completion(
        self, world: World, django_assert_num_queries: Any
    ) -> None:
        """The distribution is cached under the version of the completed contracts: a repeated lookup is one
        cheap query, and a newly completed contract is counted at once (never a stale reference)."""
        for price in ("8000.00", "9000.00", "10000.00", "11000.00"):
            completed(world, price=price)
        skill = category()
        first = selectors.price_reference(skill)
        assert first.count == 4 and not first.enough
        with django_assert_num_queries(1):  # the version only
            again = selectors.price_reference(skill)
        assert again == first
        completed(world, price="12000.00")
        ref = selectors.price_reference(category())
        assert (ref.count, ref.median) == (5, D("10000.00")) and ref.enough
        awarded(world, price="99999.00")  # an active contract changes nothing
        assert selectors.price_reference(category()) == ref
