"""The marketplace API end to end, through HTTP only (bearer tokens from ``issue_api_token``): the full loop
with recommendations and ledger balances, a dispute with a split decision, a contest, a direct order,
idempotent funding, refusals (403 / 404 / 409 / 422) and constant query counts."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from django.utils.translation import gettext

from accounts.services import issue_api_token
from core.testing import World, make_org, make_user
from ledger import selectors as ledger_selectors
from marketplace import selectors, services
from marketplace.models import Milestone, Notification, Order, OrderMode, Visibility
from organisations.capabilities import OrgKind, OrgSubkind

from .conftest import bid, future, make_order, open_tender

pytestmark = pytest.mark.django_db

BASE = "/api/marketplace"


class Api:
    """A JSON client acting with a personal access token (English answers unless told otherwise)."""

    def __init__(self, secret: str | None = None, *, language: str = "en") -> None:
        self.client = Client()
        self.headers: dict[str, str] = {"HTTP_ACCEPT_LANGUAGE": language}
        if secret:
            self.headers["HTTP_AUTHORIZATION"] = f"Bearer {secret}"

    @staticmethod
    def url(path: str) -> str:
        return path if path.startswith("/api/") else BASE + path

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(self.url(path), params, **self.headers)

    def post(self, path: str, body: Any = None, *, key: str | None = None, **extra: Any) -> Any:
        headers = dict(self.headers, **extra)
        if key is not None:
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        if body is None:  # no body at all (not an empty multipart form)
            return self.client.generic("POST", self.url(path), b"", **headers)
        data = body if isinstance(body, str) else json.dumps(body)
        return self.client.post(self.url(path), data, content_type="application/json", **headers)

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(
            self.url(path), json.dumps(body), content_type="application/json", **self.headers
        )

    def put(self, path: str, body: Any) -> Any:
        return self.client.put(
            self.url(path), json.dumps(body), content_type="application/json", **self.headers
        )

    def upload(self, path: str, files: dict[str, Any]) -> Any:
        return self.client.post(self.url(path), files, **self.headers)


def api_for(user: Any, org: Any, **kwargs: Any) -> Api:
    _token, secret = issue_api_token(user=user, organisation=org, name="test")
    return Api(secret, **kwargs)


class Apis:
    def __init__(self, w: World) -> None:
        self.client = api_for(w.client_user, w.client)
        self.opc = api_for(w.opc_user, w.opc)
        self.other_opc = api_for(w.other_opc_user, w.other_opc)
        self.operator = api_for(w.operator_user, w.operator)
        self.other_operator = api_for(w.other_operator_user, w.other_operator)
        self.authority = api_for(w.authority_user, w.authority)
        self.provider = api_for(w.provider_user, w.provider)
        self.anon = Api()


@pytest.fixture
def apis(world: World) -> Apis:
    return Apis(world)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.content[:600])
    return response.json()


def order_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "AI 短剧宣传片《甬上》",
        "description": "三集 AI 短剧, 每集 3 分钟",
        "category": "ai-short-drama",
        "required_skills": ["aigc-video"],
        "budget_min": "5000.00",
        "budget_max": "20000.00",
        "deadline": future(40).isoformat(),
        "procurement_method": "inquiry",  # the world's client is a state-owned enterprise
    }
    body.update(overrides)
    return body


def set_profile(
    api: Api, skills: list[str], *, capacity: int = 2, rates: tuple[str, str] | None = None
) -> None:
    body: dict[str, Any] = {
        "founder_name": "",
        "headcount": 1,
        "skills": skills,
        "tags": [],
        "capacity": capacity,
        "listed_publicly": True,
    }
    if rates:
        body["rate_min"], body["rate_max"] = rates
    ok(api.put("/api/organisations/mine/profile", body))


def accounts(api: Api) -> dict[str, Decimal]:
    """code → balance of the caller's ledger accounts (through the ledger API)."""
    return {a["code"]: Decimal(a["balance"]) for a in ok(api.get("/api/ledger/accounts"))}


def available(api: Api) -> Decimal:
    rows = ok(api.get("/api/ledger/accounts"))
    return sum((Decimal(a["balance"]) for a in rows if a["purpose"] == "available"), Decimal("0.00"))


def assert_books_sound() -> None:
    assert ledger_selectors.ledger_is_balanced()
    assert ledger_selectors.total_of_balances() == 0
    assert ledger_selectors.overdrawn_account_ids() == []
    assert selectors.escrow_discrepancies() == []


# ---------------------------------------------------------------------------------------------- the full loop


def test_full_loop_post_recommend_bid_award_fund_deliver_accept_release_review(
    apis: Apis, world: World, settings: Any
) -> None:
    settings.MARKETPLACE_PLATFORM_FEE_RATE = "0.05"
    set_profile(apis.opc, ["ai-short-drama", "aigc-video"], rates=("8000", "15000"))
    set_profile(apis.other_opc, ["ai-short-drama"])

    # the client posts a draft (criteria prefilled or given), edits it and publishes it
    order = ok(apis.client.post("/orders", order_body(acceptance_criteria="每集时长 ≥ 3 分钟")), 201)
    assert order["status"] == "draft" and order["viewer"] == "client"
    assert order["is_procurement"] and order["budget_band"] == "under_100k"
    assert [s["code"] for s in order["required_skills"]] == ["aigc-video"]
    oid = order["id"]
    assert ok(apis.client.patch(f"/orders/{oid}", {"title": "AI 短剧《甬上》"}))["title"] == "AI 短剧《甬上》"
    assert apis.opc.get(f"/orders/{oid}").status_code == 404  # a draft is the client's alone
    assert ok(apis.client.post(f"/orders/{oid}/publish"))["status"] == "open"

    # recommendations: ranked, explained, and the client can invite from them
    recs = ok(apis.client.get(f"/api/dispatch/orders/{oid}/recommendations"))
    assert [r["opc"]["id"] for r in recs][:1] == [world.opc.pk]  # covers both skills, price fits
    assert {r["opc"]["id"] for r in recs} == {world.opc.pk, world.other_opc.pk}
    for r in recs:
        assert abs(sum(f["contribution"] for f in r["factors"]) - r["score"]) < 1e-5
        assert {f["factor"] for f in r["factors"]} >= {"coverage", "price", "load", "newcomer"}
    invited = ok(apis.client.post(f"/orders/{oid}/invitations", {"opc_id": world.opc.pk}))
    assert [o["id"] for o in invited["invited_opcs"]] == [world.opc.pk]

    # OPCs find it and bid
    listed = ok(apis.opc.get("/orders", category="ai-short-drama"))
    assert oid in [o["id"] for o in listed["items"]]
    mine = ok(
        apis.opc.post(f"/orders/{oid}/bids", {"price": "12000.00", "timeline_days": 20, "plan": "分三集"}),
        201,
    )
    theirs = ok(apis.other_opc.post(f"/orders/{oid}/bids", {"price": "9000", "timeline_days": 30}), 201)
    assert mine["status"] == "submitted"
    detail = ok(apis.opc.get(f"/orders/{oid}"))
    assert detail["viewer"] == "opc" and detail["bids"] is None and detail["my_bid"]["id"] == mine["id"]
    bids = ok(apis.client.get(f"/orders/{oid}/bids"))
    assert [b["id"] for b in bids] == [theirs["id"], mine["id"]]  # cheapest first
    assert ok(apis.client.get(f"/orders/{oid}"))["bid_count"] == 2

    # shortlist and award with two milestones
    assert ok(apis.client.post(f"/bids/{mine['id']}/shortlist"))["status"] == "shortlisted"
    milestones = [
        {"title": "剧本与分镜", "amount": "4000.00", "due_date": future(10).isoformat()},
        {
            "title": "成片",
            "amount": "8000.00",
            "due_date": future(30).isoformat(),
            "acceptance_criteria": "1080p",
        },
    ]
    contract = ok(apis.client.post(f"/bids/{mine['id']}/award", {"milestones": milestones}), 201)
    assert contract["price"] == "12000.00" and contract["opc"]["id"] == world.opc.pk
    assert [m["status"] for m in contract["milestones"]] == ["pending", "pending"]
    other_notes = ok(apis.other_opc.get("/notifications"))
    assert "bid_rejected" in [n["kind"] for n in other_notes["items"]]
    cid = contract["id"]
    first, second = (m["id"] for m in contract["milestones"])
    assert ok(apis.opc.get(f"/contracts/{cid}"))["id"] == cid
    assert ok(apis.client.get(f"/orders/{oid}"))["contract"]["id"] == cid

    # fund → deliver → accept → release (5% platform fee)
    funded = ok(apis.client.post(f"/milestones/{first}/fund", key="fund-1"))
    assert funded["status"] == "funded" and funded["funded_amount"] == "4000.00"
    assert ok(apis.client.get(f"/contracts/{cid}"))["escrow_balance"] == "4000.00"
    assert ok(apis.client.get(f"/orders/{oid}"))["status"] == "in_progress"
    delivered = ok(apis.opc.post(f"/milestones/{first}/deliver", {"note": "剧本见附件"}))
    assert delivered["status"] == "delivered"
    released = ok(apis.client.post(f"/milestones/{first}/accept", {"idempotency_key": "accept-1"}))
    assert released["status"] == "released"
    assert released["released_amount"] == "4000.00" and released["fee_amount"] == "200.00"
    assert available(apis.opc) == Decimal("3800.00")
    assert ok(apis.client.get(f"/contracts/{cid}"))["escrow_balance"] == "0.00"

    ok(apis.client.post(f"/milestones/{second}/fund", key="fund-2"))
    ok(apis.opc.post(f"/milestones/{second}/deliver"))
    ok(apis.client.post(f"/milestones/{second}/accept", key="accept-2"))
    assert available(apis.opc) == Decimal("11400.00")  # 12000 − 5%
    done = ok(apis.client.get(f"/contracts/{cid}"))
    assert done["status"] == "completed" and done["escrow_balance"] == "0.00"
    assert ok(apis.client.get(f"/orders/{oid}"))["status"] == "completed"
    client_accounts = accounts(apis.client)
    assert client_accounts[f"contract-{cid}-escrow"] == Decimal("0.00")
    assert available(apis.client) == Decimal("0.00")  # paid in through the (fake) provider, all passed on
    kinds = [n["kind"] for n in ok(apis.opc.get("/notifications"))["items"]]
    assert {"bid_awarded", "milestone_funded", "milestone_released"} <= set(kinds)

    # reviews both ways once the contract is completed; the OPC's reputation counts them
    review = ok(apis.client.post(f"/api/trust/contracts/{cid}/reviews", {"rating": 5, "text": "准时"}), 201)
    assert review["direction"] == "client_to_opc"
    ok(apis.opc.post(f"/api/trust/contracts/{cid}/reviews", {"rating": 4, "text": "付款及时"}), 201)
    assert len(ok(apis.client.get(f"/api/trust/contracts/{cid}/reviews"))) == 2
    reputation = ok(apis.client.get("/api/trust/reputation", opc_ids=[world.opc.pk]))
    assert reputation[0]["score"] == 2  # on time + a good review
    assert_books_sound()


# ---------------------------------------------------------------------------------------------- dispute


def test_dispute_with_split_decision(apis: Apis, world: World) -> None:
    contract = _awarded_via_api(apis, price="10000.00")
    ms = contract["milestones"][0]["id"]
    ok(apis.client.post(f"/milestones/{ms}/fund", key="f"))
    ok(apis.opc.post(f"/milestones/{ms}/deliver", {"note": "v1"}))
    revised = ok(apis.client.post(f"/milestones/{ms}/revision", {"note": "片尾字幕有误"}))
    assert revised["status"] == "revision" and revised["revision_rounds"] == 1
    ok(apis.opc.post(f"/milestones/{ms}/deliver", {"note": "v2"}))

    dispute = ok(apis.client.post(f"/milestones/{ms}/disputes", {"reason": "成片与验收标准不符"}), 201)
    assert dispute["status"] == "open" and dispute["mediator"]["id"] == world.operator.pk
    assert dispute["held"] == "10000.00"
    did = dispute["id"]
    assert ok(apis.client.get(f"/orders/{contract['order_id']}"))["status"] == "disputed"

    # the mediating operator (of the OPC's community) sees and decides it; nobody else may
    listed = ok(apis.operator.get("/disputes", status="open"))
    assert [d["id"] for d in listed["items"]] == [did]
    assert ok(apis.other_operator.get("/disputes"))["count"] == 0
    assert apis.other_operator.get(f"/disputes/{did}").status_code == 404
    assert ok(apis.opc.get(f"/disputes/{did}"))["id"] == did  # a party reads it
    decision = {"amount_to_opc": "3000.00", "note": "部分交付"}
    assert apis.client.post(f"/disputes/{did}/decide", decision, key="d").status_code == 403
    assert apis.other_operator.post(f"/disputes/{did}/decide", decision, key="d").status_code == 404
    assert (
        apis.operator.post(f"/disputes/{did}/decide", {"amount_to_opc": "10000.01"}, key="d").status_code
        == 400
    )
    decided = ok(apis.operator.post(f"/disputes/{did}/decide", decision, key="decide-1"))
    assert decided["status"] == "decided"
    assert (decided["amount_to_opc"], decided["amount_to_client"]) == ("3000.00", "7000.00")
    again = apis.operator.post(f"/disputes/{did}/decide", decision, key="decide-1")
    assert ok(again) == decided  # the same key: same answer, no second posting
    assert apis.operator.post(f"/disputes/{did}/decide", decision, key="other").status_code == 409

    assert available(apis.opc) == Decimal("3000.00")
    assert available(apis.client) == Decimal("7000.00")
    after = ok(apis.client.get(f"/contracts/{contract['id']}"))
    assert after["escrow_balance"] == "0.00" and after["status"] == "completed"
    assert after["milestones"][0]["status"] == "resolved"
    assert after["milestones"][0]["disputes"][0]["amount_to_opc"] == "3000.00"
    assert ok(apis.operator.get(f"/contracts/{contract['id']}"))["id"] == contract["id"]  # the mediator
    assert apis.other_operator.get(f"/contracts/{contract['id']}").status_code == 404
    assert_books_sound()


def _awarded_via_api(apis: Apis, *, price: str) -> dict[str, Any]:
    order = ok(apis.client.post("/orders", order_body()), 201)
    ok(apis.client.post(f"/orders/{order['id']}/publish"))
    b = ok(apis.opc.post(f"/orders/{order['id']}/bids", {"price": price, "timeline_days": 10}), 201)
    return ok(apis.client.post(f"/bids/{b['id']}/award"), 201)


# ---------------------------------------------------------------------------------------------- contest


def test_contest_reward_escrowed_entries_and_winner(apis: Apis, world: World) -> None:
    body = order_body(mode="contest", price="8000.00", title="城市宣传海报悬赏", required_skills=[])
    contest = ok(apis.client.post("/orders", body), 201)
    cid = contest["id"]
    missing = apis.client.post(f"/orders/{cid}/publish")
    assert missing.status_code == 422  # escrowing the reward is a money operation
    assert "Idempotency-Key" in json.dumps(missing.json())
    published = ok(apis.client.post(f"/orders/{cid}/publish", key="pub-1"))
    assert published["status"] == "open" and published["price"] == "8000.00"
    assert ok(apis.client.post(f"/orders/{cid}/publish", key="pub-1"))["status"] == "open"  # replay
    escrow = accounts(apis.client)[f"order-{cid}-escrow"]
    assert escrow == Decimal("8000.00")

    # bids are for tenders only
    assert apis.opc.post(f"/orders/{cid}/bids", {"price": "8000", "timeline_days": 3}).status_code == 400
    mine = ok(
        apis.opc.post(f"/orders/{cid}/entries", {"description": "方案 A", "link": "https://example.cn/a"}),
        201,
    )
    theirs = ok(apis.other_opc.post(f"/orders/{cid}/entries", {"description": "方案 B"}), 201)
    assert apis.opc.post(f"/orders/{cid}/entries", {"description": "again"}).status_code == 409
    assert (
        apis.opc.post(
            f"/orders/{cid}/entries", {"description": "x", "link": "javascript:alert(1)"}
        ).status_code
        == 422
    )
    assert [e["id"] for e in ok(apis.client.get(f"/orders/{cid}/entries"))] == [mine["id"], theirs["id"]]
    assert apis.opc.get(f"/orders/{cid}/entries").status_code == 403
    assert ok(apis.opc.get(f"/orders/{cid}"))["my_entry"]["id"] == mine["id"]
    # a contest with entries cannot be cancelled
    assert apis.client.post(f"/orders/{cid}/cancel", {"reason": "x"}, key="c").status_code == 409

    assert apis.opc.post(f"/entries/{mine['id']}/win", key="w").status_code == 403  # the entrant cannot pick
    assert apis.client.post(f"/entries/{mine['id']}/win").status_code == 422  # no key
    won = ok(apis.client.post(f"/entries/{mine['id']}/win", key="win-1"))
    assert won["status"] == "won"
    assert ok(apis.client.post(f"/entries/{mine['id']}/win", key="win-1")) == won
    assert apis.client.post(f"/entries/{theirs['id']}/win", key="win-2").status_code == 409
    assert available(apis.opc) == Decimal("8000.00")
    assert accounts(apis.client)[f"order-{cid}-escrow"] == Decimal("0.00")
    assert ok(apis.client.get(f"/orders/{cid}"))["status"] == "completed"
    notes = ok(apis.other_opc.get("/notifications"))["items"]
    assert "entry_not_selected" in [n["kind"] for n in notes]
    assert_books_sound()


def test_open_contest_without_entries_is_cancelled_with_a_refund(apis: Apis) -> None:
    contest = ok(apis.client.post("/orders", order_body(mode="contest", price="6000")), 201)
    ok(apis.client.post(f"/orders/{contest['id']}/publish", key="p"))
    assert apis.client.post(f"/orders/{contest['id']}/cancel", {"reason": "取消"}).status_code == 422
    cancelled = ok(
        apis.client.post(f"/orders/{contest['id']}/cancel", {"reason": "取消", "idempotency_key": "r"})
    )
    assert cancelled["status"] == "cancelled"
    assert available(apis.client) == Decimal("6000.00")
    assert_books_sound()


# ---------------------------------------------------------------------------------------------- direct orders


def test_direct_order_decline_reassign_accept(apis: Apis, world: World) -> None:
    body = order_body(mode="direct", price="9000", direct_opc_id=world.opc.pk, title="数字人直播代运营")
    order = ok(apis.client.post("/orders", body), 201)
    oid = order["id"]
    assert order["visibility"] == "invited" and order["direct_opc"]["id"] == world.opc.pk
    ok(apis.client.post(f"/orders/{oid}/publish"))
    assert ok(apis.opc.get(f"/orders/{oid}"))["viewer"] == "opc"
    assert apis.other_opc.get(f"/orders/{oid}").status_code == 404  # invited only
    assert apis.anon.get(f"/orders/{oid}").status_code == 404
    assert apis.client.post(f"/orders/{oid}/accept").status_code == 403  # not the named OPC

    assert ok(apis.opc.post(f"/orders/{oid}/decline", {"reason": "档期已满"}))["status"] == "draft"
    assert "direct_declined" in [n["kind"] for n in ok(apis.client.get("/notifications"))["items"]]
    ok(apis.client.post(f"/orders/{oid}/reassign", {"opc_id": world.other_opc.pk}))
    ok(apis.client.post(f"/orders/{oid}/publish"))
    assert apis.opc.post(f"/orders/{oid}/accept").status_code == 404  # no longer offered to it: invisible
    contract = ok(apis.other_opc.post(f"/orders/{oid}/accept"), 201)
    assert contract["opc"]["id"] == world.other_opc.pk and contract["price"] == "9000.00"
    assert [m["amount"] for m in contract["milestones"]] == ["9000.00"]
    assert apis.other_opc.post(f"/orders/{oid}/accept").status_code == 409


# ---------------------------------------------------------------------------------------------- idempotency


def test_funding_is_idempotent_per_key(apis: Apis) -> None:
    contract = _awarded_via_api(apis, price="5000.00")
    ms = contract["milestones"][0]["id"]
    url = f"/milestones/{ms}/fund"
    missing = apis.client.post(url)
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    clash = apis.client.post(url, {"idempotency_key": "a"}, key="b")
    assert clash.status_code == 422
    assert apis.client.post(url, key="x" * 101).status_code == 422

    first = apis.client.post(url, key="pay-7f3a")
    second = apis.client.post(url, {"idempotency_key": "pay-7f3a"})  # the same key, in the body this time
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["funded_amount"] == "5000.00"
    escrow = ok(apis.client.get(f"/contracts/{contract['id']}"))["escrow_balance"]
    assert escrow == "5000.00"  # one effect
    other_key = apis.client.post(url, key="pay-other")
    assert other_key.status_code == 409
    assert ok(apis.client.get(f"/contracts/{contract['id']}"))["escrow_balance"] == "5000.00"
    assert Milestone.objects.get(pk=ms).funding_key == "pay-7f3a"
    assert_books_sound()


# ---------------------------------------------------------------------------------------------- refusals


def test_refusals_wrong_role_other_tenant_illegal_transition(apis: Apis, world: World) -> None:
    contract = _awarded_via_api(apis, price="8000.00")
    ms = contract["milestones"][0]["id"]
    oid = contract["order_id"]
    with translation.override("en"):
        only_client = gettext("Only the client can fund this milestone.")
    # wrong role (visible, not allowed): 403 with the service's message
    response = apis.opc.post(f"/milestones/{ms}/fund", key="k")
    assert response.status_code == 403 and response.json()["detail"] == only_client
    assert apis.operator.post("/orders", order_body(procurement_method="")).status_code == 403
    assert apis.provider.post("/orders", order_body(procurement_method="")).status_code == 403
    assert apis.opc.get("/disputes").status_code == 403
    assert apis.client.get("/orders/overseen").status_code == 403
    assert apis.operator.get("/contracts").status_code == 403
    assert apis.client.get("/bids/mine").status_code == 403
    open_order = ok(apis.client.post("/orders", order_body(title="另一单")), 201)
    ok(apis.client.post(f"/orders/{open_order['id']}/publish"))
    assert apis.opc.get(f"/orders/{open_order['id']}/bids").status_code == 403
    assert (
        apis.client.post(
            f"/orders/{open_order['id']}/bids", {"price": "6000", "timeline_days": 5}
        ).status_code
        == 403
    )
    assert apis.opc.post(f"/orders/{open_order['id']}/publish").status_code == 403
    assert apis.opc.post(f"/orders/{open_order['id']}/cancel").status_code == 403

    # another tenant's objects: 404
    stranger = make_org(OrgKind.CLIENT, "别家公司", make_user("stranger"), subkind=OrgSubkind.ENTERPRISE)
    other_client = api_for(stranger.memberships.get().user, stranger)
    assert other_client.post(f"/milestones/{ms}/fund", key="k").status_code == 404
    assert other_client.get(f"/contracts/{contract['id']}").status_code == 404
    assert apis.other_opc.get(f"/contracts/{contract['id']}").status_code == 404
    assert apis.other_opc.post(f"/milestones/{ms}/deliver").status_code == 404
    assert other_client.get(f"/orders/{oid}").status_code == 404  # awarded: no longer public
    draft = ok(apis.client.post("/orders", order_body(title="草稿")), 201)
    assert other_client.patch(f"/orders/{draft['id']}", {"title": "x"}).status_code == 404
    assert other_client.post(f"/orders/{draft['id']}/publish").status_code == 404
    assert apis.anon.get(f"/orders/{draft['id']}").status_code == 404
    assert apis.client.get("/orders/999999999").status_code == 404

    # illegal transitions: 409 with a clear message
    assert apis.opc.post(f"/milestones/{ms}/deliver").status_code == 409  # not funded yet
    twice = apis.client.post(f"/orders/{open_order['id']}/publish")
    assert twice.status_code == 409 and "cannot go from" in twice.json()["detail"]
    assert apis.client.patch(f"/orders/{open_order['id']}", {"title": "x"}).status_code == 409
    assert apis.client.post(f"/milestones/{ms}/accept", key="a").status_code == 409

    # anonymous callers of private endpoints: 401; a refused token is 401 on public endpoints too
    assert apis.anon.get("/contracts").status_code == 401
    assert apis.anon.post("/orders", order_body()).status_code == 401
    assert Api("opc_not-a-token").get("/orders").status_code == 401


@pytest.mark.parametrize(
    "overrides",
    [
        {"budget_min": "-1"},
        {"budget_min": "30000"},  # above budget_max
        {"budget_max": "100.001"},  # finer than a fen
        {"budget_max": "abc"},
        {"deadline": "2020-01-01"},
        {"deadline": "tomorrow"},
        {"title": ""},
        {"title": "x" * 201},
        {"category": "no-such-skill"},
        {"required_skills": ["nope"]},
        {"mode": "auction"},
        {"visibility": "secret"},
        {"procurement_method": "bribe"},
        {"community_id": 999999999},
        {"invited_opc_ids": [999999999]},
        {"direct_opc_id": 999999999},
        {"unknown_field": 1},
        {"title": "片名\x00"},  # PostgreSQL cannot store NUL: refused before it gets there
        {"budget_max": "NaN"},
        {"budget_max": "Infinity"},
        {"budget_max": 1e20},
        {"price": "0"},
    ],
)
def test_bad_input_is_422_with_a_localized_message(apis: Apis, overrides: dict[str, Any]) -> None:
    before = Order.objects.count()
    response = apis.client.post("/orders", order_body(**overrides))
    assert response.status_code == 422, response.content
    body = response.json()
    with translation.override("en"):
        assert body["detail"] == gettext(
            "The request does not match the schema; see “errors” for each field."
        )
    assert body["errors"]
    assert Order.objects.count() == before


def test_bad_input_messages_follow_the_language(apis: Apis, world: World) -> None:
    zh = api_for(world.client_user, world.client, language="zh-hans")
    body = zh.post("/orders", order_body(budget_max="x")).json()
    with translation.override("zh-hans"):
        assert body["detail"] == gettext(
            "The request does not match the schema; see “errors” for each field."
        )
    assert body["detail"] != "The request does not match the schema; see “errors” for each field."
    # a service rule (not the schema) answers 400 with its localized message
    response = apis.client.post("/orders", order_body(procurement_method=""))
    assert response.status_code == 400
    with translation.override("en"):
        assert response.json()["detail"] == gettext("Choose the procurement method.")
    assert apis.client.get("/orders", limit=0).status_code == 422
    assert apis.client.get("/orders", mode="auction").status_code == 422
    assert apis.client.get("/orders", q="a\x00b").status_code == 422
    assert apis.client.get("/orders", offset=-1).status_code == 422
    assert apis.client.post("/orders", "{not json").status_code == 400


def test_award_milestones_must_add_up(apis: Apis) -> None:
    order = open_tender_via_api(apis)
    b = ok(apis.opc.post(f"/orders/{order}/bids", {"price": "10000", "timeline_days": 10}), 201)
    wrong = [{"title": "一期", "amount": "4000", "due_date": future(5).isoformat()}]
    response = apis.client.post(f"/bids/{b['id']}/award", {"milestones": wrong})
    assert response.status_code == 400 and "add up" in response.json()["detail"]
    past = [{"title": "一期", "amount": "10000", "due_date": "2020-01-01"}]
    assert apis.client.post(f"/bids/{b['id']}/award", {"milestones": past}).status_code == 422
    assert apis.client.post(f"/bids/{b['id']}/award", {"milestones": []}).status_code == 422
    assert apis.opc.post(f"/bids/{b['id']}/award").status_code == 403  # the bidder cannot award itself
    assert ok(apis.opc.post(f"/bids/{b['id']}/withdraw"))["status"] == "withdrawn"
    assert apis.client.post(f"/bids/{b['id']}/award").status_code == 409
    assert apis.client.post(f"/bids/{b['id']}/withdraw").status_code == 403


def open_tender_via_api(apis: Apis, **overrides: Any) -> int:
    order = ok(apis.client.post("/orders", order_body(**overrides)), 201)
    ok(apis.client.post(f"/orders/{order['id']}/publish"))
    return int(order["id"])


# ---------------------------------------------------------------------------------------------- browse


def test_browse_filters_visibility_and_pagination(apis: Apis, world: World) -> None:
    firm = make_org(OrgKind.CLIENT, "某科技公司", make_user("firm"), subkind=OrgSubkind.ENTERPRISE)
    firm_api = api_for(firm.memberships.get().user, firm)
    cheap = open_tender_via_api(
        apis, title="海报设计", category="design", budget_min="500", budget_max="2000"
    )
    drama = open_tender_via_api(apis, title="短剧A")
    community_only = ok(
        firm_api.post(
            "/orders",
            order_body(
                title="社区内部单",
                procurement_method="",
                visibility="community",
                community_id=world.community.pk,
            ),
        ),
        201,
    )
    ok(firm_api.post(f"/orders/{community_only['id']}/publish"))

    anon = ok(apis.anon.get("/orders"))
    assert anon["count"] == 2 and {o["id"] for o in anon["items"]} == {cheap, drama}
    assert ok(apis.opc.get("/orders"))["count"] == 3  # its community's order too
    assert ok(apis.other_opc.get("/orders"))["count"] == 2
    assert [o["id"] for o in ok(apis.anon.get("/orders", category="design"))["items"]] == [cheap]
    assert [o["id"] for o in ok(apis.anon.get("/orders", budget_min="3000"))["items"]] == [drama]
    assert [o["id"] for o in ok(apis.anon.get("/orders", q="短剧"))["items"]] == [drama]
    assert ok(apis.anon.get("/orders", mode="contest"))["count"] == 0
    page1 = ok(apis.opc.get("/orders", limit=2))
    page2 = ok(apis.opc.get("/orders", limit=2, offset=2))
    assert page1["count"] == 3 and len(page1["items"]) == 2 and len(page2["items"]) == 1
    assert not {o["id"] for o in page1["items"]} & {o["id"] for o in page2["items"]}
    assert page1["items"][0]["id"] == community_only["id"]  # newest first
    assert apis.anon.get(f"/orders/{community_only['id']}").status_code == 404
    assert ok(apis.opc.get(f"/orders/{community_only['id']}"))["viewer"] == "opc"
    # the client sees its own orders, drafts included
    ok(apis.client.post("/orders", order_body(title="草稿")), 201)
    mine = ok(apis.client.get("/orders/mine"))
    assert mine["count"] == 3 and ok(apis.client.get("/orders/mine", status="draft"))["count"] == 1
    # the operator oversees the orders of its communities
    overseen = ok(apis.operator.get("/orders/overseen"))
    assert [o["id"] for o in overseen["items"]] == [community_only["id"]]
    assert ok(apis.operator.get(f"/orders/{community_only['id']}"))["viewer"] == "operator"
    assert ok(apis.operator.get(f"/orders/{drama}"))["viewer"] == "public"


def test_procurement_zone(apis: Apis, world: World) -> None:
    firm = make_org(OrgKind.CLIENT, "某科技公司", make_user("firm"), subkind=OrgSubkind.ENTERPRISE)
    firm_api = api_for(firm.memberships.get().user, firm)
    soe_order = open_tender_via_api(apis, procurement_method="open_tender", budget_max="500000")
    ok(
        firm_api.post(
            f"/orders/{ok(firm_api.post('/orders', order_body(procurement_method='')), 201)['id']}/publish"
        )
    )
    zone = ok(apis.anon.get("/procurement"))
    assert [o["id"] for o in zone["items"]] == [soe_order]
    row = zone["items"][0]
    assert row["procurement_method"] == "open_tender" and row["budget_band"] == "100k_1m"
    assert row["procurement_method_label"] and row["budget_band_label"]
    assert ok(apis.anon.get("/procurement", method="inquiry"))["count"] == 0
    assert ok(apis.anon.get("/procurement", band="100k_1m"))["count"] == 1
    assert apis.anon.get("/procurement", band="huge").status_code == 422


def test_attachments_multipart(apis: Apis) -> None:
    draft = ok(apis.client.post("/orders", order_body()), 201)
    url = f"/orders/{draft['id']}/attachments"
    upload = SimpleUploadedFile("brief.txt", "拍摄脚本".encode(), content_type="text/plain")
    attachment = ok(apis.client.upload(url, {"file": upload}), 201)
    assert attachment["name"] == "brief.txt" and attachment["size"] == len("拍摄脚本".encode())
    assert [a["name"] for a in ok(apis.client.get(f"/orders/{draft['id']}"))["attachments"]] == ["brief.txt"]
    assert apis.client.upload(url, {}).status_code == 422
    ok(apis.client.post(f"/orders/{draft['id']}/publish"))
    other = SimpleUploadedFile("x.txt", b"x", content_type="text/plain")
    assert apis.opc.upload(url, {"file": other}).status_code == 403
    assert apis.other_operator.upload(url, {"file": other}).status_code == 403  # public open order: visible


def test_notifications_list_and_mark_read(apis: Apis, world: World) -> None:
    order = open_tender_via_api(apis)
    ok(apis.opc.post(f"/orders/{order}/bids", {"price": "6000", "timeline_days": 5}), 201)
    ok(apis.other_opc.post(f"/orders/{order}/bids", {"price": "7000", "timeline_days": 5}), 201)
    page = ok(apis.client.get("/notifications"))
    assert page["count"] == page["unread"] == 2
    assert all(n["read_at"] is None and n["text"] for n in page["items"])
    assert "bid" in page["items"][0]["text"]  # rendered in the reader's language (English here)
    first = page["items"][0]["id"]
    foreign = Notification.objects.create(recipient=world.opc, kind="x", message="m")
    marked = ok(apis.client.post("/notifications/read", {"ids": [first, foreign.pk]}))
    assert marked == {"marked": 1, "unread": 1}
    assert ok(apis.client.get("/notifications", unread=True))["count"] == 1
    assert ok(apis.client.post("/notifications/read")) == {"marked": 1, "unread": 0}
    foreign.refresh_from_db()
    assert foreign.read_at is None


def test_openapi_schema_is_typed(apis: Apis) -> None:
    schema = Client().get("/api/openapi.json").json()
    post = schema["paths"]["/api/marketplace/orders"]["post"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    order_in = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"title", "category", "budget_min", "budget_max", "deadline", "mode"} <= set(
        order_in["properties"]
    )
    fund = schema["paths"]["/api/marketplace/milestones/{milestone_id}/fund"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in fund["parameters"]]
    assert {"200", "402", "403", "404", "409", "422"} <= set(fund["responses"])
    upload = schema["paths"]["/api/marketplace/orders/{order_id}/attachments"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]


# ---------------------------------------------------------------------------------------------- query counts


def query_count(api: Api, path: str, **params: Any) -> int:
    ok(api.get(path, **params))  # warm up: a token's first use of the minute records last_used_at
    with CaptureQueriesContext(connection) as ctx:
        ok(api.get(path, **params))
    return len(ctx.captured_queries)


def test_list_and_detail_query_counts_do_not_grow_with_the_data(apis: Apis, world: World) -> None:
    third = make_org(OrgKind.OPC, "第三工作室", make_user("third"), community=world.community)
    opcs = [world.opc, world.other_opc, third]

    def grow(n: int) -> Order:
        last = None
        for i in range(n):
            order = open_tender(world, title=f"短剧 {i}", required_skills=[])
            for opc in opcs:
                bid(world, order, price=f"{6000 + i}.00", opc=opc)
            last = order
        assert last is not None
        return last

    first = grow(2)
    small = {
        "browse": query_count(apis.anon, "/orders"),
        "browse_opc": query_count(apis.opc, "/orders"),
        "procurement": query_count(apis.anon, "/procurement"),
        "mine": query_count(apis.client, "/orders/mine"),
        "detail_client": query_count(apis.client, f"/orders/{first.pk}"),
        "detail_opc": query_count(apis.opc, f"/orders/{first.pk}"),
        "bids": query_count(apis.client, f"/orders/{first.pk}/bids"),
        "my_bids": query_count(apis.opc, "/bids/mine"),
        "notifications": query_count(apis.client, "/notifications"),
    }
    last = grow(8)
    make_order(world, title="草稿")  # drafts and other states do not show up in browse
    big = {
        "browse": query_count(apis.anon, "/orders"),
        "browse_opc": query_count(apis.opc, "/orders"),
        "procurement": query_count(apis.anon, "/procurement"),
        "mine": query_count(apis.client, "/orders/mine"),
        "detail_client": query_count(apis.client, f"/orders/{last.pk}"),
        "detail_opc": query_count(apis.opc, f"/orders/{last.pk}"),
        "bids": query_count(apis.client, f"/orders/{last.pk}/bids"),
        "my_bids": query_count(apis.opc, "/bids/mine"),
        "notifications": query_count(apis.client, "/notifications"),
    }
    assert big == small
    assert max(big.values()) <= 12, big


def test_contract_list_and_detail_query_counts(apis: Apis, world: World) -> None:
    from organisations.models import OPCProfile

    OPCProfile.objects.filter(organisation=world.opc).update(capacity=20)
    specs = [
        services.MilestoneSpec(title=f"M{i}", amount=Decimal("1000"), due_date=future(10 + i))
        for i in range(3)
    ]

    def award() -> int:
        order = open_tender(world, required_skills=[])
        b = bid(world, order, price="3000.00")
        contract = services.award_bid(order=order, bid=b, client=world.client, actor=None, milestones=specs)
        for ms in contract.milestones.all()[:2]:
            services.fund_milestone(milestone=ms, client=world.client, actor=None, idempotency_key="k")
        return contract.pk

    first = award()
    small = (query_count(apis.client, "/contracts"), query_count(apis.opc, f"/contracts/{first}"))
    for _ in range(4):
        last = award()
    big = (query_count(apis.client, "/contracts"), query_count(apis.opc, f"/contracts/{last}"))
    assert big == small and max(big) <= 10, big


# ---------------------------------------------------------------------------------------------- session auth


def test_session_callers_use_the_same_api_with_csrf(world: World) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world.client_user)
    assert browser.get(BASE + "/orders/mine").status_code == 200
    refused = browser.post(BASE + "/orders", json.dumps(order_body()), content_type="application/json")
    assert refused.status_code == 403  # no CSRF token
    assert Order.objects.filter(visibility=Visibility.PUBLIC, mode=OrderMode.TENDER).count() == 0
