"""The real thing on PostgreSQL: ``opchub.asgi:application`` served by uvicorn in a separate process (its own
connections, lifespan on), a demo upstream on 127.0.0.1, concurrent clients over HTTP.

- 500 concurrent requests against a quota that pays for exactly 100: 100 succeed, 400 get 429
  ``insufficient_quota``; the final balance is the grant minus the recorded usage.
- A restart (SIGTERM) drains the requests in flight and loses no settled usage; a crash (SIGKILL) loses no
  settled usage either (a stream is settled — in the database, or in the worker's journal when it was
  reserved from a lease — before its ``[DONE]`` reaches the client), and the holds of the requests it
  killed are released as ``abandoned``.
- A client that hangs up mid-stream, and an upstream that dies mid-stream, pay for what was relayed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Sum

from core.testing import World
from gateway import services
from gateway.fake_upstream import FakeUpstream, ServerThread, free_port
from gateway.models import Outcome, QuotaLease, QuotaMeter, UsageRecord, UsageSource, UsageStatus
from gateway.tests.conftest import MODEL, assert_books_sound, fund_operator

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


class Server:
    """``scripts/asgi-server``'s uvicorn command, in a subprocess against the test database."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - the server's log, shown if it fails to start
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "SECRET_KEY": settings.SECRET_KEY,
            "OPCHUB_TESTING": "1",
            "GATEWAY_DB_THREADS": "6",
        }
        env.pop("REDIS_URL", None)
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/uvicorn"),
                "opchub.asgi:application",
                "--port",
                str(self.port),
                "--lifespan",
                "on",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "30",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"gateway server died: {self.log.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/v1/models", timeout=1).status_code == 401:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError("gateway server did not start")
            time.sleep(0.2)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.log.close()


@dataclass
class Setup:
    world: World
    fake: FakeUpstream
    secret: str


@pytest.fixture
def live(world: World) -> Iterator[Setup]:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (a separate server process shares the database)")
    fake = FakeUpstream()
    with ServerThread(fake) as upstream:
        services.create_channel(
            owner=world.operator,
            name="demo upstream",
            base_url=upstream.url,
            api_key=fake.api_key,
            models={MODEL: "demo"},
            max_output_tokens=1000,
        )
        fund_operator(world)
        services.grant_quota(
            operator=world.operator, member=world.opc, amount=Decimal("10.00"), idempotency_key="live"
        )
        _key, secret = services.issue_virtual_key(organisation=world.opc, name="live")
        yield Setup(world, fake, secret)


def _chat(setup: Setup, **body: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "写一句开场白"}], **body}


async def _stream(
    client: httpx.AsyncClient, setup: Setup, started: list[str] | None = None
) -> tuple[str | None, bool]:
    """(request id, whether the client saw the stream complete with [DONE]). ``started`` collects the ids
    of the streams that have begun."""
    try:
        async with client.stream(
            "POST", "/v1/chat/completions", json=_chat(setup, stream=True), headers=_auth(setup)
        ) as response:
            request_id = response.headers.get("x-opc-request-id")
            if started is not None:
                started.append(request_id)
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
            return request_id, body.endswith(b"data: [DONE]\n\n")
    except httpx.HTTPError:
        return None, False


def _auth(setup: Setup) -> dict[str, str]:
    return {"Authorization": f"Bearer {setup.secret}"}


def _books(setup: Setup) -> None:
    records = UsageRecord.objects.filter(organisation=setup.world.opc)
    charged = records.aggregate(total=Sum("charged"))["total"] or Decimal(0)
    assert services.quota_balance(setup.world.opc) == Decimal("10.00") - charged  # grants − recorded usage
    meter = QuotaMeter.objects.get(organisation=setup.world.opc)
    consumed = services.consumed_account().balance
    assert consumed + meter.unposted == charged
    assert_books_sound()


def test_500_concurrent_requests_against_a_quota_for_100(live: Setup) -> None:
    # Output at ¥10 / 1M tokens, input free: max_tokens 10 000 holds exactly ¥0.10; ¥10.00 pays for 100.
    services.set_model_price(model=MODEL, input_per_million=Decimal("0"), output_per_million=Decimal("10"))
    live.fake.gate = threading.Event()  # the upstream answers nobody until all 500 were admitted or refused
    server = Server()
    try:

        async def run() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=600, max_keepalive_connections=600)
            async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=120) as client:
                tasks = [
                    asyncio.ensure_future(
                        client.post(
                            "/v1/chat/completions", json=_chat(live, max_tokens=10_000), headers=_auth(live)
                        )
                    )
                    for _ in range(500)
                ]
                deadline = time.monotonic() + 120
                while sum(t.done() for t in tasks) < 400 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                assert live.fake.waiting == 100
                assert live.fake.gate is not None
                live.fake.gate.set()
                return list(await asyncio.gather(*tasks))

        responses = asyncio.run(run())
    finally:
        server.stop()
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(ok) == 100 and len(refused) == 400
    assert {r.json()["error"]["code"] for r in refused} == {"insufficient_quota"}
    assert UsageRecord.objects.filter(status=UsageStatus.SETTLED).count() == 100
    assert not UsageRecord.objects.exclude(status=UsageStatus.SETTLED).exists()
    _books(live)


def test_restart_drains_in_flight_requests_and_loses_no_settled_usage(live: Setup) -> None:
    services.set_model_price(model=MODEL, input_per_million=Decimal("2"), output_per_million=Decimal("8"))
    live.fake.chunk_delay = 0.15  # ~1 s per stream
    server = Server()

    async def run(count: int) -> list[tuple[str | None, bool]]:
        started: list[str] = []
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            tasks = [asyncio.ensure_future(_stream(client, live, started)) for _ in range(count)]
            deadline = time.monotonic() + 30
            while len(started) < count and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert len(started) == count
            server.process.send_signal(signal.SIGTERM)  # a restart, while all of them stream
            return list(await asyncio.gather(*tasks))

    results = asyncio.run(run(30))
    assert server.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown
    assert all(done for _id, done in results), results  # every stream was allowed to finish
    records = UsageRecord.objects.filter(organisation=live.world.opc)
    assert records.count() == 30 and not records.exclude(status=UsageStatus.SETTLED).exists()
    assert {r.request_id for r in records} == {request_id for request_id, _done in results}
    meter = QuotaMeter.objects.get(organisation=live.world.opc)
    assert meter.held == 0 and meter.unposted < Decimal("0.01")  # posted to the ledger on shutdown
    _books(live)

    # After the restart the gateway carries on.
    live.fake.chunk_delay = 0
    again = Server()
    try:
        assert asyncio.run(_one_stream(again, live))[1]
    finally:
        again.stop()
    assert UsageRecord.objects.filter(status=UsageStatus.SETTLED).count() == 31
    _books(live)


async def _one_stream(server: Server, setup: Setup) -> tuple[str | None, bool]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        return await _stream(client, setup)


def test_a_crash_loses_no_settled_usage_and_abandoned_holds_are_released(live: Setup) -> None:
    services.set_model_price(model=MODEL, input_per_million=Decimal("2"), output_per_million=Decimal("8"))
    live.fake.chunk_delay = 0.1
    server = Server()

    async def run() -> list[tuple[str | None, bool]]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            quick = [asyncio.ensure_future(_stream(client, live)) for _ in range(5)]
            await asyncio.gather(*quick)  # these finish before the crash
            tasks = [asyncio.ensure_future(_stream(client, live)) for _ in range(20)]
            await asyncio.sleep(0.5)
            server.process.send_signal(signal.SIGKILL)
            return [*(q.result() for q in quick), *await asyncio.gather(*tasks)]

    results = asyncio.run(run())
    server.stop()
    # The dead worker's requests: reserved in the database (the statement path, e.g. the first ones, before
    # its lease was taken) or from its lease, journalled. The sweep replays the journal and releases the
    # holds of everything cut off.
    in_db = UsageRecord.objects.filter(organisation=live.world.opc, status=UsageStatus.RESERVED).count()
    released = services.release_abandoned(older_than=dt.timedelta(0))
    completed = {request_id for request_id, done in results if done}
    records = {r.request_id: r for r in UsageRecord.objects.filter(organisation=live.world.opc)}
    for request_id in completed:  # every stream the client saw complete was settled first
        assert records[request_id].status == UsageStatus.SETTLED
    cut_off = [r for r in records.values() if r.outcome == Outcome.ABANDONED]
    assert len(completed) >= 5 and cut_off  # some finished, some were killed in flight
    assert released == len(cut_off) >= in_db
    assert all(r.status == UsageStatus.RELEASED and r.charged == 0 for r in cut_off)
    assert not UsageRecord.objects.filter(status=UsageStatus.RESERVED).exists()
    assert not QuotaLease.objects.exists()  # the dead worker's leases went back to the meter
    assert services.release_abandoned(older_than=dt.timedelta(0)) == 0
    services.post_all_usage()
    _books(live)


def test_client_hanging_up_or_upstream_dying_pays_for_what_was_relayed(live: Setup) -> None:
    services.set_model_price(model=MODEL, input_per_million=Decimal("2"), output_per_million=Decimal("8"))
    live.fake.chunk_delay = 0.3
    server = Server()
    try:

        async def hang_up() -> str:
            async with (
                httpx.AsyncClient(base_url=server.url, timeout=30) as client,
                client.stream(
                    "POST", "/v1/chat/completions", json=_chat(live, stream=True), headers=_auth(live)
                ) as response,
            ):
                async for chunk in response.aiter_bytes():
                    assert b"data:" in chunk
                    break  # the client leaves after the first words
                return str(response.headers["x-opc-request-id"])

        left = asyncio.run(hang_up())
        live.fake.chunk_delay = 0
        live.fake.die_after = 3

        async def dying() -> tuple[str, list[Any]]:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                response = await client.post(
                    "/v1/chat/completions", json=_chat(live, stream=True), headers=_auth(live)
                )
                events = [
                    json.loads(block[6:])
                    for block in response.text.split("\n\n")
                    if block.startswith("data: {")
                ]
                return str(response.headers["x-opc-request-id"]), events

        died, events = asyncio.run(dying())
        deadline = time.monotonic() + 10
        while UsageRecord.objects.filter(request_id=left, status=UsageStatus.RESERVED).exists():
            assert time.monotonic() < deadline, "the abandoned stream was not settled"
            time.sleep(0.1)
    finally:
        server.stop()
    gone = UsageRecord.objects.get(request_id=left)
    assert gone.status == UsageStatus.SETTLED and gone.outcome == Outcome.CLIENT_DISCONNECTED
    assert gone.usage_source == UsageSource.ESTIMATED and 0 < gone.completion_tokens < 14
    broken = UsageRecord.objects.get(request_id=died)
    assert events[-1]["error"]["code"] == "upstream_interrupted"
    assert broken.outcome == Outcome.UPSTREAM_INTERRUPTED and broken.usage_source == UsageSource.ESTIMATED
    assert 0 < broken.completion_tokens < 14 and broken.charged > 0
    services.post_all_usage()
    _books(live)
