"""The request path's money statements on PostgreSQL: one SQL statement each, run on the event loop.

Served by the gateway's ASGI app on PostgreSQL (``gateway.asgi`` startup calls ``start``), ``reserve``,
``settle`` and ``release`` of an ordinary request do not go through the ORM or a thread: each is *one*
statement (a data-modifying CTE, atomic on its own) on a small pool of ``psycopg.AsyncConnection`` in
autocommit mode, prepared by the server after a few uses. Why:

- a thread per database call costs little on an idle machine but, with the event loop busy relaying
  streams, every socket wait in the thread has to win the GIL back — several milliseconds each (the
  measured p50 of an ORM reservation under 200 streams was 20–30 ms, of the statement here ~1 ms);
- one statement instead of BEGIN / INSERT / UPDATE / COMMIT is one round trip.

The statements are the same guarded updates as ``gateway.services`` (which stays the reference, and the
path for SQLite, Django's test client and every unusual case): reserving inserts the usage record only if
the meter's ``available >= hold`` *and* the key is still usable, in the same statement; settling moves
money only if the record was still ``reserved``. When a statement does not apply — the meter needs a
top-up, the quota is exhausted, the key was revoked, the request was settled already, the cost exceeds
the hold — it changes nothing and the caller falls back to ``gateway.services`` (on the thread pool),
which handles that case.

Durability: these connections use ``synchronous_commit = off`` unless ``GATEWAY_SYNCHRONOUS_COMMIT=on``.
Atomicity, isolation and the guards are unchanged (a committed hold is visible to the next guard at once,
so nothing can be overdrawn); a restart or crash of the *gateway* loses nothing. Only a crash of the
PostgreSQL server itself may forget the last fraction of a second of holds and settlements (at most three
``wal_writer_delay``): a forgotten hold is forgotten with its record, a forgotten settlement leaves its record
``reserved`` and ``services.release_abandoned`` releases it (nothing charged). Grants, top-ups and postings
to the ledger keep synchronous commits. Waiting for a disk flush (~5 ms on this machine) twice per request
would by itself exceed the gateway's latency budget.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connections
from django.utils import timezone

from gateway import trace
from gateway.models import ModelPrice, UsageRecord, VirtualKey
from ledger.models import Purpose
from ledger.services import default_account_code
from organisations.models import Organisation

log = logging.getLogger(__name__)

RESERVE = """
WITH hold AS (
    UPDATE gateway_quotameter
       SET available = available - %(amount)s, held = held + %(amount)s
     WHERE organisation_id = %(organisation_id)s
       AND available >= %(amount)s
       AND EXISTS (
           SELECT 1 FROM gateway_virtualkey k
            WHERE k.id = %(key_id)s AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > %(now)s)
       )
 RETURNING organisation_id
), made AS (
    INSERT INTO gateway_usagerecord (
        request_id, organisation_id, virtual_key_id, tag, endpoint, model, stream, price_id, channel_id,
        status, outcome, usage_source, prompt_tokens, cached_tokens, completion_tokens,
        reserved, cost, charged, uncollected, upstream_status, attempts, started_at, finished_at
    )
    SELECT %(request_id)s, organisation_id, %(key_id)s, %(tag)s, %(endpoint)s, %(model)s, %(stream)s,
           %(price_id)s, NULL, 'reserved', '', '', 0, 0, 0, %(amount)s, 0, 0, 0, NULL, 0, %(now)s, NULL
      FROM hold
    RETURNING id
)
-- One row: the record, or why not (read in the same snapshot as the guard: a top-up committed meanwhile is
-- either seen by the guard or still in the ledger quota, never missed by both).
SELECT (SELECT id FROM made),
       COALESCE((SELECT balance FROM ledger_account WHERE code = %(quota_code)s), 0),
       EXISTS (
           SELECT 1 FROM gateway_virtualkey k
            WHERE k.id = %(key_id)s AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > %(now)s)
       ),
       EXISTS (SELECT 1 FROM gateway_quotalease l WHERE l.organisation_id = %(organisation_id)s AND l.amount > 0)
"""

# After a refused reservation: is there ledger quota to top up, and is the key still usable?
TOP_UP_STATE = """
SELECT COALESCE((SELECT balance FROM ledger_account WHERE code = %(quota_code)s), 0),
       EXISTS (
           SELECT 1 FROM gateway_virtualkey k
            WHERE k.id = %(key_id)s AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > %(now)s)
       )
"""

# Only for a cost within the hold (the caller checks; the record's WHERE checks again).
FINISH = """
WITH done AS (
    UPDATE gateway_usagerecord
       SET status = %(status)s, finished_at = %(now)s, outcome = %(outcome)s, usage_source = %(source)s,
           prompt_tokens = %(prompt)s, completion_tokens = %(completion)s, cached_tokens = %(cached)s,
           cost = %(cost)s, charged = %(cost)s, uncollected = 0, channel_id = %(channel_id)s,
           upstream_status = %(upstream_status)s, attempts = %(attempts)s
     WHERE id = %(id)s AND status = 'reserved' AND reserved >= %(cost)s
 RETURNING organisation_id, reserved
)
UPDATE gateway_quotameter m
   SET held = m.held - done.reserved,
       unposted = m.unposted + %(cost)s,
       available = m.available + done.reserved - %(cost)s
  FROM done
 WHERE m.organisation_id = done.organisation_id
RETURNING m.id
"""


class _Pool:
    """A few autocommit connections; a connection that fails (or whose statement was interrupted) is
    closed, not reused, and the next call opens a new one."""

    def __init__(self, params: dict[str, Any], size: int, synchronous_commit: bool) -> None:
        self.params = params
        self.synchronous_commit = synchronous_commit
        self.idle: list[Any] = []
        self.slots = asyncio.Semaphore(size)

    async def _connect(self) -> Any:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(**self.params, autocommit=True, prepare_threshold=2)
        if not self.synchronous_commit:
            await conn.execute("SET synchronous_commit TO off")
        return conn

    async def fetch(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]] | None:
        """The statement's rows, or None when the database could not be asked (connection lost, server
        restarting…): the caller then takes the ORM path, which is safe even if the statement did run —
        reserving again under the same request id finds the record, settling again finds it settled."""
        import psycopg

        async with self.slots:
            trace.mark("sql_slot")
            try:
                conn = self.idle.pop() if self.idle else await self._connect()
            except psycopg.Error as exc:
                log.warning("gateway SQL path: cannot connect (%s); using the ORM path", exc)
                return None
            try:
                cursor = await conn.execute(sql, params)
                rows = await cursor.fetchall()
            except psycopg.Error as exc:
                await _close_quietly(conn)
                log.warning("gateway SQL path: %s; using the ORM path", exc)
                return None
            except BaseException:
                await _close_quietly(conn)
                raise
            self.idle.append(conn)
            return rows

    async def close(self) -> None:
        idle, self.idle = self.idle, []
        for conn in idle:
            await _close_quietly(conn)


async def _close_quietly(conn: Any) -> None:
    try:
        await conn.close()
    except Exception:  # already broken
        log.debug("closing a gateway SQL connection failed", exc_info=True)


_pool: _Pool | None = None


@dataclass
class Held:
    """A request's reservation as the SQL path made it (its usage record's id and hold)."""

    pk: int
    request_id: str
    reserved: Decimal


@dataclass
class Refused:
    """Why the statement held nothing: ``exhausted`` — the key is usable and the member has no ledger quota
    left to top up; ``leased`` — gateway workers hold leases of the member's quota (``gateway.leases``)."""

    exhausted: bool
    leased: bool


def _connection_params() -> dict[str, Any]:
    params = dict(connections["default"].get_connection_params())
    for name in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(name, None)
    return params


def start(size: int | None = None) -> bool:
    """Use the SQL path when the database is PostgreSQL (``GATEWAY_SQL_PATH=0`` turns it off). Returns
    whether it is on."""
    global _pool
    if connections["default"].vendor != "postgresql" or os.environ.get("GATEWAY_SQL_PATH", "1") == "0":
        return False
    if _pool is None:
        _pool = _Pool(
            _connection_params(),
            size or max(1, int(os.environ.get("GATEWAY_SQL_CONNECTIONS", "8"))),
            os.environ.get("GATEWAY_SYNCHRONOUS_COMMIT", "off").lower() in {"on", "1", "true"},
        )
    return True


async def stop() -> None:
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        await pool.close()


def active() -> bool:
    return _pool is not None


async def fetch(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]] | None:
    """Run one statement on the pool (``gateway.leases`` uses it): its rows, or None without an answer."""
    assert _pool is not None
    return await _pool.fetch(sql, params)


async def reserve(
    *,
    request_id: str,
    key: VirtualKey,
    endpoint: str,
    model: str,
    stream: bool,
    price: ModelPrice,
    amount: Decimal,
) -> Held | None:
    """Hold ``amount`` and insert the record in one statement; what was held, or None when the statement did
    not apply (the caller then runs ``services.reserve``, which tops up, re-checks and explains)."""
    outcome = await reserve_or_explain(
        request_id=request_id,
        key=key,
        endpoint=endpoint,
        model=model,
        stream=stream,
        price=price,
        amount=amount,
    )
    return outcome if isinstance(outcome, Held) else None


async def reserve_or_explain(
    *,
    request_id: str,
    key: VirtualKey,
    endpoint: str,
    model: str,
    stream: bool,
    price: ModelPrice,
    amount: Decimal,
) -> Held | Refused | None:
    """``reserve``, and when nothing was held, why (``Refused``) — in the same statement, so that a member
    that ran dry and keeps calling costs one round trip per call. None: the database did not answer."""
    assert _pool is not None
    now = timezone.now()
    rows = await _pool.fetch(
        RESERVE,
        {
            "quota_code": default_account_code(
                owner=Organisation(pk=key.organisation_id), purpose=Purpose.QUOTA
            ),
            "amount": amount,
            "organisation_id": key.organisation_id,
            "key_id": key.pk,
            "now": now,
            "request_id": request_id,
            "tag": key.tag,
            "endpoint": endpoint,
            "model": model,
            "stream": stream,
            "price_id": price.pk,
        },
    )
    if not rows:
        return None
    made, ledger_quota, key_usable, leased = rows[0]
    if made is not None:
        return Held(pk=made, request_id=request_id, reserved=amount)
    return Refused(exhausted=bool(key_usable) and ledger_quota <= 0, leased=bool(leased))


async def plainly_exhausted(*, key: VirtualKey) -> bool:
    """After ``reserve`` was refused: True when the key is usable and the member has no ledger quota left
    to top up — the quota is exhausted, and saying so needs no ORM work (a member that ran dry and keeps
    calling costs one cheap statement per call). False when there is something to explain or to do (the
    key was revoked or expired, a grant waits to be topped up, the database did not answer): the caller
    takes ``services.reserve``."""
    assert _pool is not None
    rows = await _pool.fetch(
        TOP_UP_STATE,
        {
            "quota_code": default_account_code(
                owner=Organisation(pk=key.organisation_id), purpose=Purpose.QUOTA
            ),
            "key_id": key.pk,
            "now": timezone.now(),
        },
    )
    if not rows:
        return False
    ledger_quota, key_usable = rows[0]
    return bool(key_usable) and ledger_quota <= 0


async def finish(
    *,
    record: Held | UsageRecord,
    status: str,
    cost: Decimal,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int,
    source: str,
    outcome: str,
    channel_id: int | None,
    upstream_status: int | None,
    attempts: int,
) -> bool:
    """Settle (or release, ``cost`` 0) a request whose cost is within its hold, in one statement. False
    when it did not apply (settled already, or the cost exceeds the hold): the caller falls back to
    ``services.settle`` / ``services.release``."""
    assert _pool is not None
    if cost > record.reserved:
        return False
    now = timezone.now()
    rows = await _pool.fetch(
        FINISH,
        {
            "id": record.pk,
            "status": status,
            "now": now,
            "outcome": outcome,
            "source": source,
            "prompt": prompt_tokens,
            "completion": completion_tokens,
            "cached": min(cached_tokens, prompt_tokens),
            "cost": cost,
            "channel_id": channel_id,
            "upstream_status": upstream_status,
            "attempts": attempts,
        },
    )
    return bool(rows)
