"""The order-backed credit profile PDF (订单信用档案): an HTML template rendered by WeasyPrint with the Noto Sans
CJK SC font, always in Chinese (it goes to a Chinese bank), with the verification code and a QR code of the
public verification URL — the same pattern as the site statement (``communities.pdf``)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from communities.pdf import qr_data_uri

if TYPE_CHECKING:
    from trust.models import CreditExport

PDF_LANGUAGE = "zh-hans"


def credit_verification_url(code: str) -> str:
    return settings.OPCHUB_PUBLIC_URL + reverse("trust:credit_verify", args=[code])


def _datetime(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def render_credit_html(export: CreditExport) -> str:
    url = credit_verification_url(export.code)
    with translation.override(PDF_LANGUAGE):
        return render_to_string(
            "trust/credit_pdf.html",
            {
                "export": export,
                "facts": export.facts,
                "as_of": _datetime(export.facts.get("as_of")),
                "granted_at": _datetime((export.facts.get("consent") or {}).get("granted_at")),
                "verify_url": url,
                "qr": qr_data_uri(url),
            },
        )


def render_credit_pdf(export: CreditExport) -> bytes:
    import weasyprint

    html = render_credit_html(export)
    return weasyprint.HTML(string=html, base_url=settings.OPCHUB_PUBLIC_URL + "/").write_pdf()
