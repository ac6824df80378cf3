"""Trust as people use it in a browser: after a contract completed through the marketplace services, the client
and the OPC review each other and the OPC's reputation shows it; a message asking to pay off the platform is
flagged for the recipient; the OPC exports its order-backed credit profile and the public verification page
confirms the figures."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from core.testing import PASSWORD, World, build_world
from marketplace import services as market
from marketplace.models import Contract
from organisations.models import Skill
from trust.models import CreditExport, Message, Review

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def login(page: Page, login_id: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", login_id)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/dashboard/$"))


def contract_for(world: World, title: str, price: str) -> Contract:
    order = market.post_order(
        client=world.client,
        actor=world.client_user,
        title=title,
        category=Skill.objects.get_or_create(
            code="ai-short-drama", defaults={"name_zh": "AI短剧", "name_en": "AI short drama"}
        )[0],
        budget_min=Decimal("1000"),
        budget_max=Decimal("50000"),
        deadline=timezone.localdate() + dt.timedelta(days=30),
        procurement_method="inquiry",
    )
    market.publish_order(order=order, client=world.client, actor=world.client_user)
    bid = market.submit_bid(
        order=order, opc=world.opc, actor=world.opc_user, price=Decimal(price), timeline_days=20
    )
    return market.award_bid(order=order, bid=bid, client=world.client, actor=world.client_user)


def completed_contract(world: World) -> Contract:
    contract = contract_for(world, "天一阁文旅 AI 短剧", "12000.00")
    milestone = contract.milestones.get()
    market.fund_milestone(milestone=milestone, client=world.client, actor=None, idempotency_key="b-fund")
    market.deliver_milestone(milestone=milestone, opc=world.opc, actor=None, note="成片已交付")
    market.accept_milestone(milestone=milestone, client=world.client, actor=None, idempotency_key="b-accept")
    contract.refresh_from_db()
    assert contract.status == "completed"
    return contract


def test_reviews_flagged_message_and_credit_profile(page: Page, browser: Browser, live_server: Any) -> None:
    world = build_world()
    contract = completed_contract(world)
    active = contract_for(world, "东钱湖数字人直播", "20000.00")
    market.fund_milestone(
        milestone=active.milestones.get(), client=world.client, actor=None, idempotency_key="b-fund-2"
    )

    # 1. The client reviews the OPC.
    login(page, world.client_user.email or "")
    page.goto(f"/trust/contracts/{contract.pk}/review/")
    form = page.locator("[data-testid=review-form]")
    form.locator("input[name=rating][value='5']").check()
    form.locator("textarea[name=text]").fill("准时交付，成片质量很好")
    page.click("[data-testid=review-submit]")
    expect(page.locator("[data-testid=my-review]")).to_contain_text("准时交付，成片质量很好")

    # While posting a new order the price reference follows the chosen category (htmx).
    page.goto("/market/orders/new/")
    expect(page.locator("[data-testid=price-hint] [data-testid=price-reference]")).to_have_count(0)
    page.select_option("select[name=category]", "ai-short-drama")
    expect(page.locator("[data-testid=price-hint] [data-testid=price-reference]")).to_have_attribute(
        "data-count", "1"
    )

    # 2. The OPC reviews the client from the contract page (the trust panel), and sees the client's review.
    opc = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    login(opc, world.opc_user.email or "")
    opc.goto(f"/market/contracts/{contract.pk}/")
    panel = opc.locator("[data-testid=trust-contract-panel]")
    expect(panel.locator("[data-testid=their-review]")).to_contain_text("准时交付")
    panel.locator("input[name=rating][value='4']").check()
    panel.locator("textarea[name=text]").fill("需求清晰，付款及时")
    panel.locator("[data-testid=review-submit]").click()
    expect(opc).to_have_url(re.compile(rf"/market/contracts/{contract.pk}/$"))
    expect(opc.locator("[data-testid=trust-contract-panel] [data-testid=my-review]")).to_contain_text(
        "付款及时"
    )
    assert Review.objects.count() == 2

    # Reputation: on time + a 5-star review = +2, shown on the OPC's trust profile.
    page.goto(f"/trust/organisations/{world.opc.pk}/")
    expect(page.locator("[data-testid=reputation-score]")).to_have_text("+2")
    expect(page.locator("[data-testid=reputation-table] tr[data-window='90d']")).to_contain_text("+2")
    expect(page.locator("[data-testid=review]")).to_contain_text("准时交付，成片质量很好")

    # 3. The OPC writes in the contract's thread asking to pay privately: flagged.
    opc.goto(f"/market/contracts/{contract.pk}/")
    opc.click("[data-testid=contract-thread-start]")
    expect(opc).to_have_url(re.compile(r"/trust/messages/\d+/$"))
    opc.fill(
        "[data-testid=message-form] textarea[name=body]", "下一单平台手续费太高，我们私下转账吧，加我微信详聊"
    )
    opc.click("[data-testid=message-send]")
    sent = opc.locator("[data-testid=message]").last
    expect(sent).to_have_attribute("data-flagged", "true")
    expect(sent.locator("[data-testid=flag-badge]")).to_be_visible()
    assert Message.objects.get().flag_terms == ["私下转账", "加我微信"]

    # The client finds it in the inbox with the warning and a report button.
    page.click("[data-testid=nav-messages]")
    page.locator("[data-testid=thread-list] a", has_text="天一阁文旅 AI 短剧").click()
    received = page.locator("[data-testid=message]").last
    expect(received.locator("[data-testid=flag-warning]")).to_be_visible()
    expect(received.locator("a.trust-report")).to_be_visible()

    # 4. The OPC exports its credit profile for a bank, with its consent.
    opc.click("[data-testid=nav-credit]")
    expect(opc.locator("[data-testid=credit-value]")).to_have_text("¥20,000.00")
    opc.fill("[data-testid=credit-form] input[name=recipient]", "宁波银行海曙支行")
    opc.fill("[data-testid=credit-form] input[name=purpose]", "订单贷（流动资金）")
    opc.check("[data-testid=credit-form] input[name=consent]")
    opc.click("[data-testid=credit-submit]")
    row = opc.locator("[data-testid=export-row]").first
    expect(row).to_be_visible()
    export = CreditExport.objects.get()
    expect(row.locator("[data-testid=export-code]")).to_have_text(export.code)
    pdf = opc.request.get(row.locator("[data-testid=export-pdf]").get_attribute("href") or "")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages)
    assert export.code in text and world.opc.name in text and "20,000.00" in text

    # 5. The bank checks the code on the public page (no login).
    bank = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    bank.goto("/trust/credit/verify/")
    bank.fill("input[name=code]", export.code.lower())
    bank.locator("form", has=bank.locator("input[name=code]")).locator("button[type=submit]").click()
    expect(bank.locator("[data-testid=credit-state]")).to_have_attribute("data-state", "valid")
    expect(bank.locator("[data-testid=credit-value]")).to_have_text("¥20,000.00")
    expect(bank.locator("[data-testid=credit-escrow]")).to_have_text("¥20,000.00")
    expect(bank.locator("[data-testid=credit-orders]")).to_contain_text("东钱湖数字人直播")
    for context in (opc.context, bank.context):
        context.close()
