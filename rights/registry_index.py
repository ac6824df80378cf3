"""The registry's fingerprints as one in-process FAISS index, kept up to date from the database.

Each process (web worker, task worker) builds the index on first use from the ``Frame`` rows of registered
works and afterwards adds only works registered since, found through the chain: chain entries commit in
sequence order (each append holds the chain-head lock until it commits), so "sequence greater than the last
one indexed" never misses a registration. Works are never removed from the chain; a match is reported only
for works still registered (checked against the database when matches are stored).

Memory: 32 bytes per hash plus ~19 bytes of label arrays; a million hashes ≈ 50 MB.
"""

from __future__ import annotations

import threading

import numpy as np

from rights.fingerprints import HASH_BYTES
from rights.matching import KIND_IMAGE, KIND_VIDEO, FrameIndex
from rights.models import ChainEntry, Frame, MediaKind

_lock = threading.Lock()
_index: FrameIndex | None = None
_last_sequence = 0
_last_hash = ""
BATCH = 2000  # works per database round trip


def _load(index: FrameIndex, work_ids: list[int], kinds: dict[int, str]) -> None:
    rows = (
        Frame.objects.filter(work_id__in=work_ids)
        .order_by("work_id", "position_ms", "transform")
        .values_list("work_id", "position_ms", "transform", "hash")
    )
    data = list(rows.iterator(chunk_size=20000))
    if not data:
        return
    work = np.fromiter((r[0] for r in data), np.int64, len(data))
    index.add(
        work_ids=work,
        kinds=np.array([KIND_VIDEO if kinds[w] == MediaKind.VIDEO else KIND_IMAGE for w in work], np.int8),
        positions=np.fromiter((r[1] for r in data), np.int64, len(data)),
        transforms=np.fromiter((r[2] for r in data), np.int8, len(data)),
        hashes=np.frombuffer(b"".join(bytes(r[3]) for r in data), np.uint8).reshape(len(data), HASH_BYTES),
    )


def current() -> FrameIndex:
    """The index with every registered work, refreshed with the works registered since the last call. If
    the last indexed entry is no longer in the database as it was (another database, a restore), the index is
    rebuilt from scratch."""
    global _index, _last_sequence, _last_hash
    with _lock:
        if _index is not None and _last_sequence:
            stored = ChainEntry.objects.filter(sequence=_last_sequence).values_list("entry_hash", flat=True)
            if list(stored) != [_last_hash]:
                _index = None
        if _index is None:
            _index = FrameIndex()
            _last_sequence, _last_hash = 0, ""
        while True:
            entries = list(
                ChainEntry.objects.filter(sequence__gt=_last_sequence)
                .order_by("sequence")
                .values_list("sequence", "work_id", "work__media_kind", "entry_hash")[:BATCH]
            )
            if not entries:
                break
            _load(_index, [e[1] for e in entries], {e[1]: e[2] for e in entries})
            _last_sequence, _last_hash = entries[-1][0], entries[-1][3]
        return _index


def reset() -> None:
    """Forget the index (tests switch databases; the next ``current()`` rebuilds it)."""
    global _index, _last_sequence, _last_hash
    with _lock:
        _index = None
        _last_sequence, _last_hash = 0, ""
