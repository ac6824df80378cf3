"""Real parallel connections against PostgreSQL: reservations can never overdraw a quota."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum

from core.testing import World
from gateway import services
from gateway.errors import QuotaExhausted
from gateway.models import QuotaMeter, UsageRecord, UsageStatus
from gateway.tests.conftest import MODEL, assert_books_sound, fund_operator
from ledger.models import Account, Transaction

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REQUESTS = 500
WORKERS = 40


def run_in_parallel(task: Callable[[int], Any], count: int, workers: int = WORKERS) -> list[Any]:
    if connection.vendor != "postgresql":
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
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "a worker hung (deadlock?)"
    return results


def test_500_concurrent_reservations_against_a_quota_for_100(world: World) -> None:
    fund_operator(world)
    services.grant_quota(
        operator=world.operator, member=world.opc, amount=Decimal("10.00"), idempotency_key="race"
    )
    price = services.set_model_price(
        model=MODEL, input_per_million=Decimal("2"), output_per_million=Decimal("8")
    )
    key, _secret = services.issue_virtual_key(organisation=world.opc, name="race")
    # ¥0.10 at most per request (1000 × 2 + 12 250 × 8 per 1M): the quota pays for exactly 100.
    max_cost = services.cost_of(price, prompt_tokens=1000, completion_tokens=12_250)
    assert services.reservation_for(max_cost) == Decimal("0.10")
    services.quota_account(world.opc)
    services.consumed_account()

    def reserve(i: int) -> Any:
        return services.reserve(
            request_id=f"race-{i}",
            key=key,
            endpoint="chat.completions",
            model=MODEL,
            stream=False,
            price=price,
            max_cost=max_cost,
        )

    results = run_in_parallel(reserve, REQUESTS)
    won = [r for r in results if isinstance(r, UsageRecord)]
    refused = [r for r in results if isinstance(r, QuotaExhausted)]
    others = [r for r in results if not isinstance(r, UsageRecord | QuotaExhausted)]
    assert others == []
    assert len(won) == 100 and len(refused) == 400
    assert services.quota_balance(world.opc) == 0
    meter = QuotaMeter.objects.get(organisation=world.opc)
    assert meter.held == Decimal("10.00") and meter.funded == Decimal("10.00")
    assert UsageRecord.objects.count() == 100
    assert Transaction.objects.filter(kind="gateway.top_up").count() == 1  # the quota moved in once

    # Settle them all concurrently, each twice (a retried settlement), with different real usage, while
    # usage is posted to the ledger at the same time.
    def settle(i: int) -> Any:
        if i % 20 == 0:
            services.post_all_usage()
        record = won[i % 100]
        return services.settle(
            request_id=record.request_id, prompt_tokens=500 + i % 100, completion_tokens=3000 + (i % 100) * 7
        )

    settled = run_in_parallel(settle, 200)
    assert all(isinstance(r, UsageRecord) for r in settled), [
        r for r in settled if not isinstance(r, UsageRecord)
    ]
    assert UsageRecord.objects.filter(status=UsageStatus.SETTLED).count() == 100
    services.post_all_usage()

    charged = UsageRecord.objects.aggregate(total=Sum("charged"))["total"]
    cost = UsageRecord.objects.aggregate(total=Sum("cost"))["total"]
    assert charged == cost
    meter.refresh_from_db()
    consumed = Account.objects.get(code=services.CONSUMED_ACCOUNT_CODE).balance
    assert services.quota_balance(world.opc) == Decimal("10.00") - charged  # grants − recorded usage
    assert consumed + meter.unposted == charged  # exact: the sub-fen rest waits in the meter
    assert meter.unposted < Decimal("0.01") and meter.held == 0
    assert_books_sound()
