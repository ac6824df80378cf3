"""Permission-matrix rows for the dispatch API (see ``tests/test_permission_matrix.py``).

``setup``: the OPC does AI short drama; the client has an open public tender; a batch run has offered it to
the OPC (a pending offer).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dispatch import services
from dispatch.models import Offer
from marketplace import services as mkt
from marketplace.models import Order
from marketplace.tests.conftest import category, future
from organisations.models import OPCProfile


@dataclass
class DispatchObjects:
    order: Order
    offer: Offer


def setup(o: Any) -> DispatchObjects:
    w = o.world
    profile = OPCProfile.objects.get(organisation=w.opc)
    profile.skills.set([category()])
    order = mkt.post_order(
        client=w.client,
        actor=w.client_user,
        title="AI 短剧宣传片",
        category=category(),
        budget_min=Decimal("5000"),
        budget_max=Decimal("20000"),
        deadline=future(30),
        procurement_method="inquiry",
    )
    mkt.publish_order(order=order, client=w.client, actor=w.client_user)
    services.run_batch_dispatch(actor=w.operator_user, response_hours=24)
    return DispatchObjects(order=order, offer=Offer.objects.get(order=order, opc=w.opc))


D = "/api/dispatch"

#   (method, path): (path params(o) -> dict, json body(o) -> dict | None, "anon opc operator other_operator other_opc authority client")
API: dict[tuple[str, str], tuple[Any, Any, str]] = {
    ("GET", f"{D}/orders/{{order_id}}/recommendations"): (
        lambda o: {"order_id": o.extra.order.pk},
        None,
        "L F F F F F A",
    ),
    ("GET", f"{D}/runs"): (None, None, "L F A A F F F"),
    ("POST", f"{D}/runs"): (None, lambda o: {"response_hours": 24}, "L F A A F F F"),
    ("GET", f"{D}/offers"): (None, None, "L A F F A F F"),
    ("POST", f"{D}/offers/{{offer_id}}/respond"): (
        lambda o: {"offer_id": o.extra.offer.pk},
        lambda o: {"accept": False},
        "L A N N N N N",
    ),
}
