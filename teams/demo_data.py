"""Demo teams and subcontracts (``make demo``), made through ``teams.services`` after the demo market.

The enterprise client posts a three-skill tender (short drama, voice-over/digital human, design); the demo
OPC (``opc@demo.cn``) forms a team from the solver's proposal, the members accept and sign the split, and the
team bid is submitted, ready for the client to award. On one of the demo OPC's active contracts a video part
is subcontracted to another OPC of its community with the standard checklist.
Does nothing when the demo OPC already leads a team.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.utils import timezone

from accounts.models import User
from marketplace import services as mkt
from marketplace.models import Contract, ContractStatus
from organisations.capabilities import OrgKind
from organisations.models import Organisation, Skill
from teams import selectors, services
from teams.models import Team


def _org_of(email: str) -> tuple[User, Organisation] | None:
    user = User.objects.filter(email=email).first()
    membership = user.memberships.select_related("organisation").first() if user else None
    return (user, membership.organisation) if user and membership else None


def load(rng: random.Random) -> None:
    pm_pair, client_pair = _org_of("opc@demo.cn"), _org_of("client@demo.cn")
    if pm_pair is None or client_pair is None:
        return
    pm_user, pm = pm_pair
    client_user, client = client_pair
    if Team.objects.filter(pm=pm).exists():
        return
    codes = [
        c for c in ("ai-short-drama", "digital-human-live", "design") if Skill.objects.filter(code=c).exists()
    ]
    if len(codes) < 2:
        return
    skills = list(Skill.objects.filter(code__in=codes))
    order = mkt.post_order(
        client=client,
        actor=client_user,
        title="宁波文旅整合营销（短剧 + 数字人 + 视觉）",
        category=skills[0],
        budget_min=Decimal("40000"),
        budget_max=Decimal("120000"),
        deadline=timezone.localdate() + dt.timedelta(days=60),
        description="需要多种技能协同的大项目，欢迎项目经理组队投标。",
    )
    order.required_skills.set(skills)
    order = mkt.publish_order(order=order, client=client, actor=client_user)
    explained = selectors.propose_for_order(order, {s.pk: 1 for s in skills}, pm=pm)
    if not explained.feasible:
        return
    members = [
        services.MemberSpec(s["opc"], s["skill"], s["quote"]) for s in explained.seats if s["opc"].pk != pm.pk
    ]
    total = sum((s["quote"] for s in explained.seats), Decimal("0")).quantize(Decimal("1"))
    first = (total * Decimal("0.4")).quantize(Decimal("0.01"))
    team = services.create_team(
        order=order,
        pm=pm,
        actor=pm_user,
        name="甬城文旅联合体",
        members=members,
        milestones=[
            services.TeamMilestoneSpec("方案与脚本", first, timezone.localdate() + dt.timedelta(days=20)),
            services.TeamMilestoneSpec(
                "成片与直播", total - first, timezone.localdate() + dt.timedelta(days=55)
            ),
        ],
        proposal={"method": explained.proposal.method, "cost": explained.proposal.cost},
    )
    services.invite_members(team=team, pm=pm, actor=pm_user)
    live = list(team.members.select_related("opc"))
    for m in live:
        if m.opc_id != pm.pk:
            services.respond_invitation(member=m, opc=m.opc, actor=None, accept=True)
    shares = {}
    for ms in team.milestones.all():
        n = len(live)
        each = (ms.amount / n).quantize(Decimal("0.01"))
        for i, m in enumerate(live):
            shares[(m.pk, ms.pk)] = ms.amount - each * (n - 1) if i == 0 else each
    services.set_split(team=team, pm=pm, actor=pm_user, shares=shares)
    team.refresh_from_db()
    for m in live:
        if m.opc_id != pm.pk:
            services.sign_split(member=m, opc=m.opc, actor=None, version=team.split_version)
    services.submit_team_bid(team=team, pm=pm, actor=pm_user)
    _subcontract(rng, pm_user, pm)


def _subcontract(rng: random.Random, user: User, pm: Organisation) -> None:
    contract = Contract.objects.filter(
        opc=pm, status=ContractStatus.ACTIVE, subcontracting_allowed=True
    ).first()
    if contract is None:
        return
    milestone = (
        contract.milestones.filter(status__in=services.UNSETTLED_MILESTONE).order_by("position").first()
    )
    neighbours = Organisation.objects.filter(
        kind=OrgKind.OPC, home_community_id=pm.home_community_id
    ).exclude(pk=pm.pk)
    if milestone is None or not neighbours.exists() or pm.home_community_id is None:
        return
    price = (milestone.amount * Decimal("0.2")).quantize(Decimal("1"))
    deadline = min(milestone.due_date, timezone.localdate() + dt.timedelta(days=10))
    if deadline < timezone.localdate() or price <= 0:
        return
    services.post_subcontract(
        contract=contract,
        upstream=pm,
        actor=user,
        milestone=milestone,
        title="片头 15 秒动画外包",
        description="按分镜制作 15 秒片头动画，风格参考附件。",
        deliverable_type="video",
        criteria={"duration": "15 s", "resolution": "1920×1080"},
        price=price,
        deadline=deadline,
        visibility="community",
        invited=list(neighbours[:2]),
    )
