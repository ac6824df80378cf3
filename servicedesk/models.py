"""The service desk: members' tickets to service providers (legal, finance, government affairs, licences,
insurance, financing, copyright) routed by the community operator, with SLA targets, messages, attachments and
a satisfaction rating; the first-year free legal service quota; licence application cases with their materials
checklist and the operator's site statement.

State changes go through ``servicedesk.services`` (explicit transition tables there).
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Category(models.TextChoices):
    LEGAL = "legal", _("Legal")
    FINANCE = "finance", _("Finance and tax")
    GOVERNMENT = "government", _("Government affairs")
    LICENCE = "licence", _("Licences")
    INSURANCE = "insurance", _("Insurance")
    FINANCING = "financing", _("Financing and loans")
    COPYRIGHT = "copyright", _("Copyright")


class TicketStatus(models.TextChoices):
    NEW = "new", _("Waiting for routing")
    ROUTED = "routed", _("Routed to a provider")
    IN_PROGRESS = "in_progress", _("In progress")
    WAITING_MEMBER = "waiting_member", _("Waiting for the member")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_STATUSES = (
    TicketStatus.NEW,
    TicketStatus.ROUTED,
    TicketStatus.IN_PROGRESS,
    TicketStatus.WAITING_MEMBER,
)


class LegalServiceQuota(models.Model):
    """Free legal consultations a member may still use (Wenzhou's first-year free legal service through a
    "chief legal manager"). A count of consultations, not money: each legal ticket that uses it takes one,
    with a guarded UPDATE that can never go past ``granted``."""

    organisation = models.OneToOneField(
        "organisations.Organisation",
        on_delete=models.CASCADE,
        related_name="legal_quota",
        verbose_name=_("member"),
    )
    granted = models.PositiveIntegerField(_("free consultations"))
    used = models.PositiveIntegerField(_("used"), default=0)
    starts_on = models.DateField(_("valid from"))
    ends_on = models.DateField(_("valid until"))
    granted_by = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("granted by"),
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("free legal service quota")
        verbose_name_plural = _("free legal service quotas")
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(used__lte=F("granted")), name="sd_quota_not_overdrawn"),
            models.CheckConstraint(condition=Q(ends_on__gte=F("starts_on")), name="sd_quota_period"),
        ]

    def __str__(self) -> str:
        return f"{self.organisation_id}: {self.used}/{self.granted}"

    @property
    def remaining(self) -> int:
        return max(0, self.granted - self.used)

    def valid_on(self, day: object) -> bool:
        return self.starts_on <= day <= self.ends_on  # type: ignore[operator]


class Ticket(models.Model):
    requester = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="service_tickets",
        verbose_name=_("member"),
    )
    operator = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="routed_service_tickets",
        verbose_name=_("operator"),
    )
    provider = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_service_tickets",
        verbose_name=_("provider"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    category = models.CharField(_("category"), max_length=16, choices=Category.choices)
    subject = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("description"))
    status = models.CharField(
        _("status"), max_length=16, choices=TicketStatus.choices, default=TicketStatus.NEW, db_index=True
    )
    uses_free_quota = models.BooleanField(_("uses the free legal service"), default=False)
    quota_returned = models.BooleanField(default=False)
    first_response_due = models.DateTimeField(_("first response due"))
    resolution_due = models.DateTimeField(_("resolution due"))
    first_response_at = models.DateTimeField(_("first response"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    first_response_breached = models.BooleanField(_("first response late"), default=False)
    resolution_breached = models.BooleanField(_("resolution late"), default=False)
    rating = models.PositiveSmallIntegerField(_("satisfaction"), null=True, blank=True)
    rating_comment = models.CharField(_("comment"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("opened"), default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("service ticket")
        verbose_name_plural = _("service tickets")
        ordering: ClassVar = ["-created_at", "-id"]
        indexes: ClassVar = [
            models.Index(fields=["requester", "-created_at"]),
            models.Index(fields=["operator", "status"]),
            models.Index(fields=["provider", "status"]),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5), name="sd_rating_1_to_5"
            ),
            models.CheckConstraint(
                condition=Q(status__in=TicketStatus.values), name="sd_ticket_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    def first_response_late(self, now: object = None) -> bool:
        """Late now or when it happened (a live flag; ``first_response_breached`` is its stored record)."""
        moment = self.first_response_at or now or timezone.now()
        return bool(moment > self.first_response_due)  # type: ignore[operator]

    def resolution_late(self, now: object = None) -> bool:
        if self.status == TicketStatus.CANCELLED:
            return False
        moment = self.resolved_at or now or timezone.now()
        return bool(moment > self.resolution_due)  # type: ignore[operator]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class TicketMessage(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    author_organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    body = models.TextField(_("message"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("ticket message")
        verbose_name_plural = _("ticket messages")
        ordering: ClassVar = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.ticket_id}: {self.body[:40]}"


class TicketAttachment(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        TicketMessage, on_delete=models.SET_NULL, null=True, blank=True, related_name="attachments"
    )
    file = models.FileField(_("file"), upload_to="servicedesk/%Y/%m/")
    name = models.CharField(_("name"), max_length=200)
    size = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("ticket attachment")
        verbose_name_plural = _("ticket attachments")
        ordering: ClassVar = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.name


# -------------------------------------------------------------------------------------------------- licences
class CaseStatus(models.TextChoices):
    PREPARING = "preparing", _("Preparing materials")
    SUBMITTED = "submitted", _("Submitted to the authority")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class LicenceCase(models.Model):
    """A member's application for a licence, assembled with the operator's help."""

    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="licence_cases",
        verbose_name=_("member"),
    )
    operator = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="+", verbose_name=_("operator")
    )
    licence_code = models.CharField(_("licence"), max_length=40)
    licence_name = models.JSONField(_("licence name"), default=dict)
    status = models.CharField(
        _("status"), max_length=12, choices=CaseStatus.choices, default=CaseStatus.PREPARING, db_index=True
    )
    site_statement = models.ForeignKey(
        "communities.SiteStatement",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="licence_cases",
        verbose_name=_("site statement"),
    )
    reference = models.CharField(_("authority's reference number"), max_length=80, blank=True)
    note = models.TextField(_("note"), blank=True)
    decision_note = models.CharField(_("decision note"), max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("opened"), default=timezone.now)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    class Meta:
        verbose_name = _("licence case")
        verbose_name_plural = _("licence cases")
        ordering: ClassVar = ["-created_at", "-id"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(status__in=CaseStatus.values), name="sd_case_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.licence_code} #{self.pk}"


class CaseItem(models.Model):
    """One line of a case's materials checklist (copied from the catalogue when the case opens)."""

    case = models.ForeignKey(LicenceCase, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField()
    code = models.CharField(max_length=40)
    title = models.JSONField(default=dict)
    note = models.JSONField(default=dict, blank=True)
    required = models.BooleanField(default=True)
    site_statement = models.BooleanField(default=False)  # satisfied by linking the operator's statement
    done = models.BooleanField(_("done"), default=False)
    document = models.FileField(_("document"), upload_to="licences/%Y/%m/", blank=True)
    document_name = models.CharField(max_length=200, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("checklist item")
        verbose_name_plural = _("checklist items")
        ordering: ClassVar = ["position"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["case", "code"], name="sd_case_item_code"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}:{self.code}"

    @property
    def satisfied(self) -> bool:
        return self.done or (self.site_statement and self.case.site_statement_id is not None)
