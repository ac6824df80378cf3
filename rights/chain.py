"""The tamper-evident registration chain: how an entry's hashes are computed and how the chain is verified.

An entry commits to
- ``content_sha256``: the exact bytes of the registered file;
- ``metadata_digest``: SHA-256 of the canonical JSON of the registered facts (title, category, authors,
  holder name and USCC as frozen at registration, dates, the creation statement, file facts, the
  verification code) *and* the digest of the stored perceptual fingerprints;
- ``previous_hash``: the ``entry_hash`` of the entry before it (``GENESIS_HASH`` for the first).

``entry_hash`` = SHA-256 of the canonical JSON of (version, sequence, previous_hash, content_sha256,
metadata_digest, recorded_at). Changing any registered fact, fingerprint, entry field, or removing or
reordering entries breaks a recomputed hash or a link, and ``verify_chain`` names the first entry affected.
Canonical JSON: sorted keys, no whitespace, UTF-8, dates as ISO 8601.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

from rights.fingerprints import FrameHash, hashes_digest
from rights.models import GENESIS_HASH, ChainEntry, Frame, Work

VERSION = 1


def canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def registered_facts(work: Work) -> dict[str, Any]:
    """What the chain commits to about a work (besides the file hash)."""
    return {
        "code": work.code,
        "title": work.title,
        "category": work.category,
        "media_kind": work.media_kind,
        "authors": work.authors,
        "holder_id": work.holder_id,
        "holder_name": work.holder_name,
        "holder_uscc": work.holder_uscc,
        "created_on": _date(work.created_on),
        "first_published_on": _date(work.first_published_on),
        "published_where": work.published_where,
        "purpose": work.purpose,
        "process": work.process,
        "ai_tools": work.ai_tools,
        "prompts": work.prompts,
        "originality": work.originality,
        "original_name": work.original_name,
        "file_size": work.file_size,
        "file_format": work.file_format,
        "width": work.width,
        "height": work.height,
        "duration_ms": work.duration_ms,
        "fingerprint_digest": work.fingerprint_digest,
    }


def metadata_digest(work: Work) -> str:
    return sha256_hex(canonical(registered_facts(work)))


def entry_hash(
    *, sequence: int, previous_hash: str, content_sha256: str, metadata: str, recorded_at: dt.datetime
) -> str:
    return sha256_hex(
        canonical(
            {
                "v": VERSION,
                "sequence": sequence,
                "previous_hash": previous_hash,
                "content_sha256": content_sha256,
                "metadata_digest": metadata,
                "recorded_at": recorded_at.astimezone(dt.UTC).isoformat(),
            }
        )
    )


def stored_fingerprint_digest(work_id: int) -> str:
    frames = [
        FrameHash(position_ms=p, hash=bytes(h), quality=q, transform=t)
        for p, t, q, h in Frame.objects.filter(work_id=work_id)
        .order_by("position_ms", "transform")
        .values_list("position_ms", "transform", "quality", "hash")
    ]
    return hashes_digest(frames)


@dataclass
class EntryCheck:
    sequence: int
    ok: bool
    problems: list[str] = field(default_factory=list)


@dataclass
class ChainReport:
    ok: bool
    entries: int
    head_hash: str
    first_broken: int | None
    problems: list[tuple[int, str]] = field(default_factory=list)


def check_entry(entry: ChainEntry, *, previous: ChainEntry | None, check_frames: bool = True) -> EntryCheck:
    """Recompute one entry's hashes and its link to ``previous`` (the entry with sequence − 1)."""
    work = entry.work
    problems: list[str] = []
    expected_previous = previous.entry_hash if previous is not None else GENESIS_HASH
    if previous is None and entry.sequence != 1:
        problems.append(str(_("The entry before this one is missing.")))
    elif entry.previous_hash != expected_previous:
        problems.append(str(_("The link to the previous entry does not match.")))
    if entry.content_sha256 != work.sha256:
        problems.append(str(_("The file hash differs from the one registered.")))
    if check_frames and stored_fingerprint_digest(work.pk) != work.fingerprint_digest:
        problems.append(str(_("The stored fingerprints differ from the ones registered.")))
    if metadata_digest(work) != entry.metadata_digest:
        problems.append(str(_("The registered facts of the work were changed.")))
    recomputed = entry_hash(
        sequence=entry.sequence,
        previous_hash=entry.previous_hash,
        content_sha256=entry.content_sha256,
        metadata=entry.metadata_digest,
        recorded_at=entry.recorded_at,
    )
    if recomputed != entry.entry_hash:
        problems.append(str(_("The entry's own hash does not match its contents.")))
    return EntryCheck(sequence=entry.sequence, ok=not problems, problems=problems)


def check_registered(work: Work) -> EntryCheck:
    """Check a registered work's entry and its link to the entry before it."""
    entry = work.chain_entry
    previous = ChainEntry.objects.filter(sequence=entry.sequence - 1).first()
    return check_entry(entry, previous=previous)


def verify_entries(entries: Iterable[ChainEntry], *, head_hash: str, head_sequence: int) -> ChainReport:
    """Walk the chain in sequence order: every entry recomputed, every link and sequence number checked, the
    last entry equal to the head."""
    problems: list[tuple[int, str]] = []
    previous: ChainEntry | None = None
    count = 0
    for entry in entries:
        count += 1
        if entry.sequence != count:
            problems.append((entry.sequence, str(_("Entries are missing before this one."))))
        result = check_entry(
            entry, previous=previous if previous and previous.sequence == entry.sequence - 1 else None
        )
        problems.extend((entry.sequence, p) for p in result.problems)
        previous = entry
    last_hash = previous.entry_hash if previous is not None else GENESIS_HASH
    last_sequence = previous.sequence if previous is not None else 0
    if last_hash != head_hash or last_sequence != head_sequence:
        problems.append((last_sequence, str(_("The chain does not end where its head says."))))
    return ChainReport(
        ok=not problems,
        entries=count,
        head_hash=head_hash,
        first_broken=min((s for s, _p in problems), default=None),
        problems=problems,
    )


CACHE_FROM_ENTRIES = 500
CACHE_SECONDS = 60


def verify_chain(*, use_cache: bool = False) -> ChainReport:
    """Verify every entry. With ``use_cache`` (the public page), a chain of more than ``CACHE_FROM_ENTRIES``
    entries is verified at most once a minute per head, so the page cannot be used to load the database;
    smaller chains are always verified afresh."""
    from django.core.cache import cache

    from rights.models import ChainHead

    head = ChainHead.objects.filter(pk=1).first()
    if use_cache and head is not None and head.sequence > CACHE_FROM_ENTRIES:
        key = f"rights:chain-report:{head.sequence}:{head.head_hash}"
        report: ChainReport | None = cache.get(key)
        if report is None:
            report = verify_chain(use_cache=False)
            cache.set(key, report, CACHE_SECONDS)
        return report
    entries = ChainEntry.objects.select_related("work").order_by("sequence").iterator(chunk_size=500)
    return verify_entries(
        entries,
        head_hash=head.head_hash if head else GENESIS_HASH,
        head_sequence=head.sequence if head else 0,
    )
