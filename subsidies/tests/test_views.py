"""The subsidy pages: forms and their errors, the "why ¥X" trace, review, the batch steps, packages, reports,
the dashboard panels and the navigation."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from openpyxl import load_workbook

from core.testing import World, make_org, make_user
from ledger.services import account_for
from organisations.capabilities import OrgKind
from subsidies.models import BatchStatus, ClaimBatch, Expense, ExpenseStatus
from subsidies.tests.helpers import HAISHU, SELLER, approved, consent, expense, invoice_number, pdf_file

pytestmark = pytest.mark.django_db


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _expense_post(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "category": "compute.inference",
        "amount": "3000.00",
        "spent_on": "2026-02-10",
        "seller_name": "宁波算力服务有限公司",
        "seller_uscc": SELLER,
        "invoice_code": "",
        "invoice_number": invoice_number(),
        "description": "推理算力",
        "evidence": pdf_file(),
    }
    data.update(overrides)
    return data


def test_member_records_an_expense_and_sees_errors(world: World) -> None:
    client = _client(world.opc_user)
    response = client.post(reverse("subsidies:expenses"), _expense_post(seller_uscc="91330203MA2GXXXX08"))
    assert response.status_code == 400
    assert "seller_uscc" in response.context["form"].errors
    assert not Expense.objects.exists()
    response = client.post(reverse("subsidies:expenses"), _expense_post(), follow=True)
    assert response.status_code == 200
    e = Expense.objects.get()
    assert e.status == ExpenseStatus.SUBMITTED and e.evidence_sha256
    assert e.evidence.read().startswith(b"%PDF")
    # the same invoice again: refused with a form error, nothing stored
    response = client.post(reverse("subsidies:expenses"), _expense_post(invoice_number=e.invoice_number))
    assert response.status_code == 409
    assert Expense.objects.count() == 1
    # another member's copy of it is recorded but flagged, with a warning
    other = make_org(OrgKind.OPC, "另一家", make_user("another"), community=world.community)
    response = _client(other.memberships.first().user).post(  # type: ignore[union-attr]
        reverse("subsidies:expenses"), _expense_post(invoice_number=e.invoice_number), follow=True
    )
    assert Expense.objects.get(organisation=other).duplicate_of == e
    assert any(m.level_tag == "warning" for m in response.context["messages"])
    # the file is served to the owner and its operator only
    assert client.get(reverse("subsidies:expense_file", args=[e.pk])).status_code == 200
    assert (
        _client(world.other_opc_user).get(reverse("subsidies:expense_file", args=[e.pk])).status_code == 404
    )


def test_why_page_explains_the_amount_clause_by_clause(world: World) -> None:
    approved(world, amount="3000.00")
    client = _client(world.opc_user)
    response = client.get(reverse("subsidies:my") + "?period=2026-Q1")
    qualifies = {r.policy.id: r.result for r in response.context["qualifies"]}
    assert qualifies[HAISHU].amount == Decimal("1500.00")
    assert qualifies["haishu-zero-rent-workstation"].missing_evidence == [
        "入驻协议（入驻日期）"
    ]  # no residency
    response = client.get(reverse("subsidies:my_policy", args=[HAISHU]) + "?period=2026-Q1")
    body = response.content.decode()
    assert "¥1,500.00" in body
    assert "入驻海曙区 AiOPC 社区" in body and "海曙区" in body  # condition and the fact it used
    assert "2025-12-20" in body and "67个工位" in body  # parameter date and source
    with translation.override("en"):
        response = client.get(
            reverse("subsidies:my_policy", args=[HAISHU]) + "?period=bogus", HTTP_ACCEPT_LANGUAGE="en"
        )
        assert response.status_code == 200
        assert any("is not a period" in str(m) for m in response.context["messages"])
    # the operator sees the same for its member; another operator does not
    op = _client(world.operator_user)
    url = reverse("subsidies:member_policy", args=[world.opc.pk, HAISHU]) + "?period=2026-Q1"
    body = op.get(url).content.decode()
    assert "¥1,500.00" in body and 'data-testid="trace"' in body
    assert "入驻海曙区 AiOPC 社区" in body and "海曙区" in body  # the same clauses and facts …
    assert "2025-12-20" in body and "67个工位" in body  # … and parameters with date and source
    assert _client(world.other_operator_user).get(url).status_code == 404


def test_consent_form(world: World) -> None:
    client = _client(world.opc_user)
    url = reverse("subsidies:consent", args=[HAISHU])
    assert client.post(url, {"payout": "gold"}).status_code == 400
    assert client.post(url, {"payout": "quota"}).status_code == 302
    assert world.opc.subsidy_consents.get().payout == "quota"
    assert client.post(reverse("subsidies:consent_revoke", args=[HAISHU])).status_code == 302
    assert world.opc.subsidy_consents.get().revoked_at is not None
    response = client.post(
        reverse("subsidies:consent", args=["shenzhen-model-voucher-2025"]), {"payout": "cash"}
    )
    assert response.status_code == 400  # the company applies itself


def test_operator_reviews(world: World) -> None:
    e = expense(world.opc, world.opc_user)
    op = _client(world.operator_user)
    response = op.get(reverse("subsidies:review"))
    assert e in response.context["page"].object_list
    assert op.post(reverse("subsidies:expense_reject", args=[e.pk]), {"reason": " "}).status_code == 400
    assert op.post(reverse("subsidies:expense_approve", args=[e.pk])).status_code == 302
    e.refresh_from_db()
    assert e.status == ExpenseStatus.APPROVED
    assert op.post(reverse("subsidies:expense_approve", args=[e.pk])).status_code == 409  # already approved
    other = make_org(OrgKind.OPC, "另一家", make_user("dup-view"), community=world.community)
    dup = expense(other, other.memberships.first().user, number=e.invoice_number)  # type: ignore[union-attr]
    response = op.post(reverse("subsidies:expense_approve", args=[dup.pk]))
    assert response.status_code == 409
    assert (
        op.post(reverse("subsidies:expense_reject", args=[dup.pk]), {"reason": "重复发票"}).status_code == 302
    )


def test_batch_steps_packages_and_reports(world: World) -> None:
    approved(world, amount="3000.00")
    consent(world, payout="quota")
    op = _client(world.operator_user)
    response = op.post(
        reverse("subsidies:batches"), {"policy": HAISHU, "period": "2026-Q9", "kind": "members"}
    )
    assert response.status_code == 400 and response.context["form"].errors
    response = op.post(
        reverse("subsidies:batches"), {"policy": HAISHU, "period": "2026-Q1", "kind": "members"}
    )
    batch = ClaimBatch.objects.get()
    assert response["Location"] == reverse("subsidies:batch_detail", args=[batch.pk])
    assert op.post(reverse("subsidies:batch_approve", args=[batch.pk]), {"amount": "1"}).status_code == 409
    assert op.post(reverse("subsidies:batch_submit", args=[batch.pk])).status_code == 302
    assert op.post(reverse("subsidies:batch_submit", args=[batch.pk])).status_code == 302  # no effect
    assert (
        op.post(reverse("subsidies:batch_review", args=[batch.pk]), {"reference": "受理1"}).status_code == 302
    )
    response = op.post(reverse("subsidies:batch_approve", args=[batch.pk]), {"amount": "1500.01"})
    assert response.status_code == 400 and "amount" in response.context["approve_form"].errors
    assert (
        op.post(reverse("subsidies:batch_approve", args=[batch.pk]), {"amount": "1400.00"}).status_code == 302
    )
    today = timezone.localdate().isoformat()
    response = op.post(
        reverse("subsidies:batch_funds", args=[batch.pk]), {"amount": "1400.00", "received_on": today}
    )
    assert response.status_code == 302, response.content
    assert op.post(reverse("subsidies:batch_distribute", args=[batch.pk])).status_code == 302
    batch.refresh_from_db()
    assert batch.status == BatchStatus.DISTRIBUTED
    assert account_for(owner=world.opc, purpose="quota").balance == Decimal("1400.00")

    pdf = op.get(reverse("subsidies:batch_package", args=[batch.pk, "pdf"]))
    assert pdf["Content-Type"] == "application/pdf"
    xlsx = op.get(reverse("subsidies:batch_package", args=[batch.pk, "xlsx"]))
    book = load_workbook(io.BytesIO(b"".join(xlsx.streaming_content)))  # type: ignore[attr-defined]
    assert book["申报明细"]["B7"].value == world.opc.name
    rows = list(
        csv.reader(
            io.StringIO(
                op.get(reverse("subsidies:batch_package", args=[batch.pk, "csv"])).content.decode("utf-8-sig")
            )
        )
    )
    assert rows[0][0] == "no" and len(rows) == 2
    assert op.get(reverse("subsidies:batch_package", args=[batch.pk, "zip"])).status_code == 404

    public = Client().get(reverse("subsidies:package_verify", args=[batch.code]))
    assert batch.pdf_sha256 in public.content.decode() and world.opc.name not in public.content.decode()
    assert Client().get(reverse("subsidies:package_verify", args=["NOPE"])).status_code == 404

    authority = _client(world.authority_user)
    report = authority.get(reverse("subsidies:batch_report", args=[batch.pk]))
    assert report.status_code == 200 and len(report.context["audit"]) >= 6
    oversight = authority.get(reverse("subsidies:oversight"))
    assert oversight.context["report"].distributed == Decimal("1400.00")
    assert oversight.context["report"].median_days == 0
    assert authority.get(reverse("subsidies:oversight_csv")).content.decode("utf-8-sig").count("\n") == 2

    member = _client(world.opc_user)
    line = batch.lines.get()
    share = member.get(reverse("subsidies:my_share", args=[line.pk]))
    body = share.content.decode()
    assert "¥1,400.00" in body and "¥1,500.00" in body
    assert gettext("credited as token quota") in body


def test_commute_trips(world: World) -> None:
    client = _client(world.opc_user)
    data = {
        "spent_on": "2026-04-04",  # a Saturday
        "trip_from": "宁波",
        "trip_to": "温州南",
        "train_number": "g7553",
        "amount": "186.50",
        "invoice_number": invoice_number(),
        "seller_name": "中国铁路上海局集团有限公司",
        "seller_uscc": SELLER,
        "evidence": pdf_file(),
    }
    assert client.post(reverse("subsidies:commute"), data).status_code == 302
    trip = Expense.objects.get()
    assert trip.category == "train_ticket" and trip.train_number == "G7553"
    data.update({"spent_on": "2026-04-08", "invoice_number": invoice_number(), "evidence": pdf_file()})
    response = client.post(reverse("subsidies:commute"), data, follow=True)
    assert any(m.level_tag == "warning" for m in response.context["messages"])  # a weekday
    assert _client(world.operator_user).get(reverse("subsidies:commute")).status_code == 403


def test_dashboard_panels_and_navigation(world: World) -> None:
    approved(world, amount="3000.00", day=timezone.localdate().replace(day=1))
    response = _client(world.opc_user).get(reverse("core:dashboard"))
    body = response.content.decode()
    assert 'data-testid="subsidy-panel"' in body and "¥1,500.00" in body
    assert 'data-testid="nav-subsidies"' in body
    expense(world.opc, world.opc_user)
    body = _client(world.operator_user).get(reverse("core:dashboard")).content.decode()
    assert 'data-testid="subsidy-panel"' in body
    assert reverse("subsidies:review") in body
    body = _client(world.authority_user).get(reverse("core:dashboard")).content.decode()
    assert reverse("subsidies:oversight") in body
    assert (
        'data-testid="nav-subsidies"'
        not in _client(world.client_user).get(reverse("core:dashboard")).content.decode()
    )


def test_public_policy_catalogue() -> None:
    client = Client()
    body = client.get(reverse("subsidies:policies")).content.decode()
    assert "杭州市算力券" in body and "深圳市模型券" in body
    detail = client.get(
        reverse("subsidies:policy_detail", args=["hangzhou-compute-voucher-2025"])
    ).content.decode()
    assert "szaicx.com" in detail and "50%" in detail and "¥8,000,000.00" in detail
    assert client.get(reverse("subsidies:policy_detail", args=["nope"])).status_code == 404


def test_documents_page(world: World) -> None:
    client = _client(world.opc_user)
    url = reverse("subsidies:documents")
    assert client.post(url, {"kind": "compute_contract", "title": "合同"}).status_code == 400
    assert (
        client.post(url, {"kind": "compute_contract", "title": "算力合同", "file": pdf_file()}).status_code
        == 302
    )
    document = world.opc.subsidy_documents.get()
    assert client.get(reverse("subsidies:document_file", args=[document.pk])).status_code == 200
    op = _client(world.operator_user)
    assert document in op.get(reverse("subsidies:review")).context["documents"]
    assert (
        op.post(reverse("subsidies:document_reject", args=[document.pk]), {"reason": ""}).status_code == 400
    )
    assert op.post(reverse("subsidies:document_approve", args=[document.pk])).status_code == 302
    document.refresh_from_db()
    assert document.status == "approved"
