"""Reviews through the services, the pages and the API: upload or paste, the report with its highlighted span,
the PDF, one-click review of documents held by the marketplace and events, tenancy, and files that cannot be
read (a clear error, nothing stored)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation

from audit.models import AuditRecord
from contracts import services
from contracts.links import attachment_review_url
from contracts.models import Finding, Review
from contracts.review.extract import ExtractionError
from core.errors import NotPermitted
from core.testing import World
from marketplace import services as market
from marketplace.tests.conftest import bid, open_tender

pytestmark = pytest.mark.django_db

AGREEMENT = (Path(__file__).parent / "fixtures" / "investment_agreement.txt").read_text(encoding="utf-8")


def login(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def test_review_of_an_upload_stores_text_findings_and_an_audit_record(world: World) -> None:
    review = services.review_upload(
        organisation=world.opc,
        actor=world.opc_user,
        upload=upload("投资协议.txt", AGREEMENT.encode("gb18030")),
    )
    assert review.title == "投资协议"
    assert review.file_kind == "txt"
    assert review.rating == "high"
    assert review.high_count >= 8
    top = review.findings.first()
    assert top is not None and top.position == 1
    assert top.category in {"future_works", "ip_assignment"}
    assert top.span in top.clause_text and top.explanation["zh"] and top.fairer["en"]
    record = AuditRecord.objects.get(action="contracts.review_created")
    assert record.organisation == world.opc and record.object_id == str(review.pk)


def test_an_unreadable_file_stores_nothing(world: World) -> None:
    with pytest.raises(ExtractionError):
        services.review_upload(
            organisation=world.opc,
            actor=world.opc_user,
            upload=upload("x.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"0" * 50),
        )
    assert not Review.objects.exists() and not Finding.objects.exists()
    assert not AuditRecord.objects.filter(action="contracts.review_created").exists()


def test_upload_page_review_report_and_pdf(world: World) -> None:
    client = login(world.opc_user)
    page = client.get(reverse("contracts:reviews"))
    assert page.status_code == 200
    response = client.post(
        reverse("contracts:review_new"),
        {"title": "投资协议", "file": upload("agreement.txt", AGREEMENT.encode("utf-8"))},
    )
    review = Review.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "contracts:review_detail", args=[review.pk]
    )
    report = client.get(response["Location"])
    html = report.content.decode()
    top = review.findings.first()
    assert top is not None
    assert f'<mark data-testid="span-1">{top.span}</mark>' in html
    assert top.fairer["zh"].split("。")[0] in html
    pdf = client.get(reverse("contracts:review_pdf", args=[review.pk]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    from pypdf import PdfReader

    text = "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "投资协议" in text  # Chinese text survives (CJK font embedded)


def test_paste_and_form_errors(world: World) -> None:
    client = login(world.opc_user)
    with translation.override("en"):
        empty = client.post(reverse("contracts:review_new"), {"text": "  "}, HTTP_ACCEPT_LANGUAGE="en")
    assert empty.status_code == 400
    bad = client.post(
        reverse("contracts:review_new"), {"file": upload("photo.png", b"\x89PNG\r\n\x1a\n" + b"0" * 40)}
    )
    assert bad.status_code == 400 and b'data-testid="review-error"' in bad.content
    assert not Review.objects.exists()
    ok = client.post(
        reverse("contracts:review_new"), {"text": "第一条 甲方有权随时解除本合同，无需任何理由。"}
    )
    assert ok.status_code == 302
    assert Review.objects.get().findings.filter(category="unilateral_termination").exists()


def test_reviews_are_private_to_their_organisation(world: World) -> None:
    review = services.review_text(
        organisation=world.opc, actor=world.opc_user, text="甲方可随时单方解除本合同。"
    )
    other = login(world.other_opc_user)
    assert other.get(reverse("contracts:review_detail", args=[review.pk])).status_code == 404
    assert other.get(reverse("contracts:review_pdf", args=[review.pk])).status_code == 404
    assert other.get(f"/api/contracts/reviews/{review.pk}").status_code == 404
    assert other.get("/api/contracts/reviews").json() == []


def test_one_click_review_of_an_order_attachment_for_the_parties_only(world: World) -> None:
    order = open_tender(world)
    attachment = market.add_attachment(
        order=order,
        client=world.client,
        actor=world.client_user,
        upload=upload("合同草案.txt", AGREEMENT.encode()),
    )
    url = attachment_review_url(attachment)
    client_side = login(world.client_user)
    assert client_side.get(url).status_code == 200
    response = client_side.post(
        reverse("contracts:review_from_file"), {"source": "marketplace.attachment", "id": attachment.pk}
    )
    assert response.status_code == 302
    review = Review.objects.get(organisation=world.client)
    assert review.source == "order_attachment" and review.source_id == attachment.pk

    # an OPC that can see the open order but has not bid is not a party
    opc = login(world.opc_user)
    assert opc.get(url).status_code == 403
    with pytest.raises(NotPermitted):
        services.review_order_attachment(attachment=attachment, organisation=world.opc, actor=world.opc_user)
    bid(world, order)
    assert opc.get(url).status_code == 200
    api = opc.post(f"/api/contracts/attachments/{attachment.pk}/review")
    assert api.status_code == 201 and api.json()["findings"][0]["severity"] == "high"
    # an operator of another community does not see the order at all
    assert login(world.other_operator_user).get(url).status_code == 404


def test_api_paste_upload_list_and_errors(world: World) -> None:
    client = login(world.opc_user)
    created = client.post(
        "/api/contracts/reviews",
        {
            "text": "Contractor hereby assigns to Company all right, title and interest in the Work.",
            "title": "NDA",
        },
        content_type="application/json",
    )
    assert created.status_code == 201
    body = created.json()
    assert body["rating"] == "high" and body["findings"][0]["category"] == "ip_assignment"
    assert body["findings"][0]["span"] in body["findings"][0]["clause_text"]
    uploaded = client.post(
        "/api/contracts/reviews/upload",
        {"file": upload("c.txt", AGREEMENT.encode("utf-8-sig")), "title": "投资"},
    )
    assert uploaded.status_code == 201 and uploaded.json()["title"] == "投资"
    with translation.override("en"):
        broken = client.post(
            "/api/contracts/reviews/upload",
            {"file": upload("c.pdf", b"%PDF-1.4 broken")},
            HTTP_ACCEPT_LANGUAGE="en",
        )
    assert broken.status_code == 400 and "damaged" in broken.json()["detail"]
    assert client.post("/api/contracts/reviews/upload", {}).status_code == 422
    listed = client.get("/api/contracts/reviews").json()
    assert [r["title"] for r in listed] == ["投资", "NDA"]
    english = client.get(f"/api/contracts/reviews/{body['id']}", HTTP_ACCEPT_LANGUAGE="en").json()
    assert english["findings"][0]["title"] == "Copyright or IP assigned outright"
    rules = client.get("/api/contracts/rules").json()
    assert {r["code"] for r in rules} >= {"ip_assignment", "liquidated_damages"}


def test_term_sheet_from_an_event_is_reviewed_through_the_events_hook(world: World) -> None:
    import datetime as dt
    from decimal import Decimal

    from django.core.files.base import ContentFile
    from django.utils import timezone

    from events.models import Event, InvestmentIntent
    from events.services import contract_review_url

    start = timezone.now() + dt.timedelta(days=3)
    event = Event.objects.create(
        organiser=world.operator, title="投融资对接会", venue="云创Labo", starts_at=start,
        ends_at=start + dt.timedelta(hours=2), capacity=30,
    )  # fmt: skip
    intent = InvestmentIntent(event=event, investor_name="某基金", opc=world.opc, amount=Decimal("10000000"))
    intent.term_sheet.save("ts.txt", ContentFile(AGREEMENT.encode("utf-8")), save=False)
    intent.term_sheet_name = "投资条款.txt"
    intent.save()
    url = contract_review_url(intent)
    assert url is not None and url.startswith(reverse("contracts:review_from_file"))
    opc = login(world.opc_user)
    assert opc.get(url).status_code == 200
    response = opc.post(reverse("contracts:review_from_file"), {"source": "events.intent", "id": intent.pk})
    assert response.status_code == 302
    review = Review.objects.get(source="term_sheet")
    assert review.source_id == intent.pk and review.rating == "high"
    assert login(world.other_opc_user).get(url).status_code == 404
    assert (
        login(world.client_user)
        .get(reverse("contracts:review_from_file") + "?source=nothing&id=1")
        .status_code
        == 404
    )


def _render_for(template_name: str, user: object, organisation: object, **context: object) -> str:
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    from organisations.access import Scope
    from organisations.models import Membership

    request = RequestFactory().get("/")
    request.user = user  # type: ignore[assignment]
    membership = Membership.objects.filter(user=user, organisation=organisation).first()
    request.org_scope = Scope(membership)  # type: ignore[attr-defined]
    return render_to_string(template_name, {**context, "request": request}, request=request)


def test_marketplace_pages_link_to_review_and_fair_templates_for_the_parties_only(world: World) -> None:
    """The partials the marketplace order and contract pages include: the one-click review of an order
    attachment and the fair model contracts of an awarded contract, shown to the parties only."""
    from marketplace.tests.conftest import awarded

    order = open_tender(world)
    attachment = market.add_attachment(
        order=order,
        client=world.client,
        actor=world.client_user,
        upload=upload("草案.txt", AGREEMENT.encode()),
    )
    partial = "contracts/_attachment_review.html"
    html = _render_for(partial, world.client_user, world.client, a=attachment)
    assert f'data-testid="review-attachment-{attachment.pk}"' in html
    assert attachment_review_url(attachment).replace("&", "&amp;") in html
    assert "review-attachment" not in _render_for(partial, world.opc_user, world.opc, a=attachment)
    bid(world, order)
    assert "review-attachment" in _render_for(partial, world.opc_user, world.opc, a=attachment)

    contract = awarded(world)
    panel = "contracts/_contract_panel.html"
    for user, org in ((world.client_user, world.client), (world.opc_user, world.opc)):
        html = _render_for(panel, user, org, contract=contract)
        assert reverse("contracts:contract_template", args=[contract.pk]) in html
    assert "contract-fair-templates" not in _render_for(
        panel, world.operator_user, world.operator, contract=contract
    )
