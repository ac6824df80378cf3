"""Events and roadshows (对接会 / 路演), the 1:1 meeting schedule, follow-ups, and competitions with badges.

These models hold data only; every change goes through ``events.services`` (transition tables there). The
dashboards have no models: they are computed from the other apps' tables (``events.dashboards``).
"""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O/1/I: codes are typed at the door
CODE_LENGTH = 10


def new_ticket_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


# ------------------------------------------------------------------------------------------------ events


class EventKind(models.TextChoices):
    MATCHMAKING = "matchmaking", _("Resource matching event (对接会)")
    ROADSHOW = "roadshow", _("Roadshow (路演)")


class EventStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Open for registration")
    CLOSED = "closed", _("Registration closed")
    CANCELLED = "cancelled", _("Cancelled")


class Event(models.Model):
    organiser = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="organised_events",
        verbose_name=_("organiser"),
    )
    community = models.ForeignKey(
        "communities.Community",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="events",
        verbose_name=_("host community"),
    )
    title = models.CharField(_("title"), max_length=200)
    kind = models.CharField(
        _("kind"), max_length=16, choices=EventKind.choices, default=EventKind.MATCHMAKING
    )
    description = models.TextField(_("description"), blank=True)
    agenda = models.TextField(_("agenda"), blank=True, help_text=_("One item per line, e.g. 14:00 Opening."))
    venue = models.CharField(_("venue"), max_length=200)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    capacity = models.PositiveIntegerField(_("seats"), help_text=_("Attendee seats; more sign-ups wait."))
    roadshow_slots = models.PositiveSmallIntegerField(
        _("roadshow slots"), default=0, help_text=_("How many OPCs pitch on stage (0: no roadshow).")
    )
    # 1:1 meetings between investors / industry parties (hosts, one per table) and attendees.
    meetings_start = models.DateTimeField(_("1:1 meetings start"), null=True, blank=True)
    meeting_slots = models.PositiveSmallIntegerField(_("meeting slots"), default=0)
    slot_minutes = models.PositiveSmallIntegerField(_("minutes per meeting"), default=15)
    tables = models.PositiveSmallIntegerField(_("tables"), default=0)
    meetings_per_attendee = models.PositiveSmallIntegerField(
        _("meetings per attendee (at most)"), default=4, help_text=_("0: no limit.")
    )
    status = models.CharField(
        _("status"), max_length=12, choices=EventStatus.choices, default=EventStatus.DRAFT, db_index=True
    )
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering: ClassVar = ["starts_at", "id"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="evt_ends_after_start"
            ),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="evt_capacity_positive"),
            models.CheckConstraint(condition=Q(status__in=EventStatus.values), name="evt_status_valid"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def has_meetings(self) -> bool:
        return bool(self.meetings_start and self.meeting_slots and self.tables)


class RegistrationRole(models.TextChoices):
    ATTENDEE = "attendee", _("Attendee")
    INVESTOR = "investor", _("Investor")
    INDUSTRY = "industry", _("Industry party (brings orders)")


HOST_ROLES = (RegistrationRole.INVESTOR, RegistrationRole.INDUSTRY)


class RegistrationStatus(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed")
    WAITLISTED = "waitlisted", _("On the waitlist")
    CANCELLED = "cancelled", _("Cancelled")


class Registration(models.Model):
    """A sign-up. Attendees take seats (``Event.capacity``; the rest wait and move up in sign-up order when a
    seat frees); investors and industry parties are hosts of 1:1 meetings and do not take seats. The ticket
    code (with its HMAC, see ``events.tickets``) is the QR code shown at the door."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="registrations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="event_registrations",
    )
    role = models.CharField(
        _("role"), max_length=10, choices=RegistrationRole.choices, default=RegistrationRole.ATTENDEE
    )
    name = models.CharField(_("name"), max_length=60)
    organisation_name = models.CharField(_("company"), max_length=120, blank=True)
    contact = models.CharField(_("mobile or e-mail"), max_length=120, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=RegistrationStatus.choices, db_index=True)
    code = models.CharField(_("ticket code"), max_length=CODE_LENGTH, unique=True, default=new_ticket_code)
    # What the party is looking for (attendees) / invests in or buys (hosts).
    interests = models.ManyToManyField(
        "organisations.Skill", blank=True, related_name="+", verbose_name=_("interests")
    )
    ticket_min = models.DecimalField(_("ticket size from (CNY)"), null=True, blank=True, **MONEY)
    ticket_max = models.DecimalField(_("ticket size to (CNY)"), null=True, blank=True, **MONEY)
    brings_orders = models.TextField(_("orders brought"), blank=True)
    orders_value = models.DecimalField(_("value of orders brought (CNY)"), null=True, blank=True, **MONEY)
    available_slots = models.JSONField(
        _("available meeting slots"), default=list, blank=True, help_text=_("Empty: all slots.")
    )
    checked_in_at = models.DateTimeField(_("checked in"), null=True, blank=True)
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("signed up"), default=timezone.now)
    promoted_at = models.DateTimeField(_("moved up from the waitlist"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    class Meta:
        verbose_name = _("registration")
        verbose_name_plural = _("registrations")
        ordering: ClassVar = ["created_at", "id"]
        indexes: ClassVar = [
            models.Index(fields=["event", "role", "status"], name="evt_reg_event_role_status")
        ]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["event", "user"],
                condition=Q(user__isnull=False) & ~Q(status="cancelled"),
                name="evt_one_registration_per_user",
            ),
            models.UniqueConstraint(
                fields=["event", "contact"],
                condition=~Q(contact="") & ~Q(status="cancelled"),
                name="evt_one_registration_per_contact",
            ),
            models.CheckConstraint(
                condition=Q(status__in=RegistrationStatus.values), name="evt_reg_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(checked_in_at__isnull=True) | Q(status="confirmed"),
                name="evt_checked_in_is_confirmed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} · {self.event}"

    @property
    def is_host(self) -> bool:
        return self.role in HOST_ROLES


class MeetingRequest(models.Model):
    """How much one participant wants to meet another (1–3). Mutual interest of a pair = both ratings plus
    shared interests (``events.services.interest_matrix``)."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="meeting_requests")
    source = models.ForeignKey(Registration, on_delete=models.CASCADE, related_name="requests_made")
    target = models.ForeignKey(Registration, on_delete=models.CASCADE, related_name="requests_received")
    rating = models.PositiveSmallIntegerField(_("interest"), default=2)

    class Meta:
        verbose_name = _("meeting request")
        verbose_name_plural = _("meeting requests")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["source", "target"], name="evt_one_request_per_pair"),
            models.CheckConstraint(condition=Q(rating__gte=1) & Q(rating__lte=3), name="evt_rating_1_3"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} → {self.target_id}"


class MeetingRun(models.Model):
    """One run of the 1:1 scheduler. The organiser publishes a run; participants then see their schedule."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="meeting_runs")
    method = models.CharField(_("method"), max_length=24)
    optimal = models.BooleanField(_("proven optimal"), default=False)
    total_interest = models.DecimalField(_("total mutual interest"), max_digits=12, decimal_places=2)
    bound = models.DecimalField(_("upper bound"), max_digits=12, decimal_places=2)
    seconds = models.FloatField(_("seconds"))
    hosts = models.PositiveIntegerField(_("hosts"), default=0)
    attendees = models.PositiveIntegerField(_("attendees"), default=0)
    settings_snapshot = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)

    class Meta:
        verbose_name = _("meeting schedule")
        verbose_name_plural = _("meeting schedules")
        ordering: ClassVar = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event} · {self.created_at:%Y-%m-%d %H:%M}"


class Meeting(models.Model):
    run = models.ForeignKey(MeetingRun, on_delete=models.CASCADE, related_name="meetings")
    slot = models.PositiveSmallIntegerField(_("slot"))
    table = models.PositiveSmallIntegerField(_("table"))
    host = models.ForeignKey(Registration, on_delete=models.CASCADE, related_name="hosted_meetings")
    attendee = models.ForeignKey(Registration, on_delete=models.CASCADE, related_name="attended_meetings")
    interest = models.DecimalField(_("mutual interest"), max_digits=6, decimal_places=2)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))

    class Meta:
        verbose_name = _("meeting")
        verbose_name_plural = _("meetings")
        ordering: ClassVar = ["slot", "table"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["run", "slot", "table"], name="evt_one_meeting_per_table"),
            models.UniqueConstraint(fields=["run", "slot", "host"], name="evt_host_once_per_slot"),
            models.UniqueConstraint(fields=["run", "slot", "attendee"], name="evt_attendee_once_per_slot"),
            models.UniqueConstraint(fields=["run", "host", "attendee"], name="evt_pair_meets_once"),
        ]

    def __str__(self) -> str:
        return f"{self.slot}/{self.table}"


class ApplicationStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    SELECTED = "selected", _("Selected")
    DECLINED = "declined", _("Not selected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class RoadshowApplication(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="roadshow_applications")
    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="roadshow_applications"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    title = models.CharField(_("project"), max_length=120)
    pitch = models.TextField(_("pitch"))
    deck = models.FileField(_("deck"), upload_to="events/decks/%Y/%m/", blank=True)
    deck_name = models.CharField(max_length=200, blank=True)
    deck_sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ApplicationStatus.choices, default=ApplicationStatus.SUBMITTED
    )
    position = models.PositiveSmallIntegerField(_("running order"), null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("roadshow application")
        verbose_name_plural = _("roadshow applications")
        ordering: ClassVar = ["created_at", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["event", "organisation"],
                condition=~Q(status="withdrawn"),
                name="evt_one_application_per_org",
            )
        ]

    def __str__(self) -> str:
        return self.title


# ------------------------------------------------------------------------------------------------ outcomes


class EventOrder(models.Model):
    """A marketplace order that came out of an event (linked, or drafted for the client on the spot)."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="outcome_orders")
    order = models.ForeignKey("marketplace.Order", on_delete=models.PROTECT, related_name="event_links")
    drafted_here = models.BooleanField(_("drafted at the event"), default=False)
    note = models.CharField(_("note"), max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("order from an event")
        verbose_name_plural = _("orders from events")
        ordering: ClassVar = ["recorded_at", "id"]
        constraints: ClassVar = [models.UniqueConstraint(fields=["event", "order"], name="evt_order_once")]

    def __str__(self) -> str:
        return f"{self.event} → {self.order_id}"


class IntentStatus(models.TextChoices):
    INTENT = "intent", _("Intent")
    SIGNED = "signed", _("Signed")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class InvestmentIntent(models.Model):
    """An investment intent agreed at an event, with an optional term sheet (which can go to contract
    review: see ``events.services.contract_review_url``)."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="investment_intents")
    investor = models.ForeignKey(
        Registration, on_delete=models.SET_NULL, null=True, blank=True, related_name="investment_intents"
    )
    investor_name = models.CharField(_("investor"), max_length=120)
    opc = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="investment_intents",
        verbose_name=_("OPC"),
    )
    amount = models.DecimalField(_("amount (CNY)"), **MONEY)
    terms = models.TextField(_("terms"), blank=True)
    term_sheet = models.FileField(_("term sheet"), upload_to="events/term-sheets/%Y/%m/", blank=True)
    term_sheet_name = models.CharField(max_length=200, blank=True)
    term_sheet_sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=IntentStatus.choices, default=IntentStatus.INTENT
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("investment intent")
        verbose_name_plural = _("investment intents")
        ordering: ClassVar = ["recorded_at", "id"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="evt_intent_amount_positive")
        ]

    def __str__(self) -> str:
        return f"{self.investor_name} → {self.opc_id}"


# ------------------------------------------------------------------------------------------------ competitions


class CompetitionStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    OPEN = "open", _("Open for submissions")
    JUDGING = "judging", _("Judging")
    CLOSED = "closed", _("Results published")
    CANCELLED = "cancelled", _("Cancelled")


class Competition(models.Model):
    organiser = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="organised_competitions"
    )
    title = models.CharField(_("title"), max_length=200)
    theme = models.CharField(_("theme"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    rules = models.TextField(_("rules"), blank=True)
    submissions_close = models.DateField(_("submissions close"))
    status = models.CharField(
        _("status"), max_length=10, choices=CompetitionStatus.choices, default=CompetitionStatus.DRAFT
    )
    results_published_at = models.DateTimeField(_("results published"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("competition")
        verbose_name_plural = _("competitions")
        ordering: ClassVar = ["-submissions_close", "-id"]

    def __str__(self) -> str:
        return self.title


class Criterion(models.Model):
    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="criteria")
    name = models.CharField(_("criterion"), max_length=80)
    description = models.CharField(_("what judges look for"), max_length=300, blank=True)
    weight = models.DecimalField(_("weight"), max_digits=5, decimal_places=2)
    max_score = models.PositiveSmallIntegerField(_("maximum score"), default=10)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("criterion")
        verbose_name_plural = _("criteria")
        ordering: ClassVar = ["position", "id"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(weight__gt=0), name="evt_criterion_weight_positive"),
            models.CheckConstraint(condition=Q(max_score__gte=1), name="evt_criterion_max_positive"),
            models.UniqueConstraint(fields=["competition", "name"], name="evt_criterion_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class Judge(models.Model):
    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="judges")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("judge")
        verbose_name_plural = _("judges")
        ordering: ClassVar = ["added_at", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["competition", "user"], name="evt_judge_once")
        ]

    def __str__(self) -> str:
        return str(self.user)


class Award(models.Model):
    """A prize for the ranks ``rank_from``–``rank_to`` (tied submissions share a rank, so both get it)."""

    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="awards")
    name = models.CharField(_("award"), max_length=80)
    rank_from = models.PositiveSmallIntegerField(_("from rank"))
    rank_to = models.PositiveSmallIntegerField(_("to rank"))
    prize = models.CharField(_("prize"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("award")
        verbose_name_plural = _("awards")
        ordering: ClassVar = ["rank_from", "id"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=Q(rank_from__gte=1) & Q(rank_to__gte=models.F("rank_from")),
                name="evt_award_ranks_ordered",
            )
        ]

    def __str__(self) -> str:
        return self.name


class SubmissionStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class Submission(models.Model):
    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="submissions")
    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="competition_submissions"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    video = models.FileField(_("video file"), upload_to="events/submissions/%Y/%m/", blank=True)
    video_name = models.CharField(max_length=200, blank=True)
    link = models.URLField(_("link to the video"), blank=True)
    sha256 = models.CharField(_("SHA-256 of the file"), max_length=64, blank=True)
    rights_reference = models.CharField(_("copyright registration"), max_length=120, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=SubmissionStatus.choices, default=SubmissionStatus.SUBMITTED
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("submission")
        verbose_name_plural = _("submissions")
        ordering: ClassVar = ["created_at", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["competition", "organisation"],
                condition=Q(status="submitted"),
                name="evt_one_submission_per_org",
            )
        ]

    def __str__(self) -> str:
        return self.title


class Score(models.Model):
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="scores")
    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="scores")
    criterion = models.ForeignKey(Criterion, on_delete=models.CASCADE, related_name="scores")
    value = models.PositiveSmallIntegerField(_("score"))
    comment = models.CharField(_("comment"), max_length=300, blank=True)
    scored_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("score")
        verbose_name_plural = _("scores")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["submission", "judge", "criterion"], name="evt_one_score")
        ]

    def __str__(self) -> str:
        return str(self.value)


class Result(models.Model):
    """The frozen ranking, written when the results are published."""

    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="results")
    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="result")
    rank = models.PositiveSmallIntegerField(_("rank"))
    total = models.DecimalField(_("score (of 100)"), max_digits=6, decimal_places=2)
    award = models.ForeignKey(Award, on_delete=models.SET_NULL, null=True, blank=True, related_name="results")

    class Meta:
        verbose_name = _("result")
        verbose_name_plural = _("results")
        ordering: ClassVar = ["rank", "submission_id"]

    def __str__(self) -> str:
        return f"{self.rank}. {self.submission_id}"


class Badge(models.Model):
    """A winner badge on an OPC's profile (``events/_badges.html``, ``{% opc_badges org %}``)."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="event_badges"
    )
    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="badges")
    award = models.ForeignKey(Award, on_delete=models.SET_NULL, null=True, related_name="badges")
    title = models.CharField(_("badge"), max_length=200)
    rank = models.PositiveSmallIntegerField(_("rank"))
    awarded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("badge")
        verbose_name_plural = _("badges")
        ordering: ClassVar = ["-awarded_at", "rank", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["organisation", "competition"], name="evt_one_badge_per_competition"
            )
        ]

    def __str__(self) -> str:
        return self.title
