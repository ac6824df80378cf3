"""Marketplace API (mounted at /api/marketplace/): browse and procurement zone (public), orders, bids, contest
entries, contracts with escrowed milestones, disputes and notifications.

Handlers are thin: they find the object among those the caller may see (``_visible_*``; anything else is 404),
call ``marketplace.services`` with the caller's organisation as the acting party (a visible object the caller
may not act on → the service's 403; an illegal change of state → 409), and answer with the typed schemas of
``marketplace.schemas``. Reads come from ``marketplace.selectors`` with their prefetches, so every list and
detail answers in a constant number of queries (``tests/test_api.py`` checks this).

Money operations (publish a contest, cancel it, fund, accept, pick a winner, decide a dispute) need an
idempotency key: the ``Idempotency-Key`` header or the ``idempotency_key`` body field. The same key again
returns the same result and moves no money twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import File, Header, Path, Query, Router, Status
from ninja.errors import ValidationError as SchemaError
from ninja.files import UploadedFile

from accounts.api import ERRORS, MAX_ID, ErrorOut
from communities.models import Community
from core.errors import NotFound, NotPermitted
from core.http import acting_user
from marketplace import selectors, services
from marketplace.models import (
    Bid,
    BidStatus,
    ContestEntry,
    Contract,
    ContractStatus,
    Dispute,
    DisputeStatus,
    EntryStatus,
    Milestone,
    MilestoneStatus,
    Notification,
    Order,
    OrderAttachment,
    OrderMode,
    OrderStatus,
    Visibility,
)
from marketplace.schemas import (
    AttachmentOut,
    AwardIn,
    BidIn,
    BidOut,
    CancelIn,
    CommunityRef,
    ContractFilter,
    ContractOut,
    ContractPage,
    ContractRef,
    DecisionIn,
    DisputeBrief,
    DisputeFilter,
    DisputeIn,
    DisputeOut,
    DisputePage,
    EntryIn,
    EntryOut,
    IdempotentIn,
    InviteIn,
    MarkReadIn,
    MarkReadOut,
    MilestoneOut,
    MyOrderFilter,
    NoteIn,
    NotificationFilter,
    NotificationOut,
    NotificationPage,
    OrderDetailOut,
    OrderFilter,
    OrderIn,
    OrderOut,
    OrderPage,
    OrderPatchIn,
    OrgRef,
    ProcurementFilter,
    ReasonIn,
    RevisionIn,
    SkillRef,
    amount,
    money,
)
from organisations.access import Scope, scope_for
from organisations.capabilities import Capability, OrgKind
from organisations.models import Organisation, Skill

router = Router(tags=["marketplace"])

T = TypeVar("T")
# Besides success: bad value (400), not allowed (403), unknown/foreign id (404), state (409), payment (402).
WRITE: dict[int, Any] = {400: ErrorOut, 404: ErrorOut, 409: ErrorOut, **ERRORS}
MONEY_WRITE: dict[int, Any] = {402: ErrorOut, **WRITE}
READ: dict[int, Any] = {404: ErrorOut, **ERRORS}
IDEMPOTENCY_HEADER = "Idempotency-Key"


def optional_auth(request: HttpRequest) -> Any:
    """Public endpoints: a bearer token when one is sent (a refused token is 401, not anonymous), else the
    session or nobody (``request.org_scope`` then comes from the middleware)."""
    if request.headers.get("Authorization"):
        from opchub.api import TokenAuth

        return TokenAuth()(request)
    return True


PUBLIC = [optional_auth]


# -- converters ------------------------------------------------------------------------------------------------


def org_ref(org: Organisation) -> OrgRef:
    return OrgRef(id=org.pk, name=org.name, kind=org.kind, verified=org.is_verified)


def skill_ref(skill: Skill) -> SkillRef:
    return SkillRef(code=skill.code, name=str(skill))


def _order_fields(order: Order) -> dict[str, Any]:
    community = order.community
    return {
        "id": order.pk,
        "title": order.title,
        "status": OrderStatus(order.status),
        "status_label": str(order.get_status_display()),
        "mode": OrderMode(order.mode),
        "mode_label": str(order.get_mode_display()),
        "visibility": Visibility(order.visibility),
        "category": skill_ref(order.category),
        "required_skills": [skill_ref(s) for s in order.required_skills.all()],
        "budget_min": amount(order.budget_min),
        "budget_max": amount(order.budget_max),
        "price": money(order.price),
        "deadline": order.deadline,
        "client": org_ref(order.client),
        "community": CommunityRef(id=community.pk, name=community.name) if community is not None else None,
        "direct_opc": org_ref(order.direct_opc) if order.direct_opc is not None else None,
        "is_procurement": order.is_procurement,
        "procurement_method": order.procurement_method,
        "procurement_method_label": str(order.get_procurement_method_display())
        if order.procurement_method
        else "",
        "budget_band": order.budget_band,
        "budget_band_label": str(order.get_budget_band_display()) if order.budget_band else "",
        "bid_count": getattr(order, "bid_count", 0),
        "created_at": order.created_at,
        "published_at": order.published_at,
    }


def order_out(order: Order) -> OrderOut:
    return OrderOut(**_order_fields(order))


def bid_out(bid: Bid, order: Order | None = None) -> BidOut:
    order = order or bid.order
    return BidOut(
        id=bid.pk,
        order_id=bid.order_id,
        order_title=order.title,
        opc=org_ref(bid.opc),
        price=amount(bid.price),
        timeline_days=bid.timeline_days,
        plan=bid.plan,
        status=BidStatus(bid.status),
        status_label=str(bid.get_status_display()),
        created_at=bid.created_at,
    )


def entry_out(entry: ContestEntry) -> EntryOut:
    return EntryOut(
        id=entry.pk,
        order_id=entry.order_id,
        opc=org_ref(entry.opc),
        description=entry.description,
        link=entry.link,
        status=EntryStatus(entry.status),
        status_label=str(entry.get_status_display()),
        created_at=entry.created_at,
    )


def attachment_out(attachment: OrderAttachment) -> AttachmentOut:
    try:
        size: int | None = attachment.file.size
    except (OSError, ValueError):
        size = None
    return AttachmentOut(
        id=attachment.pk, name=attachment.name, size=size, uploaded_at=attachment.uploaded_at
    )


def dispute_brief(dispute: Dispute) -> DisputeBrief:
    return DisputeBrief(
        id=dispute.pk,
        opened_by=org_ref(dispute.opened_by),
        reason=dispute.reason,
        status=DisputeStatus(dispute.status),
        amount_to_opc=money(dispute.amount_to_opc),
        amount_to_client=money(dispute.amount_to_client),
        decision_note=dispute.decision_note,
        opened_at=dispute.opened_at,
        decided_at=dispute.decided_at,
    )


def milestone_out(milestone: Milestone, *, with_disputes: bool = False) -> MilestoneOut:
    return MilestoneOut(
        id=milestone.pk,
        contract_id=milestone.contract_id,
        position=milestone.position,
        title=milestone.title,
        amount=amount(milestone.amount),
        due_date=milestone.due_date,
        acceptance_criteria=milestone.acceptance_criteria,
        status=MilestoneStatus(milestone.status),
        status_label=str(milestone.get_status_display()),
        revision_rounds=milestone.revision_rounds,
        delivery_note=milestone.delivery_note,
        revision_note=milestone.revision_note,
        funded_amount=amount(milestone.funded_amount),
        released_amount=amount(milestone.released_amount),
        fee_amount=amount(milestone.fee_amount),
        refunded_amount=amount(milestone.refunded_amount),
        funded_at=milestone.funded_at,
        delivered_at=milestone.delivered_at,
        released_at=milestone.released_at,
        auto_released=milestone.auto_released,
        disputes=[dispute_brief(d) for d in milestone.disputes.all()] if with_disputes else None,
    )


def contract_out(contract: Contract, *, with_disputes: bool = False) -> ContractOut:
    escrow = contract.escrow_account
    return ContractOut(
        id=contract.pk,
        order_id=contract.order_id,
        order_title=contract.order.title,
        category=skill_ref(contract.order.category),
        bid_id=contract.bid_id,
        client=org_ref(contract.client),
        opc=org_ref(contract.opc),
        price=amount(contract.price),
        status=ContractStatus(contract.status),
        status_label=str(contract.get_status_display()),
        escrow_balance=amount(escrow.balance if escrow is not None else 0),
        created_at=contract.created_at,
        closed_at=contract.closed_at,
        milestones=[milestone_out(m, with_disputes=with_disputes) for m in contract.milestones.all()],
    )


def dispute_out(dispute: Dispute) -> DisputeOut:
    milestone = dispute.milestone
    contract = milestone.contract
    return DisputeOut(
        id=dispute.pk,
        milestone_id=milestone.pk,
        contract_id=contract.pk,
        order_id=contract.order_id,
        order_title=contract.order.title,
        milestone_title=milestone.title,
        opened_by=org_ref(dispute.opened_by),
        reason=dispute.reason,
        status=DisputeStatus(dispute.status),
        status_label=str(dispute.get_status_display()),
        mediator=org_ref(dispute.mediator) if dispute.mediator is not None else None,
        held=amount(milestone.funded_amount),
        amount_to_opc=money(dispute.amount_to_opc),
        amount_to_client=money(dispute.amount_to_client),
        decision_note=dispute.decision_note,
        opened_at=dispute.opened_at,
        decided_at=dispute.decided_at,
    )


def notification_out(n: Notification) -> NotificationOut:
    return NotificationOut(
        id=n.pk, kind=n.kind, text=n.text, link=n.link, created_at=n.created_at, read_at=n.read_at
    )


# -- helpers ---------------------------------------------------------------------------------------------------


def caller_org(request: HttpRequest) -> Organisation:
    """The caller's active organisation (a membership-less caller may do nothing here)."""
    org = scope_for(request).organisation
    if org is None:
        raise NotPermitted()
    return org


def _page(qs: QuerySet[Any], limit: int, offset: int, convert: Callable[[Any], T]) -> tuple[int, list[T]]:
    return qs.count(), [convert(obj) for obj in qs[offset : offset + limit]]


def schema_error(field: tuple[str, ...], message: str, kind: str = "value_error") -> SchemaError:
    """A 422 answer for input the schema alone cannot judge (unknown codes and ids, missing keys)."""
    return SchemaError([{"loc": list(field), "msg": message, "type": kind}])


def idempotency_key(header: str | None, payload: IdempotentIn | None, *, required: bool = True) -> str:
    """The key from the ``Idempotency-Key`` header or the body (the same if both are sent)."""
    from_header = (header or "").strip()
    from_body = (payload.idempotency_key or "") if payload is not None else ""
    if len(from_header) > 100:
        raise schema_error(
            ("header", IDEMPOTENCY_HEADER), _("An idempotency key has at most 100 characters.")
        )
    if from_header and from_body and from_header != from_body:
        raise schema_error(
            ("header", IDEMPOTENCY_HEADER),
            _("The Idempotency-Key header and the idempotency_key field differ; send one key."),
        )
    key = from_header or from_body
    if required and not key:
        raise schema_error(
            ("header", IDEMPOTENCY_HEADER),
            _("A money operation needs an idempotency key: send the Idempotency-Key header."),
            "missing",
        )
    return key


def _visible_orders(scope: Scope) -> QuerySet[Order]:
    """Orders the caller may see: open public ones; its own; an OPC's visible or involved ones; the orders in
    an operator's communities."""
    org = scope.organisation
    q = Q(status=OrderStatus.OPEN, visibility=Visibility.PUBLIC)
    if org is not None:
        q |= Q(client=org)
        if org.kind == OrgKind.OPC:
            q |= (
                Q(selectors.visible_to_opc_q(org), status=OrderStatus.OPEN)
                | Q(bids__opc=org)
                | Q(entries__opc=org)
                | Q(contract__opc=org)
                | Q(direct_opc=org)
            )
        if scope.is_operator and scope.managed_community_ids:
            q |= selectors.operator_orders_q(scope.managed_community_ids)
    return Order.objects.filter(pk__in=Order.objects.filter(q).values("pk"))


def visible_order(scope: Scope, pk: int) -> Order:
    order = _visible_orders(scope).select_related("client", "direct_opc").filter(pk=pk).first()
    if order is None:
        raise NotFound()
    return order


def _visible_bid(org: Organisation, pk: int) -> Bid:
    """A bid the caller may see: on one of its orders, or its own."""
    bid = Bid.objects.filter(Q(order__client=org) | Q(opc=org), pk=pk).select_related("order", "opc").first()
    if bid is None:
        raise NotFound()
    return bid


def _visible_entry(org: Organisation, pk: int) -> ContestEntry:
    entry = (
        ContestEntry.objects.filter(Q(order__client=org) | Q(opc=org), pk=pk)
        .select_related("order", "opc")
        .first()
    )
    if entry is None:
        raise NotFound()
    return entry


def _disputes() -> QuerySet[Dispute]:
    return Dispute.objects.select_related(
        "milestone",
        "milestone__contract",
        "milestone__contract__order",
        "opened_by",
        "mediator",
    )


def _visible_dispute(org: Organisation, pk: int) -> Dispute:
    """A dispute the caller may see: as a party of the contract or as its mediator."""
    dispute = (
        _disputes()
        .filter(
            Q(mediator=org) | Q(milestone__contract__client=org) | Q(milestone__contract__opc=org),
            pk=pk,
        )
        .first()
    )
    if dispute is None:
        raise NotFound()
    return dispute


def require_operator(scope: Scope) -> Organisation:
    org = scope.require(Capability.COMMUNITY_MANAGE)
    if not scope.is_operator:
        raise NotPermitted()
    return org


def _require_party_kind(org: Organisation) -> None:
    if org.kind not in (OrgKind.CLIENT, OrgKind.OPC):
        raise NotPermitted(_("Only clients and OPCs take part in orders."))


def order_detail_for(scope: Scope, pk: int) -> OrderDetailOut:
    """The order as this caller may see it (see ``OrderDetailOut``); 404 outside that."""
    org = scope.organisation
    order: Order | None = None
    viewer = "public"
    if org is not None:
        try:
            order, viewer = selectors.get_order_for_client(org, pk), "client"
        except NotFound:
            order = None
        if order is None and org.kind == OrgKind.OPC:
            order, viewer = selectors.get_order_for_opc(org, pk), "opc"
        if order is None and scope.is_operator and scope.managed_community_ids:
            try:
                order, viewer = selectors.get_order_for_operator(scope.managed_community_ids, pk), "operator"
            except NotFound:
                order = None
    if order is None:
        order, viewer = selectors.get_public_order(pk), "public"
    extra: dict[str, Any] = {
        "viewer": viewer,
        "description": order.description,
        "deliverables": order.deliverables,
        "acceptance_criteria": order.acceptance_criteria,
        "attachments": [attachment_out(a) for a in order.attachments.all()],
    }
    if viewer in ("client", "operator"):
        extra["bids"] = [bid_out(b, order) for b in order.bids.all()]
        extra["entries"] = [entry_out(e) for e in order.entries.all()]
    if viewer == "client":
        extra["invited_opcs"] = [org_ref(o) for o in order.invited_opcs.all()]
    if viewer == "opc" and org is not None:
        own = selectors.own_bid(order, org)
        extra["my_bid"] = bid_out(own, order) if own is not None else None
        entry = selectors.own_entry(order, org)
        extra["my_entry"] = entry_out(entry) if entry is not None else None
    if viewer in ("client", "opc", "operator") and order.status not in (OrderStatus.DRAFT, OrderStatus.OPEN):
        contract = selectors.contract_of(order)
        if contract is not None and (viewer != "opc" or (org is not None and contract.opc_id == org.pk)):
            extra["contract"] = ContractRef(
                id=contract.pk,
                opc=org_ref(contract.opc),
                status=ContractStatus(contract.status),
                price=amount(contract.price),
            )
    return OrderDetailOut(**_order_fields(order), **extra)


def _contract_detail(scope: Scope, pk: int) -> ContractOut:
    org = scope.organisation
    if org is None:
        raise NotFound()
    if scope.is_operator:
        return contract_out(selectors.get_contract_for_mediator(org, pk), with_disputes=True)
    return contract_out(selectors.get_contract_for_organisation(org, pk), with_disputes=True)


def _lookup_skills(codes: list[str], field: str) -> list[Skill]:
    wanted = sorted(set(codes))
    found = list(Skill.objects.filter(code__in=wanted))
    missing = sorted(set(wanted) - {s.code for s in found})
    if missing:
        raise schema_error(
            ("body", "payload", field),
            _("Unknown skill codes: %(codes)s.") % {"codes": ", ".join(missing)[:200]},
        )
    return found


def _lookup_opcs(ids: list[int], field: str) -> list[Organisation]:
    wanted = set(ids)
    found = list(Organisation.objects.filter(pk__in=wanted, kind=OrgKind.OPC))
    if len(found) != len(wanted):
        raise schema_error(("body", "payload", field), _("Unknown OPC."))
    return found


# -- browse (public) -------------------------------------------------------------------------------------------


@router.get(
    "/orders",
    auth=PUBLIC,
    response={200: OrderPage, 401: ErrorOut, 422: ERRORS[422]},
    summary="Browse open orders",
)
def browse(request: HttpRequest, filters: Query[OrderFilter]) -> OrderPage:
    """Open public orders for everybody; an OPC also sees its community's community-only orders and the ones
    it was invited to (never its own). Newest first; ``count`` is the number of matches."""
    qs = selectors.filter_orders(
        selectors.browse_orders(scope_for(request).organisation),
        category=filters.category,
        mode=filters.mode,
        budget_min=filters.budget_min,
        budget_max=filters.budget_max,
        text=filters.q.strip(),
    )
    count, items = _page(qs, filters.limit, filters.offset, order_out)
    return OrderPage(count=count, limit=filters.limit, offset=filters.offset, items=items)


@router.get(
    "/procurement",
    auth=PUBLIC,
    response={200: OrderPage, 401: ErrorOut, 422: ERRORS[422]},
    summary="The OPC procurement zone (采购专区)",
)
def procurement_zone(request: HttpRequest, filters: Query[ProcurementFilter]) -> OrderPage:
    """Open public orders from government departments and state-owned enterprises, by procurement method and
    budget band."""
    qs = selectors.procurement_zone_orders(method=filters.method, band=filters.band)
    count, items = _page(qs, filters.limit, filters.offset, order_out)
    return OrderPage(count=count, limit=filters.limit, offset=filters.offset, items=items)


@router.get(
    "/orders/{int:order_id}",
    auth=PUBLIC,
    response={200: OrderDetailOut, 401: ErrorOut, 404: ErrorOut, 422: ERRORS[422]},
    summary="One order, as the caller may see it",
)
def order_detail(request: HttpRequest, order_id: int = Path(..., ge=1, le=MAX_ID)) -> OrderDetailOut:
    return order_detail_for(scope_for(request), order_id)


# -- the client's orders ---------------------------------------------------------------------------------------


@router.get("/orders/mine", response={200: OrderPage, **ERRORS}, summary="Orders you posted")
def my_orders(request: HttpRequest, filters: Query[MyOrderFilter]) -> OrderPage:
    org = caller_org(request)
    _require_party_kind(org)
    qs = selectors.orders_for_client(org)
    if filters.status:
        qs = qs.filter(status=filters.status)
    count, items = _page(qs, filters.limit, filters.offset, order_out)
    return OrderPage(count=count, limit=filters.limit, offset=filters.offset, items=items)


@router.get(
    "/orders/overseen", response={200: OrderPage, **ERRORS}, summary="Orders in the communities you operate"
)
def overseen_orders(request: HttpRequest, filters: Query[MyOrderFilter]) -> OrderPage:
    """Community-only orders of your communities, orders posted by member organisations and orders
    contracted to member OPCs (read-only)."""
    scope = scope_for(request)
    require_operator(scope)
    qs = selectors.orders_for_operator(scope.managed_community_ids)
    if filters.status:
        qs = qs.filter(status=filters.status)
    count, items = _page(qs, filters.limit, filters.offset, order_out)
    return OrderPage(count=count, limit=filters.limit, offset=filters.offset, items=items)


@router.post("/orders", response={201: OrderDetailOut, **WRITE}, summary="Post an order (as a draft)")
def post_order(request: HttpRequest, payload: OrderIn) -> Status[OrderDetailOut]:
    """Clients and OPCs post; government departments and SOEs must give the procurement method (their orders
    go to the procurement zone). Direct orders need ``direct_opc_id`` and ``price``; contests a ``price``
    (the reward, escrowed when published)."""
    org = caller_org(request)
    category = Skill.objects.filter(code=payload.category).first()
    if category is None:
        raise schema_error(("body", "payload", "category"), _("Choose a category from the skill taxonomy."))
    skills = _lookup_skills(payload.required_skills, "required_skills")
    community = None
    if payload.community_id is not None:
        community = Community.objects.filter(pk=payload.community_id).first()
        if community is None:
            raise schema_error(("body", "payload", "community_id"), _("Unknown community."))
    invited = _lookup_opcs(payload.invited_opc_ids, "invited_opc_ids")
    direct = None
    if payload.direct_opc_id is not None:
        direct = _lookup_opcs([payload.direct_opc_id], "direct_opc_id")[0]
    order = services.post_order(
        client=org,
        actor=acting_user(request),
        title=payload.title,
        category=category,
        budget_min=payload.budget_min,
        budget_max=payload.budget_max,
        deadline=payload.deadline,
        description=payload.description,
        mode=payload.mode.value,
        required_skills=skills,
        deliverables=payload.deliverables,
        acceptance_criteria=payload.acceptance_criteria,
        visibility=payload.visibility.value,
        community=community,
        invited_opcs=invited,
        direct_opc=direct,
        price=payload.price,
        procurement_method=payload.procurement_method.value,
    )
    return Status(201, order_detail_for(scope_for(request), order.pk))


@router.patch("/orders/{int:order_id}", response={200: OrderDetailOut, **WRITE}, summary="Edit a draft order")
def update_order(
    request: HttpRequest, payload: OrderPatchIn, order_id: int = Path(..., ge=1, le=MAX_ID)
) -> OrderDetailOut:
    """Texts and deadline of a draft; money, mode and visibility are fixed once drafted."""
    scope = scope_for(request)
    order = visible_order(scope, order_id)
    changes = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    services.update_order(order=order, client=caller_org(request), actor=acting_user(request), **changes)
    return order_detail_for(scope, order_id)


@router.post(
    "/orders/{int:order_id}/publish",
    response={200: OrderDetailOut, **MONEY_WRITE},
    summary="Publish a draft order (draft → open)",
)
def publish_order(
    request: HttpRequest,
    order_id: int = Path(..., ge=1, le=MAX_ID),
    payload: IdempotentIn | None = None,
    key: str | None = Header(None, alias=IDEMPOTENCY_HEADER),
) -> OrderDetailOut:
    """A contest escrows its reward now: then an idempotency key is required. A direct order is offered to
    its OPC; invited OPCs are told."""
    scope = scope_for(request)
    order = visible_order(scope, order_id)
    services.publish_order(
        order=order,
        client=caller_org(request),
        actor=acting_user(request),
        idempotency_key=idempotency_key(key, payload, required=order.mode == "contest"),
    )
    return order_detail_for(scope, order_id)


@router.post(
    "/orders/{int:order_id}/cancel", response={200: OrderDetailOut, **MONEY_WRITE}, summary="Cancel an order"
)
def cancel_order(
    request: HttpRequest,
    order_id: int = Path(..., ge=1, le=MAX_ID),
    payload: CancelIn | None = None,
    key: str | None = Header(None, alias=IDEMPOTENCY_HEADER),
) -> OrderDetailOut:
    """A draft or open order, or an awarded one with nothing funded yet. An open contest (no entries yet)
    refunds its reward: then an idempotency key is required."""
    scope = scope_for(request)
    order = visible_order(scope, order_id)
    refund = order.mode == "contest" and order.status == OrderStatus.OPEN
    services.cancel_order(
        order=order,
        client=caller_org(request),
        actor=acting_user(request),
        idempotency_key=idempotency_key(key, payload, required=refund),
        reason=payload.reason if payload is not None else "",
    )
    return order_detail_for(scope, order_id)


@router.post(
    "/orders/{int:order_id}/attachments",
    response={201: AttachmentOut, **WRITE},
    summary="Attach a file (multipart, field `file`)",
)
def add_attachment(
    request: HttpRequest,
    order_id: int = Path(..., ge=1, le=MAX_ID),
    file: UploadedFile | None = File(None, description="The file (size-checked)."),  # noqa: B008
) -> Status[AttachmentOut]:
    order = visible_order(scope_for(request), order_id)
    org = caller_org(request)
    if order.client_id != org.pk:
        raise NotPermitted(_("Only the client can attach files to this order."))
    if file is None:
        raise schema_error(
            ("file", "file"), _("Send the file as multipart form data in the field “file”."), "missing"
        )
    attachment = services.add_attachment(order=order, client=org, actor=acting_user(request), upload=file)
    return Status(201, attachment_out(attachment))


@router.post(
    "/orders/{int:order_id}/invitations",
    response={200: OrderDetailOut, **WRITE},
    summary="Invite an OPC (e.g. from the recommendations)",
)
def invite(
    request: HttpRequest, payload: InviteIn, order_id: int = Path(..., ge=1, le=MAX_ID)
) -> OrderDetailOut:
    scope = scope_for(request)
    order = visible_order(scope, order_id)
    opc = Organisation.objects.filter(pk=payload.opc_id).first()
    if opc is None:
        raise schema_error(("body", "payload", "opc_id"), _("Unknown OPC."))
    services.invite_opc(order=order, client=caller_org(request), actor=acting_user(request), opc=opc)
    return order_detail_for(scope, order_id)


@router.post(
    "/orders/{int:order_id}/reassign",
    response={200: OrderDetailOut, **WRITE},
    summary="Offer a declined direct order to another OPC",
)
def reassign(
    request: HttpRequest, payload: InviteIn, order_id: int = Path(..., ge=1, le=MAX_ID)
) -> OrderDetailOut:
    scope = scope_for(request)
    order = visible_order(scope, order_id)
    opc = Organisation.objects.filter(pk=payload.opc_id).first()
    if opc is None:
        raise schema_error(("body", "payload", "opc_id"), _("Unknown OPC."))
    services.reassign_direct_order(
        order=order, client=caller_org(request), actor=acting_user(request), opc=opc
    )
    return order_detail_for(scope, order_id)


# -- direct orders (the named OPC) -----------------------------------------------------------------------------


@router.post(
    "/orders/{int:order_id}/accept",
    response={201: ContractOut, **WRITE},
    summary="Accept a direct order (the named OPC)",
)
def accept_direct(request: HttpRequest, order_id: int = Path(..., ge=1, le=MAX_ID)) -> Status[ContractOut]:
    scope = scope_for(request)
    order = visible_order(scope, order_id)
    org = caller_org(request)
    contract = services.accept_direct_order(order=order, opc=org, actor=acting_user(request))
    return Status(201, contract_out(selectors.get_contract_for_organisation(org, contract.pk)))


@router.post(
    "/orders/{int:order_id}/decline",
    response={200: OrderDetailOut, **WRITE},
    summary="Decline a direct order (the named OPC)",
)
def decline_direct(
    request: HttpRequest, order_id: int = Path(..., ge=1, le=MAX_ID), payload: ReasonIn | None = None
) -> OrderDetailOut:
    scope = scope_for(request)
    order = visible_order(scope, order_id)
    services.decline_direct_order(
        order=order,
        opc=caller_org(request),
        actor=acting_user(request),
        reason=payload.reason if payload is not None else "",
    )
    return order_detail_for(scope, order_id)


# -- bids ------------------------------------------------------------------------------------------------------


@router.get(
    "/orders/{int:order_id}/bids",
    response={200: list[BidOut], **READ},
    summary="The bids on your order (cheapest first)",
)
def order_bids(request: HttpRequest, order_id: int = Path(..., ge=1, le=MAX_ID)) -> list[BidOut]:
    order = visible_order(scope_for(request), order_id)
    if order.client_id != caller_org(request).pk:
        raise NotPermitted(_("Only the client sees the bids on this order."))
    return [bid_out(b, order) for b in selectors.bids_for_order(order)]


@router.post(
    "/orders/{int:order_id}/bids", response={201: BidOut, **WRITE}, summary="Bid on an open tender (OPCs)"
)
def submit_bid(
    request: HttpRequest, payload: BidIn, order_id: int = Path(..., ge=1, le=MAX_ID)
) -> Status[BidOut]:
    order = visible_order(scope_for(request), order_id)
    bid = services.submit_bid(
        order=order,
        opc=caller_org(request),
        actor=acting_user(request),
        price=payload.price,
        timeline_days=payload.timeline_days,
        plan=payload.plan,
    )
    return Status(201, bid_out(bid, order))


@router.get("/bids/mine", response={200: list[BidOut], **ERRORS}, summary="Your bids (OPCs)")
def my_bids(request: HttpRequest, limit: int = Query(50, ge=1, le=200)) -> list[BidOut]:
    org = caller_org(request)
    if org.kind != OrgKind.OPC:
        raise NotPermitted(_("Only OPCs can bid or enter."))
    return [bid_out(b) for b in selectors.bids_for_opc(org).select_related("opc")[:limit]]


@router.post("/bids/{int:bid_id}/withdraw", response={200: BidOut, **WRITE}, summary="Withdraw your bid")
def withdraw_bid(request: HttpRequest, bid_id: int = Path(..., ge=1, le=MAX_ID)) -> BidOut:
    org = caller_org(request)
    bid = _visible_bid(org, bid_id)
    updated = services.withdraw_bid(bid=bid, opc=org, actor=acting_user(request))
    return bid_out(updated, bid.order)


@router.post(
    "/bids/{int:bid_id}/shortlist", response={200: BidOut, **WRITE}, summary="Shortlist a bid (the client)"
)
def shortlist_bid(request: HttpRequest, bid_id: int = Path(..., ge=1, le=MAX_ID)) -> BidOut:
    org = caller_org(request)
    bid = _visible_bid(org, bid_id)
    updated = services.shortlist_bid(bid=bid, client=org, actor=acting_user(request))
    return bid_out(updated, bid.order)


@router.post(
    "/bids/{int:bid_id}/award",
    response={201: ContractOut, **WRITE},
    summary="Award the order to a bid: a contract with milestones",
)
def award_bid(
    request: HttpRequest, bid_id: int = Path(..., ge=1, le=MAX_ID), payload: AwardIn | None = None
) -> Status[ContractOut]:
    org = caller_org(request)
    bid = _visible_bid(org, bid_id)
    specs = None
    if payload is not None and payload.milestones:
        specs = [
            services.MilestoneSpec(
                title=m.title, amount=m.amount, due_date=m.due_date, acceptance_criteria=m.acceptance_criteria
            )
            for m in payload.milestones
        ]
    contract = services.award_bid(
        order=bid.order, bid=bid, client=org, actor=acting_user(request), milestones=specs
    )
    return Status(201, contract_out(selectors.get_contract_for_organisation(org, contract.pk)))


# -- contests --------------------------------------------------------------------------------------------------


@router.get(
    "/orders/{int:order_id}/entries",
    response={200: list[EntryOut], **READ},
    summary="The entries of your contest",
)
def contest_entries(request: HttpRequest, order_id: int = Path(..., ge=1, le=MAX_ID)) -> list[EntryOut]:
    order = visible_order(scope_for(request), order_id)
    if order.client_id != caller_org(request).pk:
        raise NotPermitted(_("Only the client sees the entries of this contest."))
    qs = ContestEntry.objects.filter(order=order).select_related("opc").order_by("created_at", "id")
    return [entry_out(e) for e in qs]


@router.post(
    "/orders/{int:order_id}/entries", response={201: EntryOut, **WRITE}, summary="Enter a contest (OPCs)"
)
def submit_entry(
    request: HttpRequest, payload: EntryIn, order_id: int = Path(..., ge=1, le=MAX_ID)
) -> Status[EntryOut]:
    order = visible_order(scope_for(request), order_id)
    entry = services.submit_contest_entry(
        order=order,
        opc=caller_org(request),
        actor=acting_user(request),
        description=payload.description,
        link=payload.link,
    )
    entry = ContestEntry.objects.select_related("opc").get(pk=entry.pk)
    return Status(201, entry_out(entry))


@router.post(
    "/entries/{int:entry_id}/win",
    response={200: EntryOut, **MONEY_WRITE},
    summary="Pick the winning entry: the reward is paid out",
)
def pick_winner(
    request: HttpRequest,
    entry_id: int = Path(..., ge=1, le=MAX_ID),
    payload: IdempotentIn | None = None,
    key: str | None = Header(None, alias=IDEMPOTENCY_HEADER),
) -> EntryOut:
    org = caller_org(request)
    entry = _visible_entry(org, entry_id)
    won = services.pick_contest_winner(
        order=entry.order,
        entry=entry,
        client=org,
        actor=acting_user(request),
        idempotency_key=idempotency_key(key, payload),
    )
    return entry_out(won)


# -- contracts and milestones ----------------------------------------------------------------------------------


@router.get("/contracts", response={200: ContractPage, **ERRORS}, summary="Your contracts (client or OPC)")
def contracts(request: HttpRequest, filters: Query[ContractFilter]) -> ContractPage:
    org = caller_org(request)
    _require_party_kind(org)
    qs = selectors.contracts_for_organisation(org)
    if filters.status:
        qs = qs.filter(status=filters.status)
    count, items = _page(qs, filters.limit, filters.offset, contract_out)
    return ContractPage(count=count, limit=filters.limit, offset=filters.offset, items=items)


@router.get(
    "/contracts/{int:contract_id}",
    response={200: ContractOut, **READ},
    summary="One contract with its milestones and disputes (parties; the mediating operator)",
)
def contract_detail(request: HttpRequest, contract_id: int = Path(..., ge=1, le=MAX_ID)) -> ContractOut:
    return _contract_detail(scope_for(request), contract_id)


def _milestone(request: HttpRequest, pk: int) -> tuple[Organisation, Milestone]:
    org = caller_org(request)
    return org, selectors.get_milestone_for_party(org, pk)


@router.post(
    "/milestones/{int:milestone_id}/fund",
    response={200: MilestoneOut, **MONEY_WRITE},
    summary="Fund a milestone into escrow (the client; idempotent)",
)
def fund_milestone(
    request: HttpRequest,
    milestone_id: int = Path(..., ge=1, le=MAX_ID),
    payload: IdempotentIn | None = None,
    key: str | None = Header(None, alias=IDEMPOTENCY_HEADER),
) -> MilestoneOut:
    """The payment provider collects the amount and it moves external → your account → the contract's escrow.
    The same idempotency key again returns the same milestone and moves nothing."""
    org, milestone = _milestone(request, milestone_id)
    funded = services.fund_milestone(
        milestone=milestone,
        client=org,
        actor=acting_user(request),
        idempotency_key=idempotency_key(key, payload),
    )
    return milestone_out(funded)


@router.post(
    "/milestones/{int:milestone_id}/deliver",
    response={200: MilestoneOut, **WRITE},
    summary="Deliver a funded milestone (the OPC)",
)
def deliver_milestone(
    request: HttpRequest, milestone_id: int = Path(..., ge=1, le=MAX_ID), payload: NoteIn | None = None
) -> MilestoneOut:
    org, milestone = _milestone(request, milestone_id)
    delivered = services.deliver_milestone(
        milestone=milestone, opc=org, actor=acting_user(request), note=payload.note if payload else ""
    )
    return milestone_out(delivered)


@router.post(
    "/milestones/{int:milestone_id}/accept",
    response={200: MilestoneOut, **MONEY_WRITE},
    summary="Accept a delivery: escrow is released to the OPC (the client; idempotent)",
)
def accept_milestone(
    request: HttpRequest,
    milestone_id: int = Path(..., ge=1, le=MAX_ID),
    payload: IdempotentIn | None = None,
    key: str | None = Header(None, alias=IDEMPOTENCY_HEADER),
) -> MilestoneOut:
    org, milestone = _milestone(request, milestone_id)
    accepted = services.accept_milestone(
        milestone=milestone,
        client=org,
        actor=acting_user(request),
        idempotency_key=idempotency_key(key, payload),
    )
    return milestone_out(accepted)


@router.post(
    "/milestones/{int:milestone_id}/revision",
    response={200: MilestoneOut, **WRITE},
    summary="Ask for a revision of a delivery (the client)",
)
def request_revision(
    request: HttpRequest, payload: RevisionIn, milestone_id: int = Path(..., ge=1, le=MAX_ID)
) -> MilestoneOut:
    org, milestone = _milestone(request, milestone_id)
    revised = services.request_revision(
        milestone=milestone, client=org, actor=acting_user(request), note=payload.note
    )
    return milestone_out(revised)


@router.post(
    "/milestones/{int:milestone_id}/disputes",
    response={201: DisputeOut, **WRITE},
    summary="Open a dispute about a milestone (either party)",
)
def open_dispute(
    request: HttpRequest, payload: DisputeIn, milestone_id: int = Path(..., ge=1, le=MAX_ID)
) -> Status[DisputeOut]:
    org, milestone = _milestone(request, milestone_id)
    dispute = services.open_dispute(
        milestone=milestone, party=org, actor=acting_user(request), reason=payload.reason
    )
    return Status(201, dispute_out(_disputes().get(pk=dispute.pk)))


# -- disputes (mediation) --------------------------------------------------------------------------------------


@router.get("/disputes", response={200: DisputePage, **ERRORS}, summary="Disputes you mediate (operators)")
def disputes(request: HttpRequest, filters: Query[DisputeFilter]) -> DisputePage:
    operator = require_operator(scope_for(request))
    qs = selectors.disputes_for_operator(operator).select_related("mediator")
    if filters.status:
        qs = qs.filter(status=filters.status)
    count, items = _page(qs.order_by("-opened_at", "-id"), filters.limit, filters.offset, dispute_out)
    return DisputePage(count=count, limit=filters.limit, offset=filters.offset, items=items)


@router.get(
    "/disputes/{int:dispute_id}",
    response={200: DisputeOut, **READ},
    summary="One dispute (the parties and the mediator)",
)
def dispute_detail(request: HttpRequest, dispute_id: int = Path(..., ge=1, le=MAX_ID)) -> DisputeOut:
    return dispute_out(_visible_dispute(caller_org(request), dispute_id))


@router.post(
    "/disputes/{int:dispute_id}/decide",
    response={200: DisputeOut, **MONEY_WRITE},
    summary="Decide a dispute with a split of the escrow (the mediating operator; idempotent)",
)
def decide_dispute(
    request: HttpRequest,
    payload: DecisionIn,
    dispute_id: int = Path(..., ge=1, le=MAX_ID),
    key: str | None = Header(None, alias=IDEMPOTENCY_HEADER),
) -> DisputeOut:
    org = caller_org(request)
    dispute = _visible_dispute(org, dispute_id)
    services.decide_dispute(
        dispute=dispute,
        operator=org,
        actor=acting_user(request),
        amount_to_opc=payload.amount_to_opc,
        idempotency_key=idempotency_key(key, payload),
        note=payload.note,
    )
    return dispute_out(_disputes().get(pk=dispute.pk))


# -- notifications ---------------------------------------------------------------------------------------------


@router.get("/notifications", response={200: NotificationPage, **ERRORS}, summary="Your notifications")
def notifications(request: HttpRequest, filters: Query[NotificationFilter]) -> NotificationPage:
    org = caller_org(request)
    qs = selectors.notifications_for(org, unread_only=filters.unread)
    count, items = _page(qs, filters.limit, filters.offset, notification_out)
    return NotificationPage(
        count=count,
        unread=selectors.unread_notification_count(org),
        limit=filters.limit,
        offset=filters.offset,
        items=items,
    )


@router.post("/notifications/read", response={200: MarkReadOut, **ERRORS}, summary="Mark notifications read")
def mark_read(request: HttpRequest, payload: MarkReadIn | None = None) -> MarkReadOut:
    """The given ids (yours only; others are ignored), or all unread ones when ``ids`` is left out."""
    org = caller_org(request)
    subset = None
    if payload is not None and payload.ids is not None:
        subset = Notification.objects.filter(pk__in=payload.ids)
    marked = services.mark_notifications_read(
        organisation=org, actor=acting_user(request), notifications=subset
    )
    return MarkReadOut(marked=marked, unread=selectors.unread_notification_count(org))
