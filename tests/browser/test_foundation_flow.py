"""The foundation's main loop as people do it in a browser: an OPC registers into a community; the operator
verifies it, assigns a workstation and issues a site statement PDF; the public verification page confirms
the statement; the language switches between zh-Hans and English."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from communities.models import SiteStatement
from core.testing import PASSWORD, build_world
from organisations.models import Organisation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def login(page: Page, login_id: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", login_id)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/dashboard/$"))


def test_opc_registers_and_operator_verifies_assigns_and_issues_statement(
    page: Page, browser: Browser, live_server: Any
) -> None:
    world = build_world()

    # 1. An OPC registers and joins the operator's community.
    page.goto("/accounts/register/")
    page.fill("input[name=display_name]", "徐鼎轩")
    page.fill("input[name=phone]", "+86 139 1234 5678")
    page.fill("input[name=password]", "Guiqulaixi-2026")
    page.fill("input[name=password_again]", "Guiqulaixi-2026")
    page.select_option("select[name=kind]", "opc")
    page.fill("input[name=organisation_name]", "归去来兮影像工作室")
    page.select_option("select[name=home_community]", label=world.community.name)
    page.check("input[name=accept_terms]")
    page.click("[data-testid=register-form] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    expect(page.locator("h1")).to_contain_text("归去来兮影像工作室")
    expect(page.locator("h1 .badge-pending")).to_be_visible()
    org = Organisation.objects.get(name="归去来兮影像工作室")
    assert org.home_community_id == world.community.pk
    assert org.memberships.get().user.phone == "13912345678"

    # 2. The operator logs in (another browser context) and verifies the new member.
    operator = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    login(operator, world.operator_user.email)
    operator.goto("/org/members/?status=pending")
    operator.click(f"[data-testid=verify-{org.pk}]")
    expect(operator.locator(f"[data-testid=verify-{org.pk}]")).to_have_count(0)
    org.refresh_from_db()
    assert org.is_verified

    # 3. The operator assigns a workstation from the member's page.
    operator.goto(f"/org/{org.pk}/")
    operator.click(f"a[href='/operator/members/{org.pk}/assign/']")
    station = world.workstations[1]
    operator.select_option("select[name=workstation]", str(station.pk))
    operator.fill("input[name=start_date]", "2026-03-25")
    operator.click("[data-testid=assign-form] button[type=submit]")
    expect(operator).to_have_url(re.compile(rf"/operator/communities/{world.community.pk}/$"))
    residencies = operator.locator("[data-testid=residencies-table]")
    expect(residencies).to_contain_text("归去来兮影像工作室")
    expect(residencies).to_contain_text(station.code)

    # 4. The operator issues the site statement; the PDF carries the Chinese facts and the code.
    residency = org.residencies.get()
    row = residencies.locator("tr", has_text="归去来兮影像工作室")
    row.locator("details", has=operator.locator(f"[data-testid=issue-{residency.pk}]")).locator(
        "summary"
    ).click()
    row.locator("input[name=purpose]").fill("广播电视节目制作经营许可证申请")
    operator.click(f"[data-testid=issue-{residency.pk}]")
    statement = SiteStatement.objects.get(residency=residency)
    pdf_link = operator.locator(f"[data-testid=pdf-{statement.pk}]")
    expect(pdf_link).to_be_visible()
    pdf = operator.request.get(pdf_link.get_attribute("href") or "")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages)
    assert "场地情况说明" in text
    assert world.community.name in text
    assert statement.code in text

    # The resident OPC sees its workstation and can download the same statement.
    page.goto("/my/workstation/")
    expect(page.locator("main")).to_contain_text(station.code)

    # 5. Anyone can check the code on the public verification page.
    visitor = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    visitor.goto("/statements/verify/")
    visitor.fill("input[name=code]", statement.code.lower())
    visitor.locator("form", has=visitor.locator("input[name=code]")).locator("button[type=submit]").click()
    expect(visitor.locator("[data-testid=statement-state]")).to_have_attribute("data-state", "valid")
    expect(visitor.locator("[data-testid=statement-facts]")).to_contain_text("归去来兮影像工作室")
    visitor.goto("/statements/ZZZZZZZZZZZZ/")
    expect(visitor.locator("[data-testid=statement-state]")).to_have_attribute("data-state", "unknown")
    operator.context.close()
    visitor.context.close()


def test_language_switches_between_chinese_and_english(page: Page) -> None:
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("a[href='/accounts/login/']")).to_have_text("登录")
    page.click("[data-testid=lang-switch]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("a[href='/accounts/login/']")).to_have_text("Log in")
    page.goto("/communities/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.click("[data-testid=lang-switch]")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("a[href='/accounts/login/']")).to_have_text("登录")
