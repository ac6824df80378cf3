"""Reads of the gateway, shared by the console pages, the API, the exports and the statement PDF.

Who may read what is decided by ``organisations.access.Scope`` (the member's own organisation; an operator's
member organisations); these helpers add the gateway's own rules on top of it: channels are managed by an
operator or a compliant compute provider, quota pages are for OPC members.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from core.errors import NotFound, NotPermitted
from gateway.models import (
    Channel,
    ConsumptionStatement,
    ModelPrice,
    ProviderInvoice,
    QuotaMeter,
    UsageDaily,
    UsageRecord,
    UsageSource,
    UsageStatus,
    VirtualKey,
)
from gateway.services import (
    COST_QUANTUM,
    local_day_bounds,
    month_bounds,
    quota_account,
)
from ledger.models import Account, Entry, Purpose
from ledger.services import default_account_code
from organisations.capabilities import Capability, OrgKind, OrgSubkind
from organisations.models import Organisation

if TYPE_CHECKING:
    from organisations.access import Scope

ZERO = Decimal(0)
MAX_RANGE_DAYS = 366


# --------------------------------------------------------------------------------------------- roles


def channel_manager(scope: Scope) -> Organisation:
    """The organisation whose channels the caller manages: an operator (community managers) or a compliant
    compute provider (organisation managers). Anyone else: 403."""
    org = scope.organisation
    if org is not None and org.kind == OrgKind.OPERATOR:
        scope.require(Capability.COMMUNITY_MANAGE)
        return org
    if org is not None and org.kind == OrgKind.PROVIDER and org.subkind == OrgSubkind.COMPUTE:
        scope.require(Capability.ORG_MANAGE)
        return org
    raise NotPermitted()


def operator_of(scope: Scope) -> Organisation:
    """The caller's operator organisation (community managers only), else 403."""
    if not scope.is_operator:
        raise NotPermitted()
    return scope.require(Capability.COMMUNITY_MANAGE)


def quota_member(scope: Scope) -> Organisation:
    """The caller's OPC (quota, keys and usage pages are for members), else 403."""
    org = scope.organisation
    if org is None or org.kind != OrgKind.OPC:
        raise NotPermitted()
    return org


def channels_of(owner: Organisation) -> QuerySet[Channel]:
    return Channel.objects.filter(owner=owner).prefetch_related("models").order_by("-priority", "name")


def get_channel(scope: Scope, pk: Any) -> Channel:
    """A channel the caller manages; another tenant's channel is 404."""
    owner = channel_manager(scope)
    from core.http import parse_id

    channel = channels_of(owner).filter(pk=parse_id(pk) or 0).select_related("owner").first()
    if channel is None:
        raise NotFound()
    return channel


def provider_channels() -> QuerySet[Channel]:
    """Channels run by compute providers (operators see them read-only: they serve their members too)."""
    return (
        Channel.objects.filter(owner__kind=OrgKind.PROVIDER)
        .select_related("owner")
        .prefetch_related("models")
        .order_by("owner__name", "-priority", "name")
    )


def compute_providers() -> QuerySet[Organisation]:
    return Organisation.objects.filter(kind=OrgKind.PROVIDER, subkind=OrgSubkind.COMPUTE).order_by("name")


def keys_of(organisation: Organisation) -> QuerySet[VirtualKey]:
    return VirtualKey.objects.filter(organisation=organisation).order_by("-created_at")


def get_key(organisation: Organisation, pk: Any) -> VirtualKey:
    from core.http import parse_id

    key = keys_of(organisation).filter(pk=parse_id(pk) or 0).select_related("organisation").first()
    if key is None:
        raise NotFound()
    return key


# --------------------------------------------------------------------------------------------- prices


def current_prices(at: dt.datetime | None = None) -> list[ModelPrice]:
    """The price in force for every model that has one."""
    now = at or timezone.now()
    latest: dict[str, ModelPrice] = {}
    for price in ModelPrice.objects.filter(effective_from__lte=now).order_by("model", "-effective_from"):
        latest.setdefault(price.model, price)
    return list(latest.values())


def price_history() -> QuerySet[ModelPrice]:
    return ModelPrice.objects.select_related("created_by").order_by("model", "-effective_from")


def served_models() -> list[str]:
    from gateway.models import ChannelModel

    return sorted(
        set(
            ChannelModel.objects.filter(is_enabled=True, channel__is_enabled=True).values_list(
                "public_name", flat=True
            )
        )
    )


# --------------------------------------------------------------------------------------------- balances


@dataclass
class Balance:
    available: Decimal
    in_flight: Decimal
    unposted: Decimal
    ledger_quota: Decimal
    in_gateway: Decimal


def balance_of(organisation: Organisation) -> Balance:
    meter = QuotaMeter.objects.filter(organisation=organisation).first()
    code = default_account_code(owner=organisation, purpose=Purpose.QUOTA)
    ledger_quota = Account.objects.filter(code=code).values_list("balance", flat=True).first() or Decimal(
        "0.00"
    )
    if meter is None:
        return Balance(ledger_quota, ZERO, ZERO, ledger_quota, Decimal("0.00"))
    return Balance(
        available=ledger_quota + meter.available,
        in_flight=meter.held,
        unposted=meter.unposted,
        ledger_quota=ledger_quota,
        in_gateway=meter.funded,
    )


def grants_received(organisation: Organisation) -> QuerySet[Entry]:
    """Money that entered the member's quota (grants), newest first."""
    account = quota_account(organisation)
    return (
        Entry.objects.filter(account=account, amount__gt=0)
        .select_related("transaction")
        .order_by("-transaction__created_at", "-id")
    )


@dataclass
class MemberQuota:
    organisation: Organisation
    balance: Balance
    month_charged: Decimal
    month_requests: int


def member_quotas(members: QuerySet[Organisation]) -> list[MemberQuota]:
    """Every member's balance and this month's usage, for the operator's grant page."""
    orgs = list(members.order_by("name"))
    ids = [o.pk for o in orgs]
    codes = [default_account_code(owner=org, purpose=Purpose.QUOTA) for org in orgs]
    quotas = dict(Account.objects.filter(code__in=codes).values_list("owner_id", "balance"))
    meters = {m.organisation_id: m for m in QuotaMeter.objects.filter(organisation_id__in=ids)}
    start, _end = month_bounds(timezone.localdate())
    usage = {
        row["organisation_id"]: row
        for row in UsageRecord.objects.filter(organisation_id__in=ids, started_at__gte=start)
        .values("organisation_id")
        .annotate(charged=Sum("charged"), requests=Count("id", filter=Q(status=UsageStatus.SETTLED)))
        .order_by()
    }
    out = []
    for org in orgs:
        ledger_quota = quotas.get(org.pk) or Decimal("0.00")
        meter = meters.get(org.pk)
        balance = Balance(
            available=ledger_quota + (meter.available if meter else ZERO),
            in_flight=meter.held if meter else ZERO,
            unposted=meter.unposted if meter else ZERO,
            ledger_quota=ledger_quota,
            in_gateway=meter.funded if meter else Decimal("0.00"),
        )
        row: Any = usage.get(org.pk) or {}
        out.append(
            MemberQuota(
                organisation=org,
                balance=balance,
                month_charged=row.get("charged") or ZERO,
                month_requests=row.get("requests") or 0,
            )
        )
    return out


# --------------------------------------------------------------------------------------------- usage


@dataclass
class UsageFilter:
    start: dt.date
    end: dt.date  # inclusive
    model: str = ""
    key_id: int | None = None
    tag: str = ""
    member_id: int | None = None

    @classmethod
    def default(cls) -> UsageFilter:
        today = timezone.localdate()
        return cls(start=today - dt.timedelta(days=29), end=today)

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def usage_records(organisation_ids: list[int] | QuerySet[Any], f: UsageFilter) -> QuerySet[UsageRecord]:
    start, _ = local_day_bounds(f.start)
    _, end = local_day_bounds(f.end)
    qs = UsageRecord.objects.filter(
        organisation_id__in=organisation_ids, started_at__gte=start, started_at__lt=end
    )
    if f.model:
        qs = qs.filter(model=f.model)
    if f.key_id is not None:
        qs = qs.filter(virtual_key_id=f.key_id)
    if f.tag:
        qs = qs.filter(tag=f.tag)
    if f.member_id is not None:
        qs = qs.filter(organisation_id=f.member_id)
    return qs.select_related("virtual_key", "channel", "organisation").order_by("-started_at", "-id")


def usage_totals(qs: QuerySet[UsageRecord]) -> dict[str, Any]:
    totals = qs.order_by().aggregate(
        requests=Count("id", filter=Q(status=UsageStatus.SETTLED)),
        failed=Count("id", filter=Q(status=UsageStatus.RELEASED)),
        estimated=Count("id", filter=Q(usage_source=UsageSource.ESTIMATED)),
        prompt=Sum("prompt_tokens"),
        cached=Sum("cached_tokens"),
        completion=Sum("completion_tokens"),
        cost=Sum("cost"),
        charged=Sum("charged"),
    )
    for name in ("prompt", "cached", "completion"):
        totals[name] = totals[name] or 0
    for name in ("cost", "charged"):
        totals[name] = totals[name] or ZERO
    totals["tokens"] = totals["prompt"] + totals["completion"]
    return totals


def usage_by_model(qs: QuerySet[UsageRecord]) -> list[dict[str, Any]]:
    rows: Any = (
        qs.order_by()
        .values("model")
        .annotate(
            requests=Count("id", filter=Q(status=UsageStatus.SETTLED)),
            prompt=Sum("prompt_tokens"),
            cached=Sum("cached_tokens"),
            completion=Sum("completion_tokens"),
            charged=Sum("charged"),
            estimated=Count("id", filter=Q(usage_source=UsageSource.ESTIMATED)),
        )
        .order_by("-charged", "model")
    )
    return list(rows)


PALETTE = ["#2a7be4", "#e5a000", "#17a673", "#d64545", "#8e59c7", "#4aa3b5", "#9aa5b1"]


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass
class DailyChart:
    """A stacked bar per day (amount charged, by model), as SVG geometry for the template (no JS)."""

    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    max_value: Decimal = ZERO
    ticks: list[tuple[float, str]] = field(default_factory=list)
    labels: list[tuple[float, str]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    empty: bool = True


def daily_chart(
    qs: QuerySet[UsageRecord], f: UsageFilter, *, width: int = 720, height: int = 220
) -> DailyChart:
    tz = timezone.get_current_timezone()
    raw = (
        qs.order_by()
        .annotate(day=TruncDate("started_at", tzinfo=tz))
        .values("day", "model")
        .annotate(charged=Sum("charged"), tokens=Sum("prompt_tokens") + Sum("completion_tokens"))
        .order_by("day")
    )
    per_day: dict[dt.date, dict[str, Decimal]] = defaultdict(dict)
    per_model: dict[str, Decimal] = defaultdict(Decimal)
    tokens_per_day: dict[dt.date, int] = defaultdict(int)
    for row in raw:
        amount = (row["charged"] or ZERO).quantize(COST_QUANTUM)
        per_day[row["day"]][row["model"]] = amount
        per_model[row["model"]] += amount
        tokens_per_day[row["day"]] += row["tokens"] or 0
    ranked = sorted(per_model, key=lambda m: (-per_model[m], m))
    shown = ranked[: len(PALETTE) - 1]
    colours = {model: PALETTE[i] for i, model in enumerate(shown)}
    other = "…"
    chart = DailyChart(width=width, height=height)
    chart.legend = [(colours[m], m) for m in shown] + (
        [(PALETTE[-1], other)] if len(ranked) > len(shown) else []
    )
    days = f.days
    totals = {day: sum(per_day[day].values(), ZERO) for day in days}
    chart.max_value = max(totals.values(), default=ZERO)
    chart.empty = chart.max_value <= 0
    left, bottom, top = 56.0, 22.0, 8.0
    plot_w, plot_h = width - left - 8, height - bottom - top
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.7, 1.0)
    scale = float(chart.max_value) or 1.0
    for i, day in enumerate(days):
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h
        values = per_day.get(day, {})
        stack = [(m, values[m]) for m in shown if m in values]
        rest = sum((v for m, v in values.items() if m not in colours), ZERO)
        if rest:
            stack.append((other, rest))
        for model, value in stack:
            h = float(value) / scale * plot_h
            y -= h
            chart.bars.append(
                Bar(
                    x=round(x, 2),
                    y=round(y, 2),
                    width=round(bar_w, 2),
                    height=round(h, 2),
                    colour=colours.get(model, PALETTE[-1]),
                    title=f"{day:%m-%d} {model}: ¥{value.quantize(Decimal('0.0001'))}",
                )
            )
        chart.rows.append({"day": day, "charged": totals[day], "tokens": tokens_per_day.get(day, 0)})
        step = max(1, len(days) // 10)
        if i % step == 0:
            chart.labels.append((round(left + i * slot + slot / 2, 2), f"{day:%m-%d}"))
    for n in range(5):
        value = chart.max_value * n / 4
        chart.ticks.append((round(top + plot_h - plot_h * n / 4, 2), f"¥{value.quantize(Decimal('0.01'))}"))
    return chart


def daily_aggregates(organisation_ids: list[int] | QuerySet[Any], f: UsageFilter) -> QuerySet[UsageDaily]:
    qs = UsageDaily.objects.filter(organisation_id__in=organisation_ids, day__gte=f.start, day__lte=f.end)
    if f.model:
        qs = qs.filter(model=f.model)
    if f.member_id is not None:
        qs = qs.filter(organisation_id=f.member_id)
    return qs.select_related("organisation", "channel").order_by("-day", "organisation__name", "model")


def tags_of(organisation_ids: list[int] | QuerySet[Any]) -> list[str]:
    return sorted(
        set(
            VirtualKey.objects.filter(organisation_id__in=organisation_ids)
            .exclude(tag="")
            .values_list("tag", flat=True)
        )
    )


def models_used(organisation_ids: list[int] | QuerySet[Any]) -> list[str]:
    return sorted(
        set(
            UsageRecord.objects.filter(organisation_id__in=organisation_ids)
            .order_by()
            .values_list("model", flat=True)
            .distinct()
        )
    )


# --------------------------------------------------------------------------------------------- statements


def statements_of_member(organisation: Organisation) -> QuerySet[ConsumptionStatement]:
    return ConsumptionStatement.objects.filter(organisation=organisation).select_related("operator")


def statements_of_operator(operator: Organisation) -> QuerySet[ConsumptionStatement]:
    return ConsumptionStatement.objects.filter(operator=operator).select_related("organisation")


def statement_by_code(raw: Any) -> ConsumptionStatement | None:
    from communities.selectors import normalise_code

    code = normalise_code(raw)
    if not code:
        return None
    return ConsumptionStatement.objects.select_related("organisation", "operator").filter(code=code).first()


def _money(value: Decimal | None, places: str = "0.01") -> str:
    return str((value or ZERO).quantize(Decimal(places)))


def statement_facts(*, member: Organisation, operator: Organisation, month: dt.date) -> dict[str, Any]:
    """The figures a consumption statement freezes: usage per model and per channel provider, the quota
    granted in the month, and where each price comes from. Amounts as strings (exact, JSON-safe)."""
    start, end = month_bounds(month)
    qs = UsageRecord.objects.filter(organisation=member, started_at__gte=start, started_at__lt=end).exclude(
        status=UsageStatus.RESERVED
    )
    rows = []
    for row in usage_by_model(qs):
        rows.append(
            {
                "model": row["model"],
                "requests": row["requests"],
                "prompt_tokens": row["prompt"] or 0,
                "cached_tokens": row["cached"] or 0,
                "completion_tokens": row["completion"] or 0,
                "charged": _money(row["charged"], "0.0001"),
                "charged_exact": str((row["charged"] or ZERO).quantize(COST_QUANTUM)),
                "estimated_requests": row["estimated"],
            }
        )
    totals = usage_totals(qs)
    by_provider = []
    provider_rows: Any = (
        qs.filter(status=UsageStatus.SETTLED)
        .order_by()
        .values("channel__owner__name", "channel__owner__kind", "channel__owner__uscc")
        .annotate(charged=Sum("charged"), requests=Count("id"))
        .order_by("-charged")
    )
    for row in provider_rows:
        by_provider.append(
            {
                "provider": row["channel__owner__name"] or "—",
                "uscc": row["channel__owner__uscc"] or "",
                "is_compute_provider": row["channel__owner__kind"] == OrgKind.PROVIDER,
                "requests": row["requests"],
                "charged": _money(row["charged"], "0.0001"),
            }
        )
    quota = quota_account(member)
    granted = Entry.objects.filter(
        account=quota, amount__gt=0, transaction__created_at__gte=start, transaction__created_at__lt=end
    ).aggregate(total=Sum("amount"))["total"]
    models = [r["model"] for r in rows]
    sources = []
    for model in models:
        price = (
            ModelPrice.objects.filter(model=model, effective_from__lt=end).order_by("-effective_from").first()
        )
        if price is not None:
            sources.append(
                {
                    "model": model,
                    "input": str(price.input_per_million),
                    "cached_input": str(price.cached_input_per_million),
                    "output": str(price.output_per_million),
                    "kind": price.kind,
                    "kind_label": str(price.get_kind_display()),
                    "source": price.source,
                    "source_date": price.source_date.isoformat() if price.source_date else "",
                }
            )
    community = member.home_community
    return {
        "member_name": member.name,
        "member_uscc": member.uscc or "",
        "community": community.name if community else "",
        "operator_name": operator.name,
        "operator_uscc": operator.uscc or "",
        "month": f"{month:%Y-%m}",
        "period_start": month.isoformat(),
        "period_end": (end - dt.timedelta(seconds=1))
        .astimezone(timezone.get_current_timezone())
        .date()
        .isoformat(),
        "rows": rows,
        "requests": totals["requests"],
        "failed_requests": totals["failed"],
        "estimated_requests": totals["estimated"],
        "prompt_tokens": totals["prompt"],
        "cached_tokens": totals["cached"],
        "completion_tokens": totals["completion"],
        "charged": _money(totals["charged"]),
        "charged_4": _money(totals["charged"], "0.0001"),
        "charged_exact": str(totals["charged"].quantize(COST_QUANTUM)),
        "by_provider": by_provider,
        "granted": _money(granted),
        "prices": sources,
        "issue_date": timezone.localdate().isoformat(),
    }


# --------------------------------------------------------------------------------------------- invoices


def invoices_of_operator(operator: Organisation) -> QuerySet[ProviderInvoice]:
    return ProviderInvoice.objects.filter(operator=operator).select_related("provider", "recorded_by")


def get_invoice(operator: Organisation, pk: Any) -> ProviderInvoice:
    from core.http import parse_id

    invoice = invoices_of_operator(operator).filter(pk=parse_id(pk) or 0).first()
    if invoice is None:
        raise NotFound()
    return invoice


@dataclass
class Reconciliation:
    invoice: ProviderInvoice
    usage_charged: Decimal
    usage_cost: Decimal
    requests: int
    tokens: int
    difference: Decimal  # invoice − usage; positive: the provider invoiced more than was used
    difference_ratio: Decimal | None
    rows: list[dict[str, Any]]

    @property
    def matches(self) -> bool:
        return self.difference == 0


def invoice_reconciliation(invoice: ProviderInvoice) -> Reconciliation:
    """The invoice against the usage the provider's channels served to the operator's members in the
    month (at the prices members were charged), with the difference."""
    start, end = month_bounds(invoice.month)
    members = Organisation.objects.filter(home_community__operator=invoice.operator)
    qs = UsageRecord.objects.filter(
        channel__owner=invoice.provider,
        organisation__in=members,
        started_at__gte=start,
        started_at__lt=end,
        status=UsageStatus.SETTLED,
    )
    rows: Any = list(
        qs.order_by()
        .values("channel__name", "model")
        .annotate(
            requests=Count("id"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            cost=Sum("cost"),
            charged=Sum("charged"),
        )
        .order_by("channel__name", "model")
    )
    totals = qs.aggregate(
        cost=Sum("cost"),
        charged=Sum("charged"),
        n=Count("id"),
        p=Sum("prompt_tokens"),
        c=Sum("completion_tokens"),
    )
    usage_cost = (totals["cost"] or ZERO).quantize(Decimal("0.01"))
    difference = invoice.amount - usage_cost
    ratio = (difference / usage_cost * 100).quantize(Decimal("0.1")) if usage_cost else None
    return Reconciliation(
        invoice=invoice,
        usage_charged=(totals["charged"] or ZERO).quantize(Decimal("0.01")),
        usage_cost=usage_cost,
        requests=totals["n"] or 0,
        tokens=(totals["p"] or 0) + (totals["c"] or 0),
        difference=difference,
        difference_ratio=ratio,
        rows=rows,
    )


def month_choices(count: int = 12) -> list[dt.date]:
    """The current month and the ``count - 1`` before it, newest first."""
    first = timezone.localdate().replace(day=1)
    months = [first]
    for _ in range(count - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
        months.append(first)
    return months
