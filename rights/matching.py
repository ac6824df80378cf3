"""Finding registered works in a suspected copy: a Hamming range search over every registered fingerprint
(a FAISS binary index), then temporal alignment of the frame hits. Pure numpy/FAISS, no Django: the registry
keeps one ``FrameIndex`` per process (``rights.registry_index``) and the benchmark builds its own.

How a query is decided
----------------------
1. Every query hash (an image: its own hash; a video: one frame every 250 ms and the mirror image of each)
   is looked up with ``range_search`` for all registered hashes within ``radius`` bits (of 256). Registered
   images carry all eight dihedral hashes, so a rotated or mirrored copy of an image is found by the plain
   query hash; a mirrored video is found by the mirrored query hashes.
2. Hits on a **registered video** vote for an offset (registered time − query time). A copy of a stretch of the
   work — re-encoded, resized, cropped, watermarked, trimmed, or cut into a longer video — lines up on one
   offset; unrelated frames that happen to look alike scatter. For each work and orientation the offset window
   (``offset_tolerance_ms`` wide) holding the most *distinct registered seconds* wins; ``min_votes`` of them
   (default 3 s of footage) make a match. Further windows with enough votes become further segments (a copy
   that reuses several parts of the work, possibly out of order).
3. Hits on a **registered image** match when the query is an image within ``image_radius``, or when at least
   ``min_image_votes`` distinct seconds of a query video show it.

The result lists each matched work with its segments (query and work timestamps, frame count, min/mean
distance), best first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rights.fingerprints import HASH_BITS, HASH_BYTES, ORIGINAL, FrameHash

KIND_IMAGE = 0
KIND_VIDEO = 1


@dataclass(frozen=True)
class Params:
    radius: int = 64  # per-frame Hamming radius for video frames
    image_radius: int = 72  # image ↔ image
    min_votes: int = 3  # distinct registered seconds on one offset
    min_image_votes: int = 3  # distinct query seconds showing a registered image
    offset_tolerance_ms: int = 750
    max_segments: int = 8
    segment_gap_ms: int = 3000


DEFAULT_PARAMS = Params()


@dataclass
class Segment:
    query_start_ms: int
    query_end_ms: int
    work_start_ms: int
    work_end_ms: int
    frames: int
    min_distance: int
    mean_distance: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "query_start_ms": self.query_start_ms,
            "query_end_ms": self.query_end_ms,
            "work_start_ms": self.work_start_ms,
            "work_end_ms": self.work_end_ms,
            "frames": self.frames,
            "min_distance": self.min_distance,
            "mean_distance": round(self.mean_distance, 1),
        }


@dataclass
class Candidate:
    work_id: int
    work_kind: int
    mirrored: bool
    votes: int
    min_distance: int
    mean_distance: float
    segments: list[Segment] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Higher is better: matched seconds, then closeness."""
        return self.votes + (HASH_BITS - self.mean_distance) / HASH_BITS


MULTIHASH_FROM = 200_000  # hashes; below this every search is exhaustive
MULTIHASH_TABLES = 16  # 16 substrings of 16 bits


class FrameIndex:
    """All registered hashes in a FAISS ``IndexBinaryFlat`` — exact, exhaustive Hamming search: 32 bytes a
    hash, ~1 ms per query hash per million hashes and core — with parallel arrays that map a FAISS label to
    (work, kind, position, transform).

    From ``MULTIHASH_FROM`` hashes on, the same hashes are also kept in an ``IndexBinaryMultiHash`` (multi-index
    hashing: 16 hash tables, one per 16-bit substring) that video queries use: a registered frame is a
    candidate when one of its 16 substrings equals the query's, and candidates are then checked against the
    radius. It touches a few hundred hashes per query instead of all of them (a 60 s query against 1M hashes
    in milliseconds instead of ~0.2–0.5 s), at the price of missing frame pairs whose differing bits hit all
    16 substrings — rare below ~40 bits, and a video copy needs only ``min_votes`` frames to line up.
    Images (one query hash) are always searched exhaustively."""

    def __init__(self, multihash_from: int = MULTIHASH_FROM) -> None:
        import faiss

        # One thread: a query is a few hundred hash lookups at most (the exhaustive search only runs below
        # MULTIHASH_FROM hashes), and OpenMP's thread hand-off costs more than it saves — on a busy machine
        # tens of milliseconds per search instead of a fraction of one.
        faiss.omp_set_num_threads(1)
        self.index = faiss.IndexBinaryFlat(HASH_BITS)
        self.multihash_from = multihash_from
        self.multihash: Any = None
        self.work_ids = np.empty(0, np.int64)
        self.kinds = np.empty(0, np.int8)
        self.positions = np.empty(0, np.int64)
        self.transforms = np.empty(0, np.int8)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(
        self,
        *,
        work_ids: np.ndarray,
        kinds: np.ndarray,
        positions: np.ndarray,
        transforms: np.ndarray,
        hashes: np.ndarray,
    ) -> None:
        hashes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, HASH_BYTES)
        if len(hashes) == 0:
            return
        self.index.add(hashes)
        if self.multihash is not None:
            self.multihash.add(hashes)
        elif len(self) >= self.multihash_from:
            import faiss

            self.multihash = faiss.IndexBinaryMultiHash(
                HASH_BITS, MULTIHASH_TABLES, HASH_BITS // MULTIHASH_TABLES
            )
            self.multihash.add(self.hashes())
        self.work_ids = np.concatenate([self.work_ids, np.asarray(work_ids, np.int64)])
        self.kinds = np.concatenate([self.kinds, np.asarray(kinds, np.int8)])
        self.positions = np.concatenate([self.positions, np.asarray(positions, np.int64)])
        self.transforms = np.concatenate([self.transforms, np.asarray(transforms, np.int8)])

    def hashes(self) -> np.ndarray:
        """All indexed hashes, (n, 32) uint8, in label order."""
        import faiss

        return faiss.vector_to_array(self.index.xb).reshape(-1, HASH_BYTES)  # type: ignore[attr-defined]

    def add_frames(self, work_id: int, kind: int, frames: list[FrameHash]) -> None:
        n = len(frames)
        self.add(
            work_ids=np.full(n, work_id),
            kinds=np.full(n, kind),
            positions=np.array([f.position_ms for f in frames], np.int64),
            transforms=np.array([f.transform for f in frames], np.int8),
            hashes=np.frombuffer(b"".join(f.hash for f in frames), np.uint8).reshape(n, HASH_BYTES),
        )

    def range_search(
        self, hashes: np.ndarray, radius: int, *, exact: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """FAISS range search: hits of query i are ``labels[lims[i]:lims[i+1]]`` with their distances
        (≤ ``radius``). ``exact=False`` allows the multi-index hash when there is one."""
        if len(self) == 0 or len(hashes) == 0:
            return np.zeros(len(hashes) + 1, np.int64), np.empty(0, np.int32), np.empty(0, np.int64)
        index = self.index if exact or self.multihash is None else self.multihash
        lims, distances, labels = index.range_search(np.ascontiguousarray(hashes, np.uint8), radius + 1)
        return lims, distances, labels


@dataclass
class Query:
    """What is searched: the query's hashes; for a video, each sampled frame as it is (transform 0) and
    mirrored (transform ``MIRROR``)."""

    is_video: bool
    frames: list[FrameHash]


def _hits(index: FrameIndex, frames: list[FrameHash], radius: int, exact: bool) -> list[tuple[int, int, int]]:
    """(query frame number, label, distance) for every hit."""
    if not frames:
        return []
    hashes = np.frombuffer(b"".join(f.hash for f in frames), np.uint8).reshape(len(frames), HASH_BYTES)
    lims, distances, labels = index.range_search(hashes, radius, exact=exact)
    out = []
    for q in range(len(frames)):
        for k in range(int(lims[q]), int(lims[q + 1])):
            out.append((q, int(labels[k]), int(distances[k])))
    return out


def _segments(pairs: list[tuple[int, int, int]], gap_ms: int) -> list[Segment]:
    """Runs of (query ms, work ms, distance) pairs, one per registered frame, split where the work time jumps
    by more than ``gap_ms``."""
    pairs = sorted(pairs, key=lambda p: p[1])
    runs: list[list[tuple[int, int, int]]] = []
    for pair in pairs:
        if runs and pair[1] - runs[-1][-1][1] <= gap_ms:
            runs[-1].append(pair)
        else:
            runs.append([pair])
    segments = []
    for run in runs:
        distances = [p[2] for p in run]
        segments.append(
            Segment(
                query_start_ms=min(p[0] for p in run),
                query_end_ms=max(p[0] for p in run),
                work_start_ms=run[0][1],
                work_end_ms=run[-1][1],
                frames=len(run),
                min_distance=min(distances),
                mean_distance=float(np.mean(distances)),
            )
        )
    return segments


def _align_video(hits: list[tuple[int, int, int]], params: Params) -> tuple[int, list[Segment], list[int]]:
    """Best offset windows for one (work, orientation): hits are (query ms, work ms, distance). Returns the
    number of distinct registered seconds matched on consistent offsets, the segments and their distances."""
    remaining = sorted(hits, key=lambda h: h[1] - h[0])
    segments: list[Segment] = []
    votes = 0
    distances: list[int] = []
    while remaining and len(segments) < params.max_segments:
        offsets = np.array([h[1] - h[0] for h in remaining], np.int64)
        best: tuple[int, int, int] = (0, 0, 0)  # (distinct work frames, start, end) in ``remaining``
        end = 0
        for start in range(len(remaining)):
            end = max(end, start)
            while end < len(remaining) and offsets[end] - offsets[start] <= params.offset_tolerance_ms:
                end += 1
            distinct = len({remaining[k][1] for k in range(start, end)})
            if distinct > best[0]:
                best = (distinct, start, end)
        if best[0] < params.min_votes:
            break
        window = remaining[best[1] : best[2]]
        per_work_frame: dict[int, tuple[int, int, int]] = {}
        for q_ms, w_ms, d in window:
            if w_ms not in per_work_frame or d < per_work_frame[w_ms][2]:
                per_work_frame[w_ms] = (q_ms, w_ms, d)
        pairs = list(per_work_frame.values())
        segments.extend(_segments(pairs, params.segment_gap_ms))
        votes += len(pairs)
        distances.extend(p[2] for p in pairs)
        used_work_frames = set(per_work_frame)
        # A registered second belongs to one window; query frames may not be reused either.
        used_query = {p[0] for p in window}
        remaining = [
            h
            for h in remaining[: best[1]] + remaining[best[2] :]
            if h[1] not in used_work_frames and h[0] not in used_query
        ]
    return votes, segments, distances


def _is_mirror(transform: int) -> bool:
    """Whether a registered hash shows the work mirrored (an odd number of flips)."""
    return transform % 8 in (4, 5, 6, 7)


def match(index: FrameIndex, query: Query, params: Params = DEFAULT_PARAMS) -> list[Candidate]:
    """The registered works found in ``query``, best first."""
    radius = params.radius if query.is_video else max(params.radius, params.image_radius)
    frames = query.frames
    # (work, mirrored) → hits on videos as (query ms, work ms, distance); on images: query ms → best distance
    video_hits: dict[tuple[int, bool], list[tuple[int, int, int]]] = defaultdict(list)
    image_hits: dict[tuple[int, bool], dict[int, int]] = defaultdict(dict)
    for q, label, distance in _hits(index, frames, radius, exact=not query.is_video):
        work = int(index.work_ids[label])
        mirrored = _is_mirror(int(index.transforms[label]))
        q_ms = frames[q].position_ms
        if index.kinds[label] == KIND_VIDEO:
            if distance <= params.radius:
                video_hits[(work, mirrored)].append((q_ms, int(index.positions[label]), distance))
        else:
            limit = params.radius if query.is_video else params.image_radius
            if distance <= limit:
                second = q_ms // 1000
                best = image_hits[(work, mirrored)].get(second)
                if best is None or distance < best:
                    image_hits[(work, mirrored)][second] = distance

    found: dict[int, Candidate] = {}

    def keep(candidate: Candidate) -> None:
        current = found.get(candidate.work_id)
        if current is None or candidate.score > current.score:
            found[candidate.work_id] = candidate

    for (work, mirrored), hits in video_hits.items():
        if not query.is_video:
            # An image query against a registered video: its best frame, if close enough.
            q_ms, w_ms, d = min(hits, key=lambda h: h[2])
            if d <= params.image_radius:
                keep(
                    Candidate(
                        work_id=work,
                        work_kind=KIND_VIDEO,
                        mirrored=mirrored,
                        votes=1,
                        min_distance=d,
                        mean_distance=float(d),
                        segments=[Segment(q_ms, q_ms, w_ms, w_ms, 1, d, float(d))],
                    )
                )
            continue
        votes, segments, distances = _align_video(hits, params)
        if votes:
            keep(
                Candidate(
                    work_id=work,
                    work_kind=KIND_VIDEO,
                    mirrored=mirrored,
                    votes=votes,
                    min_distance=min(distances),
                    mean_distance=float(np.mean(distances)),
                    segments=sorted(segments, key=lambda s: s.query_start_ms),
                )
            )
    for (work, mirrored), seconds in image_hits.items():
        needed = params.min_image_votes if query.is_video else 1
        if len(seconds) < needed:
            continue
        distances = list(seconds.values())
        first, last = min(seconds) * 1000, max(seconds) * 1000
        keep(
            Candidate(
                work_id=work,
                work_kind=KIND_IMAGE,
                mirrored=mirrored,
                votes=len(seconds),
                min_distance=min(distances),
                mean_distance=float(np.mean(distances)),
                segments=[
                    Segment(first, last, 0, 0, len(seconds), min(distances), float(np.mean(distances)))
                ],
            )
        )
    return sorted(found.values(), key=lambda c: -c.score)


def query_for_image(original_hash: bytes, quality: int = 100) -> Query:
    return Query(is_video=False, frames=[FrameHash(0, original_hash, quality, ORIGINAL)])


def query_for_video(frames: list[FrameHash]) -> Query:
    return Query(is_video=True, frames=frames)
