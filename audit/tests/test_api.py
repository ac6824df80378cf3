"""API: the audit trail is read-only and scoped (operator: own + members; authority: overseen; others: 403)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from accounts.services import issue_api_token
from audit.models import AuditRecord
from audit.services import record_audit
from core import testing
from core.testing import World
from organisations.models import Organisation

world = testing.world  # the shared test world fixture (core/testing.py)

RECORDS = "/api/audit/records"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def bearer(user: User, organisation: Organisation) -> dict[str, str]:
    _token, secret = issue_api_token(user=user, organisation=organisation, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}", **EN}


def orgs_of(body: dict) -> set[int | None]:
    return {(item["organisation"] or {}).get("id") for item in body["items"]}


def test_operator_sees_own_and_members_records(client: Client, world: World) -> None:
    response = client.get(RECORDS, **bearer(world.operator_user, world.operator))
    assert response.status_code == 200
    body = response.json()
    assert orgs_of(body) == {world.operator.pk, world.opc.pk}
    assert body["count"] == AuditRecord.objects.filter(organisation__in=[world.operator, world.opc]).count()
    item = next(
        i
        for i in body["items"]
        if i["action"] == "organisation.created" and i["organisation"]["id"] == world.opc.pk
    )
    assert item["object_type"] == "organisations.organisation"
    assert item["changes"]["kind"] == "opc"
    assert set(item) == {
        "id",
        "created_at",
        "action",
        "actor",
        "organisation",
        "object_type",
        "object_id",
        "object_repr",
        "summary",
        "changes",
        "request_id",
    }


def test_records_carry_the_actor(client: Client, world: World) -> None:
    record_audit(action="test.acted", actor=world.operator_user, organisation=world.opc, summary="checked")
    body = client.get(f"{RECORDS}?action=test.", **bearer(world.operator_user, world.operator)).json()
    assert body["items"][0]["actor"] == {"id": world.operator_user.pk, "display_name": "operator"}
    assert body["items"][0]["summary"] == "checked"


def test_other_operator_does_not_see_my_members(client: Client, world: World) -> None:
    body = client.get(RECORDS, **bearer(world.other_operator_user, world.other_operator)).json()
    assert orgs_of(body) == {world.other_operator.pk, world.other_opc.pk}
    body = client.get(
        f"{RECORDS}?organisation={world.opc.pk}", **bearer(world.other_operator_user, world.other_operator)
    ).json()
    assert body["count"] == 0


def test_authority_reads_its_city(client: Client, world: World) -> None:
    response = client.get(RECORDS, **bearer(world.authority_user, world.authority))
    assert response.status_code == 200
    seen = orgs_of(response.json())
    assert world.opc.pk in seen
    assert world.other_opc.pk not in seen


@pytest.mark.parametrize("who", ["opc", "client", "provider"])
def test_others_get_403(client: Client, world: World, who: str) -> None:
    response = client.get(RECORDS, **bearer(getattr(world, f"{who}_user"), getattr(world, who)))
    assert response.status_code == 403
    assert "permission" in response.json()["detail"]


def test_anonymous_gets_401(client: Client, world: World) -> None:
    assert client.get(RECORDS).status_code == 401


def test_filters(client: Client, world: World) -> None:
    headers = bearer(world.operator_user, world.operator)
    AuditRecord.objects.create(
        action="test.old",
        organisation=world.opc,
        summary="long ago",
        created_at=timezone.now() - dt.timedelta(days=40),
    )
    record_audit(action="test.new", actor=None, organisation=world.opc, summary="needle in the haystack")

    def actions(query: str) -> list[str]:
        response = client.get(f"{RECORDS}?{query}", **headers)
        assert response.status_code == 200, response.content
        return [i["action"] for i in response.json()["items"]]

    assert set(actions("action=test.")) == {"test.old", "test.new"}
    assert actions("q=needle") == ["test.new"]
    today = timezone.localdate()
    assert actions(f"action=test.&since={today - dt.timedelta(days=1)}") == ["test.new"]
    assert actions(f"action=test.&until={today - dt.timedelta(days=30)}") == ["test.old"]
    assert set(actions(f"organisation={world.operator.pk}")) == {"organisation.created", "api_token.issued"}


def test_pagination(client: Client, world: World) -> None:
    headers = bearer(world.operator_user, world.operator)
    for i in range(5):
        record_audit(action=f"test.n{i}", actor=None, organisation=world.opc)
    everything = client.get(f"{RECORDS}?action=test.", **headers).json()
    assert everything["count"] == 5
    page = client.get(f"{RECORDS}?action=test.&limit=2&offset=2", **headers).json()
    assert (page["count"], page["limit"], page["offset"]) == (5, 2, 2)
    assert [i["id"] for i in page["items"]] == [i["id"] for i in everything["items"][2:4]]
    assert client.get(f"{RECORDS}?action=test.&limit=200&offset=100", **headers).json()["items"] == []


@pytest.mark.parametrize(
    "query",
    [
        "limit=201",
        "limit=0",
        "offset=-1",
        "since=yesterday",
        "until=2026-02-30",
        "organisation=abc",
        f"organisation={10**30}",
        "action=" + "x" * 65,
        "q=" + "x" * 101,
    ],
)
def test_bad_filters_are_422(client: Client, world: World, query: str) -> None:
    response = client.get(f"{RECORDS}?{query}", **bearer(world.operator_user, world.operator))
    assert response.status_code == 422
    assert response.json()["detail"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_there_is_no_write_endpoint(client: Client, world: World, method: str) -> None:
    headers = bearer(world.operator_user, world.operator)
    before = AuditRecord.objects.count()
    response = getattr(client, method)(RECORDS, {}, content_type="application/json", **headers)
    assert response.status_code == 405
    assert AuditRecord.objects.count() == before
