"""Writes of the marketplace: orders, bids, contest entries, contracts, milestones, escrow and disputes.

Views, API handlers, tasks and commands are thin callers: they take the acting organisation from the caller's
``Scope`` and pass it in as ``client`` / ``opc`` / ``operator`` / ``party``; these functions check that this
organisation is the right party, check the transition tables below, change the data and append an audit record
in the same transaction. A refusal raises a ``core.errors.DomainError`` (``InvalidTransition`` for an illegal
change of state) with a translated message, and nothing changes.

Concurrency: every state change locks the **order row first** (``select_for_update``), then the milestone row,
then the ledger locks account rows in ascending id order — one fixed lock order, so two services working on
the same order serialise instead of deadlocking. State columns are additionally changed with conditional
``UPDATE … WHERE status = <expected>`` and the row count is checked.

Money: every money operation takes an ``idempotency_key`` (a form nonce or an ``Idempotency-Key`` header).
Ledger keys are derived from it *and* the object (``mkt:milestone-12:fund:<key>:escrow``), so a key is scoped
to one operation on one object. Replaying a completed operation with the same key returns the stored result;
a different key after the state moved on is refused (``InvalidTransition``).

Ledger flow (accounts: ``platform-external``, the client's and the OPC's ``available`` accounts, one escrow
account per contract ``contract-<id>-escrow`` / per contest ``order-<id>-escrow`` owned by the client, the
platform ``fees`` account):

- fund: provider collects → external → client available → escrow (two postings, one DB transaction);
- release (accept / auto-release / contest winner): escrow → OPC available (minus fee) + fee → platform fees;
- dispute decision: escrow → OPC available (the decided share, no fee) + the rest → client available;
- contest cancelled before any entry: escrow → client available.

Decisions recorded here:
- unverified OPCs may bid (clients see the verification badge: ``Bid.opc.verification_status``); unverified
  clients may post (OPCs see a warning: ``Order.client.verification_status``);
- clients and OPCs may post orders (an OPC passing on overflow work is a client of another OPC); nobody may bid
  on or enter their own order;
- direct orders are visible only to the named OPC; declining returns the order to draft so the client can
  name another OPC; accepting creates a one-milestone contract at the offered price;
- a contest goes open → completed when the winner is picked (no contract);
- a contract can be cancelled only while no milestone has been funded; money in escrow leaves it only by
  release or by a dispute decision;
- no platform fee is taken on a dispute split; the fee applies to normal and automatic releases and contest
  rewards;
- the mediator is the operator of the OPC's home community (else of the order's community).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from audit.services import audit_summary, diff, record_audit
from core.errors import Conflict, DomainError, InvalidTransition, NotFound, NotPermitted
from ledger import services as ledger
from ledger.models import Account, Purpose
from ledger.money import MAX_AMOUNT, exact_fen, format_cny, to_fen
from marketplace.models import (
    Bid,
    BidStatus,
    BudgetBand,
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
    ProcurementMethod,
    Visibility,
)
from marketplace.payments import get_payment_provider
from organisations.capabilities import OrgKind, OrgSubkind
from organisations.models import OPCProfile, Organisation, Skill

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile

    from accounts.models import User
    from communities.models import Community

# ------------------------------------------------------------------------------------------ state tables

S, M, B = OrderStatus, MilestoneStatus, BidStatus

ORDER_TRANSITIONS: dict[str, set[str]] = {
    S.DRAFT: {S.OPEN, S.CANCELLED},
    # open → draft: a named OPC declined a direct order; open → completed: a contest winner was picked
    S.OPEN: {S.AWARDED, S.CANCELLED, S.DRAFT, S.COMPLETED},
    S.AWARDED: {S.IN_PROGRESS, S.CANCELLED},
    S.IN_PROGRESS: {S.DELIVERED, S.DISPUTED},
    S.DELIVERED: {S.IN_PROGRESS, S.COMPLETED, S.DISPUTED},
    S.DISPUTED: {S.IN_PROGRESS, S.DELIVERED, S.COMPLETED},
    S.COMPLETED: set(),
    S.CANCELLED: set(),
}

CONTRACT_TRANSITIONS: dict[str, set[str]] = {
    ContractStatus.ACTIVE: {ContractStatus.COMPLETED, ContractStatus.CANCELLED},
    ContractStatus.COMPLETED: set(),
    ContractStatus.CANCELLED: set(),
}

MILESTONE_TRANSITIONS: dict[str, set[str]] = {
    M.PENDING: {M.FUNDED, M.CANCELLED},
    M.FUNDED: {M.DELIVERED, M.DISPUTED},
    M.DELIVERED: {M.RELEASED, M.REVISION_REQUESTED, M.DISPUTED},
    M.REVISION_REQUESTED: {M.DELIVERED, M.DISPUTED},
    M.DISPUTED: {M.RESOLVED},
    M.RELEASED: set(),
    M.RESOLVED: set(),
    M.CANCELLED: set(),
}

BID_TRANSITIONS: dict[str, set[str]] = {
    B.SUBMITTED: {B.SHORTLISTED, B.AWARDED, B.REJECTED, B.WITHDRAWN},
    B.SHORTLISTED: {B.AWARDED, B.REJECTED, B.WITHDRAWN},
    B.AWARDED: set(),
    B.REJECTED: set(),
    B.WITHDRAWN: set(),
}

ENTRY_TRANSITIONS: dict[str, set[str]] = {
    EntryStatus.SUBMITTED: {EntryStatus.WON, EntryStatus.NOT_SELECTED},
    EntryStatus.WON: set(),
    EntryStatus.NOT_SELECTED: set(),
}

# Milestones whose money is (or may be) in escrow, and milestones that are finished.
ESCROWED = {M.FUNDED, M.DELIVERED, M.REVISION_REQUESTED, M.DISPUTED}
SETTLED = {M.RELEASED, M.RESOLVED}
ACTIVE_BIDS = {B.SUBMITTED, B.SHORTLISTED}

MAX_MILESTONES = 20
MAX_KEY = 100
DEFAULT_AUTO_RELEASE_DAYS = 14


def check_transition(table: dict[str, set[str]], current: str, target: str, *, what: str) -> None:
    """Raise ``InvalidTransition`` unless ``current → target`` is in ``table``."""
    if target not in table.get(current, set()):
        raise InvalidTransition(
            _("%(what)s cannot go from “%(current)s” to “%(target)s”.")
            % {"what": what, "current": _label(table, current), "target": _label(table, target)}
        )


def _label(table: dict[str, set[str]], value: str) -> str:
    for choices in (OrderStatus, MilestoneStatus, BidStatus, ContractStatus, EntryStatus):
        if value in choices.values and set(table) <= set(choices.values):
            return str(choices(value).label)
    return value


# ------------------------------------------------------------------------------------------ settings


def platform_fee_rate() -> Decimal:
    """``MARKETPLACE_PLATFORM_FEE_RATE`` (a fraction, e.g. ``"0.05"``); default 0 (no fee)."""
    rate = Decimal(str(getattr(settings, "MARKETPLACE_PLATFORM_FEE_RATE", "0")))
    if not Decimal("0") <= rate < Decimal("1"):
        raise DomainError(_("The platform fee rate must be at least 0 and below 1."))
    return rate


def auto_release_period() -> dt.timedelta:
    """``MARKETPLACE_AUTO_RELEASE_DAYS``: how long a delivered milestone waits for the client (default 14)."""
    return dt.timedelta(
        days=int(getattr(settings, "MARKETPLACE_AUTO_RELEASE_DAYS", DEFAULT_AUTO_RELEASE_DAYS))
    )


def platform_fee(amount: Decimal) -> Decimal:
    return to_fen(amount * platform_fee_rate())


# ------------------------------------------------------------------------------------------ helpers


@dataclass(frozen=True)
class MilestoneSpec:
    """One milestone of a contract being awarded."""

    title: str
    amount: Decimal | str | int
    due_date: dt.date
    acceptance_criteria: str = ""


def _text(value: Any, *, field: str, max_length: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError(_("%(field)s must be text.") % {"field": field})
    value = value.strip()
    if required and not value:
        raise DomainError(_("%(field)s is required.") % {"field": field})
    if len(value) > max_length:
        raise DomainError(
            _("%(field)s is too long (at most %(max)d characters).") % {"field": field, "max": max_length}
        )
    return value


def _money(value: Any, *, field: str, allow_zero: bool = False) -> Decimal:
    """An amount in CNY, exact to the fen (``SubFenAmount`` otherwise), positive (or zero when allowed)."""
    if value is None or value == "":
        raise DomainError(_("%(field)s is required.") % {"field": field})
    amount = exact_fen(value)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise DomainError(_("%(field)s must be a positive amount.") % {"field": field})
    if amount >= MAX_AMOUNT:
        raise DomainError(_("%(field)s is too large.") % {"field": field})
    return amount


def _date(value: Any, *, field: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise DomainError(_("%(field)s must be a date.") % {"field": field})
    return value


def _key(idempotency_key: str) -> str:
    key = (idempotency_key or "").strip() if isinstance(idempotency_key, str) else ""
    if not key or len(key) > MAX_KEY:
        raise DomainError(
            _("A money operation needs an idempotency key of 1 to %(max)d characters.") % {"max": MAX_KEY}
        )
    return key


def _require_party(organisation: Organisation, expected_id: int | None, message: str) -> None:
    if organisation is None or organisation.pk != expected_id:
        raise NotPermitted(message)


def _lock_order(pk: int) -> Order:
    order = Order.objects.select_for_update().filter(pk=pk).first()
    if order is None:
        raise NotFound()
    return order


def _lock_milestone(milestone: Milestone) -> tuple[Order, Contract, Milestone]:
    """Lock the milestone's order, then the milestone (the fixed lock order); return fresh rows."""
    order_id = Milestone.objects.filter(pk=milestone.pk).values_list("contract__order_id", flat=True).first()
    if order_id is None:
        raise NotFound()
    order = _lock_order(order_id)
    locked = Milestone.objects.select_for_update().get(pk=milestone.pk)
    contract = Contract.objects.select_related("escrow_account", "client", "opc").get(pk=locked.contract_id)
    return order, contract, locked


def _escrow_of(contract: Contract) -> Account:
    if contract.escrow_account is None:  # set when the contract is created; never None afterwards
        raise Conflict()
    return contract.escrow_account


def _set_status(
    model: type[Any],
    obj: Any,
    target: str,
    *,
    table: dict[str, set[str]],
    what: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """Conditional ``UPDATE … SET status = target WHERE pk = … AND status = current`` after checking the table."""
    current = obj.status
    check_transition(table, current, target, what=what)
    values = {"status": target, **(extra or {})}
    updated = model.objects.filter(pk=obj.pk, status=current).update(**values)
    if updated != 1:
        raise Conflict()
    for name, value in values.items():
        setattr(obj, name, value)


def _audit_status(
    obj: Any, previous: str, target: str, *, actor: User | None, organisation: Organisation | None
) -> None:
    """The audit record of a state change that follows from another one (a rejected bid when the order is
    awarded, a contract completed with its last milestone, …)."""
    record_audit(
        action=f"marketplace.{obj._meta.model_name}_status_changed",
        actor=actor,
        organisation=organisation,
        target=obj,
        summary=audit_summary(
            gettext_noop("%(object)s: %(previous)s → %(target)s"),
            {"object": str(obj)[:100], "previous": previous, "target": target},
        ),
        changes={"status": [previous, target]},
    )


def _audit(
    *,
    action: str,
    actor: User | None,
    organisation: Organisation | None,
    target: Any,
    message: str,
    params: dict[str, Any],
    changes: dict[str, Any] | None = None,
) -> None:
    record_audit(
        action=f"marketplace.{action}",
        actor=actor,
        organisation=organisation,
        target=target,
        message=message,
        params=params,
        changes=changes,
    )


def notify(
    *,
    recipient: Organisation,
    kind: str,
    message: str,
    params: dict[str, Any] | None = None,
    link: str = "",
    user: User | None = None,
) -> Notification:
    """Create an in-app notification (``message`` marked with ``gettext_noop``; rendered in the reader's
    language) and, after commit, enqueue the e-mail task."""
    notification = Notification.objects.create(
        recipient=recipient, user=user, kind=kind, message=message, params=params or {}, link=link[:300]
    )

    def enqueue() -> None:
        from marketplace.tasks import send_notification_email

        send_notification_email.enqueue(notification.pk)

    transaction.on_commit(enqueue)
    return notification


def _order_link(order: Order) -> str:
    return reverse("marketplace:order_detail", args=[order.pk])


def _contract_link(contract: Contract) -> str:
    return reverse("marketplace:contract_detail", args=[contract.pk])


def opc_may_see(order: Order, opc: Organisation) -> bool:
    """Whether ``opc`` may see (and so bid on or enter) ``order`` by its visibility."""
    if order.visibility == Visibility.PUBLIC:
        return True
    if order.visibility == Visibility.COMMUNITY:
        return order.community_id is not None and opc.home_community_id == order.community_id
    return order.invited_opcs.filter(pk=opc.pk).exists()


def budget_band_for(amount: Decimal) -> str:
    if amount <= Decimal("100000"):
        return BudgetBand.UNDER_100K
    if amount <= Decimal("1000000"):
        return BudgetBand.FROM_100K_TO_1M
    if amount <= Decimal("4000000"):
        return BudgetBand.FROM_1M_TO_4M
    return BudgetBand.OVER_4M


def _escrow_account(*, owner: Organisation, code: str, name: str, actor: User | None) -> Account:
    return ledger.open_account(owner=owner, purpose=Purpose.ESCROW, code=code, name=name, actor=actor)


def _collect_into_escrow(
    *,
    payer: Organisation,
    escrow: Account,
    amount: Decimal,
    scope: str,
    key: str,
    reference: str,
    actor: User | None,
) -> None:
    """Collect ``amount`` from ``payer`` through the payment provider and post external → payer available →
    escrow. Idempotent per ``scope`` + ``key``."""
    provider = get_payment_provider()
    receipt = provider.collect(
        payer=payer, amount=amount, reference=reference, idempotency_key=f"{scope}:{key}"
    )
    external = ledger.account_for(owner=None, purpose=Purpose.EXTERNAL)
    available = ledger.account_for(owner=payer, purpose=Purpose.AVAILABLE)
    ledger.transfer(
        idempotency_key=f"mkt:{scope}:{key}:collect",
        source=external,
        destination=available,
        amount=amount,
        kind="marketplace.payment_in",
        memo=f"{receipt.provider} {receipt.provider_reference}",
        reference=reference,
        actor=actor,
    )
    ledger.transfer(
        idempotency_key=f"mkt:{scope}:{key}:escrow",
        source=available,
        destination=escrow,
        amount=amount,
        kind="marketplace.escrow_in",
        reference=reference,
        actor=actor,
    )


def _pay_out(
    *,
    escrow: Account,
    opc: Organisation,
    amount: Decimal,
    fee: Decimal,
    ledger_key: str,
    reference: str,
    actor: User | None,
    splits: Sequence[tuple[Organisation, Decimal]] = (),
) -> None:
    """Escrow → OPC available (``amount - fee``) and → platform fees (``fee``), one posting. ``splits`` (team
    members' and subcontractors' parts, from ``teams.services.release_splits``) go to their own available
    accounts in the same posting; the OPC keeps the rest."""
    opc_available = ledger.account_for(owner=opc, purpose=Purpose.AVAILABLE)
    split_total = sum((value for _org, value in splits), Decimal("0.00"))
    entries: list[tuple[Account, Decimal]] = [(escrow, -amount), (opc_available, amount - fee - split_total)]
    entries += [(ledger.account_for(owner=org, purpose=Purpose.AVAILABLE), value) for org, value in splits]
    if fee > 0:
        entries.append((ledger.account_for(owner=None, purpose=Purpose.FEES), fee))
    ledger.post_transaction(
        idempotency_key=ledger_key,
        entries=[(account, value) for account, value in entries if value != 0],
        kind="marketplace.release",
        reference=reference,
        actor=actor,
    )


# ------------------------------------------------------------------------------------------ orders


@transaction.atomic
def post_order(
    *,
    client: Organisation,
    actor: User | None,
    title: str,
    category: Skill,
    budget_min: Decimal | str | int,
    budget_max: Decimal | str | int,
    deadline: dt.date,
    description: str = "",
    mode: str = OrderMode.TENDER,
    required_skills: Iterable[Skill] = (),
    deliverables: str | None = None,
    acceptance_criteria: str | None = None,
    visibility: str = Visibility.PUBLIC,
    community: Community | None = None,
    invited_opcs: Iterable[Organisation] = (),
    direct_opc: Organisation | None = None,
    price: Decimal | str | int | None = None,
    procurement_method: str = "",
) -> Order:
    """A new order in ``draft``. Deliverables and acceptance criteria left as ``None`` are prefilled from the
    category's ``AcceptanceTemplate``. Orders by government departments and SOEs go to the procurement zone
    and need a procurement method."""
    if client.kind not in (OrgKind.CLIENT, OrgKind.OPC):
        raise NotPermitted(_("Only clients and OPCs can post orders."))
    title = _text(title, field=_("Title"), max_length=200, required=True)
    description = _text(description, field=_("Description"), max_length=20000)
    if not isinstance(category, Skill):
        raise DomainError(_("Choose a category from the skill taxonomy."))
    low = _money(budget_min, field=_("Budget from"), allow_zero=True)
    high = _money(budget_max, field=_("Budget to"))
    if low > high:
        raise DomainError(_("The lower budget must not exceed the upper budget."))
    deadline = _date(deadline, field=_("Deadline"))
    if deadline < timezone.localdate():
        raise DomainError(_("The deadline is in the past."))
    if mode not in OrderMode.values:
        raise DomainError(_("Unknown order mode."))
    if visibility not in Visibility.values:
        raise DomainError(_("Unknown visibility."))
    template = getattr(category, "acceptance_template", None)
    if deliverables is None:
        deliverables = template.deliverables if template else ""
    if acceptance_criteria is None:
        acceptance_criteria = template.acceptance_criteria if template else ""
    deliverables = _text(deliverables, field=_("Deliverables"), max_length=10000)
    acceptance_criteria = _text(acceptance_criteria, field=_("Acceptance criteria"), max_length=10000)

    invited = list(invited_opcs)
    offered: Decimal | None = None
    if mode == OrderMode.DIRECT:
        if direct_opc is None or direct_opc.kind != OrgKind.OPC:
            raise DomainError(_("A direct order needs the OPC it is offered to."))
        if direct_opc.pk == client.pk:
            raise DomainError(_("You cannot hire yourself."))
        offered = _money(price, field=_("Price"))
        visibility, invited = Visibility.INVITED, [direct_opc]
    elif mode == OrderMode.CONTEST:
        offered = _money(price, field=_("Reward"))
        direct_opc = None
    else:
        if price not in (None, ""):
            raise DomainError(_("A tender has no fixed price: OPCs bid."))
        direct_opc = None
    if offered is not None and not low <= offered <= high:
        raise DomainError(_("The price must lie within the budget range."))
    if visibility == Visibility.COMMUNITY and community is None:
        raise DomainError(_("Choose the community whose members may see this order."))
    if visibility != Visibility.COMMUNITY:
        community = None
    if visibility == Visibility.INVITED:
        if not invited:
            raise DomainError(_("Invite at least one OPC."))
        if any(org.kind != OrgKind.OPC for org in invited):
            raise DomainError(_("Only OPCs can be invited."))
    else:
        invited = []

    is_procurement = client.kind == OrgKind.CLIENT and client.subkind in (
        OrgSubkind.GOVERNMENT,
        OrgSubkind.SOE,
    )
    if is_procurement:
        if procurement_method not in ProcurementMethod.values or not procurement_method:
            raise DomainError(_("Choose the procurement method."))
    elif procurement_method:
        raise DomainError(
            _("Only government departments and state-owned enterprises set a procurement method.")
        )

    order = Order.objects.create(
        client=client,
        created_by=actor if actor is not None and actor.is_authenticated else None,
        title=title,
        description=description,
        category=category,
        budget_min=low,
        budget_max=high,
        price=offered,
        deadline=deadline,
        deliverables=deliverables,
        acceptance_criteria=acceptance_criteria,
        visibility=visibility,
        community=community,
        mode=mode,
        direct_opc=direct_opc,
        is_procurement=is_procurement,
        procurement_method=procurement_method if is_procurement else "",
        budget_band=budget_band_for(high) if is_procurement else "",
    )
    skills = list(required_skills)
    if any(not isinstance(skill, Skill) for skill in skills):
        raise DomainError(_("Required skills must come from the skill taxonomy."))
    order.required_skills.set(skills)
    order.invited_opcs.set(invited)
    _audit(
        action="order_posted",
        actor=actor,
        organisation=client,
        target=order,
        message=gettext_noop("Order %(title)s drafted"),
        params={"title": title},
        changes={
            "mode": mode,
            "budget": [low, high],
            "price": offered,
            "visibility": visibility,
            "procurement_method": order.procurement_method,
            "skills": sorted(s.code for s in skills),
        },
    )
    return order


EDITABLE_FIELDS = ("title", "description", "deliverables", "acceptance_criteria", "deadline")


@transaction.atomic
def update_order(*, order: Order, client: Organisation, actor: User | None, **changes: Any) -> Order:
    """Edit a draft order's texts and deadline (``EDITABLE_FIELDS``). Money, mode and visibility are fixed
    once drafted: cancel and post again to change them."""
    order = _lock_order(order.pk)
    _require_party(client, order.client_id, _("Only the client can change this order."))
    if order.status != S.DRAFT:
        raise InvalidTransition(_("Only a draft order can be edited."))
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(
            _("These fields cannot be edited: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}
        )
    clean: dict[str, Any] = {}
    if "title" in changes:
        clean["title"] = _text(changes["title"], field=_("Title"), max_length=200, required=True)
    for name, label, limit in (
        ("description", _("Description"), 20000),
        ("deliverables", _("Deliverables"), 10000),
        ("acceptance_criteria", _("Acceptance criteria"), 10000),
    ):
        if name in changes:
            clean[name] = _text(changes[name], field=label, max_length=limit)
    if "deadline" in changes:
        clean["deadline"] = _date(changes["deadline"], field=_("Deadline"))
        if clean["deadline"] < timezone.localdate():
            raise DomainError(_("The deadline is in the past."))
    changed = diff(order, list(clean), clean)
    if changed:
        Order.objects.filter(pk=order.pk).update(**clean)
        for name, value in clean.items():
            setattr(order, name, value)
        _audit(
            action="order_updated",
            actor=actor,
            organisation=client,
            target=order,
            message=gettext_noop("Order %(title)s edited"),
            params={"title": order.title},
            changes=changed,
        )
    return order


@transaction.atomic
def add_attachment(
    *, order: Order, client: Organisation, actor: User | None, upload: UploadedFile
) -> OrderAttachment:
    """Attach a file to a draft or open order (size-checked)."""
    from core.uploads import check_size

    order = _lock_order(order.pk)
    _require_party(client, order.client_id, _("Only the client can attach files to this order."))
    if order.status not in (S.DRAFT, S.OPEN):
        raise InvalidTransition(_("Files can be attached only to draft or open orders."))
    try:
        check_size(upload)
    except ValidationError as exc:
        raise DomainError(" ".join(exc.messages)) from None
    name = _text(upload.name or "", field=_("File name"), max_length=200, required=True)
    attachment = OrderAttachment.objects.create(order=order, file=upload, name=name, uploaded_by=actor)
    _audit(
        action="attachment_added",
        actor=actor,
        organisation=client,
        target=order,
        message=gettext_noop("File %(name)s attached to order %(title)s"),
        params={"name": name, "title": order.title},
    )
    return attachment


@transaction.atomic
def publish_order(
    *, order: Order, client: Organisation, actor: User | None, idempotency_key: str = ""
) -> Order:
    """draft → open. A contest escrows its reward now (``idempotency_key`` required); a direct order is
    offered to its OPC and invited OPCs are told."""
    order = _lock_order(order.pk)
    _require_party(client, order.client_id, _("Only the client can publish this order."))
    if order.mode == OrderMode.CONTEST:
        key = _key(idempotency_key)
        if order.status != S.DRAFT and order.funding_key == key:
            return order  # replay of the publication that escrowed the reward
    if order.deadline < timezone.localdate():
        raise DomainError(_("The deadline is in the past."))
    check_transition(ORDER_TRANSITIONS, order.status, S.OPEN, what=_("The order"))
    extra: dict[str, Any] = {"published_at": timezone.now()}
    if order.mode == OrderMode.CONTEST:
        assert order.price is not None
        escrow = _escrow_account(
            owner=order.client,
            code=f"order-{order.pk}-escrow",
            name=f"Contest {order.pk} escrow",
            actor=actor,
        )
        _collect_into_escrow(
            payer=order.client,
            escrow=escrow,
            amount=order.price,
            scope=f"order-{order.pk}:reward",
            key=key,
            reference=f"order:{order.pk}",
            actor=actor,
        )
        extra.update(escrow_account=escrow, funding_key=key)
    _set_status(Order, order, S.OPEN, table=ORDER_TRANSITIONS, what=_("The order"), extra=extra)
    _audit(
        action="order_published",
        actor=actor,
        organisation=client,
        target=order,
        message=gettext_noop("Order %(title)s published"),
        params={"title": order.title},
        changes={
            "status": [S.DRAFT, S.OPEN],
            "reward_escrowed": order.price if order.mode == OrderMode.CONTEST else None,
        },
    )
    if order.mode == OrderMode.DIRECT and order.direct_opc is not None:
        notify(
            recipient=order.direct_opc,
            kind="direct_offer",
            message=gettext_noop("%(client)s offers you the order “%(title)s” for %(price)s."),
            params={"client": order.client.name, "title": order.title, "price": format_cny(order.price or 0)},
            link=_order_link(order),
        )
    elif order.visibility == Visibility.INVITED:
        for opc in order.invited_opcs.all():
            notify(
                recipient=opc,
                kind="invitation",
                message=gettext_noop("%(client)s invites you to the order “%(title)s”."),
                params={"client": order.client.name, "title": order.title},
                link=_order_link(order),
            )
    return order


@transaction.atomic
def cancel_order(
    *, order: Order, client: Organisation, actor: User | None, idempotency_key: str = "", reason: str = ""
) -> Order:
    """Cancel a draft or open order, or an awarded one whose milestones are all still unfunded. A contest can
    be cancelled only before any entry; its reward is refunded to the client (``idempotency_key`` required)."""
    order = _lock_order(order.pk)
    _require_party(client, order.client_id, _("Only the client can cancel this order."))
    reason = _text(reason, field=_("Reason"), max_length=2000)
    if order.status == S.CANCELLED:
        return order
    check_transition(ORDER_TRANSITIONS, order.status, S.CANCELLED, what=_("The order"))
    previous = order.status
    if order.mode == OrderMode.CONTEST and order.status == S.OPEN:
        key = _key(idempotency_key)
        if ContestEntry.objects.filter(order=order).exists():
            raise InvalidTransition(_("A contest with entries cannot be cancelled; pick a winner."))
        assert order.escrow_account is not None and order.price is not None
        ledger.transfer(
            idempotency_key=f"mkt:order-{order.pk}:refund:{key}",
            source=order.escrow_account,
            destination=ledger.account_for(owner=order.client, purpose=Purpose.AVAILABLE),
            amount=order.price,
            kind="marketplace.refund",
            reference=f"order:{order.pk}",
            actor=actor,
        )
    if order.status == S.AWARDED:
        contract = Contract.objects.select_for_update().get(order=order)
        milestones = list(Milestone.objects.select_for_update().filter(contract=contract))
        if any(m.status != M.PENDING for m in milestones):
            raise InvalidTransition(_("Milestones have been funded; settle them or open a dispute."))
        for milestone in milestones:
            _set_status(
                Milestone, milestone, M.CANCELLED, table=MILESTONE_TRANSITIONS, what=_("The milestone")
            )
            _audit_status(milestone, M.PENDING, M.CANCELLED, actor=actor, organisation=client)
        _set_status(
            Contract,
            contract,
            ContractStatus.CANCELLED,
            table=CONTRACT_TRANSITIONS,
            what=_("The contract"),
            extra={"closed_at": timezone.now()},
        )
        _audit_status(
            contract, ContractStatus.ACTIVE, ContractStatus.CANCELLED, actor=actor, organisation=client
        )
        notify(
            recipient=contract.opc,
            kind="contract_cancelled",
            message=gettext_noop("The client cancelled the order “%(title)s”."),
            params={"title": order.title},
            link=_order_link(order),
        )
    for bid in Bid.objects.filter(order=order, status__in=ACTIVE_BIDS).select_related("opc"):
        bid_status = bid.status
        _set_status(Bid, bid, B.REJECTED, table=BID_TRANSITIONS, what=_("The bid"))
        _audit_status(bid, bid_status, B.REJECTED, actor=actor, organisation=client)
        notify(
            recipient=bid.opc,
            kind="order_cancelled",
            message=gettext_noop("The order “%(title)s” you bid on was cancelled."),
            params={"title": order.title},
            link=_order_link(order),
        )
    _set_status(
        Order,
        order,
        S.CANCELLED,
        table=ORDER_TRANSITIONS,
        what=_("The order"),
        extra={"closed_at": timezone.now()},
    )
    _audit(
        action="order_cancelled",
        actor=actor,
        organisation=client,
        target=order,
        message=gettext_noop("Order %(title)s cancelled"),
        params={"title": order.title},
        changes={"status": [previous, S.CANCELLED], "reason": reason},
    )
    return order


# ------------------------------------------------------------------------------------------ bids


def _require_opc_may_take_part(order: Order, opc: Organisation) -> None:
    if opc.kind != OrgKind.OPC:
        raise NotPermitted(_("Only OPCs can bid or enter."))
    if opc.pk == order.client_id:
        raise NotPermitted(_("You cannot bid on your own order."))
    if not opc_may_see(order, opc):
        raise NotFound()


def active_contract_count(opc: Organisation) -> int:
    """How many contracts the OPC is working on now (what ``OPCProfile.capacity`` limits)."""
    return Contract.objects.filter(opc=opc, status=ContractStatus.ACTIVE).count()


def opc_capacity(opc: Organisation) -> int:
    """The OPC's capacity: at most this many concurrent active contracts (default 2 without a profile)."""
    capacity = OPCProfile.objects.filter(organisation=opc).values_list("capacity", flat=True).first()
    return 2 if capacity is None else int(capacity)


def check_capacity(opc: Organisation) -> None:
    """Refuse new work for an OPC that already holds ``capacity`` active contracts.

    Called wherever an OPC takes on new work (award, direct acceptance, accepting a dispatch offer), under
    the order's lock; the OPC's profile row is locked too, so two awards to the same OPC at the same moment
    are serialised and cannot together exceed its capacity."""
    OPCProfile.objects.select_for_update().filter(organisation=opc).first()
    capacity, active = opc_capacity(opc), active_contract_count(opc)
    if active >= capacity:
        raise Conflict(
            _(
                "%(opc)s is at full capacity: %(active)d of %(capacity)d concurrent contracts are active. "
                "It can take new work when one is completed (or after raising its capacity in the profile)."
            )
            % {"opc": opc.name, "active": active, "capacity": capacity}
        )


@transaction.atomic
def invite_opc(*, order: Order, client: Organisation, actor: User | None, opc: Organisation) -> Order:
    """The client invites an OPC (e.g. from the recommendations) to a draft or open order: the OPC joins the
    order's invited list (so an invited-only order becomes visible to it) and, once the order is open, is
    told. Inviting the same OPC twice changes nothing."""
    order = _lock_order(order.pk)
    _require_party(client, order.client_id, _("Only the client can invite OPCs to this order."))
    if order.status not in (S.DRAFT, S.OPEN):
        raise InvalidTransition(_("OPCs can be invited only to draft or open orders."))
    if order.mode == OrderMode.DIRECT:
        raise DomainError(_("A direct order is offered to one named OPC; invite nobody else."))
    if opc.kind != OrgKind.OPC:
        raise DomainError(_("Only OPCs can be invited."))
    if opc.pk == client.pk:
        raise DomainError(_("You cannot invite yourself."))
    if order.invited_opcs.filter(pk=opc.pk).exists():
        return order
    order.invited_opcs.add(opc)
    _audit(
        action="opc_invited",
        actor=actor,
        organisation=client,
        target=order,
        message=gettext_noop("%(opc)s invited to order %(title)s"),
        params={"opc": opc.name, "title": order.title},
        changes={"invited": opc.pk},
    )
    if order.status == S.OPEN:
        notify(
            recipient=opc,
            kind="invitation",
            message=gettext_noop("%(client)s invites you to the order “%(title)s”."),
            params={"client": order.client.name, "title": order.title},
            link=_order_link(order),
        )
    return order


@transaction.atomic
def submit_bid(
    *,
    order: Order,
    opc: Organisation,
    actor: User | None,
    price: Decimal | str | int,
    timeline_days: int,
    plan: str = "",
) -> Bid:
    """An OPC bids on an open tender it may see (one bid per OPC; withdrawn bids cannot be renewed)."""
    order = _lock_order(order.pk)
    _require_opc_may_take_part(order, opc)
    if order.mode != OrderMode.TENDER:
        raise DomainError(_("Only tenders take bids."))
    if order.status != S.OPEN:
        raise InvalidTransition(_("This order is not open for bids."))
    amount = _money(price, field=_("Price"))
    if (
        isinstance(timeline_days, bool)
        or not isinstance(timeline_days, int)
        or not 1 <= timeline_days <= 3650
    ):
        raise DomainError(_("The timeline must be between 1 and 3650 days."))
    plan = _text(plan, field=_("Plan"), max_length=20000)
    if Bid.objects.filter(order=order, opc=opc).exists():
        raise Conflict(_("You have already bid on this order."))
    try:
        with transaction.atomic():
            bid = Bid.objects.create(
                order=order, opc=opc, price=amount, timeline_days=timeline_days, plan=plan, created_by=actor
            )
    except IntegrityError:
        raise Conflict(_("You have already bid on this order.")) from None
    _audit(
        action="bid_submitted",
        actor=actor,
        organisation=opc,
        target=bid,
        message=gettext_noop("Bid of %(price)s on order %(title)s"),
        params={"price": format_cny(amount), "title": order.title},
        changes={"price": amount, "timeline_days": timeline_days},
    )
    notify(
        recipient=order.client,
        kind="bid_received",
        message=gettext_noop("%(opc)s bid %(price)s on “%(title)s”."),
        params={"opc": opc.name, "price": format_cny(amount), "title": order.title},
        link=_order_link(order),
    )
    return bid


def _lock_bid(bid: Bid) -> tuple[Order, Bid]:
    order_id = Bid.objects.filter(pk=bid.pk).values_list("order_id", flat=True).first()
    if order_id is None:
        raise NotFound()
    order = _lock_order(order_id)
    return order, Bid.objects.select_for_update().select_related("opc").get(pk=bid.pk)


@transaction.atomic
def withdraw_bid(*, bid: Bid, opc: Organisation, actor: User | None) -> Bid:
    order, bid = _lock_bid(bid)
    _require_party(opc, bid.opc_id, _("Only the bidder can withdraw this bid."))
    previous = bid.status
    _set_status(Bid, bid, B.WITHDRAWN, table=BID_TRANSITIONS, what=_("The bid"))
    _audit(
        action="bid_withdrawn",
        actor=actor,
        organisation=opc,
        target=bid,
        message=gettext_noop("Bid on order %(title)s withdrawn"),
        params={"title": order.title},
        changes={"status": [previous, B.WITHDRAWN]},
    )
    return bid


@transaction.atomic
def shortlist_bid(*, bid: Bid, client: Organisation, actor: User | None) -> Bid:
    order, bid = _lock_bid(bid)
    _require_party(client, order.client_id, _("Only the client can shortlist bids."))
    if order.status != S.OPEN:
        raise InvalidTransition(_("This order is not open for bids."))
    _set_status(Bid, bid, B.SHORTLISTED, table=BID_TRANSITIONS, what=_("The bid"))
    _audit(
        action="bid_shortlisted",
        actor=actor,
        organisation=client,
        target=bid,
        message=gettext_noop("Bid of %(opc)s shortlisted"),
        params={"opc": bid.opc.name},
        changes={"status": [B.SUBMITTED, B.SHORTLISTED]},
    )
    notify(
        recipient=bid.opc,
        kind="bid_shortlisted",
        message=gettext_noop("Your bid on “%(title)s” was shortlisted."),
        params={"title": order.title},
        link=_order_link(order),
    )
    return bid


def _clean_milestones(specs: Sequence[MilestoneSpec], *, price: Decimal) -> list[MilestoneSpec]:
    if not specs:
        raise DomainError(_("A contract needs at least one milestone."))
    if len(specs) > MAX_MILESTONES:
        raise DomainError(_("A contract can have at most %(max)d milestones.") % {"max": MAX_MILESTONES})
    clean = [
        MilestoneSpec(
            title=_text(spec.title, field=_("Milestone title"), max_length=200, required=True),
            amount=_money(spec.amount, field=_("Milestone amount")),
            due_date=_date(spec.due_date, field=_("Due date")),
            acceptance_criteria=_text(
                spec.acceptance_criteria, field=_("Acceptance criteria"), max_length=10000
            ),
        )
        for spec in specs
    ]
    total = sum((Decimal(spec.amount) for spec in clean), Decimal("0.00"))
    if total != price:
        raise DomainError(
            _("The milestone amounts add up to %(total)s but the contract price is %(price)s.")
            % {"total": format_cny(total), "price": format_cny(price)}
        )
    return clean


def _create_contract(
    *,
    order: Order,
    opc: Organisation,
    price: Decimal,
    bid: Bid | None,
    milestones: Sequence[MilestoneSpec] | None,
    actor: User | None,
) -> Contract:
    specs = _clean_milestones(
        milestones
        or [
            MilestoneSpec(
                title=order.title,
                amount=price,
                due_date=order.deadline,
                acceptance_criteria=order.acceptance_criteria,
            )
        ],
        price=price,
    )
    contract = Contract.objects.create(order=order, bid=bid, client=order.client, opc=opc, price=price)
    contract.escrow_account = _escrow_account(
        owner=order.client,
        code=f"contract-{contract.pk}-escrow",
        name=f"Contract {contract.pk} escrow",
        actor=actor,
    )
    contract.save(update_fields=["escrow_account"])
    Milestone.objects.bulk_create(
        [
            Milestone(
                contract=contract,
                position=n,
                title=spec.title,
                amount=Decimal(spec.amount),
                due_date=spec.due_date,
                acceptance_criteria=spec.acceptance_criteria,
            )
            for n, spec in enumerate(specs, start=1)
        ]
    )
    return contract


@transaction.atomic
def award_bid(
    *,
    order: Order,
    bid: Bid,
    client: Organisation,
    actor: User | None,
    milestones: Sequence[MilestoneSpec] | None = None,
) -> Contract:
    """The client awards a tender to ``bid``: order open → awarded, a contract at the bid's price with
    ``milestones`` (default: one milestone for the whole price, due at the deadline), the other bidders are
    told they were not selected."""
    order = _lock_order(order.pk)
    _require_party(client, order.client_id, _("Only the client can award this order."))
    bid = Bid.objects.select_for_update().select_related("opc").get(pk=bid.pk)
    if bid.order_id != order.pk:
        raise NotFound()
    if order.mode != OrderMode.TENDER:
        raise DomainError(_("Only tenders are awarded to a bid."))
    check_transition(ORDER_TRANSITIONS, order.status, S.AWARDED, what=_("The order"))
    check_transition(BID_TRANSITIONS, bid.status, B.AWARDED, what=_("The bid"))
    check_capacity(bid.opc)
    contract = _create_contract(
        order=order, opc=bid.opc, price=bid.price, bid=bid, milestones=milestones, actor=actor
    )
    _set_status(Bid, bid, B.AWARDED, table=BID_TRANSITIONS, what=_("The bid"))
    _set_status(Order, order, S.AWARDED, table=ORDER_TRANSITIONS, what=_("The order"))
    for other in (
        Bid.objects.filter(order=order, status__in=ACTIVE_BIDS).exclude(pk=bid.pk).select_related("opc")
    ):
        other_status = other.status
        _set_status(Bid, other, B.REJECTED, table=BID_TRANSITIONS, what=_("The bid"))
        _audit_status(other, other_status, B.REJECTED, actor=actor, organisation=client)
        notify(
            recipient=other.opc,
            kind="bid_rejected",
            message=gettext_noop("The order “%(title)s” was awarded to another bidder."),
            params={"title": order.title},
            link=_order_link(order),
        )
    notify(
        recipient=bid.opc,
        kind="bid_awarded",
        message=gettext_noop("You won the order “%(title)s” for %(price)s."),
        params={"title": order.title, "price": format_cny(bid.price)},
        link=_contract_link(contract),
    )
    _audit(
        action="order_awarded",
        actor=actor,
        organisation=client,
        target=contract,
        message=gettext_noop("Order %(title)s awarded to %(opc)s for %(price)s"),
        params={"title": order.title, "opc": bid.opc.name, "price": format_cny(bid.price)},
        changes={"status": [S.OPEN, S.AWARDED], "bid": bid.pk, "price": bid.price},
    )
    return contract


@transaction.atomic
def accept_direct_order(*, order: Order, opc: Organisation, actor: User | None) -> Contract:
    """The named OPC accepts a direct order: open → awarded, a one-milestone contract at the offered price."""
    order = _lock_order(order.pk)
    if order.mode != OrderMode.DIRECT:
        raise DomainError(_("This is not a direct order."))
    _require_party(opc, order.direct_opc_id, _("This order was offered to another OPC."))
    check_transition(ORDER_TRANSITIONS, order.status, S.AWARDED, what=_("The order"))
    check_capacity(opc)
    assert order.price is not None
    contract = _create_contract(
        order=order, opc=opc, price=order.price, bid=None, milestones=None, actor=actor
    )
    _set_status(Order, order, S.AWARDED, table=ORDER_TRANSITIONS, what=_("The order"))
    _audit(
        action="direct_order_accepted",
        actor=actor,
        organisation=opc,
        target=contract,
        message=gettext_noop("%(opc)s accepted order %(title)s"),
        params={"opc": opc.name, "title": order.title},
        changes={"status": [S.OPEN, S.AWARDED], "price": order.price},
    )
    notify(
        recipient=order.client,
        kind="direct_accepted",
        message=gettext_noop("%(opc)s accepted your order “%(title)s”."),
        params={"opc": opc.name, "title": order.title},
        link=_contract_link(contract),
    )
    return contract


@transaction.atomic
def decline_direct_order(*, order: Order, opc: Organisation, actor: User | None, reason: str = "") -> Order:
    """The named OPC declines: the order goes back to draft (the client may name another OPC)."""
    order = _lock_order(order.pk)
    if order.mode != OrderMode.DIRECT:
        raise DomainError(_("This is not a direct order."))
    _require_party(opc, order.direct_opc_id, _("This order was offered to another OPC."))
    reason = _text(reason, field=_("Reason"), max_length=2000)
    _set_status(
        Order, order, S.DRAFT, table=ORDER_TRANSITIONS, what=_("The order"), extra={"published_at": None}
    )
    _audit(
        action="direct_order_declined",
        actor=actor,
        organisation=opc,
        target=order,
        message=gettext_noop("%(opc)s declined order %(title)s"),
        params={"opc": opc.name, "title": order.title},
        changes={"status": [S.OPEN, S.DRAFT], "reason": reason},
    )
    notify(
        recipient=order.client,
        kind="direct_declined",
        message=gettext_noop("%(opc)s declined your order “%(title)s”."),
        params={"opc": opc.name, "title": order.title},
        link=_order_link(order),
    )
    return order


@transaction.atomic
def reassign_direct_order(
    *, order: Order, client: Organisation, actor: User | None, opc: Organisation
) -> Order:
    """Name another OPC for a declined (draft) direct order."""
    order = _lock_order(order.pk)
    _require_party(client, order.client_id, _("Only the client can change this order."))
    if order.mode != OrderMode.DIRECT or order.status != S.DRAFT:
        raise InvalidTransition(_("Only a draft direct order can be offered to another OPC."))
    if opc.kind != OrgKind.OPC or opc.pk == client.pk:
        raise DomainError(_("A direct order needs the OPC it is offered to."))
    previous = order.direct_opc_id
    Order.objects.filter(pk=order.pk).update(direct_opc=opc)
    order.direct_opc = opc
    order.invited_opcs.set([opc])
    _audit(
        action="direct_order_reassigned",
        actor=actor,
        organisation=client,
        target=order,
        message=gettext_noop("Order %(title)s offered to %(opc)s"),
        params={"title": order.title, "opc": opc.name},
        changes={"direct_opc": [previous, opc.pk]},
    )
    return order


# ------------------------------------------------------------------------------------------ contests


@transaction.atomic
def submit_contest_entry(
    *, order: Order, opc: Organisation, actor: User | None, description: str, link: str = ""
) -> ContestEntry:
    order = _lock_order(order.pk)
    _require_opc_may_take_part(order, opc)
    if order.mode != OrderMode.CONTEST:
        raise DomainError(_("Only contests take entries."))
    if order.status != S.OPEN:
        raise InvalidTransition(_("This contest is not open for entries."))
    description = _text(description, field=_("Description"), max_length=20000, required=True)
    link = _text(link, field=_("Link"), max_length=200)
    if ContestEntry.objects.filter(order=order, opc=opc).exists():
        raise Conflict(_("You have already entered this contest."))
    entry = ContestEntry.objects.create(order=order, opc=opc, description=description, link=link)
    _audit(
        action="contest_entry_submitted",
        actor=actor,
        organisation=opc,
        target=entry,
        message=gettext_noop("Entry to contest %(title)s submitted"),
        params={"title": order.title},
    )
    notify(
        recipient=order.client,
        kind="entry_received",
        message=gettext_noop("%(opc)s entered your contest “%(title)s”."),
        params={"opc": opc.name, "title": order.title},
        link=_order_link(order),
    )
    return entry


@transaction.atomic
def pick_contest_winner(
    *, order: Order, entry: ContestEntry, client: Organisation, actor: User | None, idempotency_key: str
) -> ContestEntry:
    """The client picks the winning entry: the reward is released to its OPC (minus the platform fee), the
    order is completed, the other entrants are told."""
    key = _key(idempotency_key)
    order = _lock_order(order.pk)
    _require_party(client, order.client_id, _("Only the client can pick the winner."))
    entry = ContestEntry.objects.select_for_update().select_related("opc").get(pk=entry.pk)
    if entry.order_id != order.pk:
        raise NotFound()
    if entry.status == EntryStatus.WON and entry.payout_key == key:
        return entry
    if order.mode != OrderMode.CONTEST:
        raise DomainError(_("Only contests have winners."))
    check_transition(ORDER_TRANSITIONS, order.status, S.COMPLETED, what=_("The order"))
    check_transition(ENTRY_TRANSITIONS, entry.status, EntryStatus.WON, what=_("The entry"))
    assert order.escrow_account is not None and order.price is not None
    fee = platform_fee(order.price)
    _pay_out(
        escrow=order.escrow_account,
        opc=entry.opc,
        amount=order.price,
        fee=fee,
        ledger_key=f"mkt:order-{order.pk}:reward:{key}",
        reference=f"order:{order.pk}",
        actor=actor,
    )
    _set_status(
        ContestEntry,
        entry,
        EntryStatus.WON,
        table=ENTRY_TRANSITIONS,
        what=_("The entry"),
        extra={"payout_key": key},
    )
    for other in ContestEntry.objects.filter(order=order, status=EntryStatus.SUBMITTED).select_related("opc"):
        _set_status(
            ContestEntry, other, EntryStatus.NOT_SELECTED, table=ENTRY_TRANSITIONS, what=_("The entry")
        )
        _audit_status(
            other, EntryStatus.SUBMITTED, EntryStatus.NOT_SELECTED, actor=actor, organisation=client
        )
        notify(
            recipient=other.opc,
            kind="entry_not_selected",
            message=gettext_noop("Another entry won the contest “%(title)s”."),
            params={"title": order.title},
            link=_order_link(order),
        )
    _set_status(
        Order,
        order,
        S.COMPLETED,
        table=ORDER_TRANSITIONS,
        what=_("The order"),
        extra={"closed_at": timezone.now()},
    )
    notify(
        recipient=entry.opc,
        kind="entry_won",
        message=gettext_noop("Your entry won the contest “%(title)s”: %(amount)s."),
        params={"title": order.title, "amount": format_cny(order.price - fee)},
        link=_order_link(order),
    )
    _audit(
        action="contest_winner_picked",
        actor=actor,
        organisation=client,
        target=entry,
        message=gettext_noop("%(opc)s won contest %(title)s, %(amount)s released"),
        params={"opc": entry.opc.name, "title": order.title, "amount": format_cny(order.price)},
        changes={"status": [S.OPEN, S.COMPLETED], "reward": order.price, "fee": fee},
    )
    return entry


# ------------------------------------------------------------------------------------------ milestones


def _sync_order(*, order: Order, contract: Contract, actor: User | None, organisation: Organisation) -> None:
    """Derive the order's (and contract's) state from its milestones and move it through the tables:
    any milestone disputed → disputed; all settled → completed; every unsettled one delivered → delivered;
    any funded or settled → in progress; else awarded."""
    statuses = list(Milestone.objects.filter(contract=contract).values_list("status", flat=True))
    unsettled = [s for s in statuses if s not in SETTLED]
    if M.DISPUTED in statuses:
        target = S.DISPUTED
    elif not unsettled:
        target = S.COMPLETED
    elif all(s == M.DELIVERED for s in unsettled):
        target = S.DELIVERED
    elif any(s != M.PENDING for s in statuses):
        target = S.IN_PROGRESS
    else:
        target = S.AWARDED
    if target == order.status:
        return
    previous = order.status
    extra = {"closed_at": timezone.now()} if target == S.COMPLETED else {}
    _set_status(Order, order, target, table=ORDER_TRANSITIONS, what=_("The order"), extra=extra)
    _audit(
        action="order_status_changed",
        actor=actor,
        organisation=organisation,
        target=order,
        message=gettext_noop("Order %(title)s is now %(status)s"),
        params={"title": order.title, "status": str(target)},
        changes={"status": [previous, target]},
    )
    if target == S.COMPLETED:
        _set_status(
            Contract,
            contract,
            ContractStatus.COMPLETED,
            table=CONTRACT_TRANSITIONS,
            what=_("The contract"),
            extra={"closed_at": timezone.now()},
        )
        _audit_status(
            contract, ContractStatus.ACTIVE, ContractStatus.COMPLETED, actor=actor, organisation=organisation
        )


@transaction.atomic
def fund_milestone(
    *, milestone: Milestone, client: Organisation, actor: User | None, idempotency_key: str
) -> Milestone:
    """The client pays a milestone into the contract's escrow (pending → funded). The payment provider
    collects the amount, then external → client available → escrow is posted. Replaying with the same key
    returns the funded milestone; any other attempt on a funded milestone is refused."""
    key = _key(idempotency_key)
    order, contract, milestone = _lock_milestone(milestone)
    _require_party(client, contract.client_id, _("Only the client can fund this milestone."))
    if milestone.status != M.PENDING and milestone.funding_key == key:
        return milestone
    if milestone.status != M.PENDING:
        raise InvalidTransition(_("This milestone has already been funded."))
    if contract.status != ContractStatus.ACTIVE:
        raise InvalidTransition(_("The contract is no longer active."))
    check_transition(MILESTONE_TRANSITIONS, milestone.status, M.FUNDED, what=_("The milestone"))
    _collect_into_escrow(
        payer=contract.client,
        escrow=_escrow_of(contract),
        amount=milestone.amount,
        scope=f"milestone-{milestone.pk}:fund",
        key=key,
        reference=f"milestone:{milestone.pk}",
        actor=actor,
    )
    _set_status(
        Milestone,
        milestone,
        M.FUNDED,
        table=MILESTONE_TRANSITIONS,
        what=_("The milestone"),
        extra={"funded_amount": milestone.amount, "funding_key": key, "funded_at": timezone.now()},
    )
    _audit(
        action="milestone_funded",
        actor=actor,
        organisation=client,
        target=milestone,
        message=gettext_noop("Milestone %(title)s funded with %(amount)s"),
        params={"title": milestone.title, "amount": format_cny(milestone.amount)},
        changes={"status": [M.PENDING, M.FUNDED], "amount": milestone.amount},
    )
    notify(
        recipient=contract.opc,
        kind="milestone_funded",
        message=gettext_noop("Milestone “%(title)s” is funded (%(amount)s in escrow); you can start."),
        params={"title": milestone.title, "amount": format_cny(milestone.amount)},
        link=_contract_link(contract),
    )
    _sync_order(order=order, contract=contract, actor=actor, organisation=client)
    return milestone


@transaction.atomic
def deliver_milestone(
    *, milestone: Milestone, opc: Organisation, actor: User | None, note: str = ""
) -> Milestone:
    """The OPC delivers a funded milestone (or a revision): → delivered; the auto-release clock starts."""
    order, contract, milestone = _lock_milestone(milestone)
    _require_party(opc, contract.opc_id, _("Only the contracted OPC can deliver this milestone."))
    note = _text(note, field=_("Delivery note"), max_length=20000)
    previous = milestone.status
    _set_status(
        Milestone,
        milestone,
        M.DELIVERED,
        table=MILESTONE_TRANSITIONS,
        what=_("The milestone"),
        extra={"delivered_at": timezone.now(), "delivery_note": note},
    )
    _audit(
        action="milestone_delivered",
        actor=actor,
        organisation=opc,
        target=milestone,
        message=gettext_noop("Milestone %(title)s delivered"),
        params={"title": milestone.title},
        changes={"status": [previous, M.DELIVERED]},
    )
    notify(
        recipient=contract.client,
        kind="milestone_delivered",
        message=gettext_noop(
            "“%(title)s” was delivered. Accept it or ask for a revision within %(days)d days, or it is released automatically."
        ),
        params={"title": milestone.title, "days": auto_release_period().days},
        link=_contract_link(contract),
    )
    _sync_order(order=order, contract=contract, actor=actor, organisation=opc)
    return milestone


@transaction.atomic
def request_revision(
    *, milestone: Milestone, client: Organisation, actor: User | None, note: str
) -> Milestone:
    """The client asks for a revision of a delivered milestone against its criteria (counts the round)."""
    order, contract, milestone = _lock_milestone(milestone)
    _require_party(client, contract.client_id, _("Only the client can ask for a revision."))
    note = _text(note, field=_("What needs revising"), max_length=20000, required=True)
    rounds = milestone.revision_rounds + 1
    _set_status(
        Milestone,
        milestone,
        M.REVISION_REQUESTED,
        table=MILESTONE_TRANSITIONS,
        what=_("The milestone"),
        extra={"revision_rounds": rounds, "revision_note": note},
    )
    _audit(
        action="milestone_revision_requested",
        actor=actor,
        organisation=client,
        target=milestone,
        message=gettext_noop("Revision %(round)d of milestone %(title)s requested"),
        params={"round": rounds, "title": milestone.title},
        changes={"status": [M.DELIVERED, M.REVISION_REQUESTED], "revision_rounds": rounds},
    )
    notify(
        recipient=contract.opc,
        kind="revision_requested",
        message=gettext_noop("The client asks for revision %(round)d of “%(title)s”."),
        params={"round": rounds, "title": milestone.title},
        link=_contract_link(contract),
    )
    _sync_order(order=order, contract=contract, actor=actor, organisation=client)
    return milestone


def _release(
    *,
    order: Order,
    contract: Contract,
    milestone: Milestone,
    actor: User | None,
    key: str,
    auto: bool,
    organisation: Organisation,
) -> Milestone:
    check_transition(MILESTONE_TRANSITIONS, milestone.status, M.RELEASED, what=_("The milestone"))
    amount = milestone.funded_amount
    fee = platform_fee(amount)
    from teams.services import release_splits  # team revenue shares and accepted subcontracts

    _pay_out(
        escrow=_escrow_of(contract),
        opc=contract.opc,
        amount=amount,
        fee=fee,
        ledger_key=f"mkt:milestone-{milestone.pk}:release:{key}",
        reference=f"milestone:{milestone.pk}",
        actor=actor,
        splits=release_splits(contract=contract, milestone=milestone, amount=amount, fee=fee),
    )
    _set_status(
        Milestone,
        milestone,
        M.RELEASED,
        table=MILESTONE_TRANSITIONS,
        what=_("The milestone"),
        extra={
            "released_amount": amount,
            "fee_amount": fee,
            "release_key": key,
            "released_at": timezone.now(),
            "auto_released": auto,
        },
    )
    _audit(
        action="milestone_auto_released" if auto else "milestone_accepted",
        actor=actor,
        organisation=organisation,
        target=milestone,
        message=gettext_noop("Milestone %(title)s released automatically, %(amount)s")
        if auto
        else gettext_noop("Milestone %(title)s accepted, %(amount)s released"),
        params={"title": milestone.title, "amount": format_cny(amount)},
        changes={"status": [M.DELIVERED, M.RELEASED], "amount": amount, "fee": fee},
    )
    notify(
        recipient=contract.opc,
        kind="milestone_released",
        message=gettext_noop("%(amount)s for “%(title)s” was released to your account."),
        params={"amount": format_cny(amount - fee), "title": milestone.title},
        link=_contract_link(contract),
    )
    _sync_order(order=order, contract=contract, actor=actor, organisation=organisation)
    return milestone


@transaction.atomic
def accept_milestone(
    *, milestone: Milestone, client: Organisation, actor: User | None, idempotency_key: str
) -> Milestone:
    """The client accepts a delivered milestone: escrow → OPC (minus the platform fee → platform fees)."""
    key = _key(idempotency_key)
    order, contract, milestone = _lock_milestone(milestone)
    _require_party(client, contract.client_id, _("Only the client can accept this milestone."))
    if milestone.status == M.RELEASED and milestone.release_key == key:
        return milestone
    return _release(
        order=order,
        contract=contract,
        milestone=milestone,
        actor=actor,
        key=key,
        auto=False,
        organisation=client,
    )


def overdue_milestone_ids(*, now: dt.datetime | None = None) -> list[int]:
    cutoff = (now or timezone.now()) - auto_release_period()
    return list(
        Milestone.objects.filter(status=M.DELIVERED, delivered_at__lte=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def release_overdue_milestones(*, now: dt.datetime | None = None) -> int:
    """Release every milestone delivered longer than ``auto_release_period()`` ago without a response. Each
    milestone is released in its own transaction (with the state re-checked under lock, so a client who
    accepts, asks for a revision or disputes at the same moment wins or loses cleanly). Returns the count."""
    released = 0
    cutoff = (now or timezone.now()) - auto_release_period()
    for pk in overdue_milestone_ids(now=now):
        try:
            with transaction.atomic():
                order, contract, milestone = _lock_milestone(Milestone(pk=pk))
                if (
                    milestone.status != M.DELIVERED
                    or milestone.delivered_at is None
                    or milestone.delivered_at > cutoff
                ):
                    continue
                _release(
                    order=order,
                    contract=contract,
                    milestone=milestone,
                    actor=None,
                    key="auto",
                    auto=True,
                    organisation=contract.client,
                )
                released += 1
        except (InvalidTransition, Conflict):
            continue
    return released


# ------------------------------------------------------------------------------------------ disputes


def mediator_for(contract: Contract) -> Organisation | None:
    """The operator of the OPC's home community (else of the order's community)."""
    community = contract.opc.home_community or contract.order.community
    return community.operator if community is not None else None


@transaction.atomic
def open_dispute(*, milestone: Milestone, party: Organisation, actor: User | None, reason: str) -> Dispute:
    """Either side disputes a funded, delivered or revision milestone; the mediator is told."""
    order, contract, milestone = _lock_milestone(milestone)
    if party is None or party.pk not in (contract.client_id, contract.opc_id):
        raise NotPermitted(_("Only the client or the OPC of this contract can open a dispute."))
    reason = _text(reason, field=_("Reason"), max_length=20000, required=True)
    previous = milestone.status
    _set_status(Milestone, milestone, M.DISPUTED, table=MILESTONE_TRANSITIONS, what=_("The milestone"))
    mediator = mediator_for(contract)
    dispute = Dispute.objects.create(
        milestone=milestone, opened_by=party, opened_by_user=actor, reason=reason, mediator=mediator
    )
    _audit(
        action="dispute_opened",
        actor=actor,
        organisation=party,
        target=dispute,
        message=gettext_noop("Dispute opened on milestone %(title)s"),
        params={"title": milestone.title},
        changes={"status": [previous, M.DISPUTED], "mediator": mediator},
    )
    other = contract.opc if party.pk == contract.client_id else contract.client
    message = gettext_noop("%(party)s opened a dispute about “%(title)s”.")
    params = {"party": party.name, "title": milestone.title}
    notify(
        recipient=other, kind="dispute_opened", message=message, params=params, link=_contract_link(contract)
    )
    if mediator is not None:
        notify(
            recipient=mediator,
            kind="dispute_to_mediate",
            message=message,
            params=params,
            link=_contract_link(contract),
        )
    _sync_order(order=order, contract=contract, actor=actor, organisation=party)
    return dispute


@transaction.atomic
def decide_dispute(
    *,
    dispute: Dispute,
    operator: Organisation,
    actor: User | None,
    amount_to_opc: Decimal | str | int,
    idempotency_key: str,
    note: str = "",
) -> Dispute:
    """The mediating operator splits the escrowed amount: ``amount_to_opc`` to the OPC, the rest back to the
    client (one posting, no platform fee); the milestone is resolved."""
    key = _key(idempotency_key)
    milestone_id = Dispute.objects.filter(pk=dispute.pk).values_list("milestone_id", flat=True).first()
    if milestone_id is None:
        raise NotFound()
    order, contract, milestone = _lock_milestone(Milestone(pk=milestone_id))
    dispute = Dispute.objects.select_for_update().get(pk=dispute.pk)
    mediator = mediator_for(contract)
    if (
        operator is None
        or operator.kind != OrgKind.OPERATOR
        or mediator is None
        or mediator.pk != operator.pk
    ):
        raise NotPermitted(_("Only the operator of the OPC's community can decide this dispute."))
    if dispute.status == DisputeStatus.DECIDED and milestone.release_key == key:
        return dispute
    if dispute.status != DisputeStatus.OPEN:
        raise InvalidTransition(_("This dispute has already been decided."))
    note = _text(note, field=_("Decision"), max_length=20000)
    held = milestone.funded_amount
    to_opc = _money(amount_to_opc, field=_("Amount to the OPC"), allow_zero=True)
    if to_opc > held:
        raise DomainError(_("At most %(held)s is in escrow for this milestone.") % {"held": format_cny(held)})
    to_client = held - to_opc
    check_transition(MILESTONE_TRANSITIONS, milestone.status, M.RESOLVED, what=_("The milestone"))
    entries: list[tuple[Account, Decimal]] = [(_escrow_of(contract), -held)]
    if to_opc:
        from teams.services import release_splits  # a team's members get their shares of the OPC's part

        splits = release_splits(
            contract=contract, milestone=milestone, amount=to_opc, fee=Decimal("0.00"), subcontracts=False
        )
        kept = to_opc - sum((value for _org, value in splits), Decimal("0.00"))
        if kept:
            entries.append((ledger.account_for(owner=contract.opc, purpose=Purpose.AVAILABLE), kept))
        entries += [(ledger.account_for(owner=org, purpose=Purpose.AVAILABLE), v) for org, v in splits]
    if to_client:
        entries.append((ledger.account_for(owner=contract.client, purpose=Purpose.AVAILABLE), to_client))
    ledger.post_transaction(
        idempotency_key=f"mkt:dispute-{dispute.pk}:decide:{key}",
        entries=entries,
        kind="marketplace.dispute_split",
        reference=f"milestone:{milestone.pk}",
        actor=actor,
    )
    _set_status(
        Milestone,
        milestone,
        M.RESOLVED,
        table=MILESTONE_TRANSITIONS,
        what=_("The milestone"),
        extra={
            "released_amount": to_opc,
            "refunded_amount": to_client,
            "release_key": key,
            "released_at": timezone.now(),
        },
    )
    Dispute.objects.filter(pk=dispute.pk).update(
        status=DisputeStatus.DECIDED,
        mediator=operator,
        amount_to_opc=to_opc,
        amount_to_client=to_client,
        decision_note=note,
        decided_at=timezone.now(),
    )
    dispute.refresh_from_db()
    _audit(
        action="dispute_decided",
        actor=actor,
        organisation=operator,
        target=dispute,
        message=gettext_noop("Dispute on %(title)s decided: %(opc)s to the OPC, %(client)s to the client"),
        params={"title": milestone.title, "opc": format_cny(to_opc), "client": format_cny(to_client)},
        changes={"amount_to_opc": to_opc, "amount_to_client": to_client},
    )
    for recipient in (contract.client, contract.opc):
        notify(
            recipient=recipient,
            kind="dispute_decided",
            message=gettext_noop(
                "The dispute about “%(title)s” was decided: %(opc)s to the OPC, %(client)s refunded."
            ),
            params={"title": milestone.title, "opc": format_cny(to_opc), "client": format_cny(to_client)},
            link=_contract_link(contract),
        )
    _sync_order(order=order, contract=contract, actor=actor, organisation=operator)
    return dispute


# ------------------------------------------------------------------------------------------ notifications


def mark_notifications_read(
    *, organisation: Organisation, actor: User | None, notifications: QuerySet[Notification] | None = None
) -> int:
    """Mark the organisation's unread notifications (or the given subset of them) read."""
    qs = notifications if notifications is not None else Notification.objects.all()
    return qs.filter(recipient=organisation, read_at__isnull=True).update(read_at=timezone.now())
