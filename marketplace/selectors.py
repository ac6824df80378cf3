"""Reads of the marketplace, shared by pages and the API.

Every list selector returns a queryset with its ``select_related`` / ``prefetch_related`` / annotations in
place, so a page renders in a constant number of queries whatever the number of rows (tests check this).
Tenancy: the ``*_for_*`` selectors take the caller's organisation (from ``request.org_scope``) and never return
another tenant's private data; ``get_*`` helpers raise ``NotFound`` outside it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    DecimalField,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Round
from django.db.models.lookups import IContains, Lookup

from core.errors import NotFound
from marketplace.models import (
    Bid,
    BidStatus,
    ContestEntry,
    Contract,
    ContractStatus,
    Dispute,
    DisputeStatus,
    Milestone,
    MilestoneStatus,
    Notification,
    Order,
    OrderStatus,
    Visibility,
)
from organisations.capabilities import OrgKind
from organisations.models import Organisation

_ACTIVE_BID_STATES = (BidStatus.SUBMITTED, BidStatus.SHORTLISTED, BidStatus.AWARDED)
_MONEY = DecimalField(max_digits=20, decimal_places=2)


LISTING_ORDER = ("-published_at", "-created_at", "-id")


def _listing(qs: QuerySet[Order]) -> QuerySet[Order]:
    """What an order card shows: client (with its verification badge), category, skills, bid count.
    Newest published first, then newest created, then by id: a total order, so pages never overlap."""
    # A correlated subquery, evaluated only for the rows of the page (a JOIN + GROUP BY would count the bids
    # of every matching order before the LIMIT).
    active_bids = (
        Bid.objects.filter(order=OuterRef("pk"), status__in=_ACTIVE_BID_STATES)
        .order_by()
        .values("order")
        .annotate(n=Count("*"))
        .values("n")
    )
    return (
        qs.select_related("client", "category", "community", "direct_opc")
        .prefetch_related("required_skills")
        .annotate(bid_count=Coalesce(Subquery(active_bids, output_field=IntegerField()), Value(0)))
        .order_by(*LISTING_ORDER)
    )


def filter_orders(
    qs: QuerySet[Order],
    *,
    category: str = "",
    mode: str = "",
    budget_min: Decimal | None = None,
    budget_max: Decimal | None = None,
    text: str = "",
) -> QuerySet[Order]:
    """The browse filters: category (skill code), mode, a budget range the order's range must overlap, and
    a title search."""
    if category:
        qs = qs.filter(category__code=category)
    if mode:
        qs = qs.filter(mode=mode)
    if budget_min is not None:
        qs = qs.filter(budget_max__gte=budget_min)
    if budget_max is not None:
        qs = qs.filter(budget_min__lte=budget_max)
    if text:
        qs = qs.filter(TitleContains(F("title"), text))
    return qs


class TitleContains(IContains):
    """``icontains`` that PostgreSQL can plan: ``title ILIKE '%…%'`` instead of Django's
    ``UPPER(title) LIKE UPPER('%…%')``. The planner has statistics for the column but none for ``UPPER(title)``,
    so with the latter it guesses a handful of matches, reads and sorts every open order, where with ILIKE it
    walks the listing index and stops after a page of matches. Other databases: Django's ``icontains``."""

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs_sql, lhs_params = Lookup.process_lhs(self, compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs_sql}::text ILIKE {rhs_sql}", [*lhs_params, *rhs_params]


def browse_orders(viewer: Organisation | None) -> QuerySet[Order]:
    """The open orders a visitor may browse: public ones for everybody; an OPC also sees its community's
    community-only orders and the ones it was invited to (never its own)."""
    if viewer is not None and viewer.kind == OrgKind.OPC:
        return open_orders_for_opc(viewer)
    return public_orders()


def visible_to_opc_q(opc: Organisation) -> Q:
    """Orders an OPC may see by visibility (public; its community's; the ones it was invited to)."""
    invited = Order.invited_opcs.through.objects.filter(organisation=opc).values("order_id")
    q = Q(visibility=Visibility.PUBLIC) | Q(pk__in=invited)
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
    return _listing(Order.objects.filter(visible_to_opc_q(opc), status=OrderStatus.OPEN).exclude(client=opc))


def orders_for_client(client: Organisation) -> QuerySet[Order]:
    return _listing(Order.objects.filter(client=client))


def _detail(qs: QuerySet[Order]) -> QuerySet[Order]:
    """An order page's order: the listing plus its contract (a reverse one-to-one, joined: ``contract_of``
    then needs no query), attachments, invitations, bids with each bidder's profile, and contest entries."""
    return (
        _listing(qs)
        .select_related("contract", "contract__opc", "contract__client")
        .prefetch_related(
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
    return (
        Bid.objects.filter(opc=opc)
        .select_related("order", "order__client", "order__category")
        .order_by("-created_at", "-id")
    )


def contracts_for_organisation(org: Organisation) -> QuerySet[Contract]:
    """Contracts where the organisation is client or OPC, with order, parties, escrow and milestones."""
    return (
        Contract.objects.filter(Q(client=org) | Q(opc=org))
        .select_related("order", "order__category", "client", "opc", "escrow_account")
        .prefetch_related(Prefetch("milestones", queryset=Milestone.objects.order_by("position", "id")))
        .order_by("-created_at", "-id")
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


def get_public_order(pk: Any) -> Order:
    """An open public order (anyone may see it); ``NotFound`` otherwise."""
    order = _listing(Order.objects.filter(pk=_int(pk), status=OrderStatus.OPEN, visibility=Visibility.PUBLIC))
    found = order.prefetch_related("attachments").first()
    if found is None:
        raise NotFound()
    return found


def operator_orders_q(community_ids: set[int], *, prefix: str = "") -> Q:
    """Orders in an operator's communities: community-only orders of its communities, orders posted by its
    member organisations and orders contracted to its member OPCs (``prefix`` e.g. ``"order__"`` to filter
    a related model)."""
    return (
        Q(**{f"{prefix}community_id__in": community_ids})
        | Q(**{f"{prefix}client__home_community_id__in": community_ids})
        | Q(**{f"{prefix}contract__opc__home_community_id__in": community_ids})
    )


def orders_for_operator(community_ids: set[int]) -> QuerySet[Order]:
    ids = Order.objects.filter(operator_orders_q(community_ids)).values("pk")
    return _listing(Order.objects.filter(pk__in=ids))


def get_order_for_operator(community_ids: set[int], pk: Any) -> Order:
    """An order in the operator's communities with its bids and entries (read-only oversight)."""
    pk = _int(pk)
    ids = Order.objects.filter(operator_orders_q(community_ids), pk=pk).values("pk")
    order = _detail(Order.objects.filter(pk__in=ids)).first()
    if order is None:
        raise NotFound()
    return order


def own_bid(order: Order, opc: Organisation) -> Bid | None:
    return Bid.objects.filter(order=order, opc=opc).first()


def own_entry(order: Order, opc: Organisation) -> ContestEntry | None:
    return ContestEntry.objects.filter(order=order, opc=opc).first()


def contract_of(order: Order) -> Contract | None:
    """The order's contract with both parties (from the order's joined row when ``_detail`` loaded it)."""
    cache = order._state.fields_cache
    if "contract" in cache:
        return cache["contract"]
    return Contract.objects.filter(order=order).select_related("opc", "client").first()


def get_bid_for_client(client: Organisation, pk: Any) -> Bid:
    """A bid on one of the client's orders; ``NotFound`` otherwise."""
    found = (
        Bid.objects.filter(pk=_int(pk), order__client=client)
        .select_related("order", "order__client", "order__category", "opc", "opc__opc_profile")
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def get_bid_for_opc(opc: Organisation, pk: Any) -> Bid:
    found = Bid.objects.filter(pk=_int(pk), opc=opc).select_related("order").first()
    if found is None:
        raise NotFound()
    return found


def get_entry_for_client(client: Organisation, pk: Any) -> ContestEntry:
    found = (
        ContestEntry.objects.filter(pk=_int(pk), order__client=client).select_related("order", "opc").first()
    )
    if found is None:
        raise NotFound()
    return found


def get_milestone_for_party(org: Organisation, pk: Any) -> Milestone:
    """A milestone of a contract where ``org`` is the client or the OPC; ``NotFound`` otherwise."""
    found = (
        Milestone.objects.filter(pk=_int(pk))
        .filter(Q(contract__client=org) | Q(contract__opc=org))
        .select_related("contract", "contract__order")
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def get_contract_for_mediator(operator: Organisation, pk: Any) -> Contract:
    """A contract with a dispute this operator mediates (read-only view for the mediator)."""
    contract = (
        Contract.objects.filter(pk=_int(pk), milestones__disputes__mediator=operator)
        .values_list("pk", flat=True)
        .first()
    )
    if contract is None:
        raise NotFound()
    found = (
        Contract.objects.filter(pk=contract)
        .select_related("order", "order__category", "client", "opc", "escrow_account")
        .prefetch_related(
            Prefetch("milestones", queryset=Milestone.objects.order_by("position", "id")),
            Prefetch(
                "milestones__disputes", queryset=Dispute.objects.select_related("opened_by", "mediator")
            ),
        )
        .first()
    )
    assert found is not None
    return found


def get_dispute_for_operator(operator: Organisation, pk: Any) -> Dispute:
    found = disputes_for_operator(operator).filter(pk=_int(pk)).first()
    if found is None:
        raise NotFound()
    return found


def direct_offers_for_opc(opc: Organisation) -> QuerySet[Order]:
    """Open direct orders offered to the OPC, waiting for its answer."""
    return _listing(Order.objects.filter(direct_opc=opc, mode="direct", status=OrderStatus.OPEN))


def contracts_needing_client(client: Organisation) -> QuerySet[Contract]:
    """The client's active contracts with a milestone to fund or a delivery to accept."""
    ids = Milestone.objects.filter(
        contract__client=client,
        contract__status=ContractStatus.ACTIVE,
        status__in=[MilestoneStatus.PENDING, MilestoneStatus.DELIVERED],
    ).values("contract_id")
    return contracts_for_organisation(client).filter(pk__in=ids)


def _int(pk: Any) -> int:
    from core.http import parse_id

    value = parse_id(pk)
    if value is None:
        raise NotFound()
    return value
