"""Reads of the service desk, shared by the pages and the API.

Who sees a ticket: the member that opened it, the operator of its community (with ``community.manage``) and the
provider it is routed to. A licence case: the member and its operator. Anything else is "not found".
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from core.errors import NotFound
from core.http import parse_id
from organisations.access import Scope
from organisations.capabilities import Capability, OrgKind
from organisations.models import Organisation
from servicedesk.models import (
    CaseItem,
    LegalServiceQuota,
    LicenceCase,
    Ticket,
    TicketAttachment,
    TicketMessage,
)
from servicedesk.services import PROVIDER_SUBKINDS


def _id(raw: Any) -> int:
    value = parse_id(raw)
    if value is None:
        raise NotFound()
    return value


def _operates(scope: Scope) -> bool:
    return scope.is_operator and scope.has(Capability.COMMUNITY_MANAGE)


def tickets_for(scope: Scope) -> QuerySet[Ticket]:
    org = scope.organisation
    if org is None:
        return Ticket.objects.none()
    visible = Q(requester=org) | Q(provider=org)
    if _operates(scope):
        visible |= Q(operator=org)
    return Ticket.objects.filter(visible).select_related("requester", "operator", "provider")


def get_ticket(scope: Scope, pk: Any) -> Ticket:
    ticket = (
        tickets_for(scope)
        .filter(pk=_id(pk))
        .prefetch_related(
            Prefetch(
                "messages",
                queryset=TicketMessage.objects.select_related(
                    "author_organisation", "author"
                ).prefetch_related("attachments"),
            ),
            Prefetch("attachments", queryset=TicketAttachment.objects.filter(message__isnull=True)),
        )
        .first()
    )
    if ticket is None:
        raise NotFound()
    return ticket


def role_in(scope: Scope, ticket: Ticket) -> str:
    org = scope.organisation
    if org is None:
        return ""
    if org.pk == ticket.requester_id:
        return "member"
    if org.pk == ticket.operator_id and _operates(scope):
        return "operator"
    if ticket.provider_id == org.pk:
        return "provider"
    return ""


def get_ticket_attachment(scope: Scope, pk: Any) -> TicketAttachment:
    attachment = TicketAttachment.objects.filter(pk=_id(pk), ticket__in=tickets_for(scope)).first()
    if attachment is None:
        raise NotFound()
    return attachment


def providers_for(category: str) -> QuerySet[Organisation]:
    return Organisation.objects.filter(
        kind=OrgKind.PROVIDER, subkind__in=PROVIDER_SUBKINDS.get(category, set())
    ).order_by("name")


def get_provider(pk: Any) -> Organisation:
    provider = Organisation.objects.filter(pk=_id(pk), kind=OrgKind.PROVIDER).first()
    if provider is None:
        raise NotFound()
    return provider


def legal_quota(organisation: Organisation | None) -> LegalServiceQuota | None:
    if organisation is None:
        return None
    return LegalServiceQuota.objects.filter(organisation=organisation).first()


def member_quotas(scope: Scope) -> QuerySet[Organisation]:
    """The operator's member organisations with their quota (for the grant form)."""
    if not _operates(scope):
        return Organisation.objects.none()
    return (
        scope.member_organisations()
        .filter(kind=OrgKind.OPC)
        .select_related("legal_quota", "home_community")
        .order_by("name")
    )


def cases_for(scope: Scope) -> QuerySet[LicenceCase]:
    org = scope.organisation
    if org is None:
        return LicenceCase.objects.none()
    visible = Q(organisation=org)
    if _operates(scope):
        visible |= Q(operator=org)
    return LicenceCase.objects.filter(visible).select_related("organisation", "site_statement")


def get_case(scope: Scope, pk: Any) -> LicenceCase:
    case = (
        cases_for(scope)
        .filter(pk=_id(pk))
        .prefetch_related(Prefetch("items", queryset=CaseItem.objects.order_by("position")))
        .first()
    )
    if case is None:
        raise NotFound()
    return case


def get_case_item(scope: Scope, pk: Any) -> CaseItem:
    item = CaseItem.objects.select_related("case").filter(pk=_id(pk), case__in=cases_for(scope)).first()
    if item is None:
        raise NotFound()
    return item


def case_role(scope: Scope, case: LicenceCase) -> str:
    org = scope.organisation
    if org is None:
        return ""
    if org.pk == case.organisation_id:
        return "member"
    if org.pk == case.operator_id and _operates(scope):
        return "operator"
    return ""


def statements_for_case(case: LicenceCase) -> QuerySet[Any]:
    from communities.models import SiteStatement

    return SiteStatement.objects.filter(
        residency__organisation_id=case.organisation_id, revoked_at__isnull=True
    )


def get_statement_for_case(case: LicenceCase, pk: Any) -> Any:
    statement = statements_for_case(case).select_related("residency").filter(pk=_id(pk)).first()
    if statement is None:
        raise NotFound()
    return statement
