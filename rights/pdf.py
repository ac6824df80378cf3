"""PDFs of the copyright registry, rendered by WeasyPrint with the Noto Sans CJK SC font like the site
statements (``communities.pdf``): the registration certificate (with its verification code and a QR code of
the public verification page) and the evidence report of a match. Both are official-looking documents for
Chinese readers, so they are rendered in Chinese whatever the language of the person asking."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from communities.pdf import qr_data_uri
from rights.matching import DEFAULT_PARAMS

if TYPE_CHECKING:
    from rights.models import Match, Work

PDF_LANGUAGE = "zh-hans"


def verification_url(code: str) -> str:
    return settings.OPCHUB_PUBLIC_URL + reverse("rights:verify", args=[code])


def _render(template: str, context: dict[str, Any]) -> bytes:
    import weasyprint

    with translation.override(PDF_LANGUAGE):
        html = render_to_string(template, context)
    return weasyprint.HTML(string=html, base_url=settings.OPCHUB_PUBLIC_URL + "/").write_pdf()


def render_certificate_pdf(work: Work) -> bytes:
    url = verification_url(work.code)
    return _render(
        "rights/certificate_pdf.html",
        {
            "work": work,
            "entry": work.chain_entry,
            "verify_url": url,
            "qr": qr_data_uri(url),
            "registered_at": timezone.localtime(work.registered_at) if work.registered_at else None,
        },
    )


def render_evidence_pdf(match: Match) -> bytes:
    url = verification_url(match.work.code)
    return _render(
        "rights/evidence_pdf.html",
        {
            "match": match,
            "work": match.work,
            "suspect": match.suspect,
            "entry": getattr(match.work, "chain_entry", None),
            "verify_url": url,
            "qr": qr_data_uri(url),
            "params": DEFAULT_PARAMS,
            "generated_at": timezone.localtime(),
        },
    )
