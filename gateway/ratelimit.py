"""Per-key rate limits (requests and tokens per minute) in fixed one-minute windows.

With ``REDIS_URL`` set, the counters live in Redis (``INCRBY`` + ``EXPIRE`` in one pipeline), so every
gateway process shares them. Without it — or while Redis is unreachable — an in-process counter does the
same job exactly for one process; run a single gateway worker then (``scripts/asgi-server`` does), because
several workers would each allow the full limit.

Tokens are counted at admission with the request's highest possible use (prompt estimate + output limit)
and corrected after settlement with what was really used (``adjust``), so a key's TPM reflects real use.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from gateway.errors import RateLimited

log = logging.getLogger(__name__)
WINDOW_SECONDS = 60
KEY_TTL = 2 * WINDOW_SECONDS
PREFIX = "opchub:gw:rl"


@dataclass(frozen=True)
class Admission:
    """What a request was counted with, to correct the token count later."""

    key_id: int
    window: int
    tokens: int


def _window(now: float | None = None) -> int:
    return int((now if now is not None else time.time()) // WINDOW_SECONDS)


class LocalCounters:
    """In-process fixed-window counters (thread-safe: WSGI servers call from several threads)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int, int], int] = {}
        self._lock = threading.Lock()
        self._pruned = 0

    def add(self, kind: str, key_id: int, window: int, amount: int) -> int:
        with self._lock:
            if window != self._pruned:
                self._counts = {k: v for k, v in self._counts.items() if k[2] >= window - 1}
                self._pruned = window
            name = (kind, key_id, window)
            value = self._counts.get(name, 0) + amount
            self._counts[name] = value
            return value

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


local = LocalCounters()
_redis_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def redis_url() -> str:
    return os.environ.get("REDIS_URL", "").strip()


def _redis() -> Any | None:
    url = redis_url()
    if not url:
        return None
    loop = asyncio.get_running_loop()
    client = _redis_clients.get(loop)
    if client is None:
        import redis.asyncio as redis

        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        _redis_clients[loop] = client
    return client


async def _add(kind: str, key_id: int, window: int, amount: int) -> int:
    client = _redis()
    if client is not None:
        name = f"{PREFIX}:{kind}:{key_id}:{window}"
        try:
            pipe = client.pipeline(transaction=False)
            pipe.incrby(name, amount)
            pipe.expire(name, KEY_TTL)
            value, _ttl = await pipe.execute()
            return int(value)
        except Exception as exc:  # Redis down: keep limiting, in this process
            log.warning("rate limit: Redis unavailable (%s); counting in process", exc)
    return local.add(kind, key_id, window, amount)


async def admit(
    *, key_id: int, rpm_limit: int | None, tpm_limit: int | None, tokens: int
) -> Admission | None:
    """Count one request of ``tokens`` (highest possible use) against the key's limits, or raise
    ``RateLimited``. Returns what was counted (None when the key has no limits)."""
    if rpm_limit is None and tpm_limit is None:
        return None
    window = _window()
    if rpm_limit is not None and await _add("rpm", key_id, window, 1) > rpm_limit:
        raise RateLimited(_("This key may make %(n)d requests per minute.") % {"n": rpm_limit})
    if tpm_limit is not None:
        if await _add("tpm", key_id, window, tokens) > tpm_limit:
            await _add("tpm", key_id, window, -tokens)  # refused: it will not use them
            raise RateLimited(_("This key may use %(n)d tokens per minute.") % {"n": tpm_limit})
        return Admission(key_id=key_id, window=window, tokens=tokens)
    return None


async def adjust(admission: Admission | None, *, used_tokens: int) -> None:
    """Replace the admission's token estimate with what the request used."""
    if admission is None:
        return
    delta = used_tokens - admission.tokens
    if delta:
        await _add("tpm", admission.key_id, admission.window, delta)
