"""Reviews (both ways, once per side, only parties, only when completed), OPC reputation over rolling windows
and the client's payment reliability."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditRecord
from core.errors import Conflict, DomainError, InvalidTransition, NotPermitted
from core.testing import World, make_org, make_user
from marketplace import services as market
from marketplace.models import Contract, Dispute, Milestone, Notification
from organisations.capabilities import OrgKind
from trust import selectors, services
from trust.models import Review, ReviewDirection

from .conftest import age, awarded, complete, completed, fund_all, future, key

pytestmark = pytest.mark.django_db


class TestReviews:
    def test_both_sides_review_once_after_completion(self, world: World) -> None:
        contract = completed(world)
        by_client = services.submit_review(
            contract=contract,
            author=world.client,
            actor=world.client_user,
            rating=5,
            text="准时交付，质量很好",
        )
        assert by_client.direction == ReviewDirection.CLIENT_TO_OPC and by_client.subject == world.opc
        by_opc = services.submit_review(contract=contract, author=world.opc, actor=world.opc_user, rating=4)
        assert by_opc.direction == ReviewDirection.OPC_TO_CLIENT and by_opc.subject == world.client
        assert AuditRecord.objects.filter(action="trust.review_written").count() == 2
        assert Notification.objects.filter(recipient=world.opc, kind="review_received").exists()
        assert Notification.objects.filter(recipient=world.client, kind="review_received").exists()
        with pytest.raises(Conflict):
            services.submit_review(contract=contract, author=world.client, actor=world.client_user, rating=1)
        assert Review.objects.filter(contract=contract).count() == 2

    def test_only_parties_may_review(self, world: World) -> None:
        contract = completed(world)
        for outsider in (world.other_opc, world.operator, world.authority):
            with pytest.raises(NotPermitted):
                services.submit_review(contract=contract, author=outsider, actor=None, rating=5)
        assert not Review.objects.exists()

    def test_only_when_completed(self, world: World) -> None:
        contract = awarded(world)
        with pytest.raises(InvalidTransition):
            services.submit_review(contract=contract, author=world.client, actor=None, rating=5)
        fund_all(contract)
        with pytest.raises(InvalidTransition):
            services.submit_review(contract=contract, author=world.opc, actor=None, rating=5)
        assert not Review.objects.exists()

    @pytest.mark.parametrize("rating", [0, 6, -1, "5", 4.5, True, None])
    def test_rating_must_be_1_to_5(self, world: World, rating: object) -> None:
        contract = completed(world)
        with pytest.raises(DomainError):
            services.submit_review(contract=contract, author=world.client, actor=None, rating=rating)
        assert not Review.objects.exists()

    def test_text_length_is_limited(self, world: World) -> None:
        contract = completed(world)
        with pytest.raises(DomainError):
            services.submit_review(
                contract=contract, author=world.client, actor=None, rating=3, text="长" * 2001
            )


class TestReputation:
    def test_no_history(self, world: World) -> None:
        rep = selectors.reputation_for([world.opc.pk])[world.opc.pk]
        assert rep.score == 0 and not rep.has_history and rep.on_time_rate is None
        assert selectors.reputation_for([]) == {}

    def test_good_and_bad_outcomes_with_counts(self, world: World) -> None:
        on_time = completed(world)
        services.submit_review(contract=on_time, author=world.client, actor=None, rating=5)
        late = complete(awarded(world, due=timezone.localdate() - dt.timedelta(days=3)))
        services.submit_review(contract=late, author=world.client, actor=None, rating=2)
        cancelled = awarded(world)
        market.cancel_order(order=cancelled.order, client=world.client, actor=None, reason="预算取消")
        # A dispute decided mostly for the client: lost by the OPC (the contract completes by mediation).
        disputed = awarded(world, price="4000.00")
        fund_all(disputed)
        milestone = disputed.milestones.get()
        dispute = market.open_dispute(milestone=milestone, party=world.client, actor=None, reason="质量不符")
        market.decide_dispute(
            dispute=dispute,
            operator=world.operator,
            actor=None,
            amount_to_opc="1000.00",
            idempotency_key=key(),
        )
        # The OPC's review of the client never counts for the OPC.
        services.submit_review(contract=on_time, author=world.opc, actor=None, rating=1)

        rep = selectors.reputation_for([world.opc.pk, world.other_opc.pk])
        mine, other = rep[world.opc.pk], rep[world.other_opc.pk]
        o = mine.overall
        assert (o.on_time, o.well_reviewed, o.late, o.low_ratings, o.cancelled, o.disputes_lost) == (
            1,
            1,
            1,
            1,
            1,
            1,
        )
        assert o.good == 2 and o.bad == 4 and mine.score == -2
        assert mine.recent == o == mine.year
        assert mine.on_time_rate == Decimal("50.0")
        assert mine.reviews == 2 and mine.rating_average == Decimal("3.5")
        assert other.score == 0 and not other.has_history

    def test_dispute_won_by_the_opc_is_not_lost(self, world: World) -> None:
        contract = awarded(world, price="4000.00")
        fund_all(contract)
        dispute = market.open_dispute(
            milestone=contract.milestones.get(), party=world.opc, actor=None, reason="客户不验收"
        )
        market.decide_dispute(
            dispute=dispute,
            operator=world.operator,
            actor=None,
            amount_to_opc="3000.00",
            idempotency_key=key(),
        )
        o = selectors.reputation_for([world.opc.pk])[world.opc.pk].overall
        assert o.disputes_lost == 0 and o.on_time == 1

    def test_rolling_windows(self, world: World) -> None:
        recent = completed(world)
        older = completed(world)
        oldest = completed(world)
        age(older, 200)
        age(oldest, 400)
        review = services.submit_review(contract=oldest, author=world.client, actor=None, rating=5)
        Review.objects.filter(pk=review.pk).update(created_at=timezone.now() - dt.timedelta(days=400))
        services.submit_review(contract=recent, author=world.client, actor=None, rating=1)
        rep = selectors.reputation_for([world.opc.pk])[world.opc.pk]
        assert rep.recent.on_time == 1 and rep.year.on_time == 2 and rep.overall.on_time == 3
        assert rep.recent.low_ratings == 1 and rep.recent.well_reviewed == 0
        assert rep.overall.well_reviewed == 1 and rep.year.well_reviewed == 0
        assert [w.score for _k, _l, w in rep.rows()] == [0, 1, 3]
        # "now" can be moved: 300 days ahead, nothing is recent any more.
        later = selectors.reputation_for([world.opc.pk], now=timezone.now() + dt.timedelta(days=300))
        assert later[world.opc.pk].recent.total == 0 and later[world.opc.pk].overall.on_time == 3

    def test_constant_number_of_queries(self, world: World) -> None:
        completed(world)
        opcs = [make_org(OrgKind.OPC, f"OPC {n}", make_user(f"o{n}")) for n in range(12)]
        with CaptureQueriesContext(connection) as few:
            selectors.reputation_for([world.opc.pk])
        with CaptureQueriesContext(connection) as many:
            result = selectors.reputation_for([world.opc.pk, *[o.pk for o in opcs]])
        assert len(few) == len(many) == 4  # contracts, disputes, reviews, team shares
        assert len(result) == 13

    def test_attach_reputations(self, world: World) -> None:
        completed(world)
        orgs = selectors.attach_reputations([world.opc, world.other_opc])
        assert orgs[0].trust_reputation.score == 1  # type: ignore[attr-defined]
        with CaptureQueriesContext(connection) as ctx:
            assert selectors.reputation_of(orgs[0]).score == 1  # type: ignore[union-attr]
        assert len(ctx) == 0


class TestPaymentReliability:
    def test_funding_releases_and_auto_releases(self, world: World) -> None:
        completed(world)  # funded on time, released by the client
        completed(world, auto=True)  # funded on time, released automatically
        late = awarded(world, due=timezone.localdate() - dt.timedelta(days=2))
        complete(late)  # funded late, released by the client
        overdue = awarded(world, due=timezone.localdate() - dt.timedelta(days=1))  # never funded, overdue
        assert overdue.status == "active"
        rel = selectors.payment_reliability_for([world.client.pk])[world.client.pk]
        o = rel.overall
        assert (o.funded_on_time, o.released_by_client, o.funded_late, o.auto_released) == (2, 2, 2, 1)
        assert o.good == 4 and o.bad == 3 and rel.rate == Decimal("57.1")
        assert rel.windows["90d"] == o

    def test_dispute_lost_by_the_client(self, world: World) -> None:
        contract = awarded(world, price="4000.00")
        fund_all(contract)
        dispute = market.open_dispute(
            milestone=contract.milestones.get(), party=world.opc, actor=None, reason="x"
        )
        market.decide_dispute(
            dispute=dispute,
            operator=world.operator,
            actor=None,
            amount_to_opc="4000.00",
            idempotency_key=key(),
        )
        assert Dispute.objects.get().amount_to_client == 0
        rel = selectors.payment_reliability_of(world.client)
        assert rel is not None and rel.overall.disputes_lost == 1 and rel.overall.funded_on_time == 1

    def test_windows_and_constant_queries(self, world: World) -> None:
        c = completed(world)
        Milestone.objects.filter(contract=c).update(
            funded_at=timezone.now() - dt.timedelta(days=200),
            released_at=timezone.now() - dt.timedelta(days=200),
            due_date=timezone.localdate() - dt.timedelta(days=150),
        )
        with CaptureQueriesContext(connection) as ctx:
            rel = selectors.payment_reliability_for([world.client.pk, world.other_opc.pk])
        assert len(ctx) == 3
        mine = rel[world.client.pk]
        assert mine.windows["90d"].total == 0
        assert mine.windows["365d"].funded_on_time == 1 and mine.overall.released_by_client == 1
        assert rel[world.other_opc.pk].rate is None


def test_contract_status_sanity(world: World) -> None:
    contract = completed(world, price="6000.00", milestones=2)
    assert contract.milestones.count() == 2
    assert Contract.objects.get(pk=contract.pk).price == Decimal("6000.00")
    assert future(1) > timezone.localdate()
