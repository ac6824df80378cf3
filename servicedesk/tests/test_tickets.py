"""Tickets through their whole life: opened by a member, routed by its operator to a suitable provider,
answered (first response), a question to the member, resolved, rated and closed; SLA lateness; attachments;
refusals of illegal changes and of outsiders."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from audit.models import AuditRecord
from core.errors import DomainError, InvalidTransition, NotPermitted
from core.testing import World, make_org, make_user
from organisations.capabilities import OrgKind, OrgSubkind
from servicedesk import services
from servicedesk.models import Ticket, TicketStatus
from servicedesk.tests.conftest import legal_ticket

pytestmark = pytest.mark.django_db


def test_full_life_of_a_legal_ticket(world: World) -> None:
    ticket = legal_ticket(world)
    assert ticket.status == TicketStatus.NEW and ticket.operator == world.operator
    assert ticket.first_response_due - ticket.created_at == dt.timedelta(hours=24)
    assert ticket.resolution_due - ticket.created_at == dt.timedelta(days=5)

    services.route_ticket(
        ticket=ticket, operator=world.operator, actor=world.operator_user, provider=world.provider
    )
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.ROUTED and ticket.provider == world.provider

    services.post_message(
        ticket=ticket, organisation=world.provider, actor=world.provider_user, body="已收到，请提供协议全文。"
    )
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.IN_PROGRESS  # the provider's reply accepts the ticket
    assert ticket.first_response_at is not None and not ticket.first_response_breached

    services.act_on_ticket(
        ticket=ticket,
        organisation=world.provider,
        actor=world.provider_user,
        action="ask_member",
        note="请上传协议。",
    )
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.WAITING_MEMBER
    services.post_message(
        ticket=ticket,
        organisation=world.opc,
        actor=world.opc_user,
        body="协议见附件。",
        uploads=[SimpleUploadedFile("投资协议.txt", "第一条 ……".encode())],
    )
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.IN_PROGRESS
    assert ticket.attachments.get().name == "投资协议.txt"

    services.act_on_ticket(
        ticket=ticket,
        organisation=world.provider,
        actor=world.provider_user,
        action="resolve",
        note="已出具修改意见。",
    )
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED and ticket.resolved_at and not ticket.resolution_breached

    services.rate_ticket(
        ticket=ticket, organisation=world.opc, actor=world.opc_user, rating=5, comment="很专业"
    )
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.CLOSED and ticket.rating == 5
    actions = set(AuditRecord.objects.filter(object_id=str(ticket.pk)).values_list("action", flat=True))
    assert {"servicedesk.ticket_opened", "servicedesk.ticket_routed", "servicedesk.ticket_rated"} <= actions
    with pytest.raises(InvalidTransition):
        services.post_message(ticket=ticket, organisation=world.opc, actor=world.opc_user, body="还有问题")


def test_only_a_member_of_a_community_opens_tickets(world: World) -> None:
    with translation.override("en"), pytest.raises(DomainError, match="community"):
        services.open_ticket(
            requester=world.client, actor=world.client_user, category="legal", subject="x", description="y"
        )
    with pytest.raises(DomainError):
        services.open_ticket(
            requester=world.opc, actor=world.opc_user, category="tax", subject="x", description="y"
        )
    with pytest.raises(DomainError):
        services.open_ticket(
            requester=world.opc,
            actor=world.opc_user,
            category="finance",
            subject="x",
            description="y",
            use_free_quota=True,
        )
    assert not Ticket.objects.exists()


def test_routing_needs_the_right_operator_and_a_suitable_provider(world: World) -> None:
    ticket = legal_ticket(world, free=False)
    with pytest.raises(NotPermitted):
        services.route_ticket(
            ticket=ticket,
            operator=world.other_operator,
            actor=world.other_operator_user,
            provider=world.provider,
        )
    bank = make_org(OrgKind.PROVIDER, "宁波某银行", make_user("bank"), subkind=OrgSubkind.BANK)
    with pytest.raises(DomainError, match="宁波某银行"):
        services.route_ticket(
            ticket=ticket, operator=world.operator, actor=world.operator_user, provider=bank
        )
    with pytest.raises(DomainError):
        services.route_ticket(
            ticket=ticket, operator=world.operator, actor=world.operator_user, provider=world.client
        )
    financing = services.open_ticket(
        requester=world.opc,
        actor=world.opc_user,
        category="financing",
        subject="订单贷",
        description="凭在手订单申请贷款",
    )
    services.route_ticket(ticket=financing, operator=world.operator, actor=world.operator_user, provider=bank)


def test_provider_declines_and_the_operator_routes_again(world: World) -> None:
    ticket = legal_ticket(world)
    services.route_ticket(
        ticket=ticket, operator=world.operator, actor=world.operator_user, provider=world.provider
    )
    with pytest.raises(DomainError):  # a reason is required
        services.act_on_ticket(
            ticket=ticket, organisation=world.provider, actor=world.provider_user, action="decline"
        )
    services.act_on_ticket(
        ticket=ticket,
        organisation=world.provider,
        actor=world.provider_user,
        action="decline",
        note="利益冲突",
    )
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.NEW and ticket.provider is None
    with pytest.raises(NotPermitted):  # no longer the provider of this ticket
        services.post_message(ticket=ticket, organisation=world.provider, actor=world.provider_user, body="?")


@pytest.mark.parametrize(
    ("who", "action"),
    [
        ("opc", "resolve"),
        ("opc", "accept"),
        ("provider", "reopen"),
        ("provider", "cancel"),
        ("other_opc", "cancel"),
    ],
)
def test_actions_of_the_wrong_party_are_refused(world: World, who: str, action: str) -> None:
    ticket = legal_ticket(world)
    services.route_ticket(
        ticket=ticket, operator=world.operator, actor=world.operator_user, provider=world.provider
    )
    org = getattr(world, who)
    with pytest.raises(NotPermitted):
        services.act_on_ticket(ticket=ticket, organisation=org, actor=None, action=action, note="x")


def test_illegal_transitions_are_refused(world: World) -> None:
    ticket = legal_ticket(world)
    with pytest.raises(InvalidTransition):
        services.act_on_ticket(ticket=ticket, organisation=world.operator, actor=None, action="resolve")
    with pytest.raises(InvalidTransition):
        services.act_on_ticket(ticket=ticket, organisation=world.opc, actor=None, action="close")
    with pytest.raises(InvalidTransition):
        services.rate_ticket(ticket=ticket, organisation=world.opc, actor=None, rating=4)
    services.act_on_ticket(ticket=ticket, organisation=world.opc, actor=world.opc_user, action="cancel")
    with pytest.raises(InvalidTransition):
        services.route_ticket(ticket=ticket, operator=world.operator, actor=None, provider=world.provider)


def test_sla_lateness_is_recorded_when_it_happens_and_by_the_sweep(world: World) -> None:
    late = legal_ticket(world, free=False, subject="late")
    waiting = legal_ticket(world, free=False, subject="waiting")
    past = timezone.now() - dt.timedelta(hours=1)
    Ticket.objects.filter(pk__in=[late.pk, waiting.pk]).update(first_response_due=past, resolution_due=past)
    late.refresh_from_db()
    assert late.first_response_late() and late.resolution_late()
    services.route_ticket(ticket=late, operator=world.operator, actor=None, provider=world.provider)
    services.post_message(ticket=late, organisation=world.provider, actor=None, body="抱歉回复晚了")
    late.refresh_from_db()
    assert late.first_response_breached
    assert services.flag_sla_breaches() == 3  # waiting: first response + resolution; late: resolution
    waiting.refresh_from_db()
    assert waiting.first_response_breached and waiting.resolution_breached
    assert services.flag_sla_breaches() == 0


def test_reopen_after_resolution(world: World) -> None:
    ticket = legal_ticket(world)
    services.route_ticket(ticket=ticket, operator=world.operator, actor=None, provider=world.provider)
    services.act_on_ticket(ticket=ticket, organisation=world.provider, actor=None, action="accept")
    services.act_on_ticket(ticket=ticket, organisation=world.provider, actor=None, action="resolve")
    services.act_on_ticket(ticket=ticket, organisation=world.opc, actor=None, action="reopen")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.IN_PROGRESS and ticket.resolved_at is None
