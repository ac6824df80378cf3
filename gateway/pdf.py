"""The monthly consumption statement (词元额度使用证明) as PDF: an HTML template rendered by WeasyPrint with
Noto Sans CJK SC (Debian ``fonts-noto-cjk``), like the site statement (``communities.pdf``). It is evidence
for Chinese subsidy authorities, so it is always rendered in Chinese, whatever the issuer's UI language."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from communities.pdf import qr_data_uri

if TYPE_CHECKING:
    from gateway.models import ConsumptionStatement

PDF_LANGUAGE = "zh-hans"


def verification_url(code: str) -> str:
    return settings.OPCHUB_PUBLIC_URL + reverse("quota:statement_verify", args=[code])


def render_statement_html(statement: ConsumptionStatement) -> str:
    url = verification_url(statement.code)
    with translation.override(PDF_LANGUAGE):
        return render_to_string(
            "gateway/statement_pdf.html",
            {"statement": statement, "facts": statement.facts, "verify_url": url, "qr": qr_data_uri(url)},
        )


def render_statement_pdf(statement: ConsumptionStatement) -> bytes:
    import weasyprint

    html = render_statement_html(statement)
    return weasyprint.HTML(string=html, base_url=settings.OPCHUB_PUBLIC_URL + "/").write_pdf()
