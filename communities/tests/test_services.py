from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pytest
from django.utils import translation

from audit.models import AuditRecord
from communities.models import Community, LandUse, Residency, SiteStatement, Workstation, WorkstationStatus
from communities.pdf import verification_url
from communities.selectors import (
    communities_with_occupancy,
    district_aggregates,
    occupancy_totals,
    public_communities,
    statement_by_code,
)
from communities.services import (
    add_workstations,
    assign_workstation,
    create_community,
    create_network,
    end_residency,
    issue_site_statement,
    revoke_site_statement,
    set_workstation_status,
    update_community,
)
from communities.tests.helpers import START, assigned, issued, pdf_text, verify
from core.errors import Conflict, DomainError, InvalidTransition, NotPermitted
from core.testing import World
from organisations.models import Skill


def audit_actions() -> list[str]:
    return list(AuditRecord.objects.order_by("pk").values_list("action", flat=True))


# -- communities ---------------------------------------------------------------------------------------------------
def test_create_community_with_sectors_and_network(world: World) -> None:
    network = create_network(
        operator=world.operator,
        actor=world.operator_user,
        name="海曙AiOPC社区",
        city="宁波市",
        planned_communities=14,
    )
    sectors = list(Skill.objects.filter(code__in=["ai-short-drama", "cross-border-ecommerce"]))
    community = create_community(
        operator=world.operator,
        actor=world.operator_user,
        name="江夏必择社区",
        city="宁波市",
        district="海曙区",
        address="江夏街1号",
        land_use=LandUse.WAREHOUSE,
        network=network,
        sectors=sectors,
    )
    assert community.operator == world.operator
    assert community.network == network
    assert sorted(community.sectors.values_list("code", flat=True)) == [
        "ai-short-drama",
        "cross-border-ecommerce",
    ]
    assert audit_actions()[-2:] == ["community_network.created", "community.created"]


def test_create_community_refuses_bad_values_and_changes_nothing(world: World) -> None:
    before = Community.objects.count()
    with pytest.raises(DomainError):
        create_community(
            operator=world.operator, actor=world.operator_user, name=" ", city="宁波市", address="x"
        )
    with pytest.raises(DomainError):
        create_community(
            operator=world.operator,
            actor=world.operator_user,
            name="A",
            city="宁波市",
            address="x",
            land_use="castle",
        )
    with pytest.raises(Conflict):
        create_community(
            operator=world.operator,
            actor=world.operator_user,
            name=world.community.name,
            city="宁波市",
            address="x",
        )
    with pytest.raises(NotPermitted):
        create_community(operator=world.opc, actor=world.opc_user, name="B", city="宁波市", address="x")
    other_network = create_network(
        operator=world.other_operator, actor=world.other_operator_user, name="永嘉"
    )
    with pytest.raises(NotPermitted):
        create_community(
            operator=world.operator,
            actor=world.operator_user,
            name="C",
            city="宁波市",
            address="x",
            network=other_network,
        )
    assert Community.objects.count() == before


def test_update_community_records_the_diff(world: World) -> None:
    update_community(
        community=world.community,
        actor=world.operator_user,
        values={"positioning": "AI短剧影视", "is_public": False, "unknown": "ignored"},
    )
    world.community.refresh_from_db()
    assert world.community.positioning == "AI短剧影视"
    assert not world.community.is_public
    record = AuditRecord.objects.get(action="community.updated")
    assert record.changes["positioning"] == ["", "AI短剧影视"]
    assert record.organisation == world.operator


# -- workstations --------------------------------------------------------------------------------------------------
def test_add_workstations_batch(world: World) -> None:
    created = add_workstations(
        community=world.community, actor=world.operator_user, zone="B", prefix="B-", first=1, last=20
    )
    assert [w.code for w in created][:2] == ["B-01", "B-02"]
    assert created[-1].code == "B-20"
    assert Workstation.objects.filter(community=world.community, zone="B").count() == 20
    record = AuditRecord.objects.get(action="workstations.added")
    assert record.changes == {"zone": "B", "codes": ["B-01", "B-20"], "count": 20}


def test_add_workstations_refuses_duplicates_whole_batch(world: World) -> None:
    # The world already has A-01..A-03; A-03..A-05 overlaps in one code.
    before = Workstation.objects.count()
    with pytest.raises(Conflict) as exc:
        add_workstations(
            community=world.community, actor=world.operator_user, zone="A", prefix="A-", first=3, last=5
        )
    assert "A-03" in exc.value.message
    assert Workstation.objects.count() == before
    # The same codes in another community are fine.
    add_workstations(
        community=world.other_community,
        actor=world.other_operator_user,
        zone="A",
        prefix="A-",
        first=4,
        last=5,
    )


@pytest.mark.parametrize(
    ("first", "last", "width", "prefix"),
    [
        (5, 1, 2, "A-"),
        (1, 501, 3, "A-"),
        (1, 2, 0, "A-"),
        (-1, 2, 2, "A-"),
        (1, 2, 2, "A 1"),
        (1, 2, 2, "X" * 13),
    ],
)
def test_add_workstations_bad_input(world: World, first: int, last: int, width: int, prefix: str) -> None:
    before = Workstation.objects.count()
    with pytest.raises(DomainError):
        add_workstations(
            community=world.community,
            actor=world.operator_user,
            zone="Z",
            prefix=prefix,
            first=first,
            last=last,
            width=width,
        )
    assert Workstation.objects.count() == before


def test_set_workstation_status(world: World) -> None:
    ws = set_workstation_status(
        workstation=world.workstations[1], status=WorkstationStatus.OUT_OF_SERVICE, actor=world.operator_user
    )
    assert ws.status == WorkstationStatus.OUT_OF_SERVICE
    with pytest.raises(InvalidTransition):
        set_workstation_status(workstation=ws, status=WorkstationStatus.OCCUPIED, actor=world.operator_user)
    residency = assigned(world, index=0)
    with pytest.raises(InvalidTransition):
        set_workstation_status(
            workstation=residency.workstation, status=WorkstationStatus.AVAILABLE, actor=world.operator_user
        )


# -- residencies ---------------------------------------------------------------------------------------------------
def test_assign_workstation(world: World) -> None:
    residency = assigned(world)
    assert residency.organisation == world.opc
    assert residency.monthly_rent == Decimal("0.00")
    assert residency.end_date is None
    residency.workstation.refresh_from_db()
    assert residency.workstation.status == WorkstationStatus.OCCUPIED
    record = AuditRecord.objects.get(action="residency.started")
    assert record.organisation == world.operator
    assert record.actor == world.operator_user


def test_assign_with_rent_in_fen(world: World) -> None:
    verify(world.opc)
    with pytest.raises(DomainError):
        assign_workstation(
            workstation=world.workstations[1],
            organisation=world.opc,
            start_date=START,
            monthly_rent="300.005",
            actor=world.operator_user,
        )
    residency = assign_workstation(
        workstation=world.workstations[1],
        organisation=world.opc,
        start_date=START,
        monthly_rent="300.5",
        actor=world.operator_user,
    )
    residency.refresh_from_db()
    assert residency.monthly_rent == Decimal("300.50")


def test_double_assignment_is_refused(world: World) -> None:
    assigned(world)
    verify(world.other_opc)
    # Another member of the same community:
    from core.testing import make_org, make_user
    from organisations.capabilities import OrgKind

    second = verify(make_org(OrgKind.OPC, "数字人助农直播", make_user("second"), community=world.community))
    with pytest.raises(Conflict):
        assign_workstation(
            workstation=world.workstations[0],
            organisation=second,
            start_date=START,
            actor=world.operator_user,
        )
    assert Residency.objects.filter(workstation=world.workstations[0]).count() == 1


def test_unverified_member_is_refused(world: World) -> None:
    with translation.override("en"), pytest.raises(DomainError) as exc:
        assign_workstation(
            workstation=world.workstations[0],
            organisation=world.opc,
            start_date=START,
            actor=world.operator_user,
        )
    assert "verif" in exc.value.message.lower()
    assert not Residency.objects.exists()
    world.workstations[0].refresh_from_db()
    assert world.workstations[0].status == WorkstationStatus.AVAILABLE


def test_other_operators_member_is_refused(world: World) -> None:
    verify(world.other_opc)
    with pytest.raises(NotPermitted):
        assign_workstation(
            workstation=world.workstations[0],
            organisation=world.other_opc,
            start_date=START,
            actor=world.operator_user,
        )
    assert not Residency.objects.exists()


def test_non_opc_and_bad_values_are_refused(world: World) -> None:
    with pytest.raises(DomainError):
        assign_workstation(
            workstation=world.workstations[0],
            organisation=world.client,
            start_date=START,
            actor=world.operator_user,
        )
    verify(world.opc)
    for rent in ("-1", "abc", "NaN", "1e12"):
        with pytest.raises(DomainError):
            assign_workstation(
                workstation=world.workstations[0],
                organisation=world.opc,
                start_date=START,
                monthly_rent=rent,
                actor=world.operator_user,
            )
    with pytest.raises(DomainError):
        assign_workstation(
            workstation=world.workstations[0],
            organisation=world.opc,
            start_date="2026-01-01",  # type: ignore[arg-type]
            actor=world.operator_user,
        )
    set_workstation_status(
        workstation=world.workstations[1], status=WorkstationStatus.RESERVED, actor=world.operator_user
    )
    with pytest.raises(Conflict):
        assign_workstation(
            workstation=world.workstations[1],
            organisation=world.opc,
            start_date=START,
            actor=world.operator_user,
        )
    assert not Residency.objects.exists()


def test_end_residency_frees_the_workstation(world: World) -> None:
    residency = assigned(world)
    end_residency(residency=residency, end_date=dt.date(2026, 3, 31), actor=world.operator_user)
    residency.refresh_from_db()
    assert residency.end_date == dt.date(2026, 3, 31)
    ws = Workstation.objects.get(pk=residency.workstation_id)
    assert ws.status == WorkstationStatus.AVAILABLE
    assert "residency.ended" in audit_actions()
    with pytest.raises(InvalidTransition):
        end_residency(residency=residency, end_date=dt.date(2026, 4, 1), actor=world.operator_user)
    # A new residency must start after the last one ended.
    with pytest.raises(Conflict):
        assign_workstation(
            workstation=ws, organisation=world.opc, start_date=dt.date(2026, 3, 31), actor=world.operator_user
        )
    again = assign_workstation(
        workstation=ws, organisation=world.opc, start_date=dt.date(2026, 4, 1), actor=world.operator_user
    )
    assert again.end_date is None


def test_end_before_start_is_refused(world: World) -> None:
    residency = assigned(world)
    with pytest.raises(DomainError):
        end_residency(residency=residency, end_date=START - dt.timedelta(days=1), actor=world.operator_user)
    residency.refresh_from_db()
    assert residency.end_date is None


# -- occupancy -----------------------------------------------------------------------------------------------------
def test_occupancy_figures(world: World) -> None:
    assigned(world)
    totals = occupancy_totals(Community.objects.filter(pk=world.community.pk))
    assert totals == {
        "communities": 1,
        "workstations": 3,
        "occupied": 1,
        "residents": 1,
        "occupancy_rate": 33.3,
    }
    row = communities_with_occupancy().get(pk=world.community.pk)
    assert (row.workstation_count, row.occupied_count, row.resident_count) == (3, 1, 1)
    districts = {(d["city"], d["district"]): d for d in district_aggregates(Community.objects.all())}
    assert districts[("宁波市", "海曙区")]["occupied"] == 1
    assert districts[("温州市", "永嘉县")]["occupied"] == 0
    assert {c.pk for c in public_communities(city="温州市")} == {world.other_community.pk}


# -- site statements -------------------------------------------------------------------------------------------------
def test_issue_site_statement_freezes_facts_and_renders_cjk_pdf(world: World) -> None:
    world.operator.uscc = "91330203MA2GXXXX07"
    world.operator.save()
    statement = issued(world)
    facts = statement.facts
    assert facts["community"] == "OPC云创Labo"
    assert facts["land_use"] == LandUse.EDUCATION
    assert facts["workstation_code"] == "A-01"
    assert facts["residency_start"] == "2026-01-05"
    assert facts["residency_end"] is None
    assert facts["operator_name"] == "海曙OPC社区运营中心"
    assert facts["operator_uscc"] == "91330203MA2GXXXX07"
    assert facts["organisation_name"] == "十万光年科幻工作室"
    assert facts["district"] == "海曙区"
    assert statement.pdf.name.endswith(".pdf")
    data = statement.pdf.open("rb").read()
    assert data.startswith(b"%PDF")
    assert hashlib.sha256(data).hexdigest() == statement.pdf_sha256
    text = pdf_text(data)
    # The Chinese names come out of the PDF as text: the CJK font is embedded and mapped.
    assert "OPC云创Labo" in text
    assert "十万光年科幻工作室" in text
    assert statement.code in text
    assert verification_url(statement.code) in text.replace("\n", "")
    assert AuditRecord.objects.filter(action="site_statement.issued", object_id=str(statement.pk)).exists()
    # Later changes do not touch the frozen facts.
    update_community(community=world.community, actor=world.operator_user, values={"name": "新名字"})
    statement.refresh_from_db()
    assert statement.facts["community"] == "OPC云创Labo"


def test_statement_only_for_current_residency(world: World) -> None:
    residency = assigned(world)
    end_residency(residency=residency, end_date=dt.date(2026, 1, 31), actor=world.operator_user)
    with pytest.raises(InvalidTransition):
        issue_site_statement(residency=residency, purpose="许可证", actor=world.operator_user)
    with pytest.raises(DomainError):
        issue_site_statement(residency=assigned(world, index=1), purpose="  ", actor=world.operator_user)
    assert not SiteStatement.objects.exists()


def test_revoke_site_statement(world: World) -> None:
    statement = issued(world)
    with pytest.raises(DomainError):
        revoke_site_statement(statement=statement, reason=" ", actor=world.operator_user)
    revoke_site_statement(statement=statement, reason="企业已迁出", actor=world.operator_user)
    statement.refresh_from_db()
    assert statement.revoked_at is not None
    assert statement.revoked_reason == "企业已迁出"
    with pytest.raises(InvalidTransition):
        revoke_site_statement(statement=statement, reason="again", actor=world.operator_user)
    assert audit_actions().count("site_statement.revoked") == 1


def test_statement_lookup_normalises_codes(world: World) -> None:
    statement = issued(world)
    messy = " " + statement.code[:4].lower() + "-" + statement.code[4:] + " "
    assert statement_by_code(messy) == statement
    assert statement_by_code("nonsense!") is None
    assert statement_by_code(None) is None
