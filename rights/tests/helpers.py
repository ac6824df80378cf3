"""Shared helpers of the rights tests: synthetic media (cached per process), uploads and registered works."""

from __future__ import annotations

import datetime as dt
import functools
import io
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from rights import services, synthetic
from rights.models import Work


@functools.cache
def video(seed: int = 1, seconds: float = 12) -> bytes:
    return synthetic.video_bytes(seed, seconds=seconds)


@functools.cache
def image(seed: int = 101) -> bytes:
    return synthetic.image_bytes(seed)


@functools.cache
def mirrored_clip(seed: int = 1, seconds: float = 12, start: float = 3.0, length: float = 6.0) -> bytes:
    """A mirrored, watermarked excerpt of ``video(seed, seconds)`` inside 4 s of unrelated footage."""
    other = list(synthetic.video_frames(seed + 7000, seconds=4))
    out = io.BytesIO()
    synthetic.transform_video(
        io.BytesIO(video(seed, seconds)),
        out,
        op=lambda f: synthetic.overlay_logo(synthetic.mirror(f)),
        start_s=start,
        seconds=length,
        before=other[:48],
        after=other[48:],
    )
    return out.getvalue()


def upload(data: bytes, name: str = "work.mp4", content_type: str = "video/mp4") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


STATEMENT: dict[str, Any] = {
    "category": "short_drama",
    "authors": "刘十万",
    "created_on": dt.date(2026, 3, 1),
    "first_published_on": dt.date(2026, 4, 1),
    "published_where": "抖音 @十万光年",
    "purpose": "短剧平台发布",
    "process": "AI 生成分镜，人工剪辑与调色",
    "ai_tools": "可灵 2.1",
    "prompts": "星门开启，废土城市",
    "originality": "独立创作",
}


def register(
    holder: Any,
    actor: Any,
    data: bytes,
    *,
    name: str = "work.mp4",
    title: str = "《星门》",
    process: bool = True,
    **extra: Any,
) -> Work:
    """Register ``data`` and, unless ``process=False``, run the processing task's service inline (without
    the certificate PDF unless ``certificate`` is passed)."""
    certificate = extra.pop("certificate", False)
    kind = "image/png" if name.endswith(".png") else "video/mp4"
    work = services.register_work(
        holder=holder, actor=actor, upload=upload(data, name, kind), title=title, **{**STATEMENT, **extra}
    )
    if process:
        work = services.process_work(work_id=work.pk, certificate=certificate)
    return work
