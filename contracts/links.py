"""Links other apps put next to their documents (no import of contracts models needed): the one-click review
page for a marketplace order attachment or an event's investment term sheet."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

SOURCE_ATTACHMENT = "marketplace.attachment"
SOURCE_TERM_SHEET = "events.intent"


def attachment_review_url(attachment: Any) -> str:
    """``/contracts/review/from-file/?source=marketplace.attachment&id=<pk>``"""
    return f"{reverse('contracts:review_from_file')}?source={SOURCE_ATTACHMENT}&id={attachment.pk}"


def term_sheet_review_url(intent: Any) -> str:
    return f"{reverse('contracts:review_from_file')}?source={SOURCE_TERM_SHEET}&id={intent.pk}"
