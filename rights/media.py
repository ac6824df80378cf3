"""Checks of an uploaded work or suspected copy before anything is stored: which kind of media it is (by its
content, not its name), whether it decodes, size and duration limits, and its SHA-256.

Images: JPEG, PNG, WebP or GIF, fully decoded with Pillow (a truncated file is refused). Videos: MP4/MOV,
WebM/MKV, AVI, FLV or MPEG-TS containers whose first frame decodes with PyAV. Anything else is refused with a
localized message naming what is accepted; a file that looks like a supported format but does not decode is
called damaged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from core.uploads import IMAGE_FORMATS
from rights.fingerprints import MediaError, probe_video
from rights.models import MediaKind

VIDEO_CONTAINERS = {
    "mov,mp4,m4a,3gp,3g2,mj2": "MP4",
    "matroska,webm": "WebM/MKV",
    "avi": "AVI",
    "flv": "FLV",
    "mpegts": "MPEG-TS",
}
DEFAULT_MAX_VIDEO_BYTES = 500 * 1024 * 1024
DEFAULT_MAX_VIDEO_SECONDS = 2 * 3600
MAX_IMAGE_PIXELS = 80_000_000


def max_image_bytes() -> int:
    return int(getattr(settings, "RIGHTS_MAX_IMAGE_BYTES", settings.OPCHUB_MAX_UPLOAD_BYTES))


def max_video_bytes() -> int:
    return int(getattr(settings, "RIGHTS_MAX_VIDEO_BYTES", DEFAULT_MAX_VIDEO_BYTES))


def max_video_seconds() -> int:
    return int(getattr(settings, "RIGHTS_MAX_VIDEO_SECONDS", DEFAULT_MAX_VIDEO_SECONDS))


@dataclass(frozen=True)
class Inspected:
    media_kind: str
    file_format: str
    sha256: str
    size: int
    width: int | None
    height: int | None
    duration_ms: int | None


def _sha256(upload: IO[bytes]) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in iter(lambda: upload.read(1024 * 1024), b""):
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _looks_like_video(head: bytes) -> bool:
    return (
        head[4:8] == b"ftyp"  # MP4 / MOV / 3GP
        or head[:4] == b"\x1a\x45\xdf\xa3"  # Matroska / WebM
        or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
        or head[:3] == b"FLV"
        or (len(head) > 188 and head[0] == 0x47 and head[188] == 0x47)  # MPEG-TS sync bytes
        or head[4:8] in (b"moov", b"mdat", b"wide", b"free")  # QuickTime without ftyp
    )


def _looks_like_image(head: bytes) -> bool:
    return (
        head[:3] == b"\xff\xd8\xff"
        or head[:8] == b"\x89PNG\r\n\x1a\n"
        or head[:6] in (b"GIF87a", b"GIF89a")
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    )


def unsupported_message() -> str:
    return _(
        "This file type is not supported. Upload an image (JPEG, PNG, WebP or GIF) or a video "
        "(MP4, MOV, WebM, MKV, AVI, FLV or MPEG-TS)."
    )


def damaged_message() -> str:
    return _("The file could not be decoded; it seems to be damaged or incomplete. Nothing was saved.")


def _too_large(size: int, limit: int) -> ValidationError:
    return ValidationError(
        _("The file is too large (%(size)s); the limit is %(limit)s.")
        % {"size": filesizeformat(size), "limit": filesizeformat(limit)},
        code="too_large",
    )


def inspect(upload: Any) -> Inspected:
    """Identify and check an uploaded file (a Django ``UploadedFile`` or any binary file object with
    ``size``). Raises ``ValidationError`` with a localized message; reads the file but stores nothing."""
    size = int(getattr(upload, "size", 0) or 0)
    if size == 0:
        raise ValidationError(_("The file is empty."), code="empty")
    upload.seek(0)
    head = upload.read(512)
    upload.seek(0)
    if _looks_like_image(head):
        return _inspect_image(upload, size)
    if _looks_like_video(head):
        return _inspect_video(upload, size)
    raise ValidationError(unsupported_message(), code="unsupported")


def _complete_image(upload: Any, size: int, fmt: str) -> bool:
    """Whether the file ends the way a whole image of its format ends. Pillow alone cannot tell once
    WeasyPrint has been imported: it sets ``ImageFile.LOAD_TRUNCATED_IMAGES = True`` for the whole process,
    and a truncated image then "loads" with the missing part blank."""
    upload.seek(max(0, size - 4096))
    tail = upload.read()
    upload.seek(0)
    head = upload.read(12)
    upload.seek(0)
    if fmt == "PNG":
        return b"IEND" in tail
    if fmt == "JPEG":
        return b"\xff\xd9" in tail
    if fmt == "GIF":
        return tail.rstrip(b"\x00").endswith(b"\x3b")
    if fmt == "WEBP":
        return int.from_bytes(head[4:8], "little") + 8 <= size
    return True


def _inspect_image(upload: Any, size: int) -> Inspected:
    from PIL import Image, UnidentifiedImageError

    if size > max_image_bytes():
        raise _too_large(size, max_image_bytes())
    try:
        with Image.open(upload) as image:
            fmt = image.format or ""
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ValidationError(_("The image has too many pixels."), code="too_large")
            image.load()  # decodes everything: a truncated file fails here
            width, height = image.size
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationError(damaged_message(), code="damaged") from None
    finally:
        upload.seek(0)
    if fmt not in IMAGE_FORMATS:
        raise ValidationError(unsupported_message(), code="unsupported")
    if not _complete_image(upload, size, fmt):
        raise ValidationError(damaged_message(), code="damaged")
    return Inspected(
        media_kind=MediaKind.IMAGE,
        file_format=fmt,
        sha256=_sha256(upload),
        size=size,
        width=width,
        height=height,
        duration_ms=None,
    )


def _source(upload: Any) -> Any:
    """A path for PyAV when the upload was spooled to disk, else the file object."""
    path = getattr(upload, "temporary_file_path", None)
    return path() if callable(path) else upload


def _inspect_video(upload: Any, size: int) -> Inspected:
    if size > max_video_bytes():
        raise _too_large(size, max_video_bytes())
    try:
        facts = probe_video(_source(upload), max_duration_s=max_video_seconds())
    except MediaError as exc:
        if exc.code == "too_long":
            raise ValidationError(
                _("The video is too long; the limit is %(minutes)d minutes.")
                % {"minutes": max_video_seconds() // 60},
                code="too_long",
            ) from None
        if exc.code == "no_video":
            raise ValidationError(
                _("This file has no video track. Upload an image or a video."), code="no_video"
            ) from None
        raise ValidationError(damaged_message(), code="damaged") from None
    finally:
        upload.seek(0)
    label = VIDEO_CONTAINERS.get(facts["format"])
    if label is None:
        raise ValidationError(unsupported_message(), code="unsupported")
    return Inspected(
        media_kind=MediaKind.VIDEO,
        file_format=f"{label}/{facts['codec']}",
        sha256=_sha256(upload),
        size=size,
        width=facts["width"],
        height=facts["height"],
        duration_ms=facts["duration_ms"],
    )


def media_error_message(exc: MediaError) -> str:
    """A stored file that failed during processing (after the upload checks passed)."""
    if exc.code == "no_video":
        return _("This file has no video track.")
    return damaged_message()
