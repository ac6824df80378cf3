"""Builders shared by the subsidy tests: valid sellers' codes, invoice files, approved expenses, consent."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from core.demo import demo_uscc
from core.testing import World
from organisations.models import Organisation
from subsidies import catalog, services
from subsidies.models import Expense

HAISHU = "haishu-compute-subsidy"
SELLER = demo_uscc(901, "330203")  # a valid 统一社会信用代码 (check character computed)
OTHER_SELLER = demo_uscc(902, "330100")
_numbers = itertools.count(1)


def pdf_file(name: str = "invoice.pdf", body: bytes = b"") -> SimpleUploadedFile:
    return SimpleUploadedFile(
        name, b"%PDF-1.4\n" + (body or str(next(_numbers)).encode()) + b"\n%%EOF\n", "application/pdf"
    )


def invoice_number() -> str:
    """A fresh 20-digit 数电票 number."""
    return f"2533200000{next(_numbers):010d}"


def expense(
    org: Organisation,
    user: Any,
    *,
    amount: str = "1000.00",
    category: str = "compute.inference",
    day: dt.date = dt.date(2026, 3, 10),
    number: str | None = None,
    code: str = "",
    seller: str = SELLER,
    evidence: bool = True,
    **extra: Any,
) -> Expense:
    return services.record_expense(
        organisation=org,
        actor=user,
        category=category,
        amount=Decimal(amount),
        spent_on=day,
        seller_name="宁波算力服务有限公司",
        seller_uscc=seller,
        invoice_code=code,
        invoice_number=number or invoice_number(),
        evidence=pdf_file() if evidence else None,
        **extra,
    )


def approved(world: World, org: Organisation | None = None, **kwargs: Any) -> Expense:
    org = org or world.opc
    user = world.opc_user if org == world.opc else org.memberships.first().user  # type: ignore[union-attr]
    e = expense(org, user, **kwargs)
    operator = org.home_community.operator  # type: ignore[union-attr]
    reviewer = operator.memberships.first().user  # type: ignore[union-attr]
    return services.approve_expense(expense=e, operator=operator, actor=reviewer)


def consent(
    world: World, org: Organisation | None = None, *, payout: str = "cash", policy: str = HAISHU
) -> None:
    org = org or world.opc
    user = org.memberships.first().user  # type: ignore[union-attr]
    services.give_consent(organisation=org, policy=catalog.get_policy(policy), payout=payout, actor=user)


def matrix_setup(o: Any) -> Any:
    """Objects for the permission-matrix rows: the world's OPC with a pending expense (with its file) and
    an approved one, consent for the Haishu policy, and a submitted batch of its operator with a package."""
    from types import SimpleNamespace

    from django.core.files.base import ContentFile
    from django.utils import timezone

    from subsidies.engine import Period
    from subsidies.models import BatchStatus, ClaimBatch

    w = o.world
    pending = expense(w.opc, w.opc_user, amount="120.00", category="ai_service")
    approved(w, amount="3000.00")
    consent(w)
    batch = services.open_batch(
        operator=w.operator,
        policy=catalog.get_policy(HAISHU),
        period=Period.quarter(2026, 1),
        actor=w.operator_user,
    )
    # Submitted without rendering the real package (fast): the matrix checks who may reach it.
    batch.package_pdf.save("claim-matrix.pdf", ContentFile(b"%PDF-1.4\n%%EOF\n"), save=False)
    batch.package_xlsx.save("claim-matrix.xlsx", ContentFile(b"PK\x03\x04"), save=False)
    batch.status = BatchStatus.SUBMITTED
    batch.submitted_at = timezone.now()
    batch.save()
    batch = ClaimBatch.objects.get(pk=batch.pk)
    document = services.upload_document(
        organisation=w.opc, actor=w.opc_user, kind="compute_contract", title="算力服务合同", file=pdf_file()
    )
    return SimpleNamespace(expense=pending, batch=batch, line=batch.lines.get(), document=document)
