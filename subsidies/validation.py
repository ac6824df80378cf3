"""Checks of invoice evidence shared by forms, services and the API: 发票代码/发票号码, the seller's 统一社会信用代码
(python-stdnum, via ``organisations.validation``) and the uploaded invoice file (size and real content type)."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from core.uploads import check_size
from organisations.validation import clean_uscc

MAX_AMOUNT = Decimal("100000000.00")
_DIGITS = re.compile(r"^\d+$")


def clean_invoice(code: str, number: str) -> tuple[str, str, str]:
    """(发票代码, 发票号码, platform-wide key). A paper or electronic VAT invoice has a 10- or 12-digit code and an
    8-digit number; a fully digital invoice (数电票, also railway e-tickets) a 20-digit number and no code."""
    code = re.sub(r"\s+", "", code or "")
    number = re.sub(r"\s+", "", number or "")
    if not number:
        raise ValidationError(_("Enter the invoice number (发票号码)."), code="invoice_number")
    if not _DIGITS.match(number) or (code and not _DIGITS.match(code)):
        raise ValidationError(_("Invoice codes and numbers consist of digits only."), code="invoice_digits")
    if len(number) == 20:
        if code:
            raise ValidationError(
                _("A fully digital invoice (20-digit number) has no invoice code; leave the code empty."),
                code="invoice_code",
            )
    elif len(number) == 8:
        if len(code) not in (10, 12):
            raise ValidationError(
                _("An invoice with an 8-digit number needs its 10- or 12-digit invoice code (发票代码)."),
                code="invoice_code",
            )
    else:
        raise ValidationError(
            _("The invoice number has 8 digits (with an invoice code) or 20 digits (fully digital invoice)."),
            code="invoice_number",
        )
    return code, number, f"{code}:{number}"


def clean_seller_uscc(raw: str) -> str:
    return clean_uscc((raw or "").strip().upper())


def clean_amount(raw: object) -> Decimal:
    try:
        value = Decimal(str(raw).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(_("Enter an amount in yuan, e.g. 1280.00."), code="amount") from None
    if not value.is_finite() or value != value.quantize(Decimal("0.01")):
        raise ValidationError(_("Amounts are exact to the fen (two decimal places)."), code="amount_fen")
    if value <= 0:
        raise ValidationError(_("The amount must be positive."), code="amount_positive")
    if value > MAX_AMOUNT:
        raise ValidationError(_("The amount is too large."), code="amount_large")
    return value.quantize(Decimal("0.01"))


EVIDENCE_KINDS = {
    "pdf": "application/pdf",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "ofd": "application/ofd",
}


def check_evidence_file(upload: UploadedFile) -> tuple[str, str]:
    """Accept an invoice as PDF, OFD (the 数电票 format), JPEG or PNG, judged by content, not by name.
    Returns (kind, SHA-256 of the content)."""
    check_size(upload)
    upload.seek(0)
    head = upload.read(8)
    upload.seek(0)
    name = (upload.name or "").lower()
    if head.startswith(b"%PDF-"):
        kind = "pdf"
    elif head.startswith(b"\xff\xd8\xff"):
        kind = "jpeg"
    elif head.startswith(b"\x89PNG\r\n\x1a\n"):
        kind = "png"
    elif head.startswith(b"PK\x03\x04") and name.endswith(".ofd"):
        kind = "ofd"
    else:
        raise ValidationError(
            _("Upload the invoice as PDF, OFD, JPEG or PNG; this file is none of them."), code="evidence_type"
        )
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return kind, digest.hexdigest()
