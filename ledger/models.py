"""Double-entry ledger: accounts, transactions and their entries.

Sign convention: ``Entry.amount`` is signed **from the account's point of view**. A positive amount puts
money (or quota) *into* the account and raises its balance; a negative amount takes it *out*. The entries of
every transaction sum to zero, so the balances of all accounts together always sum to zero: money that enters
the system from outside (a client paying in, a government grant) is posted against an ``external`` account,
whose balance therefore goes negative by exactly the amount held inside the platform.

``Account.balance`` is a cache of the sum of the account's entries. Only ``ledger.services`` write it, in the
same database transaction as the entries, with a conditional UPDATE. Transactions and entries are append-only:
the product has no update or delete path (corrections are new, reversing transactions), and the foreign keys
PROTECT so that nothing cascades them away.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

AMOUNT_DIGITS = 16
AMOUNT_PLACES = 2


class Purpose(models.TextChoices):
    AVAILABLE = "available", _("Available funds")
    ESCROW = "escrow", _("Escrow")
    QUOTA = "quota", _("Token quota")
    FEES = "fees", _("Fees")
    PAYOUTS = "payouts", _("Payouts")
    FUNDING_POOL = "funding_pool", _("Funding pool")
    EXTERNAL = "external", _("External (money entering or leaving the platform)")


class Account(models.Model):
    Purpose = Purpose

    owner = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_accounts",
        verbose_name=_("owner"),
        help_text=_("Empty for the platform's own accounts."),
    )
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    code = models.SlugField(_("code"), max_length=100, unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    allow_negative = models.BooleanField(
        _("may go negative"),
        default=False,
        help_text=_("Only accounts for money entering or leaving the platform may be overdrawn."),
    )
    balance = models.DecimalField(
        _("balance"),
        max_digits=AMOUNT_DIGITS,
        decimal_places=AMOUNT_PLACES,
        default=Decimal("0.00"),
        editable=False,
        help_text=_("Sum of the account's entries, maintained together with them."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["owner_id", "purpose", "code"]
        indexes = [models.Index(fields=["owner", "purpose"], name="ledger_acct_owner_purpose")]
        constraints = [
            # The database itself refuses an overdraft of a guarded account, whatever the code does.
            models.CheckConstraint(
                condition=Q(allow_negative=True) | Q(balance__gte=0), name="ledger_account_no_overdraft"
            ),
            models.CheckConstraint(
                condition=Q(purpose__in=Purpose.values), name="ledger_account_purpose_valid"
            ),
        ]

    def __str__(self) -> str:
        if self.name:
            return self.name
        purpose = self.get_purpose_display()
        return f"{self.owner} · {purpose}" if self.owner_id else f"{_('Platform')} · {purpose}"


class Transaction(models.Model):
    """One balanced posting. ``idempotency_key`` makes a retried posting take effect once;
    ``fingerprint`` (SHA-256 of the normalised entries, kind and reference) detects a key reused for a
    different posting."""

    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=64)
    memo = models.CharField(_("memo"), max_length=500, blank=True)
    reference = models.CharField(
        _("reference"), max_length=200, blank=True, db_index=True, help_text=_("e.g. order:12")
    )
    fingerprint = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now, editable=False, db_index=True)

    class Meta:
        verbose_name = _("transaction")
        verbose_name_plural = _("transactions")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}"


class Entry(models.Model):
    """One leg of a transaction. ``amount`` > 0 puts money into ``account``, < 0 takes it out."""

    transaction = models.ForeignKey(
        Transaction, on_delete=models.PROTECT, related_name="entries", verbose_name=_("transaction")
    )
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="entries", verbose_name=_("account")
    )
    amount = models.DecimalField(_("amount"), max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)

    class Meta:
        verbose_name = _("entry")
        verbose_name_plural = _("entries")
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="ledger_entry_amount_nonzero")]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.amount}"
