"""In-process caches of the request path, with short TTLs: keys by digest, prices and routes by model.

What they may serve stale, and why that is safe:
- a key: its revocation and expiry are checked again by the reservation's guarded UPDATE in the database
  (``services.reserve``), so a revoked key is refused at once in every process;
- a price: a new price applies to requests starting at most ``PRICE_TTL`` seconds late;
- routes: a new or changed channel is used at most ``ROUTE_TTL`` seconds late; a channel that fails cools
  down in this process at once (``note_failure``) besides the database.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.utils import timezone

from gateway.models import ModelPrice, VirtualKey

T = TypeVar("T")

KEY_TTL = 30.0
MISSING_KEY_TTL = 5.0
PRICE_TTL = 5.0
ROUTE_TTL = 5.0
MAX_ENTRIES = 10_000


class TTLCache(Generic[T]):
    def __init__(self, ttl: float, *, missing_ttl: float | None = None) -> None:
        self.ttl = ttl
        self.missing_ttl = ttl if missing_ttl is None else missing_ttl
        self._data: dict[Any, tuple[float, T | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, load: Callable[[], T | None]) -> T | None:
        now = time.monotonic()
        hit = self._data.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = load()
        with self._lock:
            if len(self._data) >= MAX_ENTRIES:
                self._data.clear()
            self._data[key] = (now + (self.ttl if value is not None else self.missing_ttl), value)
        return value

    def peek(self, key: Any) -> tuple[bool, T | None]:
        hit = self._data.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def forget(self, key: Any) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


keys: TTLCache[VirtualKey] = TTLCache(KEY_TTL, missing_ttl=MISSING_KEY_TTL)
prices: TTLCache[list[ModelPrice]] = TTLCache(PRICE_TTL)
routes: TTLCache[list[Any]] = TTLCache(ROUTE_TTL)
_cooling: dict[int, float] = {}  # channel id → monotonic time until which it cools down here


def clear() -> None:
    keys.clear()
    prices.clear()
    routes.clear()
    _cooling.clear()


def load_key(digest: str) -> VirtualKey | None:
    return VirtualKey.objects.select_related("organisation").filter(digest=digest).first()


def load_prices(model: str) -> list[ModelPrice] | None:
    """The model's prices, newest first (future ones included: they start applying on their own)."""
    rows = list(ModelPrice.objects.filter(model=model).order_by("-effective_from")[:20])
    return rows or None


def price_now(rows: list[ModelPrice] | None) -> ModelPrice | None:
    now = timezone.now()
    for price in rows or []:
        if price.effective_from <= now:
            return price
    return None


def note_failure(channel_id: int, seconds: float) -> None:
    _cooling[channel_id] = time.monotonic() + seconds


def note_success(channel_id: int) -> None:
    _cooling.pop(channel_id, None)


def ordered(candidates: list[Any]) -> list[Any]:
    """Routes in the order to try: healthy before cooling down (database or this process), then priority,
    then a weighted random order among equals (Efraimidis–Spirakis: key = u^(1/w), larger first)."""
    now = time.monotonic()

    def cooling(route: Any) -> bool:
        return route.cooling or _cooling.get(route.channel_id, 0.0) > now

    keyed = [(route, random.random() ** (1.0 / route.weight)) for route in candidates]
    keyed.sort(key=lambda pair: (cooling(pair[0]), -pair[0].priority, -pair[1]))
    return [route for route, _key in keyed]
