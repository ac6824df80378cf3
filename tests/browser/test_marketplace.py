"""The marketplace as people use it in a browser.

1. The full loop: a client posts a tender and publishes it, sees the recommended OPCs and invites one; the OPC
   bids; the client awards, funds the milestone into escrow; the OPC delivers; the client accepts; the release
   shows in both parties' ledger balances; both review each other and the OPC's reputation shows it.
2. A dispute: the OPC delivers, the client opens a dispute, the operator decides a split; balances follow.
3. A contest: the reward is escrowed at publication, two OPCs enter, the client picks the winner, who is paid.
4. Dispatch: the operator runs a batch dispatch; the OPC accepts its offer with a price, which places its bid.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from core.testing import PASSWORD, World, build_world
from ledger.models import Account, Purpose
from marketplace import services
from marketplace.models import (
    AcceptanceTemplate,
    ContestEntry,
    Contract,
    Dispute,
    EntryStatus,
    Milestone,
    MilestoneStatus,
    Order,
    OrderStatus,
)
from organisations.models import Skill
from trust.models import Review, ReviewDirection

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def warm_server(live_server: Any) -> None:
    """The live server's first request imports every URLconf and template; on a loaded 2-core machine that
    can exceed the browser's 10 s navigation timeout, so make it once outside the browser."""
    import urllib.request

    with urllib.request.urlopen(f"{live_server.url}/accounts/login/", timeout=120) as response:
        assert response.status == 200


def login(page: Page, login_id: str | None, password: str = PASSWORD) -> None:
    assert login_id, "the test world's users have an e-mail address"
    page.goto("/accounts/login/")
    page.fill("input[name=login]", login_id)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/dashboard/$"))


def new_page(browser: Browser, live_server: Any) -> Page:
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 900}, base_url=live_server.url
    )
    context.set_default_timeout(10_000)
    return context.new_page()


def available(org: Any) -> Decimal:
    account = Account.objects.filter(owner=org, purpose=Purpose.AVAILABLE).first()
    return account.balance if account else Decimal("0.00")


def drama() -> Skill:
    skill, _ = Skill.objects.get_or_create(
        code="ai-short-drama", defaults={"name_zh": "AI短剧", "name_en": "AI short drama"}
    )
    return skill


def capable(world: World) -> None:
    """Both OPCs do AI short drama, so they are recommended for such orders."""
    for org in (world.opc, world.other_opc):
        profile = org.opc_profile
        profile.capacity = 3
        profile.save()
        profile.skills.set([drama()])


def ledger_shows(page: Page, amount: str) -> None:
    page.goto("/ledger/")
    expect(page.locator("[data-testid=ledger-accounts]")).to_contain_text(amount)


def test_full_loop_post_recommend_bid_award_fund_deliver_accept_release_review(
    page: Page, browser: Browser, live_server: Any
) -> None:
    world = build_world()
    capable(world)
    AcceptanceTemplate.objects.create(
        category=drama(),
        deliverables="成片（竖屏）；字幕文件",
        acceptance_criteria="画面无水印；配音与字幕一致",
    )
    deadline = (timezone.localdate() + dt.timedelta(days=40)).isoformat()

    # 1. The client posts a tender (a draft) and publishes it.
    login(page, world.client_user.email)
    page.goto("/market/orders/new/")
    page.fill("input[name=title]", "甬优文旅宣传短剧")
    page.fill("textarea[name=description]", "为景区制作三集竖屏 AI 短剧。")
    page.select_option("[data-testid=category-select]", "ai-short-drama")
    # htmx swaps in the category's acceptance template; the client edits the prefilled criteria
    criteria = page.locator("textarea[name=acceptance_criteria]")
    expect(criteria).to_have_value("画面无水印；配音与字幕一致")
    expect(page.locator("textarea[name=deliverables]")).to_have_value("成片（竖屏）；字幕文件")
    criteria.fill("画面无水印；配音与字幕一致；每集不少于 1 分钟")
    page.fill("input[name=budget_min]", "5000")
    page.fill("input[name=budget_max]", "12000")
    page.fill("input[name=deadline]", deadline)
    page.select_option("select[name=mode]", "tender")
    page.select_option("select[name=visibility]", "public")
    page.select_option("select[name=procurement_method]", "inquiry")
    page.click("[data-testid=save-order]")
    expect(page).to_have_url(re.compile(r"/market/orders/\d+/$"))
    order = Order.objects.get(title="甬优文旅宣传短剧")
    assert order.status == OrderStatus.DRAFT
    assert order.acceptance_criteria == "画面无水印；配音与字幕一致；每集不少于 1 分钟"
    page.click("[data-testid=publish]")
    expect(page.locator("h1 [data-status=open]")).to_be_visible()

    # 2. The recommendations list both capable OPCs; the client invites ours.
    expect(page.locator(f"[data-testid=rec-{world.opc.pk}]")).to_be_visible()
    page.click(f"[data-testid=invite-{world.opc.pk}]")
    expect(page.locator(f"[data-testid=invited-{world.opc.pk}]")).to_be_visible()

    # 3. The OPC finds the invitation among its notifications and bids.
    opc = new_page(browser, live_server)
    login(opc, world.opc_user.email)
    opc.goto("/market/notifications/")
    opc.locator("[data-testid=notifications] a", has_text="甬优文旅宣传短剧").first.click()
    expect(opc).to_have_url(re.compile(rf"/market/orders/{order.pk}/$"))
    opc.fill("input[name=price]", "8800")
    opc.fill("input[name=timeline_days]", "20")
    opc.fill("textarea[name=plan]", "剧本 → 分镜 → 成片")
    opc.click("[data-testid=submit-bid]")
    expect(opc.locator("[data-testid=my-bid]")).to_contain_text("8,800.00")

    # 4. The client awards the bid (one milestone for the whole price) and funds it into escrow.
    page.reload()
    bid = order.bids.get()
    page.click(f"[data-testid=award-{bid.pk}]")
    page.click("[data-testid=confirm-award]")
    expect(page).to_have_url(re.compile(r"/market/contracts/\d+/$"))
    contract = Contract.objects.get(order=order)
    page.click("[data-testid=fund-1]")
    expect(page.locator("[data-testid=escrow-balance]")).to_contain_text("8,800.00")
    expect(page.locator("[data-testid=milestone-1]")).to_have_attribute("data-status", "funded")

    # 5. The OPC delivers.
    opc.goto(f"/market/contracts/{contract.pk}/")
    opc.fill("[data-testid=deliver-note-1]", "三集成片已上传网盘")
    opc.click("[data-testid=deliver-1]")
    expect(opc.locator("[data-testid=milestone-1]")).to_have_attribute("data-status", "delivered")

    # 6. The client accepts; escrow is released to the OPC.
    page.reload()
    page.click("[data-testid=accept-1]")
    expect(page.locator("[data-testid=milestone-1]")).to_have_attribute("data-status", "released")
    expect(page.locator("[data-testid=escrow-balance]")).to_contain_text("0.00")
    assert available(world.opc) == Decimal("8800.00")
    assert available(world.client) == Decimal("0.00")
    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED

    # 7. Both review each other on the completed contract (the trust panel of the contract page).
    page.goto(f"/market/contracts/{contract.pk}/")
    client_panel = page.locator("[data-testid=trust-contract-panel]")
    client_panel.locator("input[name=rating][value='5']").check()
    client_panel.locator("textarea[name=text]").fill("按时交付，三集成片质量很好")
    client_panel.locator("[data-testid=review-submit]").click()
    expect(page).to_have_url(re.compile(rf"/market/contracts/{contract.pk}/$"))
    expect(client_panel.locator("[data-testid=my-review]")).to_contain_text("三集成片质量很好")
    opc.goto(f"/market/contracts/{contract.pk}/")
    opc_panel = opc.locator("[data-testid=trust-contract-panel]")
    expect(opc_panel.locator("[data-testid=their-review]")).to_contain_text("三集成片质量很好")
    opc_panel.locator("input[name=rating][value='4']").check()
    opc_panel.locator("textarea[name=text]").fill("需求清楚，验收及时")
    opc_panel.locator("[data-testid=review-submit]").click()
    expect(opc_panel.locator("[data-testid=my-review]")).to_contain_text("验收及时")
    reviews = {r.direction: r.rating for r in Review.objects.filter(contract=contract)}
    assert reviews == {ReviewDirection.CLIENT_TO_OPC: 5, ReviewDirection.OPC_TO_CLIENT: 4}
    # The OPC's reputation counts the on-time delivery and the good review.
    page.goto(f"/trust/organisations/{world.opc.pk}/")
    expect(page.locator("[data-testid=reputation-score]")).to_have_text("+2")

    # Both ledgers show it: the OPC's available balance, the client's emptied escrow.
    ledger_shows(opc, "¥8,800.00")
    page.goto("/ledger/")
    escrow_row = page.locator("[data-testid=ledger-accounts] tr", has_text=f"Contract {contract.pk} escrow")
    expect(escrow_row).to_contain_text("¥0.00")
    opc.context.close()


def _delivered_contract(world: World) -> tuple[Contract, Milestone]:
    """An awarded, funded contract for 10,000 (set up through the services)."""
    order = services.post_order(
        client=world.client,
        actor=world.client_user,
        title="景区数字人讲解",
        category=drama(),
        budget_min=Decimal("5000"),
        budget_max=Decimal("20000"),
        deadline=timezone.localdate() + dt.timedelta(days=30),
        procurement_method="inquiry",
    )
    services.publish_order(order=order, client=world.client, actor=world.client_user)
    bid = services.submit_bid(
        order=order, opc=world.opc, actor=world.opc_user, price=Decimal("10000"), timeline_days=15
    )
    contract = services.award_bid(order=order, bid=bid, client=world.client, actor=world.client_user)
    milestone = contract.milestones.get()
    services.fund_milestone(
        milestone=milestone, client=world.client, actor=world.client_user, idempotency_key="b1"
    )
    return contract, milestone


def test_dispute_opened_by_client_and_split_by_operator(
    page: Page, browser: Browser, live_server: Any
) -> None:
    world = build_world()
    contract, milestone = _delivered_contract(world)

    # The OPC delivers.
    login(page, world.opc_user.email)
    page.goto(f"/market/contracts/{contract.pk}/")
    page.click("[data-testid=deliver-1]")
    expect(page.locator("[data-testid=milestone-1]")).to_have_attribute("data-status", "delivered")

    # The client disputes the delivery.
    client = new_page(browser, live_server)
    login(client, world.client_user.email)
    client.goto(f"/market/contracts/{contract.pk}/")
    client.locator(
        "[data-testid=milestone-1] details", has=client.locator("[data-testid=dispute-1]")
    ).locator("summary").click()
    client.fill("[data-testid=dispute-reason-1]", "讲解词多处错误，与验收标准不符")
    client.click("[data-testid=dispute-1]")
    expect(client.locator("[data-testid=milestone-1]")).to_have_attribute("data-status", "disputed")
    dispute = Dispute.objects.get(milestone=milestone)

    # The operator of the OPC's community decides a split: 6,000 to the OPC, 4,000 back to the client.
    operator = new_page(browser, live_server)
    login(operator, world.operator_user.email)
    operator.goto("/market/operator/disputes/")
    operator.click(f"[data-testid=decide-{dispute.pk}]")
    expect(operator.locator("[data-testid=held]")).to_contain_text("10,000.00")
    operator.fill("input[name=amount_to_opc]", "6000")
    operator.fill("textarea[name=note]", "完成约六成")
    operator.click("[data-testid=decide]")
    expect(operator).to_have_url(re.compile(r"/market/operator/disputes/$"))
    dispute.refresh_from_db()
    assert dispute.amount_to_opc == Decimal("6000.00") and dispute.amount_to_client == Decimal("4000.00")
    milestone.refresh_from_db()
    assert milestone.status == MilestoneStatus.RESOLVED

    ledger_shows(page, "¥6,000.00")
    ledger_shows(client, "¥4,000.00")
    client.goto(f"/market/contracts/{contract.pk}/")
    expect(client.locator(f"[data-testid=dispute-{dispute.pk}]")).to_contain_text("6,000.00")
    client.context.close()
    operator.context.close()


def test_contest_reward_escrowed_two_entries_winner_paid(
    page: Page, browser: Browser, live_server: Any
) -> None:
    world = build_world()
    drama()  # the taxonomy (a data migration) is flushed between transactional tests
    deadline = (timezone.localdate() + dt.timedelta(days=20)).isoformat()

    # The client posts a contest with a 6,000 reward and publishes it: the reward goes into escrow.
    login(page, world.client_user.email)
    page.goto("/market/orders/new/")
    page.fill("input[name=title]", "城市宣传海报悬赏")
    page.select_option("[data-testid=category-select]", "ai-short-drama")
    page.fill("input[name=budget_min]", "3000")
    page.fill("input[name=budget_max]", "8000")
    page.fill("input[name=deadline]", deadline)
    page.select_option("select[name=mode]", "contest")
    page.fill("input[name=price]", "6000")
    page.select_option("select[name=procurement_method]", "small_direct")
    page.click("[data-testid=save-order]")
    expect(page).to_have_url(re.compile(r"/market/orders/\d+/$"))
    order = Order.objects.get(title="城市宣传海报悬赏")
    page.click("[data-testid=publish]")
    expect(page.locator("h1 [data-status=open]")).to_be_visible()
    order.refresh_from_db()
    assert order.escrow_account is not None and order.escrow_account.balance == Decimal("6000.00")
    assert available(world.client) == Decimal("0.00")

    # Two OPCs enter.
    for user, text in ((world.opc_user, "海报方案 A：科幻风"), (world.other_opc_user, "海报方案 B：水墨风")):
        opc = new_page(browser, live_server)
        login(opc, user.email)
        opc.goto(f"/market/orders/{order.pk}/")
        opc.fill("textarea[name=description]", text)
        opc.fill("input[name=link]", "https://example.cn/poster")
        opc.click("[data-testid=submit-entry]")
        expect(opc.locator("[data-testid=my-entry]")).to_contain_text(text)
        opc.context.close()

    # The client picks the first entry; the winner is paid, the other is told.
    page.reload()
    winner = ContestEntry.objects.get(order=order, opc=world.opc)
    page.click(f"[data-testid=pick-{winner.pk}]")
    expect(page.locator(f"[data-testid=entry-{winner.pk}] [data-status=won]")).to_be_visible()
    winner.refresh_from_db()
    assert winner.status == EntryStatus.WON
    assert available(world.opc) == Decimal("6000.00")
    assert available(world.other_opc) == Decimal("0.00")
    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED and order.escrow_account.balance == Decimal("0.00")
    opc = new_page(browser, live_server)
    login(opc, world.opc_user.email)
    ledger_shows(opc, "¥6,000.00")
    opc.context.close()


def test_operator_dispatches_and_the_opc_accepts_with_a_bid(
    page: Page, browser: Browser, live_server: Any
) -> None:
    world = build_world()
    profile = world.opc.opc_profile
    profile.capacity = 2
    profile.save()
    profile.skills.set([drama()])
    order = services.post_order(
        client=world.client,
        actor=None,
        title="派单：景区短剧",
        category=drama(),
        budget_min=Decimal("6000"),
        budget_max=Decimal("10000"),
        deadline=timezone.localdate() + dt.timedelta(days=30),
        procurement_method="inquiry",
    )
    services.publish_order(order=order, client=world.client, actor=None)

    # The operator runs a batch dispatch now; the run shows the assignment in its community.
    login(page, world.operator_user.email)
    page.goto("/dispatch/")
    page.click("[data-testid=dispatch-now]")
    expect(page).to_have_url(re.compile(r"/dispatch/runs/\d+/$"))
    expect(page.locator("[data-testid=assignments]")).to_contain_text(world.opc.name)

    # The OPC accepts the offer with its price: that places its bid on the order.
    opc = new_page(browser, live_server)
    login(opc, world.opc_user.email)
    opc.click("[data-testid=nav-offers]")
    offer = order.dispatch_offers.get()
    opc.fill(f"[data-testid=offer-price-{offer.pk}]", "7200")
    opc.click(f"[data-testid=offer-accept-{offer.pk}]")
    expect(opc).to_have_url(re.compile(rf"/market/orders/{order.pk}/$"))
    expect(opc.locator("[data-testid=my-bid]")).to_contain_text("7,200.00")

    # The client sees the bid and could award it like any other.
    client = new_page(browser, live_server)
    login(client, world.client_user.email)
    client.goto(f"/market/orders/{order.pk}/")
    bid = order.bids.get()
    expect(client.locator(f"[data-testid=bid-{bid.pk}]")).to_contain_text(world.opc.name)
    opc.context.close()
    client.context.close()
