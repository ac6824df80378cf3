"""Validators for Chinese registration numbers (python-stdnum) shared by forms, services and the API."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError as StdnumError


def clean_uscc(raw: str) -> str:
    """统一社会信用代码: 18 characters with a check character (GB 32100-2015)."""
    try:
        return str(uscc.validate(raw))
    except StdnumError:
        raise ValidationError(
            _("This is not a valid unified social credit code (18 characters, check character must match)."),
            code="uscc",
        ) from None


def clean_resident_id(raw: str) -> str:
    """居民身份证号码: 18 digits (last may be X), valid birth date and check digit."""
    try:
        return str(ric.validate(raw))
    except StdnumError:
        raise ValidationError(
            _("This is not a valid resident identity card number (18 characters, check digit must match)."),
            code="ric",
        ) from None


def mask_resident_id(number: str) -> str:
    """Keep the first 3 and last 4 characters; the rest is never stored."""
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def resident_id_digest(number: str) -> str:
    """Keyed digest so the same person can be recognised without storing the number."""
    return hmac.new(settings.SECRET_KEY.encode(), number.encode(), hashlib.sha256).hexdigest()
