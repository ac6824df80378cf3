"""Demo data for the subsidy layer (run by ``load_demo`` after the base demo): expenses with invoices for the
Baiyun community's OPCs (opc@demo.cn among them) — most approved, some awaiting review, one duplicate invoice
rejected —, weekend trips, consents, and the Haishu operator's claim batches: 2026-Q1 through to
distribution (opc@demo.cn takes its share as token quota), 2026-Q2 under review. Every write goes through
``subsidies.services``; only the batches' dates are moved back afterwards so the payout cycle reads as a
real one (the demo is seeded in one go)."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from core.demo import MARKER, demo_uscc
from organisations.models import Organisation, VerificationStatus
from subsidies import catalog, services
from subsidies.engine import Period
from subsidies.models import ClaimBatch

POLICY = "haishu-compute-subsidy"
SELLERS = [
    ("合规算力服务（宁波）有限公司", demo_uscc(801, "330203"), "compute.inference"),
    ("杭州某智算中心有限公司", demo_uscc(802, "330106"), "compute.training"),
    ("北京某大模型科技有限公司", demo_uscc(803, "110108"), "model_api"),
    ("上海某 AI 工具订阅服务有限公司", demo_uscc(804, "310104"), "ai_service"),
    ("宁波语料数据有限公司", demo_uscc(805, "330203"), "corpus"),
]
RAILWAY = ("中国铁路上海局集团有限公司", demo_uscc(806, "310000"))


def _file(n: int) -> SimpleUploadedFile:
    body = f"%PDF-1.4\n% OPC Hub demo invoice {n}\n%%EOF\n".encode()
    return SimpleUploadedFile(f"invoice-{n}.pdf", body, "application/pdf")


def load(rng: random.Random) -> None:
    if ClaimBatch.objects.exists():
        return
    operator = Organisation.objects.filter(name=MARKER).first()
    if operator is None:
        return
    reviewer = operator.memberships.select_related("user").first().user  # type: ignore[union-attr]
    members = list(
        Organisation.objects.filter(
            home_community__name="海曙OPC云创Labo",
            home_community__operator=operator,
            verification_status=VerificationStatus.VERIFIED,
        ).order_by("pk")[:8]
    )
    if not members:
        return
    counter = iter(range(1, 100_000))
    numbers: dict[int, list[str]] = {}
    for index, org in enumerate(members):
        user = org.memberships.select_related("user").first().user  # type: ignore[union-attr]
        numbers[org.pk] = []
        for month in (1, 2, 3, 4, 5, 6):
            for seller, uscc, category in rng.sample(SELLERS, 2):
                n = next(counter)
                number = f"2633200000{n:010d}"
                amount = Decimal(rng.randrange(30_000, 600_000)) / 100
                expense = services.record_expense(
                    organisation=org,
                    actor=user,
                    category=category,
                    amount=amount,
                    spent_on=dt.date(2026, month, rng.randint(1, 27)),
                    seller_name=seller,
                    seller_uscc=uscc,
                    invoice_number=number,
                    description="演示发票",
                    evidence=_file(n),
                )
                numbers[org.pk].append(number)
                if month <= 5 or index % 3:
                    services.approve_expense(expense=expense, operator=operator, actor=reviewer)
        services.give_consent(
            organisation=org,
            policy=catalog.get_policy(POLICY),
            payout="quota" if index == 0 else "cash",
            actor=user,
        )

    # One member records an invoice the first member already holds: flagged, then rejected by the operator.
    cheat = members[-1]
    cheat_user = cheat.memberships.select_related("user").first().user  # type: ignore[union-attr]
    seller, uscc, category = SELLERS[0]
    duplicate = services.record_expense(
        organisation=cheat,
        actor=cheat_user,
        category=category,
        amount=Decimal("1880.00"),
        spent_on=dt.date(2026, 3, 12),
        seller_name=seller,
        seller_uscc=uscc,
        invoice_number=numbers[members[0].pk][0],
        description="演示：重复报销的发票",
        evidence=_file(next(counter)),
    )
    services.reject_expense(
        expense=duplicate,
        operator=operator,
        actor=reviewer,
        reason="重复发票：该发票已由其他企业在平台登记，同一发票只补贴一次。",
    )

    # Weekend trips of opc@demo.cn (commute voucher).
    first = members[0]
    first_user = first.memberships.select_related("user").first().user  # type: ignore[union-attr]
    for day in (dt.date(2026, 10, 10), dt.date(2026, 10, 11), dt.date(2026, 10, 24)):
        services.record_expense(
            organisation=first,
            actor=first_user,
            category="train_ticket",
            amount=Decimal("186.50"),
            spent_on=day,
            seller_name=RAILWAY[0],
            seller_uscc=RAILWAY[1],
            invoice_number=f"2633100000{next(counter):010d}",
            trip_from="宁波" if day.day != 11 else "温州南",
            trip_to="温州南" if day.day != 11 else "宁波",
            train_number="G7553",
            evidence=_file(next(counter)),
        )

    proof = services.upload_document(
        organisation=first,
        actor=first_user,
        kind="project_participation",
        title="永嘉县“周末工程师”项目参与证明（演示）",
        file=_file(next(counter)),
    )
    services.approve_document(document=proof, operator=operator, actor=reviewer)

    # The operator's own costs (operating-organisation subsidies).
    for category, cost in (("operation", "36000.00"), ("events", "8600.00")):
        services.record_expense(
            organisation=operator,
            actor=reviewer,
            category=category,
            amount=Decimal(cost),
            spent_on=dt.date(2026, 4, 18),
            seller_name="宁波会务服务有限公司",
            seller_uscc=demo_uscc(807, "330203"),
            invoice_number=f"2633300000{next(counter):010d}",
            description="OPC 资源对接会" if category == "events" else "社区运营服务",
        )

    policy = catalog.get_policy(POLICY)
    q1 = services.open_batch(operator=operator, policy=policy, period=Period.quarter(2026, 1), actor=reviewer)
    q1 = services.submit_batch(batch=q1, actor=reviewer)
    q1 = services.start_review(batch=q1, actor=reviewer, reference="海人社补〔2026〕7号")
    approved = (q1.claimed_amount * Decimal("0.9")).quantize(Decimal("0.01"))
    q1 = services.approve_batch(batch=q1, actor=reviewer, amount=approved, reference="海人社补〔2026〕7号")
    q1 = services.record_funds(batch=q1, actor=reviewer, amount=approved)
    q1 = services.distribute_batch(batch=q1, actor=reviewer)
    _backdate(
        q1,
        submitted=dt.date(2026, 4, 8),
        review=dt.date(2026, 4, 15),
        approved=dt.date(2026, 5, 26),
        funds=dt.date(2026, 6, 19),
        distributed=dt.date(2026, 6, 20),
    )

    q2 = services.open_batch(operator=operator, policy=policy, period=Period.quarter(2026, 2), actor=reviewer)
    q2 = services.submit_batch(batch=q2, actor=reviewer)
    q2 = services.start_review(batch=q2, actor=reviewer, reference="海人社补〔2026〕15号")
    _backdate(q2, submitted=dt.date(2026, 7, 9), review=dt.date(2026, 7, 20))


def _at(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(10, 0)))


def _backdate(batch: ClaimBatch, **days: dt.date) -> None:
    """Demo history: the batches were run over months, not in one second."""
    fields = {
        "submitted": "submitted_at",
        "review": "review_started_at",
        "approved": "approved_at",
        "distributed": "distributed_at",
    }
    values: dict[str, object] = {fields[k]: _at(v) for k, v in days.items() if k in fields}
    if "funds" in days:
        values["funds_received_on"] = days["funds"]
        values["funds_received_at"] = _at(days["funds"])
    values["created_at"] = _at(days["submitted"] - dt.timedelta(days=2))
    ClaimBatch.objects.filter(pk=batch.pk).update(**values)
