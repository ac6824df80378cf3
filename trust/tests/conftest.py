"""Trust test helpers on top of the shared test world: contracts brought to an outcome through the real
marketplace services (post → publish → bid → award → fund → deliver → accept)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from core.testing import World
from marketplace import services as market
from marketplace.models import Contract, Milestone, Order
from marketplace.services import MilestoneSpec
from organisations.capabilities import OrgSubkind
from organisations.models import Organisation, Skill

_keys = iter(range(1, 10**9))


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Any) -> Any:
    """Uploaded files and generated PDFs go to a temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def key() -> str:
    return f"k{next(_keys)}"


def category(code: str = "ai-short-drama") -> Skill:
    skill, _created = Skill.objects.get_or_create(
        code=code, defaults={"name_zh": code, "name_en": code.replace("-", " ")}
    )
    return skill


def future(days: int = 30) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=days)


def open_order(
    world: World,
    *,
    client: Organisation | None = None,
    client_user: User | None = None,
    skill: Skill | None = None,
    budget: tuple[str, str] = ("1000", "50000"),
    **extra: Any,
) -> Order:
    client = client or world.client
    actor = client_user or world.client_user
    procurement = client.subkind in (OrgSubkind.GOVERNMENT, OrgSubkind.SOE)
    order = market.post_order(
        client=client,
        actor=actor,
        title=extra.pop("title", "AI 短剧宣传片"),
        category=skill or category(),
        budget_min=Decimal(budget[0]),
        budget_max=Decimal(budget[1]),
        deadline=future(),
        procurement_method="inquiry" if procurement else "",
        **extra,
    )
    return market.publish_order(order=order, client=client, actor=actor)


def awarded(
    world: World,
    *,
    price: str = "10000.00",
    opc: Organisation | None = None,
    opc_user: User | None = None,
    due: dt.date | None = None,
    milestones: int = 1,
    **order_kwargs: Any,
) -> Contract:
    opc = opc or world.opc
    opc_user = opc_user or world.opc_user
    order = open_order(world, **order_kwargs)
    client = order.client
    bid = market.submit_bid(order=order, opc=opc, actor=opc_user, price=Decimal(price), timeline_days=20)
    amount = Decimal(price) / milestones
    specs = [
        MilestoneSpec(title=f"阶段{n}", amount=amount, due_date=due or future())
        for n in range(1, milestones + 1)
    ]
    return market.award_bid(order=order, bid=bid, client=client, actor=None, milestones=specs)


def fund_all(contract: Contract) -> None:
    for m in contract.milestones.order_by("position"):
        market.fund_milestone(milestone=m, client=contract.client, actor=None, idempotency_key=key())


def complete(contract: Contract, *, auto: bool = False) -> Contract:
    """Fund, deliver and accept (or auto-release) every milestone: the contract is completed."""
    for m in contract.milestones.order_by("position"):
        m = market.fund_milestone(milestone=m, client=contract.client, actor=None, idempotency_key=key())
        m = market.deliver_milestone(milestone=m, opc=contract.opc, actor=None, note="交付")
        if auto:
            Milestone.objects.filter(pk=m.pk).update(delivered_at=timezone.now() - dt.timedelta(days=30))
        else:
            market.accept_milestone(milestone=m, client=contract.client, actor=None, idempotency_key=key())
    if auto:
        market.release_overdue_milestones()
    contract.refresh_from_db()
    assert contract.status == "completed", contract.status
    return contract


def completed(world: World, **kwargs: Any) -> Contract:
    auto = kwargs.pop("auto", False)
    return complete(awarded(world, **kwargs), auto=auto)


def age(contract: Contract, days: int) -> None:
    """Move a contract's outcome ``days`` into the past (closing date)."""
    Contract.objects.filter(pk=contract.pk).update(closed_at=timezone.now() - dt.timedelta(days=days))
