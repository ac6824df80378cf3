"""Real parallel connections against PostgreSQL: a split team release and a subcontract acceptance raced by
many callers at once take effect exactly once, and the books stay sound."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import DomainError
from marketplace import services as mkt
from marketplace.tests.test_concurrency import assert_books_sound, run_in_parallel
from teams import services
from teams.models import SubcontractStatus, TeamPayout
from teams.tests.helpers import available, awarded_team, future, team_world

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_split_release_raced_with_mixed_keys_pays_each_member_once(world, settings) -> None:
    settings.MARKETPLACE_PLATFORM_FEE_RATE = "0.05"
    t = team_world(world)
    team, contract = awarded_team(t)
    m = contract.milestones.order_by("position").first()
    mkt.fund_milestone(milestone=m, client=world.client, actor=None, idempotency_key="fund")
    mkt.deliver_milestone(milestone=m, opc=world.opc, actor=None)
    before = {o.pk: available(o) for o in (world.opc, world.other_opc, t.third)}

    results = run_in_parallel(
        lambda i: mkt.accept_milestone(
            milestone=m, client=world.client, actor=None, idempotency_key="same" if i % 2 else f"k{i}"
        ),
        count=60,
        workers=12,
    )

    failures = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, DomainError) for r in failures), failures
    assert len(failures) < len(results)
    assert TeamPayout.objects.filter(team=team, milestone=m).count() == 3
    gained = {o.pk: available(o) - before[o.pk] for o in (world.opc, world.other_opc, t.third)}
    assert sum(gained.values()) == Decimal("6000.00") - Decimal("300.00")
    assert gained[world.other_opc.pk] == Decimal("1710.00")  # 30 % of 6,000 minus 30 % of the fee
    assert gained[t.third.pk] == Decimal("1140.00")
    assert_books_sound()


def test_subcontract_acceptance_raced_pays_once(world) -> None:
    t = team_world(world)
    _team, contract = awarded_team(t, "lead")
    m = contract.milestones.order_by("position").first()
    mkt.fund_milestone(milestone=m, client=world.client, actor=None, idempotency_key="fund")
    sub = services.post_subcontract(
        contract=contract,
        upstream=world.opc,
        actor=None,
        milestone=m,
        title="片头",
        deliverable_type="video",
        price=Decimal("400"),
        deadline=future(3),
        invited=[t.third],
    )
    services.take_subcontract(sub=sub, opc=t.third, actor=None)
    services.deliver_subcontract(sub=sub, opc=t.third, actor=None, note="ok")
    mkt.deliver_milestone(milestone=m, opc=world.opc, actor=None)
    mkt.accept_milestone(milestone=m, client=world.client, actor=None, idempotency_key="a")
    before = available(t.third)
    ok = {c["key"]: True for c in sub.criteria}

    results = run_in_parallel(
        lambda i: services.review_subcontract(
            sub=sub, upstream=world.opc, actor=None, passed=ok, idempotency_key="r" if i % 3 else f"r{i}"
        ),
        count=60,
        workers=12,
    )

    assert all(isinstance(r, DomainError) for r in results if isinstance(r, BaseException))
    sub.refresh_from_db()
    assert sub.status == SubcontractStatus.PAID
    assert available(t.third) - before == Decimal("400.00")
    assert_books_sound()
