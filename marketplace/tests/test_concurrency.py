"""Real parallel connections against PostgreSQL: funding and releasing one milestone from 200 attempts at once.

Each worker thread has its own Django connection (connections are thread-local) and closes it at the end; a
barrier releases all workers together. Same idempotency key → one effect, every caller gets the milestone;
different keys → exactly one succeeds, the rest are refused by the state guard with a clear error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.utils import translation

from core.errors import DomainError, InvalidTransition
from core.testing import World
from ledger import selectors as ledger_selectors
from ledger.models import Account, Purpose, Transaction
from marketplace import selectors, services
from marketplace.models import Dispute, Milestone, MilestoneStatus, Order, OrderStatus

from .conftest import awarded, delivered, first_milestone

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ATTEMPTS = 200
WORKERS = 40


def run_in_parallel(task: Callable[[int], Any], count: int = ATTEMPTS, workers: int = WORKERS) -> list[Any]:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (real parallel connections)")
    results: list[Any] = [None] * count
    barrier = threading.Barrier(workers)

    def worker(w: int) -> None:
        try:
            barrier.wait(timeout=30)
            with translation.override("en"):
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


def assert_books_sound() -> None:
    assert ledger_selectors.ledger_is_balanced()
    assert ledger_selectors.total_of_balances() == 0
    assert ledger_selectors.accounts_with_inconsistent_balance() == []
    assert ledger_selectors.overdrawn_account_ids() == []
    assert not Account.objects.filter(purpose=Purpose.ESCROW, balance__lt=0).exists()
    assert selectors.escrow_discrepancies() == []


def fund(world: World, milestone: Milestone, key: str) -> Milestone:
    return services.fund_milestone(milestone=milestone, client=world.client, actor=None, idempotency_key=key)


def test_same_funding_200_times_at_once_takes_effect_once(world: World) -> None:
    contract = awarded(world, "777.77")
    milestone = first_milestone(contract)

    results = run_in_parallel(lambda _i: fund(world, milestone, "pay-once"))

    assert [r for r in results if isinstance(r, BaseException)] == []
    assert {r.status for r in results} == {MilestoneStatus.FUNDED}
    assert contract.escrow_account is not None
    contract.escrow_account.refresh_from_db()
    assert contract.escrow_account.balance == Decimal("777.77")
    assert Transaction.objects.filter(reference=f"milestone:{milestone.pk}").count() == 2  # in + escrow
    assert Order.objects.get(pk=contract.order_id).status == OrderStatus.IN_PROGRESS
    assert_books_sound()


def test_funding_with_200_different_keys_succeeds_once(world: World) -> None:
    contract = awarded(world, "500.00")
    milestone = first_milestone(contract)

    results = run_in_parallel(lambda i: fund(world, milestone, f"pay-{i}"))

    ok = [r for r in results if isinstance(r, Milestone)]
    refused = [r for r in results if isinstance(r, InvalidTransition)]
    assert len(ok) == 1
    assert len(refused) == ATTEMPTS - 1
    assert {r.message for r in refused} == {"This milestone has already been funded."}
    assert contract.escrow_account is not None
    contract.escrow_account.refresh_from_db()
    assert contract.escrow_account.balance == Decimal("500.00")
    assert_books_sound()


def test_accepting_200_times_releases_once(world: World) -> None:
    contract, milestone = delivered(world, "1234.56")

    same = run_in_parallel(
        lambda _i: services.accept_milestone(
            milestone=milestone, client=world.client, actor=None, idempotency_key="accept-once"
        ),
        count=ATTEMPTS // 2,
    )
    assert [r for r in same if isinstance(r, BaseException)] == []
    different = run_in_parallel(
        lambda i: services.accept_milestone(
            milestone=milestone, client=world.client, actor=None, idempotency_key=f"accept-{i}"
        ),
        count=ATTEMPTS // 2,
    )
    assert all(isinstance(r, InvalidTransition) for r in different)
    opc_available = Account.objects.get(owner=world.opc, purpose=Purpose.AVAILABLE)
    assert opc_available.balance == Decimal("1234.56")
    assert contract.escrow_account is not None
    contract.escrow_account.refresh_from_db()
    assert contract.escrow_account.balance == 0
    assert Transaction.objects.filter(kind="marketplace.release").count() == 1
    assert_books_sound()


def test_accept_dispute_revision_and_auto_release_race_has_one_winner(world: World, settings: Any) -> None:
    settings.MARKETPLACE_AUTO_RELEASE_DAYS = 0
    _contract, milestone = delivered(world, "300.00")

    def act(i: int) -> Any:
        kind = i % 4
        if kind == 0:
            return services.accept_milestone(
                milestone=milestone, client=world.client, actor=None, idempotency_key=f"a{i}"
            )
        if kind == 1:
            return services.open_dispute(milestone=milestone, party=world.opc, actor=None, reason="race")
        if kind == 2:
            return services.request_revision(
                milestone=milestone, client=world.client, actor=None, note="race"
            )
        return services.release_overdue_milestones()

    results = run_in_parallel(act)

    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, DomainError)]
    assert unexpected == []
    milestone.refresh_from_db()
    releases = Transaction.objects.filter(kind="marketplace.release").count()
    disputes = Dispute.objects.filter(milestone=milestone).count()
    revisions = milestone.revision_rounds
    # Legal outcomes: one release; or one dispute straight from "delivered"; or one revision request, which a
    # dispute may legitimately follow (revision → disputed is an edge of the milestone table).
    assert (releases, disputes, revisions) in {(1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 1)}
    expected = {
        (1, 0, 0): MilestoneStatus.RELEASED,
        (0, 1, 0): MilestoneStatus.DISPUTED,
        (0, 0, 1): MilestoneStatus.REVISION_REQUESTED,
        (0, 1, 1): MilestoneStatus.DISPUTED,
    }[(releases, disputes, revisions)]
    assert milestone.status == expected
    assert_books_sound()


def test_releasing_with_200_different_keys_at_once_releases_once(world: World) -> None:
    """200 simultaneous acceptances of one delivered milestone, each with its own key: one release."""
    contract, milestone = delivered(world, "880.00")

    results = run_in_parallel(
        lambda i: services.accept_milestone(
            milestone=milestone, client=world.client, actor=None, idempotency_key=f"release-{i}"
        )
    )

    ok = [r for r in results if isinstance(r, Milestone)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(ok) == 1 and ok[0].status == MilestoneStatus.RELEASED
    assert len(refused) == ATTEMPTS - 1 and all(isinstance(r, InvalidTransition) for r in refused)
    assert Transaction.objects.filter(kind="marketplace.release").count() == 1
    assert Account.objects.get(owner=world.opc, purpose=Purpose.AVAILABLE).balance == Decimal("880.00")
    assert contract.escrow_account is not None
    contract.escrow_account.refresh_from_db()
    assert contract.escrow_account.balance == 0
    assert_books_sound()


def test_funding_with_mixed_keys_at_once_takes_effect_once(world: World) -> None:
    """One burst of 200: half repeat one key, half bring their own. Exactly one payment; every caller with
    the winning key gets the funded milestone, every other attempt is refused by the state guard."""
    contract = awarded(world, "640.00")
    milestone = first_milestone(contract)

    results = run_in_parallel(lambda i: fund(world, milestone, "shared" if i % 2 else f"own-{i}"))

    milestone.refresh_from_db()
    winner = milestone.funding_key
    assert milestone.status == MilestoneStatus.FUNDED and milestone.funded_amount == Decimal("640.00")
    for i, result in enumerate(results):
        key = "shared" if i % 2 else f"own-{i}"
        if key == winner:
            assert isinstance(result, Milestone) and result.status == MilestoneStatus.FUNDED, (i, result)
        else:
            assert isinstance(result, InvalidTransition), (i, result)
    assert Transaction.objects.filter(reference=f"milestone:{milestone.pk}").count() == 2  # in + escrow
    assert contract.escrow_account is not None
    contract.escrow_account.refresh_from_db()
    assert contract.escrow_account.balance == Decimal("640.00")
    assert_books_sound()
