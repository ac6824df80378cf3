from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditRecord
from communities.models import Community, Residency, SiteStatement, Workstation, WorkstationStatus
from communities.services import create_community, end_residency, revoke_site_statement
from communities.tests.helpers import START, assigned, issued, verify
from core.testing import World
from organisations.models import Skill


def login(client: Client, user) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(user)
    return client


def counts() -> tuple[int, int, int, int, int]:
    return (
        Community.objects.count(),
        Workstation.objects.count(),
        Residency.objects.count(),
        SiteStatement.objects.count(),
        AuditRecord.objects.count(),
    )


# -- public pages ----------------------------------------------------------------------------------------------------
def test_directory_lists_public_communities_with_filters(client: Client, world: World) -> None:
    hidden = create_community(
        operator=world.operator,
        actor=world.operator_user,
        name="内部试点",
        city="宁波市",
        address="某路1号",
        is_public=False,
    )
    response = client.get(reverse("communities:directory"))
    assert response.status_code == 200
    html = response.content.decode()
    assert world.community.name in html
    assert world.other_community.name in html
    assert hidden.name not in html
    response = client.get(reverse("communities:directory"), {"city": "温州市"})
    html = response.content.decode()
    assert world.other_community.name in html and world.community.name not in html
    world.community.sectors.add(*Skill.objects.filter(code="ai-short-drama"))
    html = client.get(reverse("communities:directory"), {"sector": "ai-short-drama"}).content.decode()
    assert world.community.name in html and world.other_community.name not in html
    # Junk filters are harmless.
    assert client.get(reverse("communities:directory"), {"city": "x" * 500, "page": "abc"}).status_code == 200


def test_public_detail_shows_occupancy_without_personal_data(client: Client, world: World) -> None:
    assigned(world)
    response = client.get(reverse("communities:public_detail", args=[world.community.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert world.community.name in html
    assert world.opc.name not in html
    assert 'data-testid="occupied">1<' in html


def test_public_detail_of_hidden_or_unknown_community_is_404(client: Client, world: World) -> None:
    world.community.is_public = False
    world.community.save()
    assert client.get(reverse("communities:public_detail", args=[world.community.pk])).status_code == 404
    assert client.get(reverse("communities:public_detail", args=[999999])).status_code == 404
    assert client.get("/communities/abc/").status_code == 404


# -- access matrix for operator pages ----------------------------------------------------------------------------------
def operator_urls(world: World) -> list[str]:
    return [
        reverse("communities:manage_list"),
        reverse("communities:manage_detail", args=[world.community.pk]),
        reverse("communities:manage_edit", args=[world.community.pk]),
        reverse("communities:assign_for", args=[world.opc.pk]),
    ]


def test_operator_pages_render_for_the_operator(client: Client, world: World) -> None:
    login(client, world.operator_user)
    assigned(world)
    issued(world, Residency.objects.get())
    for url in operator_urls(world):
        response = client.get(url)
        assert response.status_code == 200, url
    html = client.get(reverse("communities:manage_detail", args=[world.community.pk])).content.decode()
    assert world.opc.name in html
    assert 'data-testid="statements-table"' in html


def test_other_operator_gets_404(client: Client, world: World) -> None:
    login(client, world.other_operator_user)
    for url in operator_urls(world)[1:]:
        assert client.get(url).status_code == 404, url
    # Its own list does not show the other operator's community.
    html = client.get(reverse("communities:manage_list")).content.decode()
    assert world.community.name not in html and world.other_community.name in html


def test_opc_gets_403_on_operator_pages(client: Client, world: World) -> None:
    login(client, world.opc_user)
    for url in [*operator_urls(world), reverse("communities:oversight")]:
        assert client.get(url).status_code == 403, url


def test_anonymous_is_sent_to_login(client: Client, world: World) -> None:
    for url in [
        *operator_urls(world),
        reverse("communities:oversight"),
        reverse("communities:my_workstation"),
    ]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("accounts:login"))


def test_posts_need_csrf(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.operator_user)
    before = counts()
    response = client.post(
        reverse("communities:workstations_add", args=[world.community.pk]),
        {"zone": "B", "prefix": "B-", "first": 1, "last": 2, "width": 2},
    )
    assert response.status_code == 403
    assert counts() == before


# -- operator: communities -----------------------------------------------------------------------------------------------
def test_create_community_via_form(client: Client, world: World) -> None:
    login(client, world.operator_user)
    response = client.post(
        reverse("communities:manage_list"),
        {
            "name": "江夏必择社区",
            "city": "宁波市",
            "district": "海曙区",
            "address": "江夏街8号",
            "land_use": "warehouse",
            "is_public": "on",
            "sectors": ["cross-border-ecommerce"],
        },
    )
    community = Community.objects.get(name="江夏必择社区")
    assert response.status_code == 302
    assert response["Location"] == reverse("communities:manage_detail", args=[community.pk])
    assert community.operator == world.operator
    assert list(community.sectors.values_list("code", flat=True)) == ["cross-border-ecommerce"]


def test_create_community_bad_input_is_400_and_changes_nothing(client: Client, world: World) -> None:
    login(client, world.operator_user)
    before = counts()
    for data in (
        {"name": "", "city": "宁波市", "address": "x", "land_use": "office"},
        {"name": "A", "city": "宁波市", "address": "x", "land_use": "castle"},
        {"name": "A", "city": "宁波市", "address": "x", "land_use": "office", "opened_on": "2026-13-45"},
        {"name": "A", "city": "宁波市", "address": "x", "land_use": "office", "sectors": ["999999"]},
        {"name": world.community.name, "city": "宁波市", "address": "x", "land_use": "office"},
    ):
        response = client.post(reverse("communities:manage_list"), data)
        assert response.status_code == 400, data
    assert counts() == before


def test_edit_community(client: Client, world: World) -> None:
    login(client, world.operator_user)
    url = reverse("communities:manage_edit", args=[world.community.pk])
    response = client.post(
        url,
        {
            "name": "OPC云创Labo",
            "city": "宁波市",
            "district": "海曙区",
            "address": "白云街道1号",
            "land_use": "education",
            "positioning": "AI短剧",
        },
    )
    assert response.status_code == 302
    world.community.refresh_from_db()
    assert world.community.address == "白云街道1号"
    assert not world.community.is_public  # unchecked box
    assert AuditRecord.objects.filter(action="community.updated").exists()


# -- operator: workstations --------------------------------------------------------------------------------------------
def test_add_workstations_form_and_htmx(client: Client, world: World) -> None:
    login(client, world.operator_user)
    url = reverse("communities:workstations_add", args=[world.community.pk])
    response = client.post(url, {"zone": "B", "prefix": "B-", "first": 1, "last": 20, "width": 2})
    assert response.status_code == 302
    assert Workstation.objects.filter(community=world.community, zone="B").count() == 20
    response = client.post(
        url, {"zone": "C", "prefix": "C-", "first": 1, "last": 5, "width": 3}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="workstations"')
    assert 'data-code="C-005"' in html


@pytest.mark.parametrize(
    "data",
    [
        {"zone": "A", "prefix": "A-", "first": 2, "last": 4, "width": 2},  # exist
        {"zone": "B", "prefix": "B-", "first": 9, "last": 1, "width": 2},
        {"zone": "B", "prefix": "B-", "first": 1, "last": 900, "width": 3},
        {"zone": "B", "prefix": "B-", "first": "x", "last": 2, "width": 2},
        {"zone": "B", "prefix": "B 1", "first": 1, "last": 2, "width": 2},
        {"zone": "B", "prefix": "B-", "first": 1, "last": 2, "width": 0},
    ],
)
def test_add_workstations_bad_input(client: Client, world: World, data: dict) -> None:
    login(client, world.operator_user)
    before = counts()
    url = reverse("communities:workstations_add", args=[world.community.pk])
    assert client.post(url, data).status_code == 400
    assert client.post(url, data, HTTP_HX_REQUEST="true").status_code == 400
    assert counts() == before


def test_duplicate_codes_message_names_them(client: Client, world: World) -> None:
    login(client, world.operator_user)
    url = reverse("communities:workstations_add", args=[world.community.pk])
    response = client.post(
        url, {"zone": "A", "prefix": "A-", "first": 3, "last": 4, "width": 2}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    assert "A-03" in response.content.decode()


def test_workstation_status(client: Client, world: World) -> None:
    login(client, world.operator_user)
    ws = world.workstations[2]
    url = reverse("communities:workstation_status", args=[ws.pk])
    assert client.post(url, {"status": "out_of_service"}).status_code == 302
    ws.refresh_from_db()
    assert ws.status == WorkstationStatus.OUT_OF_SERVICE
    assert client.post(url, {"status": "occupied"}).status_code == 400
    assert client.post(url, {"status": "bogus"}).status_code == 400
    ws.refresh_from_db()
    assert ws.status == WorkstationStatus.OUT_OF_SERVICE
    other_ws = world.other_community.workstations.first()
    assert other_ws is not None
    assert (
        client.post(
            reverse("communities:workstation_status", args=[other_ws.pk]), {"status": "reserved"}
        ).status_code
        == 404
    )


# -- operator: residencies --------------------------------------------------------------------------------------------
def test_assign_via_form(client: Client, world: World) -> None:
    verify(world.opc)
    login(client, world.operator_user)
    url = reverse("communities:assign_for", args=[world.opc.pk])
    response = client.post(
        url, {"workstation": world.workstations[1].pk, "start_date": "2026-02-01", "monthly_rent": "0"}
    )
    assert response.status_code == 302
    residency = Residency.objects.get()
    assert residency.workstation == world.workstations[1]
    assert residency.start_date == dt.date(2026, 2, 1)


@pytest.mark.parametrize(
    "change",
    [
        {"start_date": "2026-02-30"},
        {"start_date": "yesterday"},
        {"start_date": "1850-01-01"},
        {"monthly_rent": "-5"},
        {"monthly_rent": "12.345"},
        {"monthly_rent": "lots"},
        {"workstation": "999999"},
        {"workstation": "abc"},
    ],
)
def test_assign_bad_input_is_400(client: Client, world: World, change: dict) -> None:
    verify(world.opc)
    login(client, world.operator_user)
    before = counts()
    data = {
        "workstation": world.workstations[1].pk,
        "start_date": "2026-02-01",
        "monthly_rent": "0",
        **change,
    }
    response = client.post(reverse("communities:assign_for", args=[world.opc.pk]), data)
    assert response.status_code == 400
    assert counts() == before


def test_assign_refuses_unverified_other_communities_and_taken_workstations(
    client: Client, world: World
) -> None:
    login(client, world.operator_user)
    url = reverse("communities:assign_for", args=[world.opc.pk])
    before = counts()
    response = client.post(
        url, {"workstation": world.workstations[1].pk, "start_date": "2026-02-01", "monthly_rent": "0"}
    )
    assert response.status_code == 400  # not verified yet
    assert 'data-testid="verify-first"' in response.content.decode()
    verify(world.opc)
    other_ws = world.other_community.workstations.first()
    assert other_ws is not None
    response = client.post(url, {"workstation": other_ws.pk, "start_date": "2026-02-01", "monthly_rent": "0"})
    assert response.status_code == 400
    assert counts() == before
    # The other operator's member is not reachable at all.
    other_url = reverse("communities:assign_for", args=[world.other_opc.pk])
    assert (
        client.post(
            other_url,
            {"workstation": world.workstations[1].pk, "start_date": "2026-02-01", "monthly_rent": "0"},
        ).status_code
        == 404
    )
    assert counts() == before


def test_assign_page_for_a_non_opc_member(client: Client, world: World) -> None:
    from core.testing import make_org, make_user
    from organisations.capabilities import OrgKind, OrgSubkind

    provider = make_org(
        OrgKind.PROVIDER,
        "社区法律顾问",
        make_user("lawyer"),
        subkind=OrgSubkind.LAW_FIRM,
        community=world.community,
    )
    login(client, world.operator_user)
    url = reverse("communities:assign_for", args=[provider.pk])
    assert 'data-testid="not-opc"' in client.get(url).content.decode()
    verify(provider)
    response = client.post(
        url, {"workstation": world.workstations[1].pk, "start_date": "2026-02-01", "monthly_rent": "0"}
    )
    assert response.status_code == 400
    assert not Residency.objects.exists()


def test_end_residency_via_form(client: Client, world: World) -> None:
    residency = assigned(world)
    login(client, world.operator_user)
    url = reverse("communities:residency_end", args=[residency.pk])
    before = counts()
    assert client.post(url, {"end_date": "2025-12-31"}).status_code == 400  # before start
    assert client.post(url, {"end_date": "not a date"}).status_code == 400
    assert client.post(url, {}).status_code == 400
    assert counts() == before
    assert client.post(url, {"end_date": "2026-06-30"}).status_code == 302
    residency.refresh_from_db()
    assert residency.end_date == dt.date(2026, 6, 30)
    assert client.post(url, {"end_date": "2026-07-30"}).status_code == 409  # already ended
    login(client, world.other_operator_user)
    assert client.post(url, {"end_date": "2026-06-30"}).status_code == 404
    assert (
        client.post(
            reverse("communities:residency_end", args=[999999]), {"end_date": "2026-06-30"}
        ).status_code
        == 404
    )


# -- operator: statements ----------------------------------------------------------------------------------------------
def test_issue_download_and_revoke_statement(client: Client, world: World) -> None:
    residency = assigned(world)
    login(client, world.operator_user)
    response = client.post(
        reverse("communities:statement_issue", args=[residency.pk]),
        {"purpose": "办理《广播电视节目制作经营许可证》"},
    )
    assert response.status_code == 302
    statement = SiteStatement.objects.get()
    pdf_url = reverse("communities:statement_pdf", args=[statement.pk])
    response = client.get(pdf_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    # The resident company may download it too; others may not.
    login(client, world.opc_user)
    assert client.get(pdf_url).status_code == 200
    login(client, world.other_opc_user)
    assert client.get(pdf_url).status_code == 404
    login(client, world.other_operator_user)
    assert client.get(pdf_url).status_code == 404
    revoke_url = reverse("communities:statement_revoke", args=[statement.pk])
    assert client.post(revoke_url, {"reason": "x"}).status_code == 404
    login(client, world.operator_user)
    assert client.post(revoke_url, {"reason": ""}).status_code == 400
    assert client.post(revoke_url, {"reason": "企业已迁出"}).status_code == 302
    statement.refresh_from_db()
    assert statement.revoked_reason == "企业已迁出"
    assert client.post(revoke_url, {"reason": "again"}).status_code == 409
    client.logout()
    assert client.get(pdf_url).status_code == 302


def test_issue_statement_bad_input(client: Client, world: World) -> None:
    residency = assigned(world)
    login(client, world.operator_user)
    url = reverse("communities:statement_issue", args=[residency.pk])
    before = counts()
    assert client.post(url, {"purpose": ""}).status_code == 400
    assert client.post(url, {"purpose": "x" * 500}).status_code == 400
    assert (
        client.post(reverse("communities:statement_issue", args=[999999]), {"purpose": "x"}).status_code
        == 404
    )
    end_residency(residency=residency, end_date=START, actor=world.operator_user)
    before = counts()
    assert client.post(url, {"purpose": "许可证"}).status_code == 409  # residency has ended
    assert counts() == before
    login(client, world.opc_user)
    assert client.post(url, {"purpose": "许可证"}).status_code == 403


# -- public verification -------------------------------------------------------------------------------------------------
def test_verify_valid_revoked_and_unknown(client: Client, world: World) -> None:
    statement = issued(world)
    url = reverse("communities:statement_verify", args=[statement.code])
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-state="valid"' in html
    assert "OPC云创Labo" in html and "十万光年科幻工作室" in html
    assert statement.pdf_sha256 in html
    # Codes are found whatever the case.
    assert (
        client.get(reverse("communities:statement_verify", args=[statement.code.lower()])).status_code == 200
    )
    revoke_site_statement(statement=statement, reason="企业已迁出", actor=world.operator_user)
    html = client.get(url).content.decode()
    assert 'data-state="revoked"' in html and "企业已迁出" in html
    response = client.get(reverse("communities:statement_verify", args=["ZZZZZZZZZZZZ"]))
    assert response.status_code == 404
    assert 'data-state="unknown"' in response.content.decode()
    assert client.get("/statements/%3Cscript%3E/").status_code == 404


def test_statement_lookup_form(client: Client, world: World) -> None:
    statement = issued(world)
    url = reverse("communities:statement_lookup")
    assert client.get(url).status_code == 200
    response = client.get(url, {"code": f" {statement.code.lower()} "})
    assert response.status_code == 302
    assert response["Location"] == reverse("communities:statement_verify", args=[statement.code])
    assert client.get(url, {"code": "!!"}).status_code == 400
    assert client.get(url, {"code": ""}).status_code == 400


# -- OPC and authority pages ------------------------------------------------------------------------------------------
def test_my_workstation_page(client: Client, world: World) -> None:
    statement = issued(world)
    login(client, world.opc_user)
    html = client.get(reverse("communities:my_workstation")).content.decode()
    assert statement.code in html
    assert reverse("communities:statement_pdf", args=[statement.pk]) in html
    login(client, world.operator_user)
    response = client.get(reverse("communities:my_workstation"))
    assert response.status_code == 200
    assert 'data-testid="not-opc"' in response.content.decode()


def test_oversight_for_authority(client: Client, world: World) -> None:
    issued(world)
    login(client, world.authority_user)
    response = client.get(reverse("communities:oversight"))
    assert response.status_code == 200
    html = response.content.decode()
    assert world.community.name in html
    assert world.other_community.name not in html  # the authority's city is 宁波市
    assert world.opc.name not in html  # aggregates only
    assert response.context["totals"]["occupied"] == 1
    assert response.context["statement_totals"]["active"] == 1
    assert response.context["districts"][0]["district"] == "海曙区"
    csv_response = client.get(reverse("communities:oversight_csv"))
    assert csv_response.status_code == 200
    assert world.community.name in csv_response.content.decode("utf-8-sig")
    login(client, world.operator_user)
    assert client.get(reverse("communities:oversight")).status_code == 403
