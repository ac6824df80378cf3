"""The official ``openai`` SDK against the gateway's ASGI application (in-process, ``httpx.ASGITransport``),
which forwards to the demo upstream: chat (plain and streamed), embeddings, the model list, errors, quota
exhaustion, and failover between two channels served by real local upstream servers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.core.asgi import get_asgi_application
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from gateway import hotcache, services, upstream
from gateway.fake_upstream import FakeUpstream, ServerThread
from gateway.models import Channel, QuotaMeter, UsageRecord, UsageSource
from gateway.tests.conftest import MODEL, Gateway

openai = pytest.importorskip("openai")


@pytest.fixture
def sdk(gw: Gateway) -> Iterator[openai.AsyncOpenAI]:
    # As Django's test client does: keep the test's database connection (and transaction) across requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    transport = httpx.ASGITransport(app=get_asgi_application())
    try:
        yield openai.AsyncOpenAI(
            base_url="http://testserver/v1",
            api_key=gw.secret,
            http_client=httpx.AsyncClient(transport=transport),
            max_retries=0,
        )
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_sdk_chat_stream_embeddings_models_and_errors(gw: Gateway, sdk: openai.AsyncOpenAI) -> None:
    async def run() -> None:
        models = await sdk.models.list()
        assert MODEL in [m.id for m in models.data]

        completion = await sdk.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "写一句科幻短剧的开场白"}], max_tokens=200
        )
        assert completion.choices[0].message.content == gw.fake.reply
        assert completion.usage is not None and completion.usage.completion_tokens == 14

        stream = await sdk.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        parts = []
        usage = None
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
            if chunk.usage is not None:
                usage = chunk.usage
        assert "".join(parts) == gw.fake.reply
        assert usage is not None and usage.prompt_tokens == 11

        embedded = await sdk.embeddings.create(model="text-embedding-3-small", input="一人公司")
        assert len(embedded.data[0].embedding) == 8

        with pytest.raises(openai.NotFoundError):
            await sdk.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.RateLimitError) as exhausted:
            await sdk.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "x"}], max_tokens=5_000_000
            )
        assert exhausted.value.code == "insufficient_quota"
        await sync_to_async(services.revoke_virtual_key)(key=gw.key)
        with pytest.raises(openai.AuthenticationError):
            await sdk.models.list()

    async_to_sync(run)()
    records = UsageRecord.objects.order_by("started_at")
    assert [r.endpoint for r in records] == ["chat.completions", "chat.completions", "embeddings"]
    assert all(r.usage_source == UsageSource.UPSTREAM for r in records)
    assert QuotaMeter.objects.get(organisation=gw.world.opc).held == 0


def test_sdk_fails_over_between_two_channels(gw: Gateway) -> None:
    """Two real demo upstream servers on 127.0.0.1 behind the production ASGI front: the preferred channel
    answers 503, the request (plain and streamed) is served by the second one, the first cools down."""
    from opchub.asgi import application

    broken = FakeUpstream(fail_status=503)
    healthy = FakeUpstream(reply="备用通道：第二幕开始。")
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with ServerThread(broken) as first, ServerThread(healthy) as second:
            upstream.use_transport(None)  # real connections to the two servers
            Channel.objects.filter(pk=gw.channel.pk).update(base_url=first.url, priority=10)
            backup = services.create_channel(
                owner=gw.world.operator,
                name="backup",
                base_url=second.url,
                api_key=healthy.api_key,
                models={MODEL: "backup-model"},
                max_output_tokens=1000,
            )
            hotcache.clear()
            sdk = openai.AsyncOpenAI(
                base_url="http://testserver/v1",
                api_key=gw.secret,
                http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=application)),
                max_retries=0,
            )

            async def run() -> tuple[str, str]:
                completion = await sdk.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "第一幕"}], max_tokens=100
                )
                await sync_to_async(Channel.objects.filter(pk=gw.channel.pk).update)(
                    cooldown_until=None, consecutive_failures=0
                )
                hotcache.clear()  # the in-process cool-down too: the stream tries the broken channel first
                stream = await sdk.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "第二幕"}], stream=True
                )
                text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
                await upstream.close_clients()
                return completion.choices[0].message.content or "", text

            plain, streamed = async_to_sync(run)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    assert plain == healthy.reply and streamed == healthy.reply
    assert [r["body"]["model"] for r in broken.requests] == ["deepseek-v3", "deepseek-v3"]
    assert [r["body"]["model"] for r in healthy.requests] == ["backup-model", "backup-model"]
    records = list(UsageRecord.objects.order_by("started_at"))
    assert [(r.channel_id, r.attempts, r.status, r.stream) for r in records] == [
        (backup.pk, 2, "settled", False),
        (backup.pk, 2, "settled", True),
    ]
    assert all(r.usage_source == UsageSource.UPSTREAM and r.model == MODEL for r in records)
    gw.channel.refresh_from_db()
    assert gw.channel.cooldown_until is not None and gw.channel.consecutive_failures >= 1
    assert QuotaMeter.objects.get(organisation=gw.world.opc).held == 0
