"""Upload checks shared by every form that takes a file: size limit and real content type (not the name)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

IMAGE_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}


def check_size(upload: UploadedFile, limit: int | None = None) -> None:
    limit = limit or settings.OPCHUB_MAX_UPLOAD_BYTES
    if upload.size is not None and upload.size > limit:
        raise ValidationError(
            _("The file is too large (%(size)s); the limit is %(limit)s.")
            % {"size": filesizeformat(upload.size), "limit": filesizeformat(limit)},
            code="too_large",
        )


def check_image(upload: UploadedFile) -> None:
    """Accept only real JPEG/PNG/WebP/GIF images, whatever the file is called."""
    from PIL import Image, UnidentifiedImageError

    check_size(upload)
    try:
        upload.seek(0)
        with Image.open(upload) as img:
            fmt = img.format
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ValidationError(
            _("This file is not an image we can read (JPEG, PNG, WebP or GIF)."), code="image"
        ) from None
    finally:
        upload.seek(0)
    if fmt not in IMAGE_FORMATS:
        raise ValidationError(_("Images must be JPEG, PNG, WebP or GIF."), code="image_format")
