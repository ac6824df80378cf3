"""Team bids, splits, awards, split releases and subcontracts through the services."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import Conflict, DomainError, InvalidTransition, NotPermitted
from marketplace import services as mkt
from marketplace.models import Bid, BidStatus
from teams import selectors, services
from teams.models import MemberStatus, SubcontractStatus, TeamPayout, TeamStatus
from teams.tests.helpers import (
    available,
    awarded_team,
    formed_team,
    future,
    member,
    release_first,
    split_evenly,
    team_world,
)

pytestmark = pytest.mark.django_db


def test_proposal_covers_every_role_and_shows_method(world):
    t = team_world(world)
    result = selectors.propose_for_order(t.order, {t.drama.pk: 1, t.voice.pk: 1, t.design.pk: 1})
    assert result.feasible
    assert result.proposal.method == "exact"
    seats = {(s["opc"].pk, s["skill"].code) for s in result.seats}
    assert (world.opc.pk, "ai-short-drama") in seats
    assert (t.third.pk, "design") in seats
    # third covers design and voice more cheaply than other_opc's voice + one more member fee
    assert {s["skill"].code for s in result.seats} == {"ai-short-drama", "voice", "design"}


def test_infeasible_request_is_explained(world):
    t = team_world(world)
    from teams.tests.helpers import skill

    nobody = skill("copyright", "版权", "Copyright")
    result = selectors.propose_for_order(t.order, {nobody.pk: 1, t.voice.pk: 5})
    assert not result.feasible
    text = " ".join(result.problems)
    assert "Nobody on the platform offers" in text
    assert "needs 5 people" in text


def test_busy_holders_are_explained(world):
    t = team_world(world)
    from teams.tests.helpers import profile

    profile(world.opc, [t.drama], "6000", capacity=0)
    result = selectors.propose_for_order(t.order, {t.drama.pk: 1})
    assert not result.feasible
    assert "full capacity" in result.problems[0]


def test_submit_needs_acceptance_and_fresh_signatures(world):
    t = team_world(world)
    team = formed_team(t)
    with pytest.raises(InvalidTransition):
        services.submit_team_bid(team=team, pm=world.opc, actor=None)
    team = ready_team_from(t, team)
    # a change of the split makes the signatures stale
    split_evenly(t, team)
    team.refresh_from_db()
    with pytest.raises(InvalidTransition, match="has not signed"):
        services.submit_team_bid(team=team, pm=world.opc, actor=None)
    with pytest.raises(Conflict):
        services.sign_split(
            member=member(team, world.other_opc),
            opc=world.other_opc,
            actor=None,
            version=team.split_version - 1,
        )
    for org in (world.other_opc, t.third):
        services.sign_split(member=member(team, org), opc=org, actor=None, version=team.split_version)
    bid = services.submit_team_bid(team=team, pm=world.opc, actor=None)
    assert bid.price == Decimal("10000.00") and bid.opc == world.opc
    team.refresh_from_db()
    assert team.status == TeamStatus.SUBMITTED


def ready_team_from(t, team):
    services.invite_members(team=team, pm=t.w.opc, actor=None)
    for org in (t.w.other_opc, t.third):
        services.respond_invitation(member=member(team, org), opc=org, actor=None, accept=True)
    split_evenly(t, team)
    team.refresh_from_db()
    for org in (t.w.other_opc, t.third):
        services.sign_split(member=member(team, org), opc=org, actor=None, version=team.split_version)
    return team


def test_split_must_add_up(world):
    t = team_world(world)
    team = formed_team(t)
    ms = team.milestones.order_by("position").first()
    with pytest.raises(DomainError, match="add up"):
        services.set_split(
            team=team, pm=world.opc, actor=None, shares={(member(team, world.opc).pk, ms.pk): Decimal("1")}
        )
    with pytest.raises(NotPermitted):
        split_evenly_as(t, team, world.other_opc)


def split_evenly_as(t, team, org):
    services.set_split(team=team, pm=org, actor=None, shares={})


def test_decline_then_reinvite(world):
    t = team_world(world)
    team = formed_team(t)
    services.invite_members(team=team, pm=world.opc, actor=None)
    m = services.respond_invitation(member=member(team, t.third), opc=t.third, actor=None, accept=False)
    assert m.status == MemberStatus.DECLINED
    assert services.invite_members(team=team, pm=world.opc, actor=None) == 1
    with pytest.raises(NotPermitted):
        services.respond_invitation(
            member=member(team, t.third), opc=world.other_opc, actor=None, accept=True
        )


def test_award_as_consortium_and_release_is_split(world, settings):
    settings.MARKETPLACE_PLATFORM_FEE_RATE = "0.05"
    t = team_world(world)
    team, contract = awarded_team(t, "consortium")
    team.refresh_from_db()
    assert team.status == TeamStatus.AWARDED and team.contract_form == "consortium"
    assert [m.amount for m in contract.milestones.order_by("position")] == [
        Decimal("6000.00"),
        Decimal("4000.00"),
    ]
    before = {o.pk: available(o) for o in (world.opc, world.other_opc, t.third)}
    release_first(t, contract)
    fee = mkt.platform_fee(Decimal("6000.00"))
    assert fee == Decimal("300.00")
    gained = {o.pk: available(o) - before[o.pk] for o in (world.opc, world.other_opc, t.third)}
    assert sum(gained.values()) == Decimal("6000.00") - fee
    assert gained[world.other_opc.pk] == Decimal("1800.00") - (fee * Decimal("0.3")).quantize(Decimal("0.01"))
    assert gained[t.third.pk] == Decimal("1200.00") - (fee * Decimal("0.2")).quantize(Decimal("0.01"))
    assert TeamPayout.objects.filter(team=team).count() == 3
    # replaying the acceptance with the same key changes nothing
    m = contract.milestones.order_by("position").first()
    mkt.accept_milestone(milestone=m, client=world.client, actor=None, idempotency_key="k1")
    assert available(world.other_opc) - before[world.other_opc.pk] == gained[world.other_opc.pk]
    assert TeamPayout.objects.filter(team=team).count() == 3


def test_team_outcomes_weighted_by_share(world):
    t = team_world(world)
    _team, contract = awarded_team(t)
    for n, m in enumerate(contract.milestones.order_by("position")):
        mkt.fund_milestone(milestone=m, client=world.client, actor=None, idempotency_key=f"f{n}")
        mkt.deliver_milestone(milestone=m, opc=world.opc, actor=None)
        mkt.accept_milestone(milestone=m, client=world.client, actor=None, idempotency_key=f"a{n}")
    outcomes = selectors.team_outcomes_for([world.other_opc.pk, t.third.pk, world.opc.pk])
    assert outcomes[world.other_opc.pk] == (Decimal("0.3"), Decimal(0))
    assert outcomes[t.third.pk] == (Decimal("0.2"), Decimal(0))
    assert world.opc.pk not in outcomes  # the PM's own contract counts fully in trust already
    # ... and trust's reputation counts the members' shares as good outcomes.
    from trust.selectors import reputation_for

    reps = reputation_for([world.other_opc.pk, t.third.pk])
    assert reps[world.other_opc.pk].team_good == Decimal("0.3")
    assert reps[world.other_opc.pk].has_history
    assert reps[world.other_opc.pk].share_good == Decimal("1.000")


def test_other_teams_not_selected_and_plain_bids_rejected(world):
    t = team_world(world)
    other_bid = mkt.submit_bid(order=t.order, opc=t.third, actor=None, price=Decimal("9000"), timeline_days=5)
    _team, _contract = awarded_team_without_third(t)
    assert Bid.objects.get(pk=other_bid.pk).status == BidStatus.REJECTED


def awarded_team_without_third(t):
    w = t.w
    team = services.create_team(
        order=t.order,
        pm=w.opc,
        actor=None,
        name="二人组",
        members=[services.MemberSpec(w.other_opc, t.voice)],
        milestones=[services.TeamMilestoneSpec("全部", Decimal("8000"), future(10))],
    )
    services.invite_members(team=team, pm=w.opc, actor=None)
    services.respond_invitation(member=member(team, w.other_opc), opc=w.other_opc, actor=None, accept=True)
    ms = team.milestones.get()
    services.set_split(
        team=team,
        pm=w.opc,
        actor=None,
        shares={
            (member(team, w.opc).pk, ms.pk): Decimal("5000"),
            (member(team, w.other_opc).pk, ms.pk): Decimal("3000"),
        },
    )
    team.refresh_from_db()
    services.sign_split(
        member=member(team, w.other_opc), opc=w.other_opc, actor=None, version=team.split_version
    )
    services.submit_team_bid(team=team, pm=w.opc, actor=None)
    team.refresh_from_db()
    return team, services.award_team(team=team, client=w.client, actor=None, contract_form="lead")


# ------------------------------------------------------------------------------------------ subcontracts


def _post(t, contract, **kw):
    m = contract.milestones.order_by("position").first()
    values = dict(
        contract=contract,
        upstream=t.w.opc,
        actor=None,
        milestone=m,
        title="配音外包",
        deliverable_type="audio",
        price=Decimal("500"),
        deadline=future(5),
        invited=[t.third],
    )
    values.update(kw)
    return services.post_subcontract(**values)


def test_subcontract_accepted_against_checklist_is_paid_with_release(world):
    t = team_world(world)
    _team, contract = awarded_team_without_third(t)
    sub = _post(t, contract)
    assert [c["key"] for c in sub.criteria] == ["duration", "format", "revision_rounds", "deadline"]
    with pytest.raises(Exception):  # noqa: B017 - not visible: 404
        services.take_subcontract(sub=sub, opc=world.other_opc, actor=None)
    sub = services.take_subcontract(sub=sub, opc=t.third, actor=None)
    sub = services.deliver_subcontract(sub=sub, opc=t.third, actor=None, note="WAV 已上传")
    sub = services.review_subcontract(
        sub=sub,
        upstream=world.opc,
        actor=None,
        passed={"duration": True, "format": False},
        idempotency_key="r1",
    )
    assert sub.status == SubcontractStatus.REVISION and sub.revision_rounds_used == 1
    sub = services.deliver_subcontract(sub=sub, opc=t.third, actor=None, note="修改后")
    all_ok = {c["key"]: True for c in sub.criteria}
    sub = services.review_subcontract(
        sub=sub, upstream=world.opc, actor=None, passed=all_ok, idempotency_key="r2"
    )
    assert sub.status == SubcontractStatus.ACCEPTED
    before = available(t.third)
    m = contract.milestones.get()
    mkt.fund_milestone(milestone=m, client=world.client, actor=None, idempotency_key="f")
    mkt.deliver_milestone(milestone=m, opc=world.opc, actor=None)
    mkt.accept_milestone(milestone=m, client=world.client, actor=None, idempotency_key="a")
    sub.refresh_from_db()
    assert sub.status == SubcontractStatus.PAID
    assert available(t.third) - before == Decimal("500.00")


def test_subcontract_after_release_paid_from_available(world):
    t = team_world(world)
    _team, contract = awarded_team_without_third(t)
    m = contract.milestones.get()
    mkt.fund_milestone(milestone=m, client=world.client, actor=None, idempotency_key="f")
    sub = _post(t, contract)
    sub = services.take_subcontract(sub=sub, opc=t.third, actor=None)
    sub = services.deliver_subcontract(sub=sub, opc=t.third, actor=None, note="ok")
    mkt.deliver_milestone(milestone=m, opc=world.opc, actor=None)
    mkt.accept_milestone(milestone=m, client=world.client, actor=None, idempotency_key="a")
    sub.refresh_from_db()
    before = available(t.third)
    ok = {c["key"]: True for c in sub.criteria}
    sub = services.review_subcontract(sub=sub, upstream=world.opc, actor=None, passed=ok, idempotency_key="r")
    assert sub.status == SubcontractStatus.PAID
    assert available(t.third) - before == Decimal("500.00")
    services.review_subcontract(sub=sub, upstream=world.opc, actor=None, passed=ok, idempotency_key="r")
    assert available(t.third) - before == Decimal("500.00")


def test_forbidden_subcontracting_is_enforced(world):
    t = team_world(world)
    _team, contract = awarded_team_without_third(t)
    with pytest.raises(NotPermitted):
        services.set_subcontracting(contract=contract, client=world.opc, actor=None, allowed=False)
    services.set_subcontracting(contract=contract, client=world.client, actor=None, allowed=False)
    with pytest.raises(NotPermitted, match="forbidden"):
        _post(t, contract)
    services.set_subcontracting(contract=contract, client=world.client, actor=None, allowed=True)
    _post(t, contract)
    with pytest.raises(Conflict):
        services.set_subcontracting(contract=contract, client=world.client, actor=None, allowed=False)


def test_subcontract_price_limited_to_upstream_share(world):
    t = team_world(world)
    _team, contract = awarded_team_without_third(t)
    with pytest.raises(DomainError, match="exceeds your share"):
        _post(t, contract, price=Decimal("5000.01"))
    with pytest.raises(DomainError):
        _post(t, contract, deliverable_type="nonsense")


def test_dispute_decision_splits_the_opc_part_by_shares(world):
    t = team_world(world)
    team, contract = awarded_team(t)
    m = contract.milestones.order_by("position").first()
    mkt.fund_milestone(milestone=m, client=world.client, actor=None, idempotency_key="f")
    dispute = mkt.open_dispute(milestone=m, party=world.client, actor=None, reason="不符")
    before = {o.pk: available(o) for o in (world.opc, world.other_opc, t.third, world.client)}
    mkt.decide_dispute(
        dispute=dispute,
        operator=world.operator,
        actor=world.operator_user,
        amount_to_opc=Decimal("3000.00"),
        note="各半",
        idempotency_key="d1",
    )
    gained = {o.pk: available(o) - before[o.pk] for o in (world.opc, world.other_opc, t.third, world.client)}
    assert gained == {
        world.opc.pk: Decimal("1500.00"),
        world.other_opc.pk: Decimal("900.00"),
        t.third.pk: Decimal("600.00"),
        world.client.pk: Decimal("3000.00"),
    }
    assert TeamPayout.objects.filter(team=team, milestone=m).count() == 3
