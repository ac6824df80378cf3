"""The application package of a claim batch: a PDF summary (WeasyPrint, Noto Sans CJK SC, always in Chinese —
it goes to a Chinese authority), an XLSX detail (openpyxl: members, evidence index, calculation traces) and the
evidence index itself (every expense a member's amount counts, with its invoice and file hash).

The PDF carries the batch's reference code and a QR code of its public verification page, like a site
statement (``communities.pdf``)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from communities.pdf import qr_data_uri
from subsidies import catalog
from subsidies.engine.schema import Policy
from subsidies.models import ClaimBatch, EvidenceDocument, Expense, ExpenseStatus

PDF_LANGUAGE = "zh-hans"


@dataclass
class Package:
    pdf: bytes
    xlsx: bytes
    evidence_index: list[dict[str, Any]]


def verification_url(code: str) -> str:
    return settings.OPCHUB_PUBLIC_URL + reverse("subsidies:package_verify", args=[code])


def evidence_index(batch: ClaimBatch, policy: Policy) -> list[dict[str, Any]]:
    """Every invoice a member's amount counts, then the approved documents the policy asks for."""
    lines = list(batch.lines.select_related("organisation").order_by("organisation__name", "pk"))
    ids = [pk for line in lines for pk in line.expense_ids]
    expenses = {e.pk: e for e in Expense.objects.filter(pk__in=ids)}
    wanted = {e.key for e in policy.application.evidence}
    documents: dict[int, list[EvidenceDocument]] = {}
    for doc in EvidenceDocument.objects.filter(
        organisation_id__in=[line.organisation_id for line in lines],
        kind__in=wanted,
        status=ExpenseStatus.APPROVED,
    ).order_by("pk"):
        documents.setdefault(doc.organisation_id, []).append(doc)
    rows: list[dict[str, Any]] = []
    number = 0
    for line in lines:
        for pk in line.expense_ids:
            e = expenses.get(pk)
            if e is None:
                continue
            number += 1
            rows.append(
                {
                    "no": number,
                    "member": line.organisation.name,
                    "member_uscc": line.organisation.uscc or "",
                    "expense_id": e.pk,
                    "category": e.category,
                    "category_label": _zh(e.get_category_display),
                    "date": e.spent_on.isoformat(),
                    "amount": str(e.amount),
                    "invoice_code": e.invoice_code,
                    "invoice_number": e.invoice_number,
                    "seller": e.seller_name,
                    "seller_uscc": e.seller_uscc,
                    "source": e.source,
                    "file": e.evidence_name,
                    "sha256": e.evidence_sha256,
                    "reviewed_at": e.reviewed_at.isoformat() if e.reviewed_at else "",
                }
            )
        for doc in documents.get(line.organisation_id, []):
            number += 1
            rows.append(
                {
                    "no": number,
                    "member": line.organisation.name,
                    "member_uscc": line.organisation.uscc or "",
                    "expense_id": None,
                    "document_id": doc.pk,
                    "category": doc.kind,
                    "category_label": _zh(doc.get_kind_display),
                    "date": timezone.localdate(doc.created_at).isoformat(),
                    "amount": "",
                    "invoice_code": "",
                    "invoice_number": "",
                    "seller": doc.title,
                    "seller_uscc": "",
                    "source": "document",
                    "file": doc.file_name,
                    "sha256": doc.sha256,
                    "reviewed_at": doc.reviewed_at.isoformat() if doc.reviewed_at else "",
                }
            )
    return rows


def _zh(getter: Any) -> str:
    with translation.override(PDF_LANGUAGE):
        return str(getter())


def render_pdf_html(batch: ClaimBatch, policy: Policy, index: list[dict[str, Any]]) -> str:
    url = verification_url(batch.code)
    lines = list(batch.lines.select_related("organisation").order_by("organisation__name", "pk"))
    with translation.override(PDF_LANGUAGE):
        return render_to_string(
            "subsidies/package_pdf.html",
            {
                "batch": batch,
                "policy": policy,
                "instrument": catalog.instrument_label(policy),
                "lines": lines,
                "index": index,
                "evidence_total": sum((Decimal(r["amount"]) for r in index if r["amount"]), Decimal("0.00")),
                "verify_url": url,
                "qr": qr_data_uri(url),
                "generated": timezone.localtime(batch.submitted_at or timezone.now()),
            },
        )


def render_pdf(batch: ClaimBatch, policy: Policy, index: list[dict[str, Any]]) -> bytes:
    import weasyprint

    html = render_pdf_html(batch, policy, index)
    return weasyprint.HTML(string=html, base_url=settings.OPCHUB_PUBLIC_URL + "/").write_pdf()


def render_xlsx(batch: ClaimBatch, policy: Policy, index: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    bold = Font(bold=True)
    sheet = book.active
    assert sheet is not None
    sheet.title = "申报明细"
    sheet.append(["政策", policy.title, "版本", policy.version])
    sheet.append(["发文单位", policy.issuer, "文件", policy.document_title])
    sheet.append(["申报单位", batch.operator.name, "统一社会信用代码", batch.operator.uscc or ""])
    sheet.append(["申报期间", batch.period_label, "申报编号", batch.code])
    sheet.append([])
    header = [
        "序号",
        "企业名称",
        "统一社会信用代码",
        "所在社区",
        "可补贴金额（元）",
        "申请方式",
        "需补充材料",
        "领取方式",
    ]
    sheet.append(header)
    for cell in sheet[sheet.max_row]:
        cell.font = bold
    lines = list(
        batch.lines.select_related("organisation__home_community").order_by("organisation__name", "pk")
    )
    for i, line in enumerate(lines, start=1):
        org = line.organisation
        sheet.append(
            [
                i,
                org.name,
                org.uscc or "",
                org.home_community.name if org.home_community else "",
                Decimal(line.eligible_amount),
                line.mode,
                "、".join(line.missing_evidence),
                "词元额度" if line.payout == "quota" else "现金",
            ]
        )
        sheet.cell(row=sheet.max_row, column=5).number_format = "#,##0.00"
    sheet.append(["", "合计", "", "", Decimal(batch.claimed_amount), "", "", ""])
    sheet.cell(row=sheet.max_row, column=5).number_format = "#,##0.00"
    for column, width in zip("ABCDEFGH", (6, 28, 22, 20, 16, 12, 28, 10), strict=True):
        sheet.column_dimensions[column].width = width

    evidence = book.create_sheet("证据索引")
    columns = [
        ("no", "序号"),
        ("member", "企业名称"),
        ("member_uscc", "企业信用代码"),
        ("category_label", "费用类别"),
        ("date", "日期"),
        ("amount", "金额（元）"),
        ("invoice_code", "发票代码"),
        ("invoice_number", "发票号码"),
        ("seller", "销售方"),
        ("seller_uscc", "销售方信用代码"),
        ("source", "来源"),
        ("file", "文件"),
        ("sha256", "SHA-256"),
        ("reviewed_at", "审核时间"),
    ]
    evidence.append([label for _key, label in columns])
    for cell in evidence[1]:
        cell.font = bold
    for row in index:
        evidence.append([Decimal(row[key]) if key == "amount" else row[key] for key, _label in columns])
        evidence.cell(row=evidence.max_row, column=6).number_format = "#,##0.00"

    traces = book.create_sheet("计算过程")
    traces.append(["企业名称", "步骤", "结果", "说明", "依据", "来源", "生效日期"])
    for cell in traces[1]:
        cell.font = bold
    marks = {True: "✓", False: "✗", None: "?"}
    for line in lines:
        for step in line.trace:
            traces.append(
                [
                    line.organisation.name,
                    step.get("kind"),
                    marks.get(step.get("ok"), "?"),
                    step.get("text"),
                    step.get("value") or "",
                    step.get("source") or "",
                    step.get("effective_from") or "",
                ]
            )
    traces.column_dimensions["D"].width = 80
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def build_package(batch: ClaimBatch, policy: Policy) -> Package:
    index = evidence_index(batch, policy)
    return Package(render_pdf(batch, policy, index), render_xlsx(batch, policy, index), index)
