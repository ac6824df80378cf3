"""The 场地情况说明 PDF: an HTML template rendered by WeasyPrint with the Noto Sans CJK SC font (Debian
``fonts-noto-cjk``). The document is for Chinese authorities, so it is always rendered in Chinese, whatever
the language of the person issuing it."""

from __future__ import annotations

import base64
import datetime as dt
import io
from typing import TYPE_CHECKING

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

if TYPE_CHECKING:
    from communities.models import SiteStatement

PDF_LANGUAGE = "zh-hans"


def verification_url(code: str) -> str:
    """The public page where anyone can check a statement's code."""
    return settings.OPCHUB_PUBLIC_URL + reverse("communities:statement_verify", args=[code])


def qr_data_uri(text: str) -> str:
    """A QR code of ``text`` as an SVG data URI (no image library needed)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(
        text,
        image_factory=qrcode.image.svg.SvgPathImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=10,
        border=2,
    )
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _date(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def render_statement_html(statement: SiteStatement) -> str:
    url = verification_url(statement.code)
    facts = statement.facts
    dates = {
        "start": _date(facts.get("residency_start")),
        "end": _date(facts.get("residency_end")),
        "issued": _date(facts.get("issue_date")),
    }
    with translation.override(PDF_LANGUAGE):
        return render_to_string(
            "communities/statement_pdf.html",
            {
                "statement": statement,
                "facts": facts,
                "dates": dates,
                "verify_url": url,
                "qr": qr_data_uri(url),
            },
        )


def render_statement_pdf(statement: SiteStatement) -> bytes:
    import weasyprint

    html = render_statement_html(statement)
    return weasyprint.HTML(string=html, base_url=settings.OPCHUB_PUBLIC_URL + "/").write_pdf()
