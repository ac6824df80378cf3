"""Infringement cases: who opens and moves them, and compensation split through the ledger to the fen."""

from __future__ import annotations

from decimal import Decimal

import pytest

from audit.models import AuditRecord
from core.errors import Conflict, DomainError, InvalidTransition, NotFound, NotPermitted
from core.testing import World, make_org, make_user
from ledger import selectors as ledger_selectors
from ledger.models import Account, Purpose
from organisations.capabilities import OrgKind, OrgSubkind
from rights import services
from rights.models import Case, CaseStatus, Compensation, Match
from rights.tests.helpers import image, register, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def agency(world: World):  # type: ignore[no-untyped-def]
    user = make_user("copyright-agent")
    return make_org(OrgKind.PROVIDER, "浙东版权代理中心", user, subkind=OrgSubkind.COPYRIGHT_AGENCY), user


@pytest.fixture
def match(world: World) -> Match:
    register(world.opc, world.opc_user, image(), name="poster.png", title="海报")
    scan = services.submit_scan(
        organisation=world.opc, actor=world.opc_user, uploads=[upload(image(), "copy.png")]
    )
    suspect = services.check_suspect(suspect_id=scan.suspects.get().pk)
    return suspect.matches.get()


def _open(world: World, match: Match, agency_org, share: str = "30") -> Case:  # type: ignore[no-untyped-def]
    return services.open_case(
        match=match, organisation=world.opc, actor=world.opc_user, agency=agency_org, agency_share=share
    )


def test_holder_opens_a_case_with_an_agency(world: World, match: Match, agency) -> None:  # type: ignore[no-untyped-def]
    agency_org, _user = agency
    case = services.open_case(
        match=match,
        organisation=world.opc,
        actor=world.opc_user,
        agency=agency_org,
        agency_share="33.33",
        infringer="抖音 @搬运号",
        infringing_url="https://www.douyin.com/x",
        note="请代为维权",
    )
    assert (case.status, case.agency_share, case.holder, case.work) == (
        CaseStatus.OPEN,
        Decimal("33.33"),
        world.opc,
        match.work,
    )
    assert case.notes.get().text == "请代为维权"
    assert AuditRecord.objects.filter(action="rights.case_opened", organisation=agency_org).exists()
    with pytest.raises(Conflict):
        _open(world, match, agency_org)


def test_who_may_open_and_with_whom(world: World, match: Match, agency) -> None:  # type: ignore[no-untyped-def]
    agency_org, _user = agency
    with pytest.raises(NotPermitted):  # not the holder of the work
        services.open_case(
            match=match,
            organisation=world.other_opc,
            actor=world.other_opc_user,
            agency=agency_org,
            agency_share="30",
        )
    with pytest.raises(DomainError):  # a law firm is not a copyright agency
        _open(world, match, world.provider)
    for share in ("-1", "100.01", "abc"):
        with pytest.raises(DomainError):
            _open(world, match, agency_org, share)
    with pytest.raises(DomainError):
        services.open_case(
            match=match,
            organisation=world.opc,
            actor=world.opc_user,
            agency=agency_org,
            agency_share="30",
            infringing_url="javascript:alert(1)",
        )
    assert not Case.objects.exists()


def test_status_transitions_by_the_right_party(world: World, match: Match, agency) -> None:  # type: ignore[no-untyped-def]
    agency_org, agency_user = agency
    case = _open(world, match, agency_org)
    with pytest.raises(NotPermitted):  # only the agency accepts
        services.change_case_status(
            case=case, organisation=world.opc, actor=world.opc_user, status="accepted"
        )
    with pytest.raises(NotFound):  # a stranger does not see the case
        services.change_case_status(
            case=case, organisation=world.client, actor=world.client_user, status="accepted"
        )
    with pytest.raises(InvalidTransition):
        services.change_case_status(case=case, organisation=agency_org, actor=agency_user, status="enforcing")
    case = services.change_case_status(
        case=case, organisation=agency_org, actor=agency_user, status="accepted"
    )
    case = services.change_case_status(
        case=case, organisation=agency_org, actor=agency_user, status="enforcing"
    )
    with pytest.raises(InvalidTransition):  # settled only by recording compensation
        services.change_case_status(case=case, organisation=agency_org, actor=agency_user, status="settled")
    with pytest.raises(DomainError):  # closing needs an outcome
        services.change_case_status(case=case, organisation=agency_org, actor=agency_user, status="closed")
    case = services.change_case_status(
        case=case, organisation=agency_org, actor=agency_user, status="closed", outcome="对方已下架"
    )
    assert case.status == CaseStatus.CLOSED and case.closed_at is not None and case.outcome == "对方已下架"
    with pytest.raises(InvalidTransition):
        services.change_case_status(
            case=case, organisation=world.opc, actor=world.opc_user, status="withdrawn"
        )


def test_holder_withdraws_and_agency_declines(world: World, match: Match, agency) -> None:  # type: ignore[no-untyped-def]
    agency_org, agency_user = agency
    case = _open(world, match, agency_org)
    with pytest.raises(NotPermitted):
        services.change_case_status(case=case, organisation=agency_org, actor=agency_user, status="withdrawn")
    case = services.change_case_status(
        case=case, organisation=world.opc, actor=world.opc_user, status="withdrawn"
    )
    assert case.status == CaseStatus.WITHDRAWN
    assert services.allowed_moves(case, agency_org) == [] and services.allowed_moves(case, world.opc) == []


def test_notes_by_both_parties_only(world: World, match: Match, agency) -> None:  # type: ignore[no-untyped-def]
    agency_org, agency_user = agency
    case = _open(world, match, agency_org)
    services.add_case_note(case=case, organisation=agency_org, actor=agency_user, text="已发函")
    services.add_case_note(case=case, organisation=world.opc, actor=world.opc_user, text="收到")
    with pytest.raises(NotFound):
        services.add_case_note(case=case, organisation=world.other_opc, actor=world.other_opc_user, text="x")
    with pytest.raises(DomainError):
        services.add_case_note(case=case, organisation=world.opc, actor=world.opc_user, text="  ")
    assert list(case.notes.values_list("text", flat=True)) == ["已发函", "收到"]


def _balance(owner, purpose: str) -> Decimal:  # type: ignore[no-untyped-def]
    account = Account.objects.filter(owner=owner, purpose=purpose).first()
    return account.balance if account else Decimal("0.00")


@pytest.mark.parametrize(
    ("amount", "share", "agency_part", "creator_part"),
    [
        ("1000.00", "30", "300.00", "700.00"),
        ("1000.01", "33.33", "333.30", "666.71"),  # 333.303333 → 333.30
        ("0.05", "50", "0.03", "0.02"),  # half a fen rounds up for the agency; the rest is the creator's
        ("88.88", "0", "0.00", "88.88"),
        ("88.88", "100", "88.88", "0.00"),
    ],
)
def test_compensation_is_split_through_the_ledger_to_the_fen(  # type: ignore[no-untyped-def]
    world: World, match: Match, agency, amount: str, share: str, agency_part: str, creator_part: str
) -> None:
    agency_org, agency_user = agency
    case = _open(world, match, agency_org, share)
    case = services.change_case_status(
        case=case, organisation=agency_org, actor=agency_user, status="accepted"
    )
    comp = services.record_compensation(
        case=case,
        organisation=agency_org,
        actor=agency_user,
        amount=amount,
        payer="侵权方某公司",
        idempotency_key="k1",
    )
    assert (comp.agency_amount, comp.creator_amount) == (Decimal(agency_part), Decimal(creator_part))
    assert comp.agency_amount + comp.creator_amount == Decimal(amount)
    assert _balance(agency_org, Purpose.AVAILABLE) == Decimal(agency_part)
    assert _balance(world.opc, Purpose.AVAILABLE) == Decimal(creator_part)
    case.refresh_from_db()
    assert case.status == CaseStatus.SETTLED and case.compensation_total == Decimal(amount)
    assert case.escrow_account is not None and case.escrow_account.owner == agency_org
    case.escrow_account.refresh_from_db()
    assert case.escrow_account.balance == 0  # passed straight through
    assert (
        ledger_selectors.ledger_is_balanced() and ledger_selectors.accounts_with_inconsistent_balance() == []
    )


def test_compensation_is_idempotent_and_only_for_the_agency(world: World, match: Match, agency) -> None:  # type: ignore[no-untyped-def]
    agency_org, agency_user = agency
    case = _open(world, match, agency_org)
    record = {"organisation": agency_org, "actor": agency_user, "payer": "某公司", "idempotency_key": "pay-1"}
    with pytest.raises(InvalidTransition):  # not accepted yet
        services.record_compensation(case=case, amount="100", **record)
    case = services.change_case_status(
        case=case, organisation=agency_org, actor=agency_user, status="accepted"
    )
    with pytest.raises(NotPermitted):
        services.record_compensation(
            case=case,
            organisation=world.opc,
            actor=world.opc_user,
            amount="100",
            payer="x",
            idempotency_key="h",
        )
    for bad in ("0", "-5", "1.001", "abc"):
        with pytest.raises(DomainError):
            services.record_compensation(case=case, amount=bad, **{**record, "idempotency_key": f"bad-{bad}"})
    first = services.record_compensation(case=case, amount="100", **record)
    again = services.record_compensation(case=case, amount="100.00", **record)
    assert again.pk == first.pk
    with pytest.raises(Conflict):
        services.record_compensation(case=case, amount="200", **record)
    second = services.record_compensation(case=case, amount="50", **{**record, "idempotency_key": "pay-2"})
    assert second.pk != first.pk
    assert _balance(world.opc, Purpose.AVAILABLE) == Decimal("105.00")
    assert _balance(agency_org, Purpose.AVAILABLE) == Decimal("45.00")
    case.refresh_from_db()
    assert case.compensation_total == Decimal("150.00") and Compensation.objects.count() == 2
    case = services.change_case_status(
        case=case, organisation=agency_org, actor=agency_user, status="closed", outcome="和解"
    )
    with pytest.raises(InvalidTransition):
        services.record_compensation(case=case, amount="1", **{**record, "idempotency_key": "late"})
