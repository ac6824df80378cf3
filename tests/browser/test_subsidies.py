"""The subsidy middle layer as people do it in a browser: a member records an expense with its invoice and
consents to a claim paid as token quota; the operator approves the expense, opens a batch, submits it (the
application package is a Chinese PDF), records the approval and the funds and distributes them; the member
sees its share, credited as token quota, with the reason (the clause-by-clause trace)."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from core.testing import PASSWORD, build_world
from ledger.services import account_for
from subsidies.models import BatchStatus, ClaimBatch, Expense, ExpenseStatus
from subsidies.tests.helpers import SELLER

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
POLICY = "haishu-compute-subsidy"
# Submitting builds the package (a PDF with embedded Chinese fonts): allow more than the default 10 s on a
# machine busy with other test runs.
TIMEOUT_MS = 30_000


@pytest.fixture(autouse=True)
def _patient_expect() -> Any:
    expect.set_options(timeout=TIMEOUT_MS)
    yield
    expect.set_options(timeout=5_000)  # Playwright's default, for the other modules


def login(page: Page, login_id: str | None) -> None:
    assert login_id
    page.goto("/accounts/login/")
    page.fill("input[name=login]", login_id)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/dashboard/$"))


def zh(text: str) -> str:
    with translation.override("zh-hans"):
        return gettext(text)


def test_expense_approved_batch_distributed_member_sees_share_as_quota(
    page: Page, browser: Browser, live_server: Any
) -> None:
    world = build_world()
    page.context.set_default_timeout(TIMEOUT_MS)
    page.context.set_default_navigation_timeout(TIMEOUT_MS)

    # 1. The member records a compute invoice with its file.
    login(page, world.opc_user.email)
    page.click("[data-testid=nav-subsidies]")
    expect(page).to_have_url(re.compile(r"/subsidies/my/$"))
    page.goto("/subsidies/expenses/")
    page.click("[data-testid=expense-details] summary")
    form = page.locator("[data-testid=expense-form]")
    form.locator("select[name=category]").select_option("compute.inference")
    form.locator("input[name=amount]").fill("3000.00")
    form.locator("input[name=spent_on]").fill("2026-02-10")
    form.locator("input[name=seller_name]").fill("宁波算力服务有限公司")
    form.locator("input[name=seller_uscc]").fill(SELLER)
    form.locator("input[name=invoice_number]").fill("25332000000012345678")
    form.locator("input[name=description]").fill("推理算力租用 2 月")
    form.locator("input[name=evidence]").set_input_files(
        {"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n1 0 obj\n%%EOF\n"}
    )
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/subsidies/expenses/$"))
    expense = Expense.objects.get(organisation=world.opc)
    expect(page.locator(f"[data-testid=expense-{expense.pk}]")).to_contain_text(zh("Awaiting review"))

    # 2. It consents to the operator's claim and takes its share as token quota.
    page.goto(f"/subsidies/my/policies/{POLICY}/?period=2026-Q1")
    expect(page.locator("[data-testid=why-amount]")).to_have_text("¥0.00")  # nothing approved yet
    page.locator("[data-testid=consent-form] input[name=payout][value=quota]").check()
    page.click("[data-testid=consent-give]")
    expect(page.locator("[data-testid=consent]")).to_contain_text(zh("Token quota"))

    # 3. The operator approves the expense.
    operator_context = browser.new_context(locale="zh-CN", base_url=live_server.url)
    operator_context.set_default_timeout(TIMEOUT_MS)
    operator_context.set_default_navigation_timeout(TIMEOUT_MS)
    operator = operator_context.new_page()
    login(operator, world.operator_user.email)
    operator.goto("/subsidies/operator/review/")
    operator.click(f"[data-testid=approve-{expense.pk}]")
    expect(operator.locator(f"[data-testid=approve-{expense.pk}]")).to_have_count(0)
    expense.refresh_from_db()
    assert expense.status == ExpenseStatus.APPROVED
    page.goto("/subsidies/expenses/")  # the member sees the approval …
    expect(page.locator(f"[data-testid=expense-{expense.pk}]")).to_contain_text(zh("Approved"))
    page.goto(f"/subsidies/my/policies/{POLICY}/?period=2026-Q1")  # … and why it now counts for ¥1,500
    expect(page.locator("[data-testid=why-amount]")).to_have_text("¥1,500.00")
    expect(page.locator("[data-testid=trace]")).to_contain_text("67个工位")

    # 4. The operator opens a batch for the quarter: the member is in it with 50% of 3000.
    operator.click("[data-testid=nav-subsidies]")
    operator.click("[data-testid=open-batch]")
    batch_form = operator.locator("[data-testid=batch-form]")
    batch_form.locator("select[name=policy]").select_option(POLICY)
    batch_form.locator("input[name=period]").fill("2026-Q1")
    batch_form.locator("button[type=submit]").click()
    expect(operator).to_have_url(re.compile(r"/subsidies/operator/batches/\d+/$"))
    line_row = operator.locator(f"[data-testid=line-{world.opc.pk}]")
    expect(line_row).to_contain_text("¥1,500.00")
    line_row.locator("details summary").click()  # the operator sees the same trace
    expect(line_row.locator("[data-testid=trace]")).to_contain_text("入驻海曙区 AiOPC 社区")
    expect(line_row.locator("[data-testid=trace]")).to_contain_text("2025-12-20")

    # 5. Submit: the package PDF is in Chinese and carries the reference code.
    operator.click("[data-testid=batch-submit]")
    expect(operator.locator("[data-testid=batch-status]")).to_have_text(zh("Submitted"))
    batch = ClaimBatch.objects.get()
    pdf = operator.request.get(operator.locator("[data-testid=package-pdf]").get_attribute("href") or "")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages)
    assert "申报汇总表" in text and batch.code in text and world.opc.name in text

    # 6. The authority reviews and approves less than claimed; the funds arrive; the operator distributes.
    operator.locator("[data-testid=review-form] input[name=reference]").fill("海人社〔2026〕12号")
    operator.click("[data-testid=batch-under-review]")
    expect(operator.locator("[data-testid=batch-status]")).to_have_text(zh("Under review"))
    operator.locator("[data-testid=approve-form] input[name=amount]").fill("1200.00")
    operator.click("[data-testid=batch-approve]")
    expect(operator.locator("[data-testid=batch-status]")).to_have_text(zh("Approved"))
    operator.locator("[data-testid=funds-form] input[name=amount]").fill("1200.00")
    operator.click("[data-testid=batch-funds]")
    expect(operator.locator("[data-testid=batch-status]")).to_have_text(zh("Funds received"))
    operator.click("[data-testid=batch-distribute]")
    expect(operator.locator("[data-testid=batch-status]")).to_have_text(zh("Distributed"))
    expect(operator.locator("[data-testid=batch-distributed]")).to_have_text("¥1,200.00")
    batch.refresh_from_db()
    assert batch.status == BatchStatus.DISTRIBUTED
    assert account_for(owner=world.opc, purpose="quota").balance == Decimal("1200.00")

    # 7. The member sees its share, paid as token quota, and why.
    page.goto("/subsidies/my/")
    line = batch.lines.get()
    expect(page.locator(f"[data-testid=share-{line.pk}]")).to_contain_text("¥1,200.00")
    page.click(f"[data-testid=share-why-{line.pk}]")
    expect(page.locator("[data-testid=share-amount]")).to_have_text("¥1,200.00")
    expect(page.locator("[data-testid=share-payout]")).to_have_text(zh("credited as token quota"))
    expect(page.locator("[data-testid=share-reason]")).to_contain_text("¥1,500.00")
    trace = page.locator("[data-testid=trace]")
    expect(trace).to_contain_text("入驻海曙区 AiOPC 社区")  # the condition …
    expect(trace).to_contain_text("海曙区")  # … with the fact it used
    expect(trace).to_contain_text("50%")  # the parameter, with its date and source
    expect(trace).to_contain_text("2025-12-20")
    expect(trace).to_contain_text("67个工位")
    operator.context.close()
