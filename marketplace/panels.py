"""Dashboard sections of the marketplace (``core.extensions``): what each role should act on next.

- client: its open orders and the contracts waiting for it (a milestone to fund or a delivery to accept);
- OPC: offers waiting for an answer (dispatch offers and direct orders), active contracts, open orders that
  match its skills;
- operator: open disputes to mediate and the "batch dispatch now" button.
"""

from __future__ import annotations

from typing import Any

from core.extensions import Panel
from marketplace import selectors
from marketplace.models import ContractStatus, OrderStatus
from organisations.capabilities import Capability, OrgKind

LIMIT = 5


def panels(scope: Any) -> list[Panel]:
    org = scope.organisation
    if org is None:
        return []
    if org.kind == OrgKind.CLIENT:
        return [_client(org)]
    if org.kind == OrgKind.OPC:
        return [_opc(org)]
    if org.kind == OrgKind.OPERATOR and scope.has(Capability.COMMUNITY_MANAGE):
        return [_operator(org)]
    return []


def _client(org: Any) -> Panel:
    open_orders = selectors.orders_for_client(org).filter(status=OrderStatus.OPEN)
    waiting = selectors.contracts_needing_client(org)
    return Panel(
        "marketplace/_panel_client.html",
        {
            "open_orders": list(open_orders[:LIMIT]),
            "open_count": open_orders.count(),
            "waiting": list(waiting[:LIMIT]),
            "waiting_count": waiting.count(),
        },
        order=20,
    )


def _opc(org: Any) -> Panel:
    from dispatch.models import Offer, OfferStatus

    offers = (
        Offer.objects.filter(opc=org, status=OfferStatus.PENDING, order__status=OrderStatus.OPEN)
        .select_related("order", "order__client")
        .order_by("expires_at", "id")
    )
    active = selectors.contracts_for_organisation(org).filter(opc=org, status=ContractStatus.ACTIVE)
    skills = getattr(getattr(org, "opc_profile", None), "skills", None)
    skill_ids = list(skills.values_list("pk", flat=True)) if skills is not None else []
    matching = selectors.open_orders_for_opc(org).filter(category_id__in=skill_ids).exclude(bids__opc=org)
    return Panel(
        "marketplace/_panel_opc.html",
        {
            "offers": list(offers[:LIMIT]),
            "direct_offers": list(selectors.direct_offers_for_opc(org)[:LIMIT]),
            "active": list(active[:LIMIT]),
            "active_count": active.count(),
            "recommended": list(matching[:LIMIT]),
        },
        order=20,
    )


def _operator(org: Any) -> Panel:
    disputes = selectors.disputes_for_operator(org, open_only=True)
    return Panel(
        "marketplace/_panel_operator.html",
        {"disputes": list(disputes[:LIMIT]), "dispute_count": disputes.count()},
        order=20,
    )
