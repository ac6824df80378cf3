"""Contract reviews: the only writes of the contracts app.

A review extracts the text (``contracts.review.extract``), runs the reviewer (``contracts.review.engine``) and
stores the text with its findings in one transaction, with an audit record. Anything that cannot be read raises
``ExtractionError`` (a ``DomainError`` with a message for the person) before anything is stored. The uploaded
file itself is not kept: only its name, SHA-256 and extracted text.

Documents that live elsewhere can be sent to review in one click by the parties to them:
- a ``marketplace.OrderAttachment``: the order's client and the OPCs that bid on it, entered its contest, were
  offered it directly or hold its contract;
- an ``events.InvestmentIntent`` term sheet: the OPC it concerns and the event's organiser.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from audit.services import audit_summary, record_audit
from contracts.models import Finding, Rating, Review, ReviewSource
from contracts.review import engine, extract
from contracts.review.extract import Extracted, ExtractionError
from contracts.review.rules import library
from core.errors import DomainError, NotFound, NotPermitted

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile

    from accounts.models import User
    from organisations.models import Organisation

TITLE_MAX = 200


def _title(title: str, fallback: str) -> str:
    title = " ".join((title or "").split())[:TITLE_MAX]
    if title:
        return title
    fallback = " ".join((fallback or "").split())
    return fallback[:TITLE_MAX] or _("Untitled contract")


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:60]
    return ""


@transaction.atomic
def _store(
    *,
    organisation: Organisation,
    actor: User | None,
    extracted: Extracted,
    title: str,
    source: str,
    digest: str,
    file_name: str = "",
    source_id: int | None = None,
) -> Review:
    result = engine.review(extracted.text)
    counts = result.counts()
    lib = library()
    review = Review.objects.create(
        organisation=organisation,
        created_by=actor if actor is not None and actor.is_authenticated else None,
        title=title,
        source=source,
        source_id=source_id,
        file_name=file_name[:200],
        file_kind=extracted.kind,
        sha256=digest,
        language=result.language,
        pages=extracted.pages,
        clause_count=len(result.clauses),
        text=extracted.text,
        rating=result.rating,
        high_count=counts["high"],
        medium_count=counts["medium"],
        low_count=counts["low"],
        contract_value=result.contract_value,
        rules_version=result.rules_version,
        model_version=result.model_version,
        seconds=round(result.seconds, 4),
    )
    findings = []
    for position, f in enumerate(result.findings, start=1):
        category = lib.categories[f.category]
        rule = lib.rule(f.rule_id) if f.source == engine.SOURCE_RULE else None
        texts = rule.texts if rule is not None else {}
        findings.append(
            Finding(
                review=review,
                position=position,
                category=f.category,
                severity=f.severity,
                source=f.source,
                rule_id=f.rule_id,
                confidence=f.confidence,
                clause_index=f.clause_index,
                clause_number=f.clause_number[:40],
                clause_heading=f.clause_heading[:300],
                clause_text=f.clause_text,
                start=f.start,
                end=f.end,
                cuad=category.cuad,
                title=texts.get("title") or category.title,
                explanation=texts.get("explanation") or category.explanation,
                fairer=texts.get("fairer") or category.fairer,
                basis=category.basis,
                detail=f.detail,
            )
        )
    Finding.objects.bulk_create(findings)
    record_audit(
        action="contracts.review_created",
        actor=actor,
        organisation=organisation,
        target=review,
        summary=audit_summary(
            gettext_noop("Contract %(title)s reviewed: %(rating)s (%(high)s high, %(medium)s medium risks)"),
            {"title": title, "rating": review.rating, "high": counts["high"], "medium": counts["medium"]},
        ),
        changes={"source": source, "findings": len(findings), "sha256": digest},
    )
    return review


def review_upload(
    *, organisation: Organisation, actor: User | None, upload: UploadedFile, title: str = ""
) -> Review:
    """Review an uploaded .docx, .pdf or .txt file."""
    from core.uploads import check_size

    try:
        check_size(upload)
    except ValidationError as exc:
        raise ExtractionError(" ".join(exc.messages)) from None
    upload.seek(0)
    data = upload.read()
    name = (upload.name or "").rsplit("/", 1)[-1]
    extracted = extract.extract(name, data)
    return _store(
        organisation=organisation,
        actor=actor,
        extracted=extracted,
        title=_title(title, name.rsplit(".", 1)[0] if "." in name else name),
        source=ReviewSource.UPLOAD,
        digest=hashlib.sha256(data).hexdigest(),
        file_name=name,
    )


def review_text(*, organisation: Organisation, actor: User | None, text: str, title: str = "") -> Review:
    """Review pasted contract text."""
    extracted = extract.from_paste(text or "")
    return _store(
        organisation=organisation,
        actor=actor,
        extracted=extracted,
        title=_title(title, _first_line(extracted.text)),
        source=ReviewSource.PASTE,
        digest=hashlib.sha256(extracted.text.encode("utf-8")).hexdigest(),
    )


def _read_stored(field: Any) -> bytes:
    try:
        field.open("rb")
        try:
            return bytes(field.read())
        finally:
            field.close()
    except (OSError, ValueError):
        raise DomainError(_("The file is no longer available.")) from None


# -- documents from other apps ------------------------------------------------------------------------------------
def attachment_party_ids(attachment: Any) -> set[int]:
    """Organisations that are party to the attachment's order."""
    order = attachment.order
    ids = {order.client_id}
    if order.direct_opc_id:
        ids.add(order.direct_opc_id)
    ids.update(order.bids.values_list("opc_id", flat=True))
    ids.update(order.entries.values_list("opc_id", flat=True))
    from marketplace.models import Contract

    ids.update(Contract.objects.filter(order=order).values_list("opc_id", flat=True))
    return ids


def review_order_attachment(*, attachment: Any, organisation: Organisation, actor: User | None) -> Review:
    """One-click review of a file attached to a marketplace order, for a party to the order."""
    if organisation.pk not in attachment_party_ids(attachment):
        raise NotPermitted(_("Only the parties to the order can send its files to review."))
    data = _read_stored(attachment.file)
    name = attachment.name or attachment.file.name.rsplit("/", 1)[-1]
    extracted = extract.extract(name, data)
    return _store(
        organisation=organisation,
        actor=actor,
        extracted=extracted,
        title=_title("", f"{attachment.order.title} · {name}"),
        source=ReviewSource.ORDER_ATTACHMENT,
        source_id=attachment.pk,
        digest=hashlib.sha256(data).hexdigest(),
        file_name=name,
    )


def intent_party_ids(intent: Any) -> set[int]:
    return {intent.opc_id, intent.event.organiser_id}


def review_term_sheet(*, intent: Any, organisation: Organisation, actor: User | None) -> Review:
    """One-click review of the term sheet of an investment intent recorded at an event."""
    if organisation.pk not in intent_party_ids(intent):
        raise NotPermitted(_("Only the OPC and the organiser can send this term sheet to review."))
    if not intent.term_sheet:
        raise NotFound(_("This investment intent has no term sheet."))
    data = _read_stored(intent.term_sheet)
    name = intent.term_sheet_name or intent.term_sheet.name.rsplit("/", 1)[-1]
    extracted = extract.extract(name, data)
    return _store(
        organisation=organisation,
        actor=actor,
        extracted=extracted,
        title=_title("", _("Term sheet of %(investor)s") % {"investor": intent.investor_name}),
        source=ReviewSource.TERM_SHEET,
        source_id=intent.pk,
        digest=hashlib.sha256(data).hexdigest(),
        file_name=name,
    )


__all__ = [
    "ExtractionError",
    "Rating",
    "attachment_party_ids",
    "intent_party_ids",
    "review_order_attachment",
    "review_term_sheet",
    "review_text",
    "review_upload",
]
