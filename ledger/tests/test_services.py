from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, IntegrityError, transaction

from audit.models import AuditRecord
from ledger import selectors, services
from ledger.errors import (
    AccountMismatch,
    CurrencyMismatch,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    LedgerError,
    SubFenAmount,
    UnbalancedTransaction,
)
from ledger.models import Account, Entry, Purpose, Transaction
from ledger.tests.conftest import Books, fund

D = Decimal


def snapshot() -> tuple[int, int, int, dict[int, Decimal]]:
    """Everything a refused posting must leave untouched."""
    return (
        Transaction.objects.count(),
        Entry.objects.count(),
        AuditRecord.objects.filter(action="ledger.posted").count(),
        dict(Account.objects.values_list("pk", "balance")),
    )


def assert_healthy() -> None:
    assert selectors.ledger_is_balanced()
    assert selectors.accounts_with_inconsistent_balance() == []
    assert selectors.overdrawn_account_ids() == []


# ------------------------------------------------------------------------------------------------ accounts


def test_open_account_is_get_or_create_and_audited_once(books: Books) -> None:
    opc = books.world.opc
    again = services.open_account(owner=opc, purpose=Purpose.AVAILABLE)
    assert again.pk == books.opc.pk
    assert books.opc.code == f"org-{opc.pk}-available"
    assert books.opc.balance == 0
    assert not books.opc.allow_negative
    opened = AuditRecord.objects.filter(action="ledger.account_opened", object_id=str(books.opc.pk))
    assert opened.count() == 1
    assert opened.get().organisation == opc


def test_only_external_accounts_may_go_negative_by_default(books: Books) -> None:
    assert books.bank.allow_negative
    assert books.bank.code == "platform-external"
    pool = services.account_for(owner=books.world.authority, purpose=Purpose.FUNDING_POOL)
    assert not pool.allow_negative
    assert pool.code == f"org-{books.world.authority.pk}-funding-pool"
    credit = services.open_account(
        owner=books.world.opc, purpose=Purpose.AVAILABLE, code="opc-credit-line", allow_negative=True
    )
    assert credit.allow_negative


def test_open_account_refuses_an_existing_code_with_other_settings(books: Books) -> None:
    with pytest.raises(AccountMismatch):
        services.open_account(owner=books.world.client, purpose=Purpose.AVAILABLE, code=books.opc.code)
    with pytest.raises(AccountMismatch):
        services.open_account(owner=books.world.opc, purpose=Purpose.AVAILABLE, allow_negative=True)
    with pytest.raises(LedgerError):
        services.open_account(owner=None, purpose="nonsense")
    with pytest.raises(LedgerError):
        services.open_account(owner=None, purpose=Purpose.FEES, code="not a slug")


def test_account_str_names_owner_and_purpose(books: Books) -> None:
    assert str(books.world.opc.name) in str(books.opc)
    named = services.open_account(owner=None, purpose=Purpose.PAYOUTS, name="Payout clearing")
    assert str(named) == "Payout clearing"


# ------------------------------------------------------------------------------------------------ postings


def test_posting_moves_balances_and_stores_entries(books: Books) -> None:
    user = books.world.client_user
    fund(books.client, "1000.00", source=books.bank, key="fund-client")
    txn = services.post_transaction(
        idempotency_key="order:1:settle",
        entries=[(books.client, D("-100.00")), (books.opc, D("95.00")), (books.fees, D("5.00"))],
        kind="order.settle",
        memo="settle order 1",
        reference="order:1",
        actor=user,
    )
    for account in (books.bank, books.client, books.opc, books.fees):
        account.refresh_from_db()
    assert books.bank.balance == D("-1000.00")
    assert books.client.balance == D("900.00")
    assert books.opc.balance == D("95.00")
    assert books.fees.balance == D("5.00")
    assert sorted(txn.entries.values_list("amount", flat=True)) == [D("-100.00"), D("5.00"), D("95.00")]
    assert txn.created_by == user
    assert txn.reference == "order:1"
    assert selectors.derived_balance(books.opc) == D("95.00")
    assert_healthy()
    # One audit record per organisation touched (client and OPC), none for the platform account alone.
    audits = AuditRecord.objects.filter(action="ledger.posted", object_id=str(txn.pk))
    assert {a.organisation_id for a in audits} == {books.world.client.pk, books.world.opc.pk}
    assert audits.first().actor == user  # type: ignore[union-attr]


def test_platform_only_posting_is_audited_without_organisation(books: Books) -> None:
    txn = services.transfer(
        idempotency_key="fees-out", source=books.bank, destination=books.fees, amount=D("1"), kind="x"
    )
    audit = AuditRecord.objects.get(action="ledger.posted", object_id=str(txn.pk))
    assert audit.organisation is None


def test_unbalanced_posting_is_refused_and_writes_nothing(books: Books) -> None:
    before = snapshot()
    with pytest.raises(UnbalancedTransaction):
        services.post_transaction(
            idempotency_key="bad",
            entries=[(books.bank, D("-10.00")), (books.opc, D("9.99"))],
            kind="test",
        )
    with pytest.raises(UnbalancedTransaction):
        services.post_transaction(idempotency_key="bad", entries=[(books.bank, D("-10.00"))], kind="test")
    assert snapshot() == before


@pytest.mark.parametrize("amount", [D("0.001"), D("10.005"), "0.333"])
def test_sub_fen_amounts_are_refused(books: Books, amount: object) -> None:
    before = snapshot()
    with pytest.raises(SubFenAmount):
        services.post_transaction(
            idempotency_key="subfen",
            entries=[(books.bank, -D(str(amount))), (books.opc, amount)],  # type: ignore[list-item]
            kind="test",
        )
    with pytest.raises(SubFenAmount):
        services.transfer(
            idempotency_key="subfen", source=books.bank, destination=books.opc, amount=D("0.015"), kind="t"
        )
    assert snapshot() == before


def test_zero_float_and_negative_transfer_amounts_are_refused(books: Books) -> None:
    with pytest.raises(InvalidAmount):
        services.post_transaction(
            idempotency_key="z", entries=[(books.bank, D("0")), (books.opc, D("0"))], kind="t"
        )
    with pytest.raises(InvalidAmount):
        services.post_transaction(
            idempotency_key="f",
            entries=[(books.bank, -0.1), (books.opc, 0.1)],  # type: ignore[list-item]
            kind="t",
        )
    with pytest.raises(InvalidAmount):
        services.transfer(
            idempotency_key="n", source=books.bank, destination=books.opc, amount=D("-1"), kind="t"
        )
    with pytest.raises(LedgerError):
        services.transfer(
            idempotency_key="s", source=books.opc, destination=books.opc, amount=D("1"), kind="t"
        )
    with pytest.raises(LedgerError):
        services.transfer(
            idempotency_key=" ", source=books.bank, destination=books.opc, amount=D("1"), kind="t"
        )
    with pytest.raises(LedgerError):
        services.transfer(
            idempotency_key="k", source=books.bank, destination=books.opc, amount=D("1"), kind=""
        )
    assert Transaction.objects.count() == 0


def test_currencies_may_not_be_mixed(books: Books) -> None:
    usd = services.open_account(owner=None, purpose=Purpose.EXTERNAL, code="external-usd", currency="USD")
    with pytest.raises(CurrencyMismatch):
        services.transfer(idempotency_key="fx", source=usd, destination=books.opc, amount=D("1"), kind="t")
    assert Transaction.objects.count() == 0


def test_same_key_same_posting_takes_effect_once(books: Books) -> None:
    first = services.transfer(
        idempotency_key="topup:7", source=books.bank, destination=books.client, amount=D("50"), kind="topup"
    )
    before = snapshot()
    # Same entries (given in another order) and kind; a memo in another language is still the same posting.
    again = services.post_transaction(
        idempotency_key="topup:7",
        entries=[(books.client, D("50.00")), (books.bank, D("-50"))],
        kind="topup",
        memo="充值",
    )
    assert again.pk == first.pk
    assert snapshot() == before
    books.client.refresh_from_db()
    assert books.client.balance == D("50.00")


def test_same_key_different_posting_is_a_conflict(books: Books) -> None:
    services.transfer(
        idempotency_key="topup:8", source=books.bank, destination=books.client, amount=D("50"), kind="topup"
    )
    before = snapshot()
    for amount, destination, kind in [
        (D("51"), books.client, "topup"),
        (D("50"), books.opc, "topup"),
        (D("50"), books.client, "other"),
    ]:
        with pytest.raises(IdempotencyConflict):
            services.transfer(
                idempotency_key="topup:8",
                source=books.bank,
                destination=destination,
                amount=amount,
                kind=kind,
            )
    assert snapshot() == before


def test_overdraft_is_refused_and_leaves_nothing_written(books: Books) -> None:
    fund(books.client, "100.00", source=books.bank, key="fund")
    before = snapshot()
    with pytest.raises(InsufficientFunds) as excinfo:
        services.post_transaction(
            idempotency_key="too-much",
            # The OPC's and the fee account's credits would be applied before or after the client's debit
            # (ascending id order); either way the whole posting must vanish.
            entries=[(books.client, D("-100.01")), (books.opc, D("100.00")), (books.fees, D("0.01"))],
            kind="order.settle",
        )
    assert excinfo.value.account_id == books.client.pk
    assert "¥100.01" in excinfo.value.message
    assert snapshot() == before
    assert not Transaction.objects.filter(idempotency_key="too-much").exists()
    # The key was not consumed: once there is enough money the same posting goes through.
    fund(books.client, "0.01", source=books.bank, key="fund-more")
    services.post_transaction(
        idempotency_key="too-much",
        entries=[(books.client, D("-100.01")), (books.opc, D("100.00")), (books.fees, D("0.01"))],
        kind="order.settle",
    )
    books.client.refresh_from_db()
    assert books.client.balance == 0
    assert_healthy()


def test_refused_posting_inside_a_callers_transaction_rolls_back_only_itself(books: Books) -> None:
    fund(books.client, "10.00", source=books.bank, key="fund")
    before = snapshot()
    with transaction.atomic():
        with pytest.raises(InsufficientFunds):
            services.transfer(
                idempotency_key="x", source=books.client, destination=books.opc, amount=D("11"), kind="t"
            )
        services.transfer(
            idempotency_key="y", source=books.client, destination=books.opc, amount=D("10"), kind="t"
        )
    assert Transaction.objects.count() == before[0] + 1
    books.client.refresh_from_db()
    assert books.client.balance == 0
    assert_healthy()


def test_fen_arithmetic_is_exact(books: Books) -> None:
    # 0.10 + 0.20 - 0.30 is not 0 in binary floating point; the ledger must still say exactly zero.
    fund(books.client, "0.10", source=books.bank, key="a")
    fund(books.client, "0.20", source=books.bank, key="b")
    services.transfer(
        idempotency_key="c", source=books.client, destination=books.opc, amount=D("0.30"), kind="t"
    )
    books.client.refresh_from_db()
    assert books.client.balance == D("0.00")
    with pytest.raises(InsufficientFunds):
        services.transfer(
            idempotency_key="d", source=books.client, destination=books.opc, amount=D("0.01"), kind="t"
        )
    assert_healthy()


def test_the_database_refuses_a_negative_guarded_balance(books: Books) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=books.opc.pk).update(balance=D("-0.01"))
    # An account that may go negative may.
    Account.objects.filter(pk=books.bank.pk).update(balance=D("-5.00"))


def test_entries_and_transactions_are_append_only_in_the_database(books: Books) -> None:
    txn = services.transfer(
        idempotency_key="k", source=books.bank, destination=books.opc, amount=D("1"), kind="t"
    )
    with pytest.raises(DatabaseError), transaction.atomic():
        Entry.objects.filter(transaction=txn).update(amount=D("2"))
    with pytest.raises(DatabaseError), transaction.atomic():
        Transaction.objects.filter(pk=txn.pk).update(memo="edited")


def test_reversal_undoes_a_posting_once(books: Books) -> None:
    txn = services.transfer(
        idempotency_key="k", source=books.bank, destination=books.opc, amount=D("8"), kind="t"
    )
    reversal = services.reverse_transaction(original=txn, memo="refund")
    assert services.reverse_transaction(original=txn).pk == reversal.pk
    assert reversal.reference == f"transaction:{txn.pk}"
    books.opc.refresh_from_db()
    assert books.opc.balance == 0
    assert_healthy()


# ------------------------------------------------------------------------------------------------ selectors


def test_selectors_scope_accounts_and_entries(books: Books) -> None:
    fund(books.opc, "3.00", source=books.bank, key="a")
    fund(books.other_opc, "4.00", source=books.bank, key="b")
    assert list(selectors.accounts_for_organisation(books.world.opc)) == [books.opc]
    assert books.other_opc not in selectors.accounts_for_organisation(books.world.opc)
    assert set(selectors.platform_accounts()) == {books.bank, books.fees}
    entries = list(selectors.entries_for_account(books.opc))
    assert [e.amount for e in entries] == [D("3.00")]
    assert entries[0].transaction.kind == "test.fund"
    assert list(selectors.transactions_for_organisation(books.world.opc)) == [entries[0].transaction]
    assert selectors.derived_balance(books.fees) == D("0.00")


def test_consistency_checks_and_ledger_check_command(
    books: Books, capsys: pytest.CaptureFixture[str]
) -> None:
    fund(books.opc, "3.00", source=books.bank, key="a")
    call_command("ledger_check")
    assert "balanced" in capsys.readouterr().out
    # Tamper with a cached balance behind the services' back.
    Account.objects.filter(pk=books.opc.pk).update(balance=D("4.00"))
    assert selectors.accounts_with_inconsistent_balance() == [books.opc.pk]
    assert not selectors.cached_balances_consistent()
    with pytest.raises(CommandError):
        call_command("ledger_check")
    assert "cached balance" in capsys.readouterr().err
