"""Recommendations and batch dispatch over the marketplace (Django glue around ``dispatch.engine``).

* ``recommend_for_order`` — the ranked, explained OPCs for one open order (the client can invite from it).
* ``run_batch_dispatch`` — assigns many open tender orders to OPCs at once (maximum total score under every
  OPC's free capacity) and turns each assignment into a pending ``Offer`` with a response deadline.
* ``respond_to_offer`` / ``expire_offers`` — an OPC accepts or declines; a decline or a timeout re-dispatches
  the order to the next best OPC (never again to one that declined or let it expire).

What the engine is fed (``opc_records``): the taxonomy index of each skill (by ``Skill.position``), capacity
and rate range from ``OPCProfile``; *load* = active contracts + pending/accepted offers on orders not yet
awarded; *experience* = completed contracts per order category; *reputation* = completed / (completed +
cancelled) contracts, unknown (engine prior) without any (there are no reviews yet); *exposure* = offers
received in the last ``EXPOSURE_WINDOW``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from accounts.models import User
from audit.services import record_audit
from core.errors import InvalidTransition, NotPermitted
from dispatch import engine
from dispatch.models import DispatchRun, DispatchTrigger, Offer, OfferStatus
from marketplace import services as mkt
from marketplace.models import (
    Bid,
    BidStatus,
    Contract,
    ContractStatus,
    Order,
    OrderMode,
    OrderStatus,
    Visibility,
)
from marketplace.services import notify
from organisations.capabilities import OrgKind
from organisations.models import OPCProfile, Organisation, Skill, VerificationStatus

EXPOSURE_WINDOW = dt.timedelta(days=30)
BATCH_METHOD = "top-k+lapjvsp"

OFFER_TRANSITIONS: dict[str, set[str]] = {
    OfferStatus.PENDING: {
        OfferStatus.ACCEPTED,
        OfferStatus.DECLINED,
        OfferStatus.EXPIRED,
        OfferStatus.WITHDRAWN,
    },
    OfferStatus.ACCEPTED: set(),
    OfferStatus.DECLINED: set(),
    OfferStatus.EXPIRED: set(),
    OfferStatus.WITHDRAWN: set(),
}
OPEN_OFFER_STATES = (OfferStatus.PENDING, OfferStatus.ACCEPTED)


def _order_link(order_id: int) -> str:
    return reverse("marketplace:order_detail", args=[order_id])


@dataclass(frozen=True)
class Recommendation:
    opc: Organisation
    score: float
    explanation: dict[str, float]  # factor → contribution; sums to ``score``


# --------------------------------------------------------------------------------------------------------
# Feeding the engine
# --------------------------------------------------------------------------------------------------------


def skill_index() -> dict[int, int]:
    """Skill pk → engine skill index (taxonomy order; the engine takes at most 32 skills)."""
    ids = list(Skill.objects.order_by("position", "code").values_list("pk", flat=True))
    return {pk: i for i, pk in enumerate(ids[: engine.MAX_SKILLS])}


def _counts(rows: Iterable[Any], key: str) -> dict[int, int]:
    return {r[key]: r["n"] for r in rows}


def opc_records(
    skills: dict[int, int], *, now: dt.datetime | None = None, holding: int | None = None
) -> list[engine.OPC]:
    """Every OPC with a profile, as engine records (id = organisation pk).

    ``holding`` (a skill pk) keeps only the OPCs holding that skill: for one order the engine ignores every
    OPC without the order's category, so recommendations read (and aggregate over) the few that have it.
    Plain rows (``values_list``) and one query on the profile–skill table: no model instances."""
    now = now or timezone.now()
    profiles = OPCProfile.objects.filter(organisation__kind=OrgKind.OPC)
    if holding is not None:
        profiles = profiles.filter(
            pk__in=OPCProfile.skills.through.objects.filter(skill_id=holding).values("opcprofile_id")
        )
    rows = list(
        profiles.order_by("organisation_id").values_list(
            "pk",
            "organisation_id",
            "capacity",
            "rate_min",
            "rate_max",
            "organisation__verification_status",
            "organisation__home_community_id",
        )
    )
    if not rows:
        return []
    held: dict[int, set[int]] = defaultdict(set)
    links = OPCProfile.skills.through.objects.filter(opcprofile_id__in=profiles.values("pk"))
    for profile_id, skill_id in links.values_list("opcprofile_id", "skill_id"):
        if skill_id in skills:
            held[profile_id].add(skills[skill_id])

    def of_these(qs: Any, field: str = "opc") -> Any:
        if holding is None:
            return qs
        return qs.filter(**{f"{field}__in": profiles.values("organisation_id")})

    active = _counts(
        of_these(Contract.objects.filter(status=ContractStatus.ACTIVE)).values("opc").annotate(n=Count("id")),
        "opc",
    )
    offered = _counts(
        of_these(Offer.objects.filter(status__in=OPEN_OFFER_STATES, order__status=OrderStatus.OPEN))
        .values("opc")
        .annotate(n=Count("id")),
        "opc",
    )
    exposure = _counts(
        of_these(Offer.objects.filter(created_at__gte=now - EXPOSURE_WINDOW))
        .values("opc")
        .annotate(n=Count("id")),
        "opc",
    )
    experience: dict[int, dict[int, int]] = defaultdict(dict)
    completed: dict[int, int] = defaultdict(int)
    for row in (
        of_these(Contract.objects.filter(status=ContractStatus.COMPLETED))
        .values("opc", "order__category")
        .annotate(n=Count("id"))
    ):
        completed[row["opc"]] += row["n"]
        if row["order__category"] in skills:
            experience[row["opc"]][skills[row["order__category"]]] = row["n"]
    cancelled = _counts(
        of_these(Contract.objects.filter(status=ContractStatus.CANCELLED))
        .values("opc")
        .annotate(n=Count("id")),
        "opc",
    )
    out = []
    for profile_id, org_id, capacity, rate_min, rate_max, verification, community in rows:
        done, failed = completed.get(org_id, 0), cancelled.get(org_id, 0)
        out.append(
            engine.OPC(
                id=org_id,
                skills=frozenset(held.get(profile_id, ())),
                capacity=capacity,
                active=active.get(org_id, 0) + offered.get(org_id, 0),
                rate_min=float(rate_min) if rate_min is not None else None,
                rate_max=float(rate_max) if rate_max is not None else None,
                reputation=done / (done + failed) if done + failed else None,
                experience=dict(experience.get(org_id, {})),
                completed=done,
                verified=verification == VerificationStatus.VERIFIED,
                community=community,
                exposure=exposure.get(org_id, 0),
            )
        )
    return out


def order_record(order: Order, skills: dict[int, int], opcs: Sequence[engine.OPC]) -> engine.Order | None:
    """The engine form of an order; None when its category is outside the taxonomy index.

    Excluded: the client itself, OPCs that already had an offer for it (declined, expired, withdrawn or
    open), and OPCs the order's visibility hides it from."""
    if order.category_id not in skills:
        return None
    excluded = {order.client_id}
    excluded.update(order.dispatch_offers.values_list("opc_id", flat=True))
    if order.visibility == Visibility.COMMUNITY:
        excluded.update(o.id for o in opcs if order.community_id is None or o.community != order.community_id)
    elif order.visibility == Visibility.INVITED:
        invited = set(order.invited_opcs.values_list("pk", flat=True))
        excluded.update(o.id for o in opcs if o.id not in invited)
    return engine.Order(
        id=order.pk,
        category=skills[order.category_id],
        required=frozenset(skills[s.pk] for s in order.required_skills.all() if s.pk in skills),
        budget_min=float(order.budget_min),
        budget_max=float(order.budget_max),
        community=order.community_id,
        excluded=frozenset(excluded),
    )


# --------------------------------------------------------------------------------------------------------
# Recommendations
# --------------------------------------------------------------------------------------------------------


def recommend_for_order(*, order: Order, limit: int = 10) -> list[Recommendation]:
    """The ``limit`` best OPCs for an order, best first, each with its explanation."""
    skills = skill_index()
    if order.category_id not in skills:
        return []
    opcs = opc_records(skills, holding=order.category_id)
    record = order_record(order, skills, opcs)
    if record is None:
        return []
    ranked = engine.recommend(record, opcs, limit=limit, n_skills=max(len(skills), 1))
    orgs = Organisation.objects.in_bulk([r.opc_id for r in ranked])
    return [Recommendation(orgs[r.opc_id], r.score, r.explanation) for r in ranked]


# --------------------------------------------------------------------------------------------------------
# Batch dispatch
# --------------------------------------------------------------------------------------------------------


def dispatchable_orders() -> list[Order]:
    """Open tender orders with no contract and no pending or accepted offer."""
    return list(
        Order.objects.filter(status=OrderStatus.OPEN, mode=OrderMode.TENDER, contract__isnull=True)
        .exclude(dispatch_offers__status__in=OPEN_OFFER_STATES)
        .prefetch_related("required_skills")
        .order_by("pk")
    )


def _dispatch(
    orders: Sequence[Order], *, actor: User | None, response_hours: float, trigger: str
) -> DispatchRun:
    started = timezone.now()
    t0 = time.perf_counter()
    skills = skill_index()
    opcs = opc_records(skills, now=started)
    records = [r for r in (order_record(o, skills, opcs) for o in orders) if r is not None]
    run = DispatchRun.objects.create(
        method=BATCH_METHOD,
        trigger=trigger,
        triggered_by=actor if actor is not None and actor.is_authenticated else None,
        orders_considered=len(records),
        opcs_considered=len(opcs),
        started_at=started,
        params={"response_hours": response_hours},
    )
    offers: list[Offer] = []
    if records and opcs:
        pool = engine.OPCPool.from_records(opcs, max(len(skills), 1))
        batch = engine.OrderBatch.from_records(records)
        result = engine.batch_dispatch(pool, batch)
        by_order = {o.pk: o for o in orders}
        by_opc = {o.id: o for o in opcs}
        orgs = Organisation.objects.in_bulk([int(pool.ids[p]) for p in result.opc.tolist()])
        expires = started + dt.timedelta(hours=response_hours)
        for oi, pi in zip(result.order.tolist(), result.opc.tolist(), strict=True):
            record, opc = records[oi], by_opc[int(pool.ids[pi])]
            total, explanation = engine.score(record, opc)
            offers.append(
                Offer(
                    order=by_order[record.id],
                    opc=orgs[opc.id],
                    run=run,
                    score=total,
                    explanation={k: round(v, 6) for k, v in explanation.items()},
                    expires_at=expires,
                    created_at=started,
                )
            )
        Offer.objects.bulk_create(offers)
        for offer in offers:
            notify(
                recipient=offer.opc,
                kind="dispatch.offer",
                message=gettext_noop(
                    "You have been offered the order “%(order)s”; please respond by %(due)s."
                ),
                params={
                    "order": offer.order.title,
                    "due": timezone.localtime(expires).strftime("%Y-%m-%d %H:%M"),
                },
                link=_order_link(offer.order_id),
            )
    run.assignments = len(offers)
    run.total_score = float(np.sum([o.score for o in offers])) if offers else 0.0
    run.finished_at = timezone.now()
    run.params = {**run.params, "seconds": round(time.perf_counter() - t0, 4)}
    run.save(update_fields=["assignments", "total_score", "finished_at", "params"])
    record_audit(
        action="dispatch.run",
        actor=actor,
        organisation=None,
        target=run,
        summary=f"dispatch run {run.pk}: {run.assignments} offers for {run.orders_considered} orders",
        changes={"trigger": trigger, "assignments": run.assignments, "total_score": run.total_score},
    )
    return run


@transaction.atomic
def run_batch_dispatch(
    *, actor: User | None = None, response_hours: float = 48, trigger: str = DispatchTrigger.SCHEDULE
) -> DispatchRun:
    """Dispatch every dispatchable order at once; each assignment becomes a pending offer."""
    if response_hours <= 0:
        raise ValueError("response_hours must be positive")
    if actor is not None and trigger == DispatchTrigger.SCHEDULE:
        trigger = DispatchTrigger.OPERATOR
    return _dispatch(dispatchable_orders(), actor=actor, response_hours=response_hours, trigger=trigger)


def _redispatch(order_ids: Iterable[int], *, actor: User | None, response_hours: float) -> DispatchRun | None:
    ids = set(order_ids)
    orders = [o for o in dispatchable_orders() if o.pk in ids]
    if not orders:
        return None
    return _dispatch(orders, actor=actor, response_hours=response_hours, trigger=DispatchTrigger.REDISPATCH)


def _set_offer_status(offer: Offer, target: str, *, actor: User | None, now: dt.datetime) -> None:
    if target not in OFFER_TRANSITIONS[offer.status]:
        raise InvalidTransition(_("This offer can no longer be answered."))
    offer.status = target
    offer.responded_at = now
    offer.responded_by = actor if actor is not None and actor.is_authenticated else None
    offer.save(update_fields=["status", "responded_at", "responded_by"])
    record_audit(
        action=f"dispatch.offer_{target}",
        actor=actor,
        organisation=offer.opc,
        target=offer,
        summary=f"offer {offer.pk} ({offer.order_id} → {offer.opc_id}): {target}",
        changes={"status": target},
    )


def default_bid_terms(order: Order, *, today: dt.date | None = None) -> tuple[Decimal, int]:
    """The bid an accepted offer places when the OPC names no terms: the middle of the client's budget
    range (to the fen) and the days left until the order's deadline (at least one)."""
    today = today or timezone.localdate()
    price = ((order.budget_min + order.budget_max) / 2).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if price <= 0:
        price = order.budget_max
    return price, max(1, min(3650, (order.deadline - today).days))


@transaction.atomic
def respond_to_offer(
    *,
    offer: Offer,
    accept: bool,
    actor: User | None,
    opc: Organisation | None = None,
    response_hours: float = 48,
    price: Decimal | str | int | None = None,
    timeline_days: int | None = None,
    plan: str = "",
) -> Offer:
    """The offered OPC accepts or declines.  A decline re-dispatches the order; answering after the deadline
    is refused (the offer expires).

    Accepting turns the offer into real work the marketplace already knows: the OPC joins the order's
    invited OPCs and places a **bid** (``price`` / ``timeline_days`` / ``plan``, by default the middle of the
    budget and the days left to the deadline) through ``marketplace.services.submit_bid``; the client then
    awards it like any other bid, with milestones. (A dispatcher never awards on the client's behalf: the
    price and the milestones stay the client's decision.) An OPC at full capacity cannot accept; an OPC that
    had already bid keeps its bid. Any refusal of the bid leaves the offer pending."""
    offer = Offer.objects.select_for_update().select_related("order", "opc").get(pk=offer.pk)
    if opc is not None and opc.pk != offer.opc_id:
        raise NotPermitted(_("This offer was made to another OPC."))
    now = timezone.now()
    if offer.status == OfferStatus.PENDING and offer.expires_at <= now:
        raise InvalidTransition(_("The time to answer this offer has passed."))
    _set_offer_status(offer, OfferStatus.ACCEPTED if accept else OfferStatus.DECLINED, actor=actor, now=now)
    if accept:
        order = offer.order
        if order.status != OrderStatus.OPEN:
            raise InvalidTransition(_("This order is no longer open."))
        mkt.check_capacity(offer.opc)
        if not order.invited_opcs.filter(pk=offer.opc_id).exists():
            order.invited_opcs.add(offer.opc)
        existing = Bid.objects.filter(order=order, opc=offer.opc).first()
        if existing is None:
            default_price, default_days = default_bid_terms(order)
            mkt.submit_bid(
                order=order,
                opc=offer.opc,
                actor=actor,
                price=default_price if price in (None, "") else price,
                timeline_days=default_days if timeline_days is None else timeline_days,
                plan=plan,
            )
        elif existing.status not in (BidStatus.SUBMITTED, BidStatus.SHORTLISTED):
            raise InvalidTransition(
                _("Your bid on this order was withdrawn or closed; it cannot be renewed.")
            )
        notify(
            recipient=order.client,
            kind="dispatch.accepted",
            message=gettext_noop("%(opc)s accepted the dispatched order “%(order)s”."),
            params={"opc": offer.opc.name, "order": order.title},
            link=_order_link(order.pk),
        )
    else:
        _redispatch([offer.order_id], actor=actor, response_hours=response_hours)
    return offer


@transaction.atomic
def expire_offers(*, now: dt.datetime | None = None, response_hours: float = 48) -> int:
    """Expire the pending offers past their deadline and re-dispatch their orders; returns how many."""
    now = now or timezone.now()
    due = list(
        Offer.objects.select_for_update()
        .select_related("opc")
        .filter(Q(status=OfferStatus.PENDING) & Q(expires_at__lte=now))
    )
    for offer in due:
        _set_offer_status(offer, OfferStatus.EXPIRED, actor=None, now=now)
    if due:
        _redispatch({o.order_id for o in due}, actor=None, response_hours=response_hours)
    return len(due)
