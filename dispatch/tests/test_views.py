"""Dispatch pages (the operator's runs and "dispatch now" button, the OPC's offers) and what an accepted offer
turns into: a bid on the order (``respond_to_offer``), refused for an OPC at full capacity."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.errors import Conflict, InvalidTransition
from core.testing import World, make_org, make_user
from dispatch import services
from dispatch.models import DispatchRun, DispatchTrigger, Offer, OfferStatus
from marketplace import services as mkt
from marketplace.models import Bid, BidStatus, Notification
from marketplace.tests.conftest import awarded, category, open_tender
from organisations.capabilities import OrgKind
from organisations.models import Organisation

pytestmark = pytest.mark.django_db


def login(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def capable(org: Organisation, capacity: int = 2) -> None:
    profile = org.opc_profile
    profile.capacity = capacity
    profile.save()
    profile.skills.set([category()])


@pytest.fixture
def offered(world: World) -> Offer:
    """One public tender dispatched to ``world.opc`` (the only capable OPC)."""
    capable(world.opc)
    open_tender(world, budget_min=Decimal("6000"), budget_max=Decimal("10000"))
    services.run_batch_dispatch()
    return Offer.objects.get()


# ------------------------------------------------------------------------------------------- accepted offers


class TestAcceptedOfferBecomesABid:
    def test_accept_with_terms_places_a_bid_the_client_can_award(self, world: World, offered: Offer) -> None:
        services.respond_to_offer(
            offer=offered,
            accept=True,
            actor=world.opc_user,
            opc=world.opc,
            price=Decimal("7500"),
            timeline_days=9,
        )
        offered.refresh_from_db()
        assert offered.status == OfferStatus.ACCEPTED
        bid = Bid.objects.get(order=offered.order, opc=world.opc)
        assert (bid.price, bid.timeline_days, bid.status) == (Decimal("7500.00"), 9, BidStatus.SUBMITTED)
        assert offered.order.invited_opcs.filter(pk=world.opc.pk).exists()
        assert Notification.objects.filter(recipient=world.client, kind="bid_received").exists()
        assert Notification.objects.filter(recipient=world.client, kind="dispatch.accepted").exists()
        contract = mkt.award_bid(order=offered.order, bid=bid, client=world.client, actor=None)
        assert contract.opc_id == world.opc.pk and contract.price == Decimal("7500.00")

    def test_default_terms_are_the_middle_of_the_budget(self, world: World, offered: Offer) -> None:
        services.respond_to_offer(offer=offered, accept=True, actor=None, opc=world.opc)
        bid = Bid.objects.get(order=offered.order)
        assert bid.price == Decimal("8000.00")
        assert bid.timeline_days == (offered.order.deadline - timezone.localdate()).days

    def test_existing_bid_is_kept(self, world: World, offered: Offer) -> None:
        mkt.submit_bid(order=offered.order, opc=world.opc, actor=None, price=Decimal("9000"), timeline_days=5)
        services.respond_to_offer(offer=offered, accept=True, actor=None, opc=world.opc, price=Decimal("1"))
        assert Bid.objects.get(order=offered.order).price == Decimal("9000.00")

    def test_full_capacity_refuses_and_leaves_the_offer_pending(self, world: World) -> None:
        capable(world.opc, capacity=1)
        capable(world.other_opc, capacity=1)
        open_tender(world, title="派单")
        services.run_batch_dispatch()
        offer = Offer.objects.get(opc=world.opc) if Offer.objects.filter(opc=world.opc).exists() else None
        if offer is None:  # the engine chose the other OPC; give ours the offer instead
            offer = Offer.objects.get()
            Offer.objects.filter(pk=offer.pk).update(opc=world.opc)
            offer.refresh_from_db()
        awarded(world)  # the OPC's only slot is now taken by a contract
        with pytest.raises(Conflict):
            services.respond_to_offer(offer=offer, accept=True, actor=None, opc=world.opc)
        offer.refresh_from_db()
        assert offer.status == OfferStatus.PENDING
        assert not Bid.objects.filter(order=offer.order, opc=world.opc).exists()

    def test_an_order_no_longer_open_cannot_be_accepted(self, world: World, offered: Offer) -> None:
        mkt.cancel_order(order=offered.order, client=world.client, actor=None)
        with pytest.raises(InvalidTransition):
            services.respond_to_offer(offer=offered, accept=True, actor=None, opc=world.opc)
        offered.refresh_from_db()
        assert offered.status == OfferStatus.PENDING

    def test_capacity_also_limits_direct_acceptance(self, world: World) -> None:
        capable(world.opc, capacity=1)
        awarded(world)
        order = mkt.publish_order(
            order=mkt.post_order(
                client=world.client,
                actor=None,
                title="直接",
                category=category(),
                budget_min=Decimal("1000"),
                budget_max=Decimal("5000"),
                deadline=timezone.localdate() + dt.timedelta(days=9),
                mode="direct",
                direct_opc=world.opc,
                price=Decimal("3000"),
                procurement_method="inquiry",
            ),
            client=world.client,
            actor=None,
        )
        with pytest.raises(Conflict) as refused:
            mkt.accept_direct_order(order=order, opc=world.opc, actor=None)
        assert world.opc.name in refused.value.message


# ------------------------------------------------------------------------------------------- pages


class TestOperatorPages:
    def test_dispatch_now_and_history(self, client: Client, world: World) -> None:
        capable(world.opc)
        order = open_tender(world)
        login(client, world.operator_user)
        page = client.get(reverse("dispatch:runs"))
        assert page.status_code == 200 and 'data-testid="dispatch-now"' in page.content.decode()
        response = client.post(reverse("dispatch:run_now"))
        run = DispatchRun.objects.get()
        assert response.status_code == 302
        assert response["Location"] == reverse("dispatch:run_detail", args=[run.pk])
        assert run.trigger == DispatchTrigger.OPERATOR and run.triggered_by_id == world.operator_user.pk
        detail = client.get(response["Location"]).content.decode()
        assert order.title in detail and world.opc.name in detail
        # another operator sees the run but not the assignments outside its communities
        other = login(Client(), world.other_operator_user).get(response["Location"]).content.decode()
        assert world.opc.name not in other
        assert (
            world.opc.name
            not in login(Client(), world.other_operator_user).get(reverse("dispatch:runs")).content.decode()
        )

    def test_only_operators(self, client: Client, world: World) -> None:
        assert login(client, world.opc_user).post(reverse("dispatch:run_now")).status_code == 403
        assert not DispatchRun.objects.exists()
        assert Client().get(reverse("dispatch:runs")).status_code == 302
        assert (
            login(Client(), world.operator_user).get(reverse("dispatch:run_detail", args=[999])).status_code
            == 404
        )


class TestOfferPages:
    def test_accept_from_the_page(self, client: Client, world: World, offered: Offer) -> None:
        login(client, world.opc_user)
        page = client.get(reverse("dispatch:my_offers")).content.decode()
        assert f'data-testid="offer-{offered.pk}"' in page
        response = client.post(
            reverse("dispatch:offer_respond", args=[offered.pk]),
            {"decision": "accept", "price": "7000", "timeline_days": "12", "plan": "按期交付"},
        )
        assert response.status_code == 302
        assert response["Location"] == reverse("marketplace:order_detail", args=[offered.order_id])
        assert Bid.objects.get(order=offered.order).price == Decimal("7000.00")

    def test_bad_input_and_late_answers(self, client: Client, world: World, offered: Offer) -> None:
        login(client, world.opc_user)
        url = reverse("dispatch:offer_respond", args=[offered.pk])
        for bad in (
            {"decision": "maybe"},
            {"decision": "accept", "price": "-1"},
            {"decision": "accept", "timeline_days": "0"},
        ):
            assert client.post(url, bad).status_code == 400
        offered.refresh_from_db()
        assert offered.status == OfferStatus.PENDING and not Bid.objects.exists()
        Offer.objects.filter(pk=offered.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
        response = client.post(url, {"decision": "accept"})
        assert response.status_code == 409
        assert not Bid.objects.exists()

    def test_decline_redispatches(self, client: Client, world: World, offered: Offer) -> None:
        capable(world.other_opc)
        login(client, world.opc_user)
        response = client.post(reverse("dispatch:offer_respond", args=[offered.pk]), {"decision": "decline"})
        assert response.status_code == 302
        offered.refresh_from_db()
        assert offered.status == OfferStatus.DECLINED
        assert Offer.objects.filter(
            order=offered.order, opc=world.other_opc, status=OfferStatus.PENDING
        ).exists()

    def test_other_tenants_get_404(self, world: World, offered: Offer) -> None:
        third = make_org(OrgKind.OPC, "第三家", make_user("third"))
        for user in (world.other_opc_user, third.memberships.get().user, world.client_user):
            response = login(Client(), user).post(
                reverse("dispatch:offer_respond", args=[offered.pk]), {"decision": "accept"}
            )
            assert response.status_code == 404
        assert login(Client(), world.client_user).get(reverse("dispatch:my_offers")).status_code == 403

    def test_nav_shows_waiting_offers(self, client: Client, world: World, offered: Offer) -> None:
        page = login(client, world.opc_user).get(reverse("marketplace:browse")).content.decode()
        assert re.search(r'data-testid="nav-offers">[^<]*[(（]1[)）]<', page)
