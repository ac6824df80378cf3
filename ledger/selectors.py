"""Reads of the ledger. Pages, the API and ``manage.py ledger_check`` share these queries.

The consistency checks are aggregate queries (one per check), never loops over rows. Sums are rounded to the
fen in SQL before they are compared: a no-op on PostgreSQL, and on SQLite (binary floating point) it makes
``0.10 + 0.20 - 0.30`` compare equal to zero.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import Count, DecimalField, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Round

from ledger.models import AMOUNT_DIGITS, AMOUNT_PLACES, Account, Entry, Transaction

if TYPE_CHECKING:
    from organisations.models import Organisation

_MONEY = DecimalField(max_digits=AMOUNT_DIGITS + 4, decimal_places=AMOUNT_PLACES)
_ZERO = Value(Decimal("0.00"), output_field=_MONEY)


def _rounded_sum(field: str) -> Round:
    return Round(Coalesce(Sum(field), _ZERO, output_field=_MONEY), AMOUNT_PLACES, output_field=_MONEY)


def accounts_for_organisation(org: Organisation) -> QuerySet[Account]:
    """The organisation's own accounts (never another tenant's), by purpose."""
    return Account.objects.filter(owner=org).select_related("owner").order_by("purpose", "code")


def platform_accounts() -> QuerySet[Account]:
    """The platform's own accounts (fees, external, pools without an owner)."""
    return Account.objects.filter(owner__isnull=True).select_related("owner").order_by("purpose", "code")


def derived_balance(account: Account) -> Decimal:
    """The account's balance as the sum of its entries (the cached ``Account.balance`` must equal it)."""
    total = Entry.objects.filter(account=account).aggregate(total=_rounded_sum("amount"))["total"]
    return Decimal(total).quantize(Decimal("0.01"))


def entries_for_account(account: Account) -> QuerySet[Entry]:
    """The account's entries, newest first, with their transaction (and who posted it) loaded."""
    return (
        Entry.objects.filter(account=account)
        .select_related("transaction", "transaction__created_by", "account")
        .order_by("-transaction__created_at", "-id")
    )


def transactions_for_organisation(org: Organisation) -> QuerySet[Transaction]:
    """Transactions touching at least one of the organisation's accounts, newest first."""
    return (
        Transaction.objects.filter(entries__account__owner=org)
        .distinct()
        .prefetch_related("entries__account")
        .order_by("-created_at", "-id")
    )


def transactions_for_reference(reference: str) -> QuerySet[Transaction]:
    """Transactions about one business object, e.g. ``"order:12"``."""
    return Transaction.objects.filter(reference=reference).prefetch_related("entries__account")


def unbalanced_transaction_ids() -> list[int]:
    """Transactions whose entries do not sum to zero, or that have fewer than two entries (should be none)."""
    rows = (
        Transaction.objects.annotate(total=_rounded_sum("entries__amount"), legs=Count("entries"))
        .filter(~Q(total=0) | Q(legs__lt=2))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return list(rows)


def ledger_total() -> Decimal:
    """Sum of all entries: zero in a healthy ledger."""
    total = Entry.objects.aggregate(total=_rounded_sum("amount"))["total"]
    return Decimal(total).quantize(Decimal("0.01"))


def total_of_balances() -> Decimal:
    """Sum of all cached balances: zero in a healthy ledger (money is only ever moved, never made)."""
    total = Account.objects.aggregate(
        total=Round(Coalesce(Sum("balance"), _ZERO, output_field=_MONEY), AMOUNT_PLACES, output_field=_MONEY)
    )["total"]
    return Decimal(total).quantize(Decimal("0.01"))


def ledger_is_balanced() -> bool:
    """All entries sum to zero and every single transaction balances."""
    return ledger_total() == 0 and not unbalanced_transaction_ids()


def accounts_with_inconsistent_balance() -> list[int]:
    """Ids of accounts whose cached ``balance`` differs from the sum of their entries (should be none)."""
    rows = (
        Account.objects.annotate(derived=_rounded_sum("entries__amount"))
        .exclude(balance=F("derived"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return list(rows)


def cached_balances_consistent() -> bool:
    return not accounts_with_inconsistent_balance()


def overdrawn_account_ids() -> list[int]:
    """Guarded accounts below zero (the check constraint makes this impossible; checked anyway)."""
    return list(
        Account.objects.filter(allow_negative=False, balance__lt=0)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
