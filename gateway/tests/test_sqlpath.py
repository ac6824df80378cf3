"""The request path's one-statement reservations and settlements on PostgreSQL (``gateway.sqlpath``): the same
guards and money movements as ``gateway.services``, and a fall back to it whenever a statement does not
apply."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

import pytest
from asgiref.sync import async_to_sync
from django.db import connection

from gateway import services, sqlpath
from gateway.models import ModelPrice, QuotaMeter, UsageRecord, UsageSource, UsageStatus
from gateway.tests.conftest import MODEL, Gateway, assert_books_sound

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
T = TypeVar("T")


def _run(coroutine_factory: Callable[[], Awaitable[T]]) -> T:
    async def run() -> T:
        assert sqlpath.start(size=8)
        try:
            return await coroutine_factory()
        finally:
            await sqlpath.stop()

    return async_to_sync(run)()


def test_reserve_settle_release_and_the_cases_that_fall_back(gw: Gateway) -> None:
    assert connection.vendor == "postgresql"
    services.top_up(organisation=gw.world.opc)  # the fast statement never tops up: the ORM path does
    price = ModelPrice.objects.get(model=MODEL)
    key = gw.key

    async def scenario() -> list[object]:
        common = {"key": key, "endpoint": "chat.completions", "model": MODEL, "stream": True, "price": price}
        first = await sqlpath.reserve(request_id="sql-1", amount=Decimal("0.01"), **common)
        second = await sqlpath.reserve(request_id="sql-2", amount=Decimal("0.02"), **common)
        too_much = await sqlpath.reserve(request_id="sql-3", amount=Decimal("10.01"), **common)
        assert first is not None and second is not None
        finish = {
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "cached_tokens": 20,
            "source": UsageSource.UPSTREAM,
            "outcome": "ok",
            "channel_id": gw.channel.pk,
            "upstream_status": 200,
            "attempts": 1,
        }
        settled = await sqlpath.finish(
            record=first, status=UsageStatus.SETTLED, cost=Decimal("0.00123456"), **finish
        )
        again = await sqlpath.finish(
            record=first, status=UsageStatus.SETTLED, cost=Decimal("0.00123456"), **finish
        )
        over_hold = await sqlpath.finish(
            record=second, status=UsageStatus.SETTLED, cost=Decimal("0.03"), **finish
        )
        released = await sqlpath.finish(
            record=second,
            status=UsageStatus.RELEASED,
            cost=Decimal(0),
            prompt_tokens=0,
            completion_tokens=0,
            cached_tokens=0,
            source="",
            outcome="upstream_error",
            channel_id=None,
            upstream_status=503,
            attempts=2,
        )
        return [too_much, settled, again, over_hold, released]

    too_much, settled, again, over_hold, released = _run(scenario)
    assert too_much is None  # more than is available: no record, nothing held
    assert (settled, again, over_hold, released) == (True, False, False, True)
    assert not UsageRecord.objects.filter(request_id="sql-3").exists()
    first = UsageRecord.objects.get(request_id="sql-1")
    assert (first.status, first.cost, first.charged, first.reserved) == (
        UsageStatus.SETTLED,
        Decimal("0.00123456"),
        Decimal("0.00123456"),
        Decimal("0.01"),
    )
    assert (first.prompt_tokens, first.cached_tokens, first.completion_tokens, first.tag) == (100, 20, 50, "")
    second = UsageRecord.objects.get(request_id="sql-2")
    assert (second.status, second.charged, second.upstream_status) == (UsageStatus.RELEASED, 0, 503)
    meter = QuotaMeter.objects.get(organisation=gw.world.opc)
    assert (meter.held, meter.unposted, meter.available) == (
        Decimal(0),
        Decimal("0.00123456"),
        Decimal("10.00") - Decimal("0.00123456"),
    )
    services.post_all_usage()
    assert_books_sound()


def test_a_revoked_key_holds_nothing(gw: Gateway) -> None:
    services.top_up(organisation=gw.world.opc)
    services.revoke_virtual_key(key=gw.key)
    price = ModelPrice.objects.get(model=MODEL)

    async def scenario() -> object:
        return await sqlpath.reserve(
            request_id="sql-revoked",
            key=gw.key,
            endpoint="chat.completions",
            model=MODEL,
            stream=False,
            price=price,
            amount=Decimal("0.01"),
        )

    assert _run(scenario) is None
    assert QuotaMeter.objects.get(organisation=gw.world.opc).held == 0
    assert not UsageRecord.objects.exists()


def test_concurrent_statements_never_overdraw(gw: Gateway) -> None:
    """200 reservations at once on 8 connections against a meter that holds exactly 50 of them."""
    services.top_up(organisation=gw.world.opc)  # 10.00 available
    price = ModelPrice.objects.get(model=MODEL)

    async def scenario() -> list[object]:
        async def one(i: int) -> object:
            return await sqlpath.reserve(
                request_id=f"sql-c-{i}",
                key=gw.key,
                endpoint="chat.completions",
                model=MODEL,
                stream=True,
                price=price,
                amount=Decimal("0.2"),
            )

        return list(await asyncio.gather(*(one(i) for i in range(200))))

    results = _run(scenario)
    assert sum(r is not None for r in results) == 50
    meter = QuotaMeter.objects.get(organisation=gw.world.opc)
    assert (meter.available, meter.held) == (Decimal(0), Decimal("10.00"))
    assert UsageRecord.objects.filter(status=UsageStatus.RESERVED).count() == 50


def test_an_exhausted_quota_is_told_apart_from_a_grant_waiting_and_a_revoked_key(gw: Gateway) -> None:
    async def state() -> bool:
        return await sqlpath.plainly_exhausted(key=gw.key)

    # 10.00 granted, not yet topped up into the gateway: something to do, the ORM path does it.
    assert _run(state) is False
    services.top_up(organisation=gw.world.opc)
    assert _run(state) is True  # nothing left in the ledger quota, key usable: plainly exhausted
    services.revoke_virtual_key(key=gw.key)
    gw.key.refresh_from_db()
    assert _run(state) is False  # the ORM path says "revoked"


def test_a_refused_reservation_says_why_in_the_same_statement(gw: Gateway) -> None:
    price = ModelPrice.objects.get(model=MODEL)

    def attempt(request_id: str, amount: str) -> sqlpath.Held | sqlpath.Refused | None:
        async def run() -> sqlpath.Held | sqlpath.Refused | None:
            return await sqlpath.reserve_or_explain(
                request_id=request_id,
                key=gw.key,
                endpoint="chat.completions",
                model=MODEL,
                stream=False,
                price=price,
                amount=Decimal(amount),
            )

        return _run(run)

    # The grant waits in the ledger quota: refused, but not exhausted (the ORM path tops up).
    assert attempt("why-1", "0.01") == sqlpath.Refused(exhausted=False, leased=False)
    services.top_up(organisation=gw.world.opc)
    held = attempt("why-2", "0.01")
    assert isinstance(held, sqlpath.Held) and UsageRecord.objects.filter(pk=held.pk).exists()
    assert attempt("why-3", "10.00") == sqlpath.Refused(exhausted=True, leased=False)
    assert not UsageRecord.objects.filter(request_id="why-3").exists()
    services.revoke_virtual_key(key=gw.key)
    assert attempt("why-4", "0.01") == sqlpath.Refused(exhausted=False, leased=False)  # "revoked" explained
    assert_books_sound()
