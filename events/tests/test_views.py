"""Event, ticket, check-in, schedule, outcome and competition pages through the Django test client."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.testing import World, make_user
from events import services, tickets
from events.models import Event, EventOrder, InvestmentIntent, Registration, RegistrationStatus, Submission
from events.tests.helpers import MP4, PDF, client_org, guest, investor, make_competition, make_event, opc
from marketplace.models import Order
from organisations.models import Skill


def login(client: Client, user: object) -> Client:
    client.force_login(user)  # type: ignore[arg-type]
    return client


# -- public -----------------------------------------------------------------------------------------------------------
def test_public_list_and_detail_hide_drafts(client: Client, world: World) -> None:
    shown = make_event(world, title="公开对接会")
    draft = make_event(world, title="草稿对接会", publish=False)
    page = client.get(reverse("events:list"))
    assert page.status_code == 200
    assert "公开对接会" in page.text and "草稿对接会" not in page.text
    assert client.get(reverse("events:detail", args=[shown.pk])).status_code == 200
    assert client.get(reverse("events:detail", args=[draft.pk])).status_code == 404
    login(client, world.operator_user)
    assert client.get(reverse("events:detail", args=[draft.pk])).status_code == 200


def test_visitor_signs_up_and_lands_on_the_ticket_then_the_waitlist(client: Client, world: World) -> None:
    event = make_event(world, capacity=1)
    url = reverse("events:register", args=[event.pk])
    first = client.post(url, {"role": "attendee", "name": "徐鼎轩", "contact": "13912345678"})
    reg = Registration.objects.get(name="徐鼎轩")
    assert first.status_code == 302 and first["Location"] == reverse(
        "events:ticket", args=[tickets.sign(reg.code)]
    )
    second = client.post(url, {"role": "attendee", "name": "陈", "contact": "chen@example.cn"}, follow=True)
    waiting = Registration.objects.get(name="陈")
    assert waiting.status == RegistrationStatus.WAITLISTED
    assert 'data-status="waitlisted"' in second.text and 'data-testid="waitlist-position"' in second.text
    # A visitor cannot pretend to be a host; a bad contact is a form error, nothing is created.
    bad = client.post(url, {"role": "investor", "name": "x", "contact": "1"})
    assert bad.status_code == 400 and Registration.objects.count() == 2


def test_organiser_filters_the_sign_ups_and_sees_waitlist_positions(client: Client, world: World) -> None:
    event = make_event(world, capacity=2)
    first, second, third, fourth = (guest(event, n) for n in range(1, 5))
    services.check_in(event=event, code_text=tickets.sign(first.code), actor=world.operator_user)
    login(client, world.operator_user)
    url = reverse("events:manage_detail", args=[event.pk])

    def shown(**params: str) -> set[str]:
        page = client.get(url, params)
        assert page.status_code == 200
        return {r.name for r in (first, second, third, fourth) if f'data-testid="reg-{r.pk}"' in page.text}

    everyone = client.get(url)
    # The waitlist shows each person's place in line.
    assert f'data-testid="waitlist-position-{third.pk}"' in everyone.text
    assert f'data-testid="waitlist-position-{fourth.pk}"' in everyone.text
    assert f'data-testid="waitlist-position-{second.pk}"' not in everyone.text
    assert shown() == {"来宾1", "来宾2", "来宾3", "来宾4"}
    assert shown(status="waitlisted") == {"来宾3", "来宾4"}
    assert shown(status="checked_in") == {"来宾1"}
    assert shown(status="not_checked_in") == {"来宾2"}
    assert shown(q=fourth.contact[-6:]) == {"来宾4"}
    assert shown(q="来宾", status="confirmed") == {"来宾1", "来宾2"}
    # An unknown filter value shows everyone; a search that matches nobody says so.
    assert shown(status="<script>") == {"来宾1", "来宾2", "来宾3", "来宾4"}
    nobody = client.get(url, {"q": "不存在的人"})
    assert nobody.status_code == 200 and 'data-testid="attendee-filter-count"' in nobody.text


def test_ticket_qr_ics_and_cancel(client: Client, world: World) -> None:
    event = make_event(world, capacity=1)
    reg, waiting = guest(event, 1), guest(event, 2)
    code = tickets.sign(reg.code)
    page = client.get(reverse("events:ticket", args=[code]))
    assert page.status_code == 200 and code in page.text
    qr = client.get(reverse("events:ticket_qr", args=[code]))
    assert qr.status_code == 200 and qr["Content-Type"] == "image/svg+xml" and b"<svg" in qr.content
    # The QR image encodes the absolute check-in URL (same generator, same input → same image).
    import qrcode
    import qrcode.image.svg

    expected = qrcode.make(
        "http://testserver" + reverse("events:checkin_code", args=[code]),
        image_factory=qrcode.image.svg.SvgPathImage,
        box_size=10,
        border=2,
    ).to_string(encoding="unicode")
    assert qr.text == expected
    assert client.get(reverse("events:ticket", args=[reg.code + "-AAAAAAAA"])).status_code == 404
    ics = client.get(reverse("events:ticket_ics", args=[code]))
    assert ics.status_code == 200 and ics.content.startswith(b"BEGIN:VCALENDAR\r\n")
    response = client.post(reverse("events:ticket_cancel", args=[code]))
    assert response.status_code == 302
    assert Registration.objects.get(pk=waiting.pk).status == RegistrationStatus.CONFIRMED


def test_preferences_page_saves_slots_and_ratings(client: Client, world: World) -> None:
    event = make_event(world)
    host = investor(event, world)
    reg = guest(event, 1)
    url = reverse("events:ticket_preferences", args=[tickets.sign(reg.code)])
    assert client.get(url).status_code == 200
    response = client.post(url, {"interests": ["aigc-video"], "slots": ["0", "2"], f"rate_{host.pk}": "3"})
    assert response.status_code == 302
    reg.refresh_from_db()
    assert reg.available_slots == [0, 2] and list(reg.interests.values_list("code", flat=True)) == [
        "aigc-video"
    ]
    assert reg.requests_made.get().rating == 3
    assert client.post(url, {"slots": ["99"]}).status_code == 400


# -- operator -----------------------------------------------------------------------------------------------------------
def _event_form(**overrides: str) -> dict[str, str]:
    start = timezone.localtime() + dt.timedelta(days=5)
    data = {
        "title": "温州资源对接会",
        "kind": "matchmaking",
        "venue": "温州国际云软件谷",
        "starts_at": start.strftime("%Y-%m-%dT13:00"),
        "ends_at": start.strftime("%Y-%m-%dT18:00"),
        "capacity": "40",
        "roadshow_slots": "3",
        "meetings_start": start.strftime("%Y-%m-%dT15:00"),
        "meeting_slots": "8",
        "slot_minutes": "15",
        "tables": "10",
        "meetings_per_attendee": "3",
    }
    data.update(overrides)
    return data


def test_operator_creates_edits_and_publishes(client: Client, world: World) -> None:
    login(client, world.operator_user)
    assert client.get(reverse("events:manage_list")).status_code == 200
    response = client.post(reverse("events:manage_list"), _event_form())
    event = Event.objects.get()
    assert response.status_code == 302 and event.status == "draft" and event.tables == 10
    bad = client.post(reverse("events:manage_list"), _event_form(meetings_start="2001-01-01T10:00"))
    assert bad.status_code == 400 and Event.objects.count() == 1
    edit = client.post(reverse("events:manage_edit", args=[event.pk]), _event_form(capacity="50"))
    assert edit.status_code == 302
    event.refresh_from_db()
    assert event.capacity == 50
    client.post(reverse("events:manage_status", args=[event.pk]), {"target": "published"})
    event.refresh_from_db()
    assert event.status == "published"
    refused = client.post(reverse("events:manage_status", args=[event.pk]), {"target": "draft"})
    assert refused.status_code == 409
    page = client.get(reverse("events:manage_detail", args=[event.pk]))
    assert page.status_code == 200
    partner = client.post(
        reverse("events:partner_add", args=[event.pk]),
        {
            "role": "investor",
            "name": "赵总",
            "organisation_name": "瓯江资本",
            "ticket_min": "100000",
            "ticket_max": "900000",
        },
    )
    assert partner.status_code == 302 and Registration.objects.get().role == "investor"
    xlsx = client.get(reverse("events:registrations_xlsx", args=[event.pk]))
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.cell(row=2, column=2).value == "瓯江资本"


def test_checkin_page_typed_and_scanned_and_twice(client: Client, world: World) -> None:
    event = make_event(world)
    reg = guest(event, 1)
    code = tickets.sign(reg.code)
    login(client, world.operator_user)
    url = reverse("events:checkin", args=[event.pk])
    ok = client.post(url, {"code": code.lower()})
    assert ok.status_code == 200 and 'data-testid="checkin-ok"' in ok.text
    again = client.post(url, {"code": code})
    assert again.status_code == 409 and 'data-testid="checkin-error"' in again.text
    assert reg.name in again.text
    scanned = client.get(reverse("events:checkin_code", args=[code]))
    assert scanned.status_code == 200 and 'data-testid="checked-in-at"' in scanned.text
    assert client.post(reverse("events:checkin_code", args=[code])).status_code == 409
    # Another organiser's staff cannot use the scanned link.
    other = login(Client(), world.other_operator_user)
    assert other.get(reverse("events:checkin_code", args=[code])).status_code == 404


def test_scanned_link_checks_in(client: Client, world: World) -> None:
    event = make_event(world)
    reg = guest(event, 1)
    code = tickets.sign(reg.code)
    login(client, world.operator_user)
    response = client.post(reverse("events:checkin_code", args=[code]))
    assert response.status_code == 302
    reg.refresh_from_db()
    assert reg.checked_in_at is not None


def test_operator_cancels_a_registration_and_the_next_moves_up(client: Client, world: World) -> None:
    event = make_event(world, capacity=1)
    first, second = guest(event, 1), guest(event, 2)
    login(client, world.operator_user)
    client.post(reverse("events:registration_cancel", args=[first.pk]))
    second.refresh_from_db()
    assert second.status == RegistrationStatus.CONFIRMED
    assert (
        login(Client(), world.other_operator_user)
        .post(reverse("events:registration_cancel", args=[second.pk]))
        .status_code
        == 404
    )


def test_schedule_page_runs_publishes_and_the_ticket_shows_the_meetings(client: Client, world: World) -> None:
    event = make_event(world, capacity=5)
    host = investor(event, world, skills=("aigc-video",))
    user, org = opc("星门", world, skills=("aigc-video",))
    reg = services.register(event=event, name="刘", actor=user, organisation=org)
    login(client, world.operator_user)
    response = client.post(reverse("events:schedule", args=[event.pk]))
    run = event.meeting_runs.get()
    assert response.status_code == 302 and run.meetings.count() == 1  # one pair meets once
    page = client.get(response["Location"])
    assert 'data-testid="schedule-grid"' in page.text
    ticket_url = reverse("events:ticket", args=[tickets.sign(reg.code)])
    assert 'data-testid="personal-schedule"' not in Client().get(ticket_url).text  # not published yet
    client.post(reverse("events:schedule_publish", args=[run.pk]))
    public = Client().get(ticket_url)
    assert 'data-testid="personal-schedule"' in public.text and "甬江创投" in public.text
    ics = Client().get(reverse("events:ticket_ics", args=[tickets.sign(host.code)])).content.decode()
    assert ics.count("BEGIN:VEVENT") == 1 and "DTSTART:" in ics


def test_a_schedule_with_cancelled_people_or_changed_settings_is_flagged(
    client: Client, world: World
) -> None:
    event = make_event(world, capacity=5)
    host = investor(event, world, skills=("aigc-video",))
    user, org = opc("星门", world, skills=("aigc-video",))
    reg = services.register(event=event, name="刘", actor=user, organisation=org)
    other = services.register(
        event=event,
        name="陈",
        actor=None,
        contact="13900001111",
        interests=[Skill.objects.get(code="aigc-video")],
    )
    login(client, world.operator_user)
    client.post(reverse("events:schedule", args=[event.pk]))
    run = event.meeting_runs.get()
    client.post(reverse("events:schedule_publish", args=[run.pk]))
    assert run.meetings.count() == 2
    url = reverse("events:schedule", args=[event.pk])
    assert 'data-testid="run-outdated"' not in client.get(url).text
    host_ticket = reverse("events:ticket", args=[tickets.sign(host.code)])
    assert "刘" in Client().get(host_ticket).text

    services.cancel_registration(registration=reg, actor=user)
    page = client.get(url)
    assert 'data-testid="run-outdated"' in page.text and 'data-testid="meeting-cancelled"' in page.text
    assert services.run_staleness(run) == {"cancelled": 1, "settings_changed": False}
    # Neither side is shown the meeting any more; the others keep theirs.
    host_page = Client().get(host_ticket).text
    assert "刘" not in host_page and "陈" in host_page
    mine = Client().get(reverse("events:ticket", args=[tickets.sign(reg.code)])).text
    assert 'data-testid="personal-schedule"' not in mine or "甬江创投" not in mine
    ics = Client().get(reverse("events:ticket_ics", args=[tickets.sign(host.code)])).content.decode()
    assert ics.count("BEGIN:VEVENT") == 1
    assert other.status == RegistrationStatus.CONFIRMED

    event.tables = 1
    event.save(update_fields=["tables"])
    assert services.run_staleness(run) == {"cancelled": 1, "settings_changed": True}


def test_outcomes_page_drafts_links_and_records_intents(client: Client, world: World) -> None:
    event = make_event(world)
    client_user, client_org_ = client_org()
    services.register(event=event, name="王", actor=client_user, organisation=client_org_)
    services.register(event=event, name="刘", actor=world.opc_user, organisation=world.opc)
    host = investor(event, world)
    login(client, world.operator_user)
    assert client.get(reverse("events:outcomes", args=[event.pk])).status_code == 200
    deadline = (timezone.localdate() + dt.timedelta(days=20)).isoformat()
    response = client.post(
        reverse("events:outcome_draft", args=[event.pk]),
        {
            "client": client_org_.pk,
            "title": "文旅短视频",
            "category": "aigc-video",
            "budget_min": "1000",
            "budget_max": "5000",
            "deadline": deadline,
        },
    )
    assert response.status_code == 302
    link = EventOrder.objects.get()
    assert link.order.client == client_org_ and link.order.status == "draft"
    foreign = client.post(
        reverse("events:outcome_draft", args=[event.pk]),
        {
            "client": world.client.pk,
            "title": "x",
            "category": "aigc-video",
            "budget_min": "1",
            "budget_max": "2",
            "deadline": deadline,
        },
    )
    assert foreign.status_code == 400 and EventOrder.objects.count() == 1
    order = Order.objects.create(
        client=client_org_,
        title="已有订单",
        category=Skill.objects.get(code="design"),
        budget_min=1,
        budget_max=9,
        deadline=timezone.localdate(),
    )
    linked = client.post(
        reverse("events:outcome_link", args=[event.pk]), {"order": order.pk, "note": "现场签约"}
    )
    assert linked.status_code == 302 and EventOrder.objects.count() == 2
    missing = client.post(reverse("events:outcome_link", args=[event.pk]), {"order": 999999})
    assert missing.status_code == 404
    intent = client.post(
        reverse("events:outcome_intent", args=[event.pk]),
        {
            "investor": host.pk,
            "opc": world.opc.pk,
            "amount": "800000",
            "terms": "天使轮",
            "term_sheet": SimpleUploadedFile("ts.pdf", PDF),
        },
    )
    assert intent.status_code == 302
    saved = InvestmentIntent.objects.get()
    sheet = client.get(reverse("events:intent_term_sheet", args=[saved.pk]))
    assert sheet.status_code == 200 and b"".join(sheet.streaming_content) == PDF  # type: ignore[attr-defined]
    assert (
        login(Client(), world.opc_user).get(reverse("events:intent_term_sheet", args=[saved.pk])).status_code
        == 200
    )
    assert (
        login(Client(), world.other_opc_user)
        .get(reverse("events:intent_term_sheet", args=[saved.pk]))
        .status_code
        == 404
    )
    not_pdf = client.post(
        reverse("events:outcome_intent", args=[event.pk]),
        {
            "investor_name": "x",
            "opc": world.opc.pk,
            "amount": "1",
            "term_sheet": SimpleUploadedFile("ts.pdf", b"hello"),
        },
    )
    assert not_pdf.status_code == 400 and InvestmentIntent.objects.count() == 1
    page = client.get(reverse("events:outcomes", args=[event.pk]))
    assert "文旅短视频" in page.text and "已有订单" in page.text


def test_roadshow_pages(client: Client, world: World) -> None:
    event = make_event(world)
    login(client, world.opc_user)
    response = client.post(
        reverse("events:roadshow_apply", args=[event.pk]),
        {"title": "星门", "pitch": "科幻短剧", "deck": SimpleUploadedFile("deck.pdf", PDF)},
    )
    assert response.status_code == 302
    app = event.roadshow_applications.get()
    assert client.get(reverse("events:roadshow_deck", args=[app.pk])).status_code == 200
    assert (
        login(Client(), world.other_opc_user).get(reverse("events:roadshow_deck", args=[app.pk])).status_code
        == 404
    )
    assert (
        login(Client(), world.client_user).get(reverse("events:roadshow_apply", args=[event.pk])).status_code
        == 403
    )
    operator = login(Client(), world.operator_user)
    assert operator.get(reverse("events:roadshow_manage", args=[event.pk])).status_code == 200
    operator.post(reverse("events:roadshow_decide", args=[app.pk]), {"decision": "selected"})
    app.refresh_from_db()
    assert app.status == "selected"
    assert "星门" in Client().get(reverse("events:detail", args=[event.pk])).text


def test_mine_lists_registrations(client: Client, world: World) -> None:
    event = make_event(world)
    services.register(event=event, name="刘", actor=world.opc_user, organisation=world.opc)
    login(client, world.opc_user)
    page = client.get(reverse("events:mine"))
    assert page.status_code == 200 and event.title in page.text


def test_mine_shows_follow_ups_to_the_opc_and_the_client(client: Client, world: World) -> None:
    event = make_event(world)
    client_user, client_org_ = client_org()
    services.register(event=event, name="王", actor=client_user, organisation=client_org_)
    services.register(event=event, name="刘", actor=world.opc_user, organisation=world.opc)
    host = investor(event, world)
    services.record_intent(
        event=event,
        opc=world.opc,
        actor=world.operator_user,
        amount="500000",
        investor=host,
        terms="天使轮意向",
        term_sheet=SimpleUploadedFile("意向书.pdf", PDF, content_type="application/pdf"),
    )
    services.draft_order_for_client(
        event=event,
        client=client_org_,
        actor=world.operator_user,
        title="文旅短视频",
        category=Skill.objects.get(code="aigc-video"),
        budget_min="1000",
        budget_max="5000",
        deadline=timezone.localdate() + dt.timedelta(days=20),
    )
    intent = InvestmentIntent.objects.get()
    opc_page = login(client, world.opc_user).get(reverse("events:mine"))
    assert opc_page.status_code == 200 and 'data-testid="my-intents"' in opc_page.text
    assert "天使轮意向" in opc_page.text and 'data-testid="my-event-orders"' not in opc_page.text
    term_sheet = reverse("events:intent_term_sheet", args=[intent.pk])
    assert term_sheet in opc_page.text and client.get(term_sheet).status_code == 200
    client_page = login(Client(), client_user).get(reverse("events:mine"))
    assert client_page.status_code == 200 and 'data-testid="my-event-orders"' in client_page.text
    assert "文旅短视频" in client_page.text and 'data-testid="my-intents"' not in client_page.text
    # Someone else's follow-ups stay theirs.
    other = login(Client(), world.client_user).get(reverse("events:mine"))
    assert "文旅短视频" not in other.text and "天使轮意向" not in other.text


# -- competitions ---------------------------------------------------------------------------------------------------------
def test_competition_flow_through_pages(client: Client, world: World) -> None:
    judge = make_user("judge")
    operator = login(Client(), world.operator_user)
    response = operator.post(
        reverse("events:competition_manage_list"),
        {
            "title": "AI视频大赛",
            "theme": "楠溪江",
            "submissions_close": (timezone.localdate() + dt.timedelta(days=9)).isoformat(),
        },
    )
    comp = world.operator.organised_competitions.get()
    assert response.status_code == 302
    operator.post(
        reverse("events:criterion_add", args=[comp.pk]), {"name": "创意", "weight": "1", "max_score": "10"}
    )
    operator.post(reverse("events:judge_add", args=[comp.pk]), {"login": judge.email})
    assert (
        operator.post(reverse("events:judge_add", args=[comp.pk]), {"login": "nobody@example.cn"}).status_code
        == 404
    )
    operator.post(
        reverse("events:award_add", args=[comp.pk]), {"name": "金奖", "rank_from": "1", "rank_to": "1"}
    )
    operator.post(reverse("events:competition_status", args=[comp.pk]), {"target": "open"})
    login(client, world.opc_user)
    entered = client.post(
        reverse("events:competition_submit", args=[comp.pk]),
        {
            "title": "楠溪江的早晨",
            "video": SimpleUploadedFile("a.mp4", MP4),
            "ai_tools": "即梦",
            "original": "on",
        },
    )
    assert entered.status_code == 302
    not_video = client.post(
        reverse("events:competition_submit", args=[comp.pk]),
        {"title": "x", "video": SimpleUploadedFile("a.mp4", b"hello")},
    )
    assert not_video.status_code == 400
    entry = Submission.objects.get()
    operator.post(reverse("events:competition_status", args=[comp.pk]), {"target": "judging"})
    judge_client = login(Client(), judge)
    assert judge_client.get(reverse("events:judging", args=[comp.pk])).status_code == 200
    assert judge_client.get(reverse("events:submission_video", args=[entry.pk])).status_code == 200
    criterion = comp.criteria.get()
    scored = judge_client.post(
        reverse("events:submission_score", args=[entry.pk]), {f"c_{criterion.pk}": "8"}
    )
    assert scored.status_code == 302
    assert (
        judge_client.post(
            reverse("events:submission_score", args=[entry.pk]), {f"c_{criterion.pk}": "11"}
        ).status_code
        == 400
    )
    published = operator.post(reverse("events:competition_status", args=[comp.pk]), {"target": "closed"})
    assert published.status_code == 302
    detail = Client().get(reverse("events:competition_detail", args=[comp.pk]))
    assert 'data-testid="results"' in detail.text and "金奖" in detail.text
    badges = Client().get(reverse("events:org_badges", args=[world.opc.pk]))
    assert 'data-testid="opc-badges"' in badges.text
    assert (
        login(Client(), world.other_opc_user).get(reverse("events:judging", args=[comp.pk])).status_code
        == 403
    )


def test_badge_partial_renders_for_any_template() -> None:
    from django.template import Context, Template

    html = Template("{% load events_tags %}{% opc_badges org %}").render(Context({"org": None}))
    assert html.strip() == ""


@pytest.mark.parametrize("name", ["events:list", "events:competition_list"])
def test_public_pages_render_for_visitors(client: Client, world: World, name: str) -> None:
    make_event(world)
    make_competition(world)
    assert client.get(reverse(name)).status_code == 200


def test_hosts_update_ticket_sizes_and_orders_on_their_preferences_page(client: Client, world: World) -> None:
    event = make_event(world)
    host = investor(event, world)
    attendee = guest(event, 1)
    url = reverse("events:ticket_preferences", args=[tickets.sign(host.code)])
    page = client.get(url)
    assert page.status_code == 200 and 'name="ticket_min"' in page.text
    response = client.post(
        url,
        {
            "ticket_min": "200000",
            "ticket_max": "800000",
            "brings_orders": "景区短视频 5 条",
            "orders_value": "150000",
            f"rate_{attendee.pk}": "2",
        },
    )
    assert response.status_code == 302
    host.refresh_from_db()
    assert (host.ticket_min, host.ticket_max, host.orders_value) == (200000, 800000, 150000)
    assert host.brings_orders == "景区短视频 5 条" and host.requests_made.get().target_id == attendee.pk
    bad = client.post(url, {"ticket_min": "900000", "ticket_max": "1"})
    assert bad.status_code == 400
    host.refresh_from_db()
    assert host.ticket_max == 800000
    # Attendees have no such fields.
    assert (
        'name="ticket_min"'
        not in client.get(reverse("events:ticket_preferences", args=[tickets.sign(attendee.code)])).text
    )
