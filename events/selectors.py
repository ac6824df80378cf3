"""Reads of events and competitions, shared by pages and the API.

Tenancy: an event or competition belongs to the operator that organises it. ``managed_*`` helpers take the
caller's ``Scope`` (``organisations.access``) and return only the organiser's own objects (another tenant's
id is "not found"); the capability itself is declared on the view (``community.manage``). Public reads show
published events and competitions only. A ticket is reached by its signed code (``events.tickets``), which
is the bearer's proof, like a paper ticket.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from django.db.models import Count, Model, Q, QuerySet, Sum
from django.utils import timezone

from core.errors import NotFound
from core.http import parse_id
from events import tickets
from events.models import (
    Badge,
    Competition,
    CompetitionStatus,
    Event,
    EventOrder,
    EventStatus,
    InvestmentIntent,
    Meeting,
    MeetingRun,
    Registration,
    RegistrationRole,
    RegistrationStatus,
)
from organisations.access import Scope
from organisations.capabilities import Capability

M = TypeVar("M", bound=Model)

PUBLIC_EVENT_STATUSES = (EventStatus.PUBLISHED, EventStatus.CLOSED)
PUBLIC_COMPETITION_STATUSES = (CompetitionStatus.OPEN, CompetitionStatus.JUDGING, CompetitionStatus.CLOSED)


def _id(pk: Any) -> int:
    value = parse_id(pk)
    if value is None:
        raise NotFound()
    return value


def _organiser_id(scope: Scope) -> int | None:
    if scope.is_operator and scope.has(Capability.COMMUNITY_MANAGE) and scope.organisation is not None:
        return scope.organisation.pk
    return None


# ------------------------------------------------------------------------------------------------ events


def with_counts(qs: QuerySet[Event]) -> QuerySet[Event]:
    attendee = Q(registrations__role=RegistrationRole.ATTENDEE)
    return qs.select_related("community", "organiser").annotate(
        confirmed_count=Count(
            "registrations", filter=attendee & Q(registrations__status=RegistrationStatus.CONFIRMED)
        ),
        waitlisted_count=Count(
            "registrations", filter=attendee & Q(registrations__status=RegistrationStatus.WAITLISTED)
        ),
        host_count=Count(
            "registrations",
            filter=~attendee & Q(registrations__status=RegistrationStatus.CONFIRMED),
        ),
    )


def managed_events(scope: Scope) -> QuerySet[Event]:
    organiser = _organiser_id(scope)
    if organiser is None:
        return Event.objects.none()
    return Event.objects.filter(organiser_id=organiser)


def get_managed_event(scope: Scope, pk: Any) -> Event:
    event = managed_events(scope).select_related("organiser", "community").filter(pk=_id(pk)).first()
    if event is None:
        raise NotFound()
    return event


def managed_object(scope: Scope, model: type[M], pk: Any, event_path: str = "event") -> M:
    """An object of one of the caller's events (``event_path`` leads from the object to its event)."""
    organiser = _organiser_id(scope)
    if organiser is None:
        raise NotFound()
    obj = model._default_manager.filter(pk=_id(pk), **{f"{event_path}__organiser_id": organiser}).first()
    if obj is None:
        raise NotFound()
    return obj


def public_events(*, upcoming_only: bool = True, now: dt.datetime | None = None) -> QuerySet[Event]:
    qs = Event.objects.filter(status__in=PUBLIC_EVENT_STATUSES)
    if upcoming_only:
        qs = qs.filter(ends_at__gte=now or timezone.now())
    return with_counts(qs).order_by("starts_at", "id")


def visible_event(scope: Scope, pk: Any) -> Event:
    """A published event, or one of the caller's own in any state."""
    q = Q(status__in=PUBLIC_EVENT_STATUSES)
    organiser = _organiser_id(scope)
    if organiser is not None:
        q |= Q(organiser_id=organiser)
    event = with_counts(Event.objects.filter(q, pk=_id(pk))).first()
    if event is None:
        raise NotFound()
    return event


def registration_by_ticket(text: str) -> Registration | None:
    """The registration a signed ticket code stands for (None when unknown or not genuine)."""
    code, valid = tickets.parse(text)
    if code is None or not valid:
        return None
    return Registration.objects.select_related("event__organiser", "organisation").filter(code=code).first()


def get_ticket(code: str) -> Registration:
    reg = registration_by_ticket(code)
    if reg is None:
        raise NotFound()
    return reg


def registrations_of_user(user: Any) -> QuerySet[Registration]:
    if user is None or not user.is_authenticated:
        return Registration.objects.none()
    return (
        Registration.objects.filter(user=user)
        .select_related("event")
        .order_by("-event__starts_at", "-created_at")
    )


def user_registration(event: Event, user: Any) -> Registration | None:
    if user is None or not user.is_authenticated:
        return None
    return (
        Registration.objects.filter(event=event, user=user)
        .exclude(status=RegistrationStatus.CANCELLED)
        .first()
    )


def event_registrations(event: Event) -> QuerySet[Registration]:
    return (
        Registration.objects.filter(event=event)
        .select_related("organisation")
        .prefetch_related("interests")
        .order_by("created_at", "id")
    )


def published_run(event: Event) -> MeetingRun | None:
    return MeetingRun.objects.filter(event=event, published_at__isnull=False).first()


def meetings_of(run: MeetingRun | None, registration: Registration) -> QuerySet[Meeting]:
    """A participant's meetings in the published run; none once they cancelled, and none with someone who
    cancelled since the run was computed (that table stays free)."""
    if run is None or registration.status == RegistrationStatus.CANCELLED:
        return Meeting.objects.none()
    return (
        Meeting.objects.filter(run=run)
        .filter(Q(host=registration) | Q(attendee=registration))
        .exclude(host__status=RegistrationStatus.CANCELLED)
        .exclude(attendee__status=RegistrationStatus.CANCELLED)
        .select_related("host", "attendee")
        .order_by("slot")
    )


def run_meetings(run: MeetingRun) -> QuerySet[Meeting]:
    return Meeting.objects.filter(run=run).select_related("host", "attendee").order_by("slot", "table")


def outcome_totals(event: Event) -> dict[str, Any]:
    orders = event.outcome_orders.select_related("order")
    order_value = sum(((link.order.price or link.order.budget_max) for link in orders), start=0)
    intents = event.investment_intents.exclude(status="withdrawn")
    return {
        "orders": orders.count(),
        "order_value": order_value,
        "intents": intents.count(),
        "intent_amount": intents.aggregate(total=Sum("amount"))["total"] or 0,
    }


# ------------------------------------------------------------------------------------------------ competitions


def managed_competitions(scope: Scope) -> QuerySet[Competition]:
    organiser = _organiser_id(scope)
    if organiser is None:
        return Competition.objects.none()
    return Competition.objects.filter(organiser_id=organiser)


def get_managed_competition(scope: Scope, pk: Any) -> Competition:
    comp = managed_competitions(scope).select_related("organiser").filter(pk=_id(pk)).first()
    if comp is None:
        raise NotFound()
    return comp


def public_competitions() -> QuerySet[Competition]:
    return (
        Competition.objects.filter(status__in=PUBLIC_COMPETITION_STATUSES)
        .select_related("organiser")
        .annotate(entry_count=Count("submissions", filter=Q(submissions__status="submitted")))
    )


def visible_competition(scope: Scope, pk: Any) -> Competition:
    q = Q(status__in=PUBLIC_COMPETITION_STATUSES)
    organiser = _organiser_id(scope)
    if organiser is not None:
        q |= Q(organiser_id=organiser)
    comp = Competition.objects.filter(q, pk=_id(pk)).select_related("organiser").first()
    if comp is None:
        raise NotFound()
    return comp


def badges_for(organisation_id: int) -> QuerySet[Badge]:
    return Badge.objects.filter(organisation_id=organisation_id).select_related("competition", "award")


def intents_for_opc(organisation_id: int) -> QuerySet[InvestmentIntent]:
    """Investment intents recorded at events for this OPC (its own follow-ups)."""
    return (
        InvestmentIntent.objects.filter(opc_id=organisation_id)
        .select_related("event", "investor")
        .order_by("-recorded_at", "-id")
    )


def event_orders_for_client(organisation_id: int) -> QuerySet[EventOrder]:
    """Orders that came out of events with this organisation as the client (drafts wait for it to publish)."""
    return (
        EventOrder.objects.filter(order__client_id=organisation_id)
        .select_related("event", "order", "order__category")
        .order_by("-recorded_at", "-id")
    )
