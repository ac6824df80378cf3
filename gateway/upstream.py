"""Talking to upstream channels: route selection, one pooled ``httpx.AsyncClient`` per event loop, failover.

A request is tried on the channels serving its model in order — healthy before cooling down, then by
priority (higher first), then a weighted random order among equals. A connect error, timeout, 429 or 5xx
*before any byte has been sent to the client* cools that channel down and moves on to the next one; for a
stream, "before any byte" includes the first chunk of the body, which is read before the response starts.
Any other status (e.g. 400 for a bad parameter) is the member's error and is passed back as is.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import ssl
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.utils import timezone

from gateway import db, hotcache, services
from gateway.crypto import decrypt_api_key
from gateway.errors import UpstreamUnavailable
from gateway.models import ChannelModel
from gateway.transport import LeanTransport, raw_chunks

log = logging.getLogger(__name__)
RETRYABLE_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))

# Upstream connections: one pooled client per event loop on the lean HTTP/1.1 transport
# (``gateway.transport``). Behind a proxy (HTTP(S)_PROXY / ALL_PROXY) httpx's default transport is kept; it
# looks at every connection of its pool (a poll() each) for every request, so there several smaller pools
# are used in turn to keep that scan short.
POOL_SHARDS = 16
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[UpstreamClient]] = (
    weakref.WeakKeyDictionary()
)
_turn = itertools.count()
_transport: httpx.AsyncBaseTransport | None = None
_ssl_context: ssl.SSLContext | None = None


def use_transport(transport: httpx.AsyncBaseTransport | None) -> None:
    """Send upstream traffic through ``transport`` (tests: ``httpx.MockTransport`` around the fake upstream);
    ``None`` restores real connections."""
    global _transport
    _transport = transport
    _clients.clear()


class _NoCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class UpstreamClient(httpx.AsyncClient):
    """httpx's client, minus the cookie jar: the gateway never keeps an upstream's cookies (nor spends time
    parsing them on every response)."""

    _no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        pass


def _behind_proxy() -> bool:
    return any(os.environ.get(name) or os.environ.get(name.upper()) for name in PROXY_VARIABLES)


def _new_clients() -> list[UpstreamClient]:
    global _ssl_context
    if _ssl_context is None:  # loading the CA bundle takes ~0.1 s: once, shared
        _ssl_context = httpx.create_ssl_context()
    common: dict[str, Any] = {
        "verify": _ssl_context,
        "headers": {"User-Agent": "opchub-gateway/1"},
        "limits": httpx.Limits(max_connections=None, max_keepalive_connections=64, keepalive_expiry=10),
    }
    if _transport is not None:
        return [UpstreamClient(transport=_transport, **common)]
    if _behind_proxy():
        return [UpstreamClient(**common) for _shard in range(POOL_SHARDS)]
    lean = LeanTransport(ssl_context=_ssl_context, keepalive_expiry=10)
    return [UpstreamClient(transport=lean, **common)]


def client() -> httpx.AsyncClient:
    """The pooled client of the running event loop (httpx pools are bound to the loop that created them)."""
    loop = asyncio.get_running_loop()
    shards = _clients.get(loop)
    if shards is None or any(pooled.is_closed for pooled in shards):
        shards = _clients[loop] = _new_clients()
    return shards[next(_turn) % len(shards)] if len(shards) > 1 else shards[0]


async def close_clients() -> None:
    """Close this loop's pooled clients (server shutdown)."""
    loop = asyncio.get_running_loop()
    for pooled in _clients.pop(loop, None) or []:
        await pooled.aclose()


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
    return hotcache.ordered(candidate_routes(model))


def candidate_routes(model: str) -> list[Route]:
    """Every enabled channel serving ``model`` (unordered; see ``hotcache.ordered``). A channel whose key
    cannot be decrypted (SECRET_KEY changed without a fallback) is left out and logged, not fatal."""
    now = timezone.now()
    routes = []
    for cm in ChannelModel.objects.select_related("channel").filter(
        public_name=model, is_enabled=True, channel__is_enabled=True
    ):
        try:
            api_key = decrypt_api_key(cm.channel.api_key_encrypted)
        except ValueError:
            log.error("gateway channel %s: API key cannot be decrypted; skipped", cm.channel_id)
            continue
        routes.append(
            Route(
                channel_id=cm.channel_id,
                channel_name=cm.channel.name,
                base_url=cm.channel.base_url,
                api_key=api_key,
                upstream_model=cm.upstream_name,
                max_output_tokens=cm.max_output_tokens,
                priority=cm.channel.priority,
                weight=cm.channel.weight,
                cooling=cm.channel.cooldown_until is not None and cm.channel.cooldown_until > now,
                failing=cm.channel.consecutive_failures > 0,
                connect_timeout=cm.channel.connect_timeout,
                read_timeout=cm.channel.read_timeout,
            )
        )
    return routes


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
    hotcache.note_success(route.channel_id)
    if route.failing:  # a write only when a failing channel recovers, not on every request
        await db.later(services.record_channel_success, channel_id=route.channel_id)


async def _failed(route: Route, retry_after: float | None = None) -> None:
    hotcache.note_failure(route.channel_id, retry_after or services.CHANNEL_COOLDOWN.total_seconds())
    await db.later(services.record_channel_failure, channel_id=route.channel_id, retry_after=retry_after)


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
        pooled = client()
        request = pooled.build_request(
            "POST",
            f"{route.base_url}{path}",
            json=payload(route),
            # A stream is relayed byte for byte: ask for it uncompressed.
            headers={"Authorization": f"Bearer {route.api_key}", "Accept-Encoding": "identity"}
            if stream
            else {"Authorization": f"Bearer {route.api_key}"},
            timeout=httpx.Timeout(route.read_timeout, connect=route.connect_timeout),
        )
        response: httpx.Response | None = None
        try:
            response = await pooled.send(request, stream=True)
            if response.status_code in RETRYABLE_STATUSES:
                last_status = response.status_code
                await response.aclose()
                await _failed(route, _retry_after(response))
                continue
            if not stream or response.status_code != 200:
                await response.aread()
                await response.aclose()
                await _succeeded(route)
                return Opened(route=route, response=response, attempts=attempts)
            chunks = raw_chunks(response)
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
            await _failed(route)
            continue
    error = UpstreamUnavailable()
    error.attempts = attempts  # type: ignore[attr-defined]
    error.last_status = last_status  # type: ignore[attr-defined]
    raise error


@dataclass
class Probe:
    ok: bool
    status: int | None
    latency_ms: int
    model: str
    message: str


async def probe(*, base_url: str, api_key: str, upstream_model: str, connect_timeout: float) -> Probe:
    """The "test channel" action: one tiny request (``max_tokens`` 1, or a one-word embedding) straight to
    the channel, nothing metered or charged."""
    is_embedding = "embed" in upstream_model.lower()
    path = "/embeddings" if is_embedding else "/chat/completions"
    body: dict[str, Any] = (
        {"model": upstream_model, "input": "ping"}
        if is_embedding
        else {"model": upstream_model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
    )
    started = asyncio.get_running_loop().time()
    try:
        response = await client().post(
            f"{base_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(min(30.0, connect_timeout * 3), connect=connect_timeout),
        )
    except httpx.HTTPError as exc:
        elapsed = int((asyncio.get_running_loop().time() - started) * 1000)
        return Probe(False, None, elapsed, upstream_model, f"{type(exc).__name__}: {exc}"[:300])
    elapsed = int((asyncio.get_running_loop().time() - started) * 1000)
    message = ""
    try:
        data = response.json()
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            message = str(data["error"].get("message") or "")[:300]
    except ValueError:
        message = response.text[:200]
    return Probe(response.status_code == 200, response.status_code, elapsed, upstream_model, message)
