"""Contract review in the browser: an OPC uploads the "investment agreement" that buys out a director's IP,
reads the report (top risk first, the exact clause highlighted, an explanation and a fairer clause), downloads
the PDF; a damaged file gets a clear error and nothing is stored."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.utils import translation
from playwright.sync_api import FilePayload, Page, expect
from pypdf import PdfReader

from contracts.models import Review
from contracts.review.rules import library
from core.testing import PASSWORD, build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AGREEMENT = (
    Path(__file__).resolve().parents[2] / "contracts" / "tests" / "fixtures" / "investment_agreement.txt"
)


def login(page: Page, login_id: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/", timeout=60_000)  # the first page of a session warms the server up
    page.fill("input[name=login]", login_id)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/dashboard/$"))


def test_opc_uploads_and_reviews_an_investment_agreement(page: Page) -> None:
    world = build_world()
    login(page, world.opc_user.email or "")
    page.click("[data-testid=nav-contract-review]")
    expect(page).to_have_url(re.compile(r"/contracts/$"))

    # A damaged .docx: a clear error, nothing stored.
    page.set_input_files(
        "[data-testid=review-file]",
        files=[
            FilePayload(name="合同.docx", mimeType="application/octet-stream", buffer=b"PK\x03\x04 broken")
        ],
    )
    page.click("[data-testid=review-submit]")
    with translation.override("zh-hans"):
        from django.utils.translation import gettext

        expected = gettext("The .docx file is damaged and cannot be opened.")
    expect(page.locator("[data-testid=review-error]")).to_contain_text(expected)
    assert not Review.objects.exists()

    # An unsupported format (a photo of the contract): a clear error naming the formats, nothing stored.
    page.set_input_files(
        "[data-testid=review-file]",
        files=[
            FilePayload(name="合同照片.png", mimeType="image/png", buffer=b"\x89PNG\r\n\x1a\n" + bytes(64))
        ],
    )
    page.click("[data-testid=review-submit]")
    with translation.override("zh-hans"):
        from django.utils.translation import gettext

        unsupported = gettext("Only .docx, .pdf and .txt files can be reviewed (or paste the text).")
    expect(page.locator("[data-testid=review-error]")).to_contain_text(unsupported)
    assert not Review.objects.exists()

    # The agreement as a GB18030 text file (as exported by many Chinese editors).
    page.fill("input[name=title]", "投资合作协议")
    page.set_input_files(
        "[data-testid=review-file]",
        files=[
            FilePayload(
                name="投资合作协议.txt",
                mimeType="text/plain",
                buffer=AGREEMENT.read_bytes().decode().encode("gb18030"),
            )
        ],
    )
    page.click("[data-testid=review-submit]")
    expect(page).to_have_url(re.compile(r"/contracts/reviews/\d+/$"))
    expect(page.locator("[data-testid=rating]")).to_have_attribute("data-rating", "high")

    review = Review.objects.get()
    top = review.findings.get(position=1)
    assert top.category in {"future_works", "ip_assignment"}
    first = page.locator("[data-testid=finding-1]")
    expect(first).to_have_attribute("data-severity", "high")
    expect(first.locator("[data-testid=span-1]")).to_have_text(top.span)
    expect(first.locator("[data-testid=explanation-1]")).to_contain_text(
        library().categories[top.category].explanation["zh"][:20]
    )
    expect(first.locator("[data-testid=fairer-1]")).to_contain_text("乙方")
    expect(page.locator("[data-testid=top-risk]")).to_contain_text(top.title["zh"])
    # findings are ordered: no medium before a high
    severities = page.locator("article[data-severity]").evaluate_all(
        "els => els.map(e => e.dataset.severity)"
    )
    order = {"high": 0, "medium": 1, "low": 2}
    assert severities == sorted(severities, key=order.__getitem__)

    # The PDF report.
    with page.expect_download(timeout=60_000) as download_info:  # WeasyPrint with CJK fonts on a busy machine
        page.evaluate(
            "url => { const a = document.createElement('a'); a.href = url; a.download = 'r.pdf'; document.body.appendChild(a); a.click(); }",
            page.get_attribute("[data-testid=review-pdf]", "href"),
        )
    pdf = download_info.value.path()
    text = "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(Path(pdf).read_bytes())).pages)
    assert "投资合作协议" in text

    # The list shows the review.
    page.goto("/contracts/")
    expect(page.locator("[data-testid=review-list]")).to_contain_text("投资合作协议")
