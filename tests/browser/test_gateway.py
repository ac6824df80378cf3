"""The token-quota gateway as people use it: the operator adds an upstream channel (the demo upstream, a
fake OpenAI-compatible server this test starts on 127.0.0.1), tests it, prices the model and grants a quota;
the member creates a key (shown once), calls the gateway's /v1 with the official openai SDK, and sees the
calls on its usage page; the operator sees them too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from core.testing import PASSWORD, build_world
from gateway.fake_upstream import FakeUpstream, ServerThread
from gateway.models import UsageRecord, UsageSource, UsageStatus, VirtualKey
from ledger.models import Purpose
from ledger.services import account_for, transfer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

openai = pytest.importorskip("openai")


def login(page: Page, login_id: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", login_id)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/dashboard/$"))


@pytest.fixture
def demo_upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream(reply="第一幕：星门开启。Scene one: the star gate opens.")
    with ServerThread(fake) as server:
        yield fake, server.url


def test_operator_sets_up_channel_and_quota_member_calls_and_sees_usage(
    page: Page, browser: Browser, live_server: Any, demo_upstream: tuple[FakeUpstream, str]
) -> None:
    fake, upstream_url = demo_upstream
    world = build_world()
    transfer(
        idempotency_key="browser:pool",
        source=account_for(owner=None, purpose=Purpose.EXTERNAL),
        destination=account_for(owner=world.operator, purpose=Purpose.FUNDING_POOL),
        amount=Decimal("1000.00"),
        kind="test.fund",
    )

    # 1. The operator adds the demo upstream as a channel; its API key is never shown again.
    operator = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    login(operator, world.operator_user.email)
    operator.click("[data-testid=nav-quota]")
    operator.click("[data-testid=tab-channels]")
    form = operator.locator("[data-testid=channel-form]")
    form.locator("input[name=name]").fill("演示上游")
    form.locator("select[name=provider]").select_option("demo")
    form.locator("input[name=base_url]").fill(upstream_url)
    form.locator("input[name=api_key]").fill(fake.api_key)
    form.locator("textarea[name=models]").fill("deepseek-chat = demo-model")
    form.locator("input[name=max_output_tokens]").fill("1000")
    form.locator("button[type=submit]").click()
    table = operator.locator("[data-testid=channels-table]")
    expect(table).to_contain_text("演示上游")
    expect(table).to_contain_text("deepseek-chat")
    expect(operator.locator("main")).not_to_contain_text(fake.api_key)

    # The "test channel" action (htmx) reaches the upstream directly.
    table.get_by_role("link", name="演示上游").click()
    operator.click("[data-testid=channel-test]")
    expect(operator.locator("[data-testid=channel-test-result] [data-state=ok]")).to_be_visible()
    assert fake.requests[-1]["body"]["model"] == "demo-model"

    # 2. It prices the model (a public list price, with its source and date).
    operator.goto("/quota/prices/")
    operator.locator("[data-testid=price-form]").locator("xpath=..").locator("summary").click()
    prices = operator.locator("[data-testid=price-form]")
    prices.locator("input[name=model]").fill("deepseek-chat")
    prices.locator("input[name=input_per_million]").fill("2")
    prices.locator("input[name=output_per_million]").fill("8")
    prices.locator("select[name=kind]").select_option("list")
    prices.locator("input[name=source]").fill("https://api-docs.deepseek.com/zh-cn/quick_start/pricing")
    prices.locator("input[name=source_date]").fill("2026-01-05")
    prices.locator("button[type=submit]").click()
    expect(operator.locator("[data-testid=prices-current]")).to_contain_text("deepseek-chat")

    # 3. It grants the member a quota from its funding pool.
    operator.goto("/quota/operator/")
    grant = operator.locator("[data-testid=grant-form]")
    grant.locator("select[name=member]").select_option(label=world.opc.name)
    grant.locator("input[name=amount]").fill("50")
    grant.locator("input[name=memo]").fill("三月词元额度")
    grant.locator("button[type=submit]").click()
    row = operator.locator(f"[data-testid=member-quotas] tr[data-member='{world.opc.pk}']")
    expect(row).to_contain_text("¥50.00")
    expect(operator.locator("[data-testid=pool-balance]")).to_have_text("¥950.00")

    # 4. The member creates a key: the secret is shown once.
    login(page, world.opc_user.email)
    page.click("[data-testid=nav-quota]")
    expect(page.locator("[data-testid=quota-available]")).to_have_text("¥50.00")
    page.click("[data-testid=tab-keys]")
    keys = page.locator("[data-testid=key-form]")
    keys.locator("input[name=name]").fill("剪辑工作站")
    keys.locator("input[name=tag]").fill("星门短剧")
    keys.locator("input[name=rpm_limit]").fill("60")
    keys.locator("button[type=submit]").click()
    secret = page.locator("[data-testid=new-key-secret]").inner_text().strip()
    assert secret.startswith("sk-opc-")
    key = VirtualKey.objects.get(organisation=world.opc)
    assert key.digest == VirtualKey.digest_of(secret) and secret not in (key.prefix, key.digest)
    page.goto("/quota/keys/")
    expect(page.locator("[data-testid=new-key]")).to_have_count(0)
    expect(page.locator("[data-testid=keys-table]")).to_contain_text(key.prefix)

    # 5. It calls the gateway with the official SDK (base_url = the live server's /v1).
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=secret, max_retries=0)
    assert [m.id for m in client.models.list().data] == ["deepseek-chat"]
    for line in ("写一句科幻短剧的开场白", "再写一句"):
        completion = client.chat.completions.create(
            model="deepseek-chat", messages=[{"role": "user", "content": line}], max_tokens=200
        )
        assert completion.choices[0].message.content == fake.reply
        assert completion.model == "deepseek-chat"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-unknown", messages=[{"role": "user", "content": "x"}])
    records = list(UsageRecord.objects.filter(organisation=world.opc))
    assert len(records) == 2
    assert all(r.status == UsageStatus.SETTLED and r.usage_source == UsageSource.UPSTREAM for r in records)
    assert all(r.tag == "星门短剧" for r in records)
    charged = sum((r.charged for r in records), Decimal(0))
    assert charged > 0

    # 6. The member sees the calls on its usage page: totals, the model, the chart, each request.
    page.click("[data-testid=tab-usage]")
    expect(page.locator("[data-testid=usage-requests]")).to_have_text("2")
    expect(page.locator("[data-testid=usage-by-model]")).to_contain_text("deepseek-chat")
    expect(page.locator("[data-testid=usage-chart] svg rect")).not_to_have_count(0)
    expect(page.locator("[data-testid=usage-records] tbody tr")).to_have_count(2)
    expect(page.locator("[data-testid=usage-records]")).to_contain_text("星门短剧")
    download = page.request.get("/quota/usage/export.csv")
    assert download.ok and "deepseek-chat" in download.text()

    # The operator sees the member's usage as well.
    operator.goto("/quota/operator/usage/")
    expect(operator.locator("[data-testid=usage-records]")).to_contain_text(world.opc.name)
    expect(operator.locator("[data-testid=usage-requests]")).to_have_text("2")
    operator.context.close()
