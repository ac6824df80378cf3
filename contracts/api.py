"""Contract review API (mounted at /api/contracts/): review pasted text or an uploaded file, read reports, send a
marketplace attachment or an event term sheet to review, and read the rule library.

Handlers are thin: reviews are the caller organisation's own (another organisation's id → 404); documents of
other apps come through ``contracts.selectors`` (not a party → 403 or 404); ``contracts.services`` reviews and
stores. A file that cannot be read is a 400 with the reason; nothing is stored then. Texts of findings
(title, explanation, fairer clause, legal basis) come in the request's language (zh-Hans or en).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import File, Form, Path, Query, Router, Schema, Status
from ninja.errors import ValidationError as SchemaError
from ninja.files import UploadedFile
from pydantic import Field

from accounts.api import ERRORS, MAX_ID, ErrorOut
from contracts import selectors, services
from contracts.models import Finding, Review, text_in_language
from contracts.review.extract import MAX_TEXT_CHARS
from contracts.review.rules import library
from core.errors import NotFound
from core.http import acting_user
from organisations.access import scope_for

router = Router(tags=["contracts"])

WRITE: dict[int, Any] = {400: ErrorOut, 404: ErrorOut, **ERRORS}


class FindingOut(Schema):
    position: int = Field(description="1 is the highest risk.")
    category: str
    title: str
    severity: str = Field(description="high | medium | low")
    source: str = Field(description="rule | model (the classifier) | document (whole-document check)")
    rule_id: str
    confidence: float
    cuad: str = Field(description="The matching CUAD category, if any.")
    clause_number: str
    clause_heading: str
    clause_text: str
    start: int = Field(description="Offset of the flagged span in clause_text.")
    end: int
    span: str
    explanation: str
    fairer: str = Field(description="A fairer wording to propose instead.")
    basis: str
    detail: str = Field(description="Computed facts, e.g. the liquidated damages as a share of the value.")


class ReviewBrief(Schema):
    id: int
    title: str
    source: str
    file_name: str
    rating: str = Field(description="high | medium | low | none")
    high: int
    medium: int
    low: int
    created_at: dt.datetime
    report_url: str
    pdf_url: str


class ReviewOut(ReviewBrief):
    file_kind: str
    language: str
    pages: int
    clauses: int
    contract_value: str | None = Field(description="CNY (or the contract's currency) as found in the text.")
    rules_version: str
    model_version: str
    findings: list[FindingOut]


class PasteIn(Schema):
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    title: str = Field("", max_length=200)


class CategoryOut(Schema):
    code: str
    title: str
    severity: str
    cuad: str
    explanation: str
    fairer: str
    basis: str
    rules: int


def finding_out(f: Finding) -> FindingOut:
    return FindingOut(
        position=f.position,
        category=f.category,
        title=f.title_text,
        severity=f.severity,
        source=f.source,
        rule_id=f.rule_id,
        confidence=f.confidence,
        cuad=f.cuad,
        clause_number=f.clause_number,
        clause_heading=f.clause_heading,
        clause_text=f.clause_text,
        start=f.start,
        end=f.end,
        span=f.span,
        explanation=f.explanation_text,
        fairer=f.fairer_text,
        basis=f.basis_text,
        detail=f.detail_text,
    )


def _brief(r: Review) -> dict[str, Any]:
    return {
        "id": r.pk,
        "title": r.title,
        "source": r.source,
        "file_name": r.file_name,
        "rating": r.rating,
        "high": r.high_count,
        "medium": r.medium_count,
        "low": r.low_count,
        "created_at": r.created_at,
        "report_url": reverse("contracts:review_detail", args=[r.pk]),
        "pdf_url": reverse("contracts:review_pdf", args=[r.pk]),
    }


def review_out(r: Review) -> ReviewOut:
    return ReviewOut(
        **_brief(r),
        file_kind=r.file_kind,
        language=r.language,
        pages=r.pages,
        clauses=r.clause_count,
        contract_value=f"{r.contract_value:.2f}" if r.contract_value is not None else None,
        rules_version=r.rules_version,
        model_version=r.model_version,
        findings=[finding_out(f) for f in r.findings.order_by("position")],
    )


def _org(request: HttpRequest) -> Any:
    org = scope_for(request).organisation
    if org is None:
        raise NotFound()
    return org


@router.get("/reviews", response={200: list[ReviewBrief], **ERRORS}, summary="Your organisation's reviews")
def list_reviews(
    request: HttpRequest,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> list[ReviewBrief]:
    qs = selectors.reviews_for(scope_for(request))[offset : offset + limit]
    return [ReviewBrief(**_brief(r)) for r in qs]


@router.post("/reviews", response={201: ReviewOut, **WRITE}, summary="Review pasted contract text")
def review_paste(request: HttpRequest, payload: PasteIn) -> Status[ReviewOut]:
    review = services.review_text(
        organisation=_org(request), actor=acting_user(request), text=payload.text, title=payload.title
    )
    return Status(201, review_out(review))


@router.post(
    "/reviews/upload",
    response={201: ReviewOut, **WRITE},
    summary="Review an uploaded .docx, .pdf or .txt (multipart, field `file`)",
)
def review_file(
    request: HttpRequest,
    file: UploadedFile | None = File(None, description="The contract file."),  # noqa: B008
    title: str = Form("", max_length=200),
) -> Status[ReviewOut]:
    if file is None:
        raise SchemaError(
            [
                {
                    "loc": ["file", "file"],
                    "msg": _("Send the file as multipart form data in the field “file”."),
                    "type": "missing",
                }
            ]
        )
    review = services.review_upload(
        organisation=_org(request), actor=acting_user(request), upload=file, title=title
    )
    return Status(201, review_out(review))


@router.get(
    "/reviews/{int:review_id}", response={200: ReviewOut, 404: ErrorOut, **ERRORS}, summary="A review report"
)
def get_review(request: HttpRequest, review_id: int = Path(..., ge=1, le=MAX_ID)) -> ReviewOut:
    return review_out(selectors.get_review(scope_for(request), review_id))


@router.post(
    "/attachments/{int:attachment_id}/review",
    response={201: ReviewOut, **WRITE},
    summary="Review a file attached to a marketplace order (parties to the order only)",
)
def review_attachment(
    request: HttpRequest,
    attachment_id: int = Path(..., ge=1, le=MAX_ID),
) -> Status[ReviewOut]:
    attachment = selectors.get_attachment_for_review(scope_for(request), attachment_id)
    review = services.review_order_attachment(
        attachment=attachment, organisation=_org(request), actor=acting_user(request)
    )
    return Status(201, review_out(review))


@router.post(
    "/term-sheets/{int:intent_id}/review",
    response={201: ReviewOut, **WRITE},
    summary="Review the term sheet of an investment intent (its OPC or the event organiser)",
)
def review_term_sheet(
    request: HttpRequest,
    intent_id: int = Path(..., ge=1, le=MAX_ID),
) -> Status[ReviewOut]:
    intent = selectors.get_intent_for_review(scope_for(request), intent_id)
    review = services.review_term_sheet(intent=intent, organisation=_org(request), actor=acting_user(request))
    return Status(201, review_out(review))


@router.get(
    "/rules", response={200: list[CategoryOut], **ERRORS}, summary="The risk categories of the rule library"
)
def rules(request: HttpRequest) -> list[CategoryOut]:
    lib = library()
    counts: dict[str, int] = {}
    for rule in lib.rules:
        counts[rule.category] = counts.get(rule.category, 0) + 1
    return [
        CategoryOut(
            code=c.code,
            title=text_in_language(c.title),
            severity=c.severity,
            cuad=c.cuad,
            explanation=text_in_language(c.explanation),
            fairer=text_in_language(c.fairer),
            basis=text_in_language(c.basis),
            rules=counts.get(c.code, 0),
        )
        for c in sorted(lib.categories.values(), key=lambda c: (c.rank, c.code))
    ]


class TemplateOut(Schema):
    contract_id: int
    kind: str
    title: str
    lang: str
    html: str = Field(description="The contract as an HTML fragment.")
    text: str = Field(description="The same as plain text.")
    pdf_url: str
    review_rating: str = Field(
        description="What the reviewer makes of the filled-in text (none | low | medium …)."
    )


@router.get(
    "/marketplace-contracts/{int:contract_id}/template",
    response={200: TemplateOut, 404: ErrorOut, **ERRORS},
    summary="A fair model contract (委托创作 / 技术服务) filled in from a marketplace contract (its parties)",
)
def contract_template(
    request: HttpRequest,
    contract_id: int = Path(..., ge=1, le=MAX_ID),
    kind: str = Query("commissioned_creation", max_length=40),
    licence: str = Query("non_exclusive", max_length=20),
    years: int = Query(3, ge=1, le=10),
    territory: str = Query("mainland", max_length=20),
    purpose: str = Query("", max_length=200),
    revisions: int = Query(2, ge=0, le=10),
    lang: str = Query("zh", max_length=2),
) -> TemplateOut:
    from urllib.parse import urlencode

    from contracts import fair
    from contracts.review import engine
    from marketplace.selectors import get_contract_for_organisation

    contract = get_contract_for_organisation(_org(request), contract_id)
    params = {
        "kind": kind,
        "licence": licence,
        "years": years,
        "territory": territory,
        "purpose": purpose,
        "revisions": revisions,
        "lang": lang,
    }
    terms, form = fair.terms_from(params)
    if not form.is_valid():
        raise SchemaError(
            [
                {"loc": ["query", field], "msg": " ".join(str(e) for e in errors), "type": "value_error"}
                for field, errors in form.errors.items()
            ]
        )
    html = fair.render_body(contract, terms)
    text = fair.plain_text(html)
    return TemplateOut(
        contract_id=contract.pk,
        kind=terms.kind,
        title=fair.KINDS[terms.kind]["en" if terms.lang == "en" else "zh"],
        lang=terms.lang,
        html=html,
        text=text,
        pdf_url=f"{reverse('contracts:contract_template_pdf', args=[contract.pk])}?{urlencode(params)}",
        review_rating=engine.review(text).rating,
    )
