"""Expenses and their review, consent, claim batches through to distribution — services called directly."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from audit.models import AuditRecord
from core.errors import Conflict, DomainError, InvalidTransition, NotPermitted
from core.testing import World, make_community, make_org, make_user
from ledger import selectors as ledger_selectors
from ledger.services import account_for
from organisations.capabilities import OrgKind
from subsidies import catalog, services
from subsidies.engine import Period
from subsidies.facts import build_facts
from subsidies.models import BatchStatus, ClaimLine, Consent, ExpenseStatus, Payout
from subsidies.tests.helpers import HAISHU, SELLER, approved, consent, expense, invoice_number, pdf_file

pytestmark = pytest.mark.django_db
D = Decimal
Q1 = Period.quarter(2026, 1)


def _member(world: World, name: str) -> object:
    user = make_user(name)
    return make_org(OrgKind.OPC, f"{name}工作室", user, community=world.community)


# -- expenses ----------------------------------------------------------------------------------------------------


def test_record_expense_validates_every_field(world: World) -> None:
    with pytest.raises(ValidationError) as caught:
        services.record_expense(
            organisation=world.opc,
            actor=world.opc_user,
            category="operation",  # operators' category
            amount="12.345",
            spent_on=dt.date(2099, 1, 1),
            seller_name="",
            seller_uscc="91330203MA2GXXXX08",  # wrong check character
            invoice_number="1234",
        )
    fields = caught.value.message_dict
    assert set(fields) == {"category", "amount", "spent_on", "seller_name", "seller_uscc", "invoice_number"}
    assert not world.opc.subsidy_expenses.exists()


@pytest.mark.parametrize(
    ("code", "number", "ok"),
    [
        ("", "25332000000012345678", True),  # 数电票
        ("3302231130", "01234567", True),  # 10-digit code + 8-digit number
        ("033022300111", "01234567", True),  # 12-digit code
        ("3302231130", "25332000000012345678", False),  # digital invoice with a code
        ("", "01234567", False),  # 8-digit number without its code
        ("33022311", "01234567", False),
        ("", "2533200000001234567X", False),
    ],
)
def test_invoice_code_and_number_rules(world: World, code: str, number: str, ok: bool) -> None:
    if ok:
        e = expense(world.opc, world.opc_user, code=code, number=number)
        assert e.invoice_key == f"{code}:{number}"
    else:
        with pytest.raises(ValidationError):
            expense(world.opc, world.opc_user, code=code, number=number)


def test_evidence_must_be_a_real_pdf_or_image(world: World) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    fake = SimpleUploadedFile("invoice.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")
    with pytest.raises(ValidationError) as caught:
        services.record_expense(
            organisation=world.opc,
            actor=world.opc_user,
            category="ai_service",
            amount="99.00",
            spent_on=dt.date(2026, 3, 1),
            seller_name="某 AI 工具",
            seller_uscc=SELLER,
            invoice_number=invoice_number(),
            evidence=fake,
        )
    assert "evidence" in caught.value.message_dict


def test_same_member_cannot_record_an_invoice_twice(world: World) -> None:
    number = invoice_number()
    expense(world.opc, world.opc_user, number=number)
    with pytest.raises(Conflict):
        expense(world.opc, world.opc_user, number=number)
    assert world.opc.subsidy_expenses.count() == 1


def test_another_members_duplicate_is_flagged_and_cannot_be_approved(world: World) -> None:
    other = _member(world, "dup")
    number = invoice_number()
    first = expense(world.opc, world.opc_user, number=number)
    second = expense(other, other.memberships.first().user, number=number)  # type: ignore[attr-defined]
    assert second.duplicate_of == first
    with pytest.raises(Conflict):
        services.approve_expense(expense=second, operator=world.operator, actor=world.operator_user)
    services.approve_expense(expense=first, operator=world.operator, actor=world.operator_user)
    with pytest.raises(Conflict):  # still: the invoice is approved for the first member
        services.approve_expense(expense=second, operator=world.operator, actor=world.operator_user)
    rejected = services.reject_expense(
        expense=second, operator=world.operator, actor=world.operator_user, reason="重复发票"
    )
    assert rejected.status == ExpenseStatus.REJECTED and rejected.review_note == "重复发票"
    with pytest.raises(InvalidTransition):
        services.approve_expense(expense=rejected, operator=world.operator, actor=world.operator_user)


def test_duplicate_may_be_approved_once_the_first_is_rejected(world: World) -> None:
    other = _member(world, "dup2")
    number = invoice_number()
    first = expense(world.opc, world.opc_user, number=number)
    second = expense(other, other.memberships.first().user, number=number)  # type: ignore[attr-defined]
    services.reject_expense(expense=first, operator=world.operator, actor=world.operator_user, reason="录错")
    services.approve_expense(expense=second, operator=world.operator, actor=world.operator_user)
    # and the member who lost it cannot record it again while the other holds it
    dup = expense(world.opc, world.opc_user, number=number)
    assert dup.duplicate_of == second


def test_review_rules(world: World) -> None:
    e = expense(world.opc, world.opc_user, evidence=False)
    with pytest.raises(DomainError):  # no file yet
        services.approve_expense(expense=e, operator=world.operator, actor=world.operator_user)
    with pytest.raises(NotPermitted):  # not its member
        services.approve_expense(expense=e, operator=world.other_operator, actor=world.other_operator_user)
    with pytest.raises(ValidationError):
        services.reject_expense(expense=e, operator=world.operator, actor=world.operator_user, reason=" ")
    services.attach_evidence(expense=e, evidence=pdf_file(), actor=world.opc_user)
    done = services.approve_expense(expense=e, operator=world.operator, actor=world.operator_user)
    assert done.status == ExpenseStatus.APPROVED and done.reviewed_by == world.operator_user
    assert AuditRecord.objects.filter(action="subsidies.expense_approved", object_id=str(e.pk)).count() == 1
    with pytest.raises(InvalidTransition):
        services.attach_evidence(expense=done, evidence=pdf_file(), actor=world.opc_user)


def test_operator_declares_its_own_costs(world: World) -> None:
    e = services.record_expense(
        organisation=world.operator,
        actor=world.operator_user,
        category="events",
        amount="5000.00",
        spent_on=dt.date(2026, 4, 24),
        seller_name="会务公司",
        seller_uscc=SELLER,
        invoice_number=invoice_number(),
    )
    assert e.status == ExpenseStatus.APPROVED
    with pytest.raises(NotPermitted):
        services.record_expense(
            organisation=world.client,
            actor=world.client_user,
            category="ai_service",
            amount="1.00",
            spent_on=dt.date(2026, 4, 24),
            seller_name="x",
            seller_uscc=SELLER,
            invoice_number=invoice_number(),
        )


# -- consent -----------------------------------------------------------------------------------------------------


def test_consent_give_change_revoke(world: World) -> None:
    policy = catalog.get_policy(HAISHU)
    first = services.give_consent(organisation=world.opc, policy=policy, payout="cash", actor=world.opc_user)
    assert (
        services.give_consent(organisation=world.opc, policy=policy, payout="cash", actor=world.opc_user)
        == first
    )
    second = services.give_consent(
        organisation=world.opc, policy=policy, payout="quota", actor=world.opc_user
    )
    first.refresh_from_db()
    assert first.revoked_at is not None and second.payout == Payout.QUOTA
    services.revoke_consent(organisation=world.opc, policy=policy, actor=world.opc_user)
    assert not Consent.objects.filter(organisation=world.opc, revoked_at__isnull=True).exists()
    with pytest.raises(ValidationError):  # the token-quota policy pays only quota
        services.give_consent(
            organisation=world.opc,
            policy=catalog.get_policy("yongjia-token-quota"),
            payout="cash",
            actor=world.opc_user,
        )
    with pytest.raises(DomainError):  # only the company itself applies for the Shenzhen model voucher
        services.give_consent(
            organisation=world.opc,
            policy=catalog.get_policy("shenzhen-model-voucher-2025"),
            payout="cash",
            actor=world.opc_user,
        )


# -- batches -----------------------------------------------------------------------------------------------------


def _batch_world(world: World) -> tuple[object, object]:
    second = _member(world, "second")
    approved(world, amount="3000.00")  # opc: 50% → 1500
    approved(world, second, amount="1000.00", category="ai_service")  # second: 500
    consent(world, payout="quota")
    consent(world, second)
    return world.opc, second


def test_batch_from_draft_to_distribution(world: World) -> None:
    opc, second = _batch_world(world)
    policy = catalog.get_policy(HAISHU)
    batch = services.open_batch(operator=world.operator, policy=policy, period=Q1, actor=world.operator_user)
    assert batch.status == BatchStatus.DRAFT
    assert batch.claimed_amount == D("2000.00")
    lines = {line.organisation_id: line for line in batch.lines.all()}
    assert lines[opc.pk].eligible_amount == D("1500.00") and lines[opc.pk].payout == Payout.QUOTA
    assert lines[second.pk].eligible_amount == D("500.00") and lines[second.pk].payout == Payout.CASH
    assert any("50%" in step["text"] for step in lines[opc.pk].trace)

    with pytest.raises(InvalidTransition):
        services.approve_batch(batch=batch, actor=world.operator_user, amount="100")

    batch = services.submit_batch(batch=batch, actor=world.operator_user)
    assert batch.status == BatchStatus.SUBMITTED and batch.submitted_at is not None
    assert batch.package_pdf.read(5) == b"%PDF-"
    book = load_workbook(io.BytesIO(batch.package_xlsx.read()))
    assert book.sheetnames == ["申报明细", "证据索引", "计算过程"]
    assert len(batch.evidence_index) == 2
    again = services.submit_batch(batch=batch, actor=world.operator_user)
    assert again.submitted_at == batch.submitted_at and again.pdf_sha256 == batch.pdf_sha256
    assert AuditRecord.objects.filter(action="subsidies.batch_submitted").count() == 1

    services.start_review(batch=batch, actor=world.operator_user, reference="海人社〔2026〕12号")
    with pytest.raises(ValidationError):
        services.approve_batch(batch=batch, actor=world.operator_user, amount="2000.01")
    services.approve_batch(batch=batch, actor=world.operator_user, amount="1000.01")  # approved for less
    with pytest.raises(ValidationError):
        services.record_funds(batch=batch, actor=world.operator_user, amount="1000.02")
    batch = services.record_funds(batch=batch, actor=world.operator_user, amount="1000.01")
    assert services.record_funds(batch=batch, actor=world.operator_user, amount="1000.01").pk == batch.pk
    with pytest.raises(InvalidTransition):
        services.record_funds(batch=batch, actor=world.operator_user, amount="999.00")
    assert services.subsidy_pool(world.operator).balance == D("1000.01")

    batch = services.distribute_batch(batch=batch, actor=world.operator_user)
    assert batch.status == BatchStatus.DISTRIBUTED
    shares = {line.organisation_id: line.share for line in batch.lines.all()}
    assert sum(shares.values()) == D("1000.01")
    assert shares == {opc.pk: D("750.01"), second.pk: D("250.00")}  # 3:1, the extra fen by largest remainder
    assert account_for(owner=opc, purpose="quota").balance == D("750.01")  # as token quota, as chosen
    assert account_for(owner=second, purpose="available").balance == D("250.00")
    assert services.subsidy_pool(world.operator).balance == 0
    assert services.distribute_batch(batch=batch, actor=world.operator_user).distributed_amount == D(
        "1000.01"
    )
    assert ledger_selectors.ledger_is_balanced()
    assert AuditRecord.objects.filter(action="subsidies.batch_distributed").count() == 1


def test_a_member_is_claimed_once_per_policy_and_period(world: World) -> None:
    _batch_world(world)
    policy = catalog.get_policy(HAISHU)
    first = services.open_batch(operator=world.operator, policy=policy, period=Q1, actor=world.operator_user)
    with pytest.raises(DomainError):  # everybody is in the first batch already (overlapping period)
        services.open_batch(
            operator=world.operator, policy=policy, period=Period.year(2026), actor=world.operator_user
        )
    services.submit_batch(batch=first, actor=world.operator_user)
    services.reject_batch(batch=first, actor=world.operator_user, reason="材料不全")
    assert not ClaimLine.objects.filter(batch=first, active=True).exists()
    second = services.open_batch(operator=world.operator, policy=policy, period=Q1, actor=world.operator_user)
    assert second.claimed_amount == first.claimed_amount
    with pytest.raises(InvalidTransition):
        services.submit_batch(batch=first, actor=world.operator_user)


def test_revoked_consent_leaves_the_member_out(world: World) -> None:
    opc, second = _batch_world(world)
    services.revoke_consent(organisation=second, policy=catalog.get_policy(HAISHU), actor=world.opc_user)
    batch = services.open_batch(
        operator=world.operator, policy=catalog.get_policy(HAISHU), period=Q1, actor=world.operator_user
    )
    assert list(batch.lines.values_list("organisation_id", flat=True)) == [opc.pk]


def test_batch_policy_rules(world: World) -> None:
    with pytest.raises(DomainError):  # the company applies itself
        services.open_batch(
            operator=world.operator,
            policy=catalog.get_policy("shenzhen-model-voucher-2025"),
            period=Q1,
            actor=world.operator_user,
        )
    with pytest.raises(DomainError):  # in kind: nothing to distribute
        services.open_batch(
            operator=world.operator,
            policy=catalog.get_policy("haishu-zero-rent-workstation"),
            period=Q1,
            actor=world.operator_user,
        )
    with pytest.raises(DomainError):  # nobody consented yet
        services.open_batch(
            operator=world.operator, policy=catalog.get_policy(HAISHU), period=Q1, actor=world.operator_user
        )
    with pytest.raises(DomainError):  # not in force then
        services.open_batch(
            operator=world.operator,
            policy=catalog.get_policy(HAISHU),
            period=Period.year(2024),
            actor=world.operator_user,
        )


def test_per_year_cap_counts_earlier_batches(world: World) -> None:
    approved(world, amount="30000.00", day=dt.date(2026, 2, 1))  # 50% = 15000
    approved(world, amount="30000.00", day=dt.date(2026, 5, 1))  # another 15000, cap 20000 a year
    consent(world)
    policy = catalog.get_policy(HAISHU)
    first = services.open_batch(operator=world.operator, policy=policy, period=Q1, actor=world.operator_user)
    assert first.claimed_amount == D("15000.00")
    second = services.open_batch(
        operator=world.operator, policy=policy, period=Period.quarter(2026, 2), actor=world.operator_user
    )
    assert second.claimed_amount == D("5000.00")


def test_operators_own_claim(world: World) -> None:
    pingyang_op = make_org(
        OrgKind.OPERATOR, "平阳OPC社区运营", make_user("pingyang"), verified=True, city="温州市"
    )
    make_community(pingyang_op, "平阳OPC社区", city="温州市", district="平阳县")
    pingyang_op.district = "平阳县"
    pingyang_op.save(update_fields=["district"])
    user = pingyang_op.memberships.first().user
    for category, amount in (("operation", "100000.00"), ("rent", "240000.00"), ("events", "20000.00")):
        services.record_expense(
            organisation=pingyang_op,
            actor=user,
            category=category,
            amount=amount,
            spent_on=dt.date(2026, 5, 1),
            seller_name="某供应商",
            seller_uscc=SELLER,
            invoice_number=invoice_number(),
        )
    policy = catalog.get_policy("pingyang-operator-subsidy")
    with pytest.raises(DomainError):
        services.open_batch(operator=pingyang_op, policy=policy, period=Period.year(2026), actor=user)
    batch = services.open_batch(
        operator=pingyang_op, policy=policy, period=Period.year(2026), actor=user, kind="own"
    )
    assert batch.claimed_amount == D("160000.00")
    batch = services.submit_batch(batch=batch, actor=user)
    services.start_review(batch=batch, actor=user)
    services.approve_batch(batch=batch, actor=user, amount="150000.00")
    services.record_funds(batch=batch, actor=user, amount="150000.00")
    services.distribute_batch(batch=batch, actor=user)
    assert account_for(owner=pingyang_op, purpose="available").balance == D("150000.00")


# -- facts -------------------------------------------------------------------------------------------------------


def test_facts_take_a_constant_number_of_queries(world: World) -> None:
    few = [world.opc]
    many = [world.opc] + [_member(world, f"m{i}") for i in range(8)]
    for org in many:
        approved(world, org, amount="100.00")
    with CaptureQueriesContext(connection) as small:
        build_facts(few, period=Q1)
    with CaptureQueriesContext(connection) as large:
        bundle = build_facts(many, period=Q1)
    assert len(large) == len(small)
    facts = bundle.facts[world.opc.pk]
    assert facts.city == "宁波市" and facts.district == "海曙区" and facts.community == world.community.name
    assert facts.kind == "opc" and facts.verified is None  # pending verification: not known yet
    assert len(facts.expenses) == 1


def test_gateway_usage_counts_live_and_is_imported_per_closed_month(world: World) -> None:
    from gateway.models import UsageRecord, UsageStatus
    from gateway.services import issue_virtual_key, set_model_price

    price = set_model_price(model="m", input_per_million=D("1"), output_per_million=D("1"))
    key, _secret = issue_virtual_key(organisation=world.opc, name="k")
    for i, (day, charged) in enumerate(((dt.date(2026, 3, 5), "300.10"), (dt.date(2026, 3, 20), "100.00"))):
        UsageRecord.objects.create(
            request_id=f"r{i}",
            organisation=world.opc,
            virtual_key=key,
            endpoint="chat",
            model="m",
            price=price,
            status=UsageStatus.SETTLED,
            reserved=D("1000"),
            charged=D(charged),
            started_at=dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC),
        )
    facts = build_facts([world.opc], period=Q1).facts[world.opc.pk]
    assert [(e.category, e.amount, e.metered) for e in facts.expenses] == [("token_api", D("400.10"), True)]
    created = services.import_gateway_usage(organisations=[world.opc], start=Q1.start, end=Q1.end)
    assert [(e.month, e.amount, e.status) for e in created] == [
        (dt.date(2026, 3, 1), D("400.10"), "approved")
    ]
    assert services.import_gateway_usage(organisations=[world.opc], start=Q1.start, end=Q1.end) == []
    from django.core.management import call_command

    out = io.StringIO()
    call_command("import_gateway_usage", "--year", "2026", stdout=out)  # everything imported already
    assert "0 monthly statement" in out.getvalue()
    facts = build_facts([world.opc], period=Q1).facts[world.opc.pk]
    assert [(e.amount, e.metered) for e in facts.expenses] == [(D("400.10"), True)]  # counted once


# -- documents ---------------------------------------------------------------------------------------------------


def test_approved_documents_are_evidence_on_the_platform(world: World) -> None:
    commute = catalog.get_policy("yongjia-commute-voucher")
    expense(
        world.opc,
        world.opc_user,
        category="train_ticket",
        amount="200.00",
        day=dt.date(2026, 4, 4),
        trip_from="宁波",
        trip_to="温州南",
    )
    services.approve_expense(
        expense=world.opc.subsidy_expenses.get(), operator=world.operator, actor=world.operator_user
    )
    april = Period.month(2026, 4)
    from subsidies.selectors import eligibility_one

    row = eligibility_one(world.opc, commute, april)
    assert row.result.mode.value == "快申快享" and row.result.missing_evidence == ["项目参与证明"]
    with pytest.raises(ValidationError):
        services.upload_document(
            organisation=world.opc, actor=world.opc_user, kind="operation_report", title="x", file=pdf_file()
        )
    proof = services.upload_document(
        organisation=world.opc,
        actor=world.opc_user,
        kind="project_participation",
        title="永嘉项目",
        file=pdf_file(),
    )
    contract = services.upload_document(
        organisation=world.opc,
        actor=world.opc_user,
        kind="compute_contract",
        title="算力合同",
        file=pdf_file(),
    )
    assert eligibility_one(world.opc, commute, april).result.missing_evidence == [
        "项目参与证明"
    ]  # not reviewed
    with pytest.raises(NotPermitted):
        services.approve_document(
            document=proof, operator=world.other_operator, actor=world.other_operator_user
        )
    services.approve_document(document=proof, operator=world.operator, actor=world.operator_user)
    services.reject_document(
        document=contract, operator=world.operator, actor=world.operator_user, reason="缺页"
    )
    row = eligibility_one(world.opc, commute, april)
    assert row.result.mode.value == "免申即享" and row.result.amount == D("200.00")
    facts = build_facts([world.opc], period=april).facts[world.opc.pk]
    assert facts.extra["yongjia_project"] is True and facts.evidence == frozenset()
    with pytest.raises(InvalidTransition):
        services.approve_document(document=contract, operator=world.operator, actor=world.operator_user)
