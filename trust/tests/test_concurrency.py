"""Real parallel connections against PostgreSQL: one review per side, one thread per order and OPC and one open
report per reporter and target, however many requests race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from core.errors import Conflict, DomainError
from core.testing import build_world
from trust import selectors, services
from trust.models import Report, Review, Thread

from .conftest import awarded, complete

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ATTEMPTS = 30


def run_in_parallel(task: Callable[[int], Any], count: int = ATTEMPTS) -> list[Any]:
    if connection.vendor != "postgresql":  # belt and braces: the marker already skips elsewhere
        pytest.skip("needs PostgreSQL (real parallel connections)")
    results: list[Any] = [None] * count
    barrier = threading.Barrier(count)

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = task(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung (deadlock?)"
    return results


def test_races_have_exactly_one_winner() -> None:
    world = build_world()
    contract = complete(awarded(world))

    reviews = run_in_parallel(
        lambda i: services.submit_review(contract=contract, author=world.client, actor=None, rating=1 + i % 5)
    )
    assert sum(isinstance(r, Review) for r in reviews) == 1
    assert all(isinstance(r, Review | Conflict) for r in reviews)
    assert Review.objects.filter(contract=contract).count() == 1

    threads = run_in_parallel(
        lambda i: services.open_contract_thread(
            contract=contract, organisation=world.opc if i % 2 else world.client, actor=None
        )
    )
    assert all(isinstance(t, Thread) for t in threads), threads
    assert len({t.pk for t in threads}) == 1 and Thread.objects.count() == 1

    target, objects = selectors.report_target_for(world.opc, "contract", contract.pk)
    reports = run_in_parallel(
        lambda i: services.file_report(
            reporter=world.opc,
            actor=None,
            target_kind="contract",
            reported=target,
            reason="other",
            details=f"并发 {i}",
            **objects,
        )
    )
    assert sum(isinstance(r, Report) for r in reports) == 1
    assert all(isinstance(r, Report | DomainError) for r in reports)
    assert Report.objects.count() == 1
