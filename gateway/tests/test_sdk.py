"""The official ``openai`` SDK against the gateway's ASGI application (in-process, ``httpx.ASGITransport``),
which forwards to the demo upstream."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.core.asgi import get_asgi_application
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from gateway import services
from gateway.models import QuotaMeter, UsageRecord, UsageSource
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
