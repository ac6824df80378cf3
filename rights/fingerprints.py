"""Perceptual fingerprints of images and videos: PDQ hashes (Meta's 256-bit perceptual hash, ``pdqhash``) of
still images and of one frame per second of a video decoded with PyAV.

Pure functions, no Django: the registry (``rights.services``), the matcher (``rights.matching``) and the
benchmark share them.

- Every picture is first scaled (squashed) to ``HASH_SIZE`` × ``HASH_SIZE`` pixels with an area filter. PDQ
  reduces to 64 × 64 internally anyway, so nothing it looks at is lost, and hashing costs ~1 ms whatever the
  resolution of the original (a 720p frame hashed directly costs ~25 ms).
- ``image_fingerprint`` returns the hashes of all eight dihedral transforms (rotations and flips) in PDQ's
  order (``DIHEDRAL``); the registry stores all eight, so a query image is hashed once, as it is.
- ``video_fingerprint`` samples one frame per ``step_ms`` (1 s for the registry; queries sample twice as
  often so that a copy cut at an arbitrary moment still has a frame within a quarter second of each
  registered one). Each sample keeps its quality score (0–100); frames below ``MIN_QUALITY`` (flat or
  nearly flat pictures such as fades and black frames, whose hashes are noise) are dropped.
- A hash is 32 bytes (``numpy.packbits`` of PDQ's 256 bits), the layout FAISS binary indexes use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

HASH_BYTES = 32
HASH_BITS = 256
HASH_SIZE = 256
MIN_QUALITY = 50
# PDQ's dihedral order (pdqhash.compute_dihedral): original, rotated 90°, 180°, 270°, flipped vertically,
# mirrored (flipped horizontally), transposed, anti-transposed.
DIHEDRAL = ("original", "rot90", "rot180", "rot270", "flip_v", "mirror", "transpose", "antitranspose")
ORIGINAL = 0
MIRROR = 5
# The registry also hashes the centre of every picture (90 % of its width and height, i.e. 5 % cut from each
# side): PDQ is not robust to crops — a 1 % shift already flips ~30 of 256 bits — so a copy with its borders
# cut away is found through this variant (transform code + 8).
CROP_KEEP = 0.9
CROPPED = 8
REGISTRY_STEP_MS = 1000
QUERY_STEP_MS = 500


class MediaError(ValueError):
    """The file could not be decoded as the kind of media it claims to be. ``code`` names the problem
    (``unreadable``, ``no_video``, ``too_long``, ``too_large``, ``empty``) for a localized message."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


@dataclass(frozen=True)
class FrameHash:
    position_ms: int
    hash: bytes
    quality: int
    transform: int = ORIGINAL  # dihedral index + 8 × crop variant (see ``transform_label``)


@dataclass
class ImageFingerprint:
    width: int
    height: int
    quality: int
    frames: list[FrameHash]  # the registry's: 8 dihedral × (full, centre crop)

    @property
    def original(self) -> bytes:
        return self.frames[ORIGINAL].hash


@dataclass
class VideoFingerprint:
    width: int
    height: int
    duration_ms: int
    sampled: int  # frames sampled, before dropping low-quality ones
    kept: int = 0
    frames: list[FrameHash] = field(default_factory=list)


def transform_label(transform: int) -> str:
    """e.g. ``mirror`` or ``mirror+crop90``."""
    dihedral, variant = DIHEDRAL[transform % 8], transform // 8
    return dihedral if variant == 0 else f"{dihedral}+crop{int(CROP_KEEP * 100)}"


def pack(bits: np.ndarray) -> bytes:
    return np.packbits(bits.astype(np.uint8)).tobytes()


def hamming(a: bytes, b: bytes) -> int:
    return int(np.unpackbits(np.bitwise_xor(np.frombuffer(a, np.uint8), np.frombuffer(b, np.uint8))).sum())


def hashes_digest(frames: list[FrameHash]) -> str:
    """SHA-256 over the stored fingerprints (position, transform, quality, hash), committed to by the chain."""
    digest = hashlib.sha256()
    for f in sorted(frames, key=lambda f: (f.position_ms, f.transform)):
        digest.update(f"{f.position_ms}:{f.transform}:{f.quality}:".encode())
        digest.update(f.hash)
    return digest.hexdigest()


def _pdq(rgb: np.ndarray) -> tuple[bytes, int]:
    import pdqhash

    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return pack(bits), int(quality)


# The eight dihedral transforms of a square array, in DIHEDRAL order. They are applied to the pixels and
# each hashed: the hashes ``pdqhash.compute_dihedral`` derives from one DCT are 20–40 bits away from the hash
# of the really transformed picture once it has been resampled, too far for a reliable match.
_DIHEDRAL_OPS = (
    lambda a: a,
    lambda a: np.rot90(a, 1),
    lambda a: np.rot90(a, 2),
    lambda a: np.rot90(a, 3),
    lambda a: a[::-1],
    lambda a: a[:, ::-1],
    lambda a: np.transpose(a, (1, 0, 2)),
    lambda a: np.rot90(a, 2).transpose(1, 0, 2),
)


def _dihedral_hashes(rgb: np.ndarray) -> tuple[list[bytes], int]:
    hashes = []
    quality = 0
    for number, op in enumerate(_DIHEDRAL_OPS):
        digest, q = _pdq(op(rgb))
        hashes.append(digest)
        if number == 0:
            quality = q
    return hashes, quality


# -- images ----------------------------------------------------------------------------------------------------
def image_fingerprint_from_pil(image: Any) -> ImageFingerprint:
    from PIL import Image

    width, height = image.size
    rgb = image.convert("RGB")
    full, quality = _dihedral_hashes(np.asarray(rgb.resize((HASH_SIZE, HASH_SIZE), Image.Resampling.BOX)))
    cut = (1 - CROP_KEEP) / 2
    box = (width * cut, height * cut, width * (1 - cut), height * (1 - cut))
    centre, _q = _dihedral_hashes(
        np.asarray(rgb.resize((HASH_SIZE, HASH_SIZE), Image.Resampling.BOX, box=box))
    )
    frames = [FrameHash(0, h, quality, t) for t, h in enumerate(full)]
    frames += [FrameHash(0, h, quality, CROPPED + t) for t, h in enumerate(centre)]
    return ImageFingerprint(width=width, height=height, quality=quality, frames=frames)


def image_query_hash(source: str | IO[bytes]) -> tuple[bytes, int]:
    """The PDQ hash (and quality) of an image as it is: what a query image is searched with."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(source) as image:
            image.seek(0)
            image.load()
            rgb = image.convert("RGB").resize((HASH_SIZE, HASH_SIZE), Image.Resampling.BOX)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MediaError("unreadable", str(exc)[:200]) from None
    return _pdq(np.asarray(rgb))


def image_fingerprint(source: str | IO[bytes]) -> ImageFingerprint:
    """The eight dihedral PDQ hashes of an image file (first frame of an animated one)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(source) as image:
            image.seek(0)
            image.load()
            return image_fingerprint_from_pil(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MediaError("unreadable", str(exc)[:200]) from None


# -- videos ----------------------------------------------------------------------------------------------------
def _open(source: str | IO[bytes]) -> Any:
    import av

    if hasattr(source, "seek"):
        source.seek(0)
    try:
        return av.open(source, mode="r", metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise MediaError("unreadable", str(exc)[:200]) from None


def probe_video(source: str | IO[bytes], *, max_duration_s: int | None = None) -> dict[str, Any]:
    """Open the container, check it has a video stream, decode its first frame. Returns the format name,
    codec, size and duration; raises ``MediaError`` for anything that is not a decodable video."""
    import av

    container = _open(source)
    try:
        streams = container.streams.video
        if not streams:
            raise MediaError("no_video")
        stream = streams[0]
        duration_ms = _duration_ms(container, stream)
        if max_duration_s is not None and duration_ms > max_duration_s * 1000:
            raise MediaError("too_long", str(duration_ms))
        try:
            first = next(container.decode(stream), None)
        except (av.FFmpegError, ValueError, EOFError) as exc:
            raise MediaError("unreadable", str(exc)[:200]) from None
        if first is None:
            raise MediaError("empty")
        return {
            "format": container.format.name,
            "codec": stream.codec_context.name,
            "width": first.width,
            "height": first.height,
            "duration_ms": duration_ms,
        }
    finally:
        container.close()


def _duration_ms(container: Any, stream: Any) -> int:
    if stream.duration is not None and stream.time_base is not None:
        return int(stream.duration * stream.time_base * 1000)
    if container.duration is not None:
        return int(container.duration / 1000)  # AV_TIME_BASE is microseconds
    return 0


def _sampled_frames(container: Any, stream: Any, step_ms: int, max_ms: int) -> Iterator[tuple[int, Any]]:
    """(position in ms, frame) for the first decoded frame at or after each multiple of ``step_ms``."""
    import av

    next_ms = 0
    start: float | None = None
    try:
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            if start is None:
                start = frame.time
            position = round((frame.time - start) * 1000)
            if position > max_ms:
                return
            if position + 1 >= next_ms:  # 1 ms of slack for rounded timestamps
                yield position, frame
                next_ms = (position // step_ms + 1) * step_ms
    except (av.FFmpegError, ValueError, EOFError):
        # A damaged tail: keep what decoded. The caller refuses a video where nothing decoded.
        return


def video_fingerprint(
    source: str | IO[bytes],
    *,
    query: bool = False,
    step_ms: int | None = None,
    max_duration_s: int = 3 * 3600,
    min_quality: int = MIN_QUALITY,
) -> VideoFingerprint:
    """PDQ hashes of one frame per ``step_ms``; frames below ``min_quality`` are dropped.

    For the registry (default: every ``REGISTRY_STEP_MS``) each kept frame gives four hashes: as it is,
    mirrored, its centre crop and the mirrored centre crop. A query (``query=True``, every ``QUERY_STEP_MS``)
    gives one hash a frame, and only reference frames are decoded (``skip_frame=NONREF``: about half the
    decoding work; the sample then lands within a frame or two of its moment)."""
    from av.video.reformatter import VideoReformatter

    step = step_ms or (QUERY_STEP_MS if query else REGISTRY_STEP_MS)
    container = _open(source)
    try:
        if not container.streams.video:
            raise MediaError("no_video")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if query:
            stream.codec_context.skip_frame = "NONREF"
        # Reformatters keep their scaling context between frames (~0.2 ms a frame instead of ~2 ms).
        full_scaler, wide_scaler = VideoReformatter(), VideoReformatter()
        wide = round(HASH_SIZE / CROP_KEEP)
        margin = (wide - HASH_SIZE) // 2
        result = VideoFingerprint(width=0, height=0, duration_ms=0, sampled=0)
        last = 0
        for position, frame in _sampled_frames(container, stream, step, max_duration_s * 1000):
            if not result.width:
                result.width, result.height = frame.width, frame.height
            rgb = full_scaler.reformat(
                frame, width=HASH_SIZE, height=HASH_SIZE, format="rgb24", interpolation="AREA"
            ).to_ndarray()
            digest, quality = _pdq(rgb)
            result.sampled += 1
            last = position
            if quality < min_quality:
                continue
            result.kept += 1
            result.frames.append(FrameHash(position, digest, quality, ORIGINAL))
            if query:
                continue
            result.frames.append(FrameHash(position, _pdq(rgb[:, ::-1])[0], quality, MIRROR))
            big = wide_scaler.reformat(
                frame, width=wide, height=wide, format="rgb24", interpolation="AREA"
            ).to_ndarray()
            centre = big[margin : margin + HASH_SIZE, margin : margin + HASH_SIZE]
            result.frames.append(FrameHash(position, _pdq(centre)[0], quality, CROPPED))
            result.frames.append(FrameHash(position, _pdq(centre[:, ::-1])[0], quality, CROPPED + MIRROR))
        if result.sampled == 0:
            raise MediaError("empty")
        result.duration_ms = max(_duration_ms(container, stream), last)
        return result
    finally:
        container.close()
