"""The subsidies API end to end with personal access tokens: expenses with evidence, review, eligibility with
its trace, consent, a batch through to distribution, shares and reports."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.services import issue_api_token
from core.testing import World
from subsidies.tests.helpers import HAISHU, SELLER, invoice_number, pdf_file

pytestmark = pytest.mark.django_db
BASE = "/api/subsidies"


class Api:
    def __init__(self, user: Any, org: Any) -> None:
        _token, secret = issue_api_token(user=user, organisation=org, name="test")
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}", "HTTP_ACCEPT_LANGUAGE": "en"}

    def get(self, path: str) -> Any:
        return self.client.get(BASE + path, **self.headers)

    def send(self, method: str, path: str, body: Any = None) -> Any:
        call = getattr(self.client, method)
        if body is None:
            return call(BASE + path, **self.headers)
        return call(BASE + path, data=body, content_type="application/json", **self.headers)


def test_expenses_eligibility_consent_batch_and_reports(world: World) -> None:
    member = Api(world.opc_user, world.opc)
    operator = Api(world.operator_user, world.operator)
    authority = Api(world.authority_user, world.authority)

    body = {
        "category": "compute.training",
        "amount": "4000.00",
        "spent_on": "2026-03-03",
        "seller_name": "杭州某智算中心有限公司",
        "seller_uscc": SELLER,
        "invoice_number": invoice_number(),
    }
    created = member.send("post", "/expenses", body)
    assert created.status_code == 201, created.content
    expense = created.json()
    assert expense["status"] == "submitted" and expense["amount"] == "4000.00" and not expense["has_file"]
    again = member.send("post", "/expenses", body)
    assert again.status_code == 409 and "already recorded" in again.json()["detail"]
    bad = member.send("post", "/expenses", {**body, "invoice_number": "12345678", "invoice_code": ""})
    assert bad.status_code == 400

    # approval needs the file
    assert operator.send("post", f"/expenses/{expense['id']}/approve").status_code == 400
    no_file = member.client.post(f"{BASE}/expenses/{expense['id']}/evidence", **member.headers)
    assert no_file.status_code == 400
    upload = member.client.post(
        f"{BASE}/expenses/{expense['id']}/evidence", {"evidence": pdf_file()}, **member.headers
    )
    assert upload.status_code == 200 and upload.json()["has_file"]
    assert [e["id"] for e in operator.get("/review").json()] == [expense["id"]]
    approved = operator.send("post", f"/expenses/{expense['id']}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"

    rows = {r["policy_id"]: r for r in member.get("/eligibility?period=2026-Q1").json()}
    assert rows[HAISHU]["eligible"] and rows[HAISHU]["amount"] == "2000.00"
    assert rows[HAISHU]["operator_applies"] and rows[HAISHU]["consent"] is None
    assert not rows["hangzhou-compute-voucher-2025"]["eligible"]
    detail = member.get(f"/eligibility/{HAISHU}?period=2026-Q1").json()
    parameter = next(s for s in detail["trace"] if s["kind"] == "parameter")
    assert parameter["value"] == "50%" and parameter["effective_from"] == "2025-12-20" and parameter["source"]
    assert any(s["kind"] == "condition" and s["value"] == "海曙区" for s in detail["trace"])
    assert operator.get(f"/members/{world.opc.pk}/eligibility/{HAISHU}?period=2026-Q1").json() == detail
    assert member.get("/eligibility?period=2026-Q7").status_code == 400

    assert member.send("put", f"/consents/{HAISHU}", {"payout": "quota"}).json()["payout"] == "quota"
    assert [c["policy_id"] for c in member.get("/consents").json()] == [HAISHU]

    batch = operator.send("post", "/batches", {"policy_id": HAISHU, "period": "2026-Q1"})
    assert batch.status_code == 201, batch.content
    batch_id = batch.json()["id"]
    assert batch.json()["claimed_amount"] == "2000.00" and batch.json()["lines"][0]["payout"] == "quota"
    assert authority.get(f"/batches/{batch_id}").status_code == 404  # drafts are the operator's
    for step, payload in (
        ("submit", None),
        ("submit", None),
        ("review", {"reference": "受理号 88"}),
        ("approve", {"amount": "1800.00"}),
        ("funds", {"amount": "1800.00", "received_on": timezone.localdate().isoformat()}),
        ("distribute", None),
    ):
        response = operator.send("post", f"/batches/{batch_id}/{step}", payload)
        assert response.status_code == 200, (step, response.content)
    done = response.json()
    assert done["status"] == "distributed" and done["lines"][0]["share"] == "1800.00"
    assert operator.send("post", f"/batches/{batch_id}/cancel").status_code == 409

    share = member.get("/shares").json()[0]
    assert share["share"] == "1800.00" and share["payout"] == "quota"
    assert (share["batch_claimed"], share["batch_received"]) == ("2000.00", "1800.00")
    assert any("50%" in step["text"] for step in share["trace"])

    report = authority.get("/reports").json()
    assert report["distributed"] == "1800.00" and report["by_policy"][0]["policy_id"] == HAISHU
    assert report["by_community"][0]["name"] == world.community.name
    assert authority.get(f"/batches/{batch_id}").json()["pdf_sha256"]
    assert member.send("delete", f"/consents/{HAISHU}").status_code == 204


def test_public_policies() -> None:
    client = Client()
    policies = client.get(f"{BASE}/policies").json()
    assert len(policies) >= 15 and {"hangzhou-compute-voucher-2025", HAISHU} <= {p["id"] for p in policies}
    detail = client.get(f"{BASE}/policies/shenzhen-model-voucher-2025").json()
    assert detail["applicants"] == ["company"] and detail["payouts"] == ["cash"]
    assert {p["name"] for p in detail["parameters"]} == {"rate", "cap", "cap_max"}
    assert client.get(f"{BASE}/policies/nope").status_code == 404


def test_documents(world: World) -> None:
    member = Api(world.opc_user, world.opc)
    operator = Api(world.operator_user, world.operator)
    missing = member.client.post(
        f"{BASE}/documents", {"kind": "compute_contract", "title": "合同"}, **member.headers
    )
    assert missing.status_code == 400
    bad = member.client.post(
        f"{BASE}/documents", {"kind": "nope", "title": "合同", "file": pdf_file()}, **member.headers
    )
    assert bad.status_code == 400
    created = member.client.post(
        f"{BASE}/documents",
        {"kind": "compute_contract", "title": "算力服务合同 2026", "file": pdf_file()},
        **member.headers,
    )
    assert created.status_code == 201, created.content
    document = created.json()
    assert [d["id"] for d in operator.get("/review/documents").json()] == [document["id"]]
    assert (
        Api(world.other_operator_user, world.other_operator)
        .send("post", f"/documents/{document['id']}/approve")
        .status_code
        == 404
    )
    assert operator.send("post", f"/documents/{document['id']}/approve").json()["status"] == "approved"
    assert member.get("/documents").json()[0]["status"] == "approved"
