"""Subsidies API (mounted at /api/subsidies/): the public policy catalogue; members' expenses, eligibility with
its clause-by-clause trace, consent and shares; the operator's review queue and claim batches; the reports.

Handlers are thin: objects come from ``subsidies.selectors`` through ``request.org_scope`` (foreign ids →
404), writes go through ``subsidies.services``; domain errors become ``{"detail": …}`` with their status and
field errors a 400 (see ``opchub.api``). Money is a string with two decimals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Path, Query, Router, Schema, Status
from ninja.files import UploadedFile

from accounts.api import ERRORS, MAX_ID, ErrorOut
from core.errors import NotFound, NotPermitted
from core.http import acting_user
from organisations.access import Scope, scope_for
from organisations.capabilities import Capability, OrgKind
from organisations.models import Organisation
from subsidies import catalog, selectors, services
from subsidies.engine import Period, Result
from subsidies.engine.schema import Policy
from subsidies.models import (
    BatchKind,
    ClaimBatch,
    ClaimLine,
    Consent,
    EvidenceDocument,
    Expense,
    ExpenseCategory,
    ExpenseStatus,
)

router = Router(tags=["subsidies"])

MoneyOut = Annotated[
    str, Field(pattern=r"^-?\d+\.\d{2}$", examples=["1280.00"], description="CNY to the fen, as a string.")
]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
WRITE_ERRORS: dict[int, Any] = {400: ErrorOut, 404: ErrorOut, 409: ErrorOut, **ERRORS}
READ_ERRORS: dict[int, Any] = {400: ErrorOut, 404: ErrorOut, **ERRORS}
FEN = Decimal("0.01")


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(Decimal(value).quantize(FEN), "f")


# -- schemas -----------------------------------------------------------------------------------------------------
class SubsidyParameterValueOut(Schema):
    value: str
    effective_from: dt.date
    source: str
    placeholder: bool
    uncertain: str | None


class SubsidyParameterOut(Schema):
    name: str
    label: str
    unit: str
    values: list[SubsidyParameterValueOut]


class SubsidyPolicyOut(Schema):
    id: str
    version: str
    title: str
    instrument: str
    instrument_label: str
    issuer: str
    document_title: str
    document_number: str | None
    region: dict[str, str]
    effective_from: dt.date
    effective_to: dt.date | None
    illustrative: bool
    applicants: list[str] = Field(description='"company" and/or "operator" (on members\' behalf)')
    payee: str
    payouts: list[str] = Field(description="How a share may be taken: cash, quota, in_kind, service")


class SubsidyPolicyDetailOut(SubsidyPolicyOut):
    parameters: list[SubsidyParameterOut]
    sources: dict[str, dict[str, Any]]
    uncertain: list[str]
    evidence: list[str]


class SubsidyTraceStepOut(Schema):
    kind: str
    text: str
    ok: bool | None = Field(description="true met, false not met, null not known on the platform")
    value: str | None
    source: str | None
    effective_from: dt.date | None


class SubsidyEligibilityOut(Schema):
    policy_id: str
    title: str
    period: str
    eligible: bool
    amount: MoneyOut
    mode: str = Field(description="免申即享, 快申快享 or 不适用")
    missing_evidence: list[str]
    operator_applies: bool
    consent: str | None = Field(description="The payout chosen with an active consent, if any")


class SubsidyEligibilityDetailOut(SubsidyEligibilityOut):
    trace: list[SubsidyTraceStepOut]


class SubsidyExpenseIn(Schema):
    category: ExpenseCategory
    amount: Decimal = Field(..., gt=0, max_digits=14, decimal_places=2)
    spent_on: dt.date
    seller_name: str = Field(..., min_length=1, max_length=120)
    seller_uscc: str = Field(..., min_length=18, max_length=18)
    invoice_code: str = Field("", max_length=12)
    invoice_number: str = Field(..., min_length=8, max_length=20)
    description: str = Field("", max_length=200)
    trip_from: str = Field("", max_length=40)
    trip_to: str = Field("", max_length=40)
    train_number: str = Field("", max_length=12)


class SubsidyExpenseOut(Schema):
    id: int
    organisation_id: int
    category: str
    source: str
    status: str
    amount: MoneyOut
    spent_on: dt.date
    description: str
    seller_name: str
    seller_uscc: str
    invoice_code: str
    invoice_number: str
    has_file: bool
    evidence_sha256: str
    duplicate: bool = Field(description="The same invoice is recorded by another member")
    review_note: str
    reviewed_at: dt.datetime | None


class SubsidyReasonIn(Schema):
    reason: str = Field(..., min_length=1, max_length=300)


class SubsidyConsentIn(Schema):
    payout: Literal["cash", "quota"] = "cash"


class SubsidyConsentOut(Schema):
    policy_id: str
    payout: str
    given_at: dt.datetime
    revoked_at: dt.datetime | None


class SubsidyShareOut(Schema):
    line_id: int
    batch_id: int
    batch_code: str
    policy_id: str
    period: str
    batch_status: str
    eligible_amount: MoneyOut
    share: MoneyOut | None
    payout: str
    batch_claimed: MoneyOut = Field(description="What the batch claimed for all its members")
    batch_received: MoneyOut | None = Field(
        description="What arrived; each share = received × eligible ÷ claimed, to the fen (largest remainder)"
    )
    rounded_up: bool = Field(description="Got one extra fen from the largest-remainder step")
    trace: list[SubsidyTraceStepOut]


class SubsidyBatchIn(Schema):
    policy_id: str = Field(..., pattern=r"^[a-z0-9-]{1,80}$")
    period: str = Field(..., max_length=20, examples=["2026-Q1"])
    kind: Literal["members", "own"] = "members"


class SubsidyLineOut(Schema):
    id: int
    organisation_id: int
    organisation: str
    eligible_amount: MoneyOut
    mode: str
    missing_evidence: list[str]
    payout: str
    share: MoneyOut | None


class SubsidyBatchOut(Schema):
    id: int
    code: str
    operator_id: int
    kind: str
    policy_id: str
    policy_version: str
    period: str
    status: str
    claimed_amount: MoneyOut
    approved_amount: MoneyOut | None
    received_amount: MoneyOut | None
    distributed_amount: MoneyOut | None
    authority_reference: str
    note: str
    created_at: dt.datetime
    submitted_at: dt.datetime | None
    review_started_at: dt.datetime | None
    approved_at: dt.datetime | None
    funds_received_on: dt.date | None
    distributed_at: dt.datetime | None
    payout_days: int | None
    pdf_sha256: str
    xlsx_sha256: str


class SubsidyBatchDetailOut(SubsidyBatchOut):
    lines: list[SubsidyLineOut]


class SubsidyReferenceIn(Schema):
    reference: str = Field("", max_length=120)


class SubsidyApproveIn(Schema):
    amount: Decimal = Field(..., gt=0, max_digits=14, decimal_places=2)
    reference: str = Field("", max_length=120)


class SubsidyFundsIn(Schema):
    amount: Decimal = Field(..., gt=0, max_digits=14, decimal_places=2)
    received_on: dt.date | None = None


class SubsidyPolicyFiguresOut(Schema):
    policy_id: str
    title: str
    instrument: str
    batches: int
    claimed: MoneyOut
    approved: MoneyOut
    received: MoneyOut
    distributed: MoneyOut
    median_days_to_funds: float | None


class SubsidyGroupOut(Schema):
    name: str
    shares: int
    paid: MoneyOut


class SubsidyReportOut(Schema):
    batches: int
    claimed: MoneyOut
    approved: MoneyOut
    received: MoneyOut
    distributed: MoneyOut
    median_days_to_funds: float | None
    by_policy: list[SubsidyPolicyFiguresOut]
    by_community: list[SubsidyGroupOut]
    by_category: list[SubsidyGroupOut]


# -- converters --------------------------------------------------------------------------------------------------
def _policy_out(p: Policy, cls: type[SubsidyPolicyOut] = SubsidyPolicyOut, **extra: Any) -> Any:
    return cls(
        id=p.id,
        version=p.version,
        title=p.title,
        instrument=p.instrument.value,
        instrument_label=catalog.instrument_label(p),
        issuer=p.issuer,
        document_title=p.document_title,
        document_number=p.document_number,
        region=p.region,
        effective_from=p.effective_from,
        effective_to=p.effective_to,
        illustrative=p.illustrative,
        applicants=[r.value for r in p.application.applicants],
        payee=p.application.payee.value,
        payouts=[b.value for b in p.application.payouts],
        **extra,
    )


def _trace(steps: list[Any]) -> list[SubsidyTraceStepOut]:
    """Engine trace steps, or the same frozen as JSON on a claim line."""
    out = []
    for step in steps:
        row: dict[str, Any] = step if isinstance(step, dict) else services.trace_json([step])[0]
        effective = row.get("effective_from")
        out.append(
            SubsidyTraceStepOut(
                kind=str(row["kind"]),
                text=str(row["text"]),
                ok=row.get("ok"),
                value=row.get("value"),
                source=row.get("source"),
                effective_from=dt.date.fromisoformat(effective) if effective else None,
            )
        )
    return out


def _eligibility_out(row: selectors.Eligibility, period: Period, *, detail: bool = False) -> Any:
    r: Result = row.result
    values: dict[str, Any] = {
        "policy_id": row.policy.id,
        "title": row.policy.title,
        "period": str(period),
        "eligible": r.eligible,
        "amount": _money(r.amount),
        "mode": r.mode.value,
        "missing_evidence": list(r.missing_evidence),
        "operator_applies": row.operator_applies,
        "consent": row.consent.payout if row.consent else None,
    }
    if detail:
        return SubsidyEligibilityDetailOut(**values, trace=_trace(r.trace))
    return SubsidyEligibilityOut(**values)


def _expense_out(e: Expense) -> SubsidyExpenseOut:
    return SubsidyExpenseOut(
        id=e.pk,
        organisation_id=e.organisation_id,
        category=e.category,
        source=e.source,
        status=e.status,
        amount=_money(e.amount),  # type: ignore[arg-type]
        spent_on=e.spent_on,
        description=e.description,
        seller_name=e.seller_name,
        seller_uscc=e.seller_uscc,
        invoice_code=e.invoice_code,
        invoice_number=e.invoice_number,
        has_file=bool(e.evidence),
        evidence_sha256=e.evidence_sha256,
        duplicate=e.duplicate_of_id is not None and e.status != ExpenseStatus.APPROVED,
        review_note=e.review_note,
        reviewed_at=e.reviewed_at,
    )


def _batch_values(b: ClaimBatch) -> dict[str, Any]:
    return {
        "id": b.pk,
        "code": b.code,
        "operator_id": b.operator_id,
        "kind": b.kind,
        "policy_id": b.policy_id,
        "policy_version": b.policy_version,
        "period": b.period_label,
        "status": b.status,
        "claimed_amount": _money(b.claimed_amount),
        "approved_amount": _money(b.approved_amount),
        "received_amount": _money(b.received_amount),
        "distributed_amount": _money(b.distributed_amount),
        "authority_reference": b.authority_reference,
        "note": b.note,
        "created_at": b.created_at,
        "submitted_at": b.submitted_at,
        "review_started_at": b.review_started_at,
        "approved_at": b.approved_at,
        "funds_received_on": b.funds_received_on,
        "distributed_at": b.distributed_at,
        "payout_days": b.payout_days,
        "pdf_sha256": b.pdf_sha256,
        "xlsx_sha256": b.xlsx_sha256,
    }


def _line_out(line: ClaimLine) -> SubsidyLineOut:
    return SubsidyLineOut(
        id=line.pk,
        organisation_id=line.organisation_id,
        organisation=line.organisation.name,
        eligible_amount=_money(line.eligible_amount),  # type: ignore[arg-type]
        mode=line.mode,
        missing_evidence=list(line.missing_evidence),
        payout=line.payout,
        share=_money(line.share),
    )


def _batch_detail(b: ClaimBatch) -> SubsidyBatchDetailOut:
    return SubsidyBatchDetailOut(**_batch_values(b), lines=[_line_out(x) for x in selectors.batch_lines(b)])


def _member_org(request: HttpRequest, *kinds: str) -> tuple[Scope, Organisation]:
    scope = scope_for(request)
    org = scope.organisation
    if org is None or org.kind not in (kinds or (OrgKind.OPC, OrgKind.OPERATOR)):
        raise NotPermitted()
    return scope, org


def _operator(request: HttpRequest, capability: Capability) -> tuple[Scope, Organisation]:
    scope = scope_for(request)
    org = scope.require(capability)
    if org.kind != OrgKind.OPERATOR:
        raise NotPermitted()
    return scope, org


# -- public ------------------------------------------------------------------------------------------------------
@router.get(
    "/policies", auth=None, response={200: list[SubsidyPolicyOut]}, summary="Encoded support policies"
)
def policy_list(request: HttpRequest) -> list[SubsidyPolicyOut]:
    return [_policy_out(p) for p in catalog.policies()]


@router.get(
    "/policies/{policy_id}",
    auth=None,
    response={200: SubsidyPolicyDetailOut, 404: ErrorOut, 422: ERRORS[422]},
    summary="A policy with its versioned parameters and sources",
)
def policy_get(
    request: HttpRequest, policy_id: str = Path(..., pattern=r"^[a-z0-9-]{1,80}$")
) -> SubsidyPolicyDetailOut:
    p = catalog.get_policy(policy_id)
    parameters = [
        SubsidyParameterOut(
            name=param.name,
            label=param.label,
            unit=param.unit,
            values=[
                SubsidyParameterValueOut(
                    value=format(v.value, "f"),
                    effective_from=v.effective_from,
                    source=v.source,
                    placeholder=v.placeholder,
                    uncertain=v.uncertain,
                )
                for v in param.versions
            ],
        )
        for param in p.parameters.values()
    ]
    sources = {
        k: {"title": s.title, "url": s.url, "issuer": s.issuer, "number": s.number, "note": s.note}
        for k, s in p.sources.items()
    }
    return _policy_out(
        p,
        SubsidyPolicyDetailOut,
        parameters=parameters,
        sources=sources,
        uncertain=list(p.uncertain),
        evidence=[e.label for e in p.application.evidence],
    )


# -- members: expenses -------------------------------------------------------------------------------------------
@router.get(
    "/expenses", response={200: list[SubsidyExpenseOut], **ERRORS}, summary="Your organisation's expenses"
)
def expense_list(
    request: HttpRequest, status: Literal["", "submitted", "approved", "rejected"] = ""
) -> list[SubsidyExpenseOut]:
    _scope, org = _member_org(request)
    qs = selectors.filter_expenses(selectors.expenses_of(org), status=status)
    return [_expense_out(e) for e in qs[:500]]


@router.post(
    "/expenses",
    response={201: SubsidyExpenseOut, **WRITE_ERRORS},
    summary="Record an expense with its invoice (attach the file with POST …/evidence)",
)
def expense_create(request: HttpRequest, payload: SubsidyExpenseIn) -> Status[SubsidyExpenseOut]:
    scope, org = _member_org(request)
    scope.require(Capability.ORG_MANAGE)
    data = payload.dict()
    data["category"] = payload.category.value
    expense = services.record_expense(organisation=org, actor=acting_user(request), **data)
    return Status(201, _expense_out(expense))


@router.get(
    "/expenses/{int:expense_id}",
    response={200: SubsidyExpenseOut, 404: ErrorOut, **ERRORS},
    summary="An expense (yours, or a member's for its operator)",
)
def expense_get(request: HttpRequest, expense_id: int = Path(..., ge=1, le=MAX_ID)) -> SubsidyExpenseOut:
    return _expense_out(selectors.expense_for(scope_for(request), expense_id))


@router.post(
    "/expenses/{int:expense_id}/evidence",
    response={200: SubsidyExpenseOut, **WRITE_ERRORS},
    summary="Attach the invoice file (PDF, OFD, JPEG or PNG) to an expense awaiting review",
)
def expense_evidence(
    request: HttpRequest,
    expense_id: int = Path(..., ge=1, le=MAX_ID),
    evidence: UploadedFile | None = File(None),  # noqa: B008
) -> SubsidyExpenseOut:
    scope, org = _member_org(request)
    scope.require(Capability.ORG_MANAGE)
    expense = selectors.expense_for(scope, expense_id)
    if expense.organisation_id != org.pk:
        raise NotFound()
    if evidence is None:
        raise ValidationError({"evidence": [_("Attach the invoice file as the multipart field “evidence”.")]})
    return _expense_out(
        services.attach_evidence(expense=expense, evidence=evidence, actor=acting_user(request))
    )


@router.get(
    "/review",
    response={200: list[SubsidyExpenseOut], **ERRORS},
    summary="Members' expenses to review (operator)",
)
def review_list(
    request: HttpRequest, status: Literal["submitted", "approved", "rejected"] = "submitted"
) -> list[SubsidyExpenseOut]:
    scope, _org = _operator(request, Capability.MEMBERS_VERIFY)
    return [_expense_out(e) for e in selectors.review_queue(scope, status=status)[:500]]


@router.post(
    "/expenses/{int:expense_id}/approve",
    response={200: SubsidyExpenseOut, **WRITE_ERRORS},
    summary="Approve a member's expense (operator)",
)
def expense_approve(request: HttpRequest, expense_id: int = Path(..., ge=1, le=MAX_ID)) -> SubsidyExpenseOut:
    scope, operator = _operator(request, Capability.MEMBERS_VERIFY)
    expense = selectors.expense_for(scope, expense_id, reviewer=True)
    return _expense_out(
        services.approve_expense(expense=expense, operator=operator, actor=acting_user(request))
    )


@router.post(
    "/expenses/{int:expense_id}/reject",
    response={200: SubsidyExpenseOut, **WRITE_ERRORS},
    summary="Reject a member's expense with a reason (operator)",
)
def expense_reject(
    request: HttpRequest, payload: SubsidyReasonIn, expense_id: int = Path(..., ge=1, le=MAX_ID)
) -> SubsidyExpenseOut:
    scope, operator = _operator(request, Capability.MEMBERS_VERIFY)
    expense = selectors.expense_for(scope, expense_id, reviewer=True)
    return _expense_out(
        services.reject_expense(
            expense=expense, operator=operator, actor=acting_user(request), reason=payload.reason
        )
    )


class SubsidyDocumentOut(Schema):
    id: int
    organisation_id: int
    kind: str
    title: str
    status: str
    sha256: str
    created_at: dt.datetime
    review_note: str
    reviewed_at: dt.datetime | None


def _document_out(d: EvidenceDocument) -> SubsidyDocumentOut:
    return SubsidyDocumentOut(
        id=d.pk,
        organisation_id=d.organisation_id,
        kind=d.kind,
        title=d.title,
        status=d.status,
        sha256=d.sha256,
        created_at=d.created_at,
        review_note=d.review_note,
        reviewed_at=d.reviewed_at,
    )


@router.get(
    "/documents", response={200: list[SubsidyDocumentOut], **ERRORS}, summary="Your contracts and proofs"
)
def document_list(request: HttpRequest) -> list[SubsidyDocumentOut]:
    _scope, org = _member_org(request)
    return [_document_out(d) for d in selectors.documents_of(org)[:500]]


@router.post(
    "/documents",
    response={201: SubsidyDocumentOut, **WRITE_ERRORS},
    summary="Upload a contract, report or proof (multipart: kind, title, file)",
)
def document_upload(
    request: HttpRequest,
    kind: str = Form("", max_length=40),
    title: str = Form("", max_length=200),
    file: UploadedFile | None = File(None),  # noqa: B008
) -> Status[SubsidyDocumentOut]:
    scope, org = _member_org(request)
    scope.require(Capability.ORG_MANAGE)
    if file is None:
        raise ValidationError({"file": [_("Attach the document as the multipart field “file”.")]})
    document = services.upload_document(
        organisation=org, actor=acting_user(request), kind=kind, title=title, file=file
    )
    return Status(201, _document_out(document))


@router.get(
    "/review/documents",
    response={200: list[SubsidyDocumentOut], **ERRORS},
    summary="Members' documents awaiting review (operator)",
)
def document_queue(request: HttpRequest) -> list[SubsidyDocumentOut]:
    scope, _org = _operator(request, Capability.MEMBERS_VERIFY)
    return [_document_out(d) for d in selectors.document_queue(scope)[:500]]


@router.post(
    "/documents/{int:document_id}/approve",
    response={200: SubsidyDocumentOut, **WRITE_ERRORS},
    summary="Approve a member's document (operator)",
)
def document_approve(
    request: HttpRequest, document_id: int = Path(..., ge=1, le=MAX_ID)
) -> SubsidyDocumentOut:
    scope, operator = _operator(request, Capability.MEMBERS_VERIFY)
    document = selectors.document_for(scope, document_id, reviewer=True)
    return _document_out(
        services.approve_document(document=document, operator=operator, actor=acting_user(request))
    )


@router.post(
    "/documents/{int:document_id}/reject",
    response={200: SubsidyDocumentOut, **WRITE_ERRORS},
    summary="Reject a member's document with a reason (operator)",
)
def document_reject(
    request: HttpRequest, payload: SubsidyReasonIn, document_id: int = Path(..., ge=1, le=MAX_ID)
) -> SubsidyDocumentOut:
    scope, operator = _operator(request, Capability.MEMBERS_VERIFY)
    document = selectors.document_for(scope, document_id, reviewer=True)
    return _document_out(
        services.reject_document(
            document=document, operator=operator, actor=acting_user(request), reason=payload.reason
        )
    )


# -- members: eligibility, consent, shares -----------------------------------------------------------------------
class SubsidyPeriodQuery(Schema):
    period: str = Field("", max_length=20, description="2026, 2026-Q1 or 2026-04; default: this year")


@router.get(
    "/eligibility",
    response={200: list[SubsidyEligibilityOut], **READ_ERRORS},
    summary="Every policy for your organisation in a period",
)
def eligibility_list(request: HttpRequest, query: Query[SubsidyPeriodQuery]) -> list[SubsidyEligibilityOut]:
    _scope, org = _member_org(request)
    period = catalog.parse_period(query.period)
    rows, _bundle = selectors.eligibility_for([org], period)
    return [_eligibility_out(r, period) for r in rows.get(org.pk, [])]


@router.get(
    "/eligibility/{policy_id}",
    response={200: SubsidyEligibilityDetailOut, **READ_ERRORS},
    summary="Why ¥X: one policy for your organisation, clause by clause",
)
def eligibility_get(
    request: HttpRequest,
    query: Query[SubsidyPeriodQuery],
    policy_id: str = Path(..., pattern=r"^[a-z0-9-]{1,80}$"),
) -> SubsidyEligibilityDetailOut:
    _scope, org = _member_org(request)
    period = catalog.parse_period(query.period)
    return _eligibility_out(
        selectors.eligibility_one(org, catalog.get_policy(policy_id), period), period, detail=True
    )


@router.get(
    "/members/{int:organisation_id}/eligibility/{policy_id}",
    response={200: SubsidyEligibilityDetailOut, **READ_ERRORS},
    summary="Why ¥X for one of your members (operator)",
)
def member_eligibility(
    request: HttpRequest,
    query: Query[SubsidyPeriodQuery],
    policy_id: str = Path(..., pattern=r"^[a-z0-9-]{1,80}$"),
    organisation_id: int = Path(..., ge=1, le=MAX_ID),
) -> SubsidyEligibilityDetailOut:
    scope, _operator_org = _operator(request, Capability.COMMUNITY_MANAGE)
    org = scope.get_member_organisation(organisation_id)
    period = catalog.parse_period(query.period)
    return _eligibility_out(
        selectors.eligibility_one(org, catalog.get_policy(policy_id), period), period, detail=True
    )


def _consent_out(c: Consent) -> SubsidyConsentOut:
    return SubsidyConsentOut(
        policy_id=c.policy_id, payout=c.payout, given_at=c.given_at, revoked_at=c.revoked_at
    )


@router.get("/consents", response={200: list[SubsidyConsentOut], **ERRORS}, summary="Your active consents")
def consent_list(request: HttpRequest) -> list[SubsidyConsentOut]:
    _scope, org = _member_org(request, OrgKind.OPC)
    return [_consent_out(c) for c in selectors.active_consents(org).values()]


@router.put(
    "/consents/{policy_id}",
    response={200: SubsidyConsentOut, **WRITE_ERRORS},
    summary="Consent that your operator claims a policy for you, and how to take your share",
)
def consent_give(
    request: HttpRequest, payload: SubsidyConsentIn, policy_id: str = Path(..., pattern=r"^[a-z0-9-]{1,80}$")
) -> SubsidyConsentOut:
    scope, org = _member_org(request, OrgKind.OPC)
    scope.require(Capability.ORG_MANAGE)
    consent = services.give_consent(
        organisation=org,
        policy=catalog.get_policy(policy_id),
        payout=payload.payout,
        actor=acting_user(request),
    )
    return _consent_out(consent)


@router.delete(
    "/consents/{policy_id}",
    response={204: None, **WRITE_ERRORS},
    summary="Withdraw your consent (later claims leave you out)",
)
def consent_revoke(
    request: HttpRequest, policy_id: str = Path(..., pattern=r"^[a-z0-9-]{1,80}$")
) -> Status[None]:
    scope, org = _member_org(request, OrgKind.OPC)
    scope.require(Capability.ORG_MANAGE)
    services.revoke_consent(
        organisation=org, policy=catalog.get_policy(policy_id), actor=acting_user(request)
    )
    return Status(204, None)


@router.get(
    "/shares",
    response={200: list[SubsidyShareOut], **ERRORS},
    summary="Claims made for you by your operator and the shares you received, with the reason",
)
def share_list(request: HttpRequest) -> list[SubsidyShareOut]:
    _scope, org = _member_org(request)
    return [
        SubsidyShareOut(
            line_id=line.pk,
            batch_id=line.batch_id,
            batch_code=line.batch.code,
            policy_id=line.policy_id,
            period=line.batch.period_label,
            batch_status=line.batch.status,
            eligible_amount=_money(line.eligible_amount),  # type: ignore[arg-type]
            share=_money(line.share),
            payout=line.payout,
            batch_claimed=_money(line.batch.claimed_amount),  # type: ignore[arg-type]
            batch_received=_money(line.batch.received_amount),
            rounded_up=line.rounded_up,
            trace=_trace(line.trace),
        )
        for line in selectors.member_shares(org)[:200]
    ]


# -- batches -----------------------------------------------------------------------------------------------------
@router.get(
    "/batches",
    response={200: list[SubsidyBatchOut], **ERRORS},
    summary="Claim batches (operators: yours; authorities: those of the communities you oversee)",
)
def batch_list(request: HttpRequest) -> list[SubsidyBatchOut]:
    scope = scope_for(request)
    if not (scope.has(Capability.COMMUNITY_MANAGE) or scope.has(Capability.OVERSIGHT_VIEW)):
        raise NotPermitted()
    qs = selectors.batches_for(scope)
    if not scope.is_operator:
        qs = qs.exclude(status="draft")
    return [SubsidyBatchOut(**_batch_values(b)) for b in qs[:500]]


@router.post(
    "/batches", response={201: SubsidyBatchDetailOut, **WRITE_ERRORS}, summary="Open a draft claim batch"
)
def batch_create(request: HttpRequest, payload: SubsidyBatchIn) -> Status[SubsidyBatchDetailOut]:
    _scope, operator = _operator(request, Capability.COMMUNITY_MANAGE)
    batch = services.open_batch(
        operator=operator,
        policy=catalog.get_policy(payload.policy_id),
        period=catalog.parse_period(payload.period),
        kind=BatchKind(payload.kind),
        actor=acting_user(request),
    )
    return Status(201, _batch_detail(batch))


@router.get(
    "/batches/{int:batch_id}",
    response={200: SubsidyBatchDetailOut, 404: ErrorOut, **ERRORS},
    summary="A claim batch with its members",
)
def batch_get(request: HttpRequest, batch_id: int = Path(..., ge=1, le=MAX_ID)) -> SubsidyBatchDetailOut:
    scope = scope_for(request)
    if not (scope.has(Capability.COMMUNITY_MANAGE) or scope.has(Capability.OVERSIGHT_VIEW)):
        raise NotPermitted()
    batch = selectors.batch_for(scope, batch_id)
    if batch.status == "draft" and not scope.is_operator:
        raise NotFound()
    return _batch_detail(batch)


def _managed_batch(request: HttpRequest, batch_id: int) -> ClaimBatch:
    scope, _operator_org = _operator(request, Capability.COMMUNITY_MANAGE)
    return selectors.batch_for(scope, batch_id, manage=True)


@router.post(
    "/batches/{int:batch_id}/submit",
    response={200: SubsidyBatchDetailOut, **WRITE_ERRORS},
    summary="Submit (idempotent): freeze the amounts and generate the application package",
)
def batch_submit(request: HttpRequest, batch_id: int = Path(..., ge=1, le=MAX_ID)) -> SubsidyBatchDetailOut:
    batch = services.submit_batch(batch=_managed_batch(request, batch_id), actor=acting_user(request))
    return _batch_detail(batch)


@router.post(
    "/batches/{int:batch_id}/review",
    response={200: SubsidyBatchDetailOut, **WRITE_ERRORS},
    summary="Record that the authority is reviewing the claim",
)
def batch_review(
    request: HttpRequest, payload: SubsidyReferenceIn, batch_id: int = Path(..., ge=1, le=MAX_ID)
) -> SubsidyBatchDetailOut:
    batch = services.start_review(
        batch=_managed_batch(request, batch_id), actor=acting_user(request), reference=payload.reference
    )
    return _batch_detail(batch)


@router.post(
    "/batches/{int:batch_id}/approve",
    response={200: SubsidyBatchDetailOut, **WRITE_ERRORS},
    summary="Record the authority's approval (possibly for less than claimed)",
)
def batch_approve(
    request: HttpRequest, payload: SubsidyApproveIn, batch_id: int = Path(..., ge=1, le=MAX_ID)
) -> SubsidyBatchDetailOut:
    batch = services.approve_batch(
        batch=_managed_batch(request, batch_id),
        actor=acting_user(request),
        amount=payload.amount,
        reference=payload.reference,
    )
    return _batch_detail(batch)


@router.post(
    "/batches/{int:batch_id}/reject",
    response={200: SubsidyBatchDetailOut, **WRITE_ERRORS},
    summary="Record the authority's refusal",
)
def batch_reject(
    request: HttpRequest, payload: SubsidyReasonIn, batch_id: int = Path(..., ge=1, le=MAX_ID)
) -> SubsidyBatchDetailOut:
    batch = services.reject_batch(
        batch=_managed_batch(request, batch_id), actor=acting_user(request), reason=payload.reason
    )
    return _batch_detail(batch)


@router.post(
    "/batches/{int:batch_id}/cancel",
    response={200: SubsidyBatchDetailOut, **WRITE_ERRORS},
    summary="Cancel a draft batch",
)
def batch_cancel(request: HttpRequest, batch_id: int = Path(..., ge=1, le=MAX_ID)) -> SubsidyBatchDetailOut:
    batch = services.cancel_batch(batch=_managed_batch(request, batch_id), actor=acting_user(request))
    return _batch_detail(batch)


@router.post(
    "/batches/{int:batch_id}/funds",
    response={200: SubsidyBatchDetailOut, **WRITE_ERRORS},
    summary="Record the funds received (into the operator's subsidy pool)",
)
def batch_funds(
    request: HttpRequest, payload: SubsidyFundsIn, batch_id: int = Path(..., ge=1, le=MAX_ID)
) -> SubsidyBatchDetailOut:
    batch = services.record_funds(
        batch=_managed_batch(request, batch_id),
        actor=acting_user(request),
        amount=payload.amount,
        received_on=payload.received_on,
    )
    return _batch_detail(batch)


@router.post(
    "/batches/{int:batch_id}/distribute",
    response={200: SubsidyBatchDetailOut, **WRITE_ERRORS},
    summary="Distribute the received funds pro rata, to the fen (idempotent)",
)
def batch_distribute(
    request: HttpRequest, batch_id: int = Path(..., ge=1, le=MAX_ID)
) -> SubsidyBatchDetailOut:
    batch = services.distribute_batch(batch=_managed_batch(request, batch_id), actor=acting_user(request))
    return _batch_detail(batch)


# -- reports -----------------------------------------------------------------------------------------------------
@router.get(
    "/reports",
    response={200: SubsidyReportOut, **ERRORS},
    summary="Payout-cycle figures and subsidies by policy, community and category",
)
def report_get(request: HttpRequest) -> SubsidyReportOut:
    scope = scope_for(request)
    if not (
        scope.has(Capability.OVERSIGHT_VIEW) or (scope.is_operator and scope.has(Capability.COMMUNITY_MANAGE))
    ):
        raise NotPermitted()
    r = selectors.report(selectors.batches_for(scope))
    return SubsidyReportOut(
        batches=r.batches,
        claimed=_money(r.claimed),  # type: ignore[arg-type]
        approved=_money(r.approved),  # type: ignore[arg-type]
        received=_money(r.received),  # type: ignore[arg-type]
        distributed=_money(r.distributed),  # type: ignore[arg-type]
        median_days_to_funds=r.median_days,
        by_policy=[
            SubsidyPolicyFiguresOut(
                policy_id=f.policy_id,
                title=f.title,
                instrument=f.instrument,
                batches=f.batches,
                claimed=_money(f.claimed),  # type: ignore[arg-type]
                approved=_money(f.approved),  # type: ignore[arg-type]
                received=_money(f.received),  # type: ignore[arg-type]
                distributed=_money(f.distributed),  # type: ignore[arg-type]
                median_days_to_funds=f.median_days,
            )
            for f in r.by_policy
        ],
        by_community=[SubsidyGroupOut(name=n, shares=c, paid=_money(t)) for n, c, t in r.by_community],  # type: ignore[arg-type]
        by_category=[SubsidyGroupOut(name=n, shares=c, paid=_money(t)) for n, c, t in r.by_category],  # type: ignore[arg-type]
    )
