"""Service desk API (mounted at /api/servicedesk/): tickets with messages, routing, actions and ratings; the free
legal service quota; licence cases with their checklist and site statement; the licence catalogue.

Handlers are thin: objects come from ``servicedesk.selectors`` (not visible → 404), ``servicedesk.services``
decide (not permitted → 403, illegal change of state → 409, quota used up → 409, bad value → 400).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Path, Query, Router, Schema, Status
from pydantic import Field

from accounts.api import ERRORS, MAX_ID, ErrorOut
from core.errors import NotFound
from core.http import acting_user
from organisations.access import scope_for
from organisations.capabilities import Capability
from servicedesk import selectors, services
from servicedesk.licences import catalogue
from servicedesk.models import CaseItem, Category, LegalServiceQuota, LicenceCase, Ticket
from servicedesk.templatetags.servicedesk_tags import in_language

router = Router(tags=["servicedesk"])

WRITE: dict[int, Any] = {400: ErrorOut, 404: ErrorOut, 409: ErrorOut, **ERRORS}


# -- schemas ------------------------------------------------------------------------------------------------------
class Party(Schema):
    id: int
    name: str


class MessageOut(Schema):
    id: int
    author: Party
    body: str
    created_at: dt.datetime
    attachments: list[str]


class TicketOut(Schema):
    id: int
    category: str
    subject: str
    description: str
    status: str
    requester: Party
    operator: Party
    provider: Party | None
    uses_free_quota: bool
    first_response_due: dt.datetime
    resolution_due: dt.datetime
    first_response_at: dt.datetime | None
    resolved_at: dt.datetime | None
    first_response_late: bool = Field(description="Stored breach, or due time passed while still waiting.")
    resolution_late: bool
    rating: int | None
    created_at: dt.datetime
    messages: list[MessageOut] = Field(default_factory=list)


class TicketIn(Schema):
    category: Category
    subject: str = Field(min_length=1, max_length=services.SUBJECT_MAX)
    description: str = Field(min_length=1, max_length=services.TEXT_MAX)
    use_free_quota: bool = False


class MessageIn(Schema):
    body: str = Field(min_length=1, max_length=services.TEXT_MAX)


class RouteIn(Schema):
    provider_id: int = Field(ge=1, le=MAX_ID)


class ActionIn(Schema):
    action: Literal["accept", "decline", "ask_member", "resolve", "reopen", "close", "cancel"]
    note: str = Field("", max_length=2000)


class RatingIn(Schema):
    rating: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=500)


class QuotaOut(Schema):
    organisation_id: int
    granted: int
    used: int
    remaining: int
    starts_on: dt.date
    ends_on: dt.date


class QuotaIn(Schema):
    consultations: int = Field(ge=0, le=1000)
    starts_on: dt.date | None = None


class ProviderOut(Schema):
    id: int
    name: str
    subkind: str


class ChecklistItemOut(Schema):
    code: str
    title: str
    note: str
    required: bool
    site_statement: bool


class LicenceOut(Schema):
    code: str
    name: str
    authority: str
    summary: str
    illustrative: bool
    items: list[ChecklistItemOut]


class CaseItemOut(ChecklistItemOut):
    done: bool
    satisfied: bool
    document: str


class CaseOut(Schema):
    id: int
    licence: str
    licence_name: str
    organisation: Party
    status: str
    site_statement: str | None = Field(description="Verification code of the linked site statement.")
    reference: str
    decision_note: str
    created_at: dt.datetime
    submitted_at: dt.datetime | None
    decided_at: dt.datetime | None
    items: list[CaseItemOut]


class CaseIn(Schema):
    licence: str = Field(min_length=1, max_length=40)
    note: str = Field("", max_length=services.TEXT_MAX)


class CaseItemIn(Schema):
    done: bool


class StatementIn(Schema):
    statement_id: int | None = Field(None, ge=1, le=MAX_ID, description="null detaches the statement.")


class CaseStatusIn(Schema):
    target: Literal["preparing", "submitted", "approved", "rejected", "withdrawn"]
    reference: str = Field("", max_length=80)
    note: str = Field("", max_length=500)


# -- converters -----------------------------------------------------------------------------------------------------
def _party(org: Any) -> Party | None:
    return Party(id=org.pk, name=org.name) if org is not None else None


def ticket_out(ticket: Ticket, *, detail: bool = False) -> TicketOut:
    messages = []
    if detail:
        messages = [
            MessageOut(
                id=m.pk,
                author=Party(id=m.author_organisation_id, name=m.author_organisation.name),
                body=m.body,
                created_at=m.created_at,
                attachments=[a.name for a in m.attachments.all()],
            )
            for m in ticket.messages.all()
        ]
    return TicketOut(
        id=ticket.pk,
        category=ticket.category,
        subject=ticket.subject,
        description=ticket.description,
        status=ticket.status,
        requester=Party(id=ticket.requester_id, name=ticket.requester.name),
        operator=Party(id=ticket.operator_id, name=ticket.operator.name),
        provider=_party(ticket.provider),
        uses_free_quota=ticket.uses_free_quota,
        first_response_due=ticket.first_response_due,
        resolution_due=ticket.resolution_due,
        first_response_at=ticket.first_response_at,
        resolved_at=ticket.resolved_at,
        first_response_late=ticket.first_response_breached or ticket.first_response_late(),
        resolution_late=ticket.resolution_breached or ticket.resolution_late(),
        rating=ticket.rating,
        created_at=ticket.created_at,
        messages=messages,
    )


def quota_out(quota: LegalServiceQuota) -> QuotaOut:
    return QuotaOut(
        organisation_id=quota.organisation_id,
        granted=quota.granted,
        used=quota.used,
        remaining=quota.remaining,
        starts_on=quota.starts_on,
        ends_on=quota.ends_on,
    )


def _item_out(item: CaseItem) -> CaseItemOut:
    return CaseItemOut(
        code=item.code,
        title=in_language(item.title),
        note=in_language(item.note),
        required=item.required,
        site_statement=item.site_statement,
        done=item.done,
        satisfied=item.satisfied,
        document=item.document_name,
    )


def case_out(case: LicenceCase) -> CaseOut:
    return CaseOut(
        id=case.pk,
        licence=case.licence_code,
        licence_name=in_language(case.licence_name),
        organisation=Party(id=case.organisation_id, name=case.organisation.name),
        status=case.status,
        site_statement=case.site_statement.code if case.site_statement is not None else None,
        reference=case.reference,
        decision_note=case.decision_note,
        created_at=case.created_at,
        submitted_at=case.submitted_at,
        decided_at=case.decided_at,
        items=[_item_out(i) for i in case.items.order_by("position")],
    )


def _org(request: HttpRequest) -> Any:
    org = scope_for(request).organisation
    if org is None:
        raise NotFound()
    return org


# -- tickets ---------------------------------------------------------------------------------------------------------
@router.get(
    "/tickets", response={200: list[TicketOut], **ERRORS}, summary="Tickets you opened, route or answer"
)
def list_tickets(
    request: HttpRequest,
    status: str = Query("", max_length=20),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> list[TicketOut]:
    qs = selectors.tickets_for(scope_for(request))
    if status:
        qs = qs.filter(status=status)
    return [ticket_out(t) for t in qs[offset : offset + limit]]


@router.post("/tickets", response={201: TicketOut, **WRITE}, summary="Open a ticket (members of a community)")
def open_ticket(request: HttpRequest, payload: TicketIn) -> Status[TicketOut]:
    ticket = services.open_ticket(
        requester=_org(request),
        actor=acting_user(request),
        category=payload.category,
        subject=payload.subject,
        description=payload.description,
        use_free_quota=payload.use_free_quota,
    )
    return Status(201, ticket_out(ticket, detail=True))


@router.get(
    "/tickets/{int:ticket_id}", response={200: TicketOut, 404: ErrorOut, **ERRORS}, summary="A ticket"
)
def get_ticket(request: HttpRequest, ticket_id: int = Path(..., ge=1, le=MAX_ID)) -> TicketOut:
    return ticket_out(selectors.get_ticket(scope_for(request), ticket_id), detail=True)


@router.post(
    "/tickets/{int:ticket_id}/messages", response={201: TicketOut, **WRITE}, summary="Write on a ticket"
)
def post_message(
    request: HttpRequest, payload: MessageIn, ticket_id: int = Path(..., ge=1, le=MAX_ID)
) -> Status[TicketOut]:
    scope = scope_for(request)
    ticket = selectors.get_ticket(scope, ticket_id)
    services.post_message(
        ticket=ticket, organisation=_org(request), actor=acting_user(request), body=payload.body
    )
    return Status(201, ticket_out(selectors.get_ticket(scope, ticket_id), detail=True))


@router.post(
    "/tickets/{int:ticket_id}/route",
    response={200: TicketOut, **WRITE},
    summary="Route to a provider (operator)",
)
def route_ticket(
    request: HttpRequest, payload: RouteIn, ticket_id: int = Path(..., ge=1, le=MAX_ID)
) -> TicketOut:
    scope = scope_for(request)
    scope.require(Capability.COMMUNITY_MANAGE)
    ticket = selectors.get_ticket(scope, ticket_id)
    provider = selectors.get_provider(payload.provider_id)
    services.route_ticket(
        ticket=ticket, operator=_org(request), actor=acting_user(request), provider=provider
    )
    return ticket_out(selectors.get_ticket(scope, ticket_id), detail=True)


@router.post(
    "/tickets/{int:ticket_id}/actions",
    response={200: TicketOut, **WRITE},
    summary="accept · decline · ask_member · resolve · reopen · close · cancel",
)
def act(request: HttpRequest, payload: ActionIn, ticket_id: int = Path(..., ge=1, le=MAX_ID)) -> TicketOut:
    scope = scope_for(request)
    ticket = selectors.get_ticket(scope, ticket_id)
    services.act_on_ticket(
        ticket=ticket,
        organisation=_org(request),
        actor=acting_user(request),
        action=payload.action,
        note=payload.note,
    )
    return ticket_out(selectors.get_ticket(scope, ticket_id), detail=True)


@router.post(
    "/tickets/{int:ticket_id}/rating",
    response={200: TicketOut, **WRITE},
    summary="Rate a resolved ticket (member)",
)
def rate(request: HttpRequest, payload: RatingIn, ticket_id: int = Path(..., ge=1, le=MAX_ID)) -> TicketOut:
    scope = scope_for(request)
    ticket = selectors.get_ticket(scope, ticket_id)
    services.rate_ticket(
        ticket=ticket,
        organisation=_org(request),
        actor=acting_user(request),
        rating=payload.rating,
        comment=payload.comment,
    )
    return ticket_out(selectors.get_ticket(scope, ticket_id), detail=True)


@router.get(
    "/providers", response={200: list[ProviderOut], **ERRORS}, summary="Providers that take a category"
)
def providers(request: HttpRequest, category: Category = Query(...)) -> list[ProviderOut]:  # noqa: B008
    return [ProviderOut(id=p.pk, name=p.name, subkind=p.subkind) for p in selectors.providers_for(category)]


# -- free legal service ------------------------------------------------------------------------------------------------
@router.get(
    "/quota",
    response={200: QuotaOut, 404: ErrorOut, **ERRORS},
    summary="Your free legal service (first year)",
)
def my_quota(request: HttpRequest) -> QuotaOut:
    quota = selectors.legal_quota(_org(request))
    if quota is None:
        raise NotFound()
    return quota_out(quota)


@router.put(
    "/quotas/{int:organisation_id}",
    response={200: QuotaOut, **WRITE},
    summary="Set a member's free legal consultations (its operator)",
)
def set_quota(
    request: HttpRequest, payload: QuotaIn, organisation_id: int = Path(..., ge=1, le=MAX_ID)
) -> QuotaOut:
    scope = scope_for(request)
    scope.require(Capability.COMMUNITY_MANAGE)
    member = scope.get_member_organisation(organisation_id)
    quota = services.grant_legal_quota(
        operator=_org(request),
        organisation=member,
        actor=acting_user(request),
        consultations=payload.consultations,
        starts_on=payload.starts_on,
    )
    return quota_out(quota)


# -- licences ------------------------------------------------------------------------------------------------------------
@router.get("/licences", response={200: list[LicenceOut], **ERRORS}, summary="Licences and their checklists")
def licences(request: HttpRequest) -> list[LicenceOut]:
    return [
        LicenceOut(
            code=entry.code,
            name=in_language(entry.name),
            authority=in_language(entry.authority),
            summary=in_language(entry.summary),
            illustrative=entry.illustrative,
            items=[
                ChecklistItemOut(
                    code=i.code,
                    title=in_language(i.title),
                    note=in_language(i.note),
                    required=i.required,
                    site_statement=i.site_statement,
                )
                for i in entry.items
            ],
        )
        for entry in catalogue().values()
    ]


@router.get(
    "/cases", response={200: list[CaseOut], **ERRORS}, summary="Licence cases (yours or your members')"
)
def list_cases(request: HttpRequest) -> list[CaseOut]:
    return [case_out(c) for c in selectors.cases_for(scope_for(request))[:200]]


@router.post(
    "/cases", response={201: CaseOut, **WRITE}, summary="Open a licence case (members of a community)"
)
def open_case(request: HttpRequest, payload: CaseIn) -> Status[CaseOut]:
    case = services.open_case(
        organisation=_org(request),
        actor=acting_user(request),
        licence_code=payload.licence,
        note=payload.note,
    )
    return Status(201, case_out(case))


@router.get(
    "/cases/{int:case_id}", response={200: CaseOut, 404: ErrorOut, **ERRORS}, summary="A licence case"
)
def get_case(request: HttpRequest, case_id: int = Path(..., ge=1, le=MAX_ID)) -> CaseOut:
    return case_out(selectors.get_case(scope_for(request), case_id))


@router.post(
    "/cases/{int:case_id}/items/{code}",
    response={200: CaseOut, **WRITE},
    summary="Tick or untick a checklist item",
)
def tick_item(
    request: HttpRequest,
    payload: CaseItemIn,
    case_id: int = Path(..., ge=1, le=MAX_ID),
    code: str = Path(..., max_length=40),
) -> CaseOut:
    scope = scope_for(request)
    case = selectors.get_case(scope, case_id)
    item = case.items.filter(code=code).first()
    if item is None:
        raise NotFound()
    services.update_case_item(
        item=item, organisation=_org(request), actor=acting_user(request), done=payload.done
    )
    return case_out(selectors.get_case(scope, case_id))


@router.post(
    "/cases/{int:case_id}/statement",
    response={200: CaseOut, **WRITE},
    summary="Link the member's site statement",
)
def link_statement(
    request: HttpRequest, payload: StatementIn, case_id: int = Path(..., ge=1, le=MAX_ID)
) -> CaseOut:
    scope = scope_for(request)
    case = selectors.get_case(scope, case_id)
    statement = selectors.get_statement_for_case(case, payload.statement_id) if payload.statement_id else None
    services.link_site_statement(
        case=case, organisation=_org(request), actor=acting_user(request), statement=statement
    )
    return case_out(selectors.get_case(scope, case_id))


@router.post(
    "/cases/{int:case_id}/status",
    response={200: CaseOut, **WRITE},
    summary="submitted · withdrawn · approved / rejected (operator) · preparing (after a rejection)",
)
def case_status(
    request: HttpRequest, payload: CaseStatusIn, case_id: int = Path(..., ge=1, le=MAX_ID)
) -> CaseOut:
    scope = scope_for(request)
    case = selectors.get_case(scope, case_id)
    services.transition_case(
        case=case,
        organisation=_org(request),
        actor=acting_user(request),
        target=payload.target,
        reference=payload.reference,
        note=payload.note,
    )
    return case_out(selectors.get_case(scope, case_id))
