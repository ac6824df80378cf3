"""Mainland China mobile numbers: accept common spellings, store the 11-digit form."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def normalise_phone(raw: str) -> str:
    digits = re.sub(r"[\s\-()]", "", raw or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not _MOBILE.match(digits):
        raise ValidationError(
            _("Enter an 11-digit mainland China mobile number, e.g. 13800138000."), code="phone"
        )
    return digits


def looks_like_phone(raw: str) -> bool:
    return "@" not in (raw or "")
