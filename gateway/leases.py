"""Quota leases: a gateway worker reserves and settles in memory, and writes usage in batches.

Served by the gateway's ASGI app on PostgreSQL, a worker process sets aside a slice of a member's meter —
a *lease* (``QuotaLease``), taken with one guarded UPDATE like a reservation — and reserves the member's
requests from it in memory. A finished request is appended to the worker's **journal** (a local file, one
``write`` before the client sees ``[DONE]``) and written to the database with the others that finished in
the same few milliseconds: one statement inserts their usage records (``ON CONFLICT (request_id) DO
NOTHING``: exactly one record per request id, however often a batch is retried) and moves *their* charges
from the lease and the meter's ``held`` to ``unposted``. Money moves exactly as on the statement path
(``gateway.sqlpath``); a request only stops waiting for two database round trips.

Why the guarantees hold:
- **No overdraft.** Leased money was taken off ``available`` by the guarded UPDATE before any request
  could use it; in memory a request is admitted only when the lease's free part covers its whole hold.
- **Exactness near exhaustion.** Leases are small (``LEASE_HOLDS`` holds) and only taken while the member
  has at least ``AVAILABLE_FACTOR`` times that available, so a small quota is never leased: every request
  goes through the statement path, exactly as before. A request about to be refused while leases exist
  first gives back this worker's free part and *recalls* the others' (they notice within ``POLL_EVERY``
  and give theirs back); it is refused only if it still does not fit after ``RECALL_WAIT``.
- **Nothing settled is lost.** The journal is written before ``[DONE]`` (``os.write``: in the kernel's
  page cache, so a killed or crashed worker loses nothing; only a crash of the operating system before the
  batch reached PostgreSQL could, the same window as ``synchronous_commit = off``). A request that began
  is journalled too, so a worker that died leaves, after ``services.release_abandoned`` replays its journal,
  a settled record for everything it finished and an ``abandoned`` one, nothing charged, for what it was
  killed in the middle of; then its leases go back to ``available``. A stopping worker writes everything
  and gives its leases back.
- **Revoked keys.** A key revoked in another process stops being served from leases within
  ``POLL_EVERY`` (the worker polls the keys it uses); its next request takes the statement path, whose
  guard refuses it.

``funded = available + held + unposted`` stays exact at every moment: ``held`` = the holds of requests
reserved in the database + the amounts of all leases (a lease's amount = its free part + the holds of its
requests in flight + the charges of its finished requests not yet written).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from gateway import sqlpath
from gateway.models import COST_PLACES, Outcome, UsageStatus

log = logging.getLogger(__name__)

ZERO = Decimal("0")
QUANTUM = Decimal(1).scaleb(-COST_PLACES)
LEASE_HOLDS = int(os.environ.get("GATEWAY_LEASE_HOLDS", "64"))  # a lease pays for this many holds
REFILL_BELOW = 16  # holds left free when the next lease is asked for, in the background
AVAILABLE_FACTOR = 4  # a lease takes at most this fraction (1/4) of what is available
FLUSH_DELAY = 0.05  # seconds finished requests gather before they are written together
FLUSH_MAX = 1000
POLL_EVERY = 0.1  # recalls of this worker's leases and keys revoked elsewhere
RENEW_EVERY = 10.0
IDLE_RETURN = 30.0  # a lease unused this long is given back
REFILL_COOLDOWN = 2.0  # after a refused lease: the statement path for this long
RECALL_COOLDOWN = 10.0  # after a recall: no new lease for the member for this long
RECALL_WAIT = 0.3
STALE_AFTER = dt.timedelta(minutes=10)  # a lease not renewed this long belongs to a worker that is gone
JOURNAL_ROTATE_BYTES = 8 * 1024 * 1024

# --------------------------------------------------------------------------------------------- SQL

TAKE = """
WITH take AS (
    UPDATE gateway_quotameter
       SET available = available - %(amount)s, held = held + %(amount)s
     WHERE organisation_id = %(organisation_id)s AND available >= %(needed)s
 RETURNING organisation_id
)
INSERT INTO gateway_quotalease (organisation_id, holder, amount, recalled, created_at, renewed_at)
SELECT organisation_id, %(holder)s, %(amount)s, false, %(now)s, %(now)s FROM take
ON CONFLICT (holder, organisation_id) DO UPDATE
   SET amount = gateway_quotalease.amount + EXCLUDED.amount, renewed_at = EXCLUDED.renewed_at, recalled = false
RETURNING id
"""

GIVE_BACK = """
WITH back AS (
    UPDATE gateway_quotalease
       SET amount = amount - %(amount)s, recalled = false, renewed_at = %(now)s
     WHERE id = %(lease_id)s AND amount >= %(amount)s
 RETURNING organisation_id
)
UPDATE gateway_quotameter m
   SET available = m.available + %(amount)s, held = m.held - %(amount)s
  FROM back
 WHERE m.organisation_id = back.organisation_id
RETURNING m.id
"""

RECALL = """
UPDATE gateway_quotalease SET recalled = true
 WHERE organisation_id = %(organisation_id)s AND holder <> %(holder)s AND amount > 0
RETURNING id
"""

POLL = """
SELECT 'lease', organisation_id FROM gateway_quotalease WHERE holder = %(holder)s AND recalled
UNION ALL
SELECT 'key', id FROM gateway_virtualkey
 WHERE id = ANY(%(key_ids)s::bigint[])
   AND (revoked_at IS NOT NULL OR (expires_at IS NOT NULL AND expires_at <= %(now)s))
"""

RENEW = "UPDATE gateway_quotalease SET renewed_at = %(now)s WHERE holder = %(holder)s"

# A batch of finished requests: their records and, for the records inserted now (not a retry), their
# charges off the lease and the meter's ``held`` into ``unposted``. A record whose lease is gone (its worker
# was declared dead after STALE_AFTER and the lease returned) charges nothing and says so (uncollected).
WRITE = """
WITH r AS (
    SELECT * FROM json_to_recordset(%(rows)s::json) AS t(
        request_id varchar, organisation_id bigint, key_id bigint, tag varchar, endpoint varchar, model varchar,
        stream boolean, price_id bigint, channel_id bigint, status varchar, outcome varchar, source varchar,
        prompt integer, cached integer, completion integer, reserved numeric, cost numeric, charged numeric,
        uncollected numeric, upstream_status integer, attempts integer, started_at timestamptz,
        finished_at timestamptz, lease_id bigint
    )
), rl AS (
    SELECT r.*, (l.id IS NOT NULL) AS leased
      FROM r LEFT JOIN gateway_quotalease l ON l.id = r.lease_id
), ins AS (
    INSERT INTO gateway_usagerecord (
        request_id, organisation_id, virtual_key_id, tag, endpoint, model, stream, price_id, channel_id,
        status, outcome, usage_source, prompt_tokens, cached_tokens, completion_tokens,
        reserved, cost, charged, uncollected, upstream_status, attempts, started_at, finished_at
    )
    SELECT request_id, organisation_id, key_id, tag, endpoint, model, stream, price_id, channel_id,
           status, outcome, source, prompt, cached, completion, reserved, cost,
           CASE WHEN leased THEN charged ELSE 0 END,
           CASE WHEN leased THEN uncollected ELSE uncollected + charged END,
           upstream_status, attempts, started_at, finished_at
      FROM rl
    ON CONFLICT (request_id) DO NOTHING
    RETURNING request_id
), spent AS (
    SELECT rl.lease_id, rl.organisation_id, sum(rl.charged) AS amount
      FROM rl JOIN ins USING (request_id)
     WHERE rl.leased
     GROUP BY rl.lease_id, rl.organisation_id
), leased AS (
    UPDATE gateway_quotalease l SET amount = l.amount - spent.amount, renewed_at = %(now)s
      FROM spent WHERE l.id = spent.lease_id
    RETURNING l.id
)
UPDATE gateway_quotameter m
   SET held = m.held - s.amount, unposted = m.unposted + s.amount
  FROM (SELECT organisation_id, sum(amount) AS amount FROM spent GROUP BY organisation_id) s
 WHERE m.organisation_id = s.organisation_id
RETURNING (SELECT count(*) FROM ins), (SELECT count(*) FROM leased)
"""

# A worker that is gone: its leases go back to ``available`` (after its journal was replayed).
DISSOLVE = """
WITH gone AS (
    DELETE FROM gateway_quotalease WHERE holder = ANY(%(holders)s::varchar[]) RETURNING organisation_id, amount
)
UPDATE gateway_quotameter m
   SET available = m.available + g.amount, held = m.held - g.amount
  FROM (SELECT organisation_id, sum(amount) AS amount FROM gone GROUP BY organisation_id) g
 WHERE m.organisation_id = g.organisation_id
RETURNING m.id
"""

STALE_HOLDERS = "SELECT DISTINCT holder FROM gateway_quotalease WHERE renewed_at < %(cutoff)s"

FIELDS = (
    "request_id",
    "organisation_id",
    "key_id",
    "tag",
    "endpoint",
    "model",
    "stream",
    "price_id",
    "channel_id",
    "status",
    "outcome",
    "source",
    "prompt",
    "cached",
    "completion",
    "reserved",
    "cost",
    "charged",
    "uncollected",
    "upstream_status",
    "attempts",
    "started_at",
    "finished_at",
    "lease_id",
)


def write_params(rows: Sequence[dict[str, Any]], now: dt.datetime) -> dict[str, Any]:
    """The batch as one JSON parameter (``json_to_recordset``): serialised in C, not value by value."""
    batch = [{name: row[name] for name in FIELDS} for row in rows]
    return {"rows": json.dumps(batch, default=str, separators=(",", ":")), "now": now}


# --------------------------------------------------------------------------------------------- journal


def journal_dir() -> Path:
    """This machine's journals of workers serving *this* database (another database's are not ours)."""
    from django.db import connections

    db = connections["default"].settings_dict
    name = f"{db.get('HOST') or 'local'}-{db.get('PORT') or 5432}-{db['NAME']}"
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return Path(settings.VAR_DIR) / "gateway" / "journal" / safe


def _encode(entry: dict[str, Any]) -> bytes:
    return (json.dumps(entry, default=str, separators=(",", ":")) + "\n").encode()


class Journal:
    """Append-only files of this worker (``<holder>.<n>.journal``), each locked (``flock``) while the worker
    lives. ``b`` lines: a request reserved from a lease; ``f`` lines: how it finished. A file is rotated at
    ``JOURNAL_ROTATE_BYTES`` and deleted once every request begun in it was written to the database."""

    def __init__(self, directory: Path, holder: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.holder = holder
        self.files: dict[int, tuple[int, Path]] = {}  # n → (fd, path)
        self.open_requests: dict[int, int] = {}  # n → requests begun there, not yet written
        self.current = -1
        self._rotate()

    def _rotate(self) -> None:
        self.current += 1
        path = self.directory / f"{self.holder}.{self.current}.journal"
        # Locked under another name, then renamed: a worker starting at the same moment never finds this
        # journal unlocked (and takes it for a dead worker's).
        opening = path.with_suffix(".opening")
        fd = os.open(opening, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(opening, path)
        self.files[self.current] = (fd, path)
        self.open_requests[self.current] = 0
        self.size = 0

    def begin(self, entry: dict[str, Any]) -> int:
        """Journal a reservation; returns the file it is in (its finish goes to the same one)."""
        if self.size >= JOURNAL_ROTATE_BYTES:
            self._rotate()
        data = _encode({"t": "b", **entry})
        os.write(self.files[self.current][0], data)
        self.size += len(data)
        self.open_requests[self.current] += 1
        return self.current

    def finish(self, n: int, entry: dict[str, Any]) -> None:
        fd = self.files[n][0] if n in self.files else self.files[self.current][0]
        os.write(fd, _encode({"t": "f", **entry}))

    def written(self, files: Iterable[int]) -> None:
        """These requests (by file) are in the database now: delete old files nobody needs."""
        for n in files:
            self.open_requests[n] -= 1
        for n in [n for n, count in self.open_requests.items() if count == 0 and n != self.current]:
            self._drop(n)

    def _drop(self, n: int) -> None:
        fd, path = self.files.pop(n)
        self.open_requests.pop(n, None)
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)

    def close(self, *, delete: bool) -> None:
        for n in list(self.files):
            fd, path = self.files.pop(n)
            if delete:
                with contextlib.suppress(OSError):
                    path.unlink()
            os.close(fd)


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def rows_from_journal(lines: Iterable[bytes]) -> list[dict[str, Any]]:
    """The records a dead worker's journal describes: finished requests as they finished, the ones that
    began and never finished as ``abandoned`` (nothing charged). A torn last line is skipped."""
    begun: dict[str, dict[str, Any]] = {}
    finished: dict[str, dict[str, Any]] = {}
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        if entry.get("t") == "b":
            begun[entry["request_id"]] = entry
        elif entry.get("t") == "f":
            finished[entry["request_id"]] = entry
    rows = []
    for request_id, start in begun.items():
        end = finished.get(request_id) or {
            "status": UsageStatus.RELEASED,
            "outcome": Outcome.ABANDONED,
            "source": "",
            "prompt": 0,
            "cached": 0,
            "completion": 0,
            "cost": "0",
            "charged": "0",
            "uncollected": "0",
            "channel_id": None,
            "upstream_status": None,
            "attempts": 0,
            "finished_at": timezone.now().isoformat(),
        }
        row = {**start, **end}
        row["request_id"] = request_id
        row["started_at"] = _parse_time(row["started_at"])
        row["finished_at"] = _parse_time(row["finished_at"])
        for name in ("reserved", "cost", "charged", "uncollected"):
            row[name] = Decimal(str(row[name]))
        rows.append(row)
    return rows


def _dead_journals() -> dict[str, list[tuple[int, Path]]]:
    """Journals in this machine's directory whose worker is gone (their lock can be taken), by holder,
    each file with the descriptor that now holds its lock."""
    directory = journal_dir()
    found: dict[str, list[tuple[int, Path]]] = {}
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.journal")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live worker's
            os.close(fd)
            continue
        holder = path.name.rsplit(".", 2)[0]
        found.setdefault(holder, []).append((fd, path))
    return found


def recover_dead_workers() -> int:
    """Synchronous (ORM connection): replay the journals of workers on this machine that died, then return
    their leases and those of workers anywhere not heard of for ``STALE_AFTER``. Returns how many requests
    the journals held that were cut off (recorded ``abandoned``, nothing charged). Run by
    ``services.release_abandoned`` and at a worker's startup."""
    from django.db import DatabaseError, connection, transaction

    if connection.vendor != "postgresql":
        return 0
    abandoned = 0
    for holder, files in _dead_journals().items():
        try:
            abandoned += _replay(holder, files)
        except DatabaseError:
            # Not replayable here (say the member was deleted since): kept aside for the operator, and
            # the leases are returned by the stale-lease sweep below in due course.
            log.exception("gateway: the journal of %s could not be replayed; kept as *.failed", holder)
            for _fd, path in files:
                with contextlib.suppress(OSError):
                    path.rename(path.with_suffix(".failed"))
        finally:
            for fd, _path in files:
                os.close(fd)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(STALE_HOLDERS, {"cutoff": timezone.now() - STALE_AFTER})
        stale = [row[0] for row in cursor.fetchall()]
        if stale:
            cursor.execute(DISSOLVE, {"holders": stale})
            log.warning("gateway: returned the leases of workers not heard of: %s", ", ".join(stale))
    return abandoned


def _replay(holder: str, files: list[tuple[int, Path]]) -> int:
    """Write one dead worker's journal (one transaction) and return its leases; how many were cut off."""
    from django.db import connection, transaction

    lines: list[bytes] = []
    for fd, _path in files:
        with os.fdopen(os.dup(fd), "rb") as handle:
            lines.extend(handle.read().splitlines())
    rows = rows_from_journal(lines)
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(rows), FLUSH_MAX):
            cursor.execute(WRITE, write_params(rows[start : start + FLUSH_MAX], timezone.now()))
        cursor.execute(DISSOLVE, {"holders": [holder]})
    for _fd, path in files:
        with contextlib.suppress(OSError):
            path.unlink()
    cut_off = sum(1 for row in rows if row["outcome"] == Outcome.ABANDONED)
    log.warning("gateway: replayed the journal of %s (%d requests, %d cut off)", holder, len(rows), cut_off)
    return cut_off


# --------------------------------------------------------------------------------------------- the book


@dataclass
class Hold:
    """A request reserved from a lease (the counterpart of ``sqlpath.Held``)."""

    request_id: str
    reserved: Decimal
    organisation_id: int
    lease_id: int
    journal_file: int
    entry: dict[str, Any]
    book: _Book
    finished: bool = False


@dataclass
class _Slice:
    organisation_id: int
    lease_id: int | None = None
    free: Decimal = ZERO
    last_used: float = 0.0
    closed_until: float = 0.0  # no new lease before (monotonic)
    refilling: bool = False


@dataclass
class _Book:
    holder: str
    journal: Journal
    slices: dict[int, _Slice] = field(default_factory=dict)
    pending: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    keys_seen: dict[int, float] = field(default_factory=dict)
    revoked: set[int] = field(default_factory=set)
    in_flight: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Statements touching this worker's lease rows run one at a time: writing a batch locks the lease row,
    # then the meter row; taking a lease the other way round — run side by side they could deadlock.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    stopping: bool = False


_book: _Book | None = None


def active() -> bool:
    return _book is not None


def _spawn(book: _Book, coro: Any) -> None:
    task = asyncio.ensure_future(coro)
    book.tasks.add(task)
    task.add_done_callback(book.tasks.discard)


async def start() -> bool:
    """Turn leases on in this worker (only on the statement path, i.e. PostgreSQL; ``GATEWAY_LEASES=0``
    keeps every request on the statement path). Replays journals of dead workers first."""
    global _book
    if not sqlpath.active() or os.environ.get("GATEWAY_LEASES", "1") == "0" or _book is not None:
        return _book is not None
    from gateway import db

    try:
        await db.call(recover_dead_workers)
    except Exception:  # the sweep runs again with release_abandoned; serving must not wait for it
        log.exception("gateway: replaying dead workers' journals failed at startup")
    holder = f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    _book = _Book(holder=holder, journal=Journal(journal_dir(), holder))
    _spawn(_book, _flusher(_book))
    _spawn(_book, _poller(_book))
    return True


def forget_key(key_id: int) -> None:
    """This process revoked the key: stop serving it from leases at once."""
    if _book is not None:
        _book.revoked.add(key_id)


def try_hold(
    *,
    request_id: str,
    key: Any,
    endpoint: str,
    model: str,
    stream: bool,
    price_id: int,
    amount: Decimal,
) -> Hold | None:
    """Reserve ``amount`` from this worker's lease for the member, in memory; None when there is no lease
    (or it is too short): the caller takes the statement path, and a lease is asked for meanwhile."""
    book = _book
    if book is None or book.stopping or key.pk in book.revoked:
        return None
    now = time.monotonic()
    book.keys_seen[key.pk] = now
    piece = book.slices.get(key.organisation_id)
    if piece is None:
        piece = book.slices[key.organisation_id] = _Slice(key.organisation_id)
    piece.last_used = now
    if piece.lease_id is None or piece.free < amount:
        _refill_soon(book, piece, amount, now)
        return None
    piece.free -= amount
    if piece.free < amount * REFILL_BELOW:
        _refill_soon(book, piece, amount, now)
    entry = {
        "request_id": request_id,
        "organisation_id": key.organisation_id,
        "key_id": key.pk,
        "tag": key.tag,
        "endpoint": endpoint,
        "model": model,
        "stream": stream,
        "price_id": price_id,
        "reserved": amount,
        "started_at": timezone.now(),
        "lease_id": piece.lease_id,
    }
    n = book.journal.begin(entry)
    book.in_flight += 1
    return Hold(request_id, amount, key.organisation_id, piece.lease_id, n, entry, book)


def finish(
    hold: Hold,
    *,
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
) -> None:
    """Settle (or release, ``cost`` 0) in memory and in the journal; the record is written with the next
    batch. A cost above the hold takes the difference from the lease's free part, and what that cannot
    cover is left uncollected (the record says so). Repeated calls do nothing."""
    if hold.finished:
        return
    hold.finished = True
    book = hold.book
    book.in_flight -= 1
    piece = book.slices[hold.organisation_id]
    charged, uncollected = cost, ZERO
    if cost > hold.reserved:
        take = min(cost - hold.reserved, piece.free)
        charged = hold.reserved + take
        uncollected = cost - charged
    piece.free += hold.reserved - charged
    end = {
        "request_id": hold.request_id,
        "status": status,
        "outcome": outcome,
        "source": source,
        "prompt": prompt_tokens,
        "cached": min(cached_tokens, prompt_tokens),
        "completion": completion_tokens,
        "cost": cost,
        "charged": charged,
        "uncollected": uncollected,
        "channel_id": channel_id,
        "upstream_status": upstream_status,
        "attempts": attempts,
        "finished_at": timezone.now(),
    }
    book.journal.finish(hold.journal_file, end)
    book.pending.append(({**hold.entry, **end}, hold.journal_file))
    book.wake.set()


async def reclaim(organisation_id: int) -> bool:
    """Before refusing a request of the member: give back this worker's free lease money and recall the
    other workers' leases. True when something may come back (the caller tries again for a while)."""
    book = _book
    if book is None:
        return False
    now = time.monotonic()
    gave = False
    piece = book.slices.get(organisation_id)
    if piece is not None:
        piece.closed_until = now + RECALL_COOLDOWN
        gave = piece.free > 0 and await _give_back(book, piece)
    rows = await sqlpath.fetch(RECALL, {"organisation_id": organisation_id, "holder": book.holder})
    return gave or bool(rows)


async def stop(timeout: float = 30.0) -> None:
    """Write everything, give every lease back, close the journal (deleted when all is written)."""
    global _book
    book, _book = _book, None
    if book is None:
        return
    book.stopping = True
    deadline = time.monotonic() + timeout
    while book.in_flight and time.monotonic() < deadline:  # requests cut off by the server finishing
        await asyncio.sleep(0.05)
    for task in list(book.tasks):
        task.cancel()
    for task in list(book.tasks):
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    while book.pending and time.monotonic() < deadline:
        if not await _write(book):
            await asyncio.sleep(0.2)
    for piece in book.slices.values():
        if piece.free > 0:
            await _give_back(book, piece)
    if not book.pending:
        await sqlpath.fetch(
            "DELETE FROM gateway_quotalease WHERE holder = %(holder)s AND amount = 0 RETURNING id",
            {"holder": book.holder},
        )
    book.journal.close(delete=not book.pending)
    if book.pending:
        log.error("gateway: %d finished requests stay in the journal for replay", len(book.pending))


# --------------------------------------------------------------------------------------------- background


def _refill_soon(book: _Book, piece: _Slice, amount: Decimal, now: float) -> None:
    if piece.refilling or now < piece.closed_until or book.stopping:
        return
    piece.refilling = True
    _spawn(book, _refill(book, piece, amount))


async def _refill(book: _Book, piece: _Slice, amount: Decimal) -> None:
    try:
        size = (amount * LEASE_HOLDS).quantize(QUANTUM)
        params = {
            "amount": size,
            "needed": size * AVAILABLE_FACTOR,
            "organisation_id": piece.organisation_id,
            "holder": book.holder,
            "now": timezone.now(),
        }
        async with book.lock:
            rows = await sqlpath.fetch(TAKE, params)
        if rows:
            piece.lease_id = rows[0][0]
            piece.free += size
        else:  # too little available (or a grant to top up first): the statement path meanwhile
            piece.closed_until = time.monotonic() + REFILL_COOLDOWN
    finally:
        piece.refilling = False


async def _give_back(book: _Book, piece: _Slice) -> bool:
    """Return the lease's free part to ``available`` (also clears a recall). True when money went back."""
    amount, piece.free = piece.free, ZERO
    if piece.lease_id is None:
        return False
    async with book.lock:
        rows = await sqlpath.fetch(
            GIVE_BACK, {"amount": amount, "lease_id": piece.lease_id, "now": timezone.now()}
        )
    if rows is None:  # no answer: keep it, try again later
        piece.free += amount
        return False
    return amount > 0


async def _write(book: _Book) -> bool:
    batch, book.pending = book.pending[:FLUSH_MAX], book.pending[FLUSH_MAX:]
    params = write_params([row for row, _n in batch], timezone.now())
    async with book.lock:
        rows = await sqlpath.fetch(WRITE, params)
    if rows is None:  # not written (or not known to be): again later; a retry inserts nothing twice
        book.pending[:0] = batch
        return False
    book.journal.written(n for _row, n in batch)
    return True


async def _flusher(book: _Book) -> None:
    while True:
        await book.wake.wait()
        book.wake.clear()
        await asyncio.sleep(FLUSH_DELAY)
        while book.pending:
            if not await _write(book):
                await asyncio.sleep(0.5)
        now = time.monotonic()
        for piece in book.slices.values():
            if piece.free > 0 and (piece.closed_until > now or now - piece.last_used > IDLE_RETURN):
                await _give_back(book, piece)


async def _poller(book: _Book) -> None:
    renewed = time.monotonic()
    while True:
        await asyncio.sleep(POLL_EVERY)
        now = time.monotonic()
        key_ids = [key_id for key_id, seen in book.keys_seen.items() if now - seen < 2 * IDLE_RETURN]
        rows = await sqlpath.fetch(POLL, {"holder": book.holder, "key_ids": key_ids, "now": timezone.now()})
        for kind, ident in rows or []:
            if kind == "key":
                book.revoked.add(ident)
            else:
                piece = book.slices.get(ident)
                if piece is not None:
                    piece.closed_until = now + RECALL_COOLDOWN
                    await _give_back(book, piece)  # also clears the flag, when nothing is free
                else:
                    await sqlpath.fetch(
                        "UPDATE gateway_quotalease SET recalled = false "
                        "WHERE holder = %(holder)s AND organisation_id = %(org)s RETURNING id",
                        {"holder": book.holder, "org": ident},
                    )
        if now - renewed >= RENEW_EVERY:
            renewed = now
            await sqlpath.fetch(RENEW + " RETURNING id", {"holder": book.holder, "now": timezone.now()})
        for piece in book.slices.values():
            if piece.free > 0 and now - piece.last_used > IDLE_RETURN:
                await _give_back(book, piece)
