"""Trust around the marketplace: reviews, message threads, reports and order-backed credit profiles.

These models hold data and carry no business logic in ``save()``; every change goes through
``trust.services`` (which checks the parties, the states and writes the audit record). Reputation, the client's
payment reliability and the price reference are *computed* from marketplace outcomes (``trust.selectors``),
never stored, so they cannot drift from the facts they summarise.
"""

from __future__ import annotations

import secrets
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MAX_REVIEW_TEXT = 2000
MAX_MESSAGE_TEXT = 5000
MAX_REPORT_TEXT = 4000


class ReviewDirection(models.TextChoices):
    CLIENT_TO_OPC = "client_to_opc", _("Client reviews the OPC")
    OPC_TO_CLIENT = "opc_to_client", _("OPC reviews the client")


class Review(models.Model):
    """One party's review of the other after a completed contract (one per side per contract)."""

    contract = models.ForeignKey(
        "marketplace.Contract", on_delete=models.PROTECT, related_name="reviews", verbose_name=_("contract")
    )
    author = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="+", verbose_name=_("author")
    )
    subject = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="reviews_received",
        verbose_name=_("reviewed organisation"),
    )
    direction = models.CharField(_("direction"), max_length=16, choices=ReviewDirection.choices)
    rating = models.PositiveSmallIntegerField(_("rating (1–5)"))
    text = models.TextField(_("review"), blank=True, max_length=MAX_REVIEW_TEXT)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("written"), default=timezone.now)

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        ordering: ClassVar = ["-created_at", "-id"]
        indexes: ClassVar = [models.Index(fields=["subject", "created_at"], name="trust_review_subject")]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["contract", "author"], name="trust_one_review_per_side"),
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="trust_rating_1_to_5"),
            models.CheckConstraint(
                condition=Q(direction__in=ReviewDirection.values), name="trust_review_direction_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.author} → {self.subject}: {self.rating}/5"


class Thread(models.Model):
    """A conversation between an order's client and one OPC about the order (and, once the OPC holds the
    contract, about the contract). Each OPC talks to the client in its own thread: bidders never see each
    other's messages. The operator of either party's community may read it for mediation."""

    order = models.ForeignKey(
        "marketplace.Order", on_delete=models.PROTECT, related_name="trust_threads", verbose_name=_("order")
    )
    contract = models.ForeignKey(
        "marketplace.Contract",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="trust_threads",
        verbose_name=_("contract"),
    )
    client = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="+", verbose_name=_("client")
    )
    opc = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="+", verbose_name=_("OPC")
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("message thread")
        verbose_name_plural = _("message threads")
        ordering: ClassVar = ["-last_message_at", "-created_at", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["order", "opc"], name="trust_one_thread_per_order_opc"),
        ]

    def __str__(self) -> str:
        return f"{self.order} · {self.opc}"

    def participant_ids(self) -> set[int]:
        return {self.client_id, self.opc_id}

    def other_party_id(self, organisation_id: int) -> int:
        return self.opc_id if organisation_id == self.client_id else self.client_id


class Message(models.Model):
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    sender = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="+", verbose_name=_("sender")
    )
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    body = models.TextField(_("message"), blank=True, max_length=MAX_MESSAGE_TEXT)
    # Off-platform payment requests found in the body (``trust.offplatform``): the recipient sees a warning and
    # the operator lists the message.
    flagged = models.BooleanField(_("flagged"), default=False)
    flag_terms = models.JSONField(_("flagged phrases"), default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering: ClassVar = ["created_at", "id"]
        indexes: ClassVar = [models.Index(fields=["flagged", "created_at"], name="trust_msg_flagged")]

    def __str__(self) -> str:
        return self.body[:60] or "…"


class MessageAttachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(_("file"), upload_to="messages/%Y/%m/")
    name = models.CharField(_("name"), max_length=200)
    size = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering: ClassVar = ["id"]

    def __str__(self) -> str:
        return self.name


class ReportTarget(models.TextChoices):
    ORDER = "order", _("Order")
    CONTRACT = "contract", _("Contract")
    MESSAGE = "message", _("Message")
    ORGANISATION = "organisation", _("Organisation")


class ReportReason(models.TextChoices):
    FRAUD = "fraud", _("Fraud or a scam")
    OFF_PLATFORM = "off_platform", _("Asks to pay outside the platform")
    MISLEADING = "misleading", _("Misleading order, quote or profile")
    ABUSE = "abuse", _("Harassment or abusive language")
    SPAM = "spam", _("Spam")
    OTHER = "other", _("Something else")


class ReportStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DISMISSED = "dismissed", _("Dismissed")
    ACTIONED = "actioned", _("Action taken")


class Report(models.Model):
    """A report about an order, contract, message or organisation, reviewed by the operator of the reported
    organisation's community (else the reporter's, else the order's)."""

    reporter = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="+", verbose_name=_("reporter")
    )
    reporter_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    target_kind = models.CharField(_("about"), max_length=16, choices=ReportTarget.choices)
    # ``<kind>:<id>``: one open report per reporter and target (nullable foreign keys cannot express it).
    target_key = models.CharField(max_length=40, editable=False)
    reported_organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="reports_received",
        verbose_name=_("reported organisation"),
    )
    order = models.ForeignKey(
        "marketplace.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    contract = models.ForeignKey(
        "marketplace.Contract", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    message = models.ForeignKey(
        Message, on_delete=models.PROTECT, null=True, blank=True, related_name="reports"
    )
    reason = models.CharField(_("reason"), max_length=16, choices=ReportReason.choices)
    details = models.TextField(_("details"), max_length=MAX_REPORT_TEXT)
    operator = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reports_to_review",
        verbose_name=_("reviewing operator"),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=ReportStatus.choices, default=ReportStatus.OPEN, db_index=True
    )
    decision_note = models.TextField(_("decision note"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    created_at = models.DateTimeField(_("reported"), default=timezone.now)

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        ordering: ClassVar = ["-created_at", "-id"]
        indexes: ClassVar = [models.Index(fields=["operator", "status"], name="trust_report_queue")]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["reporter", "target_key"],
                condition=Q(status="open"),
                name="trust_one_open_report_per_target",
            ),
            models.CheckConstraint(condition=Q(status__in=ReportStatus.values), name="trust_report_status"),
        ]

    def __str__(self) -> str:
        return f"{self.get_target_kind_display()} · {self.reported_organisation}"


def new_credit_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O/1/I
    return "".join(secrets.choice(alphabet) for _ in range(12))


class CreditConsent(models.Model):
    """An OPC's recorded consent to share its order-backed credit profile: who agreed, when, with whom and
    for what. Revoking it stops new exports and the public verification page then shows it as revoked."""

    opc = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="credit_consents"
    )
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recipient = models.CharField(_("shared with"), max_length=200)
    purpose = models.CharField(_("purpose"), max_length=300)
    granted_at = models.DateTimeField(_("consent given"), default=timezone.now)
    revoked_at = models.DateTimeField(_("consent revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("credit profile consent")
        verbose_name_plural = _("credit profile consents")
        ordering: ClassVar = ["-granted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.opc} → {self.recipient}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class CreditExport(models.Model):
    """One export of the credit profile: the figures frozen at export time (``facts``), the PDF and its
    SHA-256, and the code printed on it for the public verification page."""

    consent = models.ForeignKey(CreditConsent, on_delete=models.PROTECT, related_name="exports")
    opc = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    code = models.CharField(_("verification code"), max_length=16, unique=True, default=new_credit_code)
    facts = models.JSONField(_("figures"), default=dict)
    pdf = models.FileField(_("PDF"), upload_to="credit/%Y/%m/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(_("exported"), default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("credit profile export")
        verbose_name_plural = _("credit profile exports")
        ordering: ClassVar = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.code
