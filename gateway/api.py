"""Quota console API (mounted at /api/gateway/): the same reads and writes as the ``/quota/`` pages.

Members (OPC): their balance, virtual keys (the secret is in the creating answer only), usage. Operators:
members' balances, grants from the funding pool, prices, usage, consumption statements, provider invoices with
their reconciliation. Operators and compliant compute providers: their upstream channels (the API key is
write-only) and the "test channel" probe. The OpenAI-compatible API itself is ``/v1/`` (virtual keys).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from asgiref.sync import async_to_sync
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Router, Schema, Status

from accounts.api import ERRORS, MAX_ID, ErrorOut
from core.errors import DomainError, NotFound
from core.http import acting_user
from gateway import selectors, services, upstream
from gateway.crypto import decrypt_api_key
from gateway.models import (
    Channel,
    ConsumptionStatement,
    ModelPrice,
    PriceKind,
    Provider,
    UsageRecord,
    VirtualKey,
)
from gateway.pdf import verification_url
from organisations.access import scope_for
from organisations.capabilities import Capability

router = Router(tags=["gateway"])

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Money = Annotated[str, Field(description="CNY as a decimal string.", examples=["12.50"])]
WRITE_ERRORS: dict[int, Any] = {400: ErrorOut, 404: ErrorOut, 409: ErrorOut, **ERRORS}
READ_ERRORS: dict[int, Any] = {404: ErrorOut, **ERRORS}
ModelName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S+$")]


PRICE_QUANTUM = Decimal("0.0001")


def _s(value: Decimal | None) -> str:
    return format(value if value is not None else Decimal(0), "f")


# --------------------------------------------------------------------------------------------- schemas


class BalanceOut(Schema):
    available: Money
    in_flight: Money
    used_not_yet_posted: Money
    ledger_quota: Money
    in_gateway: Money


class KeyOut(Schema):
    id: int
    name: str
    prefix: str
    tag: str
    allowed_models: list[str]
    rpm_limit: int | None
    tpm_limit: int | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    created_at: dt.datetime


class KeyIn(Schema):
    name: str = Field(..., min_length=1, max_length=80)
    tag: str = Field("", max_length=40)
    allowed_models: list[ModelName] = Field(default_factory=list, max_length=100)
    expires_at: dt.datetime | None = None
    rpm_limit: int | None = Field(None, ge=1, le=100_000)
    tpm_limit: int | None = Field(None, ge=1, le=100_000_000)


class KeyCreatedOut(Schema):
    secret: str = Field(description="Shown once: only a digest is stored.")
    key: KeyOut
    base_url: str


class UsageOut(Schema):
    request_id: str
    member_id: int
    key_prefix: str
    tag: str
    model: str
    endpoint: str
    stream: bool
    channel: str | None
    status: str
    outcome: str
    usage_source: str
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    cost: Money
    charged: Money
    started_at: dt.datetime
    finished_at: dt.datetime | None


class UsagePage(Schema):
    count: int
    charged: Money
    results: list[UsageOut]


class DailyOut(Schema):
    day: dt.date
    member_id: int
    model: str
    channel: str | None
    requests: int
    failed_requests: int
    estimated_requests: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    cost: Money
    charged: Money


class ChannelModelOut(Schema):
    public_name: str
    upstream_name: str
    max_output_tokens: int


class ChannelOut(Schema):
    id: int
    name: str
    provider: str
    base_url: str
    api_key_hint: str
    priority: int
    weight: int
    connect_timeout: float
    read_timeout: float
    is_enabled: bool
    cooling_down_until: dt.datetime | None
    models: list[ChannelModelOut]


class ChannelIn(Schema):
    name: str = Field(..., min_length=1, max_length=80)
    provider: Provider = Provider.OPENAI_COMPATIBLE
    base_url: str = Field(..., max_length=300, pattern=r"^https?://")
    api_key: str = Field(..., min_length=1, max_length=500, description="Write-only; stored encrypted.")
    models: dict[ModelName, ModelName] = Field(..., description="public name → upstream name")
    max_output_tokens: int = Field(4096, ge=1, le=1_000_000)
    priority: int = Field(0, ge=-1000, le=1000)
    weight: int = Field(1, ge=1, le=1000)
    connect_timeout: float = Field(5.0, gt=0, le=60)
    read_timeout: float = Field(120.0, gt=0, le=600)


class ChannelPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=80)
    provider: Provider | None = None
    base_url: str | None = Field(None, max_length=300, pattern=r"^https?://")
    api_key: str | None = Field(None, max_length=500, description="A new key replaces the stored one.")
    models: dict[ModelName, ModelName] | None = None
    max_output_tokens: int | None = Field(None, ge=1, le=1_000_000)
    priority: int | None = Field(None, ge=-1000, le=1000)
    weight: int | None = Field(None, ge=1, le=1000)
    connect_timeout: float | None = Field(None, gt=0, le=60)
    read_timeout: float | None = Field(None, gt=0, le=600)
    is_enabled: bool | None = None


class ProbeOut(Schema):
    ok: bool
    status: int | None
    latency_ms: int
    model: str
    message: str


class PriceOut(Schema):
    id: int
    model: str
    input_per_million: Money
    cached_input_per_million: Money
    output_per_million: Money
    effective_from: dt.datetime
    kind: str
    source: str
    source_date: dt.date | None


class PriceIn(Schema):
    model: ModelName
    input_per_million: Decimal = Field(..., ge=0, max_digits=12, decimal_places=4)
    cached_input_per_million: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=4)
    output_per_million: Decimal = Field(..., ge=0, max_digits=12, decimal_places=4)
    effective_from: dt.datetime | None = None
    kind: PriceKind = PriceKind.OPERATOR
    source: str = Field("", max_length=300)
    source_date: dt.date | None = None


class MemberQuotaOut(Schema):
    member_id: int
    name: str
    balance: BalanceOut
    month_charged: Money
    month_requests: int


class GrantIn(Schema):
    member_id: Id
    amount: Decimal = Field(..., gt=0, max_digits=14, decimal_places=2)
    idempotency_key: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    memo: str = Field("", max_length=200)


class GrantOut(Schema):
    transaction_id: int
    member_id: int
    amount: Money
    balance: BalanceOut


class StatementOut(Schema):
    id: int
    member_id: int
    month: dt.date
    code: str
    verify_url: str
    charged: Money
    pdf_sha256: str
    issued_at: dt.datetime
    revoked_at: dt.datetime | None


class StatementIn(Schema):
    member_id: Id
    month: dt.date = Field(..., description="Any day of the month; finished months only.")


class InvoiceIn(Schema):
    provider_id: Id
    month: dt.date
    number: str = Field(..., min_length=1, max_length=40)
    issued_on: dt.date
    amount: Decimal = Field(..., ge=0, max_digits=14, decimal_places=2)
    tax_amount: Decimal = Field(Decimal("0"), ge=0, max_digits=14, decimal_places=2)
    note: str = Field("", max_length=300)


class InvoiceOut(Schema):
    id: int
    provider_id: int
    provider: str
    month: dt.date
    number: str
    issued_on: dt.date
    amount: Money
    tax_amount: Money
    usage_cost: Money
    usage_charged: Money
    requests: int
    difference: Money = Field(description="invoice − recorded usage")


class UsageQuery(Schema):
    start: dt.date | None = None
    end: dt.date | None = None
    model: str = Field("", max_length=100)
    key_id: int | None = Field(None, ge=1, le=MAX_ID)
    tag: str = Field("", max_length=40)
    member_id: int | None = Field(None, ge=1, le=MAX_ID)
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=10_000_000)


# --------------------------------------------------------------------------------------------- converters


def _balance_out(balance: selectors.Balance) -> BalanceOut:
    return BalanceOut(
        available=_s(balance.available),
        in_flight=_s(balance.in_flight),
        used_not_yet_posted=_s(balance.unposted),
        ledger_quota=_s(balance.ledger_quota),
        in_gateway=_s(balance.in_gateway),
    )


def _key_out(key: VirtualKey) -> KeyOut:
    return KeyOut(
        id=key.pk,
        name=key.name,
        prefix=key.prefix,
        tag=key.tag,
        allowed_models=list(key.allowed_models or []),
        rpm_limit=key.rpm_limit,
        tpm_limit=key.tpm_limit,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
        created_at=key.created_at,
    )


def _usage_out(r: UsageRecord) -> UsageOut:
    return UsageOut(
        request_id=r.request_id,
        member_id=r.organisation_id,
        key_prefix=r.virtual_key.prefix,
        tag=r.tag,
        model=r.model,
        endpoint=r.endpoint,
        stream=r.stream,
        channel=r.channel.name if r.channel else None,
        status=r.status,
        outcome=r.outcome,
        usage_source=r.usage_source,
        prompt_tokens=r.prompt_tokens,
        cached_tokens=r.cached_tokens,
        completion_tokens=r.completion_tokens,
        cost=_s(r.cost),
        charged=_s(r.charged),
        started_at=r.started_at,
        finished_at=r.finished_at,
    )


def _channel_out(c: Channel) -> ChannelOut:
    return ChannelOut(
        id=c.pk,
        name=c.name,
        provider=c.provider,
        base_url=c.base_url,
        api_key_hint=c.api_key_hint,
        priority=c.priority,
        weight=c.weight,
        connect_timeout=c.connect_timeout,
        read_timeout=c.read_timeout,
        is_enabled=c.is_enabled,
        cooling_down_until=c.cooldown_until,
        models=[
            ChannelModelOut(
                public_name=m.public_name,
                upstream_name=m.upstream_name,
                max_output_tokens=m.max_output_tokens,
            )
            for m in c.models.all()
        ],
    )


def _price_out(p: ModelPrice) -> PriceOut:
    return PriceOut(
        id=p.pk,
        model=p.model,
        input_per_million=_s(p.input_per_million.quantize(PRICE_QUANTUM)),
        cached_input_per_million=_s(p.cached_input_per_million.quantize(PRICE_QUANTUM)),
        output_per_million=_s(p.output_per_million.quantize(PRICE_QUANTUM)),
        effective_from=p.effective_from,
        kind=p.kind,
        source=p.source,
        source_date=p.source_date,
    )


def _statement_out(s: ConsumptionStatement) -> StatementOut:
    return StatementOut(
        id=s.pk,
        member_id=s.organisation_id,
        month=s.month,
        code=s.code,
        verify_url=verification_url(s.code),
        charged=str(s.facts.get("charged", "0.00")),
        pdf_sha256=s.pdf_sha256,
        issued_at=s.issued_at,
        revoked_at=s.revoked_at,
    )


def _invoice_out(r: selectors.Reconciliation) -> InvoiceOut:
    i = r.invoice
    return InvoiceOut(
        id=i.pk,
        provider_id=i.provider_id,
        provider=i.provider.name,
        month=i.month,
        number=i.number,
        issued_on=i.issued_on,
        amount=_s(i.amount),
        tax_amount=_s(i.tax_amount),
        usage_cost=_s(r.usage_cost),
        usage_charged=_s(r.usage_charged),
        requests=r.requests,
        difference=_s(r.difference),
    )


def _filter(query: UsageQuery) -> selectors.UsageFilter:
    default = selectors.UsageFilter.default()
    start, end = query.start or default.start, query.end or default.end
    if start > end or (end - start).days >= selectors.MAX_RANGE_DAYS:
        raise DomainError(_("Choose a start before the end, at most a year apart."))
    return selectors.UsageFilter(
        start=start,
        end=end,
        model=query.model,
        key_id=query.key_id,
        tag=query.tag,
        member_id=query.member_id,
    )


def _usage_scope(request: HttpRequest) -> Any:
    """Whose usage the caller reads: an OPC its own, an operator its members'."""
    scope = scope_for(request)
    if scope.is_operator:
        selectors.operator_of(scope)
        return scope.member_organisations().values_list("pk", flat=True)
    org = selectors.quota_member(scope)
    scope.require(Capability.LEDGER_VIEW)
    return [org.pk]


# --------------------------------------------------------------------------------------------- member


@router.get("/balance", response={200: BalanceOut, **ERRORS}, summary="Your token quota balance")
def balance(request: HttpRequest) -> BalanceOut:
    """OPC members: what the keys can still spend, what requests in flight hold, and where it sits."""
    org = selectors.quota_member(scope_for(request))
    return _balance_out(selectors.balance_of(org))


@router.get("/keys", response={200: list[KeyOut], **ERRORS}, summary="Your gateway keys")
def list_keys(request: HttpRequest) -> list[KeyOut]:
    scope = scope_for(request)
    org = selectors.quota_member(scope)
    scope.require(Capability.TOKENS_MANAGE)
    return [_key_out(k) for k in selectors.keys_of(org)]


@router.post("/keys", response={201: KeyCreatedOut, **WRITE_ERRORS}, summary="Create a gateway key")
def create_key(request: HttpRequest, payload: KeyIn) -> Status[KeyCreatedOut]:
    """The secret is in this answer only (only its SHA-256 digest is stored)."""
    scope = scope_for(request)
    org = selectors.quota_member(scope)
    scope.require(Capability.TOKENS_MANAGE)
    key, secret = services.issue_virtual_key(
        organisation=org,
        name=payload.name,
        actor=acting_user(request),
        allowed_models=list(payload.allowed_models),
        expires_at=payload.expires_at,
        rpm_limit=payload.rpm_limit,
        tpm_limit=payload.tpm_limit,
        tag=payload.tag,
    )
    return Status(
        201, KeyCreatedOut(secret=secret, key=_key_out(key), base_url=request.build_absolute_uri("/v1"))
    )


@router.post("/keys/{id}/revoke", response={200: KeyOut, **READ_ERRORS}, summary="Revoke a gateway key")
def revoke_key(request: HttpRequest, id: int = Path(..., ge=1, le=MAX_ID)) -> KeyOut:
    scope = scope_for(request)
    org = selectors.quota_member(scope)
    scope.require(Capability.TOKENS_MANAGE)
    key = selectors.get_key(org, id)
    return _key_out(services.revoke_virtual_key(key=key, actor=acting_user(request)))


@router.get("/usage", response={200: UsagePage, 400: ErrorOut, **ERRORS}, summary="Usage records")
def usage(request: HttpRequest, query: Query[UsageQuery]) -> UsagePage:
    """One record per request (newest first): a member's own, or an operator's members'. Filters: dates
    (inclusive, the platform's time zone), model, key, tag, member."""
    qs = selectors.usage_records(_usage_scope(request), _filter(query))
    totals = selectors.usage_totals(qs)
    page = qs[query.offset : query.offset + query.limit]
    return UsagePage(count=qs.count(), charged=_s(totals["charged"]), results=[_usage_out(r) for r in page])


@router.get("/usage/daily", response={200: list[DailyOut], 400: ErrorOut, **ERRORS}, summary="Daily totals")
def usage_daily(request: HttpRequest, query: Query[UsageQuery]) -> list[DailyOut]:
    """The daily aggregate table (per day, member, model and channel) as last rolled up."""
    rows = selectors.daily_aggregates(_usage_scope(request), _filter(query))[: query.limit]
    return [
        DailyOut(
            day=d.day,
            member_id=d.organisation_id,
            model=d.model,
            channel=d.channel.name if d.channel else None,
            requests=d.requests,
            failed_requests=d.failed_requests,
            estimated_requests=d.estimated_requests,
            prompt_tokens=d.prompt_tokens,
            cached_tokens=d.cached_tokens,
            completion_tokens=d.completion_tokens,
            cost=_s(d.cost),
            charged=_s(d.charged),
        )
        for d in rows
    ]


# --------------------------------------------------------------------------------------------- channels


@router.get("/channels", response={200: list[ChannelOut], **ERRORS}, summary="Your upstream channels")
def list_channels(request: HttpRequest) -> list[ChannelOut]:
    """Operators and compliant compute providers. The API key is never returned (only its last 4)."""
    owner = selectors.channel_manager(scope_for(request))
    return [_channel_out(c) for c in selectors.channels_of(owner)]


@router.post("/channels", response={201: ChannelOut, **WRITE_ERRORS}, summary="Add an upstream channel")
def create_channel(request: HttpRequest, payload: ChannelIn) -> Status[ChannelOut]:
    owner = selectors.channel_manager(scope_for(request))
    channel = services.create_channel(
        owner=owner,
        name=payload.name,
        base_url=payload.base_url,
        api_key=payload.api_key,
        models=dict(payload.models),
        provider=payload.provider,
        priority=payload.priority,
        weight=payload.weight,
        connect_timeout=payload.connect_timeout,
        read_timeout=payload.read_timeout,
        max_output_tokens=payload.max_output_tokens,
        actor=acting_user(request),
    )
    return Status(201, _channel_out(selectors.get_channel(scope_for(request), channel.pk)))


@router.get("/channels/{id}", response={200: ChannelOut, **READ_ERRORS}, summary="One upstream channel")
def get_channel(request: HttpRequest, id: int = Path(..., ge=1, le=MAX_ID)) -> ChannelOut:
    return _channel_out(selectors.get_channel(scope_for(request), id))


@router.patch(
    "/channels/{id}", response={200: ChannelOut, **WRITE_ERRORS}, summary="Change an upstream channel"
)
def update_channel(
    request: HttpRequest, payload: ChannelPatch, id: int = Path(..., ge=1, le=MAX_ID)
) -> ChannelOut:
    scope = scope_for(request)
    channel = selectors.get_channel(scope, id)
    current = {m.public_name: m for m in channel.models.all()}
    services.update_channel(
        channel=channel,
        actor=acting_user(request),
        name=payload.name if payload.name is not None else channel.name,
        base_url=payload.base_url if payload.base_url is not None else channel.base_url,
        provider=payload.provider if payload.provider is not None else channel.provider,
        priority=payload.priority if payload.priority is not None else channel.priority,
        weight=payload.weight if payload.weight is not None else channel.weight,
        connect_timeout=payload.connect_timeout or channel.connect_timeout,
        read_timeout=payload.read_timeout or channel.read_timeout,
        is_enabled=payload.is_enabled if payload.is_enabled is not None else channel.is_enabled,
        models=dict(payload.models)
        if payload.models is not None
        else {name: m.upstream_name for name, m in current.items()},
        max_output_tokens=payload.max_output_tokens
        or max((m.max_output_tokens for m in current.values()), default=4096),
        api_key=payload.api_key or "",
    )
    return _channel_out(selectors.get_channel(scope, id))


@router.delete("/channels/{id}", response={204: None, **WRITE_ERRORS}, summary="Delete an unused channel")
def delete_channel(request: HttpRequest, id: int = Path(..., ge=1, le=MAX_ID)) -> Status[None]:
    """Only a channel that never served a request; disable one that did (PATCH ``is_enabled``)."""
    channel = selectors.get_channel(scope_for(request), id)
    services.delete_channel(channel=channel, actor=acting_user(request))
    return Status(204, None)


@router.post(
    "/channels/{id}/test", response={200: ProbeOut, **READ_ERRORS}, summary="Test an upstream channel"
)
def test_channel(request: HttpRequest, id: int = Path(..., ge=1, le=MAX_ID)) -> ProbeOut:
    """One tiny request straight to the upstream (``max_tokens`` 1); not metered, nothing charged."""
    channel = selectors.get_channel(scope_for(request), id)
    model = channel.models.filter(is_enabled=True).order_by("public_name").first()
    if model is None:
        raise NotFound(_("The channel serves no model."))
    result = async_to_sync(upstream.probe)(
        base_url=channel.base_url,
        api_key=decrypt_api_key(channel.api_key_encrypted),
        upstream_model=model.upstream_name,
        connect_timeout=channel.connect_timeout,
    )
    if result.ok:
        services.record_channel_success(channel_id=channel.pk)
    return ProbeOut(
        ok=result.ok,
        status=result.status,
        latency_ms=result.latency_ms,
        model=result.model,
        message=result.message,
    )


# --------------------------------------------------------------------------------------------- operator


@router.get("/prices", response={200: list[PriceOut], **ERRORS}, summary="Model prices in force")
def list_prices(request: HttpRequest) -> list[PriceOut]:
    """Any logged-in organisation: the price in force for every model (CNY per 1M tokens) and its source."""
    return [_price_out(p) for p in sorted(selectors.current_prices(), key=lambda p: p.model)]


@router.post("/prices", response={201: PriceOut, **WRITE_ERRORS}, summary="Set a model price")
def create_price(request: HttpRequest, payload: PriceIn) -> Status[PriceOut]:
    """Operators. A new row in force from ``effective_from`` (default now); rows are never edited."""
    selectors.operator_of(scope_for(request))
    price = services.set_model_price(
        model=payload.model,
        input_per_million=payload.input_per_million,
        cached_input_per_million=payload.cached_input_per_million,
        output_per_million=payload.output_per_million,
        effective_from=payload.effective_from,
        kind=payload.kind,
        source=payload.source,
        source_date=payload.source_date,
        actor=acting_user(request),
    )
    return Status(201, _price_out(price))


@router.get("/members", response={200: list[MemberQuotaOut], **ERRORS}, summary="Members' quota balances")
def members(request: HttpRequest) -> list[MemberQuotaOut]:
    scope = scope_for(request)
    selectors.operator_of(scope)
    return [
        MemberQuotaOut(
            member_id=m.organisation.pk,
            name=m.organisation.name,
            balance=_balance_out(m.balance),
            month_charged=_s(m.month_charged),
            month_requests=m.month_requests,
        )
        for m in selectors.member_quotas(scope.member_organisations())
    ]


@router.post("/grants", response={201: GrantOut, **WRITE_ERRORS}, summary="Grant a token quota")
def grant(request: HttpRequest, payload: GrantIn) -> Status[GrantOut]:
    """From your funding pool to a member's quota (ledger). The same ``idempotency_key`` grants once."""
    scope = scope_for(request)
    operator = selectors.operator_of(scope)
    member = scope.get_member_organisation(payload.member_id)
    txn = services.grant_quota(
        operator=operator,
        member=member,
        amount=payload.amount,
        idempotency_key=f"api:{operator.pk}:{payload.idempotency_key}",
        actor=acting_user(request),
        memo=payload.memo,
    )
    return Status(
        201,
        GrantOut(
            transaction_id=txn.pk,
            member_id=member.pk,
            amount=_s(payload.amount),
            balance=_balance_out(selectors.balance_of(member)),
        ),
    )


@router.get("/statements", response={200: list[StatementOut], **ERRORS}, summary="Consumption statements")
def list_statements(request: HttpRequest) -> list[StatementOut]:
    """An operator: the statements it issued; an OPC: its own."""
    scope = scope_for(request)
    if scope.is_operator:
        qs = selectors.statements_of_operator(selectors.operator_of(scope))
    else:
        qs = selectors.statements_of_member(selectors.quota_member(scope))
    return [_statement_out(s) for s in qs[:500]]


@router.post(
    "/statements", response={201: StatementOut, **WRITE_ERRORS}, summary="Issue a consumption statement"
)
def issue_statement(request: HttpRequest, payload: StatementIn) -> Status[StatementOut]:
    scope = scope_for(request)
    operator = selectors.operator_of(scope)
    member = scope.get_member_organisation(payload.member_id)
    statement = services.issue_consumption_statement(
        operator=operator, member=member, month=payload.month, actor=acting_user(request)
    )
    return Status(201, _statement_out(statement))


@router.get("/invoices", response={200: list[InvoiceOut], **ERRORS}, summary="Provider invoices, reconciled")
def list_invoices(request: HttpRequest) -> list[InvoiceOut]:
    operator = selectors.operator_of(scope_for(request))
    return [
        _invoice_out(selectors.invoice_reconciliation(i))
        for i in selectors.invoices_of_operator(operator)[:200]
    ]


@router.post("/invoices", response={201: InvoiceOut, **WRITE_ERRORS}, summary="Record a provider invoice")
def record_invoice(request: HttpRequest, payload: InvoiceIn) -> Status[InvoiceOut]:
    operator = selectors.operator_of(scope_for(request))
    provider = selectors.compute_providers().filter(pk=payload.provider_id).first()
    if provider is None:
        raise NotFound(_("Unknown compute provider."))
    invoice = services.record_provider_invoice(
        operator=operator,
        provider=provider,
        month=payload.month,
        number=payload.number,
        issued_on=payload.issued_on,
        amount=payload.amount,
        tax_amount=payload.tax_amount,
        note=payload.note,
        actor=acting_user(request),
    )
    return Status(201, _invoice_out(selectors.invoice_reconciliation(invoice)))


@router.get("/invoices/{id}", response={200: InvoiceOut, **READ_ERRORS}, summary="One invoice, reconciled")
def get_invoice(request: HttpRequest, id: int = Path(..., ge=1, le=MAX_ID)) -> InvoiceOut:
    operator = selectors.operator_of(scope_for(request))
    return _invoice_out(selectors.invoice_reconciliation(selectors.get_invoice(operator, id)))
