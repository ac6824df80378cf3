"""Reads of teams and subcontracting, shared by pages and the API.

``propose_for_order`` builds the solver's candidates from the database: every OPC holding at least one of the
requested skills (the client and the PM's competitors excluded), its quote per seat (the midpoint of its
profile's rate range; without a rate, the median of the other holders' quotes, marked as estimated), its
free slots (profile capacity − active contracts − seats in other live teams) and its reputation (the trust
app's good share, blended with team outcomes weighted by the member's share — ``team_outcomes_for``).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.utils.translation import gettext as _

from core.errors import NotFound
from core.http import parse_id
from marketplace.models import Contract, ContractStatus, Milestone, Order
from organisations.capabilities import OrgKind
from organisations.models import OPCProfile, Organisation, Skill
from teams import solver
from teams.models import (
    MemberStatus,
    Subcontract,
    SubcontractStatus,
    SubcontractVisibility,
    Team,
    TeamMember,
    TeamPayout,
    TeamStatus,
)

MEMBER_FEE = (
    500.0  # coordination cost per member (CNY) the solver weighs against fewer, multi-skilled members
)
LIVE_TEAM = (TeamStatus.FORMING, TeamStatus.SUBMITTED)


@dataclass
class Explained:
    """A proposal as the pages and the API show it."""

    proposal: solver.Proposal
    roles: list[tuple[Skill, int]]
    seats: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        return self.proposal.feasible

    @property
    def method_label(self) -> str:
        return {
            "exact": _("exact (integer programme, HiGHS)"),
            "heuristic": _("heuristic (best candidates per skill, then integer programme)"),
            "greedy": _("greedy (cheapest candidate per seat)"),
        }.get(self.proposal.method, _("none"))


def team_outcomes_for(opc_ids: Iterable[int]) -> dict[int, tuple[Decimal, Decimal]]:
    """Team outcomes of members other than the contracted PM, weighted by their share of the contract
    price: ``(good, bad)`` per OPC, where a completed contract is good and a cancelled one bad."""
    ids = {int(i) for i in opc_ids}
    out: dict[int, tuple[Decimal, Decimal]] = {}
    rows = (
        TeamPayout.objects.filter(member__opc_id__in=ids)
        .exclude(member__opc_id=F("milestone__contract__opc_id"))
        .values(
            "member__opc_id",
            "milestone__contract_id",
            "milestone__contract__price",
            "milestone__contract__status",
            "share",
        )
    )
    weights: dict[tuple[int, int], Decimal] = {}
    meta: dict[int, tuple[Decimal, str]] = {}
    for row in rows:
        key = (row["member__opc_id"], row["milestone__contract_id"])
        weights[key] = weights.get(key, Decimal(0)) + row["share"]
        meta[row["milestone__contract_id"]] = (
            row["milestone__contract__price"],
            row["milestone__contract__status"],
        )
    for (opc_id, contract_id), share in weights.items():
        price, status = meta[contract_id]
        weight = min(Decimal(1), share / price) if price else Decimal(0)
        good, bad = out.get(opc_id, (Decimal(0), Decimal(0)))
        if status == ContractStatus.COMPLETED:
            good += weight
        elif status == ContractStatus.CANCELLED:
            bad += weight
        out[opc_id] = (good, bad)
    return out


def _reputations(ids: list[int]) -> dict[int, float | None]:
    from trust.selectors import reputation_for

    # trust's share of good outcomes already counts team contracts by each member's share.
    reps = reputation_for(ids)
    out: dict[int, float | None] = {}
    for pk in ids:
        share = reps[pk].share_good if pk in reps else None
        out[pk] = float(share) if share is not None else None
    return out


def candidates_for(
    order: Order, skills: Iterable[Skill], *, pm: Organisation | None = None
) -> list[solver.Candidate]:
    codes = {s.pk: s.code for s in skills}
    profiles = list(
        OPCProfile.objects.filter(organisation__kind=OrgKind.OPC, skills__in=list(codes))
        .exclude(organisation_id=order.client_id)
        .select_related("organisation")
        .prefetch_related("skills")
        .distinct()
    )
    ids = [p.organisation_id for p in profiles]
    active = dict(
        Contract.objects.filter(opc_id__in=ids, status=ContractStatus.ACTIVE)
        .values("opc_id")
        .annotate(n=Count("pk"))
        .values_list("opc_id", "n")
    )
    seats = dict(
        TeamMember.objects.filter(
            opc_id__in=ids,
            status__in=(MemberStatus.INVITED, MemberStatus.ACCEPTED),
            team__status__in=LIVE_TEAM,
        )
        .exclude(team__order=order)
        .values("opc_id")
        .annotate(n=Count("pk"))
        .values_list("opc_id", "n")
    )
    reps = _reputations(ids)
    quotes: dict[int, float | None] = {}
    for p in profiles:
        rates = [float(r) for r in (p.rate_min, p.rate_max) if r is not None]
        quotes[p.organisation_id] = sum(rates) / len(rates) if rates else None
    known = [q for q in quotes.values() if q is not None]
    fallback = statistics.median(known) if known else 1000.0
    out = []
    for p in profiles:
        org = p.organisation
        quote = quotes[org.pk] if quotes[org.pk] is not None else fallback
        held = {codes[s.pk]: float(quote or fallback) for s in p.skills.all() if s.pk in codes}
        slots = int(p.capacity) - active.get(org.pk, 0) - seats.get(org.pk, 0)
        out.append(
            solver.Candidate(id=org.pk, name=org.name, quotes=held, slots=slots, reputation=reps.get(org.pk))
        )
    return out


def propose_for_order(
    order: Order, roles: Mapping[int, int], *, pm: Organisation | None = None, method: str = "auto"
) -> Explained:
    """Propose a team for ``order``: ``roles`` maps skill id → seats."""
    skills = {s.pk: s for s in Skill.objects.filter(pk__in=[k for k, v in roles.items() if v > 0])}
    wanted = [(skills[k], int(v)) for k, v in roles.items() if k in skills and v > 0]
    candidates = candidates_for(order, [s for s, _n in wanted], pm=pm)
    proposal = solver.propose(
        candidates, [solver.Role(s.code, n) for s, n in wanted], member_fee=MEMBER_FEE, method=method
    )
    explained = Explained(proposal=proposal, roles=wanted)
    by_code = {s.code: s for s, _n in wanted}
    names = {c.id: c for c in candidates}
    orgs = Organisation.objects.in_bulk([s.candidate_id for s in proposal.seats])
    for seat in proposal.seats:
        explained.seats.append(
            {
                "opc": orgs[seat.candidate_id],
                "skill": by_code[seat.skill],
                "quote": Decimal(str(round(seat.quote, 2))),
                "reputation": names[seat.candidate_id].reputation,
            }
        )
    if not wanted:
        explained.problems.append(_("Choose at least one skill with at least one seat."))
    for problem in proposal.problems:
        skill = by_code.get(problem.skill)
        params = {
            "skill": str(skill) if skill else "",
            "needed": problem.needed,
            "available": problem.available,
            "holders": problem.holders,
        }
        if problem.code == "no_holder":
            explained.problems.append(_("Nobody on the platform offers “%(skill)s”.") % params)
        elif problem.code == "no_capacity":
            explained.problems.append(
                _("All %(holders)d OPCs offering “%(skill)s” are at full capacity.") % params
            )
        elif problem.code == "too_few":
            explained.problems.append(
                _(
                    "“%(skill)s” needs %(needed)d people but only %(available)d of its %(holders)d OPCs have free capacity."
                )
                % params
            )
        else:
            explained.problems.append(
                _(
                    "Together the available OPCs cannot fill all %(needed)d seats without exceeding their capacity."
                )
                % params
            )
    return explained


# ------------------------------------------------------------------------------------------ teams


def teams_of(org: Organisation) -> QuerySet[Team]:
    """Teams the OPC leads or belongs to (removed memberships excluded)."""
    return (
        Team.objects.filter(
            Q(pm=org)
            | Q(
                members__opc=org,
                members__status__in=(
                    MemberStatus.PROPOSED,
                    MemberStatus.INVITED,
                    MemberStatus.ACCEPTED,
                    MemberStatus.DECLINED,
                ),
            )
        )
        .exclude(~Q(pm=org) & Q(members__opc=org, members__status=MemberStatus.PROPOSED))
        .select_related("order", "pm")
        .distinct()
    )


def get_team_for(org: Organisation, pk: Any) -> tuple[Team, str]:
    """The team and the caller's role in it: ``pm``, ``member`` or ``client`` (of a submitted bid's order)."""
    team = Team.objects.select_related("order", "pm", "bid").filter(pk=parse_id(pk) or 0).first()
    if team is None:
        raise NotFound()
    if team.pm_id == org.pk:
        return team, "pm"
    if (
        team.members.filter(opc=org)
        .exclude(status__in=(MemberStatus.PROPOSED, MemberStatus.REMOVED))
        .exists()
    ):
        return team, "member"
    if team.order.client_id == org.pk and team.status not in (TeamStatus.FORMING, TeamStatus.WITHDRAWN):
        return team, "client"
    raise NotFound()


def teams_for_order(order: Order) -> QuerySet[Team]:
    return Team.objects.filter(order=order).select_related("pm", "bid").prefetch_related("members__opc")


def team_of_contract(contract: Contract) -> Team | None:
    if not contract.bid_id:
        return None
    return Team.objects.filter(bid_id=contract.bid_id).prefetch_related("members__opc", "milestones").first()


# ------------------------------------------------------------------------------------------ subcontracts


def subcontracts_of_contract(contract: Contract) -> QuerySet[Subcontract]:
    return Subcontract.objects.filter(contract=contract).select_related("subcontractor", "milestone")


def subcontracts_for(org: Organisation) -> QuerySet[Subcontract]:
    """Subcontracts the OPC posted, took, was invited to or may see in its community."""
    q = Q(upstream=org) | Q(subcontractor=org) | Q(invited=org, status=SubcontractStatus.OPEN)
    if org.home_community_id:
        q |= Q(
            visibility=SubcontractVisibility.COMMUNITY,
            community_id=org.home_community_id,
            status=SubcontractStatus.OPEN,
        )
    return (
        Subcontract.objects.filter(q)
        .select_related("upstream", "subcontractor", "contract__order")
        .distinct()
    )


def get_subcontract_for(org: Organisation, pk: Any) -> tuple[Subcontract, str]:
    """The subcontract and the caller's role: ``upstream``, ``subcontractor``, ``candidate`` or ``client``."""
    from teams.services import may_see_subcontract

    sub = (
        Subcontract.objects.select_related("upstream", "subcontractor", "contract", "milestone")
        .filter(pk=parse_id(pk) or 0)
        .first()
    )
    if sub is None:
        raise NotFound()
    if sub.upstream_id == org.pk:
        return sub, "upstream"
    if sub.subcontractor_id == org.pk:
        return sub, "subcontractor"
    if sub.contract.client_id == org.pk:
        return sub, "client"
    if sub.status == SubcontractStatus.OPEN and may_see_subcontract(sub, org):
        return sub, "candidate"
    raise NotFound()


def get_contract_for_party(org: Organisation, pk: Any) -> Contract:
    contract = (
        Contract.objects.select_related("order")
        .filter(pk=parse_id(pk) or 0)
        .filter(Q(opc=org) | Q(client=org))
        .first()
    )
    if contract is None:
        raise NotFound()
    return contract


def open_milestones(contract: Contract) -> QuerySet[Milestone]:
    from teams.services import UNSETTLED_MILESTONE

    return contract.milestones.filter(status__in=UNSETTLED_MILESTONE)


def subcontracts_overseen(community_ids: set[int]) -> QuerySet[Subcontract]:
    """Subcontracts of contracts whose OPC lives in one of the operator's communities."""
    return Subcontract.objects.filter(upstream__home_community_id__in=community_ids).select_related(
        "upstream", "subcontractor", "contract__order"
    )


def teams_overseen(community_ids: set[int]) -> QuerySet[Team]:
    return Team.objects.filter(pm__home_community_id__in=community_ids).select_related("order", "pm")
