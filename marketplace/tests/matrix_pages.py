"""Permission-matrix rows for the marketplace pages (see ``tests/test_permission_matrix.py``).

Objects (``o.extra``): a community-only tender of the client in the OPC's community with the OPC's bid, a
public tender without bids, a draft, a contest with the OPC's entry, a direct order offered to the OPC, a
contract with three milestones (pending / funded / delivered) and a second contract whose milestone is
disputed (mediated by ``world.operator``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from marketplace import services
from marketplace.models import Bid, ContestEntry, Contract, Dispute, Milestone, Order, OrderMode
from marketplace.services import MilestoneSpec
from organisations.models import Skill


@dataclass
class MarketObjects:
    order: Order
    tender: Order
    draft: Order
    contest: Order
    direct: Order
    bid: Bid
    entry: ContestEntry
    contract: Contract
    pending: Milestone
    funded: Milestone
    delivered: Milestone
    dispute: Dispute


def _post(o: Any, **kwargs: Any) -> Order:
    w = o.world
    values: dict[str, Any] = {
        "client": w.client,
        "actor": w.client_user,
        "title": "矩阵订单",
        "category": Skill.objects.get(code="ai-short-drama"),
        "budget_min": Decimal("1000"),
        "budget_max": Decimal("9000"),
        "deadline": timezone.localdate() + dt.timedelta(days=30),
        "procurement_method": "inquiry",
    }
    values.update(kwargs)
    return services.post_order(**values)


def _publish(o: Any, order: Order) -> Order:
    return services.publish_order(order=order, client=o.world.client, actor=None, idempotency_key="pub")


def setup(o: Any) -> MarketObjects:
    w = o.world
    w.opc.opc_profile.capacity = 5
    w.opc.opc_profile.save()
    order = _publish(o, _post(o, title="社区短剧", visibility="community", community=w.community))
    bid = services.submit_bid(order=order, opc=w.opc, actor=None, price=Decimal("5000"), timeline_days=10)
    tender = _publish(o, _post(o, title="公开短剧"))
    draft = _post(o, title="草稿")
    contest = _publish(o, _post(o, title="悬赏", mode=OrderMode.CONTEST, price=Decimal("3000")))
    entry = services.submit_contest_entry(order=contest, opc=w.opc, actor=None, description="作品")
    direct = _publish(
        o, _post(o, title="直接", mode=OrderMode.DIRECT, direct_opc=w.opc, price=Decimal("2000"))
    )
    due = timezone.localdate() + dt.timedelta(days=20)
    work = _publish(o, _post(o, title="合同"))
    work_bid = services.submit_bid(order=work, opc=w.opc, actor=None, price=Decimal("3000"), timeline_days=10)
    contract = services.award_bid(
        order=work,
        bid=work_bid,
        client=w.client,
        actor=None,
        milestones=[MilestoneSpec(f"M{i}", Decimal("1000"), due) for i in range(1, 4)],
    )
    pending, funded, delivered = list(contract.milestones.order_by("position"))
    for n, m in enumerate((funded, delivered)):
        services.fund_milestone(milestone=m, client=w.client, actor=None, idempotency_key=f"f{n}")
    services.deliver_milestone(milestone=delivered, opc=w.opc, actor=None)
    disputed_order = _publish(o, _post(o, title="争议"))
    disputed_bid = services.submit_bid(
        order=disputed_order, opc=w.opc, actor=None, price=Decimal("1000"), timeline_days=5
    )
    second = services.award_bid(order=disputed_order, bid=disputed_bid, client=w.client, actor=None)
    milestone = second.milestones.get()
    services.fund_milestone(milestone=milestone, client=w.client, actor=None, idempotency_key="f")
    dispute = services.open_dispute(milestone=milestone, party=w.client, actor=None, reason="不符")
    return MarketObjects(
        order, tender, draft, contest, direct, bid, entry, contract, pending, funded, delivered, dispute
    )


def _pk(attr: str) -> Any:
    return lambda o: {"pk": getattr(o.extra, attr).pk}


CLIENT_ONLY = "L N F F N F A"
OPC_ONLY = "L A F F A F F"

#   name: (method, kwargs(o) -> dict, data(o) -> dict, "anon opc operator other_operator other_opc authority client")
PAGES: dict[str, tuple[str, Any, Any, str]] = {
    "marketplace:browse": ("GET", None, None, "A A A A A A A"),
    "marketplace:procurement_zone": ("GET", None, None, "A A A A A A A"),
    "marketplace:order_detail": ("GET", _pk("order"), None, "N A A N N N A"),
    "marketplace:order_recommendations": ("GET", _pk("order"), None, CLIENT_ONLY),
    "marketplace:my_orders": ("GET", None, None, "L A F F A F A"),
    "marketplace:order_post": ("GET", None, None, "L A F F A F A"),
    "marketplace:acceptance_template": ("GET", None, None, "L A A A A A A"),
    "marketplace:order_edit": ("GET", _pk("draft"), None, CLIENT_ONLY),
    "marketplace:order_publish": ("POST", _pk("draft"), None, CLIENT_ONLY),
    "marketplace:order_cancel": ("POST", _pk("draft"), lambda o: {"reason": "不要了"}, CLIENT_ONLY),
    "marketplace:order_attach": ("POST", _pk("draft"), None, CLIENT_ONLY),
    "marketplace:order_invite": ("POST", _pk("draft"), lambda o: {"opc": o.world.opc.pk}, CLIENT_ONLY),
    "marketplace:direct_reassign": (
        "POST",
        _pk("direct"),
        lambda o: {"opc": o.world.other_opc.pk},
        CLIENT_ONLY,
    ),
    "marketplace:bid_shortlist": ("POST", _pk("bid"), None, CLIENT_ONLY),
    "marketplace:bid_award": ("GET", _pk("bid"), None, CLIENT_ONLY),
    "marketplace:entry_pick": ("POST", _pk("entry"), lambda o: {"idempotency_key": "pick"}, CLIENT_ONLY),
    "marketplace:bid_submit": (
        "POST",
        _pk("tender"),
        lambda o: {"price": "3000", "timeline_days": "7"},
        OPC_ONLY,
    ),
    "marketplace:bid_withdraw": ("POST", _pk("bid"), None, "L A F F N F F"),
    "marketplace:entry_submit": ("POST", _pk("contest"), lambda o: {"description": "作品"}, OPC_ONLY),
    "marketplace:direct_accept": ("POST", _pk("direct"), None, "L A F F N F F"),
    "marketplace:direct_decline": ("POST", _pk("direct"), None, "L A F F N F F"),
    "marketplace:my_bids": ("GET", None, None, OPC_ONLY),
    "marketplace:my_contracts": ("GET", None, None, "L A F F A F A"),
    "marketplace:contract_detail": ("GET", _pk("contract"), None, "L A N N N N A"),
    "marketplace:milestone_fund": (
        "POST",
        _pk("pending"),
        lambda o: {"idempotency_key": "fx"},
        "L F N N N N A",
    ),
    "marketplace:milestone_deliver": ("POST", _pk("funded"), lambda o: {"note": "好了"}, "L A N N N N F"),
    "marketplace:milestone_accept": (
        "POST",
        _pk("delivered"),
        lambda o: {"idempotency_key": "ax"},
        "L F N N N N A",
    ),
    "marketplace:milestone_revision": ("POST", _pk("delivered"), lambda o: {"note": "改"}, "L F N N N N A"),
    "marketplace:dispute_open": ("POST", _pk("delivered"), lambda o: {"reason": "不符"}, "L A N N N N A"),
    "marketplace:disputes": ("GET", None, None, "L F A A F F F"),
    "marketplace:dispute_decide": ("GET", _pk("dispute"), None, "L F A N F F F"),
    "marketplace:operator_orders": ("GET", None, None, "L F A A F F F"),
    "marketplace:notifications": ("GET", None, None, "L A A A A A A"),
    "marketplace:notifications_read": ("POST", None, None, "L A A A A A A"),
}
