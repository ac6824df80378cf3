"""Quota leases on PostgreSQL (``gateway.leases``): requests reserved and settled in memory from a worker's
lease, written in batches, and the money exactly where the statement path would have put it — also when
the worker dies (its journal replayed), when the member runs dry (leases recalled) and when a key is revoked
elsewhere."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from asgiref.sync import async_to_sync
from django.db import connections
from django.db.models import Sum
from django.utils import timezone

from gateway import leases, services, sqlpath
from gateway.models import ModelPrice, Outcome, QuotaLease, QuotaMeter, UsageRecord, UsageSource, UsageStatus
from gateway.tests.conftest import MODEL, Gateway, assert_books_sound

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
T = TypeVar("T")
HOLD = Decimal("0.01")


@pytest.fixture(autouse=True)
def _journal_here(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    settings.VAR_DIR = tmp_path
    # The scenarios look at the database between steps of the event loop (the test's own connection).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    yield
    leases._book = None  # a test that "killed" its worker leaves no book behind


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    async def run() -> T:
        assert sqlpath.start(size=8)
        try:
            return await factory()
        finally:
            await sqlpath.stop()
            connections.close_all()  # the scenario's own look at the database, from the loop's thread

    return async_to_sync(run)()


def _hold(gw: Gateway, request_id: str, amount: Decimal = HOLD) -> leases.Hold | None:
    price = ModelPrice.objects.get(model=MODEL)  # loaded before the event loop runs
    return leases.try_hold(
        request_id=request_id,
        key=gw.key,
        endpoint="chat.completions",
        model=MODEL,
        stream=True,
        price_id=price.pk,
        amount=amount,
    )


async def _leased(gw: Gateway, request_id: str) -> leases.Hold:
    """The first request of a member misses (no lease yet) and asks for one; wait until it is there."""
    for _ in range(100):
        hold = _hold(gw, request_id)
        if hold is not None:
            return hold
        await asyncio.sleep(0.02)
    raise AssertionError("no lease was taken")


def _settle(hold: leases.Hold, cost: str, **extra: Any) -> None:
    values: dict[str, Any] = {
        "status": UsageStatus.SETTLED,
        "cost": Decimal(cost),
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "cached_tokens": 0,
        "source": UsageSource.UPSTREAM,
        "outcome": Outcome.OK,
        "channel_id": None,
        "upstream_status": 200,
        "attempts": 1,
        **extra,
    }
    leases.finish(hold, **values)


def _meter_sound(gw: Gateway) -> QuotaMeter:
    meter = QuotaMeter.objects.get(organisation=gw.world.opc)
    leased = QuotaLease.objects.aggregate(total=Sum("amount"))["total"] or Decimal(0)
    in_db = UsageRecord.objects.filter(status=UsageStatus.RESERVED).aggregate(total=Sum("reserved"))["total"]
    assert meter.funded == meter.available + meter.held + meter.unposted
    assert meter.held == leased + (in_db or Decimal(0))
    return meter


def test_requests_are_held_and_settled_in_memory_and_written_in_batches(gw: Gateway) -> None:
    services.top_up(organisation=gw.world.opc)  # ¥10.00 in the meter: leases of 64 × ¥0.01 are allowed

    async def scenario() -> None:
        assert await leases.start()
        try:
            holds = [await _leased(gw, "lease-0")]
            holds += [_hold(gw, f"lease-{i}") for i in range(1, 40)]  # type: ignore[misc]
            assert all(holds)
            for i, hold in enumerate(holds[:30]):
                _settle(hold, f"0.00{i % 10}12345")
                _settle(hold, "0.009")  # a repeated settlement does nothing
            for hold in holds[30:35]:
                leases.finish(
                    hold,
                    status=UsageStatus.RELEASED,
                    cost=Decimal(0),
                    prompt_tokens=0,
                    completion_tokens=0,
                    cached_tokens=0,
                    source="",
                    outcome=Outcome.UPSTREAM_ERROR,
                    channel_id=None,
                    upstream_status=502,
                    attempts=2,
                )
            # A cost above the hold takes the rest from the lease's free part.
            _settle(holds[35], "0.015")
            await asyncio.sleep(leases.FLUSH_DELAY + 0.3)
            # Written: 36 records, one per request; 4 still in flight, nothing of theirs in the database.
            assert UsageRecord.objects.filter(request_id__startswith="lease-").count() == 36
            assert UsageRecord.objects.filter(status=UsageStatus.RESERVED).count() == 0
            lease = QuotaLease.objects.get()
            assert lease.amount > 0
            _meter_sound(gw)
            # A live worker's journal is locked: the sweep for dead workers leaves it and its lease alone.
            assert leases.recover_dead_workers() == 0
            assert QuotaLease.objects.get().amount == lease.amount
            assert list(Path(leases.journal_dir()).glob("*.journal"))
            for hold in holds[36:]:
                _settle(hold, "0.001")
        finally:
            await leases.stop()

    _run(scenario)
    records = UsageRecord.objects.filter(request_id__startswith="lease-")
    assert records.count() == 40
    assert records.filter(status=UsageStatus.RELEASED, charged=0).count() == 5
    over = records.get(request_id="lease-35")
    assert over.cost == over.charged == Decimal("0.015") and over.uncollected == 0
    charged = records.aggregate(total=Sum("charged"))["total"]
    assert charged == records.aggregate(total=Sum("cost"))["total"]
    assert not QuotaLease.objects.exists()  # given back on stop
    meter = _meter_sound(gw)
    assert meter.held == 0 and meter.unposted == charged
    assert services.quota_balance(gw.world.opc) == Decimal("10.00") - charged
    services.post_all_usage()
    assert_books_sound()
    assert not list((Path(leases.journal_dir())).glob("*.journal"))  # all written: journal deleted


def test_a_dead_workers_journal_is_replayed_and_its_leases_returned(gw: Gateway) -> None:
    services.top_up(organisation=gw.world.opc)

    async def scenario() -> None:
        assert await leases.start()
        book = leases._book
        assert book is not None
        first = await _leased(gw, "dead-0")
        second = _hold(gw, "dead-1")
        cut_off = _hold(gw, "dead-2")
        assert second is not None and cut_off is not None
        _settle(first, "0.004")
        _settle(second, "0.006")
        # The worker dies now: before its batch is written (kill -9). Its tasks stop, its files close.
        for task in list(book.tasks):
            task.cancel()
        await asyncio.sleep(0)
        for fd, _path in book.journal.files.values():
            os.close(fd)
        leases._book = None

    _run(scenario)
    assert not UsageRecord.objects.filter(request_id__startswith="dead-").exists()
    assert QuotaLease.objects.get().amount > 0
    assert services.release_abandoned() == 1  # the journal: two settled, one cut off in the middle
    records = {r.request_id: r for r in UsageRecord.objects.filter(request_id__startswith="dead-")}
    assert records["dead-0"].status == UsageStatus.SETTLED and records["dead-0"].charged == Decimal("0.004")
    assert records["dead-1"].charged == Decimal("0.006")
    assert records["dead-2"].outcome == Outcome.ABANDONED and records["dead-2"].charged == 0
    assert not QuotaLease.objects.exists()
    meter = _meter_sound(gw)
    assert meter.held == 0 and meter.unposted == Decimal("0.010")
    assert services.release_abandoned() == 0  # replayed once: the journal is gone
    assert UsageRecord.objects.filter(request_id__startswith="dead-").count() == 3
    services.post_all_usage()
    assert_books_sound()


def test_a_small_quota_is_never_leased(gw: Gateway) -> None:
    services.top_up(organisation=gw.world.opc)

    async def scenario() -> None:
        assert await leases.start()
        try:
            big = Decimal("0.05")  # a lease of 64 × ¥0.05 needs 4 × ¥3.20 available: the member has ¥10
            assert _hold(gw, "small-0", big) is None
            await asyncio.sleep(0.2)
            assert _hold(gw, "small-1", big) is None
            assert not QuotaLease.objects.exists()
        finally:
            await leases.stop()

    _run(scenario)


def test_leases_of_other_workers_are_recalled_before_a_request_is_refused(gw: Gateway) -> None:
    services.top_up(organisation=gw.world.opc)

    async def scenario() -> None:
        assert await leases.start()
        other = leases._Book(
            holder="another-worker", journal=leases.Journal(leases.journal_dir(), "another-worker")
        )
        try:
            # Another worker leases ¥0.64, this one ¥0.64 (the member has ¥10.00).
            piece = leases._Slice(gw.world.opc.pk)
            other.slices[piece.organisation_id] = piece
            await leases._refill(other, piece, HOLD)
            assert piece.free == Decimal("0.64")
            mine = await _leased(gw, "mine-0")
            leases._spawn(other, leases._poller(other))
            # The rest of the member's quota is spent through the statement path.
            meter = QuotaMeter.objects.get(organisation=gw.world.opc)
            rest = await sqlpath.reserve(
                request_id="rest",
                key=gw.key,
                endpoint="chat.completions",
                model=MODEL,
                stream=False,
                price=ModelPrice.objects.get(model=MODEL),
                amount=meter.available,
            )
            assert rest is not None
            assert await leases.reclaim(gw.world.opc.pk)
            await asyncio.sleep(leases.POLL_EVERY * 3)
            # Both leases' free parts are back in the meter; the recall is cleared.
            meter = QuotaMeter.objects.get(organisation=gw.world.opc)
            assert meter.available == Decimal("0.64") + Decimal("0.63")
            assert piece.free == 0 and not QuotaLease.objects.filter(recalled=True).exists()
            assert _hold(gw, "mine-1") is None  # no new lease for this member for a while
            _settle(mine, "0.002")
        finally:
            for task in list(other.tasks):
                task.cancel()
            other.journal.close(delete=True)
            await leases.stop()

    _run(scenario)
    _meter_sound(gw)


def test_a_key_revoked_elsewhere_stops_being_served_from_leases(gw: Gateway) -> None:
    services.top_up(organisation=gw.world.opc)

    async def scenario() -> None:
        assert await leases.start()
        try:
            hold = await _leased(gw, "revoked-0")
            _settle(hold, "0.001")
            # Revoked by another process: only the database knows.
            type(gw.key).objects.filter(pk=gw.key.pk).update(revoked_at=timezone.now())
            await asyncio.sleep(leases.POLL_EVERY * 3)
            assert _hold(gw, "revoked-1") is None
        finally:
            await leases.stop()

    _run(scenario)
    assert UsageRecord.objects.filter(request_id="revoked-0", status=UsageStatus.SETTLED).exists()
