"""Real parallel connections against PostgreSQL: repeated submissions and distributions take effect once, the
same invoice is approved once platform-wide, a member is claimed once per policy and period.

Each worker thread has its own database connection (connections are thread-local) and closes it at the end;
a barrier releases the workers together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from audit.models import AuditRecord
from core.errors import Conflict, DomainError
from core.testing import World, make_org, make_user
from ledger import selectors as ledger_selectors
from ledger.models import Transaction
from ledger.services import account_for
from organisations.capabilities import OrgKind
from subsidies import catalog, services
from subsidies.engine import Period
from subsidies.models import ClaimLine, Expense, ExpenseStatus
from subsidies.tests.helpers import HAISHU, approved, consent, expense, invoice_number

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
Q1 = Period.quarter(2026, 1)


def run_in_parallel(tasks: list[Callable[[], Any]]) -> list[Any]:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (real parallel connections)")
    results: list[Any] = [None] * len(tasks)
    barrier = threading.Barrier(len(tasks))

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            try:
                results[i] = tasks[i]()
            except Exception as exc:
                results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(tasks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "a worker hung (deadlock?)"
    return results


def _batch(world: World) -> Any:
    approved(world, amount="3000.00")
    second = make_org(OrgKind.OPC, "并发成员", make_user("race-member"), community=world.community)
    approved(world, second, amount="1000.00")
    consent(world)
    consent(world, second, payout="quota")
    return services.open_batch(
        operator=world.operator, policy=catalog.get_policy(HAISHU), period=Q1, actor=world.operator_user
    )


def test_parallel_submissions_take_effect_once(world: World) -> None:
    batch = _batch(world)
    results = run_in_parallel(
        [lambda: services.submit_batch(batch=batch, actor=world.operator_user) for _ in range(6)]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({(r.submitted_at, r.pdf_sha256) for r in results}) == 1
    assert AuditRecord.objects.filter(action="subsidies.batch_submitted").count() == 1


def test_parallel_distributions_pay_once(world: World) -> None:
    batch = _batch(world)
    batch = services.submit_batch(batch=batch, actor=world.operator_user)
    services.start_review(batch=batch, actor=world.operator_user)
    services.approve_batch(batch=batch, actor=world.operator_user, amount="1999.99")
    funds = run_in_parallel(
        [
            lambda: services.record_funds(batch=batch, actor=world.operator_user, amount="1999.99")
            for _ in range(4)
        ]
    )
    assert not [r for r in funds if isinstance(r, Exception)], funds
    results = run_in_parallel(
        [lambda: services.distribute_batch(batch=batch, actor=world.operator_user) for _ in range(6)]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Transaction.objects.filter(kind="subsidy.distributed").count() == 1
    assert Transaction.objects.filter(kind="subsidy.funds_received").count() == 1
    shares = sorted(line.share for line in ClaimLine.objects.filter(batch=batch))
    assert sum(shares) == Decimal("1999.99")
    assert services.subsidy_pool(world.operator).balance == 0
    assert account_for(owner=world.opc, purpose="available").balance + sum(
        account_for(owner=line.organisation, purpose="quota").balance
        for line in ClaimLine.objects.filter(batch=batch, payout="quota")
    ) == Decimal("1999.99")
    assert ledger_selectors.ledger_is_balanced()


def test_the_same_invoice_recorded_and_approved_in_parallel_is_approved_once(world: World) -> None:
    members = [
        make_org(OrgKind.OPC, f"同票{i}", make_user(f"same-invoice-{i}"), community=world.community)
        for i in range(4)
    ]
    number = invoice_number()
    recorded = run_in_parallel(
        [lambda m=m: expense(m, m.memberships.first().user, number=number) for m in members]  # type: ignore[misc]
    )
    assert not [r for r in recorded if isinstance(r, Exception)], recorded
    results = run_in_parallel(
        [
            lambda e=e: services.approve_expense(
                expense=e, operator=world.operator, actor=world.operator_user
            )
            for e in recorded
        ]
    )
    assert sum(1 for r in results if isinstance(r, Expense)) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, Expense))
    assert Expense.objects.filter(invoice_key=f":{number}", status=ExpenseStatus.APPROVED).count() == 1


def test_parallel_batches_claim_a_member_once(world: World) -> None:
    approved(world, amount="3000.00")
    consent(world)
    policy = catalog.get_policy(HAISHU)
    results = run_in_parallel(
        [
            lambda: services.open_batch(
                operator=world.operator, policy=policy, period=Q1, actor=world.operator_user
            )
            for _ in range(4)
        ]
    )
    opened = [r for r in results if not isinstance(r, Exception)]
    assert len(opened) == 1, results
    assert all(isinstance(r, DomainError) for r in results if isinstance(r, Exception))
    assert ClaimLine.objects.filter(organisation=world.opc, active=True).count() == 1
