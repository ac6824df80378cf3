"""Expenses with their evidence, members' consent, and the operator's claim batches with their lines.

Policies themselves are files (``subsidies/policies/*.yaml``), not rows: a batch records the policy id and
version it was computed with. Money never lives here: received funds and members' shares move through the
ledger (``ledger.services``); a batch keeps the ids of those transactions.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY: dict = {"max_digits": 14, "decimal_places": 2}
ZERO = Decimal("0.00")


class ExpenseCategory(models.TextChoices):
    """The values are the engine's expense categories (``compute`` matches every ``compute.*``)."""

    AI_SUBSCRIPTION = "ai_service", _("AI tool subscriptions")
    TOKEN_API = "token_api", _("API and token fees")
    MODEL_API = "model_api", _("Third-party model API contracts")
    MODEL_DEPLOYMENT = "model_deployment", _("Private model deployment")
    COMPUTE_GENERAL = "compute.general", _("Compute rental")
    COMPUTE_CENTER = "compute.intelligent_center", _("Compute rental (intelligent computing centre)")
    COMPUTE_TRAINING = "compute.training", _("Compute for model training")
    COMPUTE_INFERENCE = "compute.inference", _("Compute for inference")
    CORPUS = "corpus", _("Corpus purchases")
    RENT = "rent", _("Workstation and site rent")
    TRAIN_TICKET = "train_ticket", _("Train tickets")
    OPERATION = "operation", _("Community operation costs")
    EVENTS = "events", _("Community events")


MEMBER_CATEGORIES = [
    c for c in ExpenseCategory if c not in (ExpenseCategory.OPERATION, ExpenseCategory.EVENTS)
]
OPERATOR_CATEGORIES = [ExpenseCategory.OPERATION, ExpenseCategory.RENT, ExpenseCategory.EVENTS]


class ExpenseSource(models.TextChoices):
    MANUAL = "manual", _("Recorded with an invoice")
    GATEWAY = "gateway", _("Metered by the platform's token gateway")


class ExpenseStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Awaiting review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class Expense(models.Model):
    """One cost a member (or the operator itself) paid, with its 发票 evidence.

    An invoice is identified platform-wide by ``invoice_key`` (发票代码:发票号码; 数电票 have a 20-digit number
    and no code). It can be *approved* once on the whole platform (database constraint); an organisation cannot
    hold it twice while pending or approved; a submission of an invoice another member already holds is kept,
    flagged (``duplicate_of``), for the operator to reject.
    """

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="subsidy_expenses"
    )
    category = models.CharField(_("category"), max_length=40, choices=ExpenseCategory.choices)
    source = models.CharField(
        _("source"), max_length=12, choices=ExpenseSource.choices, default=ExpenseSource.MANUAL
    )
    status = models.CharField(
        _("status"), max_length=12, choices=ExpenseStatus.choices, default=ExpenseStatus.SUBMITTED
    )
    amount = models.DecimalField(_("amount (CNY)"), **MONEY)
    spent_on = models.DateField(_("date"))
    description = models.CharField(_("description"), max_length=200, blank=True)
    seller_name = models.CharField(_("seller"), max_length=120, blank=True)
    seller_uscc = models.CharField(_("seller's unified social credit code"), max_length=18, blank=True)
    invoice_code = models.CharField(_("invoice code (发票代码)"), max_length=12, blank=True)
    invoice_number = models.CharField(_("invoice number (发票号码)"), max_length=20, blank=True)
    invoice_key = models.CharField(max_length=40, blank=True, db_index=True, editable=False)
    evidence = models.FileField(_("invoice file"), upload_to="subsidies/evidence/%Y/%m/", blank=True)
    evidence_name = models.CharField(max_length=200, blank=True)
    evidence_sha256 = models.CharField(max_length=64, blank=True)
    month = models.DateField(
        _("month"), null=True, blank=True, help_text=_("First day of the month a gateway statement covers.")
    )
    trip_from = models.CharField(_("from (station)"), max_length=40, blank=True)
    trip_to = models.CharField(_("to (station)"), max_length=40, blank=True)
    train_number = models.CharField(_("train"), max_length=12, blank=True)
    duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("same invoice as"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("recorded"), default=timezone.now)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    review_note = models.CharField(_("review note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("expense")
        verbose_name_plural = _("expenses")
        ordering: ClassVar = ["-spent_on", "-id"]
        indexes: ClassVar = [
            models.Index(fields=["organisation", "status", "spent_on"], name="subsidy_expense_org"),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="subsidy_expense_amount_positive"),
            # One invoice is approved at most once on the whole platform, whoever records it.
            models.UniqueConstraint(
                fields=["invoice_key"],
                condition=Q(status="approved") & ~Q(invoice_key=""),
                name="subsidy_invoice_approved_once",
            ),
            # A member cannot hold the same invoice twice while it is pending or approved.
            models.UniqueConstraint(
                fields=["organisation", "invoice_key"],
                condition=Q(status__in=["submitted", "approved"]) & ~Q(invoice_key=""),
                name="subsidy_invoice_once_per_member",
            ),
            # One gateway statement per member, month and category.
            models.UniqueConstraint(
                fields=["organisation", "month", "category"],
                condition=Q(source="gateway"),
                name="subsidy_gateway_month_once",
            ),
            models.CheckConstraint(
                condition=~Q(source="gateway") | Q(month__isnull=False), name="subsidy_gateway_has_month"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()} {self.amount} ({self.spent_on})"

    @property
    def invoice_display(self) -> str:
        if not self.invoice_number:
            return ""
        return f"{self.invoice_code} {self.invoice_number}".strip()

    @property
    def metered(self) -> bool:
        return self.source == ExpenseSource.GATEWAY


class Payout(models.TextChoices):
    CASH = "cash", _("Money")
    QUOTA = "quota", _("Token quota")


class Consent(models.Model):
    """A member's consent that its operator applies for ``policy_id`` on its behalf, and how it wants to be
    paid. Revoking keeps the row (history); a member has at most one active consent per policy."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="subsidy_consents"
    )
    policy_id = models.CharField(_("policy"), max_length=80)
    payout = models.CharField(_("paid as"), max_length=8, choices=Payout.choices, default=Payout.CASH)
    given_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    given_at = models.DateTimeField(_("given"), default=timezone.now)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering: ClassVar = ["-given_at"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["organisation", "policy_id"],
                condition=Q(revoked_at__isnull=True),
                name="subsidy_one_active_consent",
            )
        ]

    def __str__(self) -> str:
        return f"{self.organisation} · {self.policy_id}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class BatchKind(models.TextChoices):
    MEMBERS = "members", _("On members' behalf")
    OWN = "own", _("Operator's own claim")


class BatchStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    UNDER_REVIEW = "under_review", _("Under review")
    APPROVED = "approved", _("Approved")
    FUNDS_RECEIVED = "funds_received", _("Funds received")
    DISTRIBUTED = "distributed", _("Distributed")
    REJECTED = "rejected", _("Refused")
    CANCELLED = "cancelled", _("Cancelled")


ACTIVE_BATCH_STATUSES = [
    BatchStatus.DRAFT,
    BatchStatus.SUBMITTED,
    BatchStatus.UNDER_REVIEW,
    BatchStatus.APPROVED,
    BatchStatus.FUNDS_RECEIVED,
    BatchStatus.DISTRIBUTED,
]


def new_batch_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O/1/I
    return "".join(secrets.choice(alphabet) for _ in range(12))


class ClaimBatch(models.Model):
    """One application by an operator for one policy and period: on its members' behalf (``members``) or for
    itself (``own``). Status moves only through ``subsidies.services`` (``BATCH_TRANSITIONS``)."""

    operator = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="subsidy_batches"
    )
    kind = models.CharField(_("kind"), max_length=8, choices=BatchKind.choices, default=BatchKind.MEMBERS)
    policy_id = models.CharField(_("policy"), max_length=80)
    policy_version = models.CharField(_("policy version"), max_length=40)
    policy_title = models.CharField(_("policy"), max_length=200)
    period_label = models.CharField(_("period"), max_length=40)
    period_start = models.DateField(_("period from"))
    period_end = models.DateField(_("period to"))
    status = models.CharField(
        _("status"), max_length=16, choices=BatchStatus.choices, default=BatchStatus.DRAFT
    )
    code = models.CharField(_("reference code"), max_length=16, unique=True, default=new_batch_code)
    claimed_amount = models.DecimalField(_("claimed"), default=ZERO, **MONEY)
    approved_amount = models.DecimalField(_("approved"), null=True, blank=True, **MONEY)
    received_amount = models.DecimalField(_("received"), null=True, blank=True, **MONEY)
    distributed_amount = models.DecimalField(_("distributed"), null=True, blank=True, **MONEY)
    authority_reference = models.CharField(_("authority's reference"), max_length=120, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("opened"), default=timezone.now)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    review_started_at = models.DateTimeField(_("review started"), null=True, blank=True)
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    funds_received_at = models.DateTimeField(_("funds recorded"), null=True, blank=True)
    funds_received_on = models.DateField(_("funds arrived on"), null=True, blank=True)
    distributed_at = models.DateTimeField(_("distributed"), null=True, blank=True)
    closed_at = models.DateTimeField(_("refused or cancelled"), null=True, blank=True)
    package_pdf = models.FileField(_("summary (PDF)"), upload_to="subsidies/packages/%Y/%m/", blank=True)
    package_xlsx = models.FileField(_("detail (XLSX)"), upload_to="subsidies/packages/%Y/%m/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    xlsx_sha256 = models.CharField(max_length=64, blank=True)
    evidence_index = models.JSONField(_("evidence index"), default=list, blank=True)
    funds_transaction = models.ForeignKey(
        "ledger.Transaction", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    distribution_transaction = models.ForeignKey(
        "ledger.Transaction", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("claim batch")
        verbose_name_plural = _("claim batches")
        ordering: ClassVar = ["-created_at", "-id"]
        indexes: ClassVar = [models.Index(fields=["operator", "status"], name="subsidy_batch_operator")]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="subsidy_batch_period_ordered"
            ),
            models.CheckConstraint(condition=Q(claimed_amount__gte=0), name="subsidy_batch_claimed_nonneg"),
            models.CheckConstraint(
                condition=Q(approved_amount__isnull=True)
                | (Q(approved_amount__gt=0) & Q(approved_amount__lte=models.F("claimed_amount"))),
                name="subsidy_batch_approved_within_claim",
            ),
            models.CheckConstraint(
                condition=Q(received_amount__isnull=True)
                | (Q(received_amount__gt=0) & Q(received_amount__lte=models.F("approved_amount"))),
                name="subsidy_batch_received_within_approval",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy_title} · {self.period_label} ({self.code})"

    @property
    def is_open(self) -> bool:
        return self.status == BatchStatus.DRAFT

    @property
    def payout_days(self) -> int | None:
        """Calendar days from submission to the arrival of the funds (the payout cycle)."""
        if self.submitted_at is None or self.funds_received_on is None:
            return None
        return (self.funds_received_on - timezone.localdate(self.submitted_at)).days


class ClaimLine(models.Model):
    """One member in a batch: what the engine computed (amount, trace, mode, evidence used), its consent and
    payout choice, and — after distribution — its share. ``active`` is cleared when the batch is refused or
    cancelled, so the member may be claimed again; one active line per member, policy and period start."""

    batch = models.ForeignKey(ClaimBatch, on_delete=models.PROTECT, related_name="lines")
    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="subsidy_claim_lines"
    )
    policy_id = models.CharField(max_length=80)
    period_start = models.DateField()
    period_end = models.DateField()
    active = models.BooleanField(default=True)
    consent = models.ForeignKey(Consent, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    payout = models.CharField(_("paid as"), max_length=8, choices=Payout.choices, default=Payout.CASH)
    eligible_amount = models.DecimalField(_("eligible amount"), **MONEY)
    mode = models.CharField(_("application mode"), max_length=8, blank=True)
    missing_evidence = models.JSONField(default=list, blank=True)
    trace = models.JSONField(default=list, blank=True)
    facts = models.JSONField(default=dict, blank=True)
    stacking_group = models.CharField(max_length=80, blank=True)
    invoice_allocations = models.JSONField(default=dict, blank=True)
    expense_ids = models.JSONField(default=list, blank=True)
    share = models.DecimalField(_("share"), null=True, blank=True, **MONEY)
    capped = models.BooleanField(default=False)
    rounded_up = models.BooleanField(default=False)
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)

    class Meta:
        verbose_name = _("claim line")
        verbose_name_plural = _("claim lines")
        ordering: ClassVar = ["batch_id", "organisation__name", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["organisation", "policy_id", "period_start"],
                condition=Q(active=True),
                name="subsidy_one_active_line",
            ),
            models.UniqueConstraint(fields=["batch", "organisation"], name="subsidy_line_once_per_batch"),
            models.CheckConstraint(condition=Q(eligible_amount__gte=0), name="subsidy_line_amount_nonneg"),
            models.CheckConstraint(
                condition=Q(share__isnull=True)
                | (Q(share__gte=0) & Q(share__lte=models.F("eligible_amount"))),
                name="subsidy_line_share_within_cap",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation} · {self.batch}"

    @property
    def counted_amount(self) -> Decimal:
        """What this line counts against later caps: its share once paid, its claim until then."""
        return self.share if self.share is not None else self.eligible_amount


class DocumentKind(models.TextChoices):
    """Evidence a policy asks for that is not an invoice (its key in ``application.evidence``), and proofs of
    facts the platform does not hold otherwise. Approved documents make a claim 免申即享."""

    COMPUTE_CONTRACT = "compute_contract", _("Compute service contract")
    MODEL_CONTRACT = "model_contract", _("Model service contract")
    CORPUS_CONTRACT = "corpus_contract", _("Corpus purchase contract")
    SERVICE_CONTRACT = "service_contract", _("Service purchase contract")
    OPERATION_REPORT = "operation_report", _("Annual operation report")
    PROJECT_PARTICIPATION = "project_participation", _("Proof of project participation (weekend engineers)")


# Documents that prove a fact instead of being evidence themselves: kind → (fact in ``CompanyFacts.extra``).
FACT_DOCUMENTS: dict[str, str] = {DocumentKind.PROJECT_PARTICIPATION.value: "yongjia_project"}


class EvidenceDocument(models.Model):
    """A contract, report or proof a member uploads once; its operator reviews it like an expense."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="subsidy_documents"
    )
    kind = models.CharField(_("kind"), max_length=40, choices=DocumentKind.choices)
    title = models.CharField(_("title"), max_length=200)
    file = models.FileField(_("file"), upload_to="subsidies/documents/%Y/%m/")
    file_name = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=ExpenseStatus.choices, default=ExpenseStatus.SUBMITTED
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    review_note = models.CharField(_("review note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("evidence document")
        verbose_name_plural = _("evidence documents")
        ordering: ClassVar = ["-created_at", "-id"]
        indexes: ClassVar = [models.Index(fields=["organisation", "status"], name="subsidy_document_org")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"
