"""Property-based test: random sequences of marketplace operations on a small world keep the books and the
state machines sound.

Operations (many of which are refused — that is part of the test): post+publish an order in any mode, bid,
award, enter a contest, pick a winner, fund, deliver, accept, ask for a revision, open a dispute, decide it
(sometimes as the wrong operator or for too much), cancel, run the auto-release. A refusal must be a
``DomainError``; anything else fails. After every operation each changed state must be an edge of its
transition table; after the sequence: every transaction balances, all balances sum to zero, cached balances
match the entries, no escrow account is negative, each contract's escrow equals funded − released − refunded,
each contest's escrow holds its reward exactly while it is open, and each order's state matches its milestones.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from core.errors import DomainError
from core.testing import World, build_world
from ledger import selectors as ledger_selectors
from ledger.models import Account, Purpose
from marketplace import selectors, services
from marketplace.models import (
    Bid,
    ContestEntry,
    Contract,
    Dispute,
    Milestone,
    MilestoneStatus,
    Order,
    OrderMode,
    OrderStatus,
)
from marketplace.models import (
    MilestoneStatus as M,
)
from marketplace.services import MilestoneSpec
from organisations.models import Skill

OPS = ["post", "bid", "award", "entry", "winner", "fund", "fund", "fund", "deliver", "deliver", "deliver",
       "accept", "accept", "revise", "dispute", "dispute", "decide", "decide", "cancel", "auto"]  # fmt: skip

operations = st.lists(
    st.tuples(
        st.sampled_from(OPS),
        st.integers(0, 7),  # which object (order / bid / milestone / dispute / entry), modulo the count
        st.integers(0, 3),  # variant: mode, party, key number, number of milestones, …
        st.integers(1, 200_000),  # an amount in fen
    ),
    min_size=4,
    max_size=30,
)

TABLES = {
    Order: services.ORDER_TRANSITIONS,
    Milestone: services.MILESTONE_TRANSITIONS,
    Bid: services.BID_TRANSITIONS,
    Contract: services.CONTRACT_TRANSITIONS,
    ContestEntry: services.ENTRY_TRANSITIONS,
}


def snapshot() -> dict[tuple[str, int], str]:
    return {
        (model.__name__, pk): status
        for model in TABLES
        for pk, status in model.objects.values_list("pk", "status")  # type: ignore[attr-defined]
    }


class MarketplacePropertyTests(TestCase):
    world: ClassVar[World]
    category: ClassVar[Skill]

    @classmethod
    def setUpTestData(cls) -> None:
        cls.world = build_world()
        cls.category = Skill.objects.get(code="design")

    def run_op(self, op: str, n: int, variant: int, fen: int, clock: list[dt.datetime]) -> bool:
        """Run one operation; False when there was nothing to run it on."""
        w = self.world
        amount = Decimal(fen) / 100
        opcs = [w.opc, w.other_opc]
        orders = list(Order.objects.order_by("pk"))
        milestones = list(Milestone.objects.select_related("contract__opc").order_by("pk"))
        pick = lambda items: items[n % len(items)] if items else None  # noqa: E731

        def ready(*statuses: str) -> list[Milestone]:
            """Milestones in one of ``statuses`` — or, for variant 3, any milestone (mostly refused)."""
            return milestones if variant == 3 else [m for m in milestones if m.status in statuses]

        if op == "post":
            mode = [OrderMode.TENDER, OrderMode.TENDER, OrderMode.CONTEST, OrderMode.DIRECT][variant]
            extra: dict[str, Any] = {}
            if mode != OrderMode.TENDER:
                extra["price"] = amount
            if mode == OrderMode.DIRECT:
                extra["direct_opc"] = opcs[n % 2]
            order = services.post_order(
                client=w.client,
                actor=w.client_user,
                title=f"订单 {n}",
                category=self.category,
                budget_min=Decimal("0.01"),
                budget_max=Decimal("2000.00"),
                deadline=timezone.localdate() + dt.timedelta(days=60),
                mode=mode,
                procurement_method="inquiry",
                **extra,
            )
            services.publish_order(order=order, client=w.client, actor=None, idempotency_key=f"pub-{n}")
        elif op == "bid" and (
            order := pick([o for o in orders if o.mode == OrderMode.TENDER or variant == 3])
        ):
            services.submit_bid(order=order, opc=opcs[variant % 2], actor=None, price=amount, timeline_days=5)
        elif op == "award" and (bid := pick(list(Bid.objects.order_by("pk")))):
            parts = 1 + variant % 3
            share = (bid.price / parts).quantize(Decimal("0.01"))
            amounts = [share] * (parts - 1) + [bid.price - share * (parts - 1)]
            specs = [
                MilestoneSpec(title=f"M{i}", amount=a, due_date=timezone.localdate() + dt.timedelta(days=30))
                for i, a in enumerate(amounts)
            ]
            services.award_bid(order=bid.order, bid=bid, client=w.client, actor=None, milestones=specs)
        elif op == "entry" and (
            order := pick([o for o in orders if o.mode == OrderMode.CONTEST or variant == 3])
        ):
            services.submit_contest_entry(order=order, opc=opcs[variant % 2], actor=None, description="作品")
        elif op == "winner" and (entry := pick(list(ContestEntry.objects.order_by("pk")))):
            services.pick_contest_winner(
                order=entry.order, entry=entry, client=w.client, actor=None, idempotency_key=f"w{variant}"
            )
        elif op == "fund" and (m := pick(ready(M.PENDING))):
            services.fund_milestone(milestone=m, client=w.client, actor=None, idempotency_key=f"f{variant}")
        elif op == "deliver" and (m := pick(ready(M.FUNDED, M.REVISION_REQUESTED))):
            services.deliver_milestone(milestone=m, opc=m.contract.opc, actor=None)
        elif op == "accept" and (m := pick(ready(M.DELIVERED))):
            services.accept_milestone(milestone=m, client=w.client, actor=None, idempotency_key=f"a{variant}")
        elif op == "revise" and (m := pick(ready(M.DELIVERED))):
            services.request_revision(milestone=m, client=w.client, actor=None, note="再改改")
        elif op == "dispute" and (m := pick(ready(*services.ESCROWED))):
            party = w.client if variant % 2 else m.contract.opc
            services.open_dispute(milestone=m, party=party, actor=None, reason="争议")
        elif op == "decide" and (d := pick(list(Dispute.objects.order_by("pk")))):
            contract = d.milestone.contract
            right = services.mediator_for(contract)
            wrong = w.other_operator if right == w.operator else w.operator
            operator = wrong if variant == 3 else right
            held = d.milestone.funded_amount
            to_opc = min(amount, held + Decimal("0.01") * (variant == 2))  # variant 2 may ask for too much
            services.decide_dispute(
                dispute=d, operator=operator, actor=None, amount_to_opc=to_opc, idempotency_key=f"d{variant}"
            )
        elif op == "cancel" and (
            order := pick([o for o in orders if o.status != OrderStatus.AWARDED or variant == 3])
        ):
            if order.mode == OrderMode.DIRECT and order.status == OrderStatus.OPEN and variant == 0:
                services.decline_direct_order(order=order, opc=order.direct_opc, actor=None)
            elif order.mode == OrderMode.DIRECT and order.status == OrderStatus.OPEN and variant == 1:
                services.accept_direct_order(order=order, opc=order.direct_opc, actor=None)
            else:
                services.cancel_order(order=order, client=w.client, actor=None, idempotency_key=f"c{variant}")
        elif op == "auto":
            clock[0] += dt.timedelta(days=5 * (variant + 1))
            services.release_overdue_milestones(now=clock[0])
        else:
            return False
        return True

    @settings(max_examples=75, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(operations)
    def test_random_marketplace_operations_keep_the_books_sound(
        self, ops: list[tuple[str, int, int, int]]
    ) -> None:
        clock = [timezone.now()]
        # A starting market so that short sequences have something to act on: an awarded tender with two
        # milestones, an open tender with two bids, a contest, a direct offer.
        for seed in [("post", 0, 0, 150_000), ("bid", 0, 0, 90_000), ("award", 0, 1, 0), ("post", 1, 1, 1),
                     ("bid", 1, 0, 120_000), ("bid", 1, 1, 110_000), ("post", 2, 2, 50_000),
                     ("post", 3, 3, 70_000)]:  # fmt: skip
            assert self.run_op(*seed, clock)
        for op, n, variant, fen in ops:
            before = snapshot()
            with contextlib.suppress(DomainError):
                self.run_op(op, n, variant, fen, clock)
            after = snapshot()
            for key, status in after.items():
                old = before.get(key)
                if old is not None and old != status:
                    model = next(m for m in TABLES if m.__name__ == key[0])
                    assert status in TABLES[model][old], f"{op}: {key} went {old} → {status}"
        self.check_invariants()

    def check_invariants(self) -> None:
        assert ledger_selectors.ledger_is_balanced()
        assert ledger_selectors.total_of_balances() == 0
        assert ledger_selectors.accounts_with_inconsistent_balance() == []
        assert ledger_selectors.overdrawn_account_ids() == []
        assert not Account.objects.filter(purpose=Purpose.ESCROW, balance__lt=0).exists()
        assert selectors.escrow_discrepancies() == []
        for model, table in TABLES.items():
            assert set(model.objects.values_list("status", flat=True)) <= set(table)  # type: ignore[attr-defined]
        for order in Order.objects.filter(
            mode=OrderMode.CONTEST, escrow_account__isnull=False
        ).select_related("escrow_account"):
            assert order.escrow_account is not None
            held = order.price if order.status == OrderStatus.OPEN else Decimal("0.00")
            assert order.escrow_account.balance == held
        for contract in Contract.objects.prefetch_related("milestones").select_related("order"):
            statuses = [m.status for m in contract.milestones.all()]
            order_status = contract.order.status
            if MilestoneStatus.DISPUTED in statuses:
                assert order_status == OrderStatus.DISPUTED
            elif all(s in services.SETTLED for s in statuses):
                assert order_status == OrderStatus.COMPLETED
            elif all(s == MilestoneStatus.CANCELLED for s in statuses):
                assert order_status == OrderStatus.CANCELLED
            for m in contract.milestones.all():
                escrowed = m.funded_amount - m.released_amount - m.refunded_amount
                assert escrowed == (m.amount if m.status in services.ESCROWED else 0), m.status
