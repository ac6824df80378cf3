"""PDQ fingerprints of images and videos, and the matcher on synthetic media (no database)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from rights import fingerprints as F
from rights import matching as M
from rights import synthetic as S
from rights.tests.helpers import image, mirrored_clip, video


def _hash(arr: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG")
    return F.image_query_hash(io.BytesIO(buffer.getvalue()))[0]


def test_image_registry_hashes_cover_rotations_flips_and_the_centre() -> None:
    from PIL import Image

    data = image()
    registry = F.image_fingerprint(io.BytesIO(data))
    assert len(registry.frames) == 16
    assert {f.transform for f in registry.frames} == set(range(16))
    assert registry.quality >= F.MIN_QUALITY
    arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    hashes = [f.hash for f in registry.frames]
    for copy in (S.mirror(arr), np.rot90(arr), arr[::-1], S.crop(arr, 0.9, 0.5, 0.5)):
        best = min(F.hamming(_hash(np.ascontiguousarray(copy)), h) for h in hashes)
        assert best <= 24
    unrelated = _hash(S.image(999))
    assert min(F.hamming(unrelated, h) for h in hashes) > 72


def test_video_is_sampled_once_a_second_with_four_registry_hashes_per_frame() -> None:
    fp = F.video_fingerprint(io.BytesIO(video()))
    assert fp.sampled == 12 and fp.kept == 12
    assert (fp.width, fp.height) == (320, 180)
    assert 11_900 <= fp.duration_ms <= 12_100
    positions = sorted({f.position_ms for f in fp.frames})
    assert positions == [1000 * i for i in range(12)]
    assert {f.transform for f in fp.frames} == {F.ORIGINAL, F.MIRROR, F.CROPPED, F.CROPPED + F.MIRROR}
    query = F.video_fingerprint(io.BytesIO(video()), query=True)
    assert len(query.frames) == query.kept and 20 <= query.kept <= 24  # twice a second, one hash each


def test_flat_frames_are_dropped_for_low_quality() -> None:
    flat = [np.full((180, 320, 3), 40 + i % 3, np.uint8) for i in range(24 * 3)]
    busy = list(S.video_frames(5, seconds=3))
    out = io.BytesIO()
    S.encode_video(flat + busy, out)
    fp = F.video_fingerprint(io.BytesIO(out.getvalue()))
    assert fp.sampled == 6
    assert fp.kept == 3  # the three black-ish seconds had no detail to hash
    assert min(f.position_ms for f in fp.frames) >= 3000


def test_garbage_is_a_media_error() -> None:
    with pytest.raises(F.MediaError):
        F.video_fingerprint(io.BytesIO(b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 4000))
    with pytest.raises(F.MediaError):
        F.image_fingerprint(io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50))


def _index() -> M.FrameIndex:
    index = M.FrameIndex()
    index.add_frames(1, M.KIND_VIDEO, F.video_fingerprint(io.BytesIO(video())).frames)
    index.add_frames(2, M.KIND_VIDEO, F.video_fingerprint(io.BytesIO(video(2))).frames)
    index.add_frames(3, M.KIND_IMAGE, F.image_fingerprint(io.BytesIO(image())).frames)
    return index


def test_a_mirrored_watermarked_clip_inside_other_footage_is_found_with_its_timestamps() -> None:
    query = M.query_for_video(F.video_fingerprint(io.BytesIO(mirrored_clip()), query=True).frames)
    found = M.match(_index(), query)
    assert [c.work_id for c in found] == [1]
    best = found[0]
    assert best.mirrored and best.votes >= M.DEFAULT_PARAMS.min_votes
    segment = best.segments[0]
    # the clip is seconds 3–9 of the work, shown from second 2 of the copy
    assert 1800 <= segment.query_start_ms <= 2600 and 6500 <= segment.query_end_ms <= 8100
    assert 2900 <= segment.work_start_ms <= 3600 and 7500 <= segment.work_end_ms <= 9100
    assert segment.work_start_ms - segment.query_start_ms == pytest.approx(1000, abs=600)
    assert segment.min_distance <= best.mean_distance <= M.DEFAULT_PARAMS.radius


def test_unrelated_video_and_image_find_nothing() -> None:
    index = _index()
    other = S.video_bytes(4242, seconds=8)
    assert M.match(index, M.query_for_video(F.video_fingerprint(io.BytesIO(other), query=True).frames)) == []
    digest, quality = F.image_query_hash(io.BytesIO(S.image_bytes(4343)))
    assert M.match(index, M.query_for_image(digest, quality)) == []


def test_image_copy_is_found_and_a_video_still_too() -> None:
    index = _index()
    jpeg = S.transform_image(image(), S.overlay_logo, quality=60)
    found = M.match(index, M.query_for_image(*F.image_query_hash(io.BytesIO(jpeg))))
    assert [c.work_id for c in found] == [3]
    frame = next(iter(S.video_frames(1, seconds=1)))
    still = M.match(index, M.query_for_image(_hash(frame)))
    assert still and still[0].work_id == 1 and still[0].segments[0].work_start_ms == 0


def test_multi_index_hash_finds_the_same_clip_among_many_random_hashes() -> None:
    index = M.FrameIndex(multihash_from=1000)
    index.add_frames(1, M.KIND_VIDEO, F.video_fingerprint(io.BytesIO(video())).frames)
    rng = np.random.default_rng(0)
    n = 5000
    index.add(
        work_ids=np.full(n, 99),
        kinds=np.full(n, M.KIND_VIDEO),
        positions=rng.integers(0, 10**6, n),
        transforms=np.zeros(n),
        hashes=rng.integers(0, 256, (n, F.HASH_BYTES), dtype=np.uint8),
    )
    assert index.multihash is not None and index.multihash.ntotal == len(index)
    query = M.query_for_video(F.video_fingerprint(io.BytesIO(mirrored_clip()), query=True).frames)
    assert [c.work_id for c in M.match(index, query)] == [1]


def test_alignment_needs_consistent_offsets() -> None:
    """Hits scattered over unrelated offsets never make a match; the same number in line do."""
    params = M.Params(min_votes=3)
    scattered = [(0, 5000, 10), (1000, 20000, 10), (2000, 1000, 10), (3000, 40000, 10)]
    assert M._align_video(scattered, params)[0] == 0
    aligned = [(0, 5000, 10), (1000, 6000, 12), (2000, 7000, 9), (9000, 30000, 40)]
    votes, segments, _distances = M._align_video(aligned, params)
    assert votes == 3 and len(segments) == 1
    assert (segments[0].query_start_ms, segments[0].work_end_ms, segments[0].min_distance) == (0, 7000, 9)
