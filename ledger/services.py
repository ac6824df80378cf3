"""Writes to the ledger. The only code that creates transactions and entries or changes a cached balance.

Every posting is one database transaction that:

1. validates the entries (at least two, each non-zero and exact to the fen, one currency, sum zero);
2. inserts the ``Transaction`` row first, inside a savepoint: its unique ``idempotency_key`` is the lock that
   makes a retried or concurrently duplicated posting take effect once. A duplicate key returns the stored
   transaction when its fingerprint matches and raises ``IdempotencyConflict`` when it does not;
3. moves each account's cached balance with a conditional ``UPDATE … SET balance = balance + x WHERE id = …
   AND (allow_negative OR balance >= -x)``, accounts in ascending id order (a fixed lock order, so two
   postings touching the same accounts cannot deadlock). A row count of 0 means the guarded account would be
   overdrawn: ``InsufficientFunds`` is raised and the whole posting, including its transaction row, is rolled
   back. The ``ledger_account_no_overdraft`` check constraint refuses the same thing again at database level;
4. inserts the entries and appends audit records.

On PostgreSQL (READ COMMITTED) the conditional UPDATE waits for a concurrent writer of the same row and then
re-evaluates its WHERE clause against the committed balance, so racing postings can never overdraw. On SQLite
writers are serialised (``transaction_mode=IMMEDIATE``). Balances are rounded to the fen in SQL
(``ROUND(balance + x, 2)``): a no-op on PostgreSQL's exact ``numeric``, and on SQLite, which computes with
binary floating point, it keeps every stored balance the nearest double of an exact fen value, so comparisons
such as ``balance >= 0.30`` are exact.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError
from django.db import transaction as db_transaction
from django.db.models import F, Q
from django.db.models.functions import Round
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from audit.services import audit_summary, record_audit
from ledger.errors import (
    AccountMismatch,
    CurrencyMismatch,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    LedgerError,
    UnbalancedTransaction,
)
from ledger.models import AMOUNT_PLACES, Account, Entry, Purpose, Transaction
from ledger.money import CNY, exact_fen, format_cny

if TYPE_CHECKING:
    from accounts.models import User
    from organisations.models import Organisation

MAX_KEY_LENGTH = 200


# --------------------------------------------------------------------------------------------- accounts


def default_account_code(*, owner: Organisation | None, purpose: str) -> str:
    """``org-12-escrow`` for an organisation's account, ``platform-fees`` for the platform's own."""
    slug = str(purpose).replace("_", "-")
    return f"org-{owner.pk}-{slug}" if owner is not None else f"platform-{slug}"


def default_allows_negative(purpose: str) -> bool:
    """Only ``external`` accounts may go negative by default: their balance is minus the money that entered
    the platform through them. Everything else, funding pools included, can only pay out what was paid in;
    a credit line would be an explicit ``allow_negative=True``."""
    return purpose == Purpose.EXTERNAL


def open_account(
    *,
    owner: Organisation | None,
    purpose: str,
    code: str | None = None,
    name: str = "",
    allow_negative: bool | None = None,
    currency: str = CNY,
    actor: User | None = None,
) -> Account:
    """Get or create the account ``code`` (default: ``default_account_code(owner, purpose)``).

    ``owner=None`` is a platform account. ``allow_negative=None`` means ``default_allows_negative(purpose)``.
    An existing account with the same code but another owner, purpose or currency, or another overdraft
    policy when one was given explicitly, raises ``AccountMismatch``: a silent mismatch could let money
    flow where it should not.
    """
    if purpose not in Purpose.values:
        raise LedgerError(_("Unknown account purpose “%(purpose)s”.") % {"purpose": purpose})
    purpose = Purpose(purpose)
    code = code or default_account_code(owner=owner, purpose=purpose)
    try:
        validate_slug(code)
    except ValidationError:
        raise LedgerError(
            _("An account code may contain only letters, digits, hyphens and underscores.")
        ) from None
    policy = default_allows_negative(purpose) if allow_negative is None else allow_negative
    with db_transaction.atomic():
        account, created = Account.objects.get_or_create(
            code=code,
            defaults={
                "owner": owner,
                "purpose": purpose,
                "name": name,
                "currency": currency,
                "allow_negative": policy,
            },
        )
        if not created:
            owner_id = owner.pk if owner is not None else None
            if (
                account.owner_id != owner_id
                or account.purpose != purpose
                or account.currency != currency
                or (allow_negative is not None and account.allow_negative != allow_negative)
            ):
                raise AccountMismatch(
                    _(
                        "The account “%(code)s” already exists with a different owner, purpose, currency or overdraft policy."
                    )
                    % {"code": code}
                )
            return account
        record_audit(
            action="ledger.account_opened",
            actor=actor,
            organisation=owner,
            target=account,
            summary=audit_summary(gettext_noop("Opened account %(code)s"), {"code": code}),
            changes={
                "code": code,
                "purpose": str(purpose),
                "currency": currency,
                "allow_negative": policy,
            },
        )
    return account


def account_for(*, owner: Organisation | None, purpose: str) -> Account:
    """The default account of ``owner`` (``None``: the platform) for ``purpose``, opened on first use."""
    return open_account(owner=owner, purpose=purpose)


# --------------------------------------------------------------------------------------------- postings


def _clean_key(idempotency_key: str) -> str:
    key = (idempotency_key or "").strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise LedgerError(
            _("Every posting needs an idempotency key of 1 to %(max)d characters.") % {"max": MAX_KEY_LENGTH}
        )
    return key


def _validated_legs(entries: Sequence[tuple[Account, Decimal]]) -> list[tuple[Account, Decimal]]:
    if len(entries) < 2:
        raise UnbalancedTransaction(_("A transaction needs at least two entries."))
    legs: list[tuple[Account, Decimal]] = []
    for account, raw_amount in entries:
        if not isinstance(account, Account) or account.pk is None:
            raise LedgerError(_("Entries must be posted to saved ledger accounts."))
        amount = exact_fen(raw_amount)
        if amount == 0:
            raise InvalidAmount(_("An entry may not be zero."))
        legs.append((account, amount))
    currencies = {account.currency for account, _amount in legs}
    if len(currencies) != 1:
        raise CurrencyMismatch()
    total = sum((amount for _account, amount in legs), Decimal("0.00"))
    if total != 0:
        raise UnbalancedTransaction(
            _("The entries of a transaction must sum to zero; these sum to %(total)s.") % {"total": total}
        )
    return legs


def _fingerprint(*, kind: str, reference: str, legs: list[tuple[Account, Decimal]]) -> str:
    """What makes two postings "the same": entries (in any order), kind and reference. The memo is left out
    on purpose: it is descriptive text, often translated into the language of the request that retries."""
    payload = {
        "kind": kind,
        "reference": reference,
        "entries": sorted([account.pk, str(amount)] for account, amount in legs),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _actor_or_none(actor: Any) -> Any:
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def post_transaction(
    *,
    idempotency_key: str,
    entries: Sequence[tuple[Account, Decimal]],
    kind: str,
    memo: str = "",
    reference: str = "",
    actor: User | None = None,
) -> Transaction:
    """Post one balanced transaction, exactly once per ``idempotency_key``.

    ``entries`` are ``(account, amount)`` pairs; a positive amount puts money into the account, a negative
    one takes it out (see ``ledger.models``). Amounts must be exact to the fen (``SubFenAmount`` otherwise;
    round with ``ledger.money.to_fen`` first). Returns the new transaction, or the stored one when the same
    posting was already made with this key. Raises ``UnbalancedTransaction``, ``InvalidAmount``,
    ``CurrencyMismatch``, ``IdempotencyConflict`` or ``InsufficientFunds``; when it raises, nothing was written.
    """
    key = _clean_key(idempotency_key)
    kind = (kind or "").strip()
    if not kind:
        raise LedgerError(_("Every posting needs a kind."))
    legs = _validated_legs(entries)
    fingerprint = _fingerprint(kind=kind, reference=reference, legs=legs)
    accounts = {account.pk: account for account, _amount in legs}
    net: dict[int, Decimal] = defaultdict(Decimal)
    for account, amount in legs:
        net[account.pk] += amount

    with db_transaction.atomic():
        try:
            with db_transaction.atomic():
                txn = Transaction.objects.create(
                    idempotency_key=key,
                    kind=kind,
                    memo=memo[:500],
                    reference=reference,
                    fingerprint=fingerprint,
                    created_by=_actor_or_none(actor),
                )
        except IntegrityError:
            existing = Transaction.objects.filter(idempotency_key=key).first()
            if existing is None:  # not a duplicate key after all
                raise
            if existing.fingerprint != fingerprint:
                raise IdempotencyConflict(
                    _("The idempotency key “%(key)s” was already used for a different posting.")
                    % {"key": key}
                ) from None
            return existing

        for account_id in sorted(net):
            amount = net[account_id]
            if amount == 0:
                continue
            account = accounts[account_id]
            rows = Account.objects.filter(pk=account_id)
            if amount < 0:
                rows = rows.filter(Q(allow_negative=True) | Q(balance__gte=-amount))
            try:
                updated = rows.update(balance=Round(F("balance") + amount, AMOUNT_PLACES))
            except IntegrityError:  # ledger_account_no_overdraft: the database refused it as well
                raise _insufficient(account, amount) from None
            if updated != 1:
                if amount < 0 and Account.objects.filter(pk=account_id).exists():
                    raise _insufficient(account, amount)
                raise LedgerError(
                    _("The ledger account “%(account)s” does not exist.") % {"account": account}
                )

        Entry.objects.bulk_create(
            [Entry(transaction=txn, account_id=account.pk, amount=amount) for account, amount in legs]
        )
        _audit_posting(txn=txn, legs=legs, actor=actor)
    return txn


def _insufficient(account: Account, amount: Decimal) -> InsufficientFunds:
    return InsufficientFunds(
        _("Insufficient funds in “%(account)s” for %(amount)s.")
        % {"account": account, "amount": format_cny(-amount)},
        account_id=account.pk,
    )


def _audit_posting(*, txn: Transaction, legs: list[tuple[Account, Decimal]], actor: User | None) -> None:
    """One audit record per organisation whose accounts the posting touches (platform-only: one record
    without organisation), so each tenant's audit trail shows the money that moved through it."""
    moved = sum((amount for _account, amount in legs if amount > 0), Decimal("0.00"))
    changes = {
        "transaction": txn.pk,
        "kind": txn.kind,
        "reference": txn.reference,
        "entries": [[account.code, str(amount)] for account, amount in legs],
    }
    summary = audit_summary(
        gettext_noop("Posted %(kind)s, %(amount)s"), {"kind": txn.kind, "amount": format_cny(moved)}
    )
    owners: dict[int, Organisation] = {}
    for account, _amount in legs:
        if account.owner_id is not None and account.owner is not None:
            owners.setdefault(account.owner_id, account.owner)
    organisations: list[Organisation | None] = [*owners.values()] or [None]
    for organisation in organisations:
        record_audit(
            action="ledger.posted",
            actor=actor,
            organisation=organisation,
            target=txn,
            summary=summary,
            changes=changes,
        )


def transfer(
    *,
    idempotency_key: str,
    source: Account,
    destination: Account,
    amount: Decimal,
    kind: str,
    memo: str = "",
    reference: str = "",
    actor: User | None = None,
) -> Transaction:
    """Move a positive ``amount`` from ``source`` to ``destination`` (a two-entry posting)."""
    value = exact_fen(amount)
    if value <= 0:
        raise InvalidAmount(_("A transfer amount must be positive."))
    if source.pk == destination.pk:
        raise LedgerError(_("A transfer needs two different accounts."))
    return post_transaction(
        idempotency_key=idempotency_key,
        entries=[(source, -value), (destination, value)],
        kind=kind,
        memo=memo,
        reference=reference,
        actor=actor,
    )


def reverse_transaction(*, original: Transaction, memo: str = "", actor: User | None = None) -> Transaction:
    """Post the mirror image of ``original`` (the ledger is append-only: this is how a posting is undone).
    The idempotency key is derived from the original, so a transaction is reversed at most once; calling
    this again returns the same reversal. A guarded account that has since spent the money refuses it with
    ``InsufficientFunds``."""
    entries = [(entry.account, -entry.amount) for entry in original.entries.select_related("account")]
    return post_transaction(
        idempotency_key=f"reversal:{original.pk}",
        entries=entries,
        kind="reversal",
        memo=memo,
        reference=f"transaction:{original.pk}",
        actor=actor,
    )


__all__ = [
    "account_for",
    "default_account_code",
    "default_allows_negative",
    "open_account",
    "post_transaction",
    "reverse_transaction",
    "transfer",
]
