"""The dispatch API through HTTP only: explained recommendations (client owner only), the operator's batch
dispatch runs, and the OPC's offers (accept → a bid on the order, decline → re-dispatch)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from core.testing import World, make_org, make_user
from dispatch.models import Offer, OfferStatus
from marketplace.models import Bid
from marketplace.tests.conftest import open_tender
from marketplace.tests.test_api import (
    Api,
    api_for,
    ok,
    open_tender_via_api,
    order_body,
    query_count,
    set_profile,
)
from organisations.capabilities import OrgKind

pytestmark = pytest.mark.django_db

BASE = "/api/dispatch"


class Apis:
    def __init__(self, w: World) -> None:
        self.client = api_for(w.client_user, w.client)
        self.opc = api_for(w.opc_user, w.opc)
        self.other_opc = api_for(w.other_opc_user, w.other_opc)
        self.operator = api_for(w.operator_user, w.operator)
        self.authority = api_for(w.authority_user, w.authority)
        self.anon = Api()


@pytest.fixture
def apis(world: World) -> Apis:
    a = Apis(world)
    set_profile(a.opc, ["ai-short-drama", "aigc-video"], capacity=1, rates=("8000", "15000"))
    set_profile(a.other_opc, ["ai-short-drama"], capacity=1)
    return a


def test_recommendations_are_ranked_explained_and_for_the_client_only(apis: Apis, world: World) -> None:
    order = open_tender_via_api(apis, required_skills=["aigc-video"])
    recs = ok(apis.client.get(f"{BASE}/orders/{order}/recommendations"))
    assert [r["rank"] for r in recs] == [1, 2]
    assert recs[0]["opc"]["id"] == world.opc.pk  # both skills, price inside its range
    assert [r["score"] for r in recs] == sorted((r["score"] for r in recs), reverse=True)
    for r in recs:
        assert 0 < r["score"] <= 1
        assert abs(sum(f["contribution"] for f in r["factors"]) - r["score"]) < 1e-5
        assert abs(sum(f["weight"] for f in r["factors"]) - 1) < 1e-9
        for f in r["factors"]:
            assert 0 <= f["value"] <= 1 + 1e-9 and f["label"]
    top = {f["factor"]: f for f in recs[0]["factors"]}
    assert top["coverage"]["value"] == pytest.approx(1.0)
    assert [s["code"] for s in recs[0]["skills"]] == ["ai-short-drama", "aigc-video"]
    assert len(ok(apis.client.get(f"{BASE}/orders/{order}/recommendations", limit=1))) == 1
    assert apis.client.get(f"{BASE}/orders/{order}/recommendations", limit=0).status_code == 422

    # visible but not the client's: 403; invisible: 404; not open: 409; anonymous: 401
    assert apis.opc.get(f"{BASE}/orders/{order}/recommendations").status_code == 403
    assert apis.operator.get(f"{BASE}/orders/{order}/recommendations").status_code == 403
    draft = ok(apis.client.post("/api/marketplace/orders", order_body()), 201)["id"]
    assert apis.client.get(f"{BASE}/orders/{draft}/recommendations").status_code == 200
    assert apis.opc.get(f"{BASE}/orders/{draft}/recommendations").status_code == 404
    ok(apis.client.post(f"/api/marketplace/orders/{draft}/cancel"))
    assert apis.client.get(f"{BASE}/orders/{draft}/recommendations").status_code == 409
    assert apis.anon.get(f"{BASE}/orders/{order}/recommendations").status_code == 401


def test_operator_runs_batch_dispatch_and_opcs_answer_their_offers(apis: Apis, world: World) -> None:
    orders = [open_tender_via_api(apis, title=f"短剧 {i}", required_skills=[]) for i in range(3)]
    assert apis.opc.post(f"{BASE}/runs", {"response_hours": 24}).status_code == 403
    assert apis.client.post(f"{BASE}/runs").status_code == 403
    assert apis.operator.post(f"{BASE}/runs", {"response_hours": 0}).status_code == 422
    run = ok(apis.operator.post(f"{BASE}/runs", {"response_hours": 24}), 201)
    assert run["trigger"] == "operator" and run["orders_considered"] == 3
    assert run["assignments"] == 2  # two OPCs with one free slot each
    assert run["finished_at"] is not None and run["seconds"] is not None
    runs = ok(apis.operator.get(f"{BASE}/runs"))
    assert runs["count"] == 1 and runs["items"][0]["id"] == run["id"]
    assert apis.opc.get(f"{BASE}/runs").status_code == 403

    mine = ok(apis.opc.get(f"{BASE}/offers"))
    assert mine["count"] == 1
    offer = mine["items"][0]
    assert offer["status"] == "pending" and offer["order"]["id"] in orders
    assert abs(sum(f["contribution"] for f in offer["factors"]) - offer["score"]) < 1e-5
    theirs = ok(apis.other_opc.get(f"{BASE}/offers", status="pending"))["items"][0]
    assert apis.client.get(f"{BASE}/offers").status_code == 403
    # someone else's offer is invisible
    assert apis.other_opc.post(f"{BASE}/offers/{offer['id']}/respond", {"accept": True}).status_code == 404
    assert apis.opc.post(f"{BASE}/offers/{offer['id']}/respond", {"accept": "maybe"}).status_code == 422
    assert apis.opc.post(f"{BASE}/offers/{offer['id']}/respond", {}).status_code == 422

    # accepting places a bid on the order (the client then awards it like any bid)
    accepted = ok(
        apis.opc.post(
            f"{BASE}/offers/{offer['id']}/respond",
            {"accept": True, "price": "9500.00", "timeline_days": 15, "plan": "两周交付"},
        )
    )
    assert accepted["status"] == "accepted" and accepted["responded_at"]
    placed = Bid.objects.get(order_id=offer["order"]["id"], opc=world.opc)
    assert placed.price == Decimal("9500.00") and placed.timeline_days == 15
    assert apis.opc.post(f"{BASE}/offers/{offer['id']}/respond", {"accept": False}).status_code == 409
    kinds = [n["kind"] for n in ok(apis.client.get("/api/marketplace/notifications"))["items"]]
    assert "dispatch.accepted" in kinds

    # declining re-dispatches the order to someone else (here: nobody with a free slot is left)
    declined = ok(apis.other_opc.post(f"{BASE}/offers/{theirs['id']}/respond", {"accept": False}))
    assert declined["status"] == "declined"
    assert not Offer.objects.filter(
        order_id=theirs["order"]["id"], opc=world.other_opc, status="pending"
    ).exists()


def test_an_expired_offer_cannot_be_answered(apis: Apis, world: World) -> None:
    open_tender_via_api(apis, required_skills=[])
    ok(apis.operator.post(f"{BASE}/runs", {"response_hours": 1}), 201)
    offer = Offer.objects.get(opc=world.opc)
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    response = apis.opc.post(f"{BASE}/offers/{offer.pk}/respond", {"accept": True})
    assert response.status_code == 409
    offer.refresh_from_db()
    assert offer.status == OfferStatus.PENDING


def test_offer_list_query_count_is_constant(apis: Apis, world: World) -> None:
    from organisations.models import OPCProfile

    OPCProfile.objects.filter(organisation=world.opc).update(capacity=30)
    OPCProfile.objects.filter(organisation=world.other_opc).update(capacity=0)
    for i in range(2):
        open_tender(world, title=f"A{i}", required_skills=[])
    ok(apis.operator.post(f"{BASE}/runs"), 201)
    small = (query_count(apis.opc, f"{BASE}/offers"), query_count(apis.operator, f"{BASE}/runs"))
    for i in range(6):
        open_tender(world, title=f"B{i}", required_skills=[])
    ok(apis.operator.post(f"{BASE}/runs"), 201)
    assert ok(apis.opc.get(f"{BASE}/offers"))["count"] == 8
    big = (query_count(apis.opc, f"{BASE}/offers"), query_count(apis.operator, f"{BASE}/runs"))
    assert big == small, (small, big)


def test_recommendation_query_count_is_bounded(apis: Apis, world: World) -> None:
    order = open_tender_via_api(apis, required_skills=[])
    small = query_count(apis.client, f"{BASE}/orders/{order}/recommendations")
    for i in range(6):
        extra = make_org(OrgKind.OPC, f"工作室{i}", make_user(f"extra{i}"), community=world.community)
        set_profile(api_for(extra.memberships.get().user, extra), ["ai-short-drama"])
    assert len(ok(apis.client.get(f"{BASE}/orders/{order}/recommendations"))) == 8
    assert query_count(apis.client, f"{BASE}/orders/{order}/recommendations") == small
