"""Gateway fixtures: the shared world, a funded operator, a member with a quota and a key, and the demo
upstream (``gateway.fake_upstream``) wired in through ``httpx.MockTransport``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from core.testing import World, world  # noqa: F401
from gateway import services, upstream
from gateway.fake_upstream import FakeUpstream
from gateway.models import Channel, QuotaMeter, VirtualKey
from ledger import selectors as ledger_selectors
from ledger.models import Account, Purpose
from ledger.services import account_for, transfer

MODEL = "deepseek-chat"


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[Any]:
        out = []
        for block in self.body.decode().split("\n\n"):
            if block.startswith("data: "):
                data = block[6:]
                out.append(data if data == "[DONE]" else json.loads(data))
        return out


def call(method: str, path: str, *, secret: str | None, body: Any = None, raw: bytes | None = None) -> Reply:
    async def run() -> Reply:
        client = AsyncClient()
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        if method == "GET":
            response = await client.get(path, headers=headers)
        else:
            data = raw if raw is not None else json.dumps(body)
            response = await client.post(path, data=data, content_type="application/json", headers=headers)
        if response.streaming:
            content = b"".join([chunk async for chunk in response.streaming_content])
        else:
            content = response.content
        return Reply(response.status_code, content, dict(response.headers))

    return async_to_sync(run)()


@dataclass
class Gateway:
    world: World
    fake: FakeUpstream
    channel: Channel
    key: VirtualKey
    secret: str

    def chat(self, secret: str | None = None, **body: Any) -> Reply:
        payload = {"model": MODEL, "messages": [{"role": "user", "content": "你好, gateway"}], **body}
        return call("POST", "/v1/chat/completions", secret=secret or self.secret, body=payload)


def assert_books_sound() -> None:
    """The ledger balances, no account is overdrawn, and every quota meter agrees with the ledger: what it
    says is in the gateway is the balance of the member's gateway account, and is exactly what is available,
    held and used-but-unposted."""
    assert ledger_selectors.ledger_is_balanced()
    assert ledger_selectors.accounts_with_inconsistent_balance() == []
    assert ledger_selectors.overdrawn_account_ids() == []
    for meter in QuotaMeter.objects.all():
        account = Account.objects.filter(code=services.gateway_account_code(meter.organisation_id)).first()
        assert meter.funded == (account.balance if account else 0), meter
        assert meter.funded == meter.available + meter.held + meter.unposted, meter
        assert min(meter.available, meter.held, meter.unposted) >= 0, meter


def fund_operator(world: World, amount: str = "1000.00") -> None:  # noqa: F811
    transfer(
        idempotency_key=f"test:fund:{world.operator.pk}",
        source=account_for(owner=None, purpose=Purpose.EXTERNAL),
        destination=account_for(owner=world.operator, purpose=Purpose.FUNDING_POOL),
        amount=Decimal(amount),
        kind="test.fund",
    )


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream_fake = FakeUpstream()
    upstream.use_transport(upstream_fake.transport())
    yield upstream_fake
    upstream.use_transport(None)


@pytest.fixture
def gw(world: World, fake: FakeUpstream, settings: Any) -> Gateway:  # noqa: F811
    channel = services.create_channel(
        owner=world.operator,
        name="demo-1",
        base_url="http://upstream-1.test/v1",
        api_key=fake.api_key,
        models={MODEL: "deepseek-v3", "text-embedding-3-small": "text-embedding-3-small"},
        provider="demo",
        max_output_tokens=1000,
    )
    services.set_model_price(model=MODEL, input_per_million=Decimal("2"), output_per_million=Decimal("8"))
    services.set_model_price(
        model="text-embedding-3-small", input_per_million=Decimal("0.5"), output_per_million=Decimal("0")
    )
    fund_operator(world)
    services.grant_quota(
        operator=world.operator, member=world.opc, amount=Decimal("10.00"), idempotency_key="opc-1"
    )
    key, secret = services.issue_virtual_key(organisation=world.opc, name="laptop")
    return Gateway(world=world, fake=fake, channel=channel, key=key, secret=secret)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Each test starts with empty in-process caches and rate-limit counters (its database is new)."""
    from gateway import hotcache, ratelimit

    hotcache.clear()
    ratelimit.local.clear()
    yield
    hotcache.clear()
    ratelimit.local.clear()
