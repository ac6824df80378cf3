"""The review report as PDF: an HTML template rendered by WeasyPrint with Noto Sans CJK SC (Debian
``fonts-noto-cjk``), in the language of the person who asks for it."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string

from contracts.models import Review


def render_review_html(review: Review) -> str:
    return render_to_string(
        "contracts/review_pdf.html", {"review": review, "findings": list(review.findings.all())}
    )


def render_review_pdf(review: Review) -> bytes:
    import weasyprint

    return weasyprint.HTML(
        string=render_review_html(review), base_url=settings.OPCHUB_PUBLIC_URL + "/"
    ).write_pdf()
