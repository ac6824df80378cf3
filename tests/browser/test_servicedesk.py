"""The service desk in the browser: an OPC opens a legal ticket that uses one of its free consultations, the
operator routes it to the law firm, the lawyer answers and resolves it, the OPC rates it; an OPC tracks a
broadcast-licence case through its checklist, with the operator's site statement, to approval."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect

from communities.services import assign_workstation, issue_site_statement
from core.testing import PASSWORD, build_world
from organisations.services import verify_organisation
from servicedesk.models import LegalServiceQuota, LicenceCase, Ticket
from servicedesk.services import DEFAULT_FREE_CONSULTATIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def login(page: Page, login_id: str | None, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/", timeout=60_000)  # the first page of a session warms the server up
    page.fill("input[name=login]", login_id or "")
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/dashboard/$"))


def test_legal_ticket_uses_the_free_quota_and_is_answered(
    page: Page, browser: Browser, live_server: Any
) -> None:
    world = build_world()
    login(page, world.opc_user.email)
    page.click("[data-testid=nav-service-desk]")
    page.click("[data-testid=new-ticket]")
    page.select_option("[data-testid=ticket-category]", "legal")
    page.fill("[data-testid=ticket-subject]", "投资协议要买断我的全部作品")
    page.fill(
        "[data-testid=ticket-description]", "对方投资一千万，条件是我今后所有作品的著作权归他们，请律师把关。"
    )
    page.check("[data-testid=ticket-free]")
    page.click("[data-testid=ticket-submit]")
    expect(page).to_have_url(re.compile(r"/desk/tickets/\d+/$"))
    expect(page.locator("[data-testid=ticket-free]")).to_be_visible()
    ticket = Ticket.objects.get()
    assert ticket.uses_free_quota
    assert LegalServiceQuota.objects.get(organisation=world.opc).used == 1
    page.goto("/desk/")
    expect(page.locator("[data-testid=quota-remaining]")).to_have_text(str(DEFAULT_FREE_CONSULTATIONS - 1))

    operator = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    login(operator, world.operator_user.email)
    operator.goto("/desk/")
    operator.click(f"[data-testid=ticket-row-{ticket.pk}] a")
    operator.select_option("[data-testid=route-provider]", str(world.provider.pk))
    operator.click("[data-testid=route-submit]")
    expect(operator.locator("[data-testid=ticket-provider]")).to_have_text(world.provider.name)

    lawyer = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    login(lawyer, world.provider_user.email)
    lawyer.goto("/desk/")
    lawyer.click(f"[data-testid=ticket-row-{ticket.pk}] a")
    lawyer.fill("[data-testid=message-body]", "建议删除第二条买断条款，改为限定用途的许可。")
    lawyer.click("[data-testid=message-send]")
    expect(lawyer.locator("[data-testid=ticket-status]")).to_have_attribute("data-status", "in_progress")
    lawyer.click("[data-testid=action-resolve]")
    expect(lawyer.locator("[data-testid=ticket-status]")).to_have_attribute("data-status", "resolved")

    page.goto(f"/desk/tickets/{ticket.pk}/")
    expect(page.locator("[data-testid=message-1]")).to_contain_text("买断条款")
    expect(page.locator("[data-testid=sla-ok]")).to_be_visible()
    page.select_option("[data-testid=rating-select]", "5")
    page.click("[data-testid=rating-submit]")
    expect(page.locator("[data-testid=ticket-rating]")).to_have_text("5/5")
    expect(page.locator("[data-testid=ticket-status]")).to_have_attribute("data-status", "closed")
    operator.context.close()
    lawyer.context.close()


def test_member_tracks_a_licence_case_with_its_checklist(
    page: Page, browser: Browser, live_server: Any
) -> None:
    world = build_world()
    verify_organisation(organisation=world.opc, actor=world.operator_user, operator=world.operator)
    residency = assign_workstation(
        workstation=world.workstations[0],
        organisation=world.opc,
        start_date=dt.date(2026, 1, 5),
        actor=world.operator_user,
    )
    statement = issue_site_statement(
        residency=residency, purpose="广播电视节目制作经营许可证", actor=world.operator_user
    )

    login(page, world.opc_user.email)
    page.click("[data-testid=nav-licences]")
    expect(page.locator("[data-testid=licence-radio_tv_production]")).to_contain_text(
        "广播电视节目制作经营许可证"
    )
    page.click("[data-testid=open-case-radio_tv_production]")
    expect(page).to_have_url(re.compile(r"/desk/licences/cases/\d+/$"))
    case = LicenceCase.objects.get()
    total = case.items.count()
    expect(page.locator("[data-testid=checklist-progress]")).to_have_text(f"0 / {total}")

    page.set_input_files(
        "[data-testid=upload-business_licence]",
        files=[FilePayload(name="营业执照.pdf", mimeType="application/pdf", buffer=b"%PDF-1.4 licence")],
    )
    page.click("[data-testid=upload-submit-business_licence]")
    expect(page.locator("[data-testid=item-business_licence]")).to_have_attribute("data-satisfied", "yes")
    for code in ("application_form", "articles", "legal_rep_id", "staff"):
        page.click(f"[data-testid=toggle-{code}]")
        expect(page.locator(f"[data-testid=item-{code}]")).to_have_attribute("data-satisfied", "yes")
    expect(page.locator("[data-testid=item-premises]")).to_have_attribute("data-satisfied", "no")

    # Submitting with the premises missing is refused with the reason.
    page.click("[data-testid=case-submitted]")
    expect(page.locator("[data-testid=case-error]")).to_contain_text("办公场所证明")

    # The operator's site statement completes the premises item.
    page.select_option("[data-testid=statement-select]", str(statement.pk))
    page.click("[data-testid=statement-link]")
    expect(page.locator("[data-testid=case-statement]")).to_contain_text(statement.code)
    expect(page.locator("[data-testid=item-premises]")).to_have_attribute("data-satisfied", "yes")
    expect(page.locator("[data-testid=checklist-progress]")).to_have_text(f"{total - 1} / {total}")
    page.click("[data-testid=case-submitted]")
    expect(page.locator("[data-testid=case-status]")).to_have_attribute("data-status", "submitted")

    operator = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    login(operator, world.operator_user.email)
    operator.goto("/desk/licences/")
    operator.click(f"[data-testid=case-row-{case.pk}] a")
    operator.fill("form:has([data-testid=case-approved]) input[name=reference]", "浙广审〔2026〕18号")
    operator.click("[data-testid=case-approved]")
    expect(operator.locator("[data-testid=case-status]")).to_have_attribute("data-status", "approved")
    operator.context.close()

    page.goto("/desk/licences/")
    expect(page.locator(f"[data-testid=case-row-{case.pk}] [data-status]")).to_have_attribute(
        "data-status", "approved"
    )
