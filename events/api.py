"""Events API (mounted at /api/events/): public upcoming events and competition results without
authentication; signing up, one's own registrations, the organiser's events, check-in and the 1:1 scheduler,
and the oversight dashboards with a token or session.

Handlers are thin: objects come from ``events.selectors`` with ``request.org_scope`` (foreign ids → 404) and
writes go through ``events.services``; domain errors become ``{"detail": …}`` with their status."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Path, Router, Schema, Status

from accounts.api import ERRORS, MAX_ID, ErrorOut
from core.errors import DomainError, NotFound, NotPermitted
from core.http import acting_user
from events import selectors, services, tickets
from events.exports import cell
from events.models import Event, EventKind, Registration, RegistrationRole
from organisations.access import Scope, scope_for
from organisations.capabilities import Capability
from organisations.models import Skill

router = Router(tags=["events"])

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
WRITE_ERRORS: dict[int, Any] = {400: ErrorOut, 404: ErrorOut, 409: ErrorOut, **ERRORS}


# -- schemas -------------------------------------------------------------------------------------------------------
class EventOut(Schema):
    id: int
    title: str
    kind: str
    organiser: str
    community: str | None
    venue: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: str
    capacity: int
    confirmed: int
    waitlisted: int
    hosts: int
    agenda: str
    meetings_start: dt.datetime | None
    meeting_slots: int
    slot_minutes: int
    tables: int


class EventIn(Schema):
    title: str = Field(..., max_length=200)
    kind: EventKind = EventKind.MATCHMAKING
    venue: str = Field(..., max_length=200)
    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int = Field(..., ge=1, le=100_000)
    agenda: str = Field("", max_length=5000)
    description: str = Field("", max_length=10000)
    community_id: Id | None = None
    roadshow_slots: int = Field(0, ge=0, le=100)
    meetings_start: dt.datetime | None = None
    meeting_slots: int = Field(0, ge=0, le=48)
    slot_minutes: int = Field(15, ge=5, le=120)
    tables: int = Field(0, ge=0, le=500)
    meetings_per_attendee: int = Field(4, ge=0, le=48)


class RegisterIn(Schema):
    role: RegistrationRole = RegistrationRole.ATTENDEE
    name: str = Field(..., min_length=1, max_length=60)
    contact: str = Field("", max_length=120, description="Mobile number or e-mail (optional for members).")
    interests: list[str] = Field(default_factory=list, max_length=16, description="skill codes")
    ticket_min: Decimal | None = Field(None, gt=0, max_digits=14, decimal_places=2)
    ticket_max: Decimal | None = Field(None, gt=0, max_digits=14, decimal_places=2)
    brings_orders: str = Field("", max_length=2000)
    orders_value: Decimal | None = Field(None, gt=0, max_digits=14, decimal_places=2)


class RegistrationOut(Schema):
    id: int
    event_id: int
    event: str
    role: str
    name: str
    organisation_name: str
    status: str
    waitlist_position: int | None
    ticket: str = Field(description="Signed ticket code (the QR code encodes the check-in URL with it).")
    checked_in_at: dt.datetime | None


class RegistrationAdminOut(RegistrationOut):
    contact: str
    created_at: dt.datetime


class CancelOut(Schema):
    cancelled: RegistrationOut
    promoted: list[RegistrationOut]


class CheckinIn(Schema):
    code: str = Field(..., min_length=1, max_length=500, description="Ticket code, or the scanned URL.")


class MeetingOut(Schema):
    slot: int
    table: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    host_id: int
    host: str
    attendee_id: int
    attendee: str
    interest: str


class RunOut(Schema):
    id: int
    method: str
    optimal: bool
    total_interest: str
    bound: str
    seconds: float
    published: bool
    meetings: list[MeetingOut]


class CompetitionOut(Schema):
    id: int
    title: str
    theme: str
    status: str
    submissions_close: dt.date
    entries: int


class ResultOut(Schema):
    rank: int
    entry: str
    organisation_id: int
    organisation: str
    score: str
    award: str | None


class FigureOut(Schema):
    key: str
    section: str
    label: str
    value: str
    unit: str
    definition: str
    rows: int


class FigureRowsOut(Schema):
    figure: FigureOut
    columns: list[str]
    rows: list[list[Any]]


# -- converters ----------------------------------------------------------------------------------------------------
def _event_out(e: Event) -> EventOut:
    counts = services.registration_counts(e)
    return EventOut(
        id=e.pk,
        title=e.title,
        kind=e.kind,
        organiser=e.organiser.name,
        community=e.community.name if e.community else None,
        venue=e.venue,
        starts_at=e.starts_at,
        ends_at=e.ends_at,
        status=e.status,
        capacity=e.capacity,
        confirmed=counts["confirmed"],
        waitlisted=counts["waitlisted"],
        hosts=counts["hosts"],
        agenda=e.agenda,
        meetings_start=e.meetings_start,
        meeting_slots=e.meeting_slots,
        slot_minutes=e.slot_minutes,
        tables=e.tables,
    )


def _registration_out(r: Registration) -> RegistrationOut:
    return RegistrationOut(
        id=r.pk,
        event_id=r.event_id,
        event=r.event.title,
        role=r.role,
        name=r.name,
        organisation_name=r.organisation_name,
        status=r.status,
        waitlist_position=services.waitlist_position(r),
        ticket=tickets.sign(r.code),
        checked_in_at=r.checked_in_at,
    )


def _scope(request: HttpRequest, capability: Capability) -> Scope:
    scope = scope_for(request)
    scope.require(capability)
    return scope


def _skills(codes: list[str]) -> list[Skill]:
    wanted = sorted(set(codes))
    skills = list(Skill.objects.filter(code__in=wanted))
    if len(skills) != len(wanted):
        unknown = sorted(set(wanted) - {s.code for s in skills})
        raise DomainError(_("Unknown skills: %(codes)s.") % {"codes": ", ".join(unknown)[:200]})
    return skills


# -- public --------------------------------------------------------------------------------------------------------
@router.get(
    "/", auth=None, response={200: list[EventOut], 422: ERRORS[422]}, summary="Upcoming public events"
)
def public_list(request: HttpRequest) -> list[EventOut]:
    return [_event_out(e) for e in selectors.public_events()[:200]]


@router.get(
    "/{int:event_id}",
    auth=None,
    response={200: EventOut, 404: ErrorOut, 422: ERRORS[422]},
    summary="One event (published, or your own)",
)
def public_detail(request: HttpRequest, event_id: int = Path(..., ge=1, le=MAX_ID)) -> EventOut:
    return _event_out(selectors.visible_event(scope_for(request), event_id))


@router.get(
    "/competitions", auth=None, response={200: list[CompetitionOut], 422: ERRORS[422]}, summary="Competitions"
)
def competitions(request: HttpRequest) -> list[CompetitionOut]:
    return [
        CompetitionOut(
            id=c.pk,
            title=c.title,
            theme=c.theme,
            status=c.status,
            submissions_close=c.submissions_close,
            entries=getattr(c, "entry_count", 0),
        )
        for c in selectors.public_competitions()[:200]
    ]


@router.get(
    "/competitions/{int:competition_id}/results",
    auth=None,
    response={200: list[ResultOut], 404: ErrorOut, 422: ERRORS[422]},
    summary="Published results of a competition (ties share a rank)",
)
def competition_results(
    request: HttpRequest, competition_id: int = Path(..., ge=1, le=MAX_ID)
) -> list[ResultOut]:
    comp = selectors.visible_competition(scope_for(request), competition_id)
    return [
        ResultOut(
            rank=r.rank,
            entry=r.submission.title,
            organisation_id=r.submission.organisation_id,
            organisation=r.submission.organisation.name,
            score=format(r.total, "f"),
            award=r.award.name if r.award else None,
        )
        for r in comp.results.select_related("submission__organisation", "award")
    ]


# -- participants --------------------------------------------------------------------------------------------------
@router.post(
    "/{int:event_id}/registrations",
    response={201: RegistrationOut, **WRITE_ERRORS},
    summary="Sign up for an event (a seat, or the waitlist when full)",
)
def register(
    request: HttpRequest, payload: RegisterIn, event_id: int = Path(..., ge=1, le=MAX_ID)
) -> Status[RegistrationOut]:
    scope = scope_for(request)
    event = selectors.visible_event(scope, event_id)
    host = None
    if payload.role != RegistrationRole.ATTENDEE:
        host = services.HostDetails(
            ticket_min=payload.ticket_min,
            ticket_max=payload.ticket_max,
            brings_orders=payload.brings_orders,
            orders_value=payload.orders_value,
        )
    reg = services.register(
        event=event,
        name=payload.name,
        actor=acting_user(request),
        organisation=scope.organisation,
        contact=payload.contact,
        role=payload.role.value,
        interests=_skills(payload.interests),
        host=host,
    )
    return Status(201, _registration_out(reg))


@router.get(
    "/registrations/mine", response={200: list[RegistrationOut], **ERRORS}, summary="Your registrations"
)
def my_registrations(request: HttpRequest) -> list[RegistrationOut]:
    return [_registration_out(r) for r in selectors.registrations_of_user(request.user)[:500]]


@router.post(
    "/registrations/{int:registration_id}/cancel",
    response={200: CancelOut, **WRITE_ERRORS},
    summary="Cancel your registration (the first on the waitlist moves up)",
)
def cancel(request: HttpRequest, registration_id: int = Path(..., ge=1, le=MAX_ID)) -> CancelOut:
    user = acting_user(request)
    reg = Registration.objects.select_related("event").filter(pk=registration_id, user=user).first()
    if reg is None:
        raise NotFound()
    cancelled, promoted = services.cancel_registration(registration=reg, actor=user)
    return CancelOut(
        cancelled=_registration_out(cancelled), promoted=[_registration_out(p) for p in promoted]
    )


# -- organiser -----------------------------------------------------------------------------------------------------
@router.get("/managed", response={200: list[EventOut], **ERRORS}, summary="Events you organise")
def managed_list(request: HttpRequest) -> list[EventOut]:
    scope = _scope(request, Capability.COMMUNITY_MANAGE)
    qs = selectors.managed_events(scope).select_related("organiser", "community").order_by("-starts_at")
    return [_event_out(e) for e in qs[:500]]


@router.post("/managed", response={201: EventOut, **WRITE_ERRORS}, summary="Create an event (draft)")
def managed_create(request: HttpRequest, payload: EventIn) -> Status[EventOut]:
    scope = _scope(request, Capability.COMMUNITY_MANAGE)
    community = None
    if payload.community_id is not None:
        community = scope.get_managed_community(payload.community_id)
    values = payload.model_dump(exclude={"community_id"})
    values["kind"] = payload.kind.value
    organiser = scope.organisation
    if organiser is None:  # pragma: no cover - require() guarantees one
        raise NotPermitted()
    event = services.create_event(
        organiser=organiser, actor=acting_user(request), community=community, **values
    )
    return Status(201, _event_out(event))


@router.get(
    "/managed/{int:event_id}/registrations",
    response={200: list[RegistrationAdminOut], 404: ErrorOut, **ERRORS},
    summary="Sign-ups of an event you organise",
)
def managed_registrations(
    request: HttpRequest, event_id: int = Path(..., ge=1, le=MAX_ID)
) -> list[RegistrationAdminOut]:
    event = selectors.get_managed_event(_scope(request, Capability.COMMUNITY_MANAGE), event_id)
    out = []
    for r in selectors.event_registrations(event).select_related("event"):
        base = _registration_out(r)
        out.append(RegistrationAdminOut(**base.model_dump(), contact=r.contact, created_at=r.created_at))
    return out


@router.post(
    "/managed/{int:event_id}/checkin",
    response={200: RegistrationOut, **WRITE_ERRORS},
    summary="Check a ticket in (409 when already checked in)",
)
def checkin(
    request: HttpRequest, payload: CheckinIn, event_id: int = Path(..., ge=1, le=MAX_ID)
) -> RegistrationOut:
    event = selectors.get_managed_event(_scope(request, Capability.COMMUNITY_MANAGE), event_id)
    reg = services.check_in(event=event, code_text=payload.code, actor=acting_user(request))
    return _registration_out(reg)


def _run_out(run: Any) -> RunOut:
    return RunOut(
        id=run.pk,
        method=run.method,
        optimal=run.optimal,
        total_interest=format(run.total_interest, "f"),
        bound=format(run.bound, "f"),
        seconds=run.seconds,
        published=run.published_at is not None,
        meetings=[
            MeetingOut(
                slot=m.slot,
                table=m.table,
                starts_at=m.starts_at,
                ends_at=m.ends_at,
                host_id=m.host_id,
                host=m.host.organisation_name or m.host.name,
                attendee_id=m.attendee_id,
                attendee=m.attendee.name,
                interest=format(m.interest, "f"),
            )
            for m in selectors.run_meetings(run)
        ],
    )


@router.post(
    "/managed/{int:event_id}/schedule",
    response={201: RunOut, **WRITE_ERRORS},
    summary="Compute a 1:1 meeting schedule (exact; publish it on the page)",
)
def schedule_run(request: HttpRequest, event_id: int = Path(..., ge=1, le=MAX_ID)) -> Status[RunOut]:
    event = selectors.get_managed_event(_scope(request, Capability.COMMUNITY_MANAGE), event_id)
    run = services.run_scheduler(event=event, actor=acting_user(request))
    return Status(201, _run_out(run))


@router.get(
    "/managed/{int:event_id}/schedule",
    response={200: RunOut, 404: ErrorOut, **ERRORS},
    summary="The published schedule (else the latest computed one)",
)
def schedule_get(request: HttpRequest, event_id: int = Path(..., ge=1, le=MAX_ID)) -> RunOut:
    event = selectors.get_managed_event(_scope(request, Capability.COMMUNITY_MANAGE), event_id)
    run = selectors.published_run(event) or event.meeting_runs.first()
    if run is None:
        raise NotFound(_("No schedule has been computed for this event."))
    return _run_out(run)


# -- dashboards ----------------------------------------------------------------------------------------------------
def _dashboard_scope(request: HttpRequest) -> Scope:
    from events.dashboards import may_view

    scope = scope_for(request)
    if not may_view(scope):
        raise NotPermitted(_("Dashboards are for community operators and government authorities."))
    return scope


def _figure_out(f: Any) -> FigureOut:
    return FigureOut(
        key=f.key,
        section=f.section,
        label=f.label,
        value=str(f.value),
        unit=f.unit,
        definition=f.definition,
        rows=f.row_count,
    )


@router.get("/dashboard", response={200: list[FigureOut], **ERRORS}, summary="Oversight figures of your area")
def dashboard(request: HttpRequest, community: str | None = None) -> list[FigureOut]:
    """``community``: narrow every figure to one community of your area (its id)."""
    from events.dashboards import figures, overseen_community

    scope = _dashboard_scope(request)
    return [_figure_out(f) for f in figures(scope, overseen_community(scope, community))]


@router.get(
    "/dashboard/{key}/rows",
    response={200: FigureRowsOut, 404: ErrorOut, **ERRORS},
    summary="The rows one figure is counted from",
)
def dashboard_rows(
    request: HttpRequest, key: str = Path(..., max_length=40), community: str | None = None
) -> FigureRowsOut:
    from events.dashboards import figure, overseen_community

    scope = _dashboard_scope(request)
    fig = figure(scope, key, overseen_community(scope, community))
    if fig is None:
        raise NotFound()
    rows = [[_json_cell(v) for v in row] for row in fig.rows()]
    return FigureRowsOut(figure=_figure_out(fig), columns=[str(c) for c in fig.columns], rows=rows)


def _json_cell(value: Any) -> Any:
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(cell(value))
