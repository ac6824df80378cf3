"""Builders for teams tests on top of ``core.testing`` and the marketplace test helpers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from core.testing import World, make_org, make_user
from ledger.models import Purpose
from ledger.services import account_for
from marketplace import services as mkt
from marketplace.models import Contract, Order
from organisations.capabilities import OrgKind
from organisations.models import OPCProfile, Organisation, Skill
from teams import services
from teams.models import Team, TeamMember


def future(days: int = 30) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=days)


def skill(code: str, zh: str, en: str) -> Skill:
    return Skill.objects.get_or_create(code=code, defaults={"name_zh": zh, "name_en": en})[0]


def profile(org: Organisation, skills: list[Skill], rate: str, capacity: int = 3) -> None:
    p = OPCProfile.objects.get(organisation=org)
    p.rate_min = p.rate_max = Decimal(rate)
    p.capacity = capacity
    p.save()
    p.skills.set(skills)


def available(org: Organisation) -> Decimal:
    return account_for(owner=org, purpose=Purpose.AVAILABLE).balance


@dataclass
class TeamWorld:
    w: World
    third: Organisation
    drama: Skill
    voice: Skill
    design: Skill
    order: Order


def team_world(w: World) -> TeamWorld:
    drama = skill("ai-short-drama", "AI短剧", "AI short drama")
    voice = skill("voice", "配音", "Voice-over")
    design = skill("design", "设计", "Design")
    third = make_org(OrgKind.OPC, "三号设计工作室", make_user("third"), community=w.community)
    profile(w.opc, [drama], "6000")
    profile(w.other_opc, [voice], "3000")
    profile(third, [design, voice], "2500")
    order = mkt.post_order(
        client=w.client,
        actor=w.client_user,
        title="文旅宣传大项目",
        category=drama,
        budget_min=Decimal("5000"),
        budget_max=Decimal("50000"),
        deadline=future(),
        procurement_method="inquiry",
    )
    order.required_skills.set([drama, voice, design])
    order = mkt.publish_order(order=order, client=w.client, actor=w.client_user)
    return TeamWorld(w, third, drama, voice, design, order)


def formed_team(t: TeamWorld) -> Team:
    """A team of world.opc (PM) + other_opc + third, two milestones of ¥6,000 and ¥4,000."""
    w = t.w
    return services.create_team(
        order=t.order,
        pm=w.opc,
        actor=w.opc_user,
        name="星门联合体",
        members=[
            services.MemberSpec(w.other_opc, t.voice, Decimal("3000")),
            services.MemberSpec(t.third, t.design, Decimal("2500")),
        ],
        milestones=[
            services.TeamMilestoneSpec("脚本与分镜", Decimal("6000"), future(10)),
            services.TeamMilestoneSpec("成片", Decimal("4000"), future(20)),
        ],
    )


def member(team: Team, org: Organisation) -> TeamMember:
    return team.members.get(opc=org)


def split_evenly(t: TeamWorld, team: Team) -> None:
    """PM 50 %, other_opc 30 %, third 20 % of every milestone."""
    ms = list(team.milestones.order_by("position"))
    pm, a, b = member(team, t.w.opc), member(team, t.w.other_opc), member(team, t.third)
    shares = {}
    for m in ms:
        shares[(pm.pk, m.pk)] = m.amount * Decimal("0.5")
        shares[(a.pk, m.pk)] = m.amount * Decimal("0.3")
        shares[(b.pk, m.pk)] = m.amount * Decimal("0.2")
    services.set_split(team=team, pm=t.w.opc, actor=None, shares=shares)


def ready_team(t: TeamWorld) -> Team:
    """Formed, invited, accepted, split set and signed."""
    w = t.w
    team = formed_team(t)
    services.invite_members(team=team, pm=w.opc, actor=None)
    for org in (w.other_opc, t.third):
        services.respond_invitation(member=member(team, org), opc=org, actor=None, accept=True)
    split_evenly(t, team)
    team.refresh_from_db()
    for org in (w.other_opc, t.third):
        services.sign_split(member=member(team, org), opc=org, actor=None, version=team.split_version)
    return team


def awarded_team(t: TeamWorld, form: str = "consortium") -> tuple[Team, Contract]:
    team = ready_team(t)
    services.submit_team_bid(team=team, pm=t.w.opc, actor=None)
    team.refresh_from_db()
    contract = services.award_team(team=team, client=t.w.client, actor=t.w.client_user, contract_form=form)
    return team, contract


def release_first(t: TeamWorld, contract: Contract, key: str = "k1") -> None:
    m = contract.milestones.order_by("position").first()
    assert m is not None
    mkt.fund_milestone(milestone=m, client=t.w.client, actor=None, idempotency_key=f"fund-{key}")
    mkt.deliver_milestone(milestone=m, opc=t.w.opc, actor=None, note="done")
    mkt.accept_milestone(milestone=m, client=t.w.client, actor=None, idempotency_key=key)
