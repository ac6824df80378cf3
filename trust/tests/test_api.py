"""The trust API: reviews, reputation and reliability, price reference, threads and messages, reports and the
operator's queue, credit-profile exports and the public verification."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from accounts.services import issue_api_token
from core.testing import World
from marketplace import services as market
from trust.models import CreditExport, Message, Report, Review, Thread

from .conftest import awarded, completed, open_order

pytestmark = pytest.mark.django_db


class Api:
    def __init__(self, user: Any, org: Any) -> None:
        self.client = Client()
        self.headers = {
            "HTTP_AUTHORIZATION": f"Bearer {issue_api_token(user=user, organisation=org, name='t')[1]}"
        }

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/trust{path}", params, **self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(
            f"/api/trust{path}", data=body or {}, content_type="application/json", **self.headers
        )


def test_reviews_and_reputation(world: World) -> None:
    contract = completed(world)
    client, opc = Api(world.client_user, world.client), Api(world.opc_user, world.opc)
    response = client.post(f"/contracts/{contract.pk}/reviews", {"rating": 5, "text": "很好"})
    assert response.status_code == 201 and response.json()["direction"] == "client_to_opc"
    assert client.post(f"/contracts/{contract.pk}/reviews", {"rating": 4}).status_code == 409
    assert opc.post(f"/contracts/{contract.pk}/reviews", {"rating": 6}).status_code == 422
    assert opc.post(f"/contracts/{contract.pk}/reviews", {"rating": 3}).status_code == 201
    assert len(opc.get(f"/contracts/{contract.pk}/reviews").json()) == 2
    outsider = Api(world.other_opc_user, world.other_opc)
    assert outsider.get(f"/contracts/{contract.pk}/reviews").status_code == 404
    assert outsider.post(f"/contracts/{contract.pk}/reviews", {"rating": 1}).status_code == 404
    assert Review.objects.count() == 2
    reviews = outsider.get(f"/organisations/{world.opc.pk}/reviews").json()
    assert [r["text"] for r in reviews] == ["很好"]
    rep = outsider.get("/reputation", opc_ids=[world.opc.pk, world.other_opc.pk, world.client.pk]).json()
    assert [r["opc_id"] for r in rep] == sorted([world.opc.pk, world.other_opc.pk])
    mine = next(r for r in rep if r["opc_id"] == world.opc.pk)
    assert mine["score"] == 2 and mine["windows"]["90d"]["on_time"] == 1 and mine["on_time_rate"] == "100.0"
    rel = outsider.get(f"/payment-reliability/{world.client.pk}").json()
    assert rel["rate"] == "100.0" and rel["windows"]["all"]["funded_on_time"] == 1 and rel["reviews"] == 1
    assert outsider.get(f"/payment-reliability/{world.operator.pk}").status_code == 404
    assert Client().get("/api/trust/reputation", {"opc_ids": [world.opc.pk]}).status_code == 401


def test_price_reference(world: World) -> None:
    for price in ("8000.00", "9000.00", "10000.00", "11000.00", "12000.00"):
        completed(world, price=price)
    api = Api(world.other_opc_user, world.other_opc)
    body = api.get("/price-reference", category="ai-short-drama", amount="30000").json()
    assert (body["p25"], body["median"], body["p75"], body["count"]) == ("9000.00", "10000.00", "11000.00", 5)
    assert body["flag"] == "far_above" and body["far_above"] == "22000.00"
    assert api.get("/price-reference", category="ai-short-drama", amount="abc").status_code == 400
    assert api.get("/price-reference", category="nope").status_code == 404
    few = api.get("/price-reference", category="design", amount="1").json()
    assert few["enough_data"] is False and few["flag"] == "not_enough_data"


def test_threads_and_messages(world: World) -> None:
    order = open_order(world)
    market.submit_bid(order=order, opc=world.opc, actor=None, price=Decimal("9000"), timeline_days=10)
    opc, client = Api(world.opc_user, world.opc), Api(world.client_user, world.client)
    thread = opc.post("/threads", {"order_id": order.pk}).json()
    assert thread["opc"]["id"] == world.opc.pk and thread["contract_id"] is None
    assert (
        client.post("/threads", {"order_id": order.pk, "opc_id": world.opc.pk}).json()["id"] == thread["id"]
    )
    assert client.post("/threads", {"order_id": order.pk}).status_code == 400
    assert client.post("/threads", {}).status_code == 400
    assert (
        Api(world.other_opc_user, world.other_opc).post("/threads", {"order_id": order.pk}).status_code == 404
    )
    sent = opc.post(f"/threads/{thread['id']}/messages", {"body": "Let's do a private transfer to save fees"})
    assert sent.status_code == 201 and sent.json()["flagged"] is True
    assert sent.json()["flag_terms"] == ["private transfer", "save fees"]
    assert client.post(f"/threads/{thread['id']}/messages", {"body": ""}).status_code == 422
    listed = client.get(f"/threads/{thread['id']}/messages").json()
    assert [m["flagged"] for m in listed] == [True]
    assert [t["id"] for t in client.get("/threads").json()] == [thread["id"]]
    operator = Api(world.operator_user, world.operator)
    assert len(operator.get(f"/threads/{thread['id']}/messages").json()) == 1
    assert operator.post(f"/threads/{thread['id']}/messages", {"body": "x"}).status_code == 403
    flagged = operator.get("/flagged-messages").json()
    assert [m["order_id"] for m in flagged] == [order.pk]
    assert Api(world.other_operator_user, world.other_operator).get("/flagged-messages").json() == []
    assert opc.get("/flagged-messages").status_code == 403
    assert Message.objects.count() == 1 and Thread.objects.count() == 1
    # The contract's thread is the contracted OPC's thread.
    contract = market.award_bid(order=order, bid=order.bids.get(), client=world.client, actor=None)
    assert client.post("/threads", {"contract_id": contract.pk}).json()["contract_id"] == contract.pk


def test_reports(world: World) -> None:
    contract = awarded(world)
    opc = Api(world.opc_user, world.opc)
    created = opc.post(
        "/reports",
        {"target_kind": "contract", "target_id": contract.pk, "reason": "fraud", "details": "拖欠"},
    )
    assert created.status_code == 201 and created.json()["reporter"] is None
    report_id = created.json()["id"]
    assert (
        opc.post(
            "/reports",
            {"target_kind": "contract", "target_id": contract.pk, "reason": "fraud", "details": "再"},
        ).status_code
        == 409
    )
    assert (
        opc.post(
            "/reports", {"target_kind": "bogus", "target_id": contract.pk, "reason": "fraud", "details": "x"}
        ).status_code
        == 422
    )
    assert (
        Api(world.other_opc_user, world.other_opc)
        .post(
            "/reports",
            {"target_kind": "contract", "target_id": contract.pk, "reason": "fraud", "details": "x"},
        )
        .status_code
        == 404
    )
    operator = Api(world.operator_user, world.operator)
    queue = operator.get("/reports").json()
    assert [r["id"] for r in queue] == [report_id] and queue[0]["reporter"]["id"] == world.opc.pk
    assert Api(world.other_operator_user, world.other_operator).get("/reports").json() == []
    assert opc.get("/reports").status_code == 403
    decided = operator.post(f"/reports/{report_id}/decide", {"outcome": "actioned", "note": "已约谈客户"})
    assert decided.status_code == 200 and decided.json()["status"] == "actioned"
    assert (
        operator.post(f"/reports/{report_id}/decide", {"outcome": "dismissed", "note": "x"}).status_code
        == 409
    )
    assert opc.get("/reports/mine").json()[0]["decision_note"] == "已约谈客户"
    assert Report.objects.get().status == "actioned"


def test_credit_exports_and_public_verification(world: World) -> None:
    awarded(world, price="12000.00")
    opc = Api(world.opc_user, world.opc)
    assert (
        opc.post("/credit/exports", {"recipient": "银行", "purpose": "贷款", "consent": False}).status_code
        == 400
    )
    created = opc.post("/credit/exports", {"recipient": "宁波银行", "purpose": "订单贷", "consent": True})
    assert created.status_code == 201
    body = created.json()
    assert body["figures"]["totals"]["value"] == "12000.00" and body["consent"]["revoked_at"] is None
    code, consent_id = body["code"], body["consent"]["id"]
    assert [e["code"] for e in opc.get("/credit/exports").json()] == [code]
    assert opc.get(f"/credit/exports/{body['id']}").json()["pdf_sha256"] == body["pdf_sha256"]
    again = opc.post(f"/credit/consents/{consent_id}/exports")
    assert again.status_code == 201 and again.json()["code"] != code
    public = Client().get(f"/api/trust/credit/verify/{code.lower()}").json()
    assert public["status"] == "valid" and public["figures"]["totals"]["value"] == "12000.00"
    assert opc.post(f"/credit/consents/{consent_id}/revoke").json()["revoked_at"] is not None
    public = Client().get(f"/api/trust/credit/verify/{code}").json()
    assert public["status"] == "revoked" and public["figures"] is None
    assert Client().get("/api/trust/credit/verify/NOPE").status_code == 404
    assert opc.post(f"/credit/consents/{consent_id}/exports").status_code == 409
    assert Api(world.other_opc_user, world.other_opc).get(f"/credit/exports/{body['id']}").status_code == 404
    assert Api(world.client_user, world.client).get("/credit/exports").status_code == 403
    assert CreditExport.objects.count() == 2


def test_schemas_have_their_own_names_in_the_openapi_document(client: Client) -> None:
    """Ninja keys components by class name: the trust schemas are prefixed so no other app's schema of the
    same name replaces them in the documentation."""
    components = client.get("/api/openapi.json").json()["components"]["schemas"]
    assert "direction" in components["TrustReviewOut"]["properties"]
    assert "flag_terms" in components["TrustMessageOut"]["properties"]
    assert "reported" in components["TrustReportOut"]["properties"]
