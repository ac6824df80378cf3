"""Typed input and output schemas of the marketplace API (``marketplace.api``).

Amounts go out as strings to the fen ("1234.50", never floats) and come in as JSON strings or numbers with
at most two decimal places; a finer amount, a past date, an inverted range or an unknown choice is refused
by the schema (422) before any service runs. Rules that need the database (is this OPC invitable, is the
milestone total the price, …) stay in ``marketplace.services`` and answer 400/403/404/409.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Schema
from pydantic import ConfigDict, StringConstraints, field_validator, model_validator

from accounts.api import MAX_ID
from marketplace.models import (
    BidStatus,
    BudgetBand,
    ContractStatus,
    DisputeStatus,
    EntryStatus,
    MilestoneStatus,
    OrderMode,
    OrderStatus,
    ProcurementMethod,
    Visibility,
)

FEN = Decimal("0.01")

MoneyOut = Annotated[
    str, Field(pattern=r"^-?\d+\.\d{2}$", examples=["12000.00"], description="CNY to the fen, as a string.")
]
MoneyIn = Annotated[
    Decimal,
    Field(
        ge=0,
        max_digits=14,
        decimal_places=2,
        examples=["12000.00"],
        description="CNY, at most two decimal places (send a string to avoid float rounding).",
    ),
]
PositiveMoneyIn = Annotated[
    Decimal,
    Field(gt=0, max_digits=14, decimal_places=2, examples=["4000.00"], description="CNY, above zero."),
]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=40)]
IdempotencyKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
MAX_PAGE = 100


def amount(value: Decimal | int) -> str:
    """CNY as a string to the fen ("1234.50")."""
    return format(Decimal(value).quantize(FEN), "f")


def money(value: Decimal | None) -> str | None:
    return None if value is None else amount(value)


def not_past(value: dt.date | None) -> dt.date | None:
    if value is not None and value < timezone.localdate():
        raise ValueError(_("The date is in the past."))
    return value


# -- input ---------------------------------------------------------------------------------------------------


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class InSchema(Schema):
    """Input: text with a NUL character is refused here (422) — PostgreSQL cannot store it."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        raw = getattr(data, "_obj", data)  # Ninja hands the input in wrapped in a DjangoGetter
        if _has_nul(raw):
            raise ValueError(_("Text must not contain NUL characters."))
        return data


# -- references ------------------------------------------------------------------------------------------------


class SkillRef(Schema):
    code: str
    name: str = Field(description="In the request's language.")


class OrgRef(Schema):
    id: int
    name: str
    kind: str
    verified: bool = Field(
        description="Verified by its community operator (unverified parties get a warning)."
    )


class CommunityRef(Schema):
    id: int
    name: str


class Page(Schema):
    count: int
    limit: int
    offset: int


# -- orders ----------------------------------------------------------------------------------------------------


class OrderOut(Schema):
    """An order card (lists)."""

    id: int
    title: str
    status: OrderStatus
    status_label: str
    mode: OrderMode
    mode_label: str
    visibility: Visibility
    category: SkillRef
    required_skills: list[SkillRef]
    budget_min: MoneyOut
    budget_max: MoneyOut
    price: MoneyOut | None = Field(
        description="Direct: the offered price; contest: the reward; tender: null."
    )
    deadline: dt.date
    client: OrgRef
    community: CommunityRef | None
    direct_opc: OrgRef | None
    is_procurement: bool = Field(description="In the OPC procurement zone (government / SOE client).")
    procurement_method: str
    procurement_method_label: str
    budget_band: str
    budget_band_label: str
    bid_count: int = Field(description="Active bids (submitted, shortlisted or awarded).")
    created_at: dt.datetime
    published_at: dt.datetime | None


class OrderPage(Page):
    items: list[OrderOut]


class AttachmentOut(Schema):
    id: int
    name: str
    size: int | None
    uploaded_at: dt.datetime


class BidOut(Schema):
    id: int
    order_id: int
    order_title: str
    opc: OrgRef
    price: MoneyOut
    timeline_days: int
    plan: str
    status: BidStatus
    status_label: str
    created_at: dt.datetime


class EntryOut(Schema):
    id: int
    order_id: int
    opc: OrgRef
    description: str
    link: str
    status: EntryStatus
    status_label: str
    created_at: dt.datetime


class ContractRef(Schema):
    id: int
    opc: OrgRef
    status: ContractStatus
    price: MoneyOut


class OrderDetailOut(OrderOut):
    """One order as the caller may see it (``viewer``): the client owner gets bids, entries, invited OPCs and
    the contract; an OPC its own bid or entry (never the others'); the overseeing operator bids and entries
    read-only; anyone else the public order."""

    viewer: Literal["client", "opc", "operator", "public"]
    description: str
    deliverables: str
    acceptance_criteria: str
    attachments: list[AttachmentOut]
    invited_opcs: list[OrgRef] | None = Field(None, description="Client owner only.")
    bids: list[BidOut] | None = Field(None, description="Client owner and overseeing operator only.")
    entries: list[EntryOut] | None = Field(None, description="Contests: client owner and operator only.")
    my_bid: BidOut | None = None
    my_entry: EntryOut | None = None
    contract: ContractRef | None = Field(None, description="For the parties of the contract.")


class OrderFilter(InSchema):
    category: str = Field("", max_length=40, description="A skill code (the order's category).")
    mode: OrderMode | Literal[""] = ""
    budget_min: MoneyIn | None = Field(None, description="Orders whose budget reaches at least this.")
    budget_max: MoneyIn | None = Field(None, description="Orders whose budget starts at most at this.")
    q: str = Field("", max_length=60, description="Part of the title.")
    limit: int = Field(20, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=1_000_000)


class ProcurementFilter(InSchema):
    method: ProcurementMethod | Literal[""] = ""
    band: BudgetBand | Literal[""] = ""
    limit: int = Field(20, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=1_000_000)


class MyOrderFilter(InSchema):
    status: OrderStatus | Literal[""] = ""
    limit: int = Field(20, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=1_000_000)


class OrderIn(InSchema):
    """A new order (saved as a draft; publish it to open it). Deliverables and acceptance criteria left out
    (null) are prefilled from the category's template."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(..., min_length=1, max_length=200)
    description: str = Field("", max_length=20000)
    category: Code = Field(..., description="Skill code of the category (see GET /api/organisations/skills).")
    required_skills: list[Code] = Field(default_factory=list, max_length=32)
    budget_min: MoneyIn
    budget_max: PositiveMoneyIn
    deadline: dt.date
    deliverables: str | None = Field(None, max_length=10000)
    acceptance_criteria: str | None = Field(None, max_length=10000)
    mode: OrderMode = OrderMode.TENDER
    visibility: Visibility = Visibility.PUBLIC
    community_id: Id | None = Field(None, description="Community-only orders: the community.")
    invited_opc_ids: list[Id] = Field(
        default_factory=list, max_length=100, description="Invited-only orders."
    )
    direct_opc_id: Id | None = Field(None, description="Direct orders: the OPC it is offered to.")
    price: PositiveMoneyIn | None = Field(None, description="Direct: the offered price; contest: the reward.")
    procurement_method: ProcurementMethod = Field(
        ProcurementMethod.NONE, description="Government departments and SOEs only (and then required)."
    )

    @field_validator("deadline")
    @classmethod
    def _deadline(cls, value: dt.date) -> dt.date | None:
        return not_past(value)

    @model_validator(mode="after")
    def _budget_ordered(self) -> OrderIn:
        if self.budget_min > self.budget_max:
            raise ValueError(_("The lower budget must not exceed the upper budget."))
        return self


class OrderPatchIn(InSchema):
    """Edit a draft: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=20000)
    deliverables: str | None = Field(None, max_length=10000)
    acceptance_criteria: str | None = Field(None, max_length=10000)
    deadline: dt.date | None = None

    @field_validator("deadline")
    @classmethod
    def _deadline(cls, value: dt.date | None) -> dt.date | None:
        return not_past(value)


class IdempotentIn(InSchema):
    """Money operations: the idempotency key may come in the ``Idempotency-Key`` header or here."""

    model_config = ConfigDict(extra="forbid")

    idempotency_key: IdempotencyKey | None = None


class CancelIn(IdempotentIn):
    reason: str = Field("", max_length=2000)


class InviteIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    opc_id: Id


class ReasonIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=2000)


# -- bids and contest entries ----------------------------------------------------------------------------------


class BidIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    price: PositiveMoneyIn
    timeline_days: int = Field(..., ge=1, le=3650)
    plan: str = Field("", max_length=20000)


class MilestoneSpecIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(..., min_length=1, max_length=200)
    amount: PositiveMoneyIn
    due_date: dt.date
    acceptance_criteria: str = Field("", max_length=10000)

    @field_validator("due_date")
    @classmethod
    def _due(cls, value: dt.date) -> dt.date | None:
        return not_past(value)


class AwardIn(InSchema):
    """Award a bid. Without milestones the contract has one milestone for the whole price, due at the
    order's deadline; with them, their amounts must add up to the bid's price."""

    model_config = ConfigDict(extra="forbid")

    milestones: list[MilestoneSpecIn] | None = Field(None, min_length=1, max_length=20)


class EntryIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(..., min_length=1, max_length=20000)
    link: str = Field("", max_length=200)

    @field_validator("link")
    @classmethod
    def _link(cls, value: str) -> str:
        from django.core.exceptions import ValidationError
        from django.core.validators import URLValidator

        if value.strip():
            try:
                URLValidator(schemes=["http", "https"])(value.strip())
            except ValidationError:
                raise ValueError(_("Enter a valid http(s) link.")) from None
        return value.strip()


# -- contracts, milestones, disputes ---------------------------------------------------------------------------


class DisputeOut(Schema):
    id: int
    milestone_id: int
    contract_id: int
    order_id: int
    order_title: str
    milestone_title: str
    opened_by: OrgRef
    reason: str
    status: DisputeStatus
    status_label: str
    mediator: OrgRef | None
    held: MoneyOut = Field(description="What the milestone has in escrow (the amount to split).")
    amount_to_opc: MoneyOut | None
    amount_to_client: MoneyOut | None
    decision_note: str
    opened_at: dt.datetime
    decided_at: dt.datetime | None


class DisputeBrief(Schema):
    id: int
    opened_by: OrgRef
    reason: str
    status: DisputeStatus
    amount_to_opc: MoneyOut | None
    amount_to_client: MoneyOut | None
    decision_note: str
    opened_at: dt.datetime
    decided_at: dt.datetime | None


class MilestoneOut(Schema):
    id: int
    contract_id: int
    position: int
    title: str
    amount: MoneyOut
    due_date: dt.date
    acceptance_criteria: str
    status: MilestoneStatus
    status_label: str
    revision_rounds: int
    delivery_note: str
    revision_note: str
    funded_amount: MoneyOut
    released_amount: MoneyOut = Field(description="To the OPC, platform fee included.")
    fee_amount: MoneyOut
    refunded_amount: MoneyOut
    funded_at: dt.datetime | None
    delivered_at: dt.datetime | None
    released_at: dt.datetime | None
    auto_released: bool
    disputes: list[DisputeBrief] | None = Field(None, description="Contract detail only.")


class ContractOut(Schema):
    id: int
    order_id: int
    order_title: str
    category: SkillRef
    bid_id: int | None
    client: OrgRef
    opc: OrgRef
    price: MoneyOut
    status: ContractStatus
    status_label: str
    escrow_balance: MoneyOut = Field(description="What the contract's escrow account holds now.")
    created_at: dt.datetime
    closed_at: dt.datetime | None
    milestones: list[MilestoneOut]


class ContractPage(Page):
    items: list[ContractOut]


class ContractFilter(InSchema):
    status: ContractStatus | Literal[""] = ""
    limit: int = Field(20, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=1_000_000)


class NoteIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    note: str = Field("", max_length=20000)


class RevisionIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(
        ..., min_length=1, max_length=20000, description="What needs revising, against the criteria."
    )


class DisputeIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(..., min_length=1, max_length=20000)


class DecisionIn(IdempotentIn):
    amount_to_opc: MoneyIn = Field(
        description="To the OPC; the rest of the escrowed amount goes back to the client."
    )
    note: str = Field("", max_length=20000)


class DisputePage(Page):
    items: list[DisputeOut]


class DisputeFilter(InSchema):
    status: DisputeStatus | Literal[""] = ""
    limit: int = Field(20, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=1_000_000)


# -- notifications ---------------------------------------------------------------------------------------------


class NotificationOut(Schema):
    id: int
    kind: str
    text: str = Field(description="In the reader's language.")
    link: str
    created_at: dt.datetime
    read_at: dt.datetime | None


class NotificationPage(Page):
    unread: int
    items: list[NotificationOut]


class NotificationFilter(InSchema):
    unread: bool = False
    limit: int = Field(20, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=1_000_000)


class MarkReadIn(InSchema):
    model_config = ConfigDict(extra="forbid")

    ids: list[Id] | None = Field(None, max_length=500, description="Leave out to mark all read.")


class MarkReadOut(Schema):
    marked: int
    unread: int
