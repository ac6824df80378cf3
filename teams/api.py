"""Teams and subcontracting API (``/api/teams/``): team proposals, one's teams, signing the split, submitting
the team bid, subcontracts and their acceptance against the checklist.

Handlers are thin: objects come from ``teams.selectors`` for ``request.org_scope`` (foreign ids → 404), writes
go through ``teams.services``; refusals are ``DomainError`` → the API's error responses.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field as NinjaField
from ninja import Header, Path, Router, Schema

from accounts.api import ERRORS, MAX_ID, ErrorOut
from core.errors import NotPermitted
from core.http import acting_user
from marketplace import selectors as mkt_selectors
from organisations.access import scope_for
from organisations.capabilities import OrgKind
from organisations.models import Organisation, Skill
from teams import selectors, services
from teams.models import Subcontract, Team

router = Router(tags=["teams"])
WRITE: dict[int, Any] = {400: ErrorOut, 404: ErrorOut, 409: ErrorOut, **ERRORS}
READ: dict[int, Any] = {404: ErrorOut, **ERRORS}


def _org(request: HttpRequest) -> Organisation:
    org = scope_for(request).organisation
    if org is None:
        raise NotPermitted()
    return org


def _opc(request: HttpRequest) -> Organisation:
    org = _org(request)
    if org.kind != OrgKind.OPC:
        raise NotPermitted()
    return org


class RoleIn(Schema):
    skill: str = NinjaField(..., max_length=40, description="skill code")
    count: int = NinjaField(1, ge=0, le=20)


class ProposalIn(Schema):
    roles: list[RoleIn] = NinjaField(..., max_length=20)
    method: str = NinjaField("auto", pattern="^(auto|exact|heuristic|greedy)$")


class SeatOut(Schema):
    opc_id: int
    opc_name: str
    skill: str
    quote: Decimal
    reputation: float | None


class ProposalOut(Schema):
    feasible: bool
    method: str
    method_label: str
    cost: float
    members: int
    candidates: int
    seconds: float
    seats: list[SeatOut]
    problems: list[str]


class MemberOut(Schema):
    id: int
    opc_id: int
    opc_name: str
    status: str
    signed: bool
    shares: dict[str, Decimal]


class TeamOut(Schema):
    id: int
    name: str
    order_id: int
    pm_id: int
    status: str
    contract_form: str
    split_version: int
    members: list[MemberOut]


class VersionIn(Schema):
    version: int = NinjaField(..., ge=0)


class BidOut(Schema):
    bid_id: int
    price: Decimal


class SubcontractOut(Schema):
    id: int
    title: str
    contract_id: int
    upstream_id: int
    subcontractor_id: int | None
    deliverable_type: str
    criteria: list[dict[str, str]]
    price: Decimal
    status: str


class ReviewIn(Schema):
    passed: dict[str, bool]


def _team_out(team: Team) -> TeamOut:
    members = []
    for m in team.members.select_related("opc").prefetch_related("shares__milestone"):
        members.append(
            MemberOut(
                id=m.pk,
                opc_id=m.opc_id,
                opc_name=m.opc.name,
                status=m.status,
                signed=m.opc_id == team.pm_id or m.signed_version == team.split_version,
                shares={str(s.milestone.position): s.amount for s in m.shares.all()},
            )
        )
    return TeamOut(
        id=team.pk,
        name=team.name,
        order_id=team.order_id,
        pm_id=team.pm_id,
        status=team.status,
        contract_form=team.contract_form,
        split_version=team.split_version,
        members=members,
    )


def _sub_out(sub: Subcontract) -> SubcontractOut:
    return SubcontractOut(
        id=sub.pk,
        title=sub.title,
        contract_id=sub.contract_id,
        upstream_id=sub.upstream_id,
        subcontractor_id=sub.subcontractor_id,
        deliverable_type=sub.deliverable_type,
        criteria=sub.criteria,
        price=sub.price,
        status=sub.status,
    )


@router.post(
    "/orders/{int:order_id}/proposal",
    response={200: ProposalOut, **WRITE},
    summary="Propose a team for an order (infeasible requests say why)",
)
def proposal(
    request: HttpRequest, payload: ProposalIn, order_id: int = Path(..., ge=1, le=MAX_ID)
) -> ProposalOut:
    org = _opc(request)
    order = mkt_selectors.get_order_for_opc(org, order_id)
    codes = {r.skill: r.count for r in payload.roles}
    skills = {s.code: s for s in Skill.objects.filter(code__in=list(codes))}
    explained = selectors.propose_for_order(
        order, {skills[c].pk: n for c, n in codes.items() if c in skills}, pm=org, method=payload.method
    )
    problems = list(explained.problems)
    unknown = sorted(set(codes) - set(skills))
    if unknown:
        problems.insert(0, _("Unknown skills: %(codes)s") % {"codes": ", ".join(unknown)})
    p = explained.proposal
    return ProposalOut(
        feasible=p.feasible and not unknown,
        method=p.method,
        method_label=explained.method_label,
        cost=round(p.cost, 2),
        members=p.members,
        candidates=p.candidates,
        seconds=round(p.seconds, 4),
        seats=[
            SeatOut(
                opc_id=s["opc"].pk,
                opc_name=s["opc"].name,
                skill=s["skill"].code,
                quote=s["quote"],
                reputation=s["reputation"],
            )
            for s in explained.seats
        ],
        problems=problems,
    )


@router.get("/", response={200: list[TeamOut], **ERRORS}, summary="Teams I lead or belong to")
def my_teams(request: HttpRequest) -> list[TeamOut]:
    org = _opc(request)
    return [_team_out(t) for t in selectors.teams_of(org)[:100]]


@router.get("/{int:team_id}", response={200: TeamOut, **READ}, summary="One team with its members and split")
def team_detail(request: HttpRequest, team_id: int = Path(..., ge=1, le=MAX_ID)) -> TeamOut:
    team, _role = selectors.get_team_for(_org(request), team_id)
    return _team_out(team)


@router.post(
    "/{int:team_id}/sign", response={200: TeamOut, **WRITE}, summary="Sign the current revenue split"
)
def sign(request: HttpRequest, payload: VersionIn, team_id: int = Path(..., ge=1, le=MAX_ID)) -> TeamOut:
    org = _org(request)
    team, _role = selectors.get_team_for(org, team_id)
    member = team.members.filter(opc=org).first()
    if member is None:
        raise NotPermitted()
    services.sign_split(member=member, opc=org, actor=acting_user(request), version=payload.version)
    return _team_out(team)


@router.post("/{int:team_id}/submit", response={200: BidOut, **WRITE}, summary="Submit the team bid (PM)")
def submit(request: HttpRequest, team_id: int = Path(..., ge=1, le=MAX_ID)) -> BidOut:
    org = _org(request)
    team, _role = selectors.get_team_for(org, team_id)
    bid = services.submit_team_bid(team=team, pm=org, actor=acting_user(request))
    return BidOut(bid_id=bid.pk, price=bid.price)


@router.get(
    "/subcontracts", response={200: list[SubcontractOut], **ERRORS}, summary="My subcontracts and offers"
)
def subcontracts(request: HttpRequest) -> list[SubcontractOut]:
    org = _opc(request)
    return [_sub_out(s) for s in selectors.subcontracts_for(org)[:100]]


@router.post(
    "/subcontracts/{int:sub_id}/review",
    response={200: SubcontractOut, **WRITE},
    summary="Accept a delivery against the checklist, or ask for a revision (upstream)",
)
def review(
    request: HttpRequest,
    payload: ReviewIn,
    sub_id: int = Path(..., ge=1, le=MAX_ID),
    idempotency_key: str = Header("", alias="Idempotency-Key"),
) -> SubcontractOut:
    org = _org(request)
    sub, _role = selectors.get_subcontract_for(org, sub_id)
    sub = services.review_subcontract(
        sub=sub,
        upstream=org,
        actor=acting_user(request),
        passed=payload.passed,
        idempotency_key=idempotency_key,
    )
    return _sub_out(sub)
