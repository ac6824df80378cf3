"""Team and subcontract pages and the API, logged in as the shared world's people."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from marketplace import services as mkt
from teams.models import MemberStatus, SubcontractStatus, Team, TeamStatus
from teams.tests.helpers import awarded_team, future, member, ready_team, skill, team_world

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_order_page_offers_a_team_proposal_and_forms_the_team(world):
    t = team_world(world)
    c = login(world.opc_user)
    page = c.get(reverse("marketplace:order_detail", args=[t.order.pk]))
    assert b'data-testid="propose-team"' in page.content
    url = reverse("teams:propose", args=[t.order.pk])
    shown = c.get(url)
    assert shown.status_code == 200 and b'data-testid="proposal-method"' in shown.content
    response = c.post(url, {f"seats_{s.pk}": "1" for s in (t.drama, t.voice, t.design)} | {"name": "星门"})
    team = Team.objects.get(order=t.order)
    assert response.status_code == 302 and response["Location"] == reverse(
        "teams:team_detail", args=[team.pk]
    )
    assert team.members.filter(status=MemberStatus.PROPOSED).count() >= 1
    assert team.proposal["method"] == "exact"


def test_infeasible_proposal_page_explains(world):
    t = team_world(world)
    nobody = skill("copyright", "版权", "Copyright")
    t.order.required_skills.add(nobody)
    page = login(world.opc_user).get(reverse("teams:propose", args=[t.order.pk]))
    assert page.status_code == 200
    assert b'data-testid="proposal-infeasible"' in page.content


def test_members_accept_and_sign_through_pages(world):
    t = team_world(world)
    from teams.tests.helpers import formed_team, split_evenly

    team = formed_team(t)
    pm = login(world.opc_user)
    assert pm.post(reverse("teams:team_invite", args=[team.pk])).status_code == 302
    for user in (world.other_opc_user, t.third.memberships.first().user):
        c = login(user)
        assert c.post(reverse("teams:team_accept", args=[team.pk])).status_code == 302
    split_evenly(t, team)
    team.refresh_from_db()
    c = login(world.other_opc_user)
    stale = c.post(reverse("teams:team_sign", args=[team.pk]), {"version": team.split_version - 1})
    assert stale.status_code == 409
    assert (
        c.post(reverse("teams:team_sign", args=[team.pk]), {"version": team.split_version}).status_code == 302
    )
    assert member(team, world.other_opc).signed_version == team.split_version
    # a member cannot submit for the PM
    assert c.post(reverse("teams:team_submit", args=[team.pk])).status_code == 403


def test_client_awards_the_team_and_sees_subcontracting(world):
    t = team_world(world)
    team = ready_team(t)
    login(world.opc_user).post(reverse("teams:team_submit", args=[team.pk]))
    team.refresh_from_db()
    assert team.status == TeamStatus.SUBMITTED
    client = login(world.client_user)
    page = client.get(reverse("marketplace:order_detail", args=[t.order.pk]))
    assert f'data-testid="team-bid-{team.pk}"'.encode() in page.content
    response = client.post(reverse("teams:team_award", args=[team.pk]), {"contract_form": "consortium"})
    assert response.status_code == 302
    team.refresh_from_db()
    assert team.status == TeamStatus.AWARDED and team.contract_form == "consortium"
    contract = team.bid.contract
    detail = client.get(reverse("marketplace:contract_detail", args=[contract.pk]))
    assert b'data-testid="subcontracting-allowed"' in detail.content
    client.post(reverse("teams:contract_subcontracting", args=[contract.pk]), {"allowed": "0"})
    contract.refresh_from_db()
    assert not contract.subcontracting_allowed
    refused = login(world.opc_user).post(
        reverse("teams:subcontract_post", args=[contract.pk]),
        {"deliverable_type": "video", "title": "x", "price": "100", "deadline": future(3).isoformat()},
    )
    assert refused.status_code == 403


def test_subcontract_flow_through_pages_and_api(world):
    t = team_world(world)
    _team, contract = awarded_team(t)
    opc = login(world.opc_user)
    response = opc.post(
        reverse("teams:subcontract_post", args=[contract.pk]),
        {
            "deliverable_type": "video",
            "title": "片头动画",
            "milestone": contract.milestones.order_by("position").first().pk,
            "price": "300",
            "deadline": future(5).isoformat(),
            "criterion_resolution": "3840×2160",
            "visibility": "invited",
            "invited": [t.third.pk],
        },
    )
    assert response.status_code == 302
    sub = contract.subcontracts.get()
    assert sub.criteria[0] == {"key": "resolution", "value": "3840×2160"}
    third = login(t.third.memberships.first().user)
    assert third.post(reverse("teams:subcontract_take", args=[sub.pk])).status_code == 302
    third.post(reverse("teams:subcontract_deliver", args=[sub.pk]), {"note": "成片链接"})
    refused = third.post(
        f"/api/teams/subcontracts/{sub.pk}/review",
        {"passed": {}},
        content_type="application/json",
        headers={"Idempotency-Key": "x"},
    )
    assert refused.status_code == 403
    ok = opc.post(
        f"/api/teams/subcontracts/{sub.pk}/review",
        {"passed": {c["key"]: True for c in sub.criteria}},
        content_type="application/json",
        headers={"Idempotency-Key": "rev-1"},
    )
    assert ok.status_code == 200 and ok.json()["status"] == SubcontractStatus.ACCEPTED
    # the client sees that part of the work was subcontracted
    detail = login(world.client_user).get(reverse("marketplace:contract_detail", args=[contract.pk]))
    assert b'data-testid="subcontracts"' in detail.content
    m = contract.milestones.order_by("position").first()
    mkt.fund_milestone(milestone=m, client=world.client, actor=None, idempotency_key="f")
    mkt.deliver_milestone(milestone=m, opc=world.opc, actor=None)
    mkt.accept_milestone(milestone=m, client=world.client, actor=None, idempotency_key="a")
    sub.refresh_from_db()
    assert sub.status == SubcontractStatus.PAID


def test_proposal_api(world):
    t = team_world(world)
    c = login(world.opc_user)
    r = c.post(
        f"/api/teams/orders/{t.order.pk}/proposal",
        {"roles": [{"skill": "voice", "count": 1}, {"skill": "nothing", "count": 1}]},
        content_type="application/json",
    )
    assert r.status_code == 200
    body = r.json()
    assert body["feasible"] is False and body["problems"]
    r = c.post(
        f"/api/teams/orders/{t.order.pk}/proposal",
        {"roles": [{"skill": "voice", "count": 2}]},
        content_type="application/json",
    )
    body = r.json()
    assert body["feasible"] and body["method"] == "exact" and len(body["seats"]) == 2
    teams = c.get("/api/teams/")
    assert teams.status_code == 200 and teams.json() == []


def test_pm_edits_the_team(world):
    t = team_world(world)
    from teams.tests.helpers import formed_team

    team = formed_team(t)
    version = team.split_version
    pm = login(world.opc_user)
    removed = member(team, t.third)
    assert (
        pm.post(reverse("teams:team_member_remove", args=[team.pk]), {"member": removed.pk}).status_code
        == 302
    )
    removed.refresh_from_db()
    assert removed.status == MemberStatus.REMOVED
    response = pm.post(
        reverse("teams:team_member_add", args=[team.pk]), {"opc": t.third.pk, "role": t.design.pk}
    )
    assert response.status_code == 302
    removed.refresh_from_db()
    assert removed.status == MemberStatus.PROPOSED and removed.role == t.design
    team.refresh_from_db()
    assert team.split_version == version + 2  # every change makes earlier signatures stale
    assert pm.post(reverse("teams:team_member_add", args=[team.pk]), {"opc": t.third.pk}).status_code == 409
    denied = login(world.other_opc_user)
    assert denied.post(
        reverse("teams:team_member_remove", args=[team.pk]), {"member": removed.pk}
    ).status_code in (
        403,
        404,
    )
