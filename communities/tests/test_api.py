from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from accounts.services import issue_api_token
from communities.models import Community, Residency, SiteStatement, Workstation
from communities.services import revoke_site_statement
from communities.tests.helpers import assigned, issued, verify
from core.testing import World

BASE = "/api/communities"


class Api:
    """A JSON client acting with a personal access token."""

    def __init__(self, client: Client, secret: str | None = None) -> None:
        self.client = client
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}

    def get(self, path: str, **params: Any):  # type: ignore[no-untyped-def]
        return self.client.get(BASE + path, params, **self.headers)

    def post(self, path: str, body: Any, **extra: str):  # type: ignore[no-untyped-def]
        data = body if isinstance(body, str) else json.dumps(body)
        return self.client.post(BASE + path, data, content_type="application/json", **self.headers, **extra)


def api_for(client: Client, user, org) -> Api:  # type: ignore[no-untyped-def]
    _token, secret = issue_api_token(user=user, organisation=org, name="test")
    return Api(client, secret)


@pytest.fixture
def operator_api(client: Client, world: World) -> Api:
    return api_for(client, world.operator_user, world.operator)


def counts() -> tuple[int, int, int, int]:
    return (
        Community.objects.count(),
        Workstation.objects.count(),
        Residency.objects.count(),
        SiteStatement.objects.count(),
    )


# -- public ----------------------------------------------------------------------------------------------------------
def test_public_list_and_detail(client: Client, world: World) -> None:
    assigned(world)
    api = Api(client)
    response = api.get("/")
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()}
    assert rows["OPC云创Labo"]["workstations"] == 3
    assert rows["OPC云创Labo"]["occupied"] == 1
    assert rows["OPC云创Labo"]["occupancy_rate"] == 33.3
    assert [r["name"] for r in api.get("/", city="温州市").json()] == ["麦腾智联科创园"]
    response = api.get(f"/{world.community.pk}")
    assert response.status_code == 200
    assert response.json()["land_use"] == "education"
    assert api.get("/999999").status_code == 404
    world.community.is_public = False
    world.community.save()
    assert api.get(f"/{world.community.pk}").status_code == 404


def test_public_statement_verification(client: Client, world: World) -> None:
    statement = issued(world)
    api = Api(client)
    response = api.get(f"/statements/{statement.code}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "valid"
    assert body["facts"]["community"] == "OPC云创Labo"
    assert body["pdf_sha256"] == statement.pdf_sha256
    revoke_site_statement(statement=statement, reason="企业已迁出", actor=world.operator_user)
    body = api.get(f"/statements/{statement.code.lower()}").json()
    assert body["status"] == "revoked" and body["revoked_reason"] == "企业已迁出"
    response = api.get("/statements/NOPENOPENOPE")
    assert response.status_code == 404
    assert "detail" in response.json()


# -- operator --------------------------------------------------------------------------------------------------------
def test_operator_flow(operator_api: Api, world: World) -> None:
    response = operator_api.get("/managed")
    assert response.status_code == 200
    assert [c["name"] for c in response.json()] == ["OPC云创Labo"]

    response = operator_api.post(
        "/managed",
        {
            "name": "江夏必择社区",
            "city": "宁波市",
            "district": "海曙区",
            "address": "江夏街8号",
            "land_use": "warehouse",
            "sectors": ["cross-border-ecommerce"],
        },
    )
    assert response.status_code == 201, response.content
    community_id = response.json()["id"]
    assert response.json()["sectors"] == ["cross-border-ecommerce"]

    response = operator_api.post(
        f"/managed/{community_id}/workstations", {"zone": "A", "prefix": "A-", "first": 1, "last": 20}
    )
    assert response.status_code == 201
    assert [w["code"] for w in response.json()][:2] == ["A-01", "A-02"]
    workstations = operator_api.get(f"/managed/{community_id}/workstations").json()
    assert len(workstations) == 20

    verify(world.opc)
    response = operator_api.post(
        "/residencies",
        {
            "workstation_id": world.workstations[0].pk,
            "organisation_id": world.opc.pk,
            "start_date": "2026-01-05",
            "monthly_rent": "0",
        },
    )
    assert response.status_code == 201, response.content
    residency_id = response.json()["id"]
    assert response.json()["monthly_rent"] in ("0.00", "0", 0)

    response = operator_api.post(f"/residencies/{residency_id}/statements", {"purpose": "办理许可证"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["verify_url"].endswith(f"/statements/{body['code']}/")
    assert SiteStatement.objects.get(code=body["code"]).pdf_sha256 == body["pdf_sha256"]

    response = operator_api.post(f"/residencies/{residency_id}/end", {"end_date": "2026-03-31"})
    assert response.status_code == 200
    assert response.json()["end_date"] == "2026-03-31"
    assert (
        operator_api.post(f"/residencies/{residency_id}/end", {"end_date": "2026-04-30"}).status_code == 409
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/managed", {"name": "A", "city": "宁波市", "address": "x", "land_use": "castle"}),
        ("/managed", {"name": "A", "city": "宁波市"}),
        ("/managed", {"name": "A", "city": "宁波市", "address": "x", "sectors": ["nope"]}),
        ("/managed", {"name": "A", "city": "宁波市", "address": "x", "network_id": 999999}),
        ("/managed", {"name": "A", "city": "宁波市", "address": "x", "opened_on": "2026-02-30"}),
        ("/managed", {"name": "A", "city": "宁波市", "address": "x", "is_public": "perhaps"}),
        ("/managed", "not json"),
        ("/managed/{c}/workstations", {"prefix": "A-", "first": 1, "last": 3}),  # A-01..03 exist
        ("/managed/{c}/workstations", {"prefix": "B-", "first": 5, "last": 1}),
        ("/managed/{c}/workstations", {"prefix": "B-", "first": 1, "last": 600, "width": 3}),
        ("/managed/{c}/workstations", {"prefix": "B-", "first": "one", "last": 3}),
        ("/managed/999999/workstations", {"prefix": "B-", "first": 1, "last": 3}),
        ("/managed/{oc}/workstations", {"prefix": "B-", "first": 1, "last": 3}),
        ("/residencies", {"workstation_id": "{w}", "organisation_id": "{o}", "start_date": "2026-13-01"}),
        (
            "/residencies",
            {
                "workstation_id": "{w}",
                "organisation_id": "{o}",
                "start_date": "2026-01-05",
                "monthly_rent": "-1",
            },
        ),
        (
            "/residencies",
            {
                "workstation_id": "{w}",
                "organisation_id": "{o}",
                "start_date": "2026-01-05",
                "monthly_rent": "1.001",
            },
        ),
        ("/residencies", {"workstation_id": 999999, "organisation_id": "{o}", "start_date": "2026-01-05"}),
        ("/residencies", {"workstation_id": "{w}", "organisation_id": 999999, "start_date": "2026-01-05"}),
        ("/residencies", {"workstation_id": "{w}", "organisation_id": "{oo}", "start_date": "2026-01-05"}),
        ("/residencies", {"workstation_id": "{ow}", "organisation_id": "{o}", "start_date": "2026-01-05"}),
        ("/residencies/999999/end", {"end_date": "2026-01-05"}),
        ("/residencies/999999/statements", {"purpose": "x"}),
    ],
)
def test_operator_bad_input_is_4xx_and_changes_nothing(
    operator_api: Api, world: World, path: str, body: Any
) -> None:
    verify(world.opc)
    other_ws = world.other_community.workstations.first()
    assert other_ws is not None
    ids = {
        "c": world.community.pk,
        "oc": world.other_community.pk,
        "w": world.workstations[1].pk,
        "o": world.opc.pk,
        "oo": world.other_opc.pk,
        "ow": other_ws.pk,
    }
    path = path.format(**ids)
    if isinstance(body, dict):
        body = {k: (ids[v[1:-1]] if isinstance(v, str) and v.startswith("{") else v) for k, v in body.items()}
    before = counts()
    response = operator_api.post(path, body)
    assert 400 <= response.status_code < 500, (response.status_code, response.content)
    assert "detail" in response.json()
    assert counts() == before


def test_end_before_start_and_unverified_via_api(operator_api: Api, world: World) -> None:
    response = operator_api.post(
        "/residencies",
        {
            "workstation_id": world.workstations[0].pk,
            "organisation_id": world.opc.pk,
            "start_date": "2026-01-05",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert "verif" in response.json()["detail"].lower()
    residency = assigned(world)
    response = operator_api.post(f"/residencies/{residency.pk}/end", {"end_date": "2025-12-31"})
    assert response.status_code == 400
    residency.refresh_from_db()
    assert residency.end_date is None


def test_permissions(client: Client, world: World) -> None:
    anonymous = Api(client)
    assert anonymous.get("/managed").status_code == 401
    assert anonymous.post("/managed", {"name": "A", "city": "宁波市", "address": "x"}).status_code in (
        401,
        403,
    )
    opc_api = api_for(client, world.opc_user, world.opc)
    assert opc_api.get("/managed").status_code == 403
    assert opc_api.post("/managed", {"name": "A", "city": "宁波市", "address": "x"}).status_code == 403
    other = api_for(client, world.other_operator_user, world.other_operator)
    assert other.get(f"/managed/{world.community.pk}/workstations").status_code == 404
    residency = assigned(world)
    assert other.post(f"/residencies/{residency.pk}/statements", {"purpose": "x"}).status_code == 404
    assert other.post(f"/residencies/{residency.pk}/end", {"end_date": "2026-02-01"}).status_code == 404
    assert not SiteStatement.objects.exists()
    bad_token = Api(client, "opc_not-a-real-token")
    assert bad_token.get("/managed").status_code == 401
