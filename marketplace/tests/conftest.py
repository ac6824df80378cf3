"""Marketplace test helpers on top of the shared test world (``core.testing``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone, translation

from core.testing import World
from ledger.models import Account
from marketplace import services
from marketplace.models import Bid, Contract, Milestone, Order, OrderMode
from organisations.models import Skill


@pytest.fixture(autouse=True)
def english() -> Any:
    """The marketplace tests match English messages; the site's default language is zh-hans."""
    with translation.override("en"):
        yield


def future(days: int = 30) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=days)


def balance(account: Account | None) -> Decimal:
    assert account is not None
    account.refresh_from_db()
    return account.balance


def category() -> Skill:
    """The AI short-drama category (created again after a transactional test flushed the taxonomy)."""
    skill, _created = Skill.objects.get_or_create(
        code="ai-short-drama", defaults={"name_zh": "AI短剧", "name_en": "AI short drama"}
    )
    return skill


def make_order(world: World, **overrides: Any) -> Order:
    values: dict[str, Any] = {
        "client": world.client,
        "actor": world.client_user,
        "title": "AI 短剧宣传片",
        "category": category(),
        "budget_min": Decimal("5000"),
        "budget_max": Decimal("20000"),
        "deadline": future(),
        "procurement_method": "inquiry" if overrides.get("client", world.client) == world.client else "",
    }
    values.update(overrides)
    return services.post_order(**values)


def open_tender(world: World, **overrides: Any) -> Order:
    order = make_order(world, **overrides)
    return services.publish_order(order=order, client=order.client, actor=world.client_user)


def bid(world: World, order: Order, price: str = "10000.00", opc: Any = None) -> Bid:
    return services.submit_bid(
        order=order, opc=opc or world.opc, actor=world.opc_user, price=Decimal(price), timeline_days=20
    )


def awarded(world: World, price: str = "10000.00", milestones: Any = None) -> Contract:
    order = open_tender(world)
    b = bid(world, order, price)
    return services.award_bid(
        order=order, bid=b, client=world.client, actor=world.client_user, milestones=milestones
    )


def first_milestone(contract: Contract) -> Milestone:
    return contract.milestones.order_by("position").first()  # type: ignore[return-value]


def funded(world: World, price: str = "10000.00") -> tuple[Contract, Milestone]:
    contract = awarded(world, price)
    milestone = services.fund_milestone(
        milestone=first_milestone(contract),
        client=world.client,
        actor=world.client_user,
        idempotency_key="f1",
    )
    return contract, milestone


def delivered(world: World, price: str = "10000.00") -> tuple[Contract, Milestone]:
    contract, milestone = funded(world, price)
    milestone = services.deliver_milestone(
        milestone=milestone, opc=world.opc, actor=world.opc_user, note="done"
    )
    return contract, milestone


@pytest.fixture
def contest(world: World) -> Order:
    order = make_order(world, mode=OrderMode.CONTEST, price=Decimal("8000"))
    return services.publish_order(
        order=order, client=world.client, actor=world.client_user, idempotency_key="pub"
    )
