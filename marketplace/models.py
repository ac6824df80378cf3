"""The order marketplace: orders, bids, contest entries, contracts, milestones, disputes, notifications.

States change only through ``marketplace.services`` (transition tables there); these models hold data and
carry no business logic in ``save()``. Money is never stored here as a balance: escrow lives in ledger accounts
(``Contract.escrow_account`` / ``Order.escrow_account``); the amount columns below record what was funded,
released and refunded per milestone so that the books can be reconciled with the ledger.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}
ZERO = Decimal("0.00")


class OrderMode(models.TextChoices):
    TENDER = "tender", _("Tender (OPCs bid, the client awards)")
    DIRECT = "direct", _("Direct (the client hires one named OPC)")
    CONTEST = "contest", _("Contest (reward escrowed, the best entry is paid)")


class Visibility(models.TextChoices):
    PUBLIC = "public", _("Public")
    COMMUNITY = "community", _("Community members only")
    INVITED = "invited", _("Invited OPCs only")


class OrderStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    OPEN = "open", _("Open")
    AWARDED = "awarded", _("Awarded")
    IN_PROGRESS = "in_progress", _("In progress")
    DELIVERED = "delivered", _("Delivered")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    DISPUTED = "disputed", _("Disputed")


class ProcurementMethod(models.TextChoices):
    NONE = "", _("—")
    OPEN_TENDER = "open_tender", _("Open tender (公开招标)")
    INVITED_TENDER = "invited_tender", _("Invited tender (邀请招标)")
    COMPETITIVE_CONSULTATION = "competitive_consultation", _("Competitive consultation (竞争性磋商)")
    COMPETITIVE_NEGOTIATION = "competitive_negotiation", _("Competitive negotiation (竞争性谈判)")
    INQUIRY = "inquiry", _("Request for quotation (询价)")
    SINGLE_SOURCE = "single_source", _("Single source (单一来源)")
    SMALL_DIRECT = "small_direct", _("Small direct purchase (小额直采)")


class BudgetBand(models.TextChoices):
    """Budget bands of the procurement zone, by the upper end of the budget."""

    NONE = "", _("—")
    UNDER_100K = "under_100k", _("Up to ¥100,000")
    FROM_100K_TO_1M = "100k_1m", _("¥100,000 – ¥1,000,000")
    FROM_1M_TO_4M = "1m_4m", _("¥1,000,000 – ¥4,000,000")
    OVER_4M = "over_4m", _("Over ¥4,000,000")


class AcceptanceTemplate(models.Model):
    """Per-category starting text for deliverables and acceptance criteria (prefilled into a new order)."""

    category = models.OneToOneField(
        "organisations.Skill",
        on_delete=models.CASCADE,
        related_name="acceptance_template",
        verbose_name=_("category"),
    )
    deliverables = models.TextField(_("deliverables"), blank=True)
    acceptance_criteria = models.TextField(_("acceptance criteria"), blank=True)

    class Meta:
        verbose_name = _("acceptance template")
        verbose_name_plural = _("acceptance templates")

    def __str__(self) -> str:
        return str(self.category)


class Order(models.Model):
    client = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="orders",
        verbose_name=_("client"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    category = models.ForeignKey(
        "organisations.Skill", on_delete=models.PROTECT, related_name="orders", verbose_name=_("category")
    )
    required_skills = models.ManyToManyField(
        "organisations.Skill", blank=True, related_name="+", verbose_name=_("required skills")
    )
    budget_min = models.DecimalField(_("budget from (CNY)"), **MONEY)
    budget_max = models.DecimalField(_("budget to (CNY)"), **MONEY)
    price = models.DecimalField(
        _("price / reward (CNY)"),
        null=True,
        blank=True,
        help_text=_("Direct mode: the price offered to the named OPC. Contest mode: the reward."),
        **MONEY,
    )
    deadline = models.DateField(_("deadline"))
    deliverables = models.TextField(_("deliverables"), blank=True)
    acceptance_criteria = models.TextField(_("acceptance criteria"), blank=True)
    visibility = models.CharField(
        _("visibility"), max_length=12, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    community = models.ForeignKey(
        "communities.Community",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("community"),
        help_text=_("For orders visible to one community's members only."),
    )
    invited_opcs = models.ManyToManyField(
        "organisations.Organisation", blank=True, related_name="order_invitations", verbose_name=_("invited")
    )
    mode = models.CharField(_("mode"), max_length=12, choices=OrderMode.choices, default=OrderMode.TENDER)
    direct_opc = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="direct_orders",
        verbose_name=_("named OPC"),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=OrderStatus.choices, default=OrderStatus.DRAFT, db_index=True
    )
    is_procurement = models.BooleanField(
        _("procurement zone"),
        default=False,
        help_text=_("Posted by a government department or state-owned enterprise."),
    )
    procurement_method = models.CharField(
        _("procurement method"), max_length=32, choices=ProcurementMethod.choices, blank=True, default=""
    )
    budget_band = models.CharField(
        _("budget band"), max_length=12, choices=BudgetBand.choices, blank=True, default=""
    )
    escrow_account = models.ForeignKey(
        "ledger.Account",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Contest mode: the account holding the reward."),
    )
    funding_key = models.CharField(max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering: ClassVar = ["-published_at", "-created_at", "-id"]
        indexes: ClassVar = [
            models.Index(fields=["status", "visibility"], name="mkt_order_status_vis"),
            models.Index(fields=["is_procurement", "status"], name="mkt_order_procurement"),
            # the browse listing (selectors.LISTING_ORDER) over open orders: a page is an index range scan
            models.Index(
                fields=["-published_at", "-created_at", "-id"],
                name="mkt_order_open_listing",
                condition=Q(status="open"),
            ),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=Q(budget_min__gte=0) & Q(budget_min__lte=models.F("budget_max")),
                name="mkt_order_budget_ordered",
            ),
            models.CheckConstraint(condition=Q(status__in=OrderStatus.values), name="mkt_order_status_valid"),
        ]

    def __str__(self) -> str:
        return self.title


class OrderAttachment(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(_("file"), upload_to="orders/%Y/%m/")
    name = models.CharField(_("name"), max_length=200)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering: ClassVar = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.name


class BidStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    SHORTLISTED = "shortlisted", _("Shortlisted")
    AWARDED = "awarded", _("Awarded")
    REJECTED = "rejected", _("Not selected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class Bid(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="bids")
    opc = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="bids", verbose_name=_("OPC")
    )
    price = models.DecimalField(_("price (CNY)"), **MONEY)
    timeline_days = models.PositiveIntegerField(_("timeline (days)"))
    plan = models.TextField(_("plan"), blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=BidStatus.choices, default=BidStatus.SUBMITTED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("bid")
        verbose_name_plural = _("bids")
        ordering: ClassVar = ["price", "created_at", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["order", "opc"], name="mkt_one_bid_per_opc"),
            models.CheckConstraint(condition=Q(price__gt=0), name="mkt_bid_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.opc} → {self.order}"


class EntryStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    WON = "won", _("Winner")
    NOT_SELECTED = "not_selected", _("Not selected")


class ContestEntry(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="entries")
    opc = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    description = models.TextField(_("description"))
    link = models.URLField(_("link"), blank=True)
    status = models.CharField(
        _("status"), max_length=14, choices=EntryStatus.choices, default=EntryStatus.SUBMITTED
    )
    payout_key = models.CharField(max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("contest entry")
        verbose_name_plural = _("contest entries")
        ordering: ClassVar = ["created_at", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["order", "opc"], name="mkt_one_entry_per_opc"),
        ]

    def __str__(self) -> str:
        return f"{self.opc} → {self.order}"


class ContractStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class Contract(models.Model):
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="contract")
    bid = models.OneToOneField(Bid, on_delete=models.PROTECT, null=True, blank=True, related_name="contract")
    client = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    opc = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="contracts")
    price = models.DecimalField(_("price (CNY)"), **MONEY)
    status = models.CharField(
        _("status"), max_length=12, choices=ContractStatus.choices, default=ContractStatus.ACTIVE
    )
    # Set in the same transaction that creates the contract (its code, ``contract-<id>-escrow``, needs the id).
    escrow_account = models.ForeignKey(
        "ledger.Account", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The client may forbid passing part of the work on (enforced by ``teams.services.post_subcontract``).
    subcontracting_allowed = models.BooleanField(_("subcontracting allowed"), default=True)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        ordering: ClassVar = ["-created_at", "-id"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(price__gt=0), name="mkt_contract_price_positive")
        ]

    def __str__(self) -> str:
        return gettext("Contract for %(order)s") % {"order": self.order}


class MilestoneStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting funding")
    FUNDED = "funded", _("Funded (in escrow)")
    DELIVERED = "delivered", _("Delivered")
    REVISION_REQUESTED = "revision", _("Revision requested")
    RELEASED = "released", _("Released")
    DISPUTED = "disputed", _("Disputed")
    RESOLVED = "resolved", _("Resolved by mediation")
    CANCELLED = "cancelled", _("Cancelled")


class Milestone(models.Model):
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="milestones")
    position = models.PositiveSmallIntegerField(default=1)
    title = models.CharField(_("title"), max_length=200)
    amount = models.DecimalField(_("amount (CNY)"), **MONEY)
    due_date = models.DateField(_("due date"))
    acceptance_criteria = models.TextField(_("acceptance criteria"), blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=MilestoneStatus.choices, default=MilestoneStatus.PENDING
    )
    revision_rounds = models.PositiveSmallIntegerField(_("revision rounds"), default=0)
    delivery_note = models.TextField(_("delivery note"), blank=True)
    revision_note = models.TextField(_("revision request"), blank=True)
    # What went through escrow (ledger is the truth; these make reconciliation a simple query).
    funded_amount = models.DecimalField(default=ZERO, editable=False, **MONEY)
    released_amount = models.DecimalField(default=ZERO, editable=False, **MONEY)  # to the OPC, fee included
    fee_amount = models.DecimalField(default=ZERO, editable=False, **MONEY)
    refunded_amount = models.DecimalField(default=ZERO, editable=False, **MONEY)
    funding_key = models.CharField(max_length=200, blank=True, editable=False)
    release_key = models.CharField(max_length=200, blank=True, editable=False)
    funded_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    auto_released = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("milestone")
        verbose_name_plural = _("milestones")
        ordering: ClassVar = ["contract_id", "position", "id"]
        indexes: ClassVar = [models.Index(fields=["status", "delivered_at"], name="mkt_ms_status_delivered")]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="mkt_milestone_amount_positive"),
            models.CheckConstraint(
                condition=Q(released_amount__gte=0)
                & Q(refunded_amount__gte=0)
                & Q(fee_amount__gte=0)
                & Q(funded_amount__gte=models.F("released_amount") + models.F("refunded_amount")),
                name="mkt_milestone_escrow_not_over_released",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class DisputeStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DECIDED = "decided", _("Decided")


class Dispute(models.Model):
    milestone = models.ForeignKey(Milestone, on_delete=models.PROTECT, related_name="disputes")
    opened_by = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    opened_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(_("reason"))
    status = models.CharField(
        _("status"), max_length=10, choices=DisputeStatus.choices, default=DisputeStatus.OPEN
    )
    mediator = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount_to_opc = models.DecimalField(null=True, blank=True, **MONEY)
    amount_to_client = models.DecimalField(null=True, blank=True, **MONEY)
    decision_note = models.TextField(_("decision"), blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("dispute")
        verbose_name_plural = _("disputes")
        ordering: ClassVar = ["-opened_at", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["milestone"], condition=Q(status="open"), name="mkt_one_open_dispute_per_milestone"
            )
        ]

    def __str__(self) -> str:
        return gettext("Dispute about %(milestone)s") % {"milestone": self.milestone}


class Notification(models.Model):
    """An in-app notice to an organisation (optionally one person in it).

    The text is stored as an English msgid (marked with ``gettext_noop``) plus its parameters and rendered in
    the *reader's* language when shown (``text``); e-mails render it in the platform language.
    """

    recipient = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="notifications"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=40)
    message = models.CharField(max_length=300)
    params = models.JSONField(default=dict, blank=True)
    link = models.CharField(_("link"), max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering: ClassVar = ["-created_at", "-id"]
        indexes: ClassVar = [models.Index(fields=["recipient", "read_at"], name="mkt_notif_unread")]

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        template = gettext(self.message)
        try:
            return template % self.params if self.params else template
        except (KeyError, TypeError, ValueError):
            return template
