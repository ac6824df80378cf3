"""Writes of events, roadshows, 1:1 meetings, follow-ups and competitions.

Views, API handlers and the demo are thin callers: they take objects from the caller's scope
(``events.selectors``: a foreign event is "not found") and pass the acting organisation in; these functions
check the domain rules and the transition tables below, change the data and append an audit record in the
same transaction. A refusal raises a ``core.errors.DomainError`` with a translated message; nothing changes.

Seats and the waitlist (concurrency): every registration, cancellation and capacity change of an event
locks the **event row** first (``select_for_update``) and counts the confirmed attendees under that lock, so
N parallel sign-ups for C free seats confirm exactly C of them and wait-list the rest (tested with real
parallel connections on PostgreSQL). A freed seat goes to the earliest waiting sign-up in the same
transaction. Check-in is a conditional ``UPDATE … WHERE checked_in_at IS NULL``: a second scan is refused
with the time of the first.

Decisions recorded here:
- anyone may sign up as an attendee (visitors with a name and a mobile number or e-mail, members with their
  account); investors and industry parties are hosts of 1:1 meetings and do not take seats: clients and
  providers sign up as hosts themselves, the organiser invites others;
- the waitlist is strictly first come, first served; cancelled sign-ups can sign up again (at the back);
- a checked-in registration cannot be cancelled; only confirmed registrations can check in;
- mutual interest of attendee a and host h = a's rating of h + h's rating of a (1–3 each, 0 when not
  rated) + shared interests (at most 2); pairs with zero interest never meet;
- a competition's results need every judge's score on every criterion of every submission; judges may not
  score their own organisation's entry; tied totals share a rank (1, 1, 3) and so share an award.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.urls import NoReverseMatch
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from audit.services import diff, record_audit
from core.errors import Conflict, DomainError, InvalidTransition, NotFound, NotPermitted
from events import scheduling, tickets
from events.models import (
    HOST_ROLES,
    ApplicationStatus,
    Award,
    Badge,
    Competition,
    CompetitionStatus,
    Criterion,
    Event,
    EventKind,
    EventOrder,
    EventStatus,
    IntentStatus,
    InvestmentIntent,
    Judge,
    Meeting,
    MeetingRequest,
    MeetingRun,
    Registration,
    RegistrationRole,
    RegistrationStatus,
    Result,
    RoadshowApplication,
    Score,
    Submission,
    SubmissionStatus,
)
from ledger.money import MAX_AMOUNT, exact_fen
from organisations.capabilities import OrgKind
from organisations.models import Organisation, Skill

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile

    from accounts.models import User
    from communities.models import Community
    from marketplace.models import Order

E, R, C = EventStatus, RegistrationStatus, CompetitionStatus

EVENT_TRANSITIONS: dict[str, set[str]] = {
    E.DRAFT: {E.PUBLISHED, E.CANCELLED},
    E.PUBLISHED: {E.CLOSED, E.CANCELLED},
    E.CLOSED: {E.PUBLISHED, E.CANCELLED},
    E.CANCELLED: set(),
}

APPLICATION_TRANSITIONS: dict[str, set[str]] = {
    ApplicationStatus.SUBMITTED: {
        ApplicationStatus.SELECTED,
        ApplicationStatus.DECLINED,
        ApplicationStatus.WITHDRAWN,
    },
    ApplicationStatus.SELECTED: {ApplicationStatus.DECLINED, ApplicationStatus.WITHDRAWN},
    ApplicationStatus.DECLINED: {ApplicationStatus.SELECTED},
    ApplicationStatus.WITHDRAWN: set(),
}

INTENT_TRANSITIONS: dict[str, set[str]] = {
    IntentStatus.INTENT: {IntentStatus.SIGNED, IntentStatus.WITHDRAWN},
    IntentStatus.SIGNED: set(),
    IntentStatus.WITHDRAWN: set(),
}

# draft → open needs criteria; judging → closed happens only through ``publish_results``.
COMPETITION_TRANSITIONS: dict[str, set[str]] = {
    C.DRAFT: {C.OPEN, C.CANCELLED},
    C.OPEN: {C.JUDGING, C.CANCELLED},
    C.JUDGING: {C.CLOSED, C.CANCELLED},
    C.CLOSED: set(),
    C.CANCELLED: set(),
}

MAX_CAPACITY = 100_000
MAX_SLOTS = 48
MAX_TABLES = 500
MAX_REQUESTS = 60
SCHEDULER_TIME_LIMIT = 20.0
TWO = Decimal("0.01")


def check_transition(table: dict[str, set[str]], current: str, target: str, *, labels: Any) -> None:
    """Raise ``InvalidTransition`` unless ``current → target`` is in ``table``."""
    if target not in table.get(current, set()):

        def label(value: str) -> str:
            return str(labels(value).label) if value in labels.values else value

        raise InvalidTransition(
            _("This cannot change from “%(current)s” to “%(target)s”.")
            % {"current": label(current), "target": label(target)}
        )


# ------------------------------------------------------------------------------------------------ helpers


def _text(value: Any, *, field: str, max_length: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError(_("%(field)s must be text.") % {"field": field})
    value = value.strip()
    if required and not value:
        raise DomainError(_("%(field)s is required.") % {"field": field})
    if len(value) > max_length:
        raise DomainError(
            _("%(field)s is too long (at most %(max)d characters).") % {"field": field, "max": max_length}
        )
    return value


def _int(value: Any, *, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError(_("%(field)s must be a whole number.") % {"field": field})
    if not low <= value <= high:
        raise DomainError(
            _("%(field)s must be between %(low)d and %(high)d.") % {"field": field, "low": low, "high": high}
        )
    return value


def _money(value: Any, *, field: str, required: bool = False) -> Decimal | None:
    if value is None or value == "":
        if required:
            raise DomainError(_("%(field)s is required.") % {"field": field})
        return None
    amount = exact_fen(value)
    if amount <= 0:
        raise DomainError(_("%(field)s must be a positive amount.") % {"field": field})
    if amount >= MAX_AMOUNT:
        raise DomainError(_("%(field)s is too large.") % {"field": field})
    return amount


def _moment(value: Any, *, field: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise DomainError(_("%(field)s must be a date and time.") % {"field": field})
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if not dt.date(2000, 1, 1) <= value.date() <= dt.date(2100, 12, 31):
        raise DomainError(_("%(field)s is out of range.") % {"field": field})
    return value


def _require_operator(org: Organisation | None) -> Organisation:
    if org is None or org.kind != OrgKind.OPERATOR:
        raise NotPermitted(_("Only a community operator can organise events and competitions."))
    return org


def _lock_event(event: Event) -> Event:
    locked = (
        Event.objects.select_for_update(of=("self",)).select_related("organiser").filter(pk=event.pk).first()
    )
    if locked is None:
        raise NotFound()
    return locked


def _audit(
    action: str,
    *,
    actor: User | None,
    organisation: Organisation | None,
    target: Any,
    message: str,
    params: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
) -> None:
    record_audit(
        action=f"events.{action}",
        actor=actor,
        organisation=organisation,
        target=target,
        message=message,
        params=params,
        changes=changes,
    )


def _file_digest(upload: UploadedFile) -> str:
    sha = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        sha.update(chunk)
    upload.seek(0)
    return sha.hexdigest()


def normalise_contact(raw: str) -> str:
    """An 11-digit mainland mobile number or a lower-case e-mail address; ``DomainError`` otherwise."""
    from accounts.phone import looks_like_phone, normalise_phone

    text = (raw or "").strip()
    if not text:
        raise DomainError(_("Enter a mobile number or an e-mail address."))
    try:
        if looks_like_phone(text):
            return normalise_phone(text)
        EmailValidator()(text)
    except ValidationError:
        raise DomainError(
            _("Enter an 11-digit mainland China mobile number or a valid e-mail address.")
        ) from None
    return text.lower()


def mask_contact(contact: str) -> str:
    """138****8000 / l***@example.cn, for lists that do not need the full contact."""
    if not contact:
        return ""
    if "@" in contact:
        name, _sep, domain = contact.partition("@")
        return f"{name[:1]}***@{domain}"
    return f"{contact[:3]}****{contact[-4:]}" if len(contact) >= 8 else "****"


# ------------------------------------------------------------------------------------------------ events

EVENT_FIELDS = [
    "title",
    "kind",
    "description",
    "agenda",
    "venue",
    "starts_at",
    "ends_at",
    "capacity",
    "roadshow_slots",
    "meetings_start",
    "meeting_slots",
    "slot_minutes",
    "tables",
    "meetings_per_attendee",
]


def _clean_event(values: Mapping[str, Any], current: Event | None = None) -> dict[str, Any]:
    get = (lambda k: values[k] if k in values else getattr(current, k)) if current else values.get
    clean: dict[str, Any] = {
        "title": _text(get("title"), field=_("Title"), max_length=200, required=True),
        "description": _text(get("description"), field=_("Description"), max_length=10000),
        "agenda": _text(get("agenda"), field=_("Agenda"), max_length=5000),
        "venue": _text(get("venue"), field=_("Venue"), max_length=200, required=True),
        "starts_at": _moment(get("starts_at"), field=_("Start")),
        "ends_at": _moment(get("ends_at"), field=_("End")),
        "capacity": _int(get("capacity"), field=_("Seats"), low=1, high=MAX_CAPACITY),
        "roadshow_slots": _int(get("roadshow_slots") or 0, field=_("Roadshow slots"), low=0, high=100),
        "meeting_slots": _int(get("meeting_slots") or 0, field=_("Meeting slots"), low=0, high=MAX_SLOTS),
        "slot_minutes": _int(get("slot_minutes") or 15, field=_("Minutes per meeting"), low=5, high=120),
        "tables": _int(get("tables") or 0, field=_("Tables"), low=0, high=MAX_TABLES),
        "meetings_per_attendee": _int(
            get("meetings_per_attendee") or 0, field=_("Meetings per attendee"), low=0, high=MAX_SLOTS
        ),
    }
    kind = get("kind") or EventKind.MATCHMAKING
    if kind not in EventKind.values:
        raise DomainError(_("Unknown kind of event."))
    clean["kind"] = kind
    if clean["ends_at"] <= clean["starts_at"]:
        raise DomainError(_("The event must end after it starts."))
    meetings_start = get("meetings_start")
    clean["meetings_start"] = None
    if meetings_start not in (None, ""):
        start = _moment(meetings_start, field=_("1:1 meetings start"))
        end = start + dt.timedelta(minutes=clean["slot_minutes"] * clean["meeting_slots"])
        if start < clean["starts_at"] or end > clean["ends_at"]:
            raise DomainError(
                _("The 1:1 meetings (%(start)s – %(end)s) must fit within the event.")
                % {
                    "start": timezone.localtime(start).strftime("%H:%M"),
                    "end": timezone.localtime(end).strftime("%H:%M"),
                }
            )
        clean["meetings_start"] = start
    return clean


@transaction.atomic
def create_event(
    *, organiser: Organisation, actor: User | None, community: Community | None = None, **values: Any
) -> Event:
    """A new event in draft (the organiser publishes it to open registration)."""
    _require_operator(organiser)
    unknown = set(values) - set(EVENT_FIELDS)
    if unknown:
        raise DomainError(_("Unknown fields: %(fields)s.") % {"fields": ", ".join(sorted(unknown))})
    clean = _clean_event(values)
    if community is not None and community.operator_id != organiser.pk:
        raise NotPermitted(_("You can only hold events in communities you operate."))
    event = Event.objects.create(organiser=organiser, community=community, created_by=actor, **clean)
    _audit(
        "event_created",
        actor=actor,
        organisation=organiser,
        target=event,
        message=gettext_noop("Event %(title)s created"),
        params={"title": event.title},
        changes={k: clean[k] for k in ("starts_at", "venue", "capacity")},
    )
    return event


_UNSET: Any = object()


@transaction.atomic
def update_event(
    *, event: Event, actor: User | None, values: Mapping[str, Any], community: Community | None = _UNSET
) -> tuple[Event, list[Registration]]:
    """Change an event's facts. A larger capacity moves waiting sign-ups up; a capacity below the confirmed
    attendees is refused. Returns the event and the registrations that moved up."""
    ev = _lock_event(event)
    if ev.status == E.CANCELLED:
        raise InvalidTransition(_("A cancelled event cannot be changed."))
    clean = _clean_event({k: v for k, v in values.items() if k in EVENT_FIELDS}, ev)
    confirmed = _confirmed_attendees(ev)
    if clean["capacity"] < confirmed:
        raise Conflict(
            _("%(count)d attendees are already confirmed; cancel some before lowering the seats below that.")
            % {"count": confirmed}
        )
    if (
        clean["meeting_slots"] < ev.meeting_slots
        and Registration.objects.filter(event=ev).exclude(available_slots=[]).exists()
    ):
        # Availability refers to slot numbers; drop the ones that no longer exist.
        for reg in Registration.objects.filter(event=ev).exclude(available_slots=[]):
            reg.available_slots = [s for s in reg.available_slots if s < clean["meeting_slots"]]
            reg.save(update_fields=["available_slots"])
    changes = diff(ev, EVENT_FIELDS, clean)
    if community is not _UNSET:
        if community is not None and community.operator_id != ev.organiser_id:
            raise NotPermitted(_("You can only hold events in communities you operate."))
        if ev.community_id != (community.pk if community else None):
            changes["community"] = [ev.community_id, community.pk if community else None]
            ev.community = community
    for key, value in clean.items():
        setattr(ev, key, value)
    ev.save()
    promoted = _promote(ev, actor=actor)
    if changes:
        _audit(
            "event_updated",
            actor=actor,
            organisation=ev.organiser,
            target=ev,
            message=gettext_noop("Event %(title)s changed"),
            params={"title": ev.title},
            changes=changes,
        )
    return ev, promoted


@transaction.atomic
def set_event_status(*, event: Event, target: str, actor: User | None) -> Event:
    ev = _lock_event(event)
    check_transition(EVENT_TRANSITIONS, ev.status, target, labels=EventStatus)
    previous = ev.status
    ev.status = target
    if target == E.PUBLISHED and ev.published_at is None:
        ev.published_at = timezone.now()
    ev.save(update_fields=["status", "published_at"])
    _audit(
        "event_status_changed",
        actor=actor,
        organisation=ev.organiser,
        target=ev,
        message=gettext_noop("Event %(title)s: %(previous)s → %(target)s"),
        params={"title": ev.title, "previous": previous, "target": target},
        changes={"status": [previous, target]},
    )
    return ev


# ------------------------------------------------------------------------------------------------ registrations


def _confirmed_attendees(ev: Event) -> int:
    return Registration.objects.filter(event=ev, role=RegistrationRole.ATTENDEE, status=R.CONFIRMED).count()


def registration_open(ev: Event, *, now: dt.datetime | None = None) -> bool:
    return ev.status == E.PUBLISHED and (now or timezone.now()) < ev.ends_at


def _promote(ev: Event, *, actor: User | None) -> list[Registration]:
    """Fill free seats from the waitlist, first come first served (the event row is locked by the caller)."""
    free = ev.capacity - _confirmed_attendees(ev)
    if free <= 0:
        return []
    waiting = list(
        Registration.objects.select_for_update()
        .filter(event=ev, role=RegistrationRole.ATTENDEE, status=R.WAITLISTED)
        .order_by("created_at", "id")[:free]
    )
    now = timezone.now()
    for reg in waiting:
        reg.status = R.CONFIRMED
        reg.promoted_at = now
        reg.save(update_fields=["status", "promoted_at"])
        _audit(
            "registration_promoted",
            actor=actor,
            organisation=ev.organiser,
            target=reg,
            message=gettext_noop("%(name)s moved up from the waitlist of %(title)s"),
            params={"name": reg.name, "title": ev.title},
            changes={"status": [R.WAITLISTED, R.CONFIRMED]},
        )
    return waiting


@dataclass(frozen=True)
class HostDetails:
    """What an investor or industry party brings (all optional)."""

    ticket_min: Decimal | str | int | None = None
    ticket_max: Decimal | str | int | None = None
    brings_orders: str = ""
    orders_value: Decimal | str | int | None = None


def _host_values(details: HostDetails | None) -> dict[str, Any]:
    if details is None:
        return {}
    low = _money(details.ticket_min, field=_("Ticket size from"))
    high = _money(details.ticket_max, field=_("Ticket size to"))
    if low is not None and high is not None and low > high:
        raise DomainError(_("The lower ticket size must not exceed the upper one."))
    return {
        "ticket_min": low,
        "ticket_max": high,
        "brings_orders": _text(details.brings_orders, field=_("Orders brought"), max_length=2000),
        "orders_value": _money(details.orders_value, field=_("Value of orders brought")),
    }


@transaction.atomic
def register(
    *,
    event: Event,
    name: str,
    actor: User | None,
    organisation: Organisation | None = None,
    contact: str = "",
    organisation_name: str = "",
    role: str = RegistrationRole.ATTENDEE,
    interests: Iterable[Skill] = (),
    host: HostDetails | None = None,
    invited_by_organiser: bool = False,
) -> Registration:
    """Sign up for an event. Attendees get a seat while there is one, else a place on the waitlist; hosts
    (investors, industry parties) are confirmed at once. ``actor`` is the signed-up person (None for a
    visitor, who must give a contact) or, with ``invited_by_organiser``, the organiser's user."""
    ev = _lock_event(event)
    if role not in RegistrationRole.values:
        raise DomainError(_("Unknown role."))
    name = _text(name, field=_("Name"), max_length=60, required=True)
    organisation_name = _text(organisation_name, field=_("Company"), max_length=120)
    user = None if invited_by_organiser else actor if actor is not None and actor.is_authenticated else None
    if invited_by_organiser:
        if ev.status == E.CANCELLED:
            raise InvalidTransition(_("This event was cancelled."))
        if role not in HOST_ROLES:
            raise DomainError(_("The organiser invites investors and industry parties; attendees sign up."))
        organisation = None
    else:
        if not registration_open(ev):
            raise InvalidTransition(_("Registration for this event is not open."))
        if role in HOST_ROLES and (
            organisation is None or organisation.kind not in (OrgKind.CLIENT, OrgKind.PROVIDER)
        ):
            raise NotPermitted(
                _("Investors and industry parties sign up with their client or provider organisation.")
            )
    # Visitors without an account are told apart (and reached) by their mobile number or e-mail.
    needs_contact = user is None and not invited_by_organiser
    contact = normalise_contact(contact) if (contact or needs_contact) else ""
    if organisation is not None:
        organisation_name = organisation_name or organisation.name
    if (
        user is not None
        and Registration.objects.filter(event=ev, user=user).exclude(status=R.CANCELLED).exists()
    ):
        raise Conflict(_("You have already signed up for this event."))
    if (
        contact
        and Registration.objects.filter(event=ev, contact=contact).exclude(status=R.CANCELLED).exists()
    ):
        raise Conflict(_("Someone has already signed up for this event with this mobile number or e-mail."))
    if role == RegistrationRole.ATTENDEE:
        status = R.CONFIRMED if _confirmed_attendees(ev) < ev.capacity else R.WAITLISTED
    else:
        status = R.CONFIRMED
    try:
        with transaction.atomic():
            reg = Registration.objects.create(
                event=ev,
                user=user,
                organisation=organisation,
                role=role,
                name=name,
                organisation_name=organisation_name,
                contact=contact,
                status=status,
                **(_host_values(host) if role in HOST_ROLES else {}),
            )
    except IntegrityError:
        raise Conflict(_("You have already signed up for this event.")) from None
    skills = list(interests)
    if any(not isinstance(s, Skill) for s in skills):
        raise DomainError(_("Interests must come from the skill taxonomy."))
    reg.interests.set(skills)
    _audit(
        "registered",
        actor=actor,
        organisation=ev.organiser,
        target=reg,
        message=gettext_noop("%(name)s signed up for %(title)s (%(status)s)"),
        params={"name": name, "title": ev.title, "status": status},
        changes={"role": role, "status": status, "organisation": organisation},
    )
    return reg


def waitlist_position(reg: Registration) -> int | None:
    """1 for the first in line; None when not waiting."""
    if reg.status != R.WAITLISTED:
        return None
    ahead = (
        Registration.objects.filter(event_id=reg.event_id, role=reg.role, status=R.WAITLISTED)
        .filter(Q(created_at__lt=reg.created_at) | Q(created_at=reg.created_at, id__lt=reg.pk))
        .count()
    )
    return ahead + 1


@transaction.atomic
def cancel_registration(
    *, registration: Registration, actor: User | None, by_organiser: bool = False
) -> tuple[Registration, list[Registration]]:
    """Cancel a sign-up; a freed seat goes to the first on the waitlist. Returns (cancelled, moved up)."""
    ev = _lock_event(registration.event)
    reg = Registration.objects.select_for_update().get(pk=registration.pk)
    if reg.status == R.CANCELLED:
        raise InvalidTransition(_("This registration is already cancelled."))
    if reg.checked_in_at is not None:
        raise InvalidTransition(
            _("This person has already checked in; the registration cannot be cancelled.")
        )
    previous = reg.status
    reg.status = R.CANCELLED
    reg.cancelled_at = timezone.now()
    reg.save(update_fields=["status", "cancelled_at"])
    _audit(
        "registration_cancelled",
        actor=actor,
        organisation=ev.organiser,
        target=reg,
        message=gettext_noop("Registration of %(name)s for %(title)s cancelled"),
        params={"name": reg.name, "title": ev.title},
        changes={"status": [previous, R.CANCELLED], "by_organiser": by_organiser},
    )
    promoted = _promote(ev, actor=actor) if previous == R.CONFIRMED else []
    return reg, promoted


@transaction.atomic
def check_in(*, event: Event, code_text: str, actor: User | None) -> Registration:
    """Check a ticket in at ``event``'s door: the code typed, or the scanned check-in URL. A second check-in
    is refused with the time of the first."""
    code, valid = tickets.parse(code_text)
    if code is None:
        raise DomainError(_("No ticket code found. Type the code under the QR image or scan it."))
    if not valid:
        raise DomainError(_("This ticket code is not genuine (its check characters do not match)."))
    reg = Registration.objects.select_related("event").filter(code=code).first()
    if reg is None or reg.event_id != event.pk:
        raise NotFound(_("This ticket is not for this event."))
    if reg.status == R.WAITLISTED:
        raise Conflict(_("%(name)s is still on the waitlist and has no seat yet.") % {"name": reg.name})
    if reg.status == R.CANCELLED:
        raise Conflict(_("The registration of %(name)s was cancelled.") % {"name": reg.name})
    now = timezone.now()
    updated = Registration.objects.filter(pk=reg.pk, status=R.CONFIRMED, checked_in_at__isnull=True).update(
        checked_in_at=now, checked_in_by=actor
    )
    if updated != 1:
        reg.refresh_from_db()
        if reg.checked_in_at is not None:
            raise Conflict(
                _("%(name)s has already checked in (at %(time)s).")
                % {"name": reg.name, "time": timezone.localtime(reg.checked_in_at).strftime("%Y-%m-%d %H:%M")}
            )
        raise Conflict()
    reg.checked_in_at = now
    reg.checked_in_by = actor
    _audit(
        "checked_in",
        actor=actor,
        organisation=event.organiser,
        target=reg,
        message=gettext_noop("%(name)s checked in at %(title)s"),
        params={"name": reg.name, "title": event.title},
        changes={"checked_in_at": [None, now]},
    )
    return reg


@transaction.atomic
def update_preferences(
    *,
    registration: Registration,
    actor: User | None,
    interests: Iterable[Skill] | None = None,
    available_slots: Sequence[int] | None = None,
    ratings: Mapping[int, int] | None = None,
    host: HostDetails | None = None,
) -> Registration:
    """A participant's interests, meeting availability (slot numbers; empty: all), ratings of the other side
    ({registration id: 0–3}, 0 removes) and, for hosts, ticket sizes and orders brought."""
    ev = _lock_event(registration.event)
    reg = Registration.objects.select_for_update().get(pk=registration.pk)
    if reg.status == R.CANCELLED:
        raise InvalidTransition(_("This registration is cancelled."))
    if ev.status == E.CANCELLED:
        raise InvalidTransition(_("This event was cancelled."))
    changes: dict[str, Any] = {}
    if interests is not None:
        skills = list(interests)
        if any(not isinstance(s, Skill) for s in skills):
            raise DomainError(_("Interests must come from the skill taxonomy."))
        reg.interests.set(skills)
        changes["interests"] = sorted(s.code for s in skills)
    if available_slots is not None:
        slots = sorted(set(available_slots))
        if any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < ev.meeting_slots for s in slots):
            raise DomainError(_("Choose meeting slots of this event."))
        reg.available_slots = [] if len(slots) == ev.meeting_slots else slots
        changes["available_slots"] = reg.available_slots
    if host is not None:
        if not reg.is_host:
            raise DomainError(_("Only investors and industry parties give ticket sizes and orders."))
        for key, value in _host_values(host).items():
            setattr(reg, key, value)
        changes["host"] = True
    reg.save()
    if ratings is not None:
        _set_ratings(ev, reg, ratings)
        changes["ratings"] = len([v for v in ratings.values() if v])
    _audit(
        "preferences_updated",
        actor=actor,
        organisation=ev.organiser,
        target=reg,
        message=gettext_noop("%(name)s updated their meeting preferences"),
        params={"name": reg.name},
        changes=changes,
    )
    return reg


def _set_ratings(ev: Event, reg: Registration, ratings: Mapping[int, int]) -> None:
    other_side = (
        [RegistrationRole.ATTENDEE] if reg.is_host else [RegistrationRole.INVESTOR, RegistrationRole.INDUSTRY]
    )
    valid = set(
        Registration.objects.filter(event=ev, role__in=other_side)
        .exclude(status=R.CANCELLED)
        .values_list("pk", flat=True)
    )
    for target, rating in ratings.items():
        if target not in valid:
            raise DomainError(_("You can only rate participants of the other side of this event."))
        if isinstance(rating, bool) or not isinstance(rating, int) or not 0 <= rating <= 3:
            raise DomainError(_("Interest is rated from 0 (none) to 3 (high)."))
    kept = {t: r for t, r in ratings.items() if r}
    if (
        len(kept) + MeetingRequest.objects.filter(source=reg).exclude(target_id__in=ratings).count()
        > MAX_REQUESTS
    ):
        raise DomainError(_("You can rate at most %(max)d participants.") % {"max": MAX_REQUESTS})
    MeetingRequest.objects.filter(source=reg, target_id__in=[t for t, r in ratings.items() if not r]).delete()
    for target, rating in kept.items():
        MeetingRequest.objects.update_or_create(
            source=reg, target_id=target, defaults={"event": ev, "rating": rating}
        )


# ------------------------------------------------------------------------------------------------ roadshow


@transaction.atomic
def apply_for_roadshow(
    *,
    event: Event,
    organisation: Organisation,
    actor: User | None,
    title: str,
    pitch: str,
    deck: UploadedFile | None = None,
) -> RoadshowApplication:
    """An OPC applies for a roadshow slot with its pitch and (optionally) a deck."""
    ev = _lock_event(event)
    if organisation.kind != OrgKind.OPC:
        raise NotPermitted(_("Only one-person companies (OPCs) pitch at roadshows."))
    if not registration_open(ev) or ev.roadshow_slots == 0:
        raise InvalidTransition(_("This event does not take roadshow applications now."))
    title = _text(title, field=_("Project"), max_length=120, required=True)
    pitch = _text(pitch, field=_("Pitch"), max_length=5000, required=True)
    if (
        RoadshowApplication.objects.filter(event=ev, organisation=organisation)
        .exclude(status=ApplicationStatus.WITHDRAWN)
        .exists()
    ):
        raise Conflict(_("Your company has already applied for this roadshow."))
    application = RoadshowApplication(
        event=ev, organisation=organisation, submitted_by=actor, title=title, pitch=pitch
    )
    if deck is not None:
        application.deck_sha256 = _file_digest(deck)
        application.deck_name = (deck.name or "deck")[-200:]
        application.deck.save(f"deck-{ev.pk}-{organisation.pk}.{_extension(deck.name)}", deck, save=False)
    try:
        with transaction.atomic():
            application.save()
    except IntegrityError:
        raise Conflict(_("Your company has already applied for this roadshow.")) from None
    _audit(
        "roadshow_applied",
        actor=actor,
        organisation=organisation,
        target=application,
        message=gettext_noop("%(org)s applied to pitch at %(title)s"),
        params={"org": organisation.name, "title": ev.title},
        changes={"deck_sha256": application.deck_sha256},
    )
    return application


def _extension(name: str | None) -> str:
    suffix = (name or "").rsplit(".", 1)[-1].lower() if "." in (name or "") else "bin"
    return suffix if suffix.isalnum() and len(suffix) <= 5 else "bin"


@transaction.atomic
def decide_application(
    *, application: RoadshowApplication, target: str, actor: User | None
) -> RoadshowApplication:
    """The organiser selects (within the event's roadshow slots) or declines an application."""
    ev = _lock_event(application.event)
    app = RoadshowApplication.objects.select_for_update().get(pk=application.pk)
    if target not in (ApplicationStatus.SELECTED, ApplicationStatus.DECLINED):
        raise DomainError(_("Select or decline the application."))
    check_transition(APPLICATION_TRANSITIONS, app.status, target, labels=ApplicationStatus)
    if target == ApplicationStatus.SELECTED:
        selected = RoadshowApplication.objects.filter(event=ev, status=ApplicationStatus.SELECTED)
        if selected.count() >= ev.roadshow_slots:
            raise Conflict(
                _("All %(count)d roadshow slots are taken; decline a selected pitch first.")
                % {"count": ev.roadshow_slots}
            )
        app.position = (max((a.position or 0) for a in selected) if selected else 0) + 1
    else:
        app.position = None
    previous = app.status
    app.status = target
    app.decided_at = timezone.now()
    app.save(update_fields=["status", "position", "decided_at"])
    _audit(
        "roadshow_decided",
        actor=actor,
        organisation=ev.organiser,
        target=app,
        message=gettext_noop("Roadshow application %(project)s: %(status)s"),
        params={"project": app.title, "status": target},
        changes={"status": [previous, target]},
    )
    return app


@transaction.atomic
def withdraw_application(
    *, application: RoadshowApplication, organisation: Organisation, actor: User | None
) -> RoadshowApplication:
    app = RoadshowApplication.objects.select_for_update().get(pk=application.pk)
    if app.organisation_id != organisation.pk:
        raise NotFound()
    check_transition(
        APPLICATION_TRANSITIONS, app.status, ApplicationStatus.WITHDRAWN, labels=ApplicationStatus
    )
    previous = app.status
    app.status = ApplicationStatus.WITHDRAWN
    app.position = None
    app.save(update_fields=["status", "position"])
    _audit(
        "roadshow_withdrawn",
        actor=actor,
        organisation=organisation,
        target=app,
        message=gettext_noop("Roadshow application %(project)s withdrawn"),
        params={"project": app.title},
        changes={"status": [previous, ApplicationStatus.WITHDRAWN]},
    )
    return app


# ------------------------------------------------------------------------------------------------ 1:1 meetings


@dataclass
class MeetingInput:
    problem: scheduling.MeetingProblem
    attendees: list[Registration]
    hosts: list[Registration]


def interest_matrix(
    attendees: Sequence[Registration],
    hosts: Sequence[Registration],
    *,
    ratings: Mapping[tuple[int, int], int],
    skills: Mapping[int, set[int]],
) -> np.ndarray:
    """Mutual interest (attendees × hosts): a's rating of h + h's rating of a + min(shared interests, 2)."""
    weights = np.zeros((len(attendees), len(hosts)))
    for i, a in enumerate(attendees):
        a_skills = skills.get(a.pk, set())
        for j, h in enumerate(hosts):
            shared = len(a_skills & skills.get(h.pk, set()))
            weights[i, j] = ratings.get((a.pk, h.pk), 0) + ratings.get((h.pk, a.pk), 0) + min(shared, 2)
    return weights


def meeting_input(event: Event) -> MeetingInput:
    """The scheduler's problem for an event: confirmed hosts and attendees, their interest and availability."""
    regs = list(
        Registration.objects.filter(event=event, status=R.CONFIRMED)
        .select_related("organisation")
        .prefetch_related("interests")
        .order_by("created_at", "id")
    )
    attendees = [r for r in regs if r.role == RegistrationRole.ATTENDEE]
    hosts = [r for r in regs if r.is_host]
    skills: dict[int, set[int]] = {r.pk: {s.pk for s in r.interests.all()} for r in regs}
    from organisations.models import OPCProfile

    opc_ids = [r.organisation.pk for r in attendees if r.organisation and r.organisation.kind == OrgKind.OPC]
    profile_skills: dict[int, set[int]] = defaultdict(set)
    for org_id, skill_id in OPCProfile.skills.through.objects.filter(
        opcprofile__organisation_id__in=opc_ids
    ).values_list("opcprofile__organisation_id", "skill_id"):
        profile_skills[org_id].add(skill_id)
    for r in attendees:
        if r.organisation_id in profile_skills:
            skills[r.pk] |= profile_skills[r.organisation_id]
    ratings = {
        (src, dst): rating
        for src, dst, rating in MeetingRequest.objects.filter(event=event).values_list(
            "source_id", "target_id", "rating"
        )
    }
    slots = event.meeting_slots

    def availability(rs: Sequence[Registration]) -> np.ndarray:
        out = np.ones((len(rs), slots), dtype=bool)
        for i, r in enumerate(rs):
            if r.available_slots:
                out[i, :] = False
                out[i, [s for s in r.available_slots if 0 <= s < slots]] = True
        return out

    cap = event.meetings_per_attendee
    problem = scheduling.MeetingProblem(
        weights=interest_matrix(attendees, hosts, ratings=ratings, skills=skills),
        attendee_available=availability(attendees),
        host_available=availability(hosts),
        tables=event.tables,
        attendee_max=np.full(len(attendees), cap, dtype=np.int64) if cap else None,
    )
    return MeetingInput(problem=problem, attendees=attendees, hosts=hosts)


def slot_times(event: Event, slot: int) -> tuple[dt.datetime, dt.datetime]:
    if event.meetings_start is None:
        raise DomainError(_("This event has no 1:1 meetings."))
    start = event.meetings_start + dt.timedelta(minutes=event.slot_minutes * slot)
    return start, start + dt.timedelta(minutes=event.slot_minutes)


def meeting_settings(event: Event) -> dict[str, Any]:
    """The event's 1:1 settings as a run records them (a run computed under other settings is outdated)."""
    return {
        "slots": event.meeting_slots,
        "tables": event.tables,
        "slot_minutes": event.slot_minutes,
        "meetings_per_attendee": event.meetings_per_attendee,
        "meetings_start": event.meetings_start.isoformat() if event.meetings_start else None,
    }


def run_staleness(run: MeetingRun) -> dict[str, Any]:
    """Why a computed schedule may no longer fit: people in it who cancelled since, and changed settings."""
    cancelled = (
        Registration.objects.filter(event_id=run.event_id, status=R.CANCELLED)
        .filter(Q(hosted_meetings__run=run) | Q(attended_meetings__run=run))
        .distinct()
        .count()
    )
    return {
        "cancelled": cancelled,
        "settings_changed": run.settings_snapshot != meeting_settings(run.event),
    }


@transaction.atomic
def run_scheduler(
    *, event: Event, actor: User | None, time_limit: float = SCHEDULER_TIME_LIMIT
) -> MeetingRun:
    """Compute a 1:1 schedule (not yet visible to participants: ``publish_schedule``)."""
    ev = _lock_event(event)
    if ev.status == E.CANCELLED:
        raise InvalidTransition(_("This event was cancelled."))
    if not ev.has_meetings:
        raise DomainError(_("Set the meeting start, slots and tables of this event first."))
    data = meeting_input(ev)
    if not data.hosts or not data.attendees:
        raise DomainError(_("The schedule needs confirmed investors or industry parties and attendees."))
    result = scheduling.solve(data.problem, time_limit=time_limit)
    run = MeetingRun.objects.create(
        event=ev,
        method=result.method,
        optimal=result.optimal,
        total_interest=Decimal(str(result.total)).quantize(TWO, rounding=ROUND_HALF_UP),
        bound=Decimal(str(min(result.bound, 10**9))).quantize(TWO, rounding=ROUND_HALF_UP),
        seconds=round(result.seconds, 3),
        hosts=len(data.hosts),
        attendees=len(data.attendees),
        settings_snapshot=meeting_settings(ev),
        created_by=actor,
    )
    rows = []
    for m in result.meetings:
        start, end = slot_times(ev, m.slot)
        rows.append(
            Meeting(
                run=run,
                slot=m.slot,
                table=m.table,
                host=data.hosts[m.host],
                attendee=data.attendees[m.attendee],
                interest=Decimal(str(m.weight)).quantize(TWO, rounding=ROUND_HALF_UP),
                starts_at=start,
                ends_at=end,
            )
        )
    Meeting.objects.bulk_create(rows)
    _audit(
        "schedule_computed",
        actor=actor,
        organisation=ev.organiser,
        target=run,
        message=gettext_noop("1:1 schedule computed for %(title)s: %(count)d meetings"),
        params={"title": ev.title, "count": len(rows)},
        changes={"method": result.method, "optimal": result.optimal, "total": run.total_interest},
    )
    return run


@transaction.atomic
def publish_schedule(*, run: MeetingRun, actor: User | None) -> MeetingRun:
    """Make this run the schedule participants see (replacing an earlier published one)."""
    ev = _lock_event(run.event)
    locked = MeetingRun.objects.select_for_update().get(pk=run.pk)
    if locked.published_at is not None:
        raise InvalidTransition(_("This schedule is already published."))
    if ev.status == E.CANCELLED:
        raise InvalidTransition(_("This event was cancelled."))
    MeetingRun.objects.filter(event=ev, published_at__isnull=False).update(published_at=None)
    locked.published_at = timezone.now()
    locked.save(update_fields=["published_at"])
    _audit(
        "schedule_published",
        actor=actor,
        organisation=ev.organiser,
        target=locked,
        message=gettext_noop("1:1 schedule of %(title)s published"),
        params={"title": ev.title},
    )
    return locked


# ------------------------------------------------------------------------------------------------ follow-ups


def participant_organisation_ids(event: Event) -> set[int]:
    return set(
        Registration.objects.filter(event=event, organisation__isnull=False)
        .exclude(status=R.CANCELLED)
        .values_list("organisation_id", flat=True)
    )


@transaction.atomic
def link_order(*, event: Event, order: Order, actor: User | None, note: str = "") -> EventOrder:
    """Record that a marketplace order came out of this event (its client or its OPC took part)."""
    ev = _lock_event(event)
    note = _text(note, field=_("Note"), max_length=300)
    participants = participant_organisation_ids(ev)
    contract_opc = getattr(getattr(order, "contract", None), "opc_id", None)
    if not participants & {order.client_id, order.direct_opc_id, contract_opc}:
        raise DomainError(_("Neither the client nor the OPC of this order took part in this event."))
    if EventOrder.objects.filter(event=ev, order=order).exists():
        raise Conflict(_("This order is already recorded for this event."))
    link = EventOrder.objects.create(event=ev, order=order, note=note, recorded_by=actor)
    _audit(
        "order_linked",
        actor=actor,
        organisation=ev.organiser,
        target=link,
        message=gettext_noop("Order %(order)s recorded as an outcome of %(title)s"),
        params={"order": order.title, "title": ev.title},
        changes={"order": order.pk},
    )
    return link


@transaction.atomic
def draft_order_for_client(
    *,
    event: Event,
    client: Organisation,
    actor: User | None,
    title: str,
    category: Skill,
    budget_min: Decimal | str | int,
    budget_max: Decimal | str | int,
    deadline: dt.date,
    description: str = "",
    procurement_method: str = "",
) -> EventOrder:
    """Draft a marketplace order for a client who took part (``marketplace.services.post_order``); the client
    reviews and publishes it. Recorded as an outcome of the event."""
    from marketplace.services import post_order

    ev = _lock_event(event)
    if client.pk not in participant_organisation_ids(ev):
        raise DomainError(_("%(name)s did not take part in this event.") % {"name": client.name})
    order = post_order(
        client=client,
        actor=actor,
        title=title,
        category=category,
        budget_min=budget_min,
        budget_max=budget_max,
        deadline=deadline,
        description=description,
        procurement_method=procurement_method,
    )
    link = EventOrder.objects.create(event=ev, order=order, drafted_here=True, recorded_by=actor)
    _audit(
        "order_drafted",
        actor=actor,
        organisation=ev.organiser,
        target=link,
        message=gettext_noop("Order %(order)s drafted for %(client)s at %(title)s"),
        params={"order": order.title, "client": client.name, "title": ev.title},
        changes={"order": order.pk, "client": client.pk},
    )
    return link


@transaction.atomic
def record_intent(
    *,
    event: Event,
    opc: Organisation,
    actor: User | None,
    amount: Decimal | str | int,
    investor: Registration | None = None,
    investor_name: str = "",
    terms: str = "",
    term_sheet: UploadedFile | None = None,
) -> InvestmentIntent:
    """An investment intent between an investor and an OPC that met at the event."""
    ev = _lock_event(event)
    if opc.kind != OrgKind.OPC or opc.pk not in participant_organisation_ids(ev):
        raise DomainError(_("Choose an OPC that took part in this event."))
    if investor is not None:
        if investor.event_id != ev.pk or not investor.is_host or investor.status == R.CANCELLED:
            raise DomainError(_("Choose an investor of this event."))
        investor_name = investor_name or investor.organisation_name or investor.name
    investor_name = _text(investor_name, field=_("Investor"), max_length=120, required=True)
    value = _money(amount, field=_("Amount"), required=True)
    assert value is not None  # required=True
    intent = InvestmentIntent(
        event=ev,
        investor=investor,
        investor_name=investor_name,
        opc=opc,
        amount=value,
        terms=_text(terms, field=_("Terms"), max_length=5000),
        recorded_by=actor,
    )
    if term_sheet is not None:
        intent.term_sheet_sha256 = _file_digest(term_sheet)
        intent.term_sheet_name = (term_sheet.name or "term-sheet")[-200:]
        intent.term_sheet.save(
            f"term-sheet-{ev.pk}-{opc.pk}.{_extension(term_sheet.name)}", term_sheet, save=False
        )
    intent.save()
    _audit(
        "intent_recorded",
        actor=actor,
        organisation=ev.organiser,
        target=intent,
        message=gettext_noop("Investment intent of %(investor)s in %(opc)s (%(amount)s) at %(title)s"),
        params={"investor": investor_name, "opc": opc.name, "amount": value, "title": ev.title},
        changes={"amount": value, "term_sheet_sha256": intent.term_sheet_sha256},
    )
    return intent


@transaction.atomic
def set_intent_status(*, intent: InvestmentIntent, target: str, actor: User | None) -> InvestmentIntent:
    locked = InvestmentIntent.objects.select_for_update().select_related("event__organiser").get(pk=intent.pk)
    check_transition(INTENT_TRANSITIONS, locked.status, target, labels=IntentStatus)
    previous = locked.status
    locked.status = target
    locked.save(update_fields=["status"])
    _audit(
        "intent_status_changed",
        actor=actor,
        organisation=locked.event.organiser,
        target=locked,
        message=gettext_noop("Investment intent of %(investor)s: %(status)s"),
        params={"investor": locked.investor_name, "status": target},
        changes={"status": [previous, target]},
    )
    return locked


def contract_review_url(intent: InvestmentIntent) -> str | None:
    """HOOK (contract review): the one-click risk review of the term sheet (``contracts.links``), or None
    without a term sheet or while the ``contracts`` app offers no review-from-file page."""
    if not intent.term_sheet:
        return None
    from importlib import import_module

    try:
        links = import_module("contracts.links")
        return str(links.term_sheet_review_url(intent))
    except (ImportError, AttributeError, NoReverseMatch):
        return None


# ------------------------------------------------------------------------------------------------ competitions


def _lock_competition(competition: Competition) -> Competition:
    locked = (
        Competition.objects.select_for_update(of=("self",))
        .select_related("organiser")
        .filter(pk=competition.pk)
        .first()
    )
    if locked is None:
        raise NotFound()
    return locked


@transaction.atomic
def create_competition(
    *,
    organiser: Organisation,
    actor: User | None,
    title: str,
    submissions_close: dt.date,
    theme: str = "",
    description: str = "",
    rules: str = "",
) -> Competition:
    _require_operator(organiser)
    if isinstance(submissions_close, dt.datetime) or not isinstance(submissions_close, dt.date):
        raise DomainError(_("Submissions close must be a date."))
    competition = Competition.objects.create(
        organiser=organiser,
        title=_text(title, field=_("Title"), max_length=200, required=True),
        theme=_text(theme, field=_("Theme"), max_length=200),
        description=_text(description, field=_("Description"), max_length=10000),
        rules=_text(rules, field=_("Rules"), max_length=10000),
        submissions_close=submissions_close,
        created_by=actor,
    )
    _audit(
        "competition_created",
        actor=actor,
        organisation=organiser,
        target=competition,
        message=gettext_noop("Competition %(title)s created"),
        params={"title": competition.title},
    )
    return competition


@transaction.atomic
def add_criterion(
    *,
    competition: Competition,
    actor: User | None,
    name: str,
    weight: Decimal | str | int,
    max_score: int = 10,
    description: str = "",
) -> Criterion:
    comp = _lock_competition(competition)
    if comp.status not in (C.DRAFT, C.OPEN):
        raise InvalidTransition(_("The rubric is fixed once judging has started."))
    name = _text(name, field=_("Criterion"), max_length=80, required=True)
    try:
        w = Decimal(str(weight)).quantize(TWO, rounding=ROUND_HALF_UP)
    except ArithmeticError:
        raise DomainError(_("The weight must be a number.")) from None
    if not Decimal("0") < w <= Decimal("100"):
        raise DomainError(_("The weight must be above 0 and at most 100."))
    max_score = _int(max_score, field=_("Maximum score"), low=1, high=100)
    if Criterion.objects.filter(competition=comp, name=name).exists():
        raise Conflict(_("This competition already has a criterion with this name."))
    position = Criterion.objects.filter(competition=comp).count() + 1
    criterion = Criterion.objects.create(
        competition=comp,
        name=name,
        description=_text(description, field=_("Description"), max_length=300),
        weight=w,
        max_score=max_score,
        position=position,
    )
    _audit(
        "criterion_added",
        actor=actor,
        organisation=comp.organiser,
        target=comp,
        message=gettext_noop("Criterion %(name)s (weight %(weight)s) added to %(title)s"),
        params={"name": name, "weight": w, "title": comp.title},
    )
    return criterion


@transaction.atomic
def add_judge(*, competition: Competition, user: User, actor: User | None) -> Judge:
    comp = _lock_competition(competition)
    if comp.status in (C.CLOSED, C.CANCELLED):
        raise InvalidTransition(_("Judges can no longer be added to this competition."))
    if Judge.objects.filter(competition=comp, user=user).exists():
        raise Conflict(_("%(name)s is already a judge.") % {"name": user.display_name})
    judge = Judge.objects.create(competition=comp, user=user)
    _audit(
        "judge_added",
        actor=actor,
        organisation=comp.organiser,
        target=comp,
        message=gettext_noop("%(name)s joined the jury of %(title)s"),
        params={"name": user.display_name, "title": comp.title},
        changes={"judge_user": user.pk},
    )
    return judge


@transaction.atomic
def add_award(
    *, competition: Competition, actor: User | None, name: str, rank_from: int, rank_to: int, prize: str = ""
) -> Award:
    comp = _lock_competition(competition)
    if comp.status in (C.CLOSED, C.CANCELLED):
        raise InvalidTransition(_("Awards are fixed once the results are published."))
    name = _text(name, field=_("Award"), max_length=80, required=True)
    rank_from = _int(rank_from, field=_("From rank"), low=1, high=1000)
    rank_to = _int(rank_to, field=_("To rank"), low=1, high=1000)
    if rank_to < rank_from:
        raise DomainError(_("The last rank must not be smaller than the first."))
    if Award.objects.filter(competition=comp, rank_from__lte=rank_to, rank_to__gte=rank_from).exists():
        raise Conflict(_("These ranks overlap another award."))
    award = Award.objects.create(
        competition=comp,
        name=name,
        rank_from=rank_from,
        rank_to=rank_to,
        prize=_text(prize, field=_("Prize"), max_length=200),
    )
    _audit(
        "award_added",
        actor=actor,
        organisation=comp.organiser,
        target=comp,
        message=gettext_noop("Award %(name)s (ranks %(first)d–%(last)d) added to %(title)s"),
        params={"name": name, "first": rank_from, "last": rank_to, "title": comp.title},
    )
    return award


@transaction.atomic
def set_competition_status(*, competition: Competition, target: str, actor: User | None) -> Competition:
    """Open for submissions (needs a rubric), start judging, or cancel. Results: ``publish_results``."""
    comp = _lock_competition(competition)
    if target == C.CLOSED:
        raise InvalidTransition(_("Publish the results to close the competition."))
    check_transition(COMPETITION_TRANSITIONS, comp.status, target, labels=CompetitionStatus)
    if target == C.OPEN and not comp.criteria.exists():
        raise DomainError(_("Add at least one judging criterion before opening the competition."))
    if target == C.JUDGING and not comp.judges.exists():
        raise DomainError(_("Add at least one judge before judging starts."))
    previous = comp.status
    comp.status = target
    comp.save(update_fields=["status"])
    _audit(
        "competition_status_changed",
        actor=actor,
        organisation=comp.organiser,
        target=comp,
        message=gettext_noop("Competition %(title)s: %(previous)s → %(target)s"),
        params={"title": comp.title, "previous": previous, "target": target},
        changes={"status": [previous, target]},
    )
    return comp


def _registry() -> Any | None:
    """HOOK (copyright registry): ``rights.services.register_work`` when the ``rights`` app provides it."""
    from importlib import import_module

    from django.apps import apps

    if not apps.is_installed("rights"):
        return None
    try:
        return getattr(import_module("rights.services"), "register_work", None)
    except ImportError:
        return None


def _register_copyright(
    *,
    submission: Submission,
    upload: UploadedFile,
    actor: User | None,
    ai_tools: str,
    competition: Competition,
) -> str:
    """Register the entry's video in the copyright registry (when there is one); returns the registration's
    code ("" without a registry: the file and its SHA-256 are kept either way). A file the registry refuses
    (undecodable, or already registered by someone else) refuses the entry; a file the entrant registered
    before is linked to that registration."""
    from django.conf import settings
    from django.utils import translation

    register_work = _registry()
    if register_work is None or actor is None:
        return ""
    with translation.override(
        settings.LANGUAGE_CODE
    ):  # the registry's statements read in the platform language
        purpose = _("Entry to the competition “%(title)s”.") % {"title": competition.title}
        process = submission.description or _("Made for the competition; see the entry's description.")
        originality = _(
            "When entering “%(title)s”, the entrant confirmed that this work is its own original creation."
        ) % {"title": competition.title}
    try:
        with transaction.atomic():
            work = register_work(
                holder=submission.organisation,
                actor=actor,
                upload=upload,
                title=submission.title,
                category="video",
                authors=getattr(actor, "display_name", "") or submission.organisation.name,
                created_on=timezone.localdate(),
                purpose=purpose,
                process=process[:5000],
                ai_tools=ai_tools,
                originality=originality,
            )
    except Conflict:
        from django.apps import apps

        work_model = apps.get_model("rights", "Work")
        earlier = work_model.objects.filter(sha256=submission.sha256, holder=submission.organisation).first()
        if earlier is None:
            raise
        return str(earlier.code)
    except DomainError as exc:
        raise DomainError(
            _("The copyright registry could not register this video: %(reason)s") % {"reason": exc.message}
        ) from None
    return str(getattr(work, "code", "") or work.pk)


@transaction.atomic
def submit_entry(
    *,
    competition: Competition,
    organisation: Organisation,
    actor: User | None,
    title: str,
    description: str = "",
    video: UploadedFile | None = None,
    link: str = "",
    ai_tools: str = "",
    original: bool = False,
    today: dt.date | None = None,
) -> Submission:
    """An OPC's entry: a video file (hashed; registered in the copyright registry when it exists, which needs
    the AI tools used and the entrant's confirmation that the work is original) or a link."""
    comp = _lock_competition(competition)
    if organisation.kind != OrgKind.OPC:
        raise NotPermitted(_("Only one-person companies (OPCs) enter competitions."))
    if comp.status != C.OPEN or (today or timezone.localdate()) > comp.submissions_close:
        raise InvalidTransition(_("This competition does not take submissions now."))
    title = _text(title, field=_("Title"), max_length=120, required=True)
    link = _text(link, field=_("Link"), max_length=200)
    if video is None and not link:
        raise DomainError(_("Upload the video or give a link to it."))
    ai_tools = _text(ai_tools, field=_("AI tools used"), max_length=300)
    if video is not None and _registry() is not None:
        if not ai_tools:
            raise DomainError(
                _("Say which AI tools made the video (the copyright registration records them).")
            )
        if not original:
            raise DomainError(_("Confirm that the video is your own original work."))
    if Submission.objects.filter(
        competition=comp, organisation=organisation, status=SubmissionStatus.SUBMITTED
    ).exists():
        raise Conflict(
            _("Your company has already entered this competition; withdraw the entry to replace it.")
        )
    submission = Submission(
        competition=comp,
        organisation=organisation,
        submitted_by=actor,
        title=title,
        description=_text(description, field=_("Description"), max_length=5000),
        link=link,
    )
    if video is not None:
        submission.sha256 = _file_digest(video)
        submission.video_name = (video.name or "video")[-200:]
        submission.video.save(
            f"entry-{comp.pk}-{organisation.pk}.{_extension(video.name)}", video, save=False
        )
    try:
        with transaction.atomic():
            submission.save()
    except IntegrityError:
        raise Conflict(_("Your company has already entered this competition.")) from None
    reference = (
        _register_copyright(
            submission=submission, upload=video, actor=actor, ai_tools=ai_tools, competition=comp
        )
        if video is not None
        else ""
    )
    if reference:
        submission.rights_reference = reference
        submission.save(update_fields=["rights_reference"])
    _audit(
        "entry_submitted",
        actor=actor,
        organisation=organisation,
        target=submission,
        message=gettext_noop("%(org)s entered %(title)s with %(entry)s"),
        params={"org": organisation.name, "title": comp.title, "entry": title},
        changes={"sha256": submission.sha256, "rights_reference": submission.rights_reference},
    )
    return submission


@transaction.atomic
def withdraw_entry(*, submission: Submission, organisation: Organisation, actor: User | None) -> Submission:
    comp = _lock_competition(submission.competition)
    sub = Submission.objects.select_for_update().get(pk=submission.pk)
    if sub.organisation_id != organisation.pk:
        raise NotFound()
    if sub.status != SubmissionStatus.SUBMITTED or comp.status != C.OPEN:
        raise InvalidTransition(_("Entries can be withdrawn only while the competition is open."))
    sub.status = SubmissionStatus.WITHDRAWN
    sub.save(update_fields=["status"])
    _audit(
        "entry_withdrawn",
        actor=actor,
        organisation=organisation,
        target=sub,
        message=gettext_noop("Entry %(entry)s withdrawn"),
        params={"entry": sub.title},
        changes={"status": [SubmissionStatus.SUBMITTED, SubmissionStatus.WITHDRAWN]},
    )
    return sub


def judge_for(competition: Competition, user: Any) -> Judge | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Judge.objects.filter(competition=competition, user=user).first()


@transaction.atomic
def score_submission(
    *,
    submission: Submission,
    user: User,
    values: Mapping[int, int],
    comment: str = "",
) -> list[Score]:
    """A judge's scores for one entry ({criterion id: 0..max}); scoring again replaces them."""
    comp = _lock_competition(submission.competition)
    judge = judge_for(comp, user)
    if judge is None:
        raise NotPermitted(_("Only the competition's judges score entries."))
    if comp.status != C.JUDGING:
        raise InvalidTransition(_("Entries are scored while the competition is in judging."))
    sub = Submission.objects.select_related("organisation").get(pk=submission.pk)
    if sub.status != SubmissionStatus.SUBMITTED:
        raise InvalidTransition(_("This entry was withdrawn."))
    if sub.organisation.memberships.filter(user=user).exists():
        raise NotPermitted(_("You cannot judge an entry of your own organisation."))
    criteria = {c.pk: c for c in comp.criteria.all()}
    if set(values) != set(criteria):
        raise DomainError(_("Score every criterion."))
    comment = _text(comment, field=_("Comment"), max_length=300)
    scores = []
    for criterion_id, value in values.items():
        criterion = criteria[criterion_id]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= criterion.max_score:
            raise DomainError(
                _("%(criterion)s is scored from 0 to %(max)d.")
                % {"criterion": criterion.name, "max": criterion.max_score}
            )
        score, _created = Score.objects.update_or_create(
            submission=sub,
            judge=judge,
            criterion=criterion,
            defaults={"value": value, "comment": comment, "scored_at": timezone.now()},
        )
        scores.append(score)
    _audit(
        "entry_scored",
        actor=user,
        organisation=comp.organiser,
        target=sub,
        message=gettext_noop("%(judge)s scored %(entry)s"),
        params={"judge": user.display_name, "entry": sub.title},
        changes={"scores": {str(k): v for k, v in values.items()}},
    )
    return scores


@dataclass(frozen=True)
class Ranked:
    submission_id: int
    total: Decimal
    rank: int


def rank_with_ties(totals: Mapping[int, Decimal]) -> list[Ranked]:
    """Standard competition ranking: equal totals share a rank and the next rank skips (1, 1, 3)."""
    ordered = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    out: list[Ranked] = []
    for position, (sid, total) in enumerate(ordered, start=1):
        rank = out[-1].rank if out and out[-1].total == total else position
        out.append(Ranked(sid, total, rank))
    return out


def weighted_totals(competition: Competition) -> tuple[dict[int, Decimal], int]:
    """Each entry's score out of 100: Σ weight × mean over judges of (score / max) / Σ weights × 100, to the
    hundredth. Also returns how many (entry, judge, criterion) scores are still missing."""
    criteria = list(competition.criteria.all())
    judges = list(competition.judges.values_list("pk", flat=True))
    entries = list(
        Submission.objects.filter(competition=competition, status=SubmissionStatus.SUBMITTED).values_list(
            "pk", flat=True
        )
    )
    weight_sum = sum((c.weight for c in criteria), Decimal("0"))
    values: dict[tuple[int, int], list[int]] = defaultdict(list)
    count = 0
    for sid, cid, value in Score.objects.filter(
        submission_id__in=entries, judge_id__in=judges, criterion__competition=competition
    ).values_list("submission_id", "criterion_id", "value"):
        values[(sid, cid)].append(value)
        count += 1
    missing = len(entries) * len(judges) * len(criteria) - count
    totals: dict[int, Decimal] = {}
    for sid in entries:
        acc = Decimal("0")
        for c in criteria:
            got = values.get((sid, c.pk), [])
            if got:
                mean = Decimal(sum(got)) / Decimal(len(got))
                acc += c.weight * mean / Decimal(c.max_score)
        totals[sid] = (
            (acc * 100 / weight_sum).quantize(TWO, rounding=ROUND_HALF_UP) if weight_sum else Decimal("0")
        )
    return totals, missing


@transaction.atomic
def publish_results(*, competition: Competition, actor: User | None) -> list[Result]:
    """Freeze the ranking, hand out the awards by rank (ties share them) and the winners' badges."""
    comp = _lock_competition(competition)
    check_transition(COMPETITION_TRANSITIONS, comp.status, C.CLOSED, labels=CompetitionStatus)
    totals, missing = weighted_totals(comp)
    if not totals:
        raise DomainError(_("There are no entries to rank."))
    if missing:
        raise Conflict(
            _("%(count)d scores are still missing: every judge scores every criterion of every entry.")
            % {"count": missing}
        )
    awards = list(comp.awards.all())
    entries = {s.pk: s for s in Submission.objects.filter(pk__in=totals).select_related("organisation")}
    results = []
    now = timezone.now()
    for ranked in rank_with_ties(totals):
        award = next((a for a in awards if a.rank_from <= ranked.rank <= a.rank_to), None)
        result = Result.objects.create(
            competition=comp,
            submission_id=ranked.submission_id,
            rank=ranked.rank,
            total=ranked.total,
            award=award,
        )
        results.append(result)
        if award is not None:
            entry = entries[ranked.submission_id]
            Badge.objects.create(
                organisation=entry.organisation,
                competition=comp,
                award=award,
                title=f"{comp.title} · {award.name}",
                rank=ranked.rank,
                awarded_at=now,
            )
    comp.status = C.CLOSED
    comp.results_published_at = now
    comp.save(update_fields=["status", "results_published_at"])
    _audit(
        "results_published",
        actor=actor,
        organisation=comp.organiser,
        target=comp,
        message=gettext_noop("Results of %(title)s published (%(count)d entries)"),
        params={"title": comp.title, "count": len(results)},
        changes={"ranking": [[r.submission_id, r.rank, r.total] for r in results]},
    )
    return results


def badges_of(organisation: Organisation) -> list[Badge]:
    return list(Badge.objects.filter(organisation=organisation).select_related("competition", "award"))


def registration_counts(event: Event) -> dict[str, int]:
    """Confirmed / waiting / checked-in attendees and hosts of an event."""
    rows = (
        Registration.objects.filter(event=event)
        .values("role", "status")
        .annotate(n=Count("id"))
        .values_list("role", "status", "n")
    )
    out = {"confirmed": 0, "waitlisted": 0, "cancelled": 0, "hosts": 0}
    for role, status, n in rows:
        if role in HOST_ROLES:
            if status == R.CONFIRMED:
                out["hosts"] += n
            continue
        out[status] = out.get(status, 0) + n
    out["checked_in"] = Registration.objects.filter(event=event, checked_in_at__isnull=False).count()
    out["free"] = max(0, event.capacity - out["confirmed"])
    return out
