"""The production path: the gateway's own ASGI front (``opchub.asgi.application``) with the official SDK,
and the per-key rate limits with Redis and with the in-process fallback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from asgiref.sync import async_to_sync
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from gateway import ratelimit, services
from gateway.models import Outcome, QuotaMeter, UsageRecord, UsageSource, UsageStatus
from gateway.tests.conftest import MODEL, Gateway, assert_books_sound

openai = pytest.importorskip("openai")

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def front(gw: Gateway) -> Iterator[httpx.AsyncBaseTransport]:
    from opchub.asgi import application

    # As Django's test client does: keep the test's database connection (and transaction) across requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield httpx.ASGITransport(app=application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _sdk(transport: httpx.AsyncBaseTransport, secret: str) -> Any:
    return openai.AsyncOpenAI(
        base_url="http://testserver/v1",
        api_key=secret,
        http_client=httpx.AsyncClient(transport=transport),
        max_retries=0,
    )


def test_sdk_through_the_asgi_front(gw: Gateway, front: httpx.AsyncBaseTransport) -> None:
    sdk = _sdk(front, gw.secret)

    async def run() -> None:
        assert MODEL in [m.id for m in (await sdk.models.list()).data]
        completion = await sdk.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "你好"}], max_tokens=100
        )
        assert completion.choices[0].message.content == gw.fake.reply and completion.model == MODEL
        stream = await sdk.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == gw.fake.reply
        embedded = await sdk.embeddings.create(model="text-embedding-3-small", input=["一", "二"])
        assert len(embedded.data) == 2
        with pytest.raises(openai.RateLimitError) as exhausted:
            await sdk.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "x"}], max_tokens=5_000_000
            )
        assert exhausted.value.code == "insufficient_quota"

    async_to_sync(run)()
    records = UsageRecord.objects.filter(status=UsageStatus.SETTLED)
    assert records.count() == 3 and all(r.usage_source == UsageSource.UPSTREAM for r in records)
    assert QuotaMeter.objects.get(organisation=gw.world.opc).held == 0
    assert_books_sound()


def test_asgi_front_errors_are_openai_shaped_and_localized(
    gw: Gateway, front: httpx.AsyncBaseTransport
) -> None:
    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=front, base_url="http://testserver") as client:
            auth = {"Authorization": f"Bearer {gw.secret}"}
            return [
                await client.get("/v1/nothing-here", headers=auth),
                await client.get("/v1/chat/completions", headers=auth),
                await client.post(
                    "/v1/chat/completions",
                    headers=auth | {"Accept-Language": "en"},
                    content=json.dumps({"model": "nope", "messages": [{"role": "user", "content": "x"}]}),
                ),
                await client.post("/v1/chat/completions", headers={"Accept-Language": "en"}, content=b"{}"),
                await client.get("/", headers=auth),  # the rest of the site is Django's
            ]

    unknown, wrong_method, no_model, no_key, home = async_to_sync(run)()
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_url"
    assert wrong_method.status_code == 405
    assert no_model.status_code == 404
    assert no_model.json()["error"]["message"] == "The model “nope” does not exist or is not served here."
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "invalid_api_key"
    assert home.status_code == 200 and "text/html" in home.headers["content-type"]


# --------------------------------------------------------------------------------------------- limits


def test_tpm_counts_real_use_after_settlement(gw: Gateway) -> None:
    _key, secret = services.issue_virtual_key(organisation=gw.world.opc, name="tpm", tpm_limit=2500)
    # Each request is admitted with its highest possible use (~15 prompt + 1000) and then corrected to
    # what it used (11 + 14): many fit in a minute, one that might use more than the limit does not.
    for _ in range(5):
        assert gw.chat(secret=secret, max_tokens=1000).status == 200
    refused = gw.chat(secret=secret, max_tokens=3000)
    assert refused.status == 429 and refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert gw.chat(secret=secret, max_tokens=1000).status == 200  # the refusal did not eat the budget


@pytest.fixture
def with_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    yield client
    for name in client.scan_iter(f"{ratelimit.PREFIX}:*"):
        client.delete(name)
    client.close()


@pytest.fixture
def one_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The counters' one-minute window, frozen: a test running across a minute's boundary would start
    counting again half-way."""
    window = ratelimit._window()
    monkeypatch.setattr(ratelimit, "_window", lambda now=None: window)


@pytest.mark.usefixtures("one_window")
def test_rate_limits_are_counted_in_redis_when_configured(gw: Gateway, with_redis: redis.Redis) -> None:
    key, secret = services.issue_virtual_key(organisation=gw.world.opc, name="shared", rpm_limit=2)
    for name in with_redis.scan_iter(f"{ratelimit.PREFIX}:*:{key.pk}:*"):
        with_redis.delete(name)
    assert gw.chat(secret=secret).status == 200
    assert gw.chat(secret=secret).status == 200
    assert gw.chat(secret=secret).status == 429
    window = ratelimit._window()
    assert int(with_redis.get(f"{ratelimit.PREFIX}:rpm:{key.pk}:{window}") or 0) >= 3
    assert 0 < with_redis.ttl(f"{ratelimit.PREFIX}:rpm:{key.pk}:{window}") <= ratelimit.KEY_TTL
    # Nothing was counted in this process: another gateway process sees the same counter.
    ratelimit.local.clear()
    assert gw.chat(secret=secret).status == 429


@pytest.mark.usefixtures("one_window")
def test_rate_limits_fall_back_to_the_process_when_redis_is_down(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")  # nothing listens there
    _key, secret = services.issue_virtual_key(organisation=gw.world.opc, name="one", rpm_limit=1)
    assert gw.chat(secret=secret).status == 200
    assert gw.chat(secret=secret).status == 429


@pytest.mark.usefixtures("one_window")
def test_rate_limits_without_redis_are_exact_in_process(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    window = ratelimit._window()  # frozen by one_window
    key, secret = services.issue_virtual_key(organisation=gw.world.opc, name="local", rpm_limit=3)
    statuses = [gw.chat(secret=secret).status for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert ratelimit.local.add("rpm", key.pk, window, 0) == 5


def test_a_refused_request_is_released_not_charged(gw: Gateway) -> None:
    gw.fake.fail_status = 400
    reply = gw.chat()
    record = UsageRecord.objects.get(request_id=reply.headers["X-OPC-Request-Id"])
    assert record.outcome == Outcome.UPSTREAM_ERROR and record.charged == 0
