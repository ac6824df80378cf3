"""Talking to upstream channels: route selection, one pooled ``httpx.AsyncClient`` per event loop, failover.

A request is tried on the channels serving its model in order — healthy before cooling down, then by
priority (higher first), then a weighted random order among equals. A connect error, timeout, 429 or 5xx
*before any byte has been sent to the client* cools that channel down and moves on to the next one; for a
stream, "before any byte" includes the first chunk of the body, which is read before the response starts.
Any other status (e.g. 400 for a bad parameter) is the member's error and is passed back as is.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from asgiref.sync import sync_to_async
from django.utils import timezone

from gateway import services
from gateway.crypto import decrypt_api_key
from gateway.errors import UpstreamUnavailable
from gateway.models import ChannelModel

RETRYABLE_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)
_transport: httpx.AsyncBaseTransport | None = None


def use_transport(transport: httpx.AsyncBaseTransport | None) -> None:
    """Send upstream traffic through ``transport`` (tests: ``httpx.MockTransport`` around the fake upstream);
    ``None`` restores real connections."""
    global _transport
    _transport = transport
    _clients.clear()


def client() -> httpx.AsyncClient:
    """The pooled client of the running event loop (httpx pools are bound to the loop that created them)."""
    loop = asyncio.get_running_loop()
    pooled = _clients.get(loop)
    if pooled is None or pooled.is_closed:
        pooled = httpx.AsyncClient(
            transport=_transport,
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=30),
            headers={"User-Agent": "opchub-gateway/1"},
        )
        _clients[loop] = pooled
    return pooled


@dataclass(frozen=True)
class Route:
    channel_id: int
    channel_name: str
    base_url: str
    api_key: str = field(repr=False)
    upstream_model: str
    max_output_tokens: int
    priority: int
    weight: int
    cooling: bool
    failing: bool
    connect_timeout: float
    read_timeout: float


def load_routes(model: str) -> list[Route]:
    """The channels that serve ``model``, in the order to try them."""
    now = timezone.now()
    routes = [
        Route(
            channel_id=cm.channel_id,
            channel_name=cm.channel.name,
            base_url=cm.channel.base_url,
            api_key=decrypt_api_key(cm.channel.api_key_encrypted),
            upstream_model=cm.upstream_name,
            max_output_tokens=cm.max_output_tokens,
            priority=cm.channel.priority,
            weight=cm.channel.weight,
            cooling=cm.channel.cooldown_until is not None and cm.channel.cooldown_until > now,
            failing=cm.channel.consecutive_failures > 0,
            connect_timeout=cm.channel.connect_timeout,
            read_timeout=cm.channel.read_timeout,
        )
        for cm in ChannelModel.objects.select_related("channel").filter(
            public_name=model, is_enabled=True, channel__is_enabled=True
        )
    ]
    # Weighted random order among equals (Efraimidis–Spirakis): key = u^(1/w), larger first.
    keyed = [(route, random.random() ** (1.0 / route.weight)) for route in routes]
    keyed.sort(key=lambda pair: (pair[0].cooling, -pair[0].priority, -pair[1]))
    return [route for route, _key in keyed]


@dataclass
class Opened:
    route: Route
    response: httpx.Response
    attempts: int
    first_chunk: bytes = b""
    chunks: AsyncIterator[bytes] | None = None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


async def _succeeded(route: Route) -> None:
    if route.failing:  # a write only when a failing channel recovers, not on every request
        await sync_to_async(services.record_channel_success)(channel_id=route.channel_id)


async def open_upstream(
    routes: list[Route], *, path: str, payload: Callable[[Route], dict[str, Any]], stream: bool
) -> Opened:
    """Send the request to the first channel that takes it. Returns the open response (a non-stream body is
    already read). Raises ``UpstreamUnavailable`` (with ``attempts``/``last_status``) when every channel
    failed."""
    attempts = 0
    last_status: int | None = None
    for route in routes:
        attempts += 1
        request = client().build_request(
            "POST",
            f"{route.base_url}{path}",
            json=payload(route),
            headers={"Authorization": f"Bearer {route.api_key}"},
            timeout=httpx.Timeout(route.read_timeout, connect=route.connect_timeout),
        )
        response: httpx.Response | None = None
        try:
            response = await client().send(request, stream=True)
            if response.status_code in RETRYABLE_STATUSES:
                last_status = response.status_code
                await response.aclose()
                await sync_to_async(services.record_channel_failure)(
                    channel_id=route.channel_id, retry_after=_retry_after(response)
                )
                continue
            if not stream or response.status_code != 200:
                await response.aread()
                await response.aclose()
                await _succeeded(route)
                return Opened(route=route, response=response, attempts=attempts)
            chunks = response.aiter_raw()
            first = b""
            async for chunk in chunks:
                if chunk:
                    first = chunk
                    break
            await _succeeded(route)
            return Opened(route=route, response=response, attempts=attempts, first_chunk=first, chunks=chunks)
        except httpx.TransportError:
            if response is not None:
                await response.aclose()
            await sync_to_async(services.record_channel_failure)(channel_id=route.channel_id)
            continue
    error = UpstreamUnavailable()
    error.attempts = attempts  # type: ignore[attr-defined]
    error.last_status = last_status  # type: ignore[attr-defined]
    raise error
