"""Permission-matrix rows for the marketplace API (see ``tests/test_permission_matrix.py``).

Roles: anon opc operator other_operator other_opc authority client. ``setup`` builds, on top of the shared
world: a draft tender, an open public tender with the OPC's bid, an awarded tender (contract with the OPC)
whose milestones are pending / funded / delivered / disputed (mediated by the world's operator), an open
contest with the OPC's entry, an open direct order to the OPC and a draft direct order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from marketplace import services
from marketplace.models import Bid, ContestEntry, Contract, Dispute, Milestone, Order, OrderMode
from marketplace.services import MilestoneSpec
from marketplace.tests.conftest import category, future


@dataclass
class MarketObjects:
    draft: Order
    open_order: Order
    bid: Bid
    contract: Contract
    m_pending: Milestone
    m_funded: Milestone
    m_delivered: Milestone
    dispute: Dispute
    contest: Order
    entry: ContestEntry
    direct: Order
    direct_draft: Order


def _order(o: Any, **extra: Any) -> Order:
    w = o.world
    values: dict[str, Any] = {
        "client": w.client,
        "actor": w.client_user,
        "title": "AI 短剧宣传片",
        "category": category(),
        "budget_min": Decimal("5000"),
        "budget_max": Decimal("20000"),
        "deadline": future(30),
        "procurement_method": "inquiry",
    }
    values.update(extra)
    return services.post_order(**values)


def _publish(o: Any, order: Order, key: str = "") -> Order:
    return services.publish_order(
        order=order, client=o.world.client, actor=o.world.client_user, idempotency_key=key
    )


def setup(o: Any) -> MarketObjects:
    w = o.world
    draft = _order(o, title="草稿")
    open_order = _publish(o, _order(o, title="公开招标"))
    bid = services.submit_bid(order=open_order, opc=w.opc, actor=w.opc_user, price="9000", timeline_days=10)

    awarded = _publish(o, _order(o, title="已签约"))
    winning = services.submit_bid(order=awarded, opc=w.opc, actor=w.opc_user, price="8000", timeline_days=10)
    specs = [MilestoneSpec(title=f"M{i}", amount=Decimal("2000"), due_date=future(10 + i)) for i in range(4)]
    contract = services.award_bid(
        order=awarded, bid=winning, client=w.client, actor=w.client_user, milestones=specs
    )
    m_pending, m_funded, m_delivered, m_disputed = contract.milestones.order_by("position")
    for i, ms in enumerate((m_funded, m_delivered, m_disputed)):
        services.fund_milestone(milestone=ms, client=w.client, actor=w.client_user, idempotency_key=f"f{i}")
    services.deliver_milestone(milestone=m_delivered, opc=w.opc, actor=w.opc_user, note="交付")
    dispute = services.open_dispute(milestone=m_disputed, party=w.client, actor=w.client_user, reason="不符")

    contest = _publish(o, _order(o, title="悬赏", mode=OrderMode.CONTEST, price=Decimal("6000")), key="c")
    entry = services.submit_contest_entry(order=contest, opc=w.opc, actor=w.opc_user, description="方案")
    direct = _publish(
        o, _order(o, title="指定", mode=OrderMode.DIRECT, price=Decimal("7000"), direct_opc=w.opc)
    )
    direct_draft = _order(o, title="指定草稿", mode=OrderMode.DIRECT, price=Decimal("7000"), direct_opc=w.opc)
    for ms in (m_pending, m_funded, m_delivered):
        ms.refresh_from_db()
    return MarketObjects(
        draft=draft,
        open_order=open_order,
        bid=bid,
        contract=contract,
        m_pending=m_pending,
        m_funded=m_funded,
        m_delivered=m_delivered,
        dispute=dispute,
        contest=contest,
        entry=entry,
        direct=direct,
        direct_draft=direct_draft,
    )


def _x(o: Any) -> MarketObjects:
    extra: MarketObjects = o.extra
    return extra


M = "/api/marketplace"

#   (method, path): (path params(o) -> dict, json body(o) -> dict | None, "anon opc operator other_operator other_opc authority client")
API: dict[tuple[str, str], tuple[Any, Any, str]] = {
    ("GET", f"{M}/orders"): (None, None, "A A A A A A A"),
    ("POST", f"{M}/orders"): (
        None,
        lambda o: {
            "title": "新订单",
            "category": "ai-short-drama",
            "budget_min": "1000",
            "budget_max": "5000",
            "deadline": future(20).isoformat(),
            "procurement_method": "inquiry",  # required of the SOE client; refused (400) for an OPC
        },
        "L A F F A F A",
    ),
    ("GET", f"{M}/procurement"): (None, None, "A A A A A A A"),
    ("GET", f"{M}/orders/{{order_id}}"): (
        lambda o: {"order_id": _x(o).contract.order_id},
        None,
        "N A A N N N A",
    ),
    ("PATCH", f"{M}/orders/{{order_id}}"): (
        lambda o: {"order_id": _x(o).draft.pk},
        lambda o: {"title": "新标题"},
        "L N N N N N A",
    ),
    ("GET", f"{M}/orders/mine"): (None, None, "L A F F A F A"),
    ("GET", f"{M}/orders/overseen"): (None, None, "L F A A F F F"),
    ("POST", f"{M}/orders/{{order_id}}/publish"): (
        lambda o: {"order_id": _x(o).draft.pk},
        lambda o: {},
        "L N N N N N A",
    ),
    ("POST", f"{M}/orders/{{order_id}}/cancel"): (
        lambda o: {"order_id": _x(o).open_order.pk},
        lambda o: {"reason": "预算取消"},
        "L F F F F F A",
    ),
    # no file sent: the owner gets 422, everybody else is refused before the upload is looked at
    ("POST", f"{M}/orders/{{order_id}}/attachments"): (
        lambda o: {"order_id": _x(o).open_order.pk},
        None,
        "L F F F F F A",
    ),
    ("POST", f"{M}/orders/{{order_id}}/invitations"): (
        lambda o: {"order_id": _x(o).open_order.pk},
        lambda o: {"opc_id": o.world.other_opc.pk},
        "L F F F F F A",
    ),
    ("POST", f"{M}/orders/{{order_id}}/reassign"): (
        lambda o: {"order_id": _x(o).direct_draft.pk},
        lambda o: {"opc_id": o.world.other_opc.pk},
        "L F N N N N A",
    ),
    ("POST", f"{M}/orders/{{order_id}}/accept"): (
        lambda o: {"order_id": _x(o).direct.pk},
        None,
        "L A N N N N F",
    ),
    ("POST", f"{M}/orders/{{order_id}}/decline"): (
        lambda o: {"order_id": _x(o).direct.pk},
        lambda o: {"reason": "档期已满"},
        "L A N N N N F",
    ),
    ("GET", f"{M}/orders/{{order_id}}/bids"): (
        lambda o: {"order_id": _x(o).open_order.pk},
        None,
        "L F F F F F A",
    ),
    # the OPC already bid (409 counts as allowed); the other OPC bids; non-OPCs are refused
    ("POST", f"{M}/orders/{{order_id}}/bids"): (
        lambda o: {"order_id": _x(o).open_order.pk},
        lambda o: {"price": "8000.00", "timeline_days": 10},
        "L A F F A F F",
    ),
    ("GET", f"{M}/bids/mine"): (None, None, "L A F F A F F"),
    ("POST", f"{M}/bids/{{bid_id}}/withdraw"): (lambda o: {"bid_id": _x(o).bid.pk}, None, "L A N N N N F"),
    ("POST", f"{M}/bids/{{bid_id}}/shortlist"): (lambda o: {"bid_id": _x(o).bid.pk}, None, "L F N N N N A"),
    ("POST", f"{M}/bids/{{bid_id}}/award"): (
        lambda o: {"bid_id": _x(o).bid.pk},
        lambda o: {},
        "L F N N N N A",
    ),
    ("GET", f"{M}/orders/{{order_id}}/entries"): (
        lambda o: {"order_id": _x(o).contest.pk},
        None,
        "L F F F F F A",
    ),
    ("POST", f"{M}/orders/{{order_id}}/entries"): (
        lambda o: {"order_id": _x(o).contest.pk},
        lambda o: {"description": "方案 B"},
        "L A F F A F F",
    ),
    ("POST", f"{M}/entries/{{entry_id}}/win"): (
        lambda o: {"entry_id": _x(o).entry.pk},
        lambda o: {"idempotency_key": "matrix"},
        "L F N N N N A",
    ),
    ("GET", f"{M}/contracts"): (None, None, "L A F F A F A"),
    ("GET", f"{M}/contracts/{{contract_id}}"): (
        lambda o: {"contract_id": _x(o).contract.pk},
        None,
        "L A A N N N A",
    ),
    ("POST", f"{M}/milestones/{{milestone_id}}/fund"): (
        lambda o: {"milestone_id": _x(o).m_pending.pk},
        lambda o: {"idempotency_key": "matrix"},
        "L F N N N N A",
    ),
    ("POST", f"{M}/milestones/{{milestone_id}}/deliver"): (
        lambda o: {"milestone_id": _x(o).m_funded.pk},
        lambda o: {"note": "交付"},
        "L A N N N N F",
    ),
    ("POST", f"{M}/milestones/{{milestone_id}}/accept"): (
        lambda o: {"milestone_id": _x(o).m_delivered.pk},
        lambda o: {"idempotency_key": "matrix"},
        "L F N N N N A",
    ),
    ("POST", f"{M}/milestones/{{milestone_id}}/revision"): (
        lambda o: {"milestone_id": _x(o).m_delivered.pk},
        lambda o: {"note": "请修改片尾"},
        "L F N N N N A",
    ),
    ("POST", f"{M}/milestones/{{milestone_id}}/disputes"): (
        lambda o: {"milestone_id": _x(o).m_funded.pk},
        lambda o: {"reason": "延期"},
        "L A N N N N A",
    ),
    ("GET", f"{M}/disputes"): (None, None, "L F A A F F F"),
    ("GET", f"{M}/disputes/{{dispute_id}}"): (
        lambda o: {"dispute_id": _x(o).dispute.pk},
        None,
        "L A A N N N A",
    ),
    ("POST", f"{M}/disputes/{{dispute_id}}/decide"): (
        lambda o: {"dispute_id": _x(o).dispute.pk},
        lambda o: {"amount_to_opc": "500.00", "idempotency_key": "matrix"},
        "L F A N N N F",
    ),
    ("GET", f"{M}/notifications"): (None, None, "L A A A A A A"),
    ("POST", f"{M}/notifications/read"): (None, lambda o: {}, "L A A A A A A"),
}
