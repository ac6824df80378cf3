"""Dispatch API (mounted at /api/dispatch/): explained recommendations for a client's order, the operator's
batch-dispatch runs, and the OPC's dispatch offers.

Thin handlers over ``dispatch.services``; objects outside the caller's view are 404 (the order lookup is the
marketplace API's), a visible object the caller may not act on is 403.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import ConfigDict

from accounts.api import ERRORS, MAX_ID, ErrorOut
from core.errors import Conflict, NotFound, NotPermitted
from core.http import acting_user
from dispatch import engine, services
from dispatch.models import DispatchRun, DispatchTrigger, Offer, OfferStatus
from marketplace.api import caller_org, org_ref, require_operator, skill_ref, visible_order
from marketplace.models import OrderStatus
from marketplace.schemas import InSchema, MoneyOut, OrgRef, Page, PositiveMoneyIn, SkillRef, amount
from organisations.access import scope_for
from organisations.capabilities import OrgKind

router = Router(tags=["dispatch"])

READ: dict[int, Any] = {404: ErrorOut, **ERRORS}
WRITE: dict[int, Any] = {400: ErrorOut, 404: ErrorOut, 409: ErrorOut, **ERRORS}

FACTOR_LABELS = {
    "coverage": gettext_lazy("Skill coverage"),
    "experience": gettext_lazy("Experience in the category"),
    "reputation": gettext_lazy("Reputation"),
    "price": gettext_lazy("Price fit"),
    "load": gettext_lazy("Free capacity"),
    "verified": gettext_lazy("Verified"),
    "community": gettext_lazy("Same community"),
    "newcomer": gettext_lazy("Fair exposure for newcomers"),
}


# -- schemas ---------------------------------------------------------------------------------------------------


class FactorOut(Schema):
    factor: str
    label: str = Field(description="In the request's language.")
    weight: float = Field(description="The factor's weight; the weights sum to 1.")
    value: float = Field(description="The factor's value in [0, 1].")
    contribution: float = Field(description="weight × value; the contributions sum to the score.")


class RecommendationOut(Schema):
    rank: int
    opc: OrgRef
    skills: list[SkillRef]
    score: float = Field(description="In [0, 1].")
    factors: list[FactorOut]


class OfferOrderOut(Schema):
    id: int
    title: str
    category: SkillRef
    budget_min: MoneyOut
    budget_max: MoneyOut
    deadline: dt.date
    status: str
    client: OrgRef


class OfferOut(Schema):
    id: int
    run_id: int
    order: OfferOrderOut
    opc: OrgRef
    score: float
    factors: list[FactorOut]
    status: OfferStatus
    status_label: str
    created_at: dt.datetime
    expires_at: dt.datetime
    responded_at: dt.datetime | None


class OfferPage(Page):
    items: list[OfferOut]


class OfferFilter(InSchema):
    status: OfferStatus | Literal[""] = ""
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0, le=1_000_000)


class RespondIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    accept: bool = Field(
        description="true: accept the offer; false: decline (the order is dispatched again)."
    )
    price: PositiveMoneyIn | None = Field(
        None, description="Accepting places a bid at this price (default: the middle of the budget)."
    )
    timeline_days: int | None = Field(
        None, ge=1, le=3650, description="The bid's timeline (default: the days left to the deadline)."
    )
    plan: str = Field("", max_length=20000)


class RunIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    response_hours: float = Field(48, gt=0, le=720, description="How long each OPC has to answer its offer.")


class RunOut(Schema):
    id: int
    method: str
    trigger: DispatchTrigger
    trigger_label: str
    orders_considered: int
    opcs_considered: int
    assignments: int
    total_score: float
    seconds: float | None
    started_at: dt.datetime
    finished_at: dt.datetime | None


class RunPage(Page):
    items: list[RunOut]


class RunFilter(InSchema):
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0, le=1_000_000)


# -- converters ------------------------------------------------------------------------------------------------


def factors(explanation: dict[str, Any]) -> list[FactorOut]:
    weights = engine.DEFAULT_WEIGHTS.as_dict()
    out = []
    for name in engine.FACTORS:
        contribution = float(explanation.get(name, 0.0))
        weight = weights.get(name, 0.0)
        out.append(
            FactorOut(
                factor=name,
                label=str(FACTOR_LABELS.get(name, name)),
                weight=weight,
                value=round(contribution / weight, 6) if weight else 0.0,
                contribution=round(contribution, 6),
            )
        )
    return out


def offer_out(offer: Offer) -> OfferOut:
    order = offer.order
    return OfferOut(
        id=offer.pk,
        run_id=offer.run_id,
        order=OfferOrderOut(
            id=order.pk,
            title=order.title,
            category=skill_ref(order.category),
            budget_min=amount(order.budget_min),
            budget_max=amount(order.budget_max),
            deadline=order.deadline,
            status=order.status,
            client=org_ref(order.client),
        ),
        opc=org_ref(offer.opc),
        score=round(offer.score, 6),
        factors=factors(offer.explanation if isinstance(offer.explanation, dict) else {}),
        status=OfferStatus(offer.status),
        status_label=str(offer.get_status_display()),
        created_at=offer.created_at,
        expires_at=offer.expires_at,
        responded_at=offer.responded_at,
    )


def run_out(run: DispatchRun) -> RunOut:
    params = run.params if isinstance(run.params, dict) else {}
    seconds = params.get("seconds")
    return RunOut(
        id=run.pk,
        method=run.method,
        trigger=DispatchTrigger(run.trigger),
        trigger_label=str(run.get_trigger_display()),
        orders_considered=run.orders_considered,
        opcs_considered=run.opcs_considered,
        assignments=run.assignments,
        total_score=round(run.total_score, 6),
        seconds=float(seconds) if isinstance(seconds, int | float) else None,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


def _offers() -> Any:
    return Offer.objects.select_related("order", "order__category", "order__client", "opc")


# -- recommendations -------------------------------------------------------------------------------------------


@router.get(
    "/orders/{int:order_id}/recommendations",
    response={200: list[RecommendationOut], **WRITE},
    summary="Recommended OPCs for your order, ranked and explained",
)
def recommendations(
    request: HttpRequest,
    order_id: int = Path(..., ge=1, le=MAX_ID),
    limit: int = Query(10, ge=1, le=50),
) -> list[RecommendationOut]:
    """For the client that posted the order (draft or open): the best OPCs by match score, each with the
    contribution of every factor (skill coverage, category experience, reputation, price fit, free capacity,
    verification, same community, newcomer exposure). Invite one with
    ``POST /api/marketplace/orders/{id}/invitations``."""
    order = visible_order(scope_for(request), order_id)
    if order.client_id != caller_org(request).pk:
        raise NotPermitted(_("Only the client that posted this order sees its recommendations."))
    if order.status not in (OrderStatus.DRAFT, OrderStatus.OPEN):
        raise Conflict(_("Recommendations are given for draft and open orders only."))
    recs = services.recommend_for_order(order=order, limit=limit)
    profiles = {p.organisation_id: p for p in _profiles([r.opc.pk for r in recs])}
    out = []
    for rank, rec in enumerate(recs, start=1):
        profile = profiles.get(rec.opc.pk)
        out.append(
            RecommendationOut(
                rank=rank,
                opc=org_ref(rec.opc),
                skills=[skill_ref(s) for s in profile.skills.all()] if profile is not None else [],
                score=round(rec.score, 6),
                factors=factors(rec.explanation),
            )
        )
    return out


def _profiles(org_ids: list[int]) -> Any:
    from organisations.models import OPCProfile

    return OPCProfile.objects.filter(organisation_id__in=org_ids).prefetch_related("skills")


# -- batch dispatch (operators) --------------------------------------------------------------------------------


@router.get("/runs", response={200: RunPage, **ERRORS}, summary="Batch-dispatch runs (operators)")
def runs(request: HttpRequest, filters: Query[RunFilter]) -> RunPage:
    require_operator(scope_for(request))
    qs = DispatchRun.objects.order_by("-started_at", "-id")
    items = [run_out(r) for r in qs[filters.offset : filters.offset + filters.limit]]
    return RunPage(count=qs.count(), limit=filters.limit, offset=filters.offset, items=items)


@router.post("/runs", response={201: RunOut, **WRITE}, summary="Run batch dispatch now (operators)")
def run_now(request: HttpRequest, payload: RunIn | None = None) -> Status[RunOut]:
    """Assigns the open tenders without an open offer to OPCs at once (maximum total match score under every
    OPC's free capacity); each assignment becomes an offer the OPC must answer within ``response_hours``."""
    require_operator(scope_for(request))
    run = services.run_batch_dispatch(
        actor=acting_user(request),
        response_hours=payload.response_hours if payload is not None else 48,
        trigger=DispatchTrigger.OPERATOR,
    )
    return Status(201, run_out(run))


# -- offers (OPCs) ---------------------------------------------------------------------------------------------


@router.get("/offers", response={200: OfferPage, **ERRORS}, summary="Orders dispatched to you (OPCs)")
def offers(request: HttpRequest, filters: Query[OfferFilter]) -> OfferPage:
    org = caller_org(request)
    if org.kind != OrgKind.OPC:
        raise NotPermitted(_("Only OPCs receive dispatch offers."))
    qs = _offers().filter(opc=org).order_by("-created_at", "-id")
    if filters.status:
        qs = qs.filter(status=filters.status)
    items = [offer_out(o) for o in qs[filters.offset : filters.offset + filters.limit]]
    return OfferPage(count=qs.count(), limit=filters.limit, offset=filters.offset, items=items)


@router.post(
    "/offers/{int:offer_id}/respond",
    response={200: OfferOut, **WRITE},
    summary="Accept or decline a dispatch offer (the offered OPC)",
)
def respond(request: HttpRequest, payload: RespondIn, offer_id: int = Path(..., ge=1, le=MAX_ID)) -> OfferOut:
    """Before ``expires_at``. Accepting places a bid on the order (the client then awards it with
    milestones, like any bid); a decline dispatches the order to the next best OPC."""
    org = caller_org(request)
    offer = Offer.objects.filter(pk=offer_id, opc=org).first()
    if offer is None:
        raise NotFound()
    services.respond_to_offer(
        offer=offer,
        accept=payload.accept,
        actor=acting_user(request),
        opc=org,
        price=payload.price,
        timeline_days=payload.timeline_days,
        plan=payload.plan,
    )
    return offer_out(_offers().get(pk=offer.pk))
