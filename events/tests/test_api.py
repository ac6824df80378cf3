"""The events API: public reads, signing up with a token, the organiser's endpoints, dashboards."""

from __future__ import annotations

from typing import Any

from django.test import Client

from accounts.services import issue_api_token
from core.testing import World
from events import services, tickets
from events.models import Event, Registration
from events.tests.helpers import guest, investor, make_competition, make_event, start_time


def bearer(user: Any, org: Any) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {issue_api_token(user=user, organisation=org, name='t')[1]}"}


def test_public_events_and_detail(client: Client, world: World) -> None:
    event = make_event(world, capacity=1)
    guest(event, 1)
    guest(event, 2)
    listed = client.get("/api/events/").json()
    assert [e["id"] for e in listed] == [event.pk]
    assert listed[0]["confirmed"] == 1 and listed[0]["waitlisted"] == 1
    assert client.get(f"/api/events/{event.pk}").status_code == 200
    draft = make_event(world, publish=False)
    assert client.get(f"/api/events/{draft.pk}").status_code == 404


def test_sign_up_cancel_and_promotion_with_a_token(client: Client, world: World) -> None:
    event = make_event(world, capacity=1)
    first = guest(event, 1)
    headers = bearer(world.opc_user, world.opc)
    response = client.post(
        f"/api/events/{event.pk}/registrations",
        data={"name": "刘十万", "interests": ["ai-short-drama"]},
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "waitlisted" and body["waitlist_position"] == 1
    assert tickets.parse(body["ticket"])[1]
    again = client.post(
        f"/api/events/{event.pk}/registrations",
        data={"name": "刘"},
        content_type="application/json",
        **headers,
    )
    assert again.status_code == 409
    mine = client.get("/api/events/registrations/mine", **headers).json()
    assert [r["id"] for r in mine] == [body["id"]]
    # The visitor's seat frees: the OPC moves up.
    services.cancel_registration(registration=first, actor=None)
    assert Registration.objects.get(pk=body["id"]).status == "confirmed"
    cancelled = client.post(f"/api/events/registrations/{body['id']}/cancel", **headers).json()
    assert cancelled["cancelled"]["status"] == "cancelled"
    assert client.post(f"/api/events/registrations/{first.pk}/cancel", **headers).status_code == 404


def test_organiser_endpoints(client: Client, world: World) -> None:
    headers = bearer(world.operator_user, world.operator)
    start = start_time()
    created = client.post(
        "/api/events/managed",
        data={
            "title": "路演日",
            "kind": "roadshow",
            "venue": "报告厅",
            "starts_at": start.isoformat(),
            "ends_at": start.replace(hour=18).isoformat(),
            "capacity": 30,
            "community_id": world.community.pk,
            "meetings_start": start.replace(hour=15).isoformat(),
            "meeting_slots": 4,
            "tables": 2,
        },
        content_type="application/json",
        **headers,
    )
    assert created.status_code == 201, created.content
    event = Event.objects.get(pk=created.json()["id"])
    foreign = client.post(
        "/api/events/managed",
        data={
            "title": "x",
            "venue": "y",
            "starts_at": start.isoformat(),
            "ends_at": start.replace(hour=18).isoformat(),
            "capacity": 1,
            "community_id": world.other_community.pk,
        },
        content_type="application/json",
        **headers,
    )
    assert foreign.status_code == 404
    services.set_event_status(event=event, target="published", actor=world.operator_user)
    reg = guest(event, 1)
    investor(event, world)
    regs = client.get(f"/api/events/managed/{event.pk}/registrations", **headers).json()
    assert {r["contact"] for r in regs} >= {reg.contact}
    code = tickets.sign(reg.code)
    ok = client.post(
        f"/api/events/managed/{event.pk}/checkin",
        data={"code": code},
        content_type="application/json",
        **headers,
    )
    assert ok.status_code == 200 and ok.json()["checked_in_at"]
    twice = client.post(
        f"/api/events/managed/{event.pk}/checkin",
        data={"code": code},
        content_type="application/json",
        **headers,
    )
    assert twice.status_code == 409 and reg.name in twice.json()["detail"]
    assert client.get(f"/api/events/managed/{event.pk}/schedule", **headers).status_code == 404
    services.update_preferences(
        registration=reg, actor=None, ratings={Registration.objects.get(role="investor").pk: 2}
    )
    run = client.post(f"/api/events/managed/{event.pk}/schedule", **headers)
    assert run.status_code == 201 and len(run.json()["meetings"]) == 1
    assert client.get(f"/api/events/managed/{event.pk}/schedule", **headers).json()["id"] == run.json()["id"]
    other = bearer(world.other_operator_user, world.other_operator)
    assert client.get(f"/api/events/managed/{event.pk}/registrations", **other).status_code == 404


def test_competitions_and_dashboard(client: Client, world: World) -> None:
    make_competition(world)
    assert len(client.get("/api/events/competitions").json()) == 1
    headers = bearer(world.authority_user, world.authority)
    figures = client.get("/api/events/dashboard", **headers).json()
    keys = {f["key"] for f in figures}
    assert {"workstations", "orders", "fill_rate", "event_signups"} <= keys
    rows = client.get("/api/events/dashboard/workstations/rows", **headers).json()
    assert len(rows["rows"]) == int(rows["figure"]["value"]) == 3
    assert client.get("/api/events/dashboard", **bearer(world.opc_user, world.opc)).status_code == 403
    narrowed = client.get(f"/api/events/dashboard?community={world.community.pk}", **headers).json()
    assert {f["key"]: f["value"] for f in narrowed}["workstations"] == "3"
    assert client.get("/api/events/dashboard?community=abc", **headers).status_code == 404
    assert (
        client.get("/api/events/dashboard/workstations/rows?community=999999", **headers).status_code == 404
    )
