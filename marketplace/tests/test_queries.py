"""Query counts of the busiest pages are constant in the data size: the browse list and the procurement zone
with 5 or 50 orders, the order page with 5 or 50 bids (as the client, with recommendations), and the contract
page with 1 or 10 milestones. (Timings are benchmarks in ``bench/``, never timed tests.)"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.testing import World, make_org, make_user
from marketplace import services
from marketplace.services import MilestoneSpec
from organisations.capabilities import OrgKind

from .conftest import category, future, make_order, open_tender

pytestmark = pytest.mark.django_db


def queries(client: Client, url: str, **params: Any) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


def add_orders(world: World, n: int, start: int = 0) -> None:
    skill = category()
    for i in range(start, start + n):
        open_tender(world, title=f"订单{i}", required_skills=[skill])


def bidders(world: World, n: int, start: int = 0) -> list[Any]:
    opcs = []
    for i in range(start, start + n):
        opc = make_org(OrgKind.OPC, f"工作室{i}", make_user(f"bidder{i}"), community=world.community)
        profile = opc.opc_profile
        profile.skills.set([category()])
        opcs.append(opc)
    return opcs


@pytest.mark.parametrize("viewer", ["anon", "opc"])
def test_browse_list_is_constant_in_the_number_of_orders(world: World, viewer: str) -> None:
    client = Client()
    if viewer == "opc":
        client.force_login(world.opc_user)
    url = reverse("marketplace:browse")
    add_orders(world, 5)
    queries(client, url)  # warm-up (session, caches)
    small = queries(client, url)
    add_orders(world, 45, start=5)
    large = queries(client, url)
    assert small == large, (small, large)
    assert queries(client, url, category="ai-short-drama", budget_min="100", page="2") <= large + 1


def test_procurement_zone_is_constant(world: World, client: Client) -> None:
    url = reverse("marketplace:procurement_zone")
    add_orders(world, 5)
    queries(client, url)
    small = queries(client, url)
    add_orders(world, 45, start=5)
    assert queries(client, url) == small


def test_order_detail_is_constant_in_the_number_of_bids(world: World, client: Client) -> None:
    order = open_tender(world)
    client.force_login(world.client_user)
    opc_client = Client()
    opc_client.force_login(world.opc_user)
    url = reverse("marketplace:order_detail", args=[order.pk])
    for opc in bidders(world, 5):
        services.submit_bid(order=order, opc=opc, actor=None, price=Decimal("9000"), timeline_days=10)
    queries(client, url)
    queries(opc_client, url)
    small, small_opc = queries(client, url), queries(opc_client, url)
    for opc in bidders(world, 45, start=5):
        services.submit_bid(order=order, opc=opc, actor=None, price=Decimal("9500"), timeline_days=12)
    # the client's page (bids with reputations, recommendations) and an OPC's page of the same order
    assert (queries(client, url), queries(opc_client, url)) == (small, small_opc)


def test_contract_page_is_constant_in_the_number_of_milestones(world: World, client: Client) -> None:
    client.force_login(world.client_user)
    urls = []
    for count in (1, 10):
        order = open_tender(world, title=f"合同{count}")
        bid = services.submit_bid(
            order=order, opc=world.opc, actor=None, price=Decimal(1000 * count), timeline_days=10
        )
        contract = services.award_bid(
            order=order,
            bid=bid,
            client=world.client,
            actor=None,
            milestones=[MilestoneSpec(f"M{i}", Decimal("1000"), future(10)) for i in range(count)],
        )
        urls.append(reverse("marketplace:contract_detail", args=[contract.pk]))
    queries(client, urls[0])
    assert queries(client, urls[0]) == queries(client, urls[1])


def test_my_orders_is_constant(world: World, client: Client) -> None:
    client.force_login(world.client_user)
    url = reverse("marketplace:my_orders")
    make_order(world)
    queries(client, url)
    small = queries(client, url)
    add_orders(world, 30)
    assert queries(client, url) == small
