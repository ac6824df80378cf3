"""The marketplace pages: happy paths for every page and the important refusals (another tenant's objects are
404, an illegal transition shows its message with 409, bad input re-renders the form with errors and changes
nothing)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils.translation import gettext, override

from audit.models import AuditRecord
from core.testing import World, make_org, make_user
from ledger.models import Account, Purpose
from marketplace import services
from marketplace.models import (
    AcceptanceTemplate,
    Bid,
    BidStatus,
    ContestEntry,
    Contract,
    Dispute,
    DisputeStatus,
    EntryStatus,
    Milestone,
    MilestoneStatus,
    Notification,
    Order,
    OrderAttachment,
    OrderMode,
    OrderStatus,
)
from organisations.capabilities import OrgKind, OrgSubkind
from organisations.models import Skill

from .conftest import (
    awarded,
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


def login(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def html(response: Any) -> str:
    return response.content.decode()


def counts() -> tuple[int, ...]:
    return (
        Order.objects.count(),
        Bid.objects.count(),
        Contract.objects.count(),
        ContestEntry.objects.count(),
        Dispute.objects.count(),
        AuditRecord.objects.count(),
    )


def available(org: Any) -> Decimal:
    account = Account.objects.filter(owner=org, purpose=Purpose.AVAILABLE).first()
    return account.balance if account else Decimal("0.00")


def enterprise(name: str = "甬优文旅") -> Any:
    return make_org(OrgKind.CLIENT, name, make_user(f"firm-{name}"), subkind=OrgSubkind.ENTERPRISE)


def set_skills(org: Any, *skills: Skill, capacity: int = 2) -> None:
    profile = org.opc_profile
    profile.capacity = capacity
    profile.save()
    profile.skills.set(skills)


# ------------------------------------------------------------------------------------------- browse


class TestBrowse:
    def test_anonymous_sees_public_open_orders_only(self, client: Client, world: World) -> None:
        public = open_tender(world, title="公开短剧")
        community_only = open_tender(
            world, title="社区短剧", visibility="community", community=world.community
        )
        draft = make_order(world, title="草稿订单")
        response = client.get(reverse("marketplace:browse"))
        assert response.status_code == 200
        page = html(response)
        assert public.title in page
        assert community_only.title not in page and draft.title not in page

    def test_opc_sees_its_community_and_invitations(self, client: Client, world: World) -> None:
        community_only = open_tender(
            world, title="社区短剧", visibility="community", community=world.community
        )
        invited = open_tender(world, title="邀请短剧", visibility="invited", invited_opcs=[world.opc])
        page = html(login(client, world.opc_user).get(reverse("marketplace:browse")))
        assert community_only.title in page and invited.title in page
        other = html(login(Client(), world.other_opc_user).get(reverse("marketplace:browse")))
        assert community_only.title not in other and invited.title not in other

    def test_filters_and_junk(self, client: Client, world: World) -> None:
        drama = open_tender(world, title="短剧甲", budget_min=Decimal("1000"), budget_max=Decimal("3000"))
        design, _ = Skill.objects.get_or_create(
            code="design", defaults={"name_zh": "设计", "name_en": "Design"}
        )
        poster = open_tender(world, title="海报乙", category=design)
        url = reverse("marketplace:browse")
        page = html(client.get(url, {"category": "design"}))
        assert poster.title in page and drama.title not in page
        page = html(client.get(url, {"budget_min": "10000"}))
        assert poster.title in page and drama.title not in page
        page = html(client.get(url, {"mode": "contest"}))
        assert poster.title not in page
        assert client.get(url, {"budget_min": "abc", "category": "x" * 300, "page": "zz"}).status_code == 200

    def test_pagination_is_deterministic(self, client: Client, world: World) -> None:
        titles = [open_tender(world, title=f"订单{i:02d}").title for i in range(25)]
        first = html(client.get(reverse("marketplace:browse")))
        second = html(client.get(reverse("marketplace:browse"), {"page": 2}))
        on_first = {t for t in titles if t in first}
        on_second = {t for t in titles if t in second}
        assert len(on_first) == 20 and len(on_second) == 5 and not on_first & on_second

    def test_procurement_zone_with_filters(self, client: Client, world: World) -> None:
        zone = open_tender(world, title="政府采购短剧", procurement_method="inquiry")
        other_method = open_tender(world, title="采购乙项目", procurement_method="single_source")
        firm = enterprise()
        private = services.publish_order(
            order=make_order(world, client=firm, title="企业订单", procurement_method=""),
            client=firm,
            actor=None,
        )
        url = reverse("marketplace:procurement_zone")
        page = html(client.get(url))
        assert zone.title in page and other_method.title in page and private.title not in page
        page = html(client.get(url, {"method": "inquiry", "band": "under_100k"}))
        assert zone.title in page and other_method.title not in page
        page = html(client.get(url, {"band": "over_4m"}))
        assert zone.title not in page
        assert client.get(url, {"method": "bogus"}).status_code == 200


# ------------------------------------------------------------------------------------------- order page


class TestOrderDetail:
    def test_visibility_by_viewer(self, client: Client, world: World) -> None:
        order = open_tender(world, visibility="community", community=world.community)
        url = reverse("marketplace:order_detail", args=[order.pk])
        assert client.get(url).status_code == 404  # anonymous: not public
        assert login(Client(), world.opc_user).get(url).status_code == 200
        assert login(Client(), world.other_opc_user).get(url).status_code == 404
        assert login(Client(), world.client_user).get(url).status_code == 200
        assert login(Client(), world.other_operator_user).get(url).status_code == 404
        assert login(Client(), world.authority_user).get(url).status_code == 404
        draft = make_order(world)
        assert client.get(reverse("marketplace:order_detail", args=[draft.pk])).status_code == 404
        assert client.get("/market/orders/999999/").status_code == 404

    def test_client_sees_bids_and_recommendations(self, client: Client, world: World) -> None:
        set_skills(world.opc, category())
        set_skills(world.other_opc, category())
        order = open_tender(world)
        b = bid(world, order, "9000.00")
        response = login(client, world.client_user).get(reverse("marketplace:order_detail", args=[order.pk]))
        page = html(response)
        assert f'data-testid="bid-{b.pk}"' in page
        assert f'data-testid="award-{b.pk}"' in page
        assert 'data-testid="recommendations-loading"' in page
        fragment = html(client.get(reverse("marketplace:order_recommendations", args=[order.pk])))
        assert f'data-testid="rec-{world.opc.pk}"' in fragment
        assert f'data-testid="invite-{world.other_opc.pk}"' in fragment

    def test_opc_sees_bid_form_but_not_other_bids(self, client: Client, world: World) -> None:
        order = open_tender(world)
        other = bid(world, order, "9999.00", opc=world.other_opc)
        page = html(login(client, world.opc_user).get(reverse("marketplace:order_detail", args=[order.pk])))
        assert 'data-testid="bid-form"' in page
        assert f'data-testid="bid-{other.pk}"' not in page and "9,999.00" not in page

    def test_operator_sees_orders_of_its_members(self, client: Client, world: World) -> None:
        order = open_tender(world, visibility="community", community=world.community)
        bid(world, order)
        page = html(
            login(client, world.operator_user).get(reverse("marketplace:order_detail", args=[order.pk]))
        )
        assert 'data-testid="operator-view"' in page
        listing = html(client.get(reverse("marketplace:operator_orders")))
        assert order.title in listing
        other = login(Client(), world.other_operator_user)
        assert order.title not in html(other.get(reverse("marketplace:operator_orders")))


# ------------------------------------------------------------------------------------------- posting


class TestPostOrder:
    def form(self, **overrides: Any) -> dict[str, Any]:
        data = {
            "title": "文旅宣传短剧",
            "description": "三集竖屏短剧",
            "category": "ai-short-drama",
            "budget_min": "5000",
            "budget_max": "20000",
            "deadline": future().isoformat(),
            "deliverables": "成片 3 集",
            "acceptance_criteria": "每集 ≥ 1 分钟",
            "mode": "tender",
            "visibility": "public",
            "procurement_method": "inquiry",
        }
        data.update(overrides)
        return data

    def test_post_draft_with_attachment_then_publish(self, client: Client, world: World) -> None:
        login(client, world.client_user)
        assert client.get(reverse("marketplace:order_post")).status_code == 200
        upload = SimpleUploadedFile("brief.txt", b"brief", content_type="text/plain")
        response = client.post(reverse("marketplace:order_post"), {**self.form(), "attachment": upload})
        assert response.status_code == 302
        order = Order.objects.get(title="文旅宣传短剧")
        assert order.status == OrderStatus.DRAFT and order.is_procurement
        assert order.acceptance_criteria == "每集 ≥ 1 分钟"
        assert OrderAttachment.objects.filter(order=order, name="brief.txt").exists()
        assert response["Location"] == reverse("marketplace:order_detail", args=[order.pk])
        response = client.post(reverse("marketplace:order_publish", args=[order.pk]))
        assert response.status_code == 302
        order.refresh_from_db()
        assert order.status == OrderStatus.OPEN
        # publishing again is an illegal transition: message, 409, nothing changes
        before = counts()
        response = client.post(reverse("marketplace:order_publish", args=[order.pk]))
        assert response.status_code == 409
        assert gettext("Open") in html(response)
        assert counts() == before

    def test_bad_input_rerenders_and_changes_nothing(self, client: Client, world: World) -> None:
        login(client, world.client_user)
        before = counts()
        for bad in (
            {"budget_min": "30000"},
            {"deadline": "2020-01-01"},
            {"title": ""},
            {"mode": "contest"},  # no reward
            {"budget_max": "abc"},
            {"category": "no-such-skill"},
            {"procurement_method": ""},
            {"mode": "contest", "price": "90000"},  # refused by the service: reward above the budget
        ):
            response = client.post(reverse("marketplace:order_post"), self.form(**bad))
            assert response.status_code == 400, bad
            assert "errorlist" in html(response)
        assert counts() == before

    def test_enterprise_post_has_no_procurement_method(self, client: Client, world: World) -> None:
        firm = enterprise()
        user = firm.memberships.get().user
        login(client, user)
        page = html(client.get(reverse("marketplace:order_post")))
        assert 'name="procurement_method"' not in page
        data = self.form()
        data.pop("procurement_method")
        assert client.post(reverse("marketplace:order_post"), data).status_code == 302
        assert not Order.objects.get(client=firm).is_procurement

    def test_direct_and_contest_orders(self, client: Client, world: World) -> None:
        login(client, world.client_user)
        response = client.post(
            reverse("marketplace:order_post"),
            self.form(title="直接", mode="direct", price="8000", direct_opc=str(world.opc.pk)),
        )
        assert response.status_code == 302
        direct = Order.objects.get(title="直接")
        assert direct.direct_opc_id == world.opc.pk and direct.visibility == "invited"
        response = client.post(
            reverse("marketplace:order_post"), self.form(title="悬赏", mode="contest", price="6000")
        )
        contest = Order.objects.get(title="悬赏")
        response = client.post(
            reverse("marketplace:order_publish", args=[contest.pk]), {"idempotency_key": "k1"}
        )
        assert response.status_code == 302
        contest.refresh_from_db()
        assert contest.status == OrderStatus.OPEN and contest.escrow_account is not None
        assert contest.escrow_account.balance == Decimal("6000.00")

    def test_acceptance_template_prefill(self, client: Client, world: World) -> None:
        AcceptanceTemplate.objects.create(
            category=category(), deliverables="成片 1 部", acceptance_criteria="画面无水印"
        )
        login(client, world.client_user)
        response = client.get(
            reverse("marketplace:acceptance_template"), {"category": "ai-short-drama"}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 200
        assert "画面无水印" in html(response) and "成片 1 部" in html(response)
        assert client.get(reverse("marketplace:acceptance_template"), {"category": "zzz"}).status_code == 200

    def test_only_clients_and_opcs_post(self, client: Client, world: World) -> None:
        assert login(client, world.operator_user).get(reverse("marketplace:order_post")).status_code == 403
        assert Client().get(reverse("marketplace:order_post")).status_code == 302

    def test_edit_draft_and_refusals(self, client: Client, world: World) -> None:
        order = make_order(world)
        url = reverse("marketplace:order_edit", args=[order.pk])
        assert login(Client(), world.opc_user).get(url).status_code == 404
        login(client, world.client_user)
        assert client.get(url).status_code == 200
        data = {
            "title": "新标题",
            "description": "",
            "deliverables": "",
            "acceptance_criteria": "",
            "deadline": future(10),
        }
        assert client.post(url, data).status_code == 302
        order.refresh_from_db()
        assert order.title == "新标题"
        before = counts()
        response = client.post(url, {**data, "title": "", "deadline": "2020-01-01"})
        assert response.status_code == 400
        assert counts() == before
        services.publish_order(order=order, client=world.client, actor=None)
        response = client.post(url, {**data, "title": "改不了"})
        assert response.status_code == 409
        order.refresh_from_db()
        assert order.title == "新标题"

    def test_cancel_and_attach(self, client: Client, world: World) -> None:
        order = open_tender(world)
        b = bid(world, order)
        login(client, world.client_user)
        upload = SimpleUploadedFile("spec.pdf", b"%PDF-1.4", content_type="application/pdf")
        assert (
            client.post(reverse("marketplace:order_attach", args=[order.pk]), {"file": upload}).status_code
            == 302
        )
        assert client.post(reverse("marketplace:order_attach", args=[order.pk]), {}).status_code == 400
        response = client.post(reverse("marketplace:order_cancel", args=[order.pk]), {"reason": "预算取消"})
        assert response.status_code == 302
        order.refresh_from_db()
        b.refresh_from_db()
        assert order.status == OrderStatus.CANCELLED and b.status == BidStatus.REJECTED
        response = client.post(
            reverse("marketplace:order_attach", args=[order.pk]), {"file": SimpleUploadedFile("x.txt", b"x")}
        )
        assert response.status_code == 409
        assert (
            login(Client(), world.other_opc_user)
            .post(reverse("marketplace:order_cancel", args=[order.pk]))
            .status_code
            == 404
        )

    def test_my_orders(self, client: Client, world: World) -> None:
        order = open_tender(world)
        draft = make_order(world, title="草稿")
        page = html(login(client, world.client_user).get(reverse("marketplace:my_orders")))
        assert order.title in page and draft.title in page
        page = html(client.get(reverse("marketplace:my_orders"), {"status": "draft"}))
        assert draft.title in page and order.title not in page
        assert order.title not in html(login(Client(), world.opc_user).get(reverse("marketplace:my_orders")))


# ------------------------------------------------------------------------------------------- bids and award


class TestBidsAndAward:
    def test_bid_withdraw(self, client: Client, world: World) -> None:
        order = open_tender(world)
        login(client, world.opc_user)
        url = reverse("marketplace:bid_submit", args=[order.pk])
        before = counts()
        response = client.post(url, {"price": "-5", "timeline_days": "0"})
        assert response.status_code == 400 and counts() == before
        assert "errorlist" in html(response)
        assert client.post(url, {"price": "8800", "timeline_days": "15", "plan": "分三步"}).status_code == 302
        b = Bid.objects.get(order=order, opc=world.opc)
        assert b.price == Decimal("8800.00")
        response = client.post(url, {"price": "8000", "timeline_days": "15"})
        assert response.status_code == 409  # one bid per OPC
        assert Bid.objects.filter(order=order).count() == 1
        assert client.post(reverse("marketplace:bid_withdraw", args=[b.pk])).status_code == 302
        b.refresh_from_db()
        assert b.status == BidStatus.WITHDRAWN
        response = client.post(reverse("marketplace:bid_withdraw", args=[b.pk]))
        assert response.status_code == 409
        assert (
            login(Client(), world.other_opc_user)
            .post(reverse("marketplace:bid_withdraw", args=[b.pk]))
            .status_code
            == 404
        )

    def test_bids_on_invisible_orders_and_by_clients(self, client: Client, world: World) -> None:
        order = open_tender(world, visibility="community", community=world.community)
        assert (
            login(client, world.other_opc_user)
            .post(reverse("marketplace:bid_submit", args=[order.pk]), {"price": "100", "timeline_days": "3"})
            .status_code
            == 404
        )
        assert (
            login(Client(), world.client_user)
            .post(reverse("marketplace:bid_submit", args=[order.pk]), {"price": "100", "timeline_days": "3"})
            .status_code
            == 403
        )
        assert not Bid.objects.exists()

    def test_shortlist_and_award_with_milestones_notifies_others(self, client: Client, world: World) -> None:
        order = open_tender(world)
        winner = bid(world, order, "10000.00")
        loser = bid(world, order, "12000.00", opc=world.other_opc)
        login(client, world.client_user)
        assert client.post(reverse("marketplace:bid_shortlist", args=[winner.pk])).status_code == 302
        winner.refresh_from_db()
        assert winner.status == BidStatus.SHORTLISTED
        url = reverse("marketplace:bid_award", args=[winner.pk])
        page = html(client.get(url))
        assert 'name="ms-0-amount"' in page
        due = future(10).isoformat()
        data = {
            "ms-TOTAL_FORMS": "2",
            "ms-INITIAL_FORMS": "0",
            "ms-MIN_NUM_FORMS": "1",
            "ms-MAX_NUM_FORMS": "20",
            "ms-0-title": "剧本",
            "ms-0-amount": "4000",
            "ms-0-due_date": due,
            "ms-1-title": "成片",
            "ms-1-amount": "5000",  # adds up to 9000, not 10000
            "ms-1-due_date": due,
        }
        before = counts()
        response = client.post(url, data)
        assert response.status_code == 400
        assert "10,000.00" in html(response)
        assert counts() == before
        response = client.post(url, {**data, "ms-1-amount": "6000"})
        contract = Contract.objects.get(order=order)
        assert response.status_code == 302
        assert response["Location"] == reverse("marketplace:contract_detail", args=[contract.pk])
        assert [m.amount for m in contract.milestones.order_by("position")] == [
            Decimal("4000"),
            Decimal("6000"),
        ]
        loser.refresh_from_db()
        assert loser.status == BidStatus.REJECTED
        assert Notification.objects.filter(recipient=world.other_opc, kind="bid_rejected").exists()
        # awarding again: illegal transition with a message, nothing changes
        before = counts()
        response = client.post(
            reverse("marketplace:bid_award", args=[loser.pk]), {**data, "ms-0-amount": "6000"}
        )
        assert response.status_code == 409
        assert counts() == before
        # another tenant cannot even see the bid
        assert login(Client(), world.other_opc_user).get(url).status_code == 404

    def test_capacity_is_enforced_on_award(self, client: Client, world: World) -> None:
        set_skills(world.opc, category(), capacity=1)
        awarded(world)
        order = open_tender(world, title="第二单")
        b = bid(world, order)
        response = login(client, world.client_user).post(
            reverse("marketplace:bid_award", args=[b.pk]),
            {
                "ms-TOTAL_FORMS": "1",
                "ms-INITIAL_FORMS": "0",
                "ms-0-title": "全部",
                "ms-0-amount": "10000",
                "ms-0-due_date": future(5).isoformat(),
            },
        )
        assert response.status_code == 409
        assert not Contract.objects.filter(order=order).exists()
        assert world.opc.name in html(response)


# ------------------------------------------------------------------------------------------- contests and direct


class TestContestAndDirect:
    def test_contest_entry_and_winner(self, client: Client, world: World, contest: Order) -> None:
        login(client, world.opc_user)
        url = reverse("marketplace:entry_submit", args=[contest.pk])
        assert client.post(url, {"description": ""}).status_code == 400
        assert (
            client.post(url, {"description": "我的作品", "link": "https://example.cn/a"}).status_code == 302
        )
        login(Client(), world.other_opc_user).post(url, {"description": "另一个作品"})
        entries = list(ContestEntry.objects.filter(order=contest).order_by("pk"))
        assert len(entries) == 2
        owner = login(Client(), world.client_user)
        pick = reverse("marketplace:entry_pick", args=[entries[0].pk])
        assert owner.post(pick, {}).status_code == 400  # no key
        assert owner.post(pick, {"idempotency_key": "pick-1"}).status_code == 302
        assert owner.post(pick, {"idempotency_key": "pick-1"}).status_code == 302  # a replay, one effect
        entries[0].refresh_from_db()
        assert entries[0].status == EntryStatus.WON
        assert available(world.opc) == Decimal("8000.00")
        response = owner.post(
            reverse("marketplace:entry_pick", args=[entries[1].pk]), {"idempotency_key": "pick-2"}
        )
        assert response.status_code == 409
        assert available(world.other_opc) == Decimal("0.00")
        assert client.post(pick, {"idempotency_key": "x"}).status_code == 404  # not the OPC's order

    def test_direct_accept_and_decline(self, client: Client, world: World) -> None:
        order = services.publish_order(
            order=make_order(world, mode=OrderMode.DIRECT, direct_opc=world.opc, price=Decimal("8000")),
            client=world.client,
            actor=None,
        )
        page = html(login(client, world.opc_user).get(reverse("marketplace:order_detail", args=[order.pk])))
        assert 'data-testid="direct-accept"' in page
        assert (
            login(Client(), world.other_opc_user)
            .post(reverse("marketplace:direct_accept", args=[order.pk]))
            .status_code
            == 404
        )
        assert (
            client.post(
                reverse("marketplace:direct_decline", args=[order.pk]), {"reason": "档期满"}
            ).status_code
            == 302
        )
        order.refresh_from_db()
        assert order.status == OrderStatus.DRAFT
        owner = login(Client(), world.client_user)
        response = owner.post(
            reverse("marketplace:direct_reassign", args=[order.pk]), {"opc": world.other_opc.pk}
        )
        assert response.status_code == 302
        owner.post(reverse("marketplace:order_publish", args=[order.pk]))
        other = login(Client(), world.other_opc_user)
        response = other.post(reverse("marketplace:direct_accept", args=[order.pk]))
        contract = Contract.objects.get(order=order)
        assert response["Location"] == reverse("marketplace:contract_detail", args=[contract.pk])
        assert contract.opc_id == world.other_opc.pk and contract.price == Decimal("8000.00")

    def test_invite_from_recommendations(self, client: Client, world: World) -> None:
        order = open_tender(world)
        login(client, world.client_user)
        assert (
            client.post(
                reverse("marketplace:order_invite", args=[order.pk]), {"opc": world.opc.pk}
            ).status_code
            == 302
        )
        assert order.invited_opcs.filter(pk=world.opc.pk).exists()
        assert Notification.objects.filter(recipient=world.opc, kind="invitation").exists()
        assert (
            client.post(reverse("marketplace:order_invite", args=[order.pk]), {"opc": "x"}).status_code == 400
        )
        response = client.post(reverse("marketplace:order_invite", args=[order.pk]), {"opc": world.client.pk})
        assert response.status_code == 400  # not an OPC
        assert login(Client(), world.opc_user).post(
            reverse("marketplace:order_invite", args=[order.pk]), {"opc": world.opc.pk}
        ).status_code in (403, 404)


# ------------------------------------------------------------------------------------------- contracts


class TestContract:
    def test_fund_deliver_accept_loop(self, client: Client, world: World) -> None:
        contract = awarded(world)
        milestone = first_milestone(contract)
        url = reverse("marketplace:contract_detail", args=[contract.pk])
        owner = login(client, world.client_user)
        page = html(owner.get(url))
        assert 'data-testid="fund-1"' in page
        key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', page)
        assert key is not None
        fund = reverse("marketplace:milestone_fund", args=[milestone.pk])
        assert owner.post(fund, {"idempotency_key": key.group(1)}).status_code == 302
        assert (
            owner.post(fund, {"idempotency_key": key.group(1)}).status_code == 302
        )  # double submit: one effect
        contract.escrow_account.refresh_from_db()
        assert contract.escrow_account.balance == Decimal("10000.00")
        response = owner.post(fund, {"idempotency_key": "another"})
        assert response.status_code == 409  # already funded
        assert contract.escrow_account.balance == Decimal("10000.00")
        opc = login(Client(), world.opc_user)
        assert 'data-testid="deliver-1"' in html(opc.get(url))
        assert (
            opc.post(
                reverse("marketplace:milestone_deliver", args=[milestone.pk]), {"note": "成片已上传"}
            ).status_code
            == 302
        )
        accept = reverse("marketplace:milestone_accept", args=[milestone.pk])
        assert opc.post(accept, {"idempotency_key": "k"}).status_code == 403  # only the client accepts
        assert owner.post(accept, {"idempotency_key": "acc-1"}).status_code == 302
        milestone.refresh_from_db()
        assert milestone.status == MilestoneStatus.RELEASED
        assert available(world.opc) == Decimal("10000.00")
        contract.refresh_from_db()
        assert contract.order.status == OrderStatus.COMPLETED

    def test_revision_and_bad_input(self, client: Client, world: World) -> None:
        _contract, milestone = delivered(world)
        owner = login(client, world.client_user)
        url = reverse("marketplace:milestone_revision", args=[milestone.pk])
        response = owner.post(url, {"note": ""})
        assert response.status_code == 400
        milestone.refresh_from_db()
        assert milestone.status == MilestoneStatus.DELIVERED
        assert owner.post(url, {"note": "片尾字幕有误"}).status_code == 302
        milestone.refresh_from_db()
        assert milestone.status == MilestoneStatus.REVISION_REQUESTED and milestone.revision_rounds == 1
        assert owner.post(reverse("marketplace:milestone_fund", args=[milestone.pk]), {}).status_code == 400

    def test_wrong_tenant_gets_404(self, client: Client, world: World) -> None:
        contract, milestone = funded(world)
        for user in (world.other_opc_user, world.other_operator_user, world.authority_user):
            c = login(Client(), user)
            assert c.get(reverse("marketplace:contract_detail", args=[contract.pk])).status_code == 404
            assert c.post(reverse("marketplace:milestone_deliver", args=[milestone.pk])).status_code == 404
        assert client.get(reverse("marketplace:contract_detail", args=[contract.pk])).status_code == 302

    def test_my_contracts_and_bids(self, client: Client, world: World) -> None:
        contract = awarded(world)
        page = html(login(client, world.opc_user).get(reverse("marketplace:my_contracts")))
        assert f"contract-row-{contract.pk}" in page
        page = html(client.get(reverse("marketplace:my_bids")))
        assert contract.order.title in page
        assert login(Client(), world.client_user).get(reverse("marketplace:my_bids")).status_code == 403
        assert f"contract-row-{contract.pk}" not in html(
            login(Client(), world.other_opc_user).get(reverse("marketplace:my_contracts"))
        )


# ------------------------------------------------------------------------------------------- disputes


class TestDisputes:
    def test_open_and_decide_split(self, client: Client, world: World) -> None:
        contract, milestone = delivered(world)
        owner = login(client, world.client_user)
        response = owner.post(reverse("marketplace:dispute_open", args=[milestone.pk]), {"reason": ""})
        assert response.status_code == 400 and not Dispute.objects.exists()
        assert (
            owner.post(
                reverse("marketplace:dispute_open", args=[milestone.pk]), {"reason": "成片与约定不符"}
            ).status_code
            == 302
        )
        dispute = Dispute.objects.get()
        assert dispute.mediator_id == world.operator.pk
        operator = login(Client(), world.operator_user)
        page = html(operator.get(reverse("marketplace:disputes")))
        assert f"dispute-row-{dispute.pk}" in page
        assert (
            login(Client(), world.other_operator_user)
            .get(reverse("marketplace:dispute_decide", args=[dispute.pk]))
            .status_code
            == 404
        )
        assert login(Client(), world.opc_user).get(reverse("marketplace:disputes")).status_code == 403
        url = reverse("marketplace:dispute_decide", args=[dispute.pk])
        page = html(operator.get(url))
        assert 'data-testid="decide-form"' in page
        response = operator.post(url, {"amount_to_opc": "20000", "idempotency_key": "d1"})
        assert response.status_code == 400  # more than is held
        dispute.refresh_from_db()
        assert dispute.status == DisputeStatus.OPEN
        response = operator.post(url, {"amount_to_opc": "6000", "idempotency_key": "d1", "note": "部分完成"})
        assert response.status_code == 302
        dispute.refresh_from_db()
        assert dispute.status == DisputeStatus.DECIDED
        assert available(world.opc) == Decimal("6000.00")
        assert available(world.client) == Decimal("4000.00")
        response = operator.post(url, {"amount_to_opc": "1000", "idempotency_key": "d2"})
        assert response.status_code == 409
        # the mediator can look at the contract
        assert operator.get(reverse("marketplace:contract_detail", args=[contract.pk])).status_code == 200


# ------------------------------------------------------------------------------------------- notifications


class TestNotifications:
    def test_list_mark_read_and_nav_count(self, client: Client, world: World) -> None:
        order = open_tender(world)
        bid(world, order)
        login(client, world.client_user)
        page = html(client.get(reverse("marketplace:notifications")))
        note = Notification.objects.get(recipient=world.client)
        assert note.text in page
        assert re.search(r'data-testid="nav-notifications">[^<]*[(（]1[)）]<', page)
        response = client.post(
            reverse("marketplace:notifications_read"), {"id": note.pk}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 200
        note.refresh_from_db()
        assert note.read_at is not None
        assert client.post(reverse("marketplace:notifications_read")).status_code == 302
        assert client.post(reverse("marketplace:notifications_read"), {"id": "abc"}).status_code == 404
        # someone else's notification is untouched
        other = services.notify(recipient=world.opc, kind="x", message="Hello")
        client.post(reverse("marketplace:notifications_read"), {"id": other.pk})
        other.refresh_from_db()
        assert other.read_at is None

    def test_email_to_owner_address(self, world: World, django_capture_on_commit_callbacks: Any) -> None:
        order = open_tender(world)
        with django_capture_on_commit_callbacks(execute=True):
            bid(world, order)
        assert any(world.client_user.email in m.to for m in mail.outbox)

    def test_links_point_at_pages(self, client: Client, world: World) -> None:
        contract = awarded(world)
        note = Notification.objects.filter(recipient=world.opc, kind="bid_awarded").get()
        assert note.link == reverse("marketplace:contract_detail", args=[contract.pk])
        assert login(client, world.opc_user).get(note.link).status_code == 200


def test_pages_render_in_english(client: Client, world: World) -> None:
    contract = awarded(world)
    login(client, world.client_user)
    with override("en"):
        for name, args in (
            ("marketplace:browse", []),
            ("marketplace:procurement_zone", []),
            ("marketplace:my_orders", []),
            ("marketplace:my_contracts", []),
            ("marketplace:contract_detail", [contract.pk]),
            ("marketplace:order_detail", [contract.order_id]),
            ("marketplace:notifications", []),
        ):
            response = client.get(reverse(name, args=args), HTTP_ACCEPT_LANGUAGE="en")
            assert response.status_code == 200, name


class TestDashboardPanels:
    def test_client_panel_lists_open_orders_and_contracts_waiting(self, client: Client, world: World) -> None:
        order = open_tender(world, title="开放中的订单")
        contract = awarded(world)
        page = html(login(client, world.client_user).get(reverse("core:dashboard")))
        assert 'data-testid="panel-market-client"' in page
        assert order.title in page
        assert reverse("marketplace:contract_detail", args=[contract.pk]) in page

    def test_opc_panel_offers_contracts_and_matching_orders(self, client: Client, world: World) -> None:
        set_skills(world.opc, category())
        matching = open_tender(world, title="匹配的短剧")
        contract = awarded(world)
        page = html(login(client, world.opc_user).get(reverse("core:dashboard")))
        assert 'data-testid="panel-market-opc"' in page
        assert matching.title in page
        assert reverse("marketplace:contract_detail", args=[contract.pk]) in page

    def test_operator_panel_disputes_and_dispatch_button(self, client: Client, world: World) -> None:
        _contract, milestone = delivered(world)
        services.open_dispute(milestone=milestone, party=world.client, actor=None, reason="不符")
        page = html(login(client, world.operator_user).get(reverse("core:dashboard")))
        assert 'data-testid="panel-dispatch-now"' in page
        assert reverse("marketplace:dispute_decide", args=[Dispute.objects.get().pk]) in page


def test_demo_market_is_realistic_and_the_books_balance(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.demo import load_demo
    from ledger import selectors as ledger_selectors
    from marketplace import demo_data, selectors

    # the base demo plus this app's part only (other apps' demo data is theirs to test)
    monkeypatch.setattr("core.extensions.load_app_demos", demo_data.load)
    load_demo()
    assert Order.objects.count() >= 28
    assert Order.objects.filter(is_procurement=True, status=OrderStatus.OPEN).count() >= 10
    assert set(Order.objects.values_list("mode", flat=True)) == {"tender", "direct", "contest"}
    assert Order.objects.filter(status=OrderStatus.COMPLETED).exists()
    assert Dispute.objects.filter(status=DisputeStatus.OPEN).exists()
    star = Order.objects.get(title__startswith="天一阁").contract.opc
    assert star.memberships.filter(user__email="opc@demo.cn").exists()
    assert Milestone.objects.filter(contract__opc=star, status=MilestoneStatus.FUNDED).exists()
    assert Order.objects.filter(direct_opc=star, status=OrderStatus.OPEN).exists()
    assert ledger_selectors.ledger_is_balanced() and ledger_selectors.total_of_balances() == 0
    assert selectors.escrow_discrepancies() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_capacity_holds_under_parallel_awards(world: World) -> None:
    """Ten clients' awards to one OPC of capacity 1 at the same moment (real parallel connections on
    PostgreSQL): exactly one contract, the others refused with the capacity message."""
    from core.errors import Conflict

    from .test_concurrency import run_in_parallel

    set_skills(world.opc, category(), capacity=1)
    pairs = []
    for i in range(10):
        order = open_tender(world, title=f"并发{i}")
        pairs.append((order, bid(world, order)))

    def award(i: int) -> Contract:
        order, b = pairs[i]
        return services.award_bid(order=order, bid=b, client=world.client, actor=None)

    results = run_in_parallel(award, count=10, workers=10)
    won = [r for r in results if isinstance(r, Contract)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(won) == 1 and len(refused) == 9, results
    assert Contract.objects.filter(opc=world.opc).count() == 1
