"""Licence assistance: the catalogue, a case with its checklist copied in, documents, the operator's site
statement completing the premises item, submission only when complete, the operator recording the decision."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from communities.services import assign_workstation, issue_site_statement, revoke_site_statement
from core.errors import Conflict, DomainError, InvalidTransition, NotFound, NotPermitted
from core.testing import World
from organisations.services import verify_organisation
from servicedesk import services
from servicedesk.licences import catalogue, parse_catalogue
from servicedesk.models import CaseStatus, LicenceCase

pytestmark = pytest.mark.django_db


def test_catalogue_has_the_issues_licences_with_checklists() -> None:
    entries = catalogue()
    assert {"radio_tv_production", "icp_filing", "network_culture"} <= set(entries)
    assert entries["radio_tv_production"].name["zh"] == "广播电视节目制作经营许可证"
    assert entries["radio_tv_production"].needs_site_statement
    assert all(len(e.items) >= 4 for e in entries.values())
    with pytest.raises(ValueError, match="twice"):
        parse_catalogue(
            {
                "licences": [
                    {
                        "code": "x",
                        "name": {"zh": "甲", "en": "A"},
                        "authority": {"zh": "甲", "en": "A"},
                        "summary": {"zh": "甲", "en": "A"},
                        "items": [
                            {"code": "a", "title": {"zh": "甲", "en": "A"}, "note": {"zh": "甲", "en": "A"}}
                        ]
                        * 2,
                    }
                ]
            }
        )


def _statement(world: World) -> object:
    verify_organisation(organisation=world.opc, actor=world.operator_user, operator=world.operator)
    residency = assign_workstation(
        workstation=world.workstations[0],
        organisation=world.opc,
        start_date=dt.date(2026, 1, 5),
        actor=world.operator_user,
    )
    return issue_site_statement(
        residency=residency, purpose="广播电视节目制作经营许可证", actor=world.operator_user
    )


def test_a_case_goes_from_checklist_to_approval(world: World) -> None:
    case = services.open_case(
        organisation=world.opc, actor=world.opc_user, licence_code="radio_tv_production"
    )
    assert case.operator == world.operator and case.status == CaseStatus.PREPARING
    items = {i.code: i for i in case.items.all()}
    assert list(items) == [i.code for i in catalogue()["radio_tv_production"].items]
    with pytest.raises(Conflict):
        services.open_case(organisation=world.opc, actor=world.opc_user, licence_code="radio_tv_production")

    with pytest.raises(InvalidTransition, match="办公场所证明"):
        services.transition_case(case=case, organisation=world.opc, actor=world.opc_user, target="submitted")

    for code, item in items.items():
        if code == "premises" or not item.required:
            continue
        if code == "business_licence":
            services.update_case_item(
                item=item,
                organisation=world.opc,
                actor=world.opc_user,
                upload=SimpleUploadedFile("执照.pdf", b"%PDF-1.4"),
            )
        else:
            services.update_case_item(
                item=item, organisation=world.operator, actor=world.operator_user, done=True
            )
    assert [i.code for i in services.missing_items(case)] == ["premises"]

    statement = _statement(world)
    services.link_site_statement(
        case=case, organisation=world.operator, actor=world.operator_user, statement=statement
    )  # type: ignore[arg-type]
    case.refresh_from_db()
    assert services.missing_items(case) == []
    services.transition_case(
        case=case,
        organisation=world.opc,
        actor=world.opc_user,
        target="submitted",
        reference="浙广审2026-001",
    )
    with pytest.raises(NotPermitted):
        services.transition_case(case=case, organisation=world.opc, actor=world.opc_user, target="approved")
    with pytest.raises(InvalidTransition):
        services.update_case_item(item=items["equipment"], organisation=world.opc, actor=None, done=True)
    services.transition_case(
        case=case, organisation=world.operator, actor=world.operator_user, target="approved", note="已发证"
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.APPROVED and case.decided_at and case.reference == "浙广审2026-001"
    with pytest.raises(InvalidTransition):
        services.transition_case(case=case, organisation=world.operator, actor=None, target="withdrawn")


def test_rejection_needs_a_note_and_leads_back_to_preparing(world: World) -> None:
    case = services.open_case(organisation=world.opc, actor=None, licence_code="icp_filing")
    for item in case.items.filter(required=True):
        services.update_case_item(item=item, organisation=world.opc, actor=None, done=True)
    services.transition_case(case=case, organisation=world.operator, actor=None, target="submitted")
    with pytest.raises(DomainError):
        services.transition_case(case=case, organisation=world.operator, actor=None, target="rejected")
    services.transition_case(
        case=case, organisation=world.operator, actor=None, target="rejected", note="域名未实名"
    )
    services.transition_case(case=case, organisation=world.opc, actor=None, target="preparing")
    case.refresh_from_db()
    assert case.status == CaseStatus.PREPARING


def test_statements_of_others_or_revoked_ones_cannot_be_linked(world: World) -> None:
    statement = _statement(world)
    case = services.open_case(organisation=world.opc, actor=None, licence_code="network_culture")
    revoke_site_statement(statement=statement, reason="信息有误", actor=world.operator_user)  # type: ignore[arg-type]
    statement.refresh_from_db()  # type: ignore[attr-defined]
    with pytest.raises(DomainError):
        services.link_site_statement(case=case, organisation=world.opc, actor=None, statement=statement)  # type: ignore[arg-type]
    other = services.open_case(organisation=world.opc, actor=None, licence_code="icp_filing")
    with pytest.raises(NotPermitted):
        services.link_site_statement(
            case=other, organisation=world.other_operator, actor=None, statement=None
        )
    with pytest.raises(NotFound):
        services.open_case(organisation=world.opc, actor=None, licence_code="casino")
    with pytest.raises(DomainError):
        services.open_case(organisation=world.client, actor=None, licence_code="icp_filing")
    assert LicenceCase.objects.count() == 2
