"""Benchmark of the copyright registry's infringement detection (issue 8) — accuracy and speed, in process.

    .venv/bin/python bench/copyright.py [--videos 12] [--images 40] [--distractor-videos 30]
                                        [--distractor-images 200] [--scale 1000000] [--workers 2] [--seed 8]

1. Generates its own media (``rights.synthetic``; nothing is downloaded): structured synthetic videos (30 s,
   320×180, 24 fps, H.264: scenes of gradients, shapes, textures and a slow camera pan with moving objects
   and noise) and images (480×360), plus one 60 s video for the scale part.
2. Registers every source through ``rights.services`` (the registry's own path: upload checks, PDQ
   fingerprints, the chain) in a throw-away SQLite database (or DATABASE_URL: point it at a scratch database).
3. Makes the copies an infringer makes: for videos re-encode (MPEG-4 Part 2 at 250 kbit/s), resize (½),
   crop 10 % (90 % of width and height kept, window centred ±1 % of jitter), mirror, logo overlay, a 10 s
   trimmed excerpt, and the same 10 s excerpt inside a 40 s video of other footage; for images JPEG q=30,
   resize (½), crop 10 %, mirror, logo. Plus unrelated distractors from the same generator (other seeds).
4. Queries every copy and distractor with ``rights.services.find_in_registry`` (fingerprint the file, range
   search over the whole registry's FAISS index, temporal alignment), timing each call
   (``copyright-registry:`` line: recall, false-positive rate and median query time against the registry's
   own hashes).
   - recall: copies whose best match is their source work;
   - false_positive_rate: distractors for which anything was reported.
5. Scale: the registry's hashes plus uniformly random 256-bit hashes up to ``--scale`` (default 1,000,000)
   in one index; every copy and distractor is searched again against it, and a 60 s copy (watermarked,
   re-encoded) of the 60 s registered video is queried end to end (decode + fingerprint + search +
   alignment) five times. Target: recall ≥ 0.95 at a false-positive rate ≤ 0.01, the 60 s query ≤ 1 s.

Prints detail lines and then exactly
    copyright: works=… frames_indexed=… recall=… false_positive_rate=… query_ms_p50=…
measured at the scale of the target: frames_indexed is the size of that index (the registry's own hashes —
4 per registered second of video: as is, mirrored, centre crop, mirrored centre crop; 16 per image: eight
rotations/flips × full and centre — are on the ``registry:`` line), recall and false_positive_rate are those
of every copy and distractor against it, query_ms_p50 is the median of the 60 s video query end to end.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rights import synthetic

FPS = 24
PRESET = "ultrafast"  # x264 preset of the generated media (generation time, not what is measured)
VIDEO_SECONDS = 30
LONG_SECONDS = 60


@dataclass
class Item:
    path: str
    kind: str  # "video" / "image"
    source: str | None  # key of the registered work, None for a distractor
    transform: str


def _write(folder: str, name: str, data: bytes) -> str:
    path = os.path.join(folder, name)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def make_video_set(args: tuple[str, int]) -> tuple[str, list[Item]]:
    """One registered video and its seven copies."""
    folder, seed = args
    rng = np.random.default_rng(seed + 1)
    key = f"v{seed}"
    source = synthetic.video_bytes(seed, seconds=VIDEO_SECONDS, fps=FPS, preset=PRESET)
    src_path = _write(folder, f"{key}.mp4", source)
    items: list[Item] = []

    def copy(name: str, **kwargs: object) -> None:
        out = io.BytesIO()
        synthetic.transform_video(io.BytesIO(source), out, preset=PRESET, **kwargs)  # type: ignore[arg-type]
        items.append(Item(_write(folder, f"{key}-{name}.mp4", out.getvalue()), "video", key, name))

    fx, fy = 0.5 + rng.uniform(-0.1, 0.1), 0.5 + rng.uniform(-0.1, 0.1)
    copy("reencode", codec="mpeg4", bitrate=250_000)
    copy("resize", op=lambda a: synthetic.resize(a, 0.5))
    copy("crop10", op=lambda a: synthetic.crop(a, 0.9, fx, fy))
    copy("mirror", op=synthetic.mirror)
    copy("logo", op=synthetic.overlay_logo)
    start = float(rng.uniform(2, VIDEO_SECONDS - 12))
    copy("trim10s", start_s=start, seconds=10)
    other = list(synthetic.video_frames(seed + 500_000, seconds=30, fps=FPS))
    copy("clip_in_40s", start_s=start, seconds=10, before=other[: 15 * FPS], after=other[15 * FPS :])
    return src_path, items


def make_long_video(args: tuple[str, int]) -> tuple[str, str]:
    """The 60 s registered video and its 60 s copy (logo, re-encoded harder) for the scale part."""
    folder, seed = args
    source = synthetic.video_bytes(seed, seconds=LONG_SECONDS, fps=FPS, preset=PRESET)
    out = io.BytesIO()
    synthetic.transform_video(io.BytesIO(source), out, op=synthetic.overlay_logo, crf=30, preset="veryfast")
    return _write(folder, f"long{seed}.mp4", source), _write(folder, f"long{seed}-copy.mp4", out.getvalue())


def make_image_set(args: tuple[str, int]) -> tuple[str, list[Item]]:
    folder, seed = args
    rng = np.random.default_rng(seed + 1)
    key = f"i{seed}"
    source = synthetic.image_bytes(seed)
    src_path = _write(folder, f"{key}.png", source)
    fx, fy = 0.5 + rng.uniform(-0.1, 0.1), 0.5 + rng.uniform(-0.1, 0.1)
    copies = {
        "jpeg30": synthetic.transform_image(source, None, quality=30),
        "resize": synthetic.transform_image(source, lambda a: synthetic.resize(a, 0.5)),
        "crop10": synthetic.transform_image(source, lambda a: synthetic.crop(a, 0.9, fx, fy)),
        "mirror": synthetic.transform_image(source, synthetic.mirror),
        "logo": synthetic.transform_image(source, synthetic.overlay_logo),
    }
    items = [Item(_write(folder, f"{key}-{n}.jpg", d), "image", key, n) for n, d in copies.items()]
    return src_path, items


def make_distractor(args: tuple[str, int, str]) -> Item:
    folder, seed, kind = args
    if kind == "video":
        data = synthetic.video_bytes(seed, seconds=15, fps=FPS, preset=PRESET)
        return Item(_write(folder, f"d{seed}.mp4", data), "video", None, "distractor")
    data = synthetic.image_bytes(seed, fmt="JPEG", quality=80)
    return Item(_write(folder, f"d{seed}.jpg", data), "image", None, "distractor")


def setup_django(var_dir: str) -> None:
    os.environ.setdefault("OPCHUB_VAR_DIR", var_dir)
    os.makedirs(os.path.join(var_dir, "staticfiles"), exist_ok=True)
    os.environ.setdefault("OPCHUB_TESTING", "1")  # generated secret key, tasks inline
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opchub.settings")
    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings

    # Registration is timed without the certificate PDF: the benchmark calls the processing service itself
    # instead of letting the (inline) task backend run it with the certificate after each commit.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    call_command("migrate", verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--distractor-videos", type=int, default=30)
    parser.add_argument("--distractor-images", type=int, default=200)
    parser.add_argument("--scale", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    started = time.perf_counter()
    var_dir = tempfile.mkdtemp(prefix="opchub-bench-rights-")
    media_dir = os.path.join(var_dir, "bench-media")
    os.makedirs(media_dir)

    # 1. media (video seeds 1000s, image seeds 2000s, distractors 9000s+: no two sets share a seed)
    base = args.seed * 100_000
    with ProcessPoolExecutor(args.workers) as pool:
        video_sets = list(
            pool.map(make_video_set, [(media_dir, base + 1000 + i) for i in range(args.videos)])
        )
        long_source, long_copy = pool.submit(make_long_video, (media_dir, base + 5000)).result()
        image_sets = list(
            pool.map(make_image_set, [(media_dir, base + 20_000 + i) for i in range(args.images)])
        )
        distractors = list(
            pool.map(
                make_distractor,
                [(media_dir, base + 90_000 + i, "video") for i in range(args.distractor_videos)]
                + [(media_dir, base + 95_000 + i, "image") for i in range(args.distractor_images)],
            )
        )
    generated = time.perf_counter()
    print(
        f"media: {args.videos} videos x 7 copies, {args.images} images x 5 copies, "
        f"{args.distractor_videos}+{args.distractor_images} distractors, 1 long video "
        f"generated in {generated - started:.0f} s",
        flush=True,
    )

    # 2. register through the registry's services
    setup_django(var_dir)
    from django.core.files.uploadedfile import SimpleUploadedFile

    from core.testing import make_org, make_user
    from organisations.capabilities import OrgKind
    from rights import matching, registry_index, services
    from rights.fingerprints import HASH_BYTES, video_fingerprint
    from rights.models import Frame, Work, WorkStatus
    from rights.tests.helpers import STATEMENT

    suffix = str(int(time.time()))
    user = make_user(f"bench-rights-{suffix}")
    holder = make_org(OrgKind.OPC, "bench OPC", user)
    keys: dict[int, str] = {}
    sources = [(p, "video") for p, _items in video_sets] + [(p, "image") for p, _items in image_sets]
    sources.append((long_source, "video"))
    for path, _kind in sources:
        data = Path(path).read_bytes()
        name = os.path.basename(path)
        work = services.register_work(
            holder=holder,
            actor=user,
            upload=SimpleUploadedFile(name, data),
            title=name,
            **STATEMENT,
        )
        work = services.process_work(work_id=work.pk, certificate=False)
        assert work.status == WorkStatus.REGISTERED, work.failure_reason
        keys[work.pk] = name.rsplit(".", 1)[0]
    registered = time.perf_counter()
    index = registry_index.current()
    print(
        f"registry: {Work.objects.count()} works, {Frame.objects.count()} fingerprint rows, "
        f"index {len(index)} hashes, registered in {registered - generated:.0f} s",
        flush=True,
    )

    # 3./4. queries: what ``services.find_in_registry`` does (fingerprint the file, search the registry),
    # with the query fingerprint kept for the scale part
    def run(item: Item) -> tuple[list[matching.Candidate], matching.Query, float]:
        with open(item.path, "rb") as handle:
            t0 = time.perf_counter()
            query, _info = services.query_fingerprint(handle, item.kind)
            candidates = matching.match(registry_index.current(), query)
            return candidates, query, (time.perf_counter() - t0) * 1000

    def describe(candidates: list[matching.Candidate]) -> list[tuple[str | None, int, int]]:
        return [(keys.get(c.work_id), c.votes, c.min_distance) for c in candidates[:2]]

    positives = [item for _p, items in video_sets + image_sets for item in items]
    per_transform: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    wrong = 0
    times: dict[str, list[float]] = {"video": [], "image": []}
    misses = []
    queries: list[tuple[Item, matching.Query]] = []
    for item in positives:
        candidates, query, ms = run(item)
        times[item.kind].append(ms)
        queries.append((item, query))
        label = f"{item.kind}:{item.transform}"
        per_transform[label][1] += 1
        if candidates and keys.get(candidates[0].work_id) == item.source:
            per_transform[label][0] += 1
        else:
            misses.append((os.path.basename(item.path), describe(candidates)))
        wrong += sum(1 for c in candidates if keys.get(c.work_id) != item.source)
    false_positives = 0
    fp_detail = []
    for item in distractors:
        candidates, query, ms = run(item)
        times[item.kind].append(ms)
        queries.append((item, query))
        if candidates:
            false_positives += 1
            fp_detail.append((os.path.basename(item.path), describe(candidates)))
    recall = sum(v[0] for v in per_transform.values()) / max(1, len(positives))
    fpr = false_positives / max(1, len(distractors))
    all_times = times["video"] + times["image"]
    print(
        "recall by copy: " + " ".join(f"{k}={v[0]}/{v[1]}" for k, v in sorted(per_transform.items())),
        flush=True,
    )
    if misses:
        print(f"missed: {misses[:10]}")
    if fp_detail:
        print(f"false positives: {fp_detail[:10]}")
    print(
        f"queries: {len(positives)} copies, {len(distractors)} distractors, wrong-work matches on copies={wrong}; "
        f"video_ms_p50={statistics.median(times['video']):.0f} image_ms_p50={statistics.median(times['image']):.1f} "
        f"(queries took {time.perf_counter() - registered:.0f} s)",
        flush=True,
    )
    print(
        f"copyright-registry: frames_indexed={len(index)} recall={recall:.3f} false_positive_rate={fpr:.3f} "
        f"query_ms_p50={statistics.median(all_times):.0f} (every copy and distractor, end to end)",
        flush=True,
    )

    # 5. scale: the registry's hashes plus random ones, a 60 s query end to end
    scaled = time.perf_counter()
    real = len(index)
    filler = max(0, args.scale - real)
    rng = np.random.default_rng(args.seed)
    big = matching.FrameIndex()
    big.add(
        work_ids=index.work_ids,
        kinds=index.kinds,
        positions=index.positions,
        transforms=index.transforms,
        hashes=index.hashes(),
    )
    chunk = 250_000
    for start in range(0, filler, chunk):
        n = min(chunk, filler - start)
        big.add(
            work_ids=np.full(n, -1 - start // chunk, np.int64),  # random "works" that never align
            kinds=np.full(n, matching.KIND_VIDEO, np.int8),
            positions=rng.integers(0, 3_600_000, n),
            transforms=np.zeros(n, np.int8),
            hashes=rng.integers(0, 256, (n, HASH_BYTES), dtype=np.uint8),
        )
    built = time.perf_counter()
    # every query again, against the million hashes (videos: the multi-index hash path; images: exhaustive)
    scale_hits: dict[str, int] = defaultdict(int)
    scale_fp: dict[str, int] = defaultdict(int)
    scale_pos: dict[str, int] = defaultdict(int)
    scale_neg: dict[str, int] = defaultdict(int)
    for item, query in queries:
        candidates = matching.match(big, query)
        if item.source is None:
            scale_neg[item.kind] += 1
            scale_fp[item.kind] += bool(candidates)
        else:
            scale_pos[item.kind] += 1
            scale_hits[item.kind] += bool(candidates) and keys.get(candidates[0].work_id) == item.source
    scale_recall = sum(scale_hits.values()) / max(1, sum(scale_pos.values()))
    scale_fpr = sum(scale_fp.values()) / max(1, sum(scale_neg.values()))
    long_key = os.path.basename(long_source).rsplit(".", 1)[0]
    end_to_end, search_only = [], []
    found = True
    fingerprint = None
    for _ in range(5):
        with open(long_copy, "rb") as handle:
            t0 = time.perf_counter()
            fingerprint = video_fingerprint(handle, query=True)
            t1 = time.perf_counter()
            candidates = matching.match(big, matching.query_for_video(fingerprint.frames))
            t2 = time.perf_counter()
        end_to_end.append((t2 - t0) * 1000)
        search_only.append((t2 - t1) * 1000)
        found = found and bool(candidates) and keys.get(candidates[0].work_id) == long_key
    assert fingerprint is not None
    print(
        f"copyright-scale: indexed={len(big)} (real={real}, index built in {built - scaled:.0f} s) "
        f"video_recall={scale_hits['video']}/{scale_pos['video']} "
        f"image_recall={scale_hits['image']}/{scale_pos['image']} "
        f"false_positives={scale_fp['video']}/{scale_neg['video']} videos, "
        f"{scale_fp['image']}/{scale_neg['image']} images; "
        f"60 s query: query_ms_p50={statistics.median(end_to_end):.0f} "
        f"search_ms_p50={statistics.median(search_only):.0f} frames_searched={len(fingerprint.frames)} "
        f"found={found}",
        flush=True,
    )
    print(f"total {time.perf_counter() - started:.0f} s")
    # The summary is measured where the issue sets its target: the index at --scale hashes; recall and the
    # false-positive rate of every copy and distractor against it, and the 60 s video query end to end.
    print(
        f"copyright: works={len(keys)} frames_indexed={len(big)} recall={scale_recall:.3f} "
        f"false_positive_rate={scale_fpr:.3f} query_ms_p50={statistics.median(end_to_end):.0f}"
    )


if __name__ == "__main__":
    main()
