"""Upload checks: kind by content, decodability, limits; localized messages."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import translation

from rights import media, synthetic
from rights.tests.helpers import image, upload, video


def _inspect(data: bytes, name: str = "f") -> media.Inspected:
    return media.inspect(upload(data, name))


def test_png_jpeg_and_mp4_are_identified_by_content_not_name() -> None:
    png = _inspect(image(), "looks-like.mp4")
    assert (png.media_kind, png.file_format, png.width, png.height) == ("image", "PNG", 480, 360)
    jpeg = _inspect(synthetic.image_bytes(7, fmt="JPEG"), "x.png")
    assert jpeg.file_format == "JPEG"
    mp4 = _inspect(video(), "clip.png")
    assert mp4.media_kind == "video" and mp4.file_format.startswith("MP4/")
    assert 11_900 <= (mp4.duration_ms or 0) <= 12_100
    assert len(mp4.sha256) == 64


def test_webm_is_accepted() -> None:
    out = io.BytesIO()
    synthetic.encode_video(
        synthetic.video_frames(3, seconds=2), out, codec="libvpx", container_format="webm", bitrate=300_000
    )
    assert _inspect(out.getvalue()).file_format.startswith("WebM/MKV/")


def _code(data: bytes) -> str:
    with pytest.raises(ValidationError) as exc:
        _inspect(data)
    return exc.value.code or ""


def test_unsupported_damaged_and_empty_files_are_refused() -> None:
    assert _code(b"%PDF-1.7 not a picture") == "unsupported"
    assert _code("纯文本".encode() * 100) == "unsupported"
    assert _code(image()[:300]) == "damaged"  # truncated PNG
    assert _code(video()[:2000]) == "damaged"  # truncated MP4 (no index)
    assert _code(b"\x1a\x45\xdf\xa3" + b"\x00" * 600) == "damaged"
    assert _code(b"") == "empty"


def test_messages_are_localized() -> None:
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        _inspect(b"plain text file")
    assert "not supported" in exc.value.messages[0]
    with translation.override("en"):
        with pytest.raises(ValidationError) as exc:
            _inspect(video()[:2000])
        assert exc.value.messages[0] == media.damaged_message()


@override_settings(RIGHTS_MAX_VIDEO_BYTES=1000, RIGHTS_MAX_IMAGE_BYTES=1000)
def test_size_limits() -> None:
    assert _code(video()) == "too_large"
    assert _code(image()) == "too_large"


@override_settings(RIGHTS_MAX_VIDEO_SECONDS=5)
def test_duration_limit() -> None:
    assert _code(video()) == "too_long"


def test_audio_only_file_has_no_video_track() -> None:
    import av
    import numpy as np

    out = io.BytesIO()
    container = av.open(out, mode="w", format="mp4")
    stream = container.add_stream("aac", rate=16000)
    for i in range(20):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        frame.pts = i * 1024
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    assert _code(out.getvalue()) == "no_video"


def test_truncated_images_are_refused_even_after_weasyprint_is_imported() -> None:
    import weasyprint  # noqa: F401  (sets PIL's LOAD_TRUNCATED_IMAGES for the whole process)
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES
    for data in (image(), synthetic.image_bytes(8, fmt="JPEG"), synthetic.image_bytes(9, fmt="GIF")):
        assert _code(data[: len(data) // 2]) == "damaged"
        assert _inspect(data).media_kind == "image"
