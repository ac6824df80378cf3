"""Copyright registry API (mounted at /api/rights/): registering works and checking suspected copies
(multipart uploads), evidence, cases and compensation with a token or session; certificate and chain
verification without authentication.

Uploads are ``multipart/form-data`` and are read with the same forms as the pages after the caller's
permission is checked, so a caller who may not upload gets 403 before anything is parsed; bad files get 400
with the localized reason. Everything else is JSON. Domain errors become ``{"detail": …}`` with their status.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Path, Router, Schema, Status

from accounts.api import ERRORS, MAX_ID, ErrorOut
from core.errors import DomainError, NotFound
from core.http import acting_user
from organisations.access import scope_for
from organisations.models import Organisation
from rights import chain, selectors, services
from rights.forms import ScanForm, WorkForm
from rights.models import Case, ChainEntry, Match, Scan, Suspect, Work
from rights.pdf import verification_url

router = Router(tags=["rights"])

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
MoneyOut = Annotated[str, Field(pattern=r"^-?\d+\.\d{2}$", description="CNY to the fen, as a string.")]
WRITE_ERRORS: dict[int, Any] = {400: ErrorOut, 404: ErrorOut, 409: ErrorOut, **ERRORS}


def _org(request: HttpRequest) -> Organisation:
    org = scope_for(request).organisation
    if org is None:
        from core.errors import NotPermitted

        raise NotPermitted()
    return org


def _multipart(fields: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": fields, "required": required}
                }
            },
        }
    }


def _form_error(form: Any) -> DomainError:
    messages: list[str] = []
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        messages.extend(f"{label}: {e}" if label else str(e) for e in errors)
    return DomainError(" ".join(messages))


# -- schemas ---------------------------------------------------------------------------------------------------------
class WorkOut(Schema):
    id: int
    code: str
    title: str
    category: str
    media_kind: str
    authors: str
    holder: str
    status: str
    failure_reason: str
    sha256: str
    file_format: str
    file_size: int
    width: int | None
    height: int | None
    duration_ms: int | None
    frames_kept: int
    submitted_at: dt.datetime
    registered_at: dt.datetime | None
    registration_number: str
    chain_sequence: int | None
    entry_hash: str | None
    verify_url: str
    certificate_sha256: str


class ChainLinkOut(Schema):
    sequence: int
    entry_hash: str
    previous_hash: str
    recorded_at: dt.datetime


class CertificateOut(Schema):
    code: str
    status: str = Field(..., description='"valid" or "tampered"')
    problems: list[str]
    registration_number: str
    title: str
    category: str
    media_kind: str
    authors: str
    holder_name: str
    holder_uscc: str
    created_on: dt.date
    first_published_on: dt.date | None
    published_where: str
    ai_tools: str
    registered_at: dt.datetime | None
    sha256: str
    fingerprint_digest: str
    certificate_sha256: str
    chain: ChainLinkOut


class ChainProblemOut(Schema):
    sequence: int
    problem: str


class ChainReportOut(Schema):
    ok: bool
    entries: int
    head_hash: str
    first_broken: int | None
    problems: list[ChainProblemOut]


class SegmentOut(Schema):
    query_start_ms: int
    query_end_ms: int
    work_start_ms: int
    work_end_ms: int
    frames: int
    min_distance: int
    mean_distance: float


class MatchOut(Schema):
    id: int
    suspect_id: int
    work_id: int
    work_title: str
    holder_name: str
    registration_number: str
    certificate_code: str
    votes: int = Field(..., description="matched seconds (frames for images)")
    min_distance: int = Field(..., description="smallest Hamming distance, bits of 256")
    mean_distance: float
    mirrored: bool
    segments: list[SegmentOut]
    case_id: int | None


class SuspectOut(Schema):
    id: int
    name: str
    media_kind: str
    sha256: str
    status: str
    failure_reason: str
    duration_ms: int | None
    query_ms: int | None
    matches: list[MatchOut]


class ScanOut(Schema):
    id: int
    created_at: dt.datetime
    note: str
    suspects: list[SuspectOut]


class ScanSummaryOut(Schema):
    id: int
    created_at: dt.datetime
    note: str
    files: int
    matches: int


class CaseIn(Schema):
    agency_id: Id
    agency_share: Decimal = Field(..., ge=0, le=100, max_digits=5, decimal_places=2, description="percent")
    infringer: str = Field("", max_length=200)
    infringing_url: str = Field("", max_length=500)
    note: str = Field("", max_length=5000)


class StatusIn(Schema):
    status: str = Field(..., max_length=12, description="accepted, declined, enforcing, closed or withdrawn")
    outcome: str = Field("", max_length=5000)


class NoteIn(Schema):
    text: str = Field(..., min_length=1, max_length=5000)


class CompensationIn(Schema):
    amount: Decimal = Field(..., gt=0, max_digits=14, decimal_places=2)
    payer: str = Field(..., min_length=1, max_length=200)
    idempotency_key: str = Field(..., min_length=1, max_length=100, description="the same key records once")


class NoteOut(Schema):
    id: int
    organisation: str
    author: str
    text: str
    created_at: dt.datetime


class CompensationOut(Schema):
    id: int
    amount: MoneyOut
    agency_amount: MoneyOut
    creator_amount: MoneyOut
    payer: str
    created_at: dt.datetime


class CaseOut(Schema):
    id: int
    match_id: int
    work_id: int
    work_title: str
    holder: str
    agency: str
    status: str
    agency_share: str
    infringer: str
    infringing_url: str
    outcome: str
    compensation_total: MoneyOut
    created_at: dt.datetime
    updated_at: dt.datetime
    notes: list[NoteOut]
    compensations: list[CompensationOut]


# -- converters ----------------------------------------------------------------------------------------------------------
def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


def _work_out(work: Work) -> WorkOut:
    entry: ChainEntry | None = getattr(work, "chain_entry", None) if work.registered_at else None
    return WorkOut(
        id=work.pk,
        code=work.code,
        title=work.title,
        category=work.category,
        media_kind=work.media_kind,
        authors=work.authors,
        holder=work.holder_name,
        status=work.status,
        failure_reason=work.failure_reason,
        sha256=work.sha256,
        file_format=work.file_format,
        file_size=work.file_size,
        width=work.width,
        height=work.height,
        duration_ms=work.duration_ms,
        frames_kept=work.frames_kept,
        submitted_at=work.submitted_at,
        registered_at=work.registered_at,
        registration_number=work.registration_number,
        chain_sequence=entry.sequence if entry else None,
        entry_hash=entry.entry_hash if entry else None,
        verify_url=verification_url(work.code),
        certificate_sha256=work.certificate_sha256,
    )


def _match_out(match: Match) -> MatchOut:
    case: Case | None = getattr(match, "case", None)
    return MatchOut(
        id=match.pk,
        suspect_id=match.suspect_id,
        work_id=match.work_id,
        work_title=match.work.title,
        holder_name=match.work.holder_name,
        registration_number=match.work.registration_number,
        certificate_code=match.work.code,
        votes=match.votes,
        min_distance=match.min_distance,
        mean_distance=float(match.mean_distance),
        mirrored=match.mirrored,
        segments=[SegmentOut(**s) for s in match.segments],
        case_id=case.pk if case else None,
    )


def _suspect_out(suspect: Suspect) -> SuspectOut:
    return SuspectOut(
        id=suspect.pk,
        name=suspect.original_name,
        media_kind=suspect.media_kind,
        sha256=suspect.sha256,
        status=suspect.status,
        failure_reason=suspect.failure_reason,
        duration_ms=suspect.duration_ms,
        query_ms=suspect.query_ms,
        matches=[_match_out(m) for m in suspect.matches.all()],
    )


def _scan_out(scan: Scan) -> ScanOut:
    return ScanOut(
        id=scan.pk,
        created_at=scan.created_at,
        note=scan.note,
        suspects=[_suspect_out(s) for s in scan.suspects.all()],
    )


def _case_out(case: Case) -> CaseOut:
    return CaseOut(
        id=case.pk,
        match_id=case.match_id,
        work_id=case.work_id,
        work_title=case.work.title,
        holder=case.holder.name,
        agency=case.agency.name,
        status=case.status,
        agency_share=format(case.agency_share, "f"),
        infringer=case.infringer,
        infringing_url=case.infringing_url,
        outcome=case.outcome,
        compensation_total=_money(case.compensation_total),
        created_at=case.created_at,
        updated_at=case.updated_at,
        notes=[
            NoteOut(
                id=n.pk,
                organisation=n.organisation.name,
                author=n.author.display_name,
                text=n.text,
                created_at=n.created_at,
            )
            for n in case.notes.all()
        ],
        compensations=[
            CompensationOut(
                id=c.pk,
                amount=_money(c.amount),
                agency_amount=_money(c.agency_amount),
                creator_amount=_money(c.creator_amount),
                payer=c.payer,
                created_at=c.created_at,
            )
            for c in case.compensations.all()
        ],
    )


# -- public ----------------------------------------------------------------------------------------------------------
@router.get(
    "/verify/{code}",
    auth=None,
    response={200: CertificateOut, 404: ErrorOut, 422: ERRORS[422]},
    summary="Verify a work registration certificate by its code",
)
def verify(request: HttpRequest, code: str = Path(..., max_length=64)) -> CertificateOut:
    work = selectors.certificate_by_code(code)
    if work is None:
        raise NotFound(_("No registered work has this verification code."))
    entry = work.chain_entry
    check = chain.check_registered(work)
    return CertificateOut(
        code=work.code,
        status="valid" if check.ok else "tampered",
        problems=check.problems,
        registration_number=work.registration_number,
        title=work.title,
        category=work.category,
        media_kind=work.media_kind,
        authors=work.authors,
        holder_name=work.holder_name,
        holder_uscc=work.holder_uscc,
        created_on=work.created_on,
        first_published_on=work.first_published_on,
        published_where=work.published_where,
        ai_tools=work.ai_tools,
        registered_at=work.registered_at,
        sha256=work.sha256,
        fingerprint_digest=work.fingerprint_digest,
        certificate_sha256=work.certificate_sha256,
        chain=ChainLinkOut(
            sequence=entry.sequence,
            entry_hash=entry.entry_hash,
            previous_hash=entry.previous_hash,
            recorded_at=entry.recorded_at,
        ),
    )


@router.get(
    "/chain", auth=None, response={200: ChainReportOut}, summary="Verify the whole registration chain"
)
def chain_report(request: HttpRequest) -> ChainReportOut:
    report = chain.verify_chain(use_cache=True)
    return ChainReportOut(
        ok=report.ok,
        entries=report.entries,
        head_hash=report.head_hash,
        first_broken=report.first_broken,
        problems=[ChainProblemOut(sequence=s, problem=p) for s, p in report.problems],
    )


# -- works -----------------------------------------------------------------------------------------------------------
@router.get("/works", response={200: list[WorkOut], **ERRORS}, summary="Works you registered")
def work_list(request: HttpRequest) -> list[WorkOut]:
    org = services.require_registrant(_org(request))
    return [_work_out(w) for w in selectors.works_for(org)[:500]]


@router.post(
    "/works",
    response={201: WorkOut, **WRITE_ERRORS},
    summary="Register a work (multipart upload)",
    openapi_extra=_multipart(
        {
            "file": {"type": "string", "format": "binary"},
            "title": {"type": "string", "maxLength": 120},
            "category": {"type": "string"},
            "authors": {"type": "string", "maxLength": 300},
            "created_on": {"type": "string", "format": "date"},
            "first_published_on": {"type": "string", "format": "date"},
            "published_where": {"type": "string", "maxLength": 200},
            "purpose": {"type": "string"},
            "process": {"type": "string"},
            "ai_tools": {"type": "string", "maxLength": 300},
            "prompts": {"type": "string"},
            "originality": {"type": "string"},
        },
        [
            "file",
            "title",
            "category",
            "authors",
            "created_on",
            "purpose",
            "process",
            "ai_tools",
            "originality",
        ],
    ),
)
def work_create(request: HttpRequest) -> Status[WorkOut]:
    """Stores the file and the creation statement (status ``processing``); fingerprinting, the chain entry and
    the certificate follow in a background task. Poll ``GET /works/{id}``."""
    org = services.require_registrant(_org(request))
    form = WorkForm(request.POST, request.FILES)
    if not form.is_valid():
        raise _form_error(form)
    work = services.register_work(
        holder=org,
        actor=acting_user(request),
        upload=form.cleaned_data["file"],
        inspected=form.inspected,
        **form.values(),
    )
    return Status(201, _work_out(selectors.get_work_for(org, work.pk)))


@router.get(
    "/works/{int:work_id}",
    response={200: WorkOut, 404: ErrorOut, **ERRORS},
    summary="One of your works",
)
def work_detail(request: HttpRequest, work_id: int = Path(..., ge=1, le=MAX_ID)) -> WorkOut:
    return _work_out(selectors.get_work_for(_org(request), work_id))


# -- detection -------------------------------------------------------------------------------------------------------
@router.get(
    "/scans", response={200: list[ScanSummaryOut], **ERRORS}, summary="Your checks of suspected copies"
)
def scan_list(request: HttpRequest) -> list[ScanSummaryOut]:
    org = services.require_scanner(_org(request))
    return [
        ScanSummaryOut(
            id=s.pk,
            created_at=s.created_at,
            note=s.note,
            files=s.suspect_count,  # type: ignore[attr-defined]
            matches=s.match_count,  # type: ignore[attr-defined]
        )
        for s in selectors.scans_for(org)[:500]
    ]


@router.post(
    "/scans",
    response={201: ScanOut, **WRITE_ERRORS},
    summary="Submit suspected copies (multipart; one or more files)",
    openapi_extra=_multipart(
        {
            "copies": {"type": "array", "items": {"type": "string", "format": "binary"}},
            "note": {"type": "string", "maxLength": 300},
        },
        ["copies"],
    ),
)
def scan_create(request: HttpRequest) -> Status[ScanOut]:
    """Each file is matched against the whole registry in a background task; poll ``GET /scans/{id}``."""
    org = services.require_scanner(_org(request))
    form = ScanForm(request.POST, request.FILES)
    if not form.is_valid():
        raise _form_error(form)
    scan = services.submit_scan(
        organisation=org,
        actor=acting_user(request),
        uploads=form.cleaned_data["copies"],
        note=form.cleaned_data["note"],
        inspected=form.inspected,
    )
    return Status(201, _scan_out(selectors.get_scan_for(org, scan.pk)))


@router.get(
    "/scans/{int:scan_id}",
    response={200: ScanOut, 404: ErrorOut, **ERRORS},
    summary="A check with its files and the registered works found",
)
def scan_detail(request: HttpRequest, scan_id: int = Path(..., ge=1, le=MAX_ID)) -> ScanOut:
    return _scan_out(selectors.get_scan_for(_org(request), scan_id))


@router.get(
    "/matches/{int:match_id}",
    response={200: MatchOut, 404: ErrorOut, **ERRORS},
    summary="A match (evidence): the work found, segments and distances",
)
def match_detail(request: HttpRequest, match_id: int = Path(..., ge=1, le=MAX_ID)) -> MatchOut:
    return _match_out(selectors.get_match_for(_org(request), match_id))


@router.post(
    "/matches/{int:match_id}/case",
    response={201: CaseOut, **WRITE_ERRORS},
    summary="Open an infringement case for a match of your work",
)
def case_create(
    request: HttpRequest, payload: CaseIn, match_id: int = Path(..., ge=1, le=MAX_ID)
) -> Status[CaseOut]:
    org = _org(request)
    match = selectors.get_match_for(org, match_id)
    agency = selectors.copyright_agencies().filter(pk=payload.agency_id).first()
    if agency is None:
        raise NotFound(_("Unknown copyright agency."))
    case = services.open_case(
        match=match,
        organisation=org,
        actor=acting_user(request),
        agency=agency,
        agency_share=payload.agency_share,
        infringer=payload.infringer,
        infringing_url=payload.infringing_url,
        note=payload.note,
    )
    return Status(201, _case_out(selectors.get_case_for(org, case.pk)))


# -- cases -------------------------------------------------------------------------------------------------------------
@router.get(
    "/cases", response={200: list[CaseOut], **ERRORS}, summary="Cases of your works or handled by you"
)
def case_list(request: HttpRequest) -> list[CaseOut]:
    org = services.require_case_party(_org(request))
    qs = selectors.cases_for(org).prefetch_related("notes__author", "notes__organisation", "compensations")
    return [_case_out(c) for c in qs[:500]]


@router.get(
    "/cases/{int:case_id}",
    response={200: CaseOut, 404: ErrorOut, **ERRORS},
    summary="One case with its notes and compensation",
)
def case_detail(request: HttpRequest, case_id: int = Path(..., ge=1, le=MAX_ID)) -> CaseOut:
    return _case_out(selectors.get_case_for(_org(request), case_id))


@router.post(
    "/cases/{int:case_id}/status",
    response={200: CaseOut, **WRITE_ERRORS},
    summary="Change a case's status (agency: accept, decline, enforce, close; holder: withdraw)",
)
def case_status(
    request: HttpRequest, payload: StatusIn, case_id: int = Path(..., ge=1, le=MAX_ID)
) -> CaseOut:
    org = _org(request)
    case = selectors.get_case_for(org, case_id)
    services.change_case_status(
        case=case,
        organisation=org,
        actor=acting_user(request),
        status=payload.status,
        outcome=payload.outcome,
    )
    return _case_out(selectors.get_case_for(org, case_id))


@router.post(
    "/cases/{int:case_id}/notes",
    response={201: CaseOut, **WRITE_ERRORS},
    summary="Add a note to a case",
)
def case_note(
    request: HttpRequest, payload: NoteIn, case_id: int = Path(..., ge=1, le=MAX_ID)
) -> Status[CaseOut]:
    org = _org(request)
    case = selectors.get_case_for(org, case_id)
    services.add_case_note(case=case, organisation=org, actor=acting_user(request), text=payload.text)
    return Status(201, _case_out(selectors.get_case_for(org, case_id)))


@router.post(
    "/cases/{int:case_id}/compensation",
    response={201: CompensationOut, **WRITE_ERRORS},
    summary="Record compensation received (agency); split by the agreed share through the ledger",
)
def case_compensation(
    request: HttpRequest, payload: CompensationIn, case_id: int = Path(..., ge=1, le=MAX_ID)
) -> Status[CompensationOut]:
    org = _org(request)
    case = selectors.get_case_for(org, case_id)
    c = services.record_compensation(
        case=case,
        organisation=org,
        actor=acting_user(request),
        amount=payload.amount,
        payer=payload.payer,
        idempotency_key=payload.idempotency_key,
    )
    return Status(
        201,
        CompensationOut(
            id=c.pk,
            amount=_money(c.amount),
            agency_amount=_money(c.agency_amount),
            creator_amount=_money(c.creator_amount),
            payer=c.payer,
            created_at=c.created_at,
        ),
    )
