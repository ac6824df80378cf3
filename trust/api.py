"""Trust API (mounted at /api/trust/): reviews, reputation and payment reliability, the price reference,
message threads, reports (and the operator's queue), credit-profile exports and their public verification.

Handlers are thin: objects come from ``trust.selectors`` with the caller's scope (foreign ids → 404), writes go
through ``trust.services`` with the caller's organisation as the acting party (a visible object the caller
may not act on → 403, an illegal change of state → 409); domain errors become ``{"detail": …}``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Router, Schema, Status

from accounts.api import ERRORS, MAX_ID, ErrorOut
from core.errors import DomainError, NotFound, NotPermitted
from core.http import acting_user
from marketplace.models import Order
from organisations.access import Scope, scope_for
from organisations.capabilities import Capability, OrgKind
from organisations.models import Organisation
from trust import selectors, services
from trust.models import (
    MAX_MESSAGE_TEXT,
    MAX_REPORT_TEXT,
    MAX_REVIEW_TEXT,
    CreditConsent,
    CreditExport,
    Message,
    Report,
    ReportReason,
    ReportTarget,
    Review,
    Thread,
)
from trust.pdf import credit_verification_url

router = Router(tags=["trust"])

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
READ: dict[int, Any] = {404: ErrorOut, **ERRORS}
WRITE: dict[int, Any] = {400: ErrorOut, 404: ErrorOut, 409: ErrorOut, **ERRORS}


def _scope(request: HttpRequest) -> Scope:
    scope = scope_for(request)
    if scope.organisation is None:
        raise NotPermitted()
    return scope


def _org(request: HttpRequest) -> Organisation:
    org = _scope(request).organisation
    assert org is not None
    return org


def _operator(request: HttpRequest) -> Organisation:
    scope = _scope(request)
    operator = scope.require(Capability.COMMUNITY_MANAGE)
    if operator.kind != OrgKind.OPERATOR:
        raise NotPermitted()
    return operator


def _opc(request: HttpRequest) -> Organisation:
    opc = _scope(request).require(Capability.ORG_MANAGE)
    if opc.kind != OrgKind.OPC:
        raise NotPermitted(_("Only one-person companies (OPCs) have a credit profile."))
    return opc


# -- schemas -------------------------------------------------------------------------------------------------------
class TrustOrgRef(Schema):
    id: int
    name: str
    verified: bool


def _ref(org: Organisation) -> TrustOrgRef:
    return TrustOrgRef(id=org.pk, name=org.name, verified=org.is_verified)


class TrustReviewIn(Schema):
    rating: int = Field(..., ge=1, le=5)
    text: str = Field("", max_length=MAX_REVIEW_TEXT)


class TrustReviewOut(Schema):
    id: int
    contract_id: int
    direction: str
    author: TrustOrgRef
    subject: TrustOrgRef
    rating: int
    text: str
    created_at: dt.datetime


def _review_out(r: Review) -> TrustReviewOut:
    return TrustReviewOut(
        id=r.pk,
        contract_id=r.contract_id,
        direction=r.direction,
        author=_ref(r.author),
        subject=_ref(r.subject),
        rating=r.rating,
        text=r.text,
        created_at=r.created_at,
    )


class TrustOutcomesOut(Schema):
    on_time: int
    well_reviewed: int
    disputes_lost: int
    late: int
    cancelled: int
    low_ratings: int
    good: int
    bad: int
    score: int


class TrustReputationOut(Schema):
    opc_id: int
    score: int = Field(description="Good minus bad outcomes, all time.")
    on_time_rate: str | None = Field(description="Percent of completed contracts delivered on time.")
    reviews: int
    rating_average: str | None
    windows: dict[str, TrustOutcomesOut] = Field(description='Keys "90d", "365d", "all".')


def _reputation_out(rep: selectors.Reputation) -> TrustReputationOut:
    return TrustReputationOut(
        opc_id=rep.opc_id,
        score=rep.score,
        on_time_rate=str(rep.on_time_rate) if rep.on_time_rate is not None else None,
        reviews=rep.reviews,
        rating_average=str(rep.rating_average) if rep.rating_average is not None else None,
        windows={key: TrustOutcomesOut(**o.as_dict()) for key, o in rep.windows.items()},
    )


class TrustPaymentOutcomesOut(Schema):
    funded_on_time: int
    released_by_client: int
    funded_late: int
    auto_released: int
    disputes_lost: int
    good: int
    bad: int
    score: int
    rate: str | None


class TrustReliabilityOut(Schema):
    client_id: int
    rate: str | None = Field(description="Percent of good payment outcomes, all time.")
    score: int
    reviews: int
    rating_average: str | None
    windows: dict[str, TrustPaymentOutcomesOut]


class TrustPriceReferenceOut(Schema):
    category: str | None
    count: int
    enough_data: bool
    min_sample: int
    p25: str | None
    median: str | None
    p75: str | None
    far_below: str | None = Field(description="Quotes below this are flagged (p25 × ½).")
    far_above: str | None = Field(description="Quotes above this are flagged (p75 × 2).")
    amount: str | None = None
    flag: str | None = Field(None, description='"far_below", "far_above", "within" or "not_enough_data"')
    message: str | None = None


class TrustThreadIn(Schema):
    order_id: Id | None = None
    contract_id: Id | None = None
    opc_id: Id | None = Field(None, description="The client names the OPC it writes to about an order.")


class TrustThreadOut(Schema):
    id: int
    order_id: int
    order_title: str
    contract_id: int | None
    client: TrustOrgRef
    opc: TrustOrgRef
    created_at: dt.datetime
    last_message_at: dt.datetime | None


def _thread_out(t: Thread) -> TrustThreadOut:
    return TrustThreadOut(
        id=t.pk,
        order_id=t.order_id,
        order_title=t.order.title,
        contract_id=t.contract_id,
        client=_ref(t.client),
        opc=_ref(t.opc),
        created_at=t.created_at,
        last_message_at=t.last_message_at,
    )


class TrustMessageIn(Schema):
    body: str = Field(..., min_length=1, max_length=MAX_MESSAGE_TEXT)


class TrustAttachmentOut(Schema):
    id: int
    name: str
    size: int
    url: str


class TrustMessageOut(Schema):
    id: int
    thread_id: int
    sender: TrustOrgRef
    body: str
    flagged: bool = Field(description="Asks to pay or deal outside the platform.")
    flag_terms: list[str]
    attachments: list[TrustAttachmentOut]
    created_at: dt.datetime


def _message_out(m: Message) -> TrustMessageOut:
    from django.urls import reverse

    return TrustMessageOut(
        id=m.pk,
        thread_id=m.thread_id,
        sender=_ref(m.sender),
        body=m.body,
        flagged=m.flagged,
        flag_terms=list(m.flag_terms or []),
        attachments=[
            TrustAttachmentOut(
                id=a.pk, name=a.name, size=a.size, url=reverse("trust:attachment", args=[a.pk])
            )
            for a in m.attachments.all()
        ],
        created_at=m.created_at,
    )


class TrustReportIn(Schema):
    target_kind: ReportTarget
    target_id: Id
    reason: ReportReason
    details: str = Field(..., min_length=1, max_length=MAX_REPORT_TEXT)


class TrustDecideIn(Schema):
    outcome: Literal["dismissed", "actioned"]
    note: str = Field(..., min_length=1, max_length=MAX_REPORT_TEXT)


class TrustReportOut(Schema):
    id: int
    target_kind: str
    reported: TrustOrgRef
    reporter: TrustOrgRef | None = Field(description="Shown to the reviewing operator only.")
    order_id: int | None
    contract_id: int | None
    message_id: int | None
    reason: str
    details: str
    status: str
    decision_note: str
    created_at: dt.datetime
    decided_at: dt.datetime | None


def _report_out(r: Report, *, for_operator: bool) -> TrustReportOut:
    return TrustReportOut(
        id=r.pk,
        target_kind=r.target_kind,
        reported=_ref(r.reported_organisation),
        reporter=_ref(r.reporter) if for_operator else None,
        order_id=r.order_id,
        contract_id=r.contract_id,
        message_id=r.message_id,
        reason=r.reason,
        details=r.details,
        status=r.status,
        decision_note=r.decision_note,
        created_at=r.created_at,
        decided_at=r.decided_at,
    )


class TrustFlaggedMessageOut(TrustMessageOut):
    order_id: int
    order_title: str


class TrustExportIn(Schema):
    recipient: str = Field(..., min_length=1, max_length=200, description="The bank or lender.")
    purpose: str = Field(..., min_length=1, max_length=300)
    consent: bool = Field(..., description="Must be true: the OPC consents to share the figures.")


class TrustConsentOut(Schema):
    id: int
    recipient: str
    purpose: str
    granted_at: dt.datetime
    revoked_at: dt.datetime | None


class TrustExportOut(Schema):
    id: int
    code: str
    verify_url: str
    pdf_sha256: str
    created_at: dt.datetime
    consent: TrustConsentOut
    figures: dict[str, Any]


def _consent_out(c: CreditConsent) -> TrustConsentOut:
    return TrustConsentOut(
        id=c.pk, recipient=c.recipient, purpose=c.purpose, granted_at=c.granted_at, revoked_at=c.revoked_at
    )


def _export_out(e: CreditExport) -> TrustExportOut:
    return TrustExportOut(
        id=e.pk,
        code=e.code,
        verify_url=credit_verification_url(e.code),
        pdf_sha256=e.pdf_sha256,
        created_at=e.created_at,
        consent=_consent_out(e.consent),
        figures=e.facts,
    )


class TrustVerificationOut(Schema):
    code: str
    status: str = Field(description='"valid" or "revoked" (consent withdrawn: figures are not shown)')
    organisation: str
    exported_at: dt.datetime
    recipient: str
    consent_revoked_at: dt.datetime | None
    pdf_sha256: str
    figures: dict[str, Any] | None


# -- reviews and reputation ------------------------------------------------------------------------------------------
@router.get(
    "/contracts/{int:contract_id}/reviews",
    response={200: list[TrustReviewOut], **READ},
    summary="Reviews of a contract",
)
def contract_reviews(
    request: HttpRequest, contract_id: int = Path(..., ge=1, le=MAX_ID)
) -> list[TrustReviewOut]:
    contract = selectors.get_contract_for_party(_org(request), contract_id)
    return [
        _review_out(r) for r in Review.objects.filter(contract=contract).select_related("author", "subject")
    ]


@router.post(
    "/contracts/{int:contract_id}/reviews",
    response={201: TrustReviewOut, **WRITE},
    summary="Review the other party of a completed contract (once per side)",
)
def review_create(
    request: HttpRequest, payload: TrustReviewIn, contract_id: int = Path(..., ge=1, le=MAX_ID)
) -> Status[TrustReviewOut]:
    org = _org(request)
    contract = selectors.get_contract_for_party(org, contract_id)
    review = services.submit_review(
        contract=contract, author=org, actor=acting_user(request), rating=payload.rating, text=payload.text
    )
    return Status(201, _review_out(review))


@router.get(
    "/organisations/{int:org_id}/reviews",
    response={200: list[TrustReviewOut], **READ},
    summary="Reviews an OPC or client received (newest first, at most 100)",
)
def organisation_reviews(
    request: HttpRequest, org_id: int = Path(..., ge=1, le=MAX_ID)
) -> list[TrustReviewOut]:
    _org(request)
    target = Organisation.objects.filter(pk=org_id, kind__in=[OrgKind.OPC, OrgKind.CLIENT]).first()
    if target is None:
        raise NotFound()
    qs = selectors.reviews_received(target).select_related("subject")[:100]
    return [_review_out(r) for r in qs]


@router.get("/reputation", response={200: list[TrustReputationOut], **READ}, summary="Reputation of OPCs")
def reputation(
    request: HttpRequest,
    opc_ids: Annotated[list[int], Query(..., description="OPC ids (repeat the parameter, at most 200)")],
) -> list[TrustReputationOut]:
    _org(request)
    wanted = {i for i in opc_ids if 1 <= i <= MAX_ID}
    if len(wanted) > 200:
        raise DomainError(_("Ask for at most 200 OPCs at a time."))
    ids = list(Organisation.objects.filter(pk__in=wanted, kind=OrgKind.OPC).values_list("pk", flat=True))
    found = selectors.reputation_for(ids)
    return [_reputation_out(found[i]) for i in sorted(found)]


@router.get(
    "/payment-reliability/{int:client_id}",
    response={200: TrustReliabilityOut, **READ},
    summary="A client's payment reliability",
)
def payment_reliability(
    request: HttpRequest, client_id: int = Path(..., ge=1, le=MAX_ID)
) -> TrustReliabilityOut:
    _org(request)
    client = Organisation.objects.filter(pk=client_id, kind__in=[OrgKind.CLIENT, OrgKind.OPC]).first()
    if client is None:
        raise NotFound()
    rel = selectors.payment_reliability_of(client)
    assert rel is not None
    return TrustReliabilityOut(
        client_id=client.pk,
        rate=str(rel.rate) if rel.rate is not None else None,
        score=rel.score,
        reviews=rel.reviews,
        rating_average=str(rel.rating_average) if rel.rating_average is not None else None,
        windows={key: TrustPaymentOutcomesOut(**o.as_dict()) for key, o in rel.windows.items()},
    )


@router.get(
    "/price-reference",
    response={200: TrustPriceReferenceOut, **READ},
    summary="Accepted prices of completed contracts in a category; optionally judge an amount",
)
def price_reference(
    request: HttpRequest,
    category: str = Query(..., max_length=40, description="skill code"),
    amount: str = Query("", max_length=20, description="a quote or budget to judge (CNY)"),
) -> TrustPriceReferenceOut:
    _org(request)
    skill = selectors.category_by_code(category)
    if skill is None:
        raise NotFound(_("Unknown category."))
    ref = selectors.price_reference(skill)
    out = TrustPriceReferenceOut(**ref.as_dict())
    if amount:
        if selectors.parse_amount(amount) is None:
            raise DomainError(_("Enter the amount as a number of yuan, e.g. 12000.00."))
        flag = selectors.price_flag(skill, amount, reference=ref)
        out.amount = format(flag.amount, "f") if flag.amount is not None else None
        out.flag = flag.level
        out.message = flag.message
    return out


# -- threads and messages ----------------------------------------------------------------------------------------------
@router.get(
    "/threads", response={200: list[TrustThreadOut], **READ}, summary="Your message threads (at most 200)"
)
def thread_list(request: HttpRequest) -> list[TrustThreadOut]:
    return [_thread_out(t) for t in selectors.threads_for(_scope(request))[:200]]


@router.post(
    "/threads",
    response={200: TrustThreadOut, **WRITE},
    summary="Open (or find) the thread about an order with one OPC, or a contract's thread",
)
def thread_open(request: HttpRequest, payload: TrustThreadIn) -> TrustThreadOut:
    org = _org(request)
    if payload.contract_id is not None:
        contract = selectors.get_contract_for_party(org, payload.contract_id)
        thread = services.open_contract_thread(
            contract=contract, organisation=org, actor=acting_user(request)
        )
    elif payload.order_id is not None:
        order = Order.objects.filter(pk=payload.order_id).first()
        if order is None:
            raise NotFound()
        opc = None
        if payload.opc_id is not None:
            opc = Organisation.objects.filter(pk=payload.opc_id, kind=OrgKind.OPC).first()
            if opc is None:
                raise NotFound()
        thread = services.open_thread(order=order, organisation=org, actor=acting_user(request), opc=opc)
    else:
        raise DomainError(_("Choose the order or contract to write about."))
    thread = Thread.objects.select_related("order", "client", "opc").get(pk=thread.pk)
    return _thread_out(thread)


@router.get(
    "/threads/{int:thread_id}/messages",
    response={200: list[TrustMessageOut], **READ},
    summary="Messages of a thread (participants; the operator reads for mediation)",
)
def message_list(request: HttpRequest, thread_id: int = Path(..., ge=1, le=MAX_ID)) -> list[TrustMessageOut]:
    access = selectors.get_thread_for(_scope(request), thread_id)
    return [_message_out(m) for m in selectors.messages_of(access.thread)]


@router.post(
    "/threads/{int:thread_id}/messages",
    response={201: TrustMessageOut, **WRITE},
    summary="Write in a thread (a request to pay outside the platform is flagged)",
)
def message_create(
    request: HttpRequest, payload: TrustMessageIn, thread_id: int = Path(..., ge=1, le=MAX_ID)
) -> Status[TrustMessageOut]:
    scope = _scope(request)
    access = selectors.get_thread_for(scope, thread_id)
    if not access.can_post:
        raise NotPermitted(_("Operators can read threads for mediation but not write in them."))
    message = services.post_message(
        thread=access.thread, sender=_org(request), actor=acting_user(request), body=payload.body
    )
    return Status(201, _message_out(selectors.messages_of(access.thread).get(pk=message.pk)))


@router.get(
    "/flagged-messages",
    response={200: list[TrustFlaggedMessageOut], **READ},
    summary="Flagged messages in your communities (operators, at most 200)",
)
def flagged_messages(request: HttpRequest) -> list[TrustFlaggedMessageOut]:
    _operator(request)
    out = []
    for m in selectors.flagged_messages_for(_scope(request)).prefetch_related("attachments")[:200]:
        base = _message_out(m)
        out.append(
            TrustFlaggedMessageOut(
                **base.dict(), order_id=m.thread.order_id, order_title=m.thread.order.title
            )
        )
    return out


# -- reports ---------------------------------------------------------------------------------------------------------
@router.post(
    "/reports",
    response={201: TrustReportOut, **WRITE},
    summary="Report an order, contract, message or organisation",
)
def report_create(request: HttpRequest, payload: TrustReportIn) -> Status[TrustReportOut]:
    org = _org(request)
    reported, objects = selectors.report_target_for(org, payload.target_kind.value, payload.target_id)
    report = services.file_report(
        reporter=org,
        actor=acting_user(request),
        target_kind=payload.target_kind.value,
        reported=reported,
        reason=payload.reason.value,
        details=payload.details,
        **objects,
    )
    return Status(201, _report_out(report, for_operator=False))


@router.get(
    "/reports/mine", response={200: list[TrustReportOut], **READ}, summary="Reports you filed (at most 200)"
)
def report_mine(request: HttpRequest) -> list[TrustReportOut]:
    return [_report_out(r, for_operator=False) for r in selectors.reports_by(_org(request))[:200]]


@router.get(
    "/reports",
    response={200: list[TrustReportOut], **READ},
    summary="The operator's report queue (at most 200)",
)
def report_queue(
    request: HttpRequest, status: Literal["", "open", "dismissed", "actioned"] = Query("open")
) -> list[TrustReportOut]:
    operator = _operator(request)
    return [
        _report_out(r, for_operator=True)
        for r in selectors.reports_for_operator(operator, status=status)[:200]
    ]


@router.post(
    "/reports/{int:report_id}/decide",
    response={200: TrustReportOut, **WRITE},
    summary="Dismiss a report or record the action taken (with a note)",
)
def report_decide(
    request: HttpRequest, payload: TrustDecideIn, report_id: int = Path(..., ge=1, le=MAX_ID)
) -> TrustReportOut:
    operator = _operator(request)
    report = selectors.get_report_for_operator(operator, report_id)
    decided = services.decide_report(
        report=report,
        operator=operator,
        actor=acting_user(request),
        outcome=payload.outcome,
        note=payload.note,
    )
    return _report_out(selectors.get_report_for_operator(operator, decided.pk), for_operator=True)


# -- credit profile --------------------------------------------------------------------------------------------------
@router.get(
    "/credit/exports", response={200: list[TrustExportOut], **READ}, summary="Your credit-profile exports"
)
def export_list(request: HttpRequest) -> list[TrustExportOut]:
    opc = _opc(request)
    qs = CreditExport.objects.filter(opc=opc).select_related("consent").order_by("-created_at", "-id")[:200]
    return [_export_out(e) for e in qs]


@router.post(
    "/credit/exports",
    response={201: TrustExportOut, **WRITE},
    summary="Record the consent and export the credit profile (PDF + figures, with a verification code)",
)
def export_create(request: HttpRequest, payload: TrustExportIn) -> Status[TrustExportOut]:
    opc = _opc(request)
    export = services.create_credit_export(
        opc=opc,
        actor=acting_user(request),
        recipient=payload.recipient,
        purpose=payload.purpose,
        consent_given=payload.consent,
    )
    return Status(201, _export_out(export))


@router.get(
    "/credit/exports/{int:export_id}",
    response={200: TrustExportOut, **READ},
    summary="One export with its figures",
)
def export_detail(request: HttpRequest, export_id: int = Path(..., ge=1, le=MAX_ID)) -> TrustExportOut:
    return _export_out(selectors.get_export_for(_opc(request), export_id))


@router.post(
    "/credit/consents/{int:consent_id}/exports",
    response={201: TrustExportOut, **WRITE},
    summary="Export again under an existing consent (today's figures, new code)",
)
def export_again(
    request: HttpRequest, consent_id: int = Path(..., ge=1, le=MAX_ID)
) -> Status[TrustExportOut]:
    opc = _opc(request)
    consent = selectors.get_consent_for(opc, consent_id)
    export = services.export_credit_profile(consent=consent, opc=opc, actor=acting_user(request))
    return Status(201, _export_out(export))


@router.post(
    "/credit/consents/{int:consent_id}/revoke",
    response={200: TrustConsentOut, **WRITE},
    summary="Revoke a consent (its exports then verify as revoked)",
)
def consent_revoke(request: HttpRequest, consent_id: int = Path(..., ge=1, le=MAX_ID)) -> TrustConsentOut:
    opc = _opc(request)
    consent = selectors.get_consent_for(opc, consent_id)
    return _consent_out(services.revoke_credit_consent(consent=consent, opc=opc, actor=acting_user(request)))


@router.get(
    "/credit/verify/{code}",
    auth=None,
    response={200: TrustVerificationOut, 404: ErrorOut, 422: ERRORS[422]},
    summary="Verify a credit profile by its code (public)",
)
def verify(request: HttpRequest, code: str = Path(..., max_length=64)) -> TrustVerificationOut:
    export = selectors.export_by_code(code)
    if export is None:
        raise NotFound(_("No credit profile has this verification code."))
    revoked = export.consent.revoked_at is not None
    return TrustVerificationOut(
        code=export.code,
        status="revoked" if revoked else "valid",
        organisation=export.opc.name,
        exported_at=export.created_at,
        recipient=export.consent.recipient,
        consent_revoked_at=export.consent.revoked_at,
        pdf_sha256=export.pdf_sha256,
        figures=None if revoked else export.facts,
    )
