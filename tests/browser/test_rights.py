"""The copyright registry as people use it (issue 8): an OPC registers a video (a damaged file and a file of
the wrong type are refused first), downloads and verifies the certificate, submits a mirrored, watermarked
clip of it found elsewhere, sees the match with its timestamps and opens a case with a copyright agency; the
agency accepts it and records the compensation received, which is split into both organisations' ledgers;
the community's operator sees the case among its oversight figures. A visitor checks the certificate PDF
itself on the public page; a damaged file in a check of copies is refused."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from core.testing import PASSWORD, build_world, make_org, make_user
from ledger.models import Account, Purpose
from organisations.capabilities import OrgKind, OrgSubkind
from rights import media
from rights.models import Case, CaseStatus, Work, WorkStatus
from rights.tests.helpers import image, mirrored_clip, video

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Registering and checking run the media processing inline (immediate task backend): decoding, hashing and
# the certificate PDF take a few seconds on a busy two-core machine, more than the suite's 10 s default allows
# for a navigation when the machine is loaded.
SLOW_MS = 30_000


def login(page: Page, login_id: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", login_id)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/dashboard/$"))


def fill_statement(page: Page, file_name: str, data: bytes, mime: str) -> None:
    page.set_input_files("input[name=file]", files=[{"name": file_name, "mimeType": mime, "buffer": data}])
    page.fill("input[name=title]", "《星门》第一集")
    page.select_option("select[name=category]", "short_drama")
    page.fill("input[name=authors]", "刘十万")
    page.fill("input[name=created_on]", "2026-03-01")
    page.fill("input[name=first_published_on]", "2026-04-18")
    page.fill("input[name=published_where]", "抖音 @十万光年科幻")
    page.fill("textarea[name=purpose]", "短剧平台首发")
    page.fill("textarea[name=process]", "用可灵生成分镜，人工完成剧本、剪辑、配乐与调色")
    page.fill("input[name=ai_tools]", "可灵 2.1；即梦")
    page.fill("textarea[name=prompts]", "星门开启，废土城市，冷色调")
    page.fill("textarea[name=originality]", "选题、分镜取舍与后期均由作者独立完成")
    page.click("[data-testid=work-form] button[type=submit]")


def test_register_verify_detect_open_case_and_split_compensation(
    page: Page, browser: Browser, live_server: Any
) -> None:
    page.set_default_timeout(SLOW_MS)
    world = build_world()
    agent = make_user("copyright-agent", email="copyright@example.cn")
    agency = make_org(OrgKind.PROVIDER, "浙东版权代理中心", agent, subkind=OrgSubkind.COPYRIGHT_AGENCY)

    # 1. The OPC finds the registry in the navigation; a damaged video and a text file are refused.
    login(page, world.opc_user.email or "")
    page.click("[data-testid=nav-rights]")
    page.click("[data-testid=register-work-link]")
    with translation.override("zh-hans"):
        damaged, unsupported = media.damaged_message(), media.unsupported_message()
    fill_statement(page, "broken.mp4", video()[:4000], "video/mp4")
    expect(page.locator("[data-testid=error-file]")).to_have_text(damaged)
    text_file = {"name": "notes.mp4", "mimeType": "video/mp4", "buffer": "剧本".encode() * 200}
    page.set_input_files("input[name=file]", files=[text_file])
    page.click("[data-testid=work-form] button[type=submit]")
    expect(page.locator("[data-testid=error-file]")).to_have_text(unsupported)
    assert not Work.objects.exists()

    # 2. The real video registers: fingerprinted, chained, certified.
    fill_statement(page, "xingmen-ep1.mp4", video(), "video/mp4")
    expect(page.locator("[data-testid=work-status]")).to_have_attribute("data-status", "registered")
    work = Work.objects.get()
    assert work.status == WorkStatus.REGISTERED
    expect(page.locator("[data-testid=certificate-code]")).to_have_text(work.code)

    # 3. The certificate PDF carries the code and the file hash; the public page verifies it and the chain.
    pdf = page.request.get(page.locator("[data-testid=certificate-pdf]").get_attribute("href") or "")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages).replace("\n", "")
    assert work.code in text and work.sha256[:40] in text and work.registration_number in text
    visitor = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    visitor.set_default_timeout(SLOW_MS)
    visitor.goto(page.locator("[data-testid=verify-link]").get_attribute("href") or "")
    expect(visitor.locator("[data-testid=certificate-state]")).to_have_attribute("data-state", "valid")
    expect(visitor.locator("[data-testid=content-sha256]")).to_have_text(work.sha256)
    # the visitor holds the PDF they were sent: the page recognises it as the certificate issued, unaltered
    certificate = {
        "name": f"certificate-{work.code}.pdf",
        "mimeType": "application/pdf",
        "buffer": pdf.body(),
    }
    visitor.set_input_files("[data-testid=file-check-form] input[name=file]", files=[certificate])
    visitor.click("[data-testid=file-check-form] button[type=submit]")
    expect(visitor.locator("[data-testid=file-check]")).to_have_attribute("data-result", "certificate")
    edited = {**certificate, "buffer": pdf.body() + b"% edited\n"}  # still opens, no longer the issued file
    visitor.set_input_files("[data-testid=file-check-form] input[name=file]", files=[edited])
    visitor.click("[data-testid=file-check-form] button[type=submit]")
    expect(visitor.locator("[data-testid=file-check]")).to_have_attribute("data-result", "none")
    visitor.click("[data-testid=chain-link]")
    expect(visitor.locator("[data-testid=chain-state]")).to_have_attribute("data-state", "intact")
    visitor.context.close()

    # 4. A mirrored, watermarked clip found on a video platform is checked against the registry.
    page.click("[data-testid=nav-rights]")
    page.click("[data-testid=scans-link]")
    page.set_input_files(
        "input[name=copies]",
        files=[{"name": "frame.png", "mimeType": "image/png", "buffer": image()[:500]}],
    )
    page.click("[data-testid=scan-form] button[type=submit]")
    expect(page.locator("[data-testid=error-copies]")).to_contain_text(f"frame.png: {damaged}")
    page.set_input_files(
        "input[name=copies]",
        files=[{"name": "repost.mp4", "mimeType": "video/mp4", "buffer": mirrored_clip()}],
    )
    page.fill("input[name=note]", "抖音 @影视搬运号")
    page.click("[data-testid=scan-form] button[type=submit]")
    row = page.locator("[data-testid=match-row]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("《星门》第一集")
    expect(row).to_contain_text(re.compile(r"↔ 0:0[34]\.0"))  # the clip's seconds 2–7 are the work's 3–8
    match = work.matches.get()
    page.click(f"[data-testid=evidence-{match.pk}]")
    expect(page.locator("[data-testid=segments] tbody tr")).to_have_count(len(match.segments))
    evidence = page.request.get(page.locator("[data-testid=evidence-pdf]").get_attribute("href") or "")
    assert evidence.ok and evidence.body().startswith(b"%PDF")

    # 5. The OPC hands the match to the copyright agency at 30 %.
    page.select_option("select[name=agency]", label="浙东版权代理中心")
    page.fill("input[name=agency_share]", "30")
    page.fill("input[name=infringer]", "抖音 @影视搬运号")
    page.click("[data-testid=case-form] button[type=submit]")
    expect(page.locator("h1 [data-testid=case-status]")).to_have_attribute("data-status", "open")
    case = Case.objects.get()
    assert case.agency == agency and case.agency_share == Decimal("30.00")

    # 6. The agency accepts the case and records ¥1,000.00 received from the infringer.
    agency_page = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    agency_page.set_default_timeout(SLOW_MS)
    login(agency_page, agent.email or "")
    agency_page.click("[data-testid=nav-rights]")
    agency_page.click("[data-testid=cases-link]")
    agency_page.click(f"a[href='/rights/cases/{case.pk}/']")
    agency_page.click("[data-testid=move-accepted]")
    expect(agency_page.locator("h1 [data-testid=case-status]")).to_have_attribute("data-status", "accepted")
    agency_page.fill("input[name=amount]", "1000.00")
    agency_page.fill("input[name=payer]", "某传媒公司")
    agency_page.click("[data-testid=compensation-form] button[type=submit]")
    expect(agency_page.locator("h1 [data-testid=case-status]")).to_have_attribute("data-status", "settled")
    expect(agency_page.locator("[data-testid=compensations]")).to_contain_text("¥300.00")
    expect(agency_page.locator("[data-testid=compensations]")).to_contain_text("¥700.00")
    case.refresh_from_db()
    assert case.status == CaseStatus.SETTLED

    # 7. The split lands in both ledgers: 30 % for the agency, 70 % for the creator.
    agency_page.goto("/ledger/")
    expect(agency_page.locator("[data-testid=ledger-accounts]")).to_contain_text("¥300.00")
    page.goto("/ledger/")
    expect(page.locator("[data-testid=ledger-accounts]")).to_contain_text("¥700.00")
    assert Account.objects.get(owner=agency, purpose=Purpose.AVAILABLE).balance == Decimal("300.00")
    assert Account.objects.get(owner=world.opc, purpose=Purpose.AVAILABLE).balance == Decimal("700.00")
    agency_page.context.close()

    # 8. The community's operator follows the case on its oversight figures.
    operator_page = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    operator_page.set_default_timeout(SLOW_MS)
    login(operator_page, world.operator_user.email or "")
    operator_page.click("[data-testid=nav-rights]")
    operator_page.click("[data-testid=oversight-cases]")
    expect(operator_page.locator("[data-testid=figure-value]")).to_have_text("1")
    expect(operator_page.locator("[data-testid=figure-rows]")).to_contain_text("《星门》第一集")
    expect(operator_page.locator("[data-testid=figure-rows]")).to_contain_text("1000.00")
    operator_page.context.close()
