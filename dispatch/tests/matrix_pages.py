"""Permission-matrix rows for the dispatch pages (see ``tests/test_permission_matrix.py``).

Objects (``o.extra``): a public open tender, one dispatch run and a pending offer of that order to the OPC."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from dispatch.models import DispatchRun, Offer
from marketplace import services
from organisations.models import Skill


@dataclass
class DispatchObjects:
    run: DispatchRun
    offer: Offer


def setup(o: Any) -> DispatchObjects:
    w = o.world
    order = services.post_order(
        client=w.client,
        actor=None,
        title="派单短剧",
        category=Skill.objects.get(code="ai-short-drama"),
        budget_min=Decimal("1000"),
        budget_max=Decimal("9000"),
        deadline=timezone.localdate() + dt.timedelta(days=30),
        procurement_method="inquiry",
    )
    services.publish_order(order=order, client=w.client, actor=None)
    run = DispatchRun.objects.create(method="test", orders_considered=1, opcs_considered=1, assignments=1)
    offer = Offer.objects.create(
        order=order,
        opc=w.opc,
        run=run,
        score=0.5,
        explanation={"coverage": 0.3, "reputation": 0.2},
        expires_at=timezone.now() + dt.timedelta(hours=48),
    )
    return DispatchObjects(run, offer)


#   name: (method, kwargs(o) -> dict, data(o) -> dict, "anon opc operator other_operator other_opc authority client")
PAGES: dict[str, tuple[str, Any, Any, str]] = {
    "dispatch:runs": ("GET", None, None, "L F A A F F F"),
    "dispatch:run_now": ("POST", None, None, "L F A A F F F"),
    "dispatch:run_detail": ("GET", lambda o: {"pk": o.extra.run.pk}, None, "L F A A F F F"),
    "dispatch:my_offers": ("GET", None, None, "L A F F A F F"),
    "dispatch:offer_respond": (
        "POST",
        lambda o: {"pk": o.extra.offer.pk},
        lambda o: {"decision": "decline"},
        "L A N N N N N",
    ),
}
