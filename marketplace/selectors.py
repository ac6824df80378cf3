"""Reads of the marketplace, shared by pages and the API.

Every list selector returns a queryset with its ``select_related`` / ``prefetch_related`` / annotations in
place, so a page renders in a constant number of queries whatever the number of rows (tests check this).
Tenancy: the ``*_for_*`` selectors take the caller's organisation (from ``request.org_scope``) and never return
another tenant's private data; ``get_*`` helpers raise ``NotFound`` outside it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, F, Prefetch, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Round

from core.errors import NotFound
from marketplace.models import (
    Bid,
    BidStatus,
    ContestEntry,
    Contract,
    Dispute,
    DisputeStatus,
    Milestone,
    Notification,
    Order,
    OrderStatus,
    Visibility,
)
from organisations.models import Organisation

_ACTIVE_BIDS = Q(bids__status__in=[BidStatus.SUBMITTED, BidStatus.SHORTLISTED, BidStatus.AWARDED])
_MONEY = DecimalField(max_digits=20, decimal_places=2)


def _listing(qs: QuerySet[Order]) -> QuerySet[Order]:
    """What an order card shows: client (with its verification badge), category, skills, bid count."""
    return (
        qs.select_related("client", "category", "community", "direct_opc")
        .prefetch_related("required_skills")
        .annotate(bid_count=Count("bids", filter=_ACTIVE_BIDS, distinct=True))
    )


def visible_to_opc_q(opc: Organisation) -> Q:
    """Orders an OPC may see by visibility (public; its community's; the ones it was invited to)."""
    q = Q(visibility=Visibility.PUBLIC) | Q(invited_opcs=opc)
    if opc.home_community_id is not None:
        q |= Q(visibility=Visibility.COMMUNITY, community_id=opc.home_community_id)
    return q


def public_orders() -> QuerySet[Order]:
    """Open public orders (the marketplace for anonymous visitors too)."""
    return _listing(Order.objects.filter(status=OrderStatus.OPEN, visibility=Visibility.PUBLIC))


def procurement_zone_orders(*, method: str = "", band: str = "") -> QuerySet[Order]:
    """The OPC procurement zone (采购专区): open public orders from government departments and SOEs."""
    qs = Order.objects.filter(status=OrderStatus.OPEN, visibility=Visibility.PUBLIC, is_procurement=True)
    if method:
        qs = qs.filter(procurement_method=method)
    if band:
        qs = qs.filter(budget_band=band)
    return _listing(qs)


def open_orders_for_opc(opc: Organisation) -> QuerySet[Order]:
    """Open orders an OPC may bid on or enter (not its own)."""
    ids = (
        Order.objects.filter(visible_to_opc_q(opc), status=OrderStatus.OPEN).exclude(client=opc).values("pk")
    )
    return _listing(Order.objects.filter(pk__in=ids))


def orders_for_client(client: Organisation) -> QuerySet[Order]:
    return _listing(Order.objects.filter(client=client))


def _detail(qs: QuerySet[Order]) -> QuerySet[Order]:
    return _listing(qs).prefetch_related(
        "attachments",
        "invited_opcs",
        Prefetch(
            "bids",
            queryset=Bid.objects.select_related("opc", "opc__opc_profile").order_by(
                "price", "created_at", "id"
            ),
        ),
        Prefetch("entries", queryset=ContestEntry.objects.select_related("opc")),
    )


def get_order_for_client(client: Organisation, pk: Any) -> Order:
    """One of the client's orders with everything its detail page shows (bids with each bidder's badge,
    attachments, entries); ``NotFound`` otherwise."""
    order = _detail(Order.objects.filter(client=client, pk=_int(pk))).first()
    if order is None:
        raise NotFound()
    return order


def get_order_for_opc(opc: Organisation, pk: Any) -> Order:
    """An order an OPC may see: an open one visible to it, or one it bid on, entered or holds a contract for.
    Other bidders' bids are not loaded."""
    pk = _int(pk)
    qs = Order.objects.filter(pk=pk).filter(
        Q(visible_to_opc_q(opc), status=OrderStatus.OPEN)
        | Q(bids__opc=opc)
        | Q(entries__opc=opc)
        | Q(contract__opc=opc)
        | Q(direct_opc=opc)
    )
    order = _listing(Order.objects.filter(pk__in=qs.values("pk"))).prefetch_related("attachments").first()
    if order is None:
        raise NotFound()
    return order


def bids_for_order(order: Order) -> QuerySet[Bid]:
    """The bids on an order, cheapest first, with the bidder and its profile (verification badge)."""
    return (
        Bid.objects.filter(order=order)
        .select_related("opc", "opc__opc_profile")
        .order_by("price", "created_at", "id")
    )


def bids_for_opc(opc: Organisation) -> QuerySet[Bid]:
    return Bid.objects.filter(opc=opc).select_related("order", "order__client", "order__category")


def contracts_for_organisation(org: Organisation) -> QuerySet[Contract]:
    """Contracts where the organisation is client or OPC, with order, parties, escrow and milestones."""
    return (
        Contract.objects.filter(Q(client=org) | Q(opc=org))
        .select_related("order", "order__category", "client", "opc", "escrow_account")
        .prefetch_related(Prefetch("milestones", queryset=Milestone.objects.order_by("position", "id")))
    )


def get_contract_for_organisation(org: Organisation, pk: Any) -> Contract:
    contract = (
        contracts_for_organisation(org)
        .filter(pk=_int(pk))
        .prefetch_related(
            Prefetch("milestones__disputes", queryset=Dispute.objects.select_related("opened_by", "mediator"))
        )
        .first()
    )
    if contract is None:
        raise NotFound()
    return contract


def disputes_for_operator(operator: Organisation, *, open_only: bool = False) -> QuerySet[Dispute]:
    """Disputes this operator mediates."""
    qs = Dispute.objects.filter(mediator=operator)
    if open_only:
        qs = qs.filter(status=DisputeStatus.OPEN)
    return qs.select_related(
        "milestone",
        "milestone__contract",
        "milestone__contract__order",
        "milestone__contract__client",
        "milestone__contract__opc",
        "opened_by",
    )


def notifications_for(organisation: Organisation, *, unread_only: bool = False) -> QuerySet[Notification]:
    qs = Notification.objects.filter(recipient=organisation)
    return qs.filter(read_at__isnull=True) if unread_only else qs


def unread_notification_count(organisation: Organisation) -> int:
    return Notification.objects.filter(recipient=organisation, read_at__isnull=True).count()


def escrow_discrepancies() -> list[int]:
    """Contracts whose escrow balance differs from funded − released − refunded over their milestones
    (should be none)."""
    zero = Value(Decimal("0.00"), output_field=_MONEY)
    expected = Round(
        Coalesce(
            Sum(
                F("milestones__funded_amount")
                - F("milestones__released_amount")
                - F("milestones__refunded_amount")
            ),
            zero,
            output_field=_MONEY,
        ),
        2,
        output_field=_MONEY,
    )
    rows = (
        Contract.objects.annotate(expected=expected)
        .exclude(escrow_account__balance=F("expected"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return list(rows)


def _int(pk: Any) -> int:
    from core.http import parse_id

    value = parse_id(pk)
    if value is None:
        raise NotFound()
    return value
