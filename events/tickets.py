"""Signed ticket codes for check-in.

A ticket code is the registration's random code (10 characters) plus an HMAC tag of it (8 base-32
characters, keyed by ``SECRET_KEY``): ``K7PX3M9QAB-H4T2QZ7M``. The QR code on the ticket encodes the check-in
URL ``/events/checkin/<ticket code>/``; the door staff either scan it (the phone opens that URL) or type the
code (or paste the scanned URL) into the event's check-in page. A code with a wrong tag is refused before any
lookup, so codes cannot be guessed or altered.
"""

from __future__ import annotations

import base64
import re

from django.utils.crypto import constant_time_compare, salted_hmac

SALT = "opchub.events.ticket"
TAG_LENGTH = 8
_PATTERN = re.compile(r"([A-HJ-NP-Z2-9]{10})-?([A-Z2-7]{" + str(TAG_LENGTH) + "})")


def _tag(code: str) -> str:
    digest = salted_hmac(SALT, code, algorithm="sha256").digest()
    return base64.b32encode(digest).decode("ascii")[:TAG_LENGTH]


def sign(code: str) -> str:
    """The ticket code printed and encoded in the QR image."""
    return f"{code}-{_tag(code)}"


def parse(text: str) -> tuple[str | None, bool]:
    """(registration code, tag valid) from what was typed or scanned: a bare ticket code, with or without the
    dash, any case and spacing, or a URL ending in it. ``(None, False)`` when no code is recognisable."""
    cleaned = re.sub(r"\s+", "", str(text or ""))[:500].upper()
    matches = _PATTERN.findall(cleaned)
    if not matches:
        return None, False
    code, tag = matches[-1]
    return code, constant_time_compare(tag, _tag(code))
