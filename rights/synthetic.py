"""Synthetic media with structure, for the demo data, the tests and ``bench/copyright.py``: images and videos
made of gradients, shapes, textures, moving objects and noise (never flat colours), and the transformed copies
an infringer would make of them (re-encode, resize, crop, mirror, logo overlay, trim, a clip inside a longer
video). Everything is generated from a seed, nothing is downloaded.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

Frame = np.ndarray  # H × W × 3 uint8, RGB


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(0, 256, 3))
    return r, g, b


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A two-colour gradient at a random angle plus a few soft blobs (low-frequency structure)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    t = (x * math.cos(angle) + y * math.sin(angle)) / max(width, height)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    c1, c2 = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
    img = c1[None, None, :] * (1 - t[..., None]) + c2[None, None, :] * t[..., None]
    for _ in range(int(rng.integers(2, 6))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.1, 0.4) * max(width, height)
        weight = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2))[..., None]
        img = img * (1 - 0.6 * weight) + np.array(_colour(rng), np.float32) * 0.6 * weight
    return img


def _shapes(rng: np.random.Generator, image: Any, count: int) -> None:
    from PIL import ImageDraw

    draw = ImageDraw.Draw(image)
    width, height = image.size
    for _ in range(count):
        kind = int(rng.integers(0, 4))
        x0, y0 = float(rng.uniform(-0.1, 1.0) * width), float(rng.uniform(-0.1, 1.0) * height)
        w, h = float(rng.uniform(0.05, 0.4) * width), float(rng.uniform(0.05, 0.4) * height)
        fill = _colour(rng)
        if kind == 0:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=fill)
        elif kind == 1:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=fill)
        elif kind == 2:
            points = [
                (float(x0 + rng.uniform(0, w)), float(y0 + rng.uniform(0, h)))
                for _ in range(int(rng.integers(3, 7)))
            ]
            draw.polygon(points, fill=fill)
        else:
            draw.line(
                [x0, y0, x0 + w * float(rng.choice([-1, 1])), y0 + h],
                fill=fill,
                width=int(rng.integers(2, 8)),
            )


def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Stripes or a checkerboard patch, so some regions carry high-frequency detail."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    period = rng.uniform(4, 16)
    angle = rng.uniform(0, math.pi)
    wave = np.sin((x * math.cos(angle) + y * math.sin(angle)) * 2 * math.pi / period)
    return (wave * rng.uniform(10, 30)).astype(np.float32)


def image(seed: int, width: int = 480, height: int = 360) -> Frame:
    """One structured still picture."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = _background(rng, width, height)
    picture = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    _shapes(rng, picture, int(rng.integers(8, 16)))
    arr = np.asarray(picture).astype(np.float32)
    mask = np.zeros((height, width, 1), np.float32)
    x0, y0 = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
    mask[y0 : y0 + height // 3, x0 : x0 + width // 3] = 1
    arr += _texture(rng, width, height)[..., None] * mask
    arr += rng.normal(0, 3, arr.shape)
    return np.clip(arr, 0, 255).astype(np.uint8)


@dataclass
class _Scene:
    layer: np.ndarray  # the static picture, larger than the frame (the camera pans across it)
    pan: tuple[float, float]  # pixels per second
    movers: list[tuple[tuple[float, float], tuple[float, float], float, tuple[int, int, int], int]]


def _scene(rng: np.random.Generator, width: int, height: int) -> _Scene:
    from PIL import Image

    big_w, big_h = int(width * 1.3), int(height * 1.3)
    base = _background(rng, big_w, big_h)
    picture = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    _shapes(rng, picture, int(rng.integers(8, 16)))
    layer = np.asarray(picture).astype(np.float32)
    mask = np.zeros((big_h, big_w, 1), np.float32)
    x0, y0 = int(rng.integers(0, big_w // 2)), int(rng.integers(0, big_h // 2))
    mask[y0 : y0 + big_h // 3, x0 : x0 + big_w // 3] = 1
    layer = np.clip(layer + _texture(rng, big_w, big_h)[..., None] * mask, 0, 255).astype(np.uint8)
    movers = []
    for _ in range(int(rng.integers(2, 5))):
        start = (float(rng.uniform(0, width)), float(rng.uniform(0, height)))
        speed = (float(rng.uniform(-0.15, 0.15) * width), float(rng.uniform(-0.15, 0.15) * height))
        size = float(rng.uniform(0.06, 0.16) * min(width, height) * 2)
        movers.append((start, speed, size, _colour(rng), int(rng.integers(0, 2))))
    pan = (float(rng.uniform(-0.02, 0.02) * width), float(rng.uniform(-0.02, 0.02) * height))
    return _Scene(layer=layer, pan=pan, movers=movers)


def video_frames(
    seed: int, *, seconds: float, fps: int = 24, width: int = 320, height: int = 180, scene_s: float = 6.0
) -> Iterator[Frame]:
    """A video as RGB frames: scenes of ~``scene_s`` seconds (random length) with a slow camera pan over a
    structured picture, objects moving across it and sensor-like noise."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    total = round(seconds * fps)
    scene = _scene(rng, width, height)
    scene_start = 0
    scene_len = int(fps * rng.uniform(0.6, 1.4) * scene_s)
    margin_x, margin_y = scene.layer.shape[1] - width, scene.layer.shape[0] - height
    for i in range(total):
        if i - scene_start >= scene_len:
            scene = _scene(rng, width, height)
            scene_start = i
            scene_len = int(fps * rng.uniform(0.6, 1.4) * scene_s)
        t = (i - scene_start) / fps
        ox = int(np.clip(margin_x / 2 + scene.pan[0] * t, 0, margin_x))
        oy = int(np.clip(margin_y / 2 + scene.pan[1] * t, 0, margin_y))
        picture = Image.fromarray(scene.layer[oy : oy + height, ox : ox + width])
        draw = ImageDraw.Draw(picture)
        for (sx, sy), (vx, vy), size, colour, kind in scene.movers:
            x = (sx + vx * t) % (width + size) - size / 2
            y = (sy + vy * t) % (height + size) - size / 2
            box = [x, y, x + size, y + size * 0.7]
            (draw.ellipse if kind else draw.rectangle)(box, fill=colour)
        arr = np.asarray(picture).astype(np.int16)
        arr += rng.integers(-4, 5, arr.shape, dtype=np.int16)
        yield np.clip(arr, 0, 255).astype(np.uint8)


def encode_video(
    frames: Iterator[Frame] | list[Frame],
    out: str | IO[bytes],
    *,
    fps: int = 24,
    codec: str = "libx264",
    crf: int = 23,
    bitrate: int | None = None,
    container_format: str = "mp4",
    preset: str = "veryfast",
) -> None:
    """Encode RGB frames (all the same size, even width and height) with PyAV."""
    import av

    container = av.open(out, mode="w", format=container_format)
    try:
        stream: Any = None
        for arr in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=fps)
                stream.height, stream.width = arr.shape[0], arr.shape[1]
                stream.pix_fmt = "yuv420p"
                if codec == "libx264":
                    stream.options = {"crf": str(crf), "preset": preset}
                elif bitrate:
                    stream.bit_rate = bitrate
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    finally:
        container.close()


def video_bytes(
    seed: int, *, seconds: float, fps: int = 24, width: int = 320, height: int = 180, preset: str = "veryfast"
) -> bytes:
    buffer = io.BytesIO()
    frames = video_frames(seed, seconds=seconds, fps=fps, width=width, height=height)
    encode_video(frames, buffer, fps=fps, preset=preset)
    return buffer.getvalue()


def image_bytes(
    seed: int, *, width: int = 480, height: int = 360, fmt: str = "PNG", quality: int = 90
) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image(seed, width, height)).save(buffer, format=fmt, quality=quality)
    return buffer.getvalue()


def decode_frames(source: str | IO[bytes]) -> tuple[list[Frame], int]:
    """All frames of a video as RGB arrays, and its frame rate (rounded)."""
    import av
    from av.video.reformatter import VideoReformatter

    if hasattr(source, "seek"):
        source.seek(0)
    container = av.open(source, mode="r")
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = round(float(stream.average_rate or 24))
        scaler = VideoReformatter()
        frames = [
            scaler.reformat(f, width=f.width, height=f.height, format="rgb24").to_ndarray()
            for f in container.decode(stream)
        ]
        return frames, fps
    finally:
        container.close()


# -- transformations an infringer applies --------------------------------------------------------------------------
def _even(n: int) -> int:
    return max(2, n - n % 2)


def resize(arr: Frame, factor: float) -> Frame:
    from PIL import Image

    h, w = arr.shape[:2]
    size = (_even(int(w * factor)), _even(int(h * factor)))
    return np.asarray(Image.fromarray(arr).resize(size, Image.Resampling.BILINEAR))


def crop(arr: Frame, keep: float, fx: float, fy: float) -> Frame:
    """Keep ``keep`` of the width and of the height; ``fx``/``fy`` in [0, 1] place the window."""
    h, w = arr.shape[:2]
    cw, ch = _even(int(w * keep)), _even(int(h * keep))
    x0, y0 = int((w - cw) * fx), int((h - ch) * fy)
    return np.ascontiguousarray(arr[y0 : y0 + ch, x0 : x0 + cw])


def mirror(arr: Frame) -> Frame:
    return np.ascontiguousarray(arr[:, ::-1])


@functools.lru_cache(maxsize=16)
def _logo_layer(
    width: int, height: int, text: str
) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]:
    from PIL import Image, ImageDraw

    bw, bh = max(2, int(width * 0.16)), max(2, int(height * 0.09))
    x0, y0 = width - bw - int(width * 0.03), int(height * 0.04)
    layer = Image.new("RGBA", (bw, bh), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    draw.rounded_rectangle([0, 0, bw - 1, bh - 1], radius=max(2, bh // 4), fill=(255, 255, 255, 160))
    draw.text((bw * 0.12, bh * 0.25), text, fill=(200, 20, 20, 255))
    rgba = np.asarray(layer).astype(np.float32)
    return (x0, y0, bw, bh), rgba[..., :3], rgba[..., 3:] / 255.0


def overlay_logo(arr: Frame, text: str = "LOGO") -> Frame:
    """A semi-opaque watermark (a box with text) in the top-right corner, 16 % of the width and 9 % of the
    height — the size of a platform logo with an account name."""
    (x0, y0, bw, bh), colour, alpha = _logo_layer(arr.shape[1], arr.shape[0], text)
    out = arr.copy()
    region = out[y0 : y0 + bh, x0 : x0 + bw].astype(np.float32)
    out[y0 : y0 + bh, x0 : x0 + bw] = (region * (1 - alpha) + colour * alpha).astype(np.uint8)
    return out


FrameOp = Callable[[Frame], Frame]


def transform_video(
    source: str | IO[bytes],
    out: str | IO[bytes],
    *,
    op: FrameOp | None = None,
    start_s: float = 0.0,
    seconds: float | None = None,
    codec: str = "libx264",
    crf: int = 23,
    bitrate: int | None = None,
    before: list[Frame] | None = None,
    after: list[Frame] | None = None,
    preset: str = "veryfast",
) -> None:
    """Re-encode ``source`` with ``op`` applied to every frame, optionally only ``seconds`` from ``start_s``
    and with other frames (already the output size) before and after it."""
    frames, fps = decode_frames(source)
    first = int(start_s * fps)
    last = len(frames) if seconds is None else min(len(frames), first + int(seconds * fps))
    body = [op(f) if op else f for f in frames[first:last]]
    encode_video(
        [*(before or []), *body, *(after or [])],
        out,
        fps=fps,
        codec=codec,
        crf=crf,
        bitrate=bitrate,
        preset=preset,
    )


def transform_image(data: bytes, op: FrameOp | None, *, fmt: str = "JPEG", quality: int = 85) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as src:
        arr = np.asarray(src.convert("RGB"))
    buffer = io.BytesIO()
    Image.fromarray(op(arr) if op else arr).save(buffer, format=fmt, quality=quality)
    return buffer.getvalue()
