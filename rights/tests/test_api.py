"""The rights API: multipart registration and checks, evidence, cases and compensation, public verification."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.services import issue_api_token
from core.testing import World, make_org, make_user
from organisations.capabilities import OrgKind, OrgSubkind
from rights.models import Work
from rights.tests.helpers import STATEMENT, image, mirrored_clip, upload, video

pytestmark = pytest.mark.django_db


def _headers(user, org) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"HTTP_AUTHORIZATION": f"Bearer {issue_api_token(user=user, organisation=org, name='t')[1]}"}


def test_register_check_open_case_and_record_compensation(
    world: World, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    opc = _headers(world.opc_user, world.opc)
    form: dict[str, Any] = {k: str(v) for k, v in STATEMENT.items()}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/rights/works", {**form, "title": "《星门》", "file": upload(video(), "ep.mp4")}, **opc
        )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["status"] == "processing" and created["media_kind"] == "video"
    work = client.get(f"/api/rights/works/{created['id']}", **opc).json()
    assert work["status"] == "registered" and work["chain_sequence"] == 1 and work["registration_number"]
    assert [w["id"] for w in client.get("/api/rights/works", **opc).json()] == [created["id"]]

    public = Client().get(f"/api/rights/verify/{work['code']}").json()
    assert public["status"] == "valid" and public["sha256"] == work["sha256"] and "prompts" not in public
    assert Client().get("/api/rights/chain").json() == {
        "ok": True,
        "entries": 1,
        "head_hash": work["entry_hash"],
        "first_broken": None,
        "problems": [],
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/rights/scans",
            {"copies": [upload(mirrored_clip(), "copy.mp4"), upload(image(), "x.png")], "note": "B站"},
            **opc,
        )
    assert response.status_code == 201, response.content
    scan = client.get(f"/api/rights/scans/{response.json()['id']}", **opc).json()
    copy, other = scan["suspects"]
    assert copy["status"] == "done" and other["matches"] == []
    (found,) = copy["matches"]
    assert found["work_id"] == work["id"] and found["mirrored"] and found["segments"][0]["frames"] >= 3
    assert client.get(f"/api/rights/matches/{found['id']}", **opc).json()["votes"] == found["votes"]

    agent = make_user("agent")
    agency = make_org(OrgKind.PROVIDER, "浙东版权代理中心", agent, subkind=OrgSubkind.COPYRIGHT_AGENCY)
    response = client.post(
        f"/api/rights/matches/{found['id']}/case",
        {"agency_id": agency.pk, "agency_share": "12.5", "infringer": "B站 @某UP"},
        content_type="application/json",
        **opc,
    )
    assert response.status_code == 201, response.content
    case = response.json()
    assert case["status"] == "open" and case["agency_share"] == "12.50"

    ag = _headers(agent, agency)
    url = f"/api/rights/cases/{case['id']}"
    assert (
        client.post(
            f"{url}/status", {"status": "accepted"}, content_type="application/json", **ag
        ).status_code
        == 200
    )
    payment = {"amount": "99.99", "payer": "某UP主", "idempotency_key": "receipt-1"}
    first = client.post(f"{url}/compensation", payment, content_type="application/json", **ag)
    again = client.post(f"{url}/compensation", payment, content_type="application/json", **ag)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert (first.json()["agency_amount"], first.json()["creator_amount"]) == ("12.50", "87.49")
    conflict = client.post(
        f"{url}/compensation", {**payment, "amount": "1.00"}, content_type="application/json", **ag
    )
    assert conflict.status_code == 409
    assert (
        client.post(f"{url}/compensation", payment, content_type="application/json", **opc).status_code == 403
    )
    assert (
        client.post(f"{url}/notes", {"text": "已和解"}, content_type="application/json", **ag).status_code
        == 201
    )
    detail = client.get(url, **opc).json()
    assert detail["status"] == "settled" and detail["compensation_total"] == "99.99"
    assert [n["text"] for n in detail["notes"]] == ["已和解"] and len(detail["compensations"]) == 1
    assert [c["id"] for c in client.get("/api/rights/cases", **ag).json()] == [case["id"]]
    bad = client.post(f"{url}/status", {"status": "bogus"}, content_type="application/json", **ag)
    assert bad.status_code == 400


def test_upload_errors_are_400_with_the_reason(world: World) -> None:
    client = Client()
    opc = _headers(world.opc_user, world.opc)
    form: dict[str, Any] = {k: str(v) for k, v in STATEMENT.items()}
    response = client.post(
        "/api/rights/works",
        {**form, "title": "坏文件", "file": upload(b"junk junk", "a.mp4")},
        HTTP_ACCEPT_LANGUAGE="en",
        **opc,
    )
    assert response.status_code == 400 and "not supported" in response.json()["detail"]
    response = client.post("/api/rights/scans", {"note": "x"}, **opc)
    assert response.status_code == 400
    assert not Work.objects.exists()
    client_headers = _headers(world.client_user, world.client)
    assert client.post("/api/rights/scans", {}, **client_headers).status_code == 403
    assert Client().get("/api/rights/verify/NOSUCHCODE12").status_code == 404
