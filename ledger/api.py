"""API: the caller's ledger accounts and their entries, read-only. Money moves only through
``ledger.services``; there is no write endpoint. Amounts are strings to the fen ("1234.50"), never floats."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema

from accounts.api import ERRORS, MAX_ID, ErrorOut
from core.errors import NotFound
from ledger.models import Account, Entry
from ledger.money import FEN
from ledger.selectors import accounts_for_organisation, entries_for_account
from organisations.access import scope_for
from organisations.capabilities import Capability

router = Router(tags=["ledger"])

Amount = Annotated[
    str, Field(pattern=r"^-?\d+\.\d{2}$", examples=["1234.50"], description="CNY to the fen, as a string.")
]


def amount(value: Decimal) -> str:
    return format(Decimal(value).quantize(FEN), "f")


class LedgerAccountOut(Schema):
    id: int
    code: str
    name: str
    purpose: str
    purpose_label: str
    currency: str
    balance: Amount = Field(description="Sum of the account's entries.")
    created_at: dt.datetime


class LedgerTransactionOut(Schema):
    id: int
    kind: str
    memo: str
    reference: str
    created_at: dt.datetime


class LedgerEntryOut(Schema):
    id: int
    amount: Amount = Field(description="Positive: into the account; negative: out of it.")
    transaction: LedgerTransactionOut


class LedgerEntryPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[LedgerEntryOut]


class LedgerEntryFilter(Schema):
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=MAX_ID)


def account_out(account: Account) -> LedgerAccountOut:
    return LedgerAccountOut(
        id=account.pk,
        code=account.code,
        name=str(account),
        purpose=account.purpose,
        purpose_label=str(account.get_purpose_display()),
        currency=account.currency,
        balance=amount(account.balance),
        created_at=account.created_at,
    )


def entry_out(entry: Entry) -> LedgerEntryOut:
    txn = entry.transaction
    return LedgerEntryOut(
        id=entry.pk,
        amount=amount(entry.amount),
        transaction=LedgerTransactionOut(
            id=txn.pk, kind=txn.kind, memo=txn.memo, reference=txn.reference, created_at=txn.created_at
        ),
    )


@router.get(
    "/accounts", response={200: list[LedgerAccountOut], **ERRORS}, summary="Your accounts and balances"
)
def list_accounts(request: HttpRequest) -> list[LedgerAccountOut]:
    """Requires `ledger.view`. Only the active organisation's own accounts."""
    org = scope_for(request).require(Capability.LEDGER_VIEW)
    return [account_out(a) for a in accounts_for_organisation(org)]


@router.get(
    "/accounts/{id}/entries",
    response={200: LedgerEntryPage, 404: ErrorOut, **ERRORS},
    summary="The entries of one of your accounts, newest first",
)
def list_entries(
    request: HttpRequest, filters: Query[LedgerEntryFilter], id: int = Path(..., ge=1, le=MAX_ID)
) -> LedgerEntryPage:
    """Requires `ledger.view`. Another organisation's account, or the platform's, is 404."""
    org = scope_for(request).require(Capability.LEDGER_VIEW)
    account = accounts_for_organisation(org).filter(pk=id).first()
    if account is None:
        raise NotFound()
    qs = entries_for_account(account)
    page = qs[filters.offset : filters.offset + filters.limit]
    return LedgerEntryPage(
        count=qs.count(), limit=filters.limit, offset=filters.offset, items=[entry_out(e) for e in page]
    )
