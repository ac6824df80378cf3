"""Permission-matrix rows for the teams pages and API (see ``tests/test_permission_matrix.py``).

Objects (``o.extra``, built through the real services): an open tender of ``world.client`` with a forming
team led by ``world.opc`` (``world.other_opc`` invited, one sub-milestone for it); a second order with a
submitted team bid of the same pair; a contract of ``world.opc`` (plain award) with an open subcontract
offered to ``world.other_opc``.

Who may do what: team pages belong to the PM and the (invited or accepted) members; the client sees a team
once its bid is submitted; everybody else gets 404. PM-only actions refuse members with 403 and vice versa.
Subcontracts are seen by the upstream OPC, the invited / community OPCs while open, the subcontractor and the
contract's client. Operators see lists of their communities' teams and subcontracts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from core.testing import make_org, make_user
from marketplace import services as mkt
from marketplace.models import Contract, Order
from organisations.capabilities import OrgKind
from organisations.models import Organisation, Skill
from teams import services
from teams.models import Subcontract, SubMilestone, Team, TeamMember


@dataclass
class TeamObjects:
    order: Order
    team: Team
    member: TeamMember
    sub_milestone: SubMilestone
    submitted: Team
    contract: Contract
    sub: Subcontract
    extra_opc: Organisation


def _order(o: Any, title: str) -> Order:
    w = o.world
    skill = Skill.objects.get_or_create(
        code="ai-short-drama", defaults={"name_zh": "AI短剧", "name_en": "AI short drama"}
    )[0]
    order = mkt.post_order(
        client=w.client,
        actor=None,
        title=title,
        category=skill,
        budget_min=Decimal("1000"),
        budget_max=Decimal("20000"),
        deadline=timezone.localdate() + dt.timedelta(days=30),
        procurement_method="inquiry",
    )
    return mkt.publish_order(order=order, client=w.client, actor=None)


def _team(o: Any, order: Order) -> Team:
    w = o.world
    return services.create_team(
        order=order,
        pm=w.opc,
        actor=None,
        name="联合体",
        members=[services.MemberSpec(w.other_opc)],
        milestones=[
            services.TeamMilestoneSpec("全部", Decimal("4000"), timezone.localdate() + dt.timedelta(days=20))
        ],
    )


def setup(o: Any) -> TeamObjects:
    w = o.world
    w.opc.opc_profile.capacity = 5
    w.opc.opc_profile.save()
    order = _order(o, "团队订单")
    team = _team(o, order)
    services.invite_members(team=team, pm=w.opc, actor=None)
    member = team.members.get(opc=w.other_opc)
    services.respond_invitation(member=member, opc=w.other_opc, actor=None, accept=True)
    sub_milestone = services.add_sub_milestone(
        team=team,
        pm=w.opc,
        actor=None,
        member=member,
        milestone=team.milestones.get(),
        title="配音",
        due_date=timezone.localdate() + dt.timedelta(days=10),
    )
    submitted = _team(o, _order(o, "团队投标"))
    services.invite_members(team=submitted, pm=w.opc, actor=None)
    m2 = submitted.members.get(opc=w.other_opc)
    services.respond_invitation(member=m2, opc=w.other_opc, actor=None, accept=True)
    ms = submitted.milestones.get()
    services.set_split(
        team=submitted,
        pm=w.opc,
        actor=None,
        shares={
            (submitted.members.get(opc=w.opc).pk, ms.pk): Decimal("3000"),
            (m2.pk, ms.pk): Decimal("1000"),
        },
    )
    submitted.refresh_from_db()
    services.sign_split(member=m2, opc=w.other_opc, actor=None, version=submitted.split_version)
    services.submit_team_bid(team=submitted, pm=w.opc, actor=None)
    work = _order(o, "外包合同")
    bid = mkt.submit_bid(order=work, opc=w.opc, actor=None, price=Decimal("3000"), timeline_days=10)
    contract = mkt.award_bid(order=work, bid=bid, client=w.client, actor=None)
    sub = services.post_subcontract(
        contract=contract,
        upstream=w.opc,
        actor=None,
        milestone=contract.milestones.get(),
        title="配音外包",
        deliverable_type="audio",
        price=Decimal("500"),
        deadline=timezone.localdate() + dt.timedelta(days=5),
        invited=[w.other_opc],
    )
    extra_opc = make_org(OrgKind.OPC, "第三方工作室", make_user("teams-extra"), community=w.community)
    return TeamObjects(order, team, member, sub_milestone, submitted, contract, sub, extra_opc)


def _pk(attr: str) -> Any:
    return lambda o: {"pk": getattr(o.extra, attr).pk}


TEAM = "L A N N F N N"  # PM-only actions on the forming team: members 403, everyone else 404
ANY_MEMBER = "L A N N A N N"
SUB_UPSTREAM = "L A N N F N F"

#   name: (method, kwargs(o) -> dict, data(o) -> dict, "anon opc operator other_operator other_opc authority client")
PAGES: dict[str, tuple[str, Any, Any, str]] = {
    "teams:my_teams": ("GET", None, None, "L A A A A F F"),
    "teams:propose": ("GET", _pk("order"), None, "L A F F A F F"),
    "teams:team_detail": ("GET", _pk("team"), None, ANY_MEMBER),
    "teams:team_invite": ("POST", _pk("team"), None, TEAM),
    "teams:team_member_add": ("POST", _pk("team"), lambda o: {"opc": o.extra.extra_opc.pk}, TEAM),
    "teams:team_member_remove": ("POST", _pk("team"), lambda o: {"member": o.extra.member.pk}, TEAM),
    "teams:team_split": ("POST", _pk("team"), None, TEAM),
    "teams:team_accept": ("POST", _pk("team"), None, ANY_MEMBER),
    "teams:team_decline": ("POST", _pk("team"), None, ANY_MEMBER),
    "teams:team_sign": ("POST", _pk("team"), lambda o: {"version": 1}, ANY_MEMBER),
    "teams:team_submit": ("POST", _pk("team"), None, TEAM),
    "teams:team_award": ("POST", _pk("submitted"), lambda o: {"contract_form": "lead"}, "L F N N F N A"),
    "teams:team_withdraw": ("POST", _pk("team"), None, TEAM),
    "teams:team_sub_milestone": (
        "POST",
        _pk("team"),
        lambda o: {
            "member": o.extra.member.pk,
            "milestone": o.extra.team.milestones.get().pk,
            "title": "剪辑",
            "due_date": (timezone.localdate() + dt.timedelta(days=9)).isoformat(),
        },
        TEAM,
    ),
    "teams:team_sub_done": (
        "POST",
        _pk("team"),
        lambda o: {"sub": o.extra.sub_milestone.pk},
        "L F N N A N N",
    ),
    "teams:subcontract_post": ("GET", _pk("contract"), None, "L A F F N F F"),
    "teams:contract_subcontracting": ("POST", _pk("contract"), lambda o: {"allowed": "0"}, "L F N N N N A"),
    "teams:subcontract_detail": ("GET", _pk("sub"), None, "L A N N A N A"),
    "teams:subcontract_take": ("POST", _pk("sub"), None, "L A N N A N N"),
    "teams:subcontract_deliver": ("POST", _pk("sub"), lambda o: {"note": "ok"}, "L F N N F N F"),
    "teams:subcontract_review": ("POST", _pk("sub"), lambda o: {"idempotency_key": "k"}, SUB_UPSTREAM),
    "teams:subcontract_cancel": ("POST", _pk("sub"), None, SUB_UPSTREAM),
}

#   (method, path): (path params(o) -> dict, json body(o) -> dict | None, "anon opc operator …")
API: dict[tuple[str, str], tuple[Any, Any, str]] = {
    ("POST", "/api/teams/orders/{order_id}/proposal"): (
        lambda o: {"order_id": o.extra.order.pk},
        lambda o: {"roles": [{"skill": "ai-short-drama", "count": 1}]},
        "L A F F A F F",
    ),
    ("GET", "/api/teams/"): (None, None, "L A F F A F F"),
    ("GET", "/api/teams/{team_id}"): (lambda o: {"team_id": o.extra.team.pk}, None, ANY_MEMBER),
    ("POST", "/api/teams/{team_id}/sign"): (
        lambda o: {"team_id": o.extra.team.pk},
        lambda o: {"version": 1},
        ANY_MEMBER,
    ),
    ("POST", "/api/teams/{team_id}/submit"): (lambda o: {"team_id": o.extra.team.pk}, None, TEAM),
    ("GET", "/api/teams/subcontracts"): (None, None, "L A F F A F F"),
    ("POST", "/api/teams/subcontracts/{sub_id}/review"): (
        lambda o: {"sub_id": o.extra.sub.pk},
        lambda o: {"passed": {"format": True}},
        SUB_UPSTREAM,
    ),
}
