"""Recommendations, batch dispatch and offers over the marketplace (needs "dispatch" in INSTALLED_APPS)."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest
from django.apps import apps

if not apps.is_installed("dispatch"):
    pytest.skip("'dispatch' is not in INSTALLED_APPS yet", allow_module_level=True)

from django.utils import timezone

from core.errors import InvalidTransition, NotPermitted
from core.testing import World, make_org, make_user
from dispatch import services, tasks
from dispatch.models import DispatchRun, DispatchTrigger, Offer, OfferStatus
from marketplace.models import Notification, Order
from marketplace.tests.conftest import category, open_tender
from organisations.capabilities import OrgKind
from organisations.models import Organisation, Skill


def set_profile(org: Organisation, *, skills: list[Skill], capacity: int = 2, **fields: object) -> None:
    profile = org.opc_profile
    profile.capacity = capacity
    for k, v in fields.items():
        setattr(profile, k, v)
    profile.save()
    profile.skills.set(skills)


@pytest.fixture
def market(world: World) -> list[Organisation]:
    """Three OPCs doing AI short drama (capacity 1 each) and one that does something else."""
    drama = category()
    design, _ = Skill.objects.get_or_create(code="design", defaults={"name_zh": "设计", "name_en": "Design"})
    third = make_org(OrgKind.OPC, "第三工作室", make_user("third"), community=world.community, verified=True)
    misfit = make_org(OrgKind.OPC, "设计小组", make_user("misfit"))
    set_profile(world.opc, skills=[drama], capacity=1, rate_min=Decimal("8000"), rate_max=Decimal("15000"))
    set_profile(world.other_opc, skills=[drama, design], capacity=1)
    set_profile(third, skills=[drama], capacity=1, rate_min=Decimal("100000"), rate_max=Decimal("200000"))
    set_profile(misfit, skills=[design], capacity=3)
    return [world.opc, world.other_opc, third, misfit]


def test_recommendations_are_ranked_and_explained(world: World, market: list[Organisation]) -> None:
    order = open_tender(world)
    recs = services.recommend_for_order(order=order, limit=10)
    ids = [r.opc.pk for r in recs]
    assert set(ids) == {market[0].pk, market[1].pk, market[2].pk}  # the misfit lacks the category skill
    assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)
    for r in recs:
        assert math.isclose(sum(r.explanation.values()), r.score, abs_tol=1e-9)
    # the OPC priced far above the budget ranks last
    assert ids[-1] == market[2].pk
    assert len(services.recommend_for_order(order=order, limit=1)) == 1


def test_batch_dispatch_respects_capacity_and_creates_offers(
    world: World, market: list[Organisation]
) -> None:
    orders = [open_tender(world, title=f"短剧 {i}") for i in range(4)]
    run = services.run_batch_dispatch(actor=world.operator_user, response_hours=24)
    assert run.trigger == DispatchTrigger.OPERATOR and run.finished_at is not None
    assert run.orders_considered == 4
    offers = list(Offer.objects.filter(run=run))
    assert run.assignments == len(offers) == 3  # three capable OPCs with one free slot each
    assert len({o.opc_id for o in offers}) == 3 and len({o.order_id for o in offers}) == 3
    assert {o.order_id for o in offers} <= {o.pk for o in orders}
    assert math.isclose(run.total_score, sum(o.score for o in offers), rel_tol=1e-9)
    for offer in offers:
        assert offer.status == OfferStatus.PENDING
        assert offer.expires_at == run.started_at + dt.timedelta(hours=24)
        assert math.isclose(sum(offer.explanation.values()), offer.score, abs_tol=1e-5)
    assert Notification.objects.filter(kind="dispatch.offer").count() == 3
    # nothing is offered twice: a second run finds no free OPC for the fourth order
    again = services.run_batch_dispatch()
    assert again.trigger == DispatchTrigger.SCHEDULE and again.assignments == 0
    assert again.orders_considered == 1


def test_decline_redispatches_to_another_opc(world: World, market: list[Organisation]) -> None:
    order = open_tender(world)
    services.run_batch_dispatch()
    first = Offer.objects.get(order=order)
    with pytest.raises(NotPermitted):
        services.respond_to_offer(offer=first, accept=False, actor=None, opc=world.client)
    services.respond_to_offer(offer=first, accept=False, actor=None, opc=first.opc)
    first.refresh_from_db()
    assert first.status == OfferStatus.DECLINED
    second = Offer.objects.get(order=order, status=OfferStatus.PENDING)
    assert second.opc_id != first.opc_id
    assert second.run.trigger == DispatchTrigger.REDISPATCH
    with pytest.raises(InvalidTransition):
        services.respond_to_offer(offer=first, accept=True, actor=None)


def test_accept_notifies_the_client_and_keeps_the_slot(world: World, market: list[Organisation]) -> None:
    order = open_tender(world)
    services.run_batch_dispatch()
    offer = Offer.objects.get(order=order)
    services.respond_to_offer(offer=offer, accept=True, actor=None, opc=offer.opc)
    offer.refresh_from_db()
    assert offer.status == OfferStatus.ACCEPTED
    assert Notification.objects.filter(recipient=world.client, kind="dispatch.accepted").exists()
    # an accepted offer still holds the OPC's only slot and the order is not dispatched again
    open_tender(world, title="另一个")
    run = services.run_batch_dispatch()
    assert run.orders_considered == 1
    assert not Offer.objects.filter(run=run, opc=offer.opc).exists()


def test_timeout_expires_and_redispatches(world: World, market: list[Organisation]) -> None:
    order = open_tender(world)
    services.run_batch_dispatch(response_hours=1)
    first = Offer.objects.get(order=order)
    assert services.expire_offers() == 0
    later = timezone.now() + dt.timedelta(hours=2)
    with pytest.raises(InvalidTransition):
        Offer.objects.filter(pk=first.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        services.respond_to_offer(offer=first, accept=True, actor=None)
    assert services.expire_offers(now=later) == 1
    first.refresh_from_db()
    assert first.status == OfferStatus.EXPIRED
    nxt = Offer.objects.get(order=order, status=OfferStatus.PENDING)
    assert nxt.opc_id != first.opc_id


def test_community_orders_go_only_to_members(world: World, market: list[Organisation]) -> None:
    order = open_tender(world, visibility="community", community=world.community)
    recs = services.recommend_for_order(order=order)
    assert {r.opc.home_community_id for r in recs} == {world.community.pk}
    assert isinstance(order, Order)


def test_tasks_run_inline(world: World, market: list[Organisation]) -> None:
    open_tender(world)
    result = tasks.run_batch_dispatch.enqueue()
    run = DispatchRun.objects.get(pk=result.return_value)
    assert run.assignments == 1
    assert tasks.expire_offers.enqueue().return_value == 0
