"""Real parallel connections against PostgreSQL: idempotency keys and guarded postings under races.

Each worker thread has its own Django database connection (connections are thread-local) and closes it at the
end. A barrier releases all workers at once; each then works through its share of the postings.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from audit.models import AuditRecord
from core.testing import make_org, make_user
from ledger import selectors, services
from ledger.errors import IdempotencyConflict, InsufficientFunds
from ledger.models import Account, Purpose, Transaction
from organisations.capabilities import OrgKind

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

POSTINGS = 200
WORKERS = 40  # PostgreSQL's default max_connections is 100


def run_in_parallel(task: Callable[[int], Any], count: int = POSTINGS, workers: int = WORKERS) -> list[Any]:
    """Run ``task(i)`` for i in range(count) on ``workers`` threads started together; returns each result
    or the exception it raised."""
    if connection.vendor != "postgresql":  # belt and braces: the marker already skips elsewhere
        pytest.skip("needs PostgreSQL (real parallel connections)")
    results: list[Any] = [None] * count
    barrier = threading.Barrier(workers)

    def worker(w: int) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(w, count, workers):
                try:
                    results[i] = task(i)
                except Exception as exc:
                    results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung (deadlock?)"
    return results


def assert_ledger_sound() -> None:
    assert selectors.ledger_is_balanced()
    assert selectors.total_of_balances() == 0
    assert selectors.accounts_with_inconsistent_balance() == []
    assert selectors.overdrawn_account_ids() == []


@pytest.fixture
def parties() -> dict[str, Any]:
    client = make_org(OrgKind.CLIENT, "并发测试客户", make_user("race-client"), subkind="enterprise")
    opc = make_org(OrgKind.OPC, "并发测试工作室", make_user("race-opc"))
    return {
        "client": client,
        "opc": opc,
        "bank": services.account_for(owner=None, purpose=Purpose.EXTERNAL),
        "fees": services.account_for(owner=None, purpose=Purpose.FEES),
        "client_available": services.account_for(owner=client, purpose=Purpose.AVAILABLE),
        "opc_available": services.account_for(owner=opc, purpose=Purpose.AVAILABLE),
    }


def test_same_posting_200_times_at_once_takes_effect_once(parties: dict[str, Any]) -> None:
    bank, client_available, fees = parties["bank"], parties["client_available"], parties["fees"]

    def post(_i: int) -> Transaction:
        return services.post_transaction(
            idempotency_key="topup:race",
            entries=[
                (bank, Decimal("-100.00")),
                (client_available, Decimal("99.00")),
                (fees, Decimal("1.00")),
            ],
            kind="topup",
            reference="topup:race",
        )

    results = run_in_parallel(post)

    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert len({txn.pk for txn in results}) == 1
    assert Transaction.objects.count() == 1
    balances = dict(Account.objects.values_list("code", "balance"))
    assert balances[bank.code] == Decimal("-100.00")
    assert balances[client_available.code] == Decimal("99.00")
    assert balances[fees.code] == Decimal("1.00")
    assert AuditRecord.objects.filter(action="ledger.posted").count() == 1  # only the client's organisation
    assert_ledger_sound()


def test_same_key_with_different_payloads_at_once_has_one_winner(parties: dict[str, Any]) -> None:
    bank, client_available = parties["bank"], parties["client_available"]

    def post(i: int) -> Transaction:
        amount = Decimal(1 + i % 4)  # four different payloads under one key
        return services.transfer(
            idempotency_key="one-key", source=bank, destination=client_available, amount=amount, kind="topup"
        )

    results = run_in_parallel(post)

    winners = {r.pk for r in results if isinstance(r, Transaction)}
    assert len(winners) == 1
    assert all(isinstance(r, Transaction | IdempotencyConflict) for r in results)
    txn = Transaction.objects.get()
    amount = txn.entries.get(account=client_available).amount
    # Every submission with the winner's payload got the winner back; every other one was a conflict.
    for i, result in enumerate(results):
        same_payload = Decimal(1 + i % 4) == amount
        assert isinstance(result, Transaction) == same_payload
    client_available.refresh_from_db()
    assert client_available.balance == amount
    assert_ledger_sound()


def test_racing_debits_never_overdraw_a_guarded_account(parties: dict[str, Any]) -> None:
    bank, client_available = parties["bank"], parties["client_available"]
    opc_available, fees = parties["opc_available"], parties["fees"]
    price, succeed = Decimal("1.37"), 73
    services.transfer(
        idempotency_key="fund",
        source=bank,
        destination=client_available,
        amount=price * succeed,
        kind="topup",
    )

    def pay(i: int) -> Transaction:
        # Several destinations, so postings lock different sets of rows (in ascending id order).
        return services.post_transaction(
            idempotency_key=f"pay:{i}",
            entries=[(client_available, -price), (opc_available if i % 2 else fees, price)],
            kind="order.pay",
        )

    results = run_in_parallel(pay)

    ok = [r for r in results if isinstance(r, Transaction)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(ok) == succeed
    assert len(refused) == POSTINGS - succeed
    assert all(r.account_id == client_available.pk for r in refused)
    client_available.refresh_from_db()
    assert client_available.balance == Decimal("0.00")
    assert Transaction.objects.filter(kind="order.pay").count() == succeed
    assert_ledger_sound()


def test_crossing_transfers_between_guarded_accounts_do_not_deadlock(parties: dict[str, Any]) -> None:
    """Postings that debit and credit the same accounts in opposite directions: with a fixed lock order
    none deadlocks, money is conserved and no guarded account goes below zero."""
    bank = parties["bank"]
    wallets = [
        parties["client_available"],
        parties["opc_available"],
        services.account_for(owner=parties["client"], purpose=Purpose.ESCROW),
        services.account_for(owner=parties["opc"], purpose=Purpose.PAYOUTS),
    ]
    for n, wallet in enumerate(wallets):
        services.transfer(
            idempotency_key=f"seed:{n}", source=bank, destination=wallet, amount=Decimal("20"), kind="t"
        )
    rng = random.Random(20260501)
    plans = []
    for _ in range(POSTINGS):
        a, b, c = rng.sample(wallets, 3)
        amount = Decimal(rng.randint(1, 700)) / 100
        plans.append([(a, -amount - amount), (b, amount), (c, amount)])

    def move(i: int) -> Transaction:
        return services.post_transaction(idempotency_key=f"move:{i}", entries=plans[i], kind="t.move")

    results = run_in_parallel(move)

    unexpected = [r for r in results if not isinstance(r, Transaction | InsufficientFunds)]
    assert unexpected == []
    assert sum(Account.objects.filter(pk__in=[w.pk for w in wallets]).values_list("balance", flat=True)) == 80
    assert_ledger_sound()
