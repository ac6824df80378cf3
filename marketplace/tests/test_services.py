from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone, translation

from audit.models import AuditRecord
from core.errors import Conflict, DomainError, InvalidTransition, NotFound, NotPermitted
from core.testing import World, make_org, make_user
from ledger import selectors as ledger_selectors
from ledger.errors import SubFenAmount
from ledger.models import Account, Purpose
from marketplace import payments, selectors, services, tasks
from marketplace.models import (
    AcceptanceTemplate,
    BidStatus,
    ContestEntry,
    ContractStatus,
    DisputeStatus,
    EntryStatus,
    Milestone,
    MilestoneStatus,
    Notification,
    OrderMode,
    OrderStatus,
    Visibility,
)
from marketplace.services import MilestoneSpec
from organisations.capabilities import OrgKind, OrgSubkind
from organisations.models import Skill

from .conftest import (
    awarded,
    balance,
    bid,
    category,
    delivered,
    first_milestone,
    funded,
    future,
    make_order,
    open_tender,
)

pytestmark = pytest.mark.django_db


def platform(purpose: str) -> Account:
    return Account.objects.get(code=f"platform-{purpose}")


def available(org) -> Account:  # type: ignore[no-untyped-def]
    return Account.objects.get(owner=org, purpose=Purpose.AVAILABLE)


def assert_books_sound() -> None:
    assert ledger_selectors.ledger_is_balanced()
    assert ledger_selectors.total_of_balances() == 0
    assert ledger_selectors.overdrawn_account_ids() == []
    assert ledger_selectors.accounts_with_inconsistent_balance() == []
    assert selectors.escrow_discrepancies() == []


# ------------------------------------------------------------------------------------------- posting


class TestPostOrder:
    def test_draft_with_template_prefill_and_procurement_zone(self, world: World) -> None:
        category = Skill.objects.get(code="ai-short-drama")
        AcceptanceTemplate.objects.create(
            category=category, deliverables="成片 1 部", acceptance_criteria="时长 ≥ 3 分钟"
        )
        order = make_order(world, required_skills=[category], procurement_method="open_tender")
        assert order.status == OrderStatus.DRAFT
        assert order.acceptance_criteria == "时长 ≥ 3 分钟"
        assert order.deliverables == "成片 1 部"
        assert order.is_procurement  # world.client is a state-owned enterprise
        assert order.budget_band == "under_100k"
        assert AuditRecord.objects.filter(action="marketplace.order_posted", object_id=str(order.pk)).exists()
        edited = make_order(world, acceptance_criteria="我们自己的标准")
        assert edited.acceptance_criteria == "我们自己的标准"

    def test_enterprise_orders_are_not_in_the_procurement_zone(self, world: World) -> None:
        firm = make_org(OrgKind.CLIENT, "某科技公司", make_user("firm"), subkind=OrgSubkind.ENTERPRISE)
        order = make_order(world, client=firm, procurement_method="")
        assert not order.is_procurement and order.budget_band == ""
        with pytest.raises(DomainError, match="procurement method"):
            make_order(world, client=firm, procurement_method="inquiry")

    @pytest.mark.parametrize(
        ("overrides", "error"),
        [
            ({"budget_min": Decimal("30000")}, DomainError),
            ({"budget_max": Decimal("100.001")}, SubFenAmount),
            ({"budget_max": 1.5}, DomainError),
            ({"deadline": dt.date(2020, 1, 1)}, DomainError),
            ({"title": " "}, DomainError),
            ({"procurement_method": ""}, DomainError),
            ({"mode": "auction"}, DomainError),
            ({"price": Decimal("100")}, DomainError),  # a tender has no price
            ({"mode": OrderMode.DIRECT}, DomainError),  # no named OPC
            ({"mode": OrderMode.CONTEST, "price": Decimal("99999")}, DomainError),  # reward above budget
            ({"visibility": Visibility.COMMUNITY}, DomainError),
            ({"visibility": Visibility.INVITED}, DomainError),
        ],
    )
    def test_refusals(self, world: World, overrides: dict, error: type[Exception]) -> None:
        with pytest.raises(error):
            make_order(world, **overrides)

    def test_providers_cannot_post(self, world: World) -> None:
        with pytest.raises(NotPermitted):
            make_order(world, client=world.provider, procurement_method="")

    def test_unverified_clients_may_post(self, world: World) -> None:
        assert not world.client.is_verified
        order = open_tender(world)
        assert order.status == OrderStatus.OPEN
        listed = selectors.open_orders_for_opc(world.opc).get(pk=order.pk)
        assert listed.client.verification_status == "unverified"  # the page shows the warning


class TestPublishAndCancel:
    def test_publish_twice_is_an_invalid_transition(self, world: World) -> None:
        order = open_tender(world)
        with pytest.raises(InvalidTransition, match="cannot go from"):
            services.publish_order(order=order, client=world.client, actor=world.client_user)

    def test_only_the_client_publishes(self, world: World) -> None:
        order = make_order(world)
        with pytest.raises(NotPermitted):
            services.publish_order(order=order, client=world.opc, actor=world.opc_user)

    def test_cancel_open_tender_rejects_bids_and_tells_bidders(self, world: World) -> None:
        order = open_tender(world)
        b = bid(world, order)
        services.cancel_order(order=order, client=world.client, actor=world.client_user, reason="预算取消")
        b.refresh_from_db()
        assert b.status == BidStatus.REJECTED
        assert Notification.objects.filter(recipient=world.opc, kind="order_cancelled").exists()
        with pytest.raises(InvalidTransition):
            services.publish_order(order=order, client=world.client, actor=world.client_user)

    def test_cancel_awarded_only_while_nothing_is_funded(self, world: World) -> None:
        contract = awarded(world)
        services.cancel_order(order=contract.order, client=world.client, actor=world.client_user)
        contract.refresh_from_db()
        assert contract.status == ContractStatus.CANCELLED
        assert first_milestone(contract).status == MilestoneStatus.CANCELLED

    def test_cancel_funded_contract_is_refused(self, world: World) -> None:
        contract, _m = funded(world)
        with pytest.raises(InvalidTransition):
            services.cancel_order(order=contract.order, client=world.client, actor=world.client_user)


# ------------------------------------------------------------------------------------------- bids


class TestBids:
    def test_unverified_opc_may_bid_and_the_client_sees_the_badge(self, world: World) -> None:
        order = open_tender(world)
        b = bid(world, order)
        assert not world.opc.is_verified
        shown = selectors.bids_for_order(order).get()
        assert shown.opc.verification_status == "pending"
        assert Notification.objects.filter(recipient=world.client, kind="bid_received").exists()
        assert b.status == BidStatus.SUBMITTED

    def test_refusals(self, world: World) -> None:
        draft = make_order(world)
        with pytest.raises(InvalidTransition):
            bid(world, draft)
        order = open_tender(world)
        with pytest.raises(SubFenAmount):
            bid(world, order, "100.005")
        with pytest.raises(DomainError):
            bid(world, order, "0")
        with pytest.raises(NotPermitted):
            bid(world, order, opc=world.client)
        bid(world, order)
        with pytest.raises(Conflict):
            bid(world, order)

    def test_community_only_order_is_invisible_to_other_communities(self, world: World) -> None:
        order = open_tender(world, visibility=Visibility.COMMUNITY, community=world.community)
        with pytest.raises(NotFound):
            bid(world, order, opc=world.other_opc)
        bid(world, order)
        assert order in selectors.open_orders_for_opc(world.opc)
        assert order not in selectors.open_orders_for_opc(world.other_opc)

    def test_invited_only(self, world: World) -> None:
        order = open_tender(world, visibility=Visibility.INVITED, invited_opcs=[world.other_opc])
        assert Notification.objects.filter(recipient=world.other_opc, kind="invitation").exists()
        with pytest.raises(NotFound):
            bid(world, order)
        bid(world, order, opc=world.other_opc)

    def test_shortlist_and_withdraw(self, world: World) -> None:
        order = open_tender(world)
        b = bid(world, order)
        services.shortlist_bid(bid=b, client=world.client, actor=world.client_user)
        with pytest.raises(InvalidTransition):
            services.shortlist_bid(bid=b, client=world.client, actor=world.client_user)
        with pytest.raises(NotPermitted):
            services.withdraw_bid(bid=b, opc=world.other_opc, actor=world.other_opc_user)
        services.withdraw_bid(bid=b, opc=world.opc, actor=world.opc_user)
        b.refresh_from_db()
        assert b.status == BidStatus.WITHDRAWN


class TestAward:
    def test_award_creates_contract_and_tells_everyone(self, world: World) -> None:
        order = open_tender(world)
        winner = bid(world, order, "12000.00")
        loser = bid(world, order, "9000.00", opc=world.other_opc)
        specs = [
            MilestoneSpec(
                title="脚本", amount="2000.00", due_date=future(10), acceptance_criteria="脚本定稿"
            ),
            MilestoneSpec(title="成片", amount=Decimal("10000"), due_date=future(25)),
        ]
        contract = services.award_bid(
            order=order, bid=winner, client=world.client, actor=world.client_user, milestones=specs
        )
        order.refresh_from_db()
        loser.refresh_from_db()
        assert order.status == OrderStatus.AWARDED
        assert loser.status == BidStatus.REJECTED
        assert contract.price == Decimal("12000.00")
        assert contract.escrow_account is not None
        assert contract.escrow_account.code == f"contract-{contract.pk}-escrow"
        assert contract.escrow_account.owner_id == world.client.pk
        assert [m.amount for m in contract.milestones.all()] == [Decimal("2000.00"), Decimal("10000.00")]
        assert Notification.objects.filter(recipient=world.other_opc, kind="bid_rejected").exists()
        assert Notification.objects.filter(recipient=world.opc, kind="bid_awarded").exists()

    def test_milestones_must_sum_to_the_price(self, world: World) -> None:
        order = open_tender(world)
        b = bid(world, order, "12000.00")
        specs = [MilestoneSpec(title="一", amount="5000", due_date=future())]
        with pytest.raises(DomainError, match="add up to"):
            services.award_bid(
                order=order, bid=b, client=world.client, actor=world.client_user, milestones=specs
            )
        bad = [MilestoneSpec(title="一", amount="12000.001", due_date=future())]
        with pytest.raises(SubFenAmount):
            services.award_bid(
                order=order, bid=b, client=world.client, actor=world.client_user, milestones=bad
            )
        order.refresh_from_db()
        assert order.status == OrderStatus.OPEN  # nothing changed

    def test_award_twice_and_wrong_party(self, world: World) -> None:
        order = open_tender(world)
        b = bid(world, order)
        other = bid(world, order, opc=world.other_opc)
        with pytest.raises(NotPermitted):
            services.award_bid(order=order, bid=b, client=world.opc, actor=world.opc_user)
        services.award_bid(order=order, bid=b, client=world.client, actor=world.client_user)
        with pytest.raises(InvalidTransition):
            services.award_bid(order=order, bid=other, client=world.client, actor=world.client_user)


# ------------------------------------------------------------------------------------------- escrow


class TestMilestones:
    def test_fund_moves_money_into_escrow_once(self, world: World) -> None:
        contract, milestone = funded(world, "10000.00")
        assert milestone.status == MilestoneStatus.FUNDED
        assert balance(contract.escrow_account) == Decimal("10000.00")
        assert balance(platform("external")) == Decimal("-10000.00")
        assert balance(available(world.client)) == 0
        contract.order.refresh_from_db()
        assert contract.order.status == OrderStatus.IN_PROGRESS
        again = services.fund_milestone(
            milestone=milestone, client=world.client, actor=world.client_user, idempotency_key="f1"
        )
        assert again.status == MilestoneStatus.FUNDED
        assert balance(contract.escrow_account) == Decimal("10000.00")
        with pytest.raises(InvalidTransition, match="already been funded"):
            services.fund_milestone(
                milestone=milestone, client=world.client, actor=world.client_user, idempotency_key="f2"
            )
        assert_books_sound()

    def test_fund_refusals(self, world: World) -> None:
        contract = awarded(world)
        milestone = first_milestone(contract)
        with pytest.raises(NotPermitted):
            services.fund_milestone(
                milestone=milestone, client=world.opc, actor=world.opc_user, idempotency_key="k"
            )
        with pytest.raises(DomainError, match="idempotency key"):
            services.fund_milestone(
                milestone=milestone, client=world.client, actor=world.client_user, idempotency_key=""
            )
        with pytest.raises(InvalidTransition):
            services.deliver_milestone(milestone=milestone, opc=world.opc, actor=world.opc_user)

    def test_deliver_accept_with_platform_fee(self, world: World, settings) -> None:  # type: ignore[no-untyped-def]
        settings.MARKETPLACE_PLATFORM_FEE_RATE = "0.05"
        contract, milestone = delivered(world, "999.99")
        with pytest.raises(NotPermitted):
            services.accept_milestone(
                milestone=milestone, client=world.opc, actor=world.opc_user, idempotency_key="a"
            )
        services.accept_milestone(
            milestone=milestone, client=world.client, actor=world.client_user, idempotency_key="a"
        )
        milestone.refresh_from_db()
        assert milestone.status == MilestoneStatus.RELEASED
        assert milestone.fee_amount == Decimal("50.00")  # 49.9995 rounded half-up
        assert balance(available(world.opc)) == Decimal("949.99")
        assert balance(platform("fees")) == Decimal("50.00")
        assert balance(contract.escrow_account) == 0
        contract.refresh_from_db()
        contract.order.refresh_from_db()
        assert contract.status == ContractStatus.COMPLETED
        assert contract.order.status == OrderStatus.COMPLETED
        # replay with the same key: same result; with another key: refused
        services.accept_milestone(
            milestone=milestone, client=world.client, actor=world.client_user, idempotency_key="a"
        )
        with pytest.raises(InvalidTransition):
            services.accept_milestone(
                milestone=milestone, client=world.client, actor=world.client_user, idempotency_key="b"
            )
        assert_books_sound()

    def test_default_fee_is_zero(self, world: World) -> None:
        _contract, milestone = delivered(world, "100.00")
        services.accept_milestone(
            milestone=milestone, client=world.client, actor=world.client_user, idempotency_key="a"
        )
        assert balance(available(world.opc)) == Decimal("100.00")

    def test_revision_rounds(self, world: World) -> None:
        contract, milestone = delivered(world)
        with pytest.raises(DomainError):
            services.request_revision(
                milestone=milestone, client=world.client, actor=world.client_user, note=""
            )
        for n in (1, 2):
            milestone = services.request_revision(
                milestone=milestone, client=world.client, actor=world.client_user, note="色调不符合验收标准"
            )
            assert milestone.revision_rounds == n
            contract.order.refresh_from_db()
            assert contract.order.status == OrderStatus.IN_PROGRESS
            with pytest.raises(InvalidTransition):
                services.accept_milestone(
                    milestone=milestone, client=world.client, actor=world.client_user, idempotency_key=f"x{n}"
                )
            milestone = services.deliver_milestone(milestone=milestone, opc=world.opc, actor=world.opc_user)
        assert Notification.objects.filter(recipient=world.opc, kind="revision_requested").count() == 2

    def test_two_milestones_order_states(self, world: World) -> None:
        specs = [
            MilestoneSpec(title="一", amount="4000", due_date=future(10)),
            MilestoneSpec(title="二", amount="6000", due_date=future(20)),
        ]
        contract = awarded(world, "10000.00", milestones=specs)
        m1, m2 = contract.milestones.order_by("position")
        states = []
        for step in (
            lambda: services.fund_milestone(
                milestone=m1, client=world.client, actor=None, idempotency_key="1"
            ),
            lambda: services.deliver_milestone(milestone=m1, opc=world.opc, actor=None),
            lambda: services.accept_milestone(
                milestone=m1, client=world.client, actor=None, idempotency_key="1"
            ),
            lambda: services.fund_milestone(
                milestone=m2, client=world.client, actor=None, idempotency_key="2"
            ),
            lambda: services.deliver_milestone(milestone=m2, opc=world.opc, actor=None),
            lambda: services.accept_milestone(
                milestone=m2, client=world.client, actor=None, idempotency_key="2"
            ),
        ):
            step()
            contract.order.refresh_from_db()
            states.append(contract.order.status)
        assert states == [
            "in_progress",
            "in_progress",
            "in_progress",
            "in_progress",
            "delivered",
            "completed",
        ]
        assert balance(available(world.opc)) == Decimal("10000.00")
        assert_books_sound()


class TestAutoRelease:
    def test_released_after_the_period_only(self, world: World) -> None:
        _contract, milestone = delivered(world)
        now = timezone.now()
        assert services.release_overdue_milestones(now=now + dt.timedelta(days=13)) == 0
        assert services.release_overdue_milestones(now=now + dt.timedelta(days=15)) == 1
        milestone.refresh_from_db()
        assert milestone.status == MilestoneStatus.RELEASED and milestone.auto_released
        assert balance(available(world.opc)) == Decimal("10000.00")
        assert services.release_overdue_milestones(now=now + dt.timedelta(days=16)) == 0
        assert AuditRecord.objects.filter(action="marketplace.milestone_auto_released").count() == 1
        assert_books_sound()

    def test_configurable_period_task_and_command(self, world: World, settings) -> None:  # type: ignore[no-untyped-def]
        settings.MARKETPLACE_AUTO_RELEASE_DAYS = 0
        _contract, milestone = delivered(world)
        assert tasks.release_overdue_milestones.call() == 1
        milestone.refresh_from_db()
        assert milestone.status == MilestoneStatus.RELEASED
        call_command("release_overdue_milestones", stdout=__import__("io").StringIO())

    def test_revision_stops_the_clock(self, world: World) -> None:
        _contract, milestone = delivered(world)
        services.request_revision(milestone=milestone, client=world.client, actor=None, note="改")
        assert services.release_overdue_milestones(now=timezone.now() + dt.timedelta(days=30)) == 0


# ------------------------------------------------------------------------------------------- disputes


class TestDisputes:
    def test_split_decided_by_the_opcs_community_operator(self, world: World) -> None:
        contract, milestone = delivered(world, "1000.00")
        with pytest.raises(NotPermitted):
            services.open_dispute(milestone=milestone, party=world.other_opc, actor=None, reason="?")
        dispute = services.open_dispute(
            milestone=milestone, party=world.client, actor=world.client_user, reason="交付不符合验收标准"
        )
        contract.order.refresh_from_db()
        assert contract.order.status == OrderStatus.DISPUTED
        assert dispute.mediator_id == world.operator.pk
        assert Notification.objects.filter(recipient=world.operator, kind="dispute_to_mediate").exists()
        with pytest.raises(InvalidTransition):
            services.accept_milestone(
                milestone=milestone, client=world.client, actor=None, idempotency_key="a"
            )
        with pytest.raises(NotPermitted):
            services.decide_dispute(
                dispute=dispute,
                operator=world.other_operator,
                actor=None,
                amount_to_opc="600",
                idempotency_key="d",
            )
        with pytest.raises(DomainError, match="At most"):
            services.decide_dispute(
                dispute=dispute,
                operator=world.operator,
                actor=None,
                amount_to_opc="1000.01",
                idempotency_key="d",
            )
        with pytest.raises(SubFenAmount):
            services.decide_dispute(
                dispute=dispute,
                operator=world.operator,
                actor=None,
                amount_to_opc="600.001",
                idempotency_key="d",
            )
        services.decide_dispute(
            dispute=dispute,
            operator=world.operator,
            actor=world.operator_user,
            amount_to_opc="600.00",
            idempotency_key="d",
        )
        dispute.refresh_from_db()
        assert dispute.status == DisputeStatus.DECIDED
        assert balance(available(world.opc)) == Decimal("600.00")
        assert balance(available(world.client)) == Decimal("400.00")
        assert balance(contract.escrow_account) == 0
        contract.order.refresh_from_db()
        assert contract.order.status == OrderStatus.COMPLETED
        services.decide_dispute(
            dispute=dispute, operator=world.operator, actor=None, amount_to_opc="600", idempotency_key="d"
        )
        with pytest.raises(InvalidTransition):
            services.decide_dispute(
                dispute=dispute, operator=world.operator, actor=None, amount_to_opc="600", idempotency_key="e"
            )
        assert_books_sound()

    def test_opc_may_dispute_a_funded_milestone(self, world: World) -> None:
        _contract, milestone = funded(world)
        services.open_dispute(milestone=milestone, party=world.opc, actor=world.opc_user, reason="客户失联")
        with pytest.raises(InvalidTransition):
            services.open_dispute(milestone=milestone, party=world.client, actor=None, reason="again")

    def test_pending_milestone_cannot_be_disputed(self, world: World) -> None:
        contract = awarded(world)
        with pytest.raises(InvalidTransition):
            services.open_dispute(
                milestone=first_milestone(contract), party=world.client, actor=None, reason="x"
            )


# ------------------------------------------------------------------------------------------- modes


class TestContest:
    def test_reward_escrowed_at_publication_and_paid_to_winner(self, world: World, contest) -> None:  # type: ignore[no-untyped-def]
        assert contest.status == OrderStatus.OPEN
        assert balance(contest.escrow_account) == Decimal("8000.00")
        again = services.publish_order(order=contest, client=world.client, actor=None, idempotency_key="pub")
        assert again.status == OrderStatus.OPEN
        assert balance(contest.escrow_account) == Decimal("8000.00")
        win = services.submit_contest_entry(order=contest, opc=world.opc, actor=None, description="作品 A")
        services.submit_contest_entry(order=contest, opc=world.other_opc, actor=None, description="作品 B")
        with pytest.raises(Conflict):
            services.submit_contest_entry(order=contest, opc=world.opc, actor=None, description="again")
        with pytest.raises(InvalidTransition, match="entries"):
            services.cancel_order(order=contest, client=world.client, actor=None, idempotency_key="c")
        with pytest.raises(DomainError):
            bid(world, contest)
        services.pick_contest_winner(
            order=contest, entry=win, client=world.client, actor=None, idempotency_key="w"
        )
        contest.refresh_from_db()
        assert contest.status == OrderStatus.COMPLETED
        assert balance(available(world.opc)) == Decimal("8000.00")
        assert balance(contest.escrow_account) == 0
        assert ContestEntry.objects.get(opc=world.other_opc).status == EntryStatus.NOT_SELECTED
        assert Notification.objects.filter(recipient=world.other_opc, kind="entry_not_selected").exists()
        services.pick_contest_winner(
            order=contest, entry=win, client=world.client, actor=None, idempotency_key="w"
        )
        assert balance(available(world.opc)) == Decimal("8000.00")
        assert_books_sound()

    def test_cancel_before_entries_refunds(self, world: World, contest) -> None:  # type: ignore[no-untyped-def]
        services.cancel_order(order=contest, client=world.client, actor=None, idempotency_key="c")
        assert balance(contest.escrow_account) == 0
        assert balance(available(world.client)) == Decimal("8000.00")
        assert_books_sound()

    def test_publishing_a_contest_needs_a_key(self, world: World) -> None:
        order = make_order(world, mode=OrderMode.CONTEST, price=Decimal("8000"))
        with pytest.raises(DomainError, match="idempotency key"):
            services.publish_order(order=order, client=world.client, actor=None)


class TestDirect:
    def test_accept(self, world: World) -> None:
        order = make_order(world, mode=OrderMode.DIRECT, direct_opc=world.opc, price=Decimal("15000"))
        services.publish_order(order=order, client=world.client, actor=None)
        assert Notification.objects.filter(recipient=world.opc, kind="direct_offer").exists()
        assert order not in selectors.open_orders_for_opc(world.other_opc)
        with pytest.raises(NotPermitted):
            services.accept_direct_order(order=order, opc=world.other_opc, actor=None)
        contract = services.accept_direct_order(order=order, opc=world.opc, actor=world.opc_user)
        assert contract.price == Decimal("15000.00")
        assert first_milestone(contract).amount == Decimal("15000.00")
        order.refresh_from_db()
        assert order.status == OrderStatus.AWARDED
        with pytest.raises(InvalidTransition):
            services.decline_direct_order(order=order, opc=world.opc, actor=None)

    def test_decline_returns_to_draft_and_can_be_reoffered(self, world: World) -> None:
        order = make_order(world, mode=OrderMode.DIRECT, direct_opc=world.opc, price=Decimal("15000"))
        services.publish_order(order=order, client=world.client, actor=None)
        services.decline_direct_order(order=order, opc=world.opc, actor=None, reason="排期已满")
        order.refresh_from_db()
        assert order.status == OrderStatus.DRAFT
        assert Notification.objects.filter(recipient=world.client, kind="direct_declined").exists()
        services.reassign_direct_order(order=order, client=world.client, actor=None, opc=world.other_opc)
        services.publish_order(order=order, client=world.client, actor=None)
        services.accept_direct_order(order=order, opc=world.other_opc, actor=None)


# ------------------------------------------------------------------------------------------- misc


class TestNotifications:
    def test_text_in_the_readers_language_and_email(self, world: World) -> None:
        world.opc.contact_email = "studio@example.cn"
        world.opc.save()
        order = open_tender(world)
        bid(world, order, opc=world.opc)
        note = services.notify(
            recipient=world.opc,
            kind="test",
            message="The order “%(title)s” was awarded to another bidder.",
            params={"title": "X"},
        )
        with translation.override("en"):
            assert note.text == "The order “X” was awarded to another bidder."
        assert tasks.send_notification_email.call(note.pk) is True
        assert mail.outbox[-1].to == ["studio@example.cn"]
        assert tasks.send_notification_email.call(0) is False
        assert services.mark_notifications_read(organisation=world.opc, actor=None) >= 1
        assert selectors.unread_notification_count(world.opc) == 0

    def test_email_is_enqueued_on_commit(self, world: World, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
        world.client.contact_email = "buyer@example.cn"
        world.client.save()
        order = open_tender(world)
        with django_capture_on_commit_callbacks(execute=True):
            bid(world, order)
        assert any("buyer@example.cn" in m.to for m in mail.outbox)


class TestPayments:
    def test_fake_provider_is_the_default_and_idempotent(self, world: World) -> None:
        provider = payments.get_payment_provider()
        assert isinstance(provider, payments.FakePaymentProvider)
        assert isinstance(provider, payments.PaymentProvider)
        one = provider.collect(payer=world.client, amount=Decimal("1.00"), reference="r", idempotency_key="k")
        two = provider.collect(payer=world.client, amount=Decimal("1.00"), reference="r", idempotency_key="k")
        assert one.provider_reference == two.provider_reference
        with pytest.raises(payments.PaymentFailed):
            provider.collect(payer=world.client, amount=Decimal("0"), reference="r", idempotency_key="k")

    def test_failed_collection_changes_nothing(self, world: World, settings) -> None:  # type: ignore[no-untyped-def]
        settings.MARKETPLACE_PAYMENT_PROVIDER = "marketplace.tests.test_services.RefusingProvider"
        contract = awarded(world)
        milestone = first_milestone(contract)
        with pytest.raises(payments.PaymentFailed):
            services.fund_milestone(milestone=milestone, client=world.client, actor=None, idempotency_key="k")
        milestone.refresh_from_db()
        assert milestone.status == MilestoneStatus.PENDING
        assert balance(contract.escrow_account) == 0


class RefusingProvider:
    name = "refusing"

    def collect(self, **kwargs):  # type: ignore[no-untyped-def]
        raise payments.PaymentFailed()


class TestTables:
    def test_every_state_has_a_row_and_targets_are_states(self) -> None:
        for table, choices in (
            (services.ORDER_TRANSITIONS, OrderStatus),
            (services.MILESTONE_TRANSITIONS, MilestoneStatus),
            (services.BID_TRANSITIONS, BidStatus),
            (services.CONTRACT_TRANSITIONS, ContractStatus),
        ):
            assert set(table) == set(choices.values)
            assert all(targets <= set(choices.values) for targets in table.values())

    def test_message_names_the_states(self) -> None:
        with translation.override("en"), pytest.raises(InvalidTransition) as exc:
            services.check_transition(services.ORDER_TRANSITIONS, "completed", "open", what="The order")
        assert "“Completed” to “Open”" in exc.value.message


class TestSelectors:
    def test_listing_pages_use_a_constant_number_of_queries(
        self, world: World, django_assert_num_queries
    ) -> None:  # type: ignore[no-untyped-def]
        skills = list(Skill.objects.all()[:3])

        def count_queries(qs_factory) -> int:  # type: ignore[no-untyped-def]
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as ctx:
                for order in qs_factory():
                    _ = (order.client.name, order.client.is_verified, order.category.name_zh, order.bid_count)
                    _ = [s.code for s in order.required_skills.all()]
            return len(ctx.captured_queries)

        for _ in range(2):
            o = open_tender(world, required_skills=skills)
            bid(world, o, opc=world.other_opc)
        small = count_queries(lambda: selectors.procurement_zone_orders())
        for _ in range(5):
            o = open_tender(world, required_skills=skills)
            bid(world, o, opc=world.other_opc)
        assert count_queries(lambda: selectors.procurement_zone_orders()) == small == 2
        assert count_queries(lambda: selectors.open_orders_for_opc(world.opc)) == 2
        assert selectors.public_orders().count() == 7

    def test_order_detail_and_contracts_constant(self, world: World) -> None:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        contract, _m = funded(world)
        order = contract.order
        with CaptureQueriesContext(connection) as ctx:
            detail = selectors.get_order_for_client(world.client, order.pk)
            _ = [(b.opc.name, b.opc.is_verified, b.opc.opc_profile.founder_name) for b in detail.bids.all()]
            _ = list(detail.attachments.all()), list(detail.entries.all()), list(detail.required_skills.all())
        detail_queries = len(ctx.captured_queries)
        with CaptureQueriesContext(connection) as ctx:
            for c in selectors.contracts_for_organisation(world.opc):
                _ = (c.order.title, c.client.name, c.escrow_account.balance if c.escrow_account else 0)
                _ = [m.status for m in c.milestones.all()]
        assert detail_queries <= 8
        assert len(ctx.captured_queries) == 2
        with pytest.raises(NotFound):
            selectors.get_order_for_client(world.other_opc, order.pk)
        with pytest.raises(NotFound):
            selectors.get_order_for_client(world.client, "x1")
        assert selectors.get_order_for_opc(world.opc, order.pk) == order
        with pytest.raises(NotFound):
            selectors.get_order_for_opc(world.other_opc, order.pk)
        assert selectors.get_contract_for_organisation(world.opc, contract.pk) == contract

    def test_disputes_for_operator(self, world: World) -> None:
        _c, milestone = funded(world)
        services.open_dispute(milestone=milestone, party=world.client, actor=None, reason="x")
        assert selectors.disputes_for_operator(world.operator, open_only=True).count() == 1
        assert selectors.disputes_for_operator(world.other_operator).count() == 0
        assert Milestone.objects.count() == 1


class TestAuditAndChecks:
    def test_every_follow_on_state_change_is_audited(self, world: World) -> None:
        order = open_tender(world)
        winner = bid(world, order)
        loser = bid(world, order, opc=world.other_opc)
        services.award_bid(order=order, bid=winner, client=world.client, actor=world.client_user)
        assert AuditRecord.objects.filter(
            action="marketplace.bid_status_changed", object_id=str(loser.pk)
        ).exists()

    def test_required_skills_must_be_skills(self, world: World) -> None:
        with pytest.raises(DomainError, match="taxonomy"):
            make_order(world, required_skills=["design"])

    def test_deploy_check_warns_about_the_fake_provider(self, settings) -> None:  # type: ignore[no-untyped-def]
        from marketplace.checks import fake_payment_provider_in_production

        assert [m.id for m in fake_payment_provider_in_production()] == ["marketplace.W001"]
        settings.MARKETPLACE_PAYMENT_PROVIDER = "bank.Provider"
        assert fake_payment_provider_in_production() == []


class TestUpdateOrder:
    def test_edit_draft_texts_only(self, world: World) -> None:
        order = make_order(world)
        services.update_order(
            order=order, client=world.client, actor=None, acceptance_criteria="4K 分辨率", deadline=future(40)
        )
        order.refresh_from_db()
        assert order.acceptance_criteria == "4K 分辨率" and order.deadline == future(40)
        assert AuditRecord.objects.filter(action="marketplace.order_updated").count() == 1
        with pytest.raises(DomainError, match="cannot be edited"):
            services.update_order(order=order, client=world.client, actor=None, budget_max=Decimal("1"))
        with pytest.raises(NotPermitted):
            services.update_order(order=order, client=world.opc, actor=None, title="x")
        services.publish_order(order=order, client=world.client, actor=None)
        with pytest.raises(InvalidTransition):
            services.update_order(order=order, client=world.client, actor=None, title="x")


def test_recommendations_read_only_the_opcs_holding_the_category_and_rank_as_over_everyone(
    world: World,
) -> None:
    """``recommend_for_order`` feeds the engine the OPCs holding the order's category only; the ranking is
    the one over every OPC's record (the engine never picks an OPC without the category)."""
    from dispatch import engine
    from dispatch import services as dispatch

    other, _ = Skill.objects.get_or_create(
        code="ai-voice", defaults={"name_zh": "AI配音", "name_en": "AI voice"}
    )
    world.opc.opc_profile.skills.set([category(), other])
    world.other_opc.opc_profile.skills.set([other])
    order = open_tender(world)
    skills = dispatch.skill_index()
    everyone = dispatch.opc_records(skills)
    holding = dispatch.opc_records(skills, holding=order.category_id)
    assert {o.id for o in holding} == {world.opc.pk}
    assert [o for o in everyone if o.id == world.opc.pk] == holding
    record = dispatch.order_record(order, skills, everyone)
    assert record is not None
    expected = engine.recommend(record, everyone, limit=10, n_skills=max(len(skills), 1))
    got = dispatch.recommend_for_order(order=order, limit=10)
    assert [(r.opc.pk, r.score) for r in got] == [(r.opc_id, r.score) for r in expected]
    assert [r.opc.pk for r in got] == [world.opc.pk]
