"""The service desk pages and API for each party: member, operator, provider, outsiders."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from communities.services import assign_workstation, issue_site_statement
from core.testing import World
from organisations.services import verify_organisation
from servicedesk.models import LegalServiceQuota, LicenceCase, Ticket, TicketStatus
from servicedesk.tests.conftest import legal_ticket, login

pytestmark = pytest.mark.django_db


def test_member_opens_a_legal_ticket_that_uses_the_free_quota(world: World) -> None:
    member = login(world.opc_user)
    assert member.get(reverse("servicedesk:desk")).status_code == 200
    assert member.get(reverse("servicedesk:ticket_new")).status_code == 200
    response = member.post(
        reverse("servicedesk:ticket_new"),
        {
            "category": "legal",
            "subject": "投资协议审查",
            "description": "请帮忙看看知识产权条款。",
            "use_free_quota": "on",
            "attachment": SimpleUploadedFile("协议.txt", "第一条".encode()),
        },
    )
    ticket = Ticket.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "servicedesk:ticket_detail", args=[ticket.pk]
    )
    assert ticket.uses_free_quota and LegalServiceQuota.objects.get().used == 1
    page = member.get(response["Location"])
    assert b'data-testid="ticket-free"' in page.content
    download = member.get(reverse("servicedesk:ticket_attachment", args=[ticket.attachments.get().pk]))
    assert download.status_code == 200
    assert (
        login(world.other_opc_user)
        .get(reverse("servicedesk:ticket_attachment", args=[ticket.attachments.get().pk]))
        .status_code
        == 404
    )
    bad = member.post(
        reverse("servicedesk:ticket_new"), {"category": "legal", "subject": "", "description": ""}
    )
    assert bad.status_code == 400


def test_operator_routes_provider_answers_member_rates(world: World) -> None:
    ticket = legal_ticket(world)
    operator = login(world.operator_user)
    desk = operator.get(reverse("servicedesk:desk"))
    assert f'data-testid="ticket-row-{ticket.pk}"'.encode() in desk.content
    detail = operator.get(reverse("servicedesk:ticket_detail", args=[ticket.pk]))
    assert world.provider.name.encode() in detail.content
    assert (
        operator.post(
            reverse("servicedesk:ticket_route", args=[ticket.pk]), {"provider": world.provider.pk}
        ).status_code
        == 302
    )
    provider = login(world.provider_user)
    assert (
        f'data-testid="ticket-row-{ticket.pk}"'.encode() in provider.get(reverse("servicedesk:desk")).content
    )
    assert (
        provider.post(reverse("servicedesk:ticket_message", args=[ticket.pk]), {"body": "已收到"}).status_code
        == 302
    )
    assert (
        provider.post(
            reverse("servicedesk:ticket_action", args=[ticket.pk]),
            {"action": "resolve", "note": "建议删除买断条款"},
        ).status_code
        == 302
    )
    member = login(world.opc_user)
    assert (
        member.post(
            reverse("servicedesk:ticket_rate", args=[ticket.pk]), {"rating": "4", "comment": "好"}
        ).status_code
        == 302
    )
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.CLOSED and ticket.rating == 4
    again = member.post(reverse("servicedesk:ticket_rate", args=[ticket.pk]), {"rating": "5"})
    assert again.status_code == 409
    assert (
        member.post(reverse("servicedesk:ticket_action", args=[ticket.pk]), {"action": "reopen"}).status_code
        == 409
    )
    assert (
        provider.post(
            reverse("servicedesk:ticket_action", args=[ticket.pk]), {"action": "cancel"}
        ).status_code
        == 403
    )


def test_operator_sets_the_free_quota_of_a_member(world: World) -> None:
    operator = login(world.operator_user)
    response = operator.post(reverse("servicedesk:quota_grant", args=[world.opc.pk]), {"consultations": "10"})
    assert response.status_code == 302
    assert LegalServiceQuota.objects.get(organisation=world.opc).granted == 10
    assert (
        login(world.other_operator_user)
        .post(reverse("servicedesk:quota_grant", args=[world.opc.pk]), {"consultations": "99"})
        .status_code
        == 404
    )
    assert (
        login(world.opc_user)
        .post(reverse("servicedesk:quota_grant", args=[world.opc.pk]), {"consultations": "99"})
        .status_code
        == 403
    )


def test_licence_case_pages(world: World) -> None:
    verify_organisation(organisation=world.opc, actor=world.operator_user, operator=world.operator)
    residency = assign_workstation(
        workstation=world.workstations[0],
        organisation=world.opc,
        start_date=dt.date(2026, 1, 5),
        actor=world.operator_user,
    )
    statement = issue_site_statement(residency=residency, purpose="ICP备案", actor=world.operator_user)
    member = login(world.opc_user)
    assert member.get(reverse("servicedesk:licences")).status_code == 200
    response = member.post(reverse("servicedesk:case_new"), {"licence": "icp_filing"})
    case = LicenceCase.objects.get()
    assert response["Location"] == reverse("servicedesk:case_detail", args=[case.pk])
    item = case.items.get(code="domain")
    assert (
        member.post(
            reverse("servicedesk:case_item", args=[item.pk]),
            {"document": SimpleUploadedFile("域名证书.pdf", b"%PDF-")},
        ).status_code
        == 302
    )
    item.refresh_from_db()
    assert item.done and item.document_name == "域名证书.pdf"
    assert member.get(reverse("servicedesk:case_document", args=[item.pk])).status_code == 200
    assert (
        login(world.operator_user)
        .post(reverse("servicedesk:case_statement", args=[case.pk]), {"statement": statement.pk})
        .status_code
        == 302
    )
    refused = member.post(reverse("servicedesk:case_transition", args=[case.pk]), {"target": "submitted"})
    assert refused.status_code == 409 and b'data-testid="case-error"' in refused.content
    assert (
        login(world.other_opc_user).get(reverse("servicedesk:case_detail", args=[case.pk])).status_code == 404
    )


def test_api_ticket_and_case_flow(world: World) -> None:
    member = login(world.opc_user)
    created = member.post(
        "/api/servicedesk/tickets",
        {
            "category": "legal",
            "subject": "股权回购条款",
            "description": "对赌条款怎么改？",
            "use_free_quota": True,
        },
        content_type="application/json",
    )
    assert created.status_code == 201 and created.json()["uses_free_quota"]
    ticket_id = created.json()["id"]
    assert member.get("/api/servicedesk/quota").json()["remaining"] == 5
    operator = login(world.operator_user)
    routed = operator.post(
        f"/api/servicedesk/tickets/{ticket_id}/route",
        {"provider_id": world.provider.pk},
        content_type="application/json",
    )
    assert routed.status_code == 200 and routed.json()["provider"]["id"] == world.provider.pk
    providers = operator.get("/api/servicedesk/providers?category=legal").json()
    assert world.provider.pk in {p["id"] for p in providers}
    provider = login(world.provider_user)
    answered = provider.post(
        f"/api/servicedesk/tickets/{ticket_id}/messages",
        {"body": "请补充估值条款"},
        content_type="application/json",
    )
    assert answered.status_code == 201 and answered.json()["status"] == "in_progress"
    assert (
        provider.post(
            f"/api/servicedesk/tickets/{ticket_id}/actions",
            {"action": "reopen"},
            content_type="application/json",
        ).status_code
        == 403
    )
    set_quota = operator.put(
        f"/api/servicedesk/quotas/{world.opc.pk}", {"consultations": 8}, content_type="application/json"
    )
    assert set_quota.status_code == 200 and set_quota.json()["remaining"] == 7
    licences = member.get("/api/servicedesk/licences").json()
    assert "icp_filing" in {entry["code"] for entry in licences}
    case = member.post(
        "/api/servicedesk/cases", {"licence": "network_culture"}, content_type="application/json"
    )
    assert case.status_code == 201
    case_id = case.json()["id"]
    ticked = member.post(
        f"/api/servicedesk/cases/{case_id}/items/application_form",
        {"done": True},
        content_type="application/json",
    )
    assert (
        ticked.status_code == 200
        and next(i for i in ticked.json()["items"] if i["code"] == "application_form")["done"]
    )
    refused = member.post(
        f"/api/servicedesk/cases/{case_id}/status", {"target": "submitted"}, content_type="application/json"
    )
    assert refused.status_code == 409
    assert login(world.other_operator_user).get(f"/api/servicedesk/cases/{case_id}").status_code == 404
