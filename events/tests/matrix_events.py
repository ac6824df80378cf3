"""Permission-matrix rows for the events pages and API (see ``tests/test_permission_matrix.py``).

Objects (``o.extra``, built through the real services): a published event of ``world.operator`` (2 seats,
1:1 meetings) with the OPC's registration, a visitor's registration and an invited investor; the OPC's
roadshow application with a deck; a computed meeting schedule; an investment intent in the OPC with a term
sheet; an order of ``world.client`` that did not come from the event; a video competition in judging with
the OPC's entry and ``world.client_user`` as its judge.

Who may do what: organiser pages need ``community.manage`` (OPCs, clients and authorities: 403) and belong
to the organising operator (another operator: 404). Tickets are reached by their signed code, like a paper
ticket (anyone holding it). Dashboards are for operators and authorities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from events import services, tickets
from events.models import (
    Competition,
    Event,
    InvestmentIntent,
    MeetingRun,
    Registration,
    RoadshowApplication,
    Submission,
)
from events.tests.helpers import MP4, PDF, guest, investor, make_competition, make_event
from marketplace.models import Order
from organisations.models import Skill


@dataclass
class EventObjects:
    event: Event
    reg: Registration
    ticket: str
    guest: Registration
    guest_ticket: str
    application: RoadshowApplication
    run: MeetingRun
    intent: InvestmentIntent
    order: Order
    competition: Competition
    entry: Submission


def setup(o: Any) -> EventObjects:
    w = o.world
    event = make_event(w, capacity=2)
    reg = services.register(event=event, name="刘十万", actor=w.opc_user, organisation=w.opc)
    visitor = guest(event, 1)
    host = investor(event, w)
    services.update_preferences(registration=reg, actor=w.opc_user, ratings={host.pk: 3})
    application = services.apply_for_roadshow(
        event=event,
        organisation=w.opc,
        actor=w.opc_user,
        title="《星门》",
        pitch="AI 科幻短剧",
        deck=SimpleUploadedFile("deck.pdf", PDF),
    )
    run = services.run_scheduler(event=event, actor=w.operator_user)
    intent = services.record_intent(
        event=event,
        opc=w.opc,
        actor=w.operator_user,
        amount="500000",
        investor=host,
        term_sheet=SimpleUploadedFile("ts.pdf", PDF),
    )
    order = Order.objects.create(
        client=w.client,
        title="无关订单",
        category=Skill.objects.get(code="design"),
        budget_min=1,
        budget_max=2,
        deadline=timezone.localdate(),
    )
    competition = make_competition(w, judges=[w.client_user])
    entry = services.submit_entry(
        competition=competition,
        organisation=w.opc,
        actor=w.opc_user,
        title="楠溪江",
        video=SimpleUploadedFile("v.mp4", MP4),
        ai_tools="可灵",
        original=True,
    )
    competition = services.set_competition_status(
        competition=competition, target="judging", actor=w.operator_user
    )
    return EventObjects(
        event=event,
        reg=reg,
        ticket=tickets.sign(reg.code),
        guest=visitor,
        guest_ticket=tickets.sign(visitor.code),
        application=application,
        run=run,
        intent=intent,
        order=order,
        competition=competition,
        entry=entry,
    )


def _event(o: Any) -> dict[str, int]:
    return {"pk": o.extra.event.pk}


def _ticket(o: Any) -> dict[str, str]:
    return {"code": o.extra.ticket}


def _competition(o: Any) -> dict[str, int]:
    return {"pk": o.extra.competition.pk}


ORGANISER = "L F A N F F F"
DASHBOARD = "L F A A F A F"

#   name: (method, kwargs(o) -> dict, data(o) -> dict, "anon opc operator other_operator other_opc authority client")
PAGES: dict[str, tuple[str, Any, Any, str]] = {
    "events:list": ("GET", None, None, "A A A A A A A"),
    "events:detail": ("GET", _event, None, "A A A A A A A"),
    "events:register": (
        "POST",
        _event,
        lambda o: {"role": "attendee", "name": "来宾", "contact": "13700000000"},
        "A A A A A A A",
    ),
    "events:roadshow_apply": ("GET", _event, None, "L A F F A F F"),
    "events:ticket": ("GET", _ticket, None, "A A A A A A A"),
    "events:ticket_qr": ("GET", _ticket, None, "A A A A A A A"),
    "events:ticket_ics": ("GET", _ticket, None, "A A A A A A A"),
    "events:ticket_cancel": ("POST", lambda o: {"code": o.extra.guest_ticket}, None, "A A A A A A A"),
    "events:ticket_preferences": ("GET", _ticket, None, "A A A A A A A"),
    "events:mine": ("GET", None, None, "L A A A A A A"),
    "events:roadshow_withdraw": ("POST", lambda o: {"pk": o.extra.application.pk}, None, "L A N N N N N"),
    "events:roadshow_deck": ("GET", lambda o: {"pk": o.extra.application.pk}, None, "L A A N N N N"),
    "events:manage_list": ("GET", None, None, "L F A A F F F"),
    "events:manage_detail": ("GET", _event, None, ORGANISER),
    "events:manage_edit": ("GET", _event, None, ORGANISER),
    "events:manage_status": ("POST", _event, lambda o: {"target": "closed"}, ORGANISER),
    "events:partner_add": (
        "POST",
        _event,
        lambda o: {"role": "investor", "name": "赵总", "organisation_name": "瓯江资本"},
        ORGANISER,
    ),
    "events:registrations_xlsx": ("GET", _event, None, ORGANISER),
    "events:registration_cancel": ("POST", lambda o: {"pk": o.extra.guest.pk}, None, ORGANISER),
    "events:checkin": ("GET", _event, None, ORGANISER),
    "events:checkin_code": ("GET", _ticket, None, ORGANISER),
    "events:roadshow_manage": ("GET", _event, None, ORGANISER),
    "events:roadshow_decide": (
        "POST",
        lambda o: {"pk": o.extra.application.pk},
        lambda o: {"decision": "selected"},
        ORGANISER,
    ),
    "events:schedule": ("GET", _event, None, ORGANISER),
    "events:schedule_publish": ("POST", lambda o: {"pk": o.extra.run.pk}, None, ORGANISER),
    "events:outcomes": ("GET", _event, None, ORGANISER),
    "events:outcome_link": ("POST", _event, lambda o: {"order": o.extra.order.pk}, ORGANISER),
    "events:outcome_draft": ("POST", _event, lambda o: {"title": "x"}, ORGANISER),
    "events:outcome_intent": ("POST", _event, lambda o: {"investor_name": "x"}, ORGANISER),
    "events:intent_status": (
        "POST",
        lambda o: {"pk": o.extra.intent.pk},
        lambda o: {"target": "signed"},
        ORGANISER,
    ),
    "events:intent_term_sheet": ("GET", lambda o: {"pk": o.extra.intent.pk}, None, "L A A N N N N"),
    "events:competition_list": ("GET", None, None, "A A A A A A A"),
    "events:competition_detail": ("GET", _competition, None, "A A A A A A A"),
    "events:competition_submit": ("GET", _competition, None, "L A F F A F F"),
    "events:judging": ("GET", _competition, None, "L F F F F F A"),
    "events:submission_withdraw": ("POST", lambda o: {"pk": o.extra.entry.pk}, None, "L A N N N N N"),
    "events:submission_video": ("GET", lambda o: {"pk": o.extra.entry.pk}, None, "L A A N N N A"),
    "events:submission_score": ("GET", lambda o: {"pk": o.extra.entry.pk}, None, "L N N N N N A"),
    "events:competition_manage_list": ("GET", None, None, "L F A A F F F"),
    "events:competition_manage": ("GET", _competition, None, ORGANISER),
    "events:criterion_add": ("POST", _competition, lambda o: {"name": "配乐", "weight": "1"}, ORGANISER),
    "events:judge_add": ("POST", _competition, lambda o: {"login": o.world.provider_user.email}, ORGANISER),
    "events:award_add": (
        "POST",
        _competition,
        lambda o: {"name": "金奖", "rank_from": "1", "rank_to": "1"},
        ORGANISER,
    ),
    "events:competition_status": ("POST", _competition, lambda o: {"target": "cancelled"}, ORGANISER),
    "events:org_badges": ("GET", lambda o: {"org_pk": o.world.opc.pk}, None, "A A A A A A A"),
    "events:dashboard": ("GET", None, None, DASHBOARD),
    "events:dashboard_xlsx": ("GET", None, None, DASHBOARD),
    "events:figure_rows": ("GET", lambda o: {"key": "workstations"}, None, DASHBOARD),
    "events:figure_xlsx": ("GET", lambda o: {"key": "orders"}, None, DASHBOARD),
}

#   (method, path): (path params(o) -> dict, json body(o) -> dict | None, "anon opc operator …")
API: dict[tuple[str, str], tuple[Any, Any, str]] = {
    ("GET", "/api/events/"): (None, None, "A A A A A A A"),
    ("GET", "/api/events/{event_id}"): (lambda o: {"event_id": o.extra.event.pk}, None, "A A A A A A A"),
    ("GET", "/api/events/competitions"): (None, None, "A A A A A A A"),
    ("GET", "/api/events/competitions/{competition_id}/results"): (
        lambda o: {"competition_id": o.extra.competition.pk},
        None,
        "A A A A A A A",
    ),
    ("POST", "/api/events/{event_id}/registrations"): (
        lambda o: {"event_id": o.extra.event.pk},
        lambda o: {"name": "来宾"},
        "L A A A A A A",
    ),
    ("GET", "/api/events/registrations/mine"): (None, None, "L A A A A A A"),
    ("POST", "/api/events/registrations/{registration_id}/cancel"): (
        lambda o: {"registration_id": o.extra.reg.pk},
        None,
        "L A N N N N N",
    ),
    ("GET", "/api/events/managed"): (None, None, "L F A A F F F"),
    ("POST", "/api/events/managed"): (
        None,
        lambda o: {
            "title": "路演日",
            "venue": "报告厅",
            "starts_at": o.extra.event.starts_at.isoformat(),
            "ends_at": o.extra.event.ends_at.isoformat(),
            "capacity": 10,
        },
        "L F A A F F F",
    ),
    ("GET", "/api/events/managed/{event_id}/registrations"): (
        lambda o: {"event_id": o.extra.event.pk},
        None,
        ORGANISER,
    ),
    ("POST", "/api/events/managed/{event_id}/checkin"): (
        lambda o: {"event_id": o.extra.event.pk},
        lambda o: {"code": o.extra.ticket},
        ORGANISER,
    ),
    ("POST", "/api/events/managed/{event_id}/schedule"): (
        lambda o: {"event_id": o.extra.event.pk},
        None,
        ORGANISER,
    ),
    ("GET", "/api/events/managed/{event_id}/schedule"): (
        lambda o: {"event_id": o.extra.event.pk},
        None,
        ORGANISER,
    ),
    ("GET", "/api/events/dashboard"): (None, None, DASHBOARD),
    ("GET", "/api/events/dashboard/{key}/rows"): (lambda o: {"key": "residents"}, None, DASHBOARD),
}
