"""Events services: seats, waitlist and promotion, check-in, preferences, roadshow, the 1:1 scheduler,
follow-ups and competitions. Each refusal changes nothing; each change leaves an audit record."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from audit.models import AuditRecord
from core.errors import Conflict, DomainError, InvalidTransition, NotFound, NotPermitted
from core.testing import World, make_user
from events import services, tickets
from events.models import (
    Badge,
    EventStatus,
    IntentStatus,
    Meeting,
    MeetingRequest,
    Registration,
    RegistrationRole,
    RegistrationStatus,
    Result,
    Submission,
)
from events.tests.helpers import (
    MP4,
    PDF,
    client_org,
    guest,
    investor,
    make_competition,
    make_event,
    opc,
    video,
)
from marketplace.models import Order, OrderStatus
from organisations.models import Skill

C, W, X = RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED, RegistrationStatus.CANCELLED


# -- events ---------------------------------------------------------------------------------------------------------
def test_create_event_is_a_draft_and_audited(world: World) -> None:
    event = make_event(world, publish=False)
    assert event.status == EventStatus.DRAFT and event.organiser == world.operator
    assert AuditRecord.objects.filter(action="events.event_created", object_id=str(event.pk)).exists()
    with pytest.raises(InvalidTransition):
        guest(event, 1)  # drafts take no sign-ups


def test_only_operators_organise_and_only_in_their_communities(world: World) -> None:
    with pytest.raises(NotPermitted):
        services.create_event(
            organiser=world.opc,
            actor=world.opc_user,
            title="x",
            venue="y",
            starts_at=timezone.now(),
            ends_at=timezone.now() + dt.timedelta(hours=1),
            capacity=1,
        )
    with pytest.raises(NotPermitted):
        make_event(world, community=world.other_community)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"capacity": 0}, "between"),
        ({"ends_at": "same"}, "end after"),
        ({"meeting_slots": 40}, "fit within"),
        ({"title": " "}, "required"),
    ],
)
def test_event_values_are_checked(world: World, change: dict[str, object], message: str) -> None:
    before = AuditRecord.objects.count()
    if change.get("ends_at") == "same":
        start = timezone.now()
        change = {"starts_at": start, "ends_at": start}
    with pytest.raises(DomainError) as exc, translation.override("en"):
        make_event(world, publish=False, **change)
    assert message in exc.value.message
    assert AuditRecord.objects.count() == before


def test_event_transitions_follow_the_table(world: World) -> None:
    event = make_event(world)
    services.set_event_status(event=event, target=EventStatus.CLOSED, actor=world.operator_user)
    with pytest.raises(InvalidTransition):
        guest(event, 1)
    services.set_event_status(event=event, target=EventStatus.PUBLISHED, actor=world.operator_user)
    services.set_event_status(event=event, target=EventStatus.CANCELLED, actor=world.operator_user)
    with pytest.raises(InvalidTransition):
        services.set_event_status(event=event, target=EventStatus.PUBLISHED, actor=world.operator_user)


# -- seats and the waitlist -------------------------------------------------------------------------------------------
def test_sign_ups_past_capacity_wait_in_order_and_move_up_on_cancel(world: World) -> None:
    event = make_event(world, capacity=2)
    regs = [guest(event, i) for i in range(5)]
    assert [r.status for r in regs] == [C, C, W, W, W]
    assert [services.waitlist_position(r) for r in regs] == [None, None, 1, 2, 3]
    _cancelled, promoted = services.cancel_registration(registration=regs[0], actor=None)
    assert [p.pk for p in promoted] == [regs[2].pk]
    regs = [Registration.objects.get(pk=r.pk) for r in regs]
    assert [r.status for r in regs] == [X, C, C, W, W]
    assert regs[2].promoted_at is not None
    assert services.waitlist_position(regs[3]) == 1
    # Cancelling a waiting sign-up frees no seat.
    _c, promoted = services.cancel_registration(registration=regs[4], actor=None)
    assert promoted == []
    assert AuditRecord.objects.filter(action="events.registration_promoted").count() == 1


def test_more_seats_move_waiting_people_up_and_fewer_than_confirmed_is_refused(world: World) -> None:
    event = make_event(world, capacity=1)
    regs = [guest(event, i) for i in range(4)]
    event, promoted = services.update_event(event=event, actor=world.operator_user, values={"capacity": 3})
    assert [p.pk for p in promoted] == [regs[1].pk, regs[2].pk]
    with pytest.raises(Conflict):
        services.update_event(event=event, actor=world.operator_user, values={"capacity": 2})
    event.refresh_from_db()
    assert event.capacity == 3


def test_hosts_do_not_take_seats(world: World) -> None:
    event = make_event(world, capacity=1)
    guest(event, 1)
    host = investor(event, world)
    assert host.status == C and host.role == RegistrationRole.INVESTOR
    assert services.registration_counts(event)["confirmed"] == 1


def test_duplicate_sign_ups_are_refused(world: World) -> None:
    event = make_event(world)
    guest(event, 1)
    with pytest.raises(Conflict):
        services.register(event=event, name="同一人", actor=None, contact="+86 139 0000 0001")
    services.register(event=event, name="刘", actor=world.opc_user, organisation=world.opc)
    with pytest.raises(Conflict):
        services.register(event=event, name="刘", actor=world.opc_user, organisation=world.opc)


def test_visitors_need_a_valid_contact(world: World) -> None:
    event = make_event(world)
    for bad in ("", "12345", "not-an-email@"):
        with pytest.raises(DomainError):
            services.register(event=event, name="来宾", actor=None, contact=bad)
    assert not Registration.objects.exists()


def test_only_clients_and_providers_sign_up_as_hosts(world: World) -> None:
    event = make_event(world)
    with pytest.raises(NotPermitted):
        services.register(
            event=event,
            name="刘",
            actor=world.opc_user,
            organisation=world.opc,
            role=RegistrationRole.INVESTOR,
        )
    reg = services.register(
        event=event,
        name="王经理",
        actor=world.client_user,
        organisation=world.client,
        role=RegistrationRole.INDUSTRY,
        host=services.HostDetails(brings_orders="文旅短视频 10 条", orders_value="200000"),
    )
    assert reg.orders_value == Decimal("200000.00") and reg.organisation_name == world.client.name
    with pytest.raises(DomainError):
        services.register(
            event=event,
            name="x",
            actor=world.provider_user,
            organisation=world.provider,
            role=RegistrationRole.INVESTOR,
            host=services.HostDetails(ticket_min="5", ticket_max="1"),
        )


def test_cancelled_registrations_cannot_be_cancelled_again(world: World) -> None:
    event = make_event(world)
    reg = guest(event, 1)
    services.cancel_registration(registration=reg, actor=None)
    with pytest.raises(InvalidTransition):
        services.cancel_registration(registration=reg, actor=None)
    # … and the person may sign up again, at the back of the line.
    again = guest(event, 1)
    assert again.pk != reg.pk and again.status == C


# -- check-in -------------------------------------------------------------------------------------------------------
def test_check_in_by_code_or_scanned_url_and_twice_is_refused(world: World) -> None:
    event = make_event(world)
    reg = guest(event, 1)
    code = tickets.sign(reg.code)
    done = services.check_in(
        event=event, code_text=f"https://hub.example.cn/events/checkin/{code}/", actor=world.operator_user
    )
    assert done.checked_in_at is not None
    with pytest.raises(Conflict) as exc:
        services.check_in(event=event, code_text=code.lower().replace("-", " "), actor=world.operator_user)
    assert reg.name in exc.value.message
    assert AuditRecord.objects.filter(action="events.checked_in").count() == 1
    with pytest.raises(InvalidTransition):
        services.cancel_registration(registration=reg, actor=None)


def test_check_in_refuses_forged_foreign_waiting_and_cancelled_tickets(world: World) -> None:
    event = make_event(world, capacity=1)
    other = make_event(world, title="另一场")
    first, waiting = guest(event, 1), guest(event, 2)
    foreign = guest(other, 3)
    forged = first.code + "-AAAAAAAA"
    with translation.override("en"), pytest.raises(DomainError, match="genuine"):
        services.check_in(event=event, code_text=forged, actor=world.operator_user)
    with pytest.raises(DomainError):
        services.check_in(event=event, code_text="hello", actor=world.operator_user)
    with pytest.raises(NotFound):
        services.check_in(event=event, code_text=tickets.sign(foreign.code), actor=world.operator_user)
    with pytest.raises(Conflict):
        services.check_in(event=event, code_text=tickets.sign(waiting.code), actor=world.operator_user)
    services.cancel_registration(registration=waiting, actor=None)
    with pytest.raises(Conflict):
        services.check_in(event=event, code_text=tickets.sign(waiting.code), actor=world.operator_user)
    assert not Registration.objects.filter(checked_in_at__isnull=False).exists()


def test_ticket_codes_parse_in_any_spelling() -> None:
    code = "K7PX3M9QAB"
    signed = tickets.sign(code)
    assert tickets.parse(signed) == (code, True)
    assert tickets.parse(signed.lower()) == (code, True)
    assert tickets.parse(signed.replace("-", "")) == (code, True)
    assert tickets.parse(f"http://opc-hub-long-hostname-example.cn/events/checkin/{signed}/") == (code, True)
    assert tickets.parse("") == (None, False)
    assert tickets.parse(code + "-AAAAAAAA")[1] is False


# -- preferences and the scheduler -------------------------------------------------------------------------------------
def test_preferences_and_ratings_feed_the_interest_matrix(world: World) -> None:
    event = make_event(world)
    host_a = investor(event, world, "甲基金", skills=("ai-short-drama",))
    host_b = investor(event, world, "乙基金")
    _u, org = opc("星门", world, skills=("ai-short-drama", "aigc-video"))
    a = services.register(event=event, name="星门", actor=_u, organisation=org)
    b = guest(event, 2)
    services.update_preferences(registration=a, actor=_u, ratings={host_b.pk: 3}, available_slots=[0, 1])
    services.update_preferences(registration=host_b, actor=None, ratings={a.pk: 2, b.pk: 1})
    data = services.meeting_input(event)
    assert [r.pk for r in data.attendees] == [a.pk, b.pk] and [h.pk for h in data.hosts] == [
        host_a.pk,
        host_b.pk,
    ]
    # a–A: shared skill (1); a–B: 3 + 2; b–A: nothing; b–B: 1.
    assert data.problem.weights.tolist() == [[1.0, 5.0], [0.0, 1.0]]
    assert data.problem.attendee_available[0].tolist() == [True, True, False, False]
    with pytest.raises(DomainError):
        services.update_preferences(registration=a, actor=_u, ratings={b.pk: 2})  # same side
    with pytest.raises(DomainError):
        services.update_preferences(registration=a, actor=_u, available_slots=[9])
    services.update_preferences(registration=a, actor=_u, ratings={host_b.pk: 0})
    assert not MeetingRequest.objects.filter(source=a).exists()


def test_run_and_publish_the_schedule(world: World) -> None:
    event = make_event(world, capacity=10)
    hosts = [investor(event, world, f"基金{i}", skills=("aigc-video",)) for i in range(3)]
    attendees = []
    for i in range(5):
        user, org = opc(f"工作室{i}", world, skills=("aigc-video",))
        attendees.append(services.register(event=event, name=f"创始人{i}", actor=user, organisation=org))
    run = services.run_scheduler(event=event, actor=world.operator_user)
    meetings = list(run.meetings.all())
    # 4 slots × 2 tables = 8 meetings at most; each attendee at most 2.
    assert run.optimal and len(meetings) == 8
    assert max(sum(1 for m in meetings if m.attendee_id == a.pk) for a in attendees) <= 2
    first = min(meetings, key=lambda m: m.slot)
    assert first.starts_at == event.meetings_start + dt.timedelta(minutes=15 * first.slot)
    assert run.published_at is None
    services.publish_schedule(run=run, actor=world.operator_user)
    with pytest.raises(InvalidTransition):
        services.publish_schedule(run=run, actor=world.operator_user)
    second = services.run_scheduler(event=event, actor=world.operator_user)
    services.publish_schedule(run=second, actor=world.operator_user)
    run.refresh_from_db()
    assert run.published_at is None  # one published schedule per event
    assert Meeting.objects.filter(run=second, host=hosts[0]).exists()


def test_scheduler_needs_settings_and_participants(world: World) -> None:
    no_meetings = make_event(world, meetings=False)
    with pytest.raises(DomainError):
        services.run_scheduler(event=no_meetings, actor=world.operator_user)
    empty = make_event(world)
    with pytest.raises(DomainError):
        services.run_scheduler(event=empty, actor=world.operator_user)


# -- roadshow ---------------------------------------------------------------------------------------------------------
def test_roadshow_applications_are_selected_within_the_slots(world: World) -> None:
    event = make_event(world, roadshow_slots=1)
    app1 = services.apply_for_roadshow(
        event=event,
        organisation=world.opc,
        actor=world.opc_user,
        title="《星门》AI短剧",
        pitch="十万光年的科幻短剧",
        deck=SimpleUploadedFile("deck.pdf", PDF),
    )
    assert len(app1.deck_sha256) == 64 and app1.deck_name == "deck.pdf"
    with pytest.raises(Conflict):
        services.apply_for_roadshow(
            event=event, organisation=world.opc, actor=world.opc_user, title="x", pitch="y"
        )
    with pytest.raises(NotPermitted):
        services.apply_for_roadshow(
            event=event, organisation=world.client, actor=world.client_user, title="x", pitch="y"
        )
    app2 = services.apply_for_roadshow(
        event=event, organisation=world.other_opc, actor=world.other_opc_user, title="数字人", pitch="直播"
    )
    services.decide_application(application=app1, target="selected", actor=world.operator_user)
    with pytest.raises(Conflict):
        services.decide_application(application=app2, target="selected", actor=world.operator_user)
    services.decide_application(application=app1, target="declined", actor=world.operator_user)
    app2 = services.decide_application(application=app2, target="selected", actor=world.operator_user)
    assert app2.position == 1
    services.withdraw_application(application=app2, organisation=world.other_opc, actor=world.other_opc_user)
    with pytest.raises(InvalidTransition):
        services.decide_application(application=app2, target="selected", actor=world.operator_user)


# -- follow-ups -------------------------------------------------------------------------------------------------------
def test_draft_and_link_orders_and_record_intents(world: World) -> None:
    event = make_event(world)
    client_user, client = client_org()
    services.register(
        event=event, name="王经理", actor=client_user, organisation=client, role=RegistrationRole.INDUSTRY
    )
    services.register(event=event, name="刘", actor=world.opc_user, organisation=world.opc)
    category = Skill.objects.get(code="aigc-video")
    link = services.draft_order_for_client(
        event=event,
        client=client,
        actor=world.operator_user,
        title="文旅宣传片 AIGC 制作",
        category=category,
        budget_min="20000",
        budget_max="50000",
        deadline=timezone.localdate() + dt.timedelta(days=30),
    )
    assert link.drafted_here and link.order.status == OrderStatus.DRAFT and link.order.client == client
    with pytest.raises(Conflict):
        services.link_order(event=event, order=link.order, actor=world.operator_user)
    outsider = Order.objects.create(
        client=world.client,
        title="无关订单",
        category=category,
        budget_min=1,
        budget_max=2,
        deadline=timezone.localdate(),
    )
    with pytest.raises(DomainError):
        services.link_order(event=event, order=outsider, actor=world.operator_user)
    with pytest.raises(DomainError):
        services.draft_order_for_client(
            event=event,
            client=world.client,
            actor=world.operator_user,
            title="x",
            category=category,
            budget_min="1",
            budget_max="2",
            deadline=timezone.localdate() + dt.timedelta(days=3),
        )
    host = investor(event, world)
    intent = services.record_intent(
        event=event,
        opc=world.opc,
        actor=world.operator_user,
        amount="1000000",
        investor=host,
        terms="天使轮，10% 股权",
        term_sheet=SimpleUploadedFile("ts.pdf", PDF),
    )
    assert intent.investor_name == "甬江创投" and len(intent.term_sheet_sha256) == 64
    review = services.contract_review_url(intent)  # the contract-review hook
    assert review is None or review.endswith(f"?source=events.intent&id={intent.pk}")
    services.set_intent_status(intent=intent, target=IntentStatus.SIGNED, actor=world.operator_user)
    with pytest.raises(InvalidTransition):
        services.set_intent_status(intent=intent, target=IntentStatus.WITHDRAWN, actor=world.operator_user)
    with pytest.raises(DomainError):
        services.record_intent(
            event=event, opc=world.other_opc, actor=world.operator_user, amount="1", investor_name="x"
        )
    with pytest.raises(DomainError):
        services.record_intent(
            event=event, opc=world.opc, actor=world.operator_user, amount="0.001", investor_name="x"
        )


# -- competitions -----------------------------------------------------------------------------------------------------
def _entries(world: World, comp: object, n: int) -> list[object]:
    out = []
    for i in range(n):
        user, org = opc(f"导演{i}", world)
        out.append(
            services.submit_entry(
                competition=comp,  # type: ignore[arg-type]
                organisation=org,
                actor=user,
                title=f"短片{i}",
                video=SimpleUploadedFile(f"v{i}.mp4", video(seed=i)),
                ai_tools="可灵",
                original=True,
            )
        )
    return out


def test_competition_scoring_ranking_with_ties_awards_and_badges(world: World) -> None:
    judge1, judge2 = make_user("judge1"), make_user("judge2")
    comp = make_competition(world, judges=[judge1, judge2])
    services.add_award(
        competition=comp, actor=world.operator_user, name="一等奖", rank_from=1, rank_to=1, prize="¥10,000"
    )
    services.add_award(competition=comp, actor=world.operator_user, name="优秀奖", rank_from=2, rank_to=3)
    with pytest.raises(Conflict):
        services.add_award(competition=comp, actor=world.operator_user, name="x", rank_from=3, rank_to=4)
    entries = _entries(world, comp, 4)
    assert all(len(e.sha256) == 64 for e in entries)  # type: ignore[attr-defined]
    criteria = list(comp.criteria.all())
    with pytest.raises(InvalidTransition):  # not judging yet
        services.score_submission(
            submission=entries[0], user=judge1, values={criteria[0].pk: 5, criteria[1].pk: 5}
        )  # type: ignore[arg-type]
    services.set_competition_status(competition=comp, target="judging", actor=world.operator_user)
    with pytest.raises(InvalidTransition):
        services.add_criterion(competition=comp, actor=world.operator_user, name="配乐", weight="1")
    # creativity (×2, /10), technique (×1, /5): entries 0 and 1 tie at the top.
    marks = {0: (9, 4), 1: (9, 4), 2: (6, 5), 3: (2, 1)}
    for judge in (judge1, judge2):
        for i, entry in enumerate(entries[:3]):
            services.score_submission(
                submission=entry,
                user=judge,
                values={criteria[0].pk: marks[i][0], criteria[1].pk: marks[i][1]},  # type: ignore[arg-type]
            )
    with pytest.raises(Conflict):  # entry 3 is not scored yet
        services.publish_results(competition=comp, actor=world.operator_user)
    for judge in (judge1, judge2):
        services.score_submission(
            submission=entries[3], user=judge, values={criteria[0].pk: 2, criteria[1].pk: 1}
        )  # type: ignore[arg-type]
    with pytest.raises(DomainError):
        services.score_submission(
            submission=entries[3], user=judge1, values={criteria[0].pk: 11, criteria[1].pk: 1}
        )  # type: ignore[arg-type]
    with pytest.raises(NotPermitted):
        services.score_submission(submission=entries[3], user=world.opc_user, values={})  # type: ignore[arg-type]
    results = services.publish_results(competition=comp, actor=world.operator_user)
    by_entry = {r.submission_id: r for r in results}
    # (2×0.9 + 1×0.8)/3×100 = 86.67 for both leaders; (2×0.6+1×1.0)/3×100 = 73.33; (2×0.2+0.2)/3×100 = 20.
    assert [by_entry[e.pk].total for e in entries] == [
        Decimal("86.67"),
        Decimal("86.67"),
        Decimal("73.33"),
        Decimal("20.00"),
    ]  # type: ignore[attr-defined]
    assert [by_entry[e.pk].rank for e in entries] == [1, 1, 3, 4]  # type: ignore[attr-defined]
    assert [by_entry[e.pk].award.name if by_entry[e.pk].award else None for e in entries] == [
        "一等奖",
        "一等奖",
        "优秀奖",
        None,
    ]  # type: ignore[attr-defined,union-attr]
    assert Badge.objects.count() == 3
    assert Badge.objects.filter(title__endswith="一等奖").count() == 2
    comp.refresh_from_db()
    assert comp.status == "closed" and comp.results_published_at is not None
    with pytest.raises(InvalidTransition):
        services.publish_results(competition=comp, actor=world.operator_user)
    assert Result.objects.filter(competition=comp).count() == 4


def test_rank_with_ties() -> None:
    ranked = services.rank_with_ties({1: Decimal("90"), 2: Decimal("95"), 3: Decimal("90"), 4: Decimal("80")})
    assert [(r.submission_id, r.rank) for r in ranked] == [(2, 1), (1, 2), (3, 2), (4, 4)]
    assert services.rank_with_ties({}) == []


def test_judges_cannot_score_their_own_entry_and_entries_need_an_open_competition(world: World) -> None:
    comp = make_competition(world, judges=[world.opc_user], open_it=False)
    with pytest.raises(InvalidTransition):
        services.submit_entry(
            competition=comp,
            organisation=world.opc,
            actor=world.opc_user,
            title="x",
            link="https://v.example.cn/1",
        )
    services.set_competition_status(competition=comp, target="open", actor=world.operator_user)
    entry = services.submit_entry(
        competition=comp,
        organisation=world.opc,
        actor=world.opc_user,
        title="x",
        link="https://v.example.cn/1",
    )
    with pytest.raises(Conflict):
        services.submit_entry(
            competition=comp,
            organisation=world.opc,
            actor=world.opc_user,
            title="y",
            link="https://v.example.cn/2",
        )
    with pytest.raises(NotPermitted):
        services.submit_entry(
            competition=comp,
            organisation=world.client,
            actor=world.client_user,
            title="y",
            link="https://v.example.cn/2",
        )
    with pytest.raises(DomainError):
        services.submit_entry(
            competition=comp, organisation=world.other_opc, actor=world.other_opc_user, title="y"
        )
    services.set_competition_status(competition=comp, target="judging", actor=world.operator_user)
    criteria = list(comp.criteria.all())
    with pytest.raises(NotPermitted):
        services.score_submission(submission=entry, user=world.opc_user, values={c.pk: 1 for c in criteria})


def test_opening_needs_a_rubric_and_judging_needs_judges(world: World) -> None:
    comp = services.create_competition(
        organiser=world.operator,
        actor=world.operator_user,
        title="空",
        submissions_close=timezone.localdate(),
    )
    with pytest.raises(DomainError):
        services.set_competition_status(competition=comp, target="open", actor=world.operator_user)
    services.add_criterion(competition=comp, actor=world.operator_user, name="创意", weight="1")
    services.set_competition_status(competition=comp, target="open", actor=world.operator_user)
    with pytest.raises(DomainError):
        services.set_competition_status(competition=comp, target="judging", actor=world.operator_user)
    with pytest.raises(InvalidTransition):
        services.set_competition_status(competition=comp, target="closed", actor=world.operator_user)


def test_entries_with_a_file_are_registered_in_the_copyright_registry(world: World) -> None:
    from django.apps import apps

    if services._registry() is None:
        pytest.skip("no copyright registry (rights.services.register_work) in this build")
    work_model = apps.get_model("rights", "Work")
    comp = make_competition(world)
    with pytest.raises(DomainError):  # the registry records the AI tools
        services.submit_entry(
            competition=comp,
            organisation=world.opc,
            actor=world.opc_user,
            title="x",
            video=SimpleUploadedFile("a.mp4", MP4),
            original=True,
        )
    with pytest.raises(DomainError):  # … and the entrant's originality statement
        services.submit_entry(
            competition=comp,
            organisation=world.opc,
            actor=world.opc_user,
            title="x",
            video=SimpleUploadedFile("a.mp4", MP4),
            ai_tools="可灵",
        )
    fake = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100
    with pytest.raises(DomainError):  # not a decodable video
        services.submit_entry(
            competition=comp,
            organisation=world.opc,
            actor=world.opc_user,
            title="x",
            video=SimpleUploadedFile("a.mp4", fake),
            ai_tools="可灵",
            original=True,
        )
    assert not Submission.objects.exists() and not work_model.objects.exists()
    entry = services.submit_entry(
        competition=comp,
        organisation=world.opc,
        actor=world.opc_user,
        title="楠溪江",
        video=SimpleUploadedFile("a.mp4", MP4),
        ai_tools="可灵",
        original=True,
    )
    work = work_model.objects.get()
    assert entry.rights_reference == work.code and work.holder == world.opc and work.sha256 == entry.sha256
    # Another OPC cannot enter the same file; the same OPC re-entering it is linked to its registration.
    with pytest.raises(Conflict):
        services.submit_entry(
            competition=comp,
            organisation=world.other_opc,
            actor=world.other_opc_user,
            title="抄",
            video=SimpleUploadedFile("a.mp4", MP4),
            ai_tools="可灵",
            original=True,
        )
    services.withdraw_entry(submission=entry, organisation=world.opc, actor=world.opc_user)
    again = services.submit_entry(
        competition=comp,
        organisation=world.opc,
        actor=world.opc_user,
        title="楠溪江（修订）",
        video=SimpleUploadedFile("b.mp4", MP4),
        ai_tools="可灵",
        original=True,
    )
    assert again.rights_reference == work.code and work_model.objects.count() == 1
