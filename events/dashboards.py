"""Oversight dashboards for operators and authorities: every figure is computed from a queryset of rows, and
those same rows are the figure's drill-down list and its XLSX sheet, so each number can be traced to the
records behind it.

Area: an operator sees its own communities, an authority the communities of its city
(``Scope.overseen_communities``). "Member companies" are organisations whose home community is in the area;
an order belongs to the area when it is posted to one of its communities, by a member, or is contracted to a
member OPC. Sections whose app has no data model yet (subsidies, copyright) are skipped, never guessed.
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldError
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from events.charts import Chart
from organisations.access import Scope
from organisations.capabilities import Capability

logger = logging.getLogger(__name__)

SECTIONS: OrderedDict[str, Any] = OrderedDict(
    [
        ("communities", gettext_lazy("Communities")),
        ("marketplace", gettext_lazy("Marketplace")),
        ("subsidies", gettext_lazy("Subsidies")),
        ("gateway", gettext_lazy("Token-quota gateway")),
        ("copyright", gettext_lazy("Copyright")),
        ("events", gettext_lazy("Events")),
    ]
)
ZERO = Decimal("0.00")
AWARDED_STATUSES = {"awarded", "in_progress", "delivered", "completed", "disputed"}


@dataclass
class Figure:
    key: str
    section: str
    label: str
    value: Any
    unit: str
    definition: str
    columns: list[str]
    rows: Callable[[], Iterable[Sequence[Any]]]
    row_count: int
    chart: Chart | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def section_label(self) -> str:
        return str(SECTIONS.get(self.section, self.section))


def may_view(scope: Scope) -> bool:
    return (scope.is_operator and scope.has(Capability.COMMUNITY_MANAGE)) or (
        scope.is_authority and scope.has(Capability.OVERSIGHT_VIEW)
    )


def _pct(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def _money(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


class Area:
    """The rows an oversight dashboard may count, for one caller."""

    def __init__(self, scope: Scope, community: Any = None) -> None:
        """``community``: one of the overseen communities (a model instance from ``overseen_community``) to
        narrow every figure to, or None for the whole area."""
        from organisations.models import Organisation

        self.scope = scope
        self.community = community
        overseen = scope.overseen_communities()
        self.communities = overseen.filter(pk=community.pk) if community is not None else overseen
        self.members = Organisation.objects.filter(home_community__in=self.communities)

    # -- communities ---------------------------------------------------------------------------------------
    def workstations(self) -> QuerySet[Any]:
        from communities.models import Workstation

        return Workstation.objects.filter(community__in=self.communities).select_related("community")

    def open_residencies(self) -> QuerySet[Any]:
        from communities.selectors import open_residencies

        return (
            open_residencies()
            .filter(workstation__community__in=self.communities)
            .select_related("organisation", "workstation__community")
            .order_by("workstation__community__name", "workstation__code")
        )

    # -- marketplace ---------------------------------------------------------------------------------------
    def orders(self) -> QuerySet[Any]:
        from marketplace.models import Order

        q = (
            Q(community__in=self.communities)
            | Q(client__home_community__in=self.communities)
            | Q(contract__opc__home_community__in=self.communities)
        )
        ids = Order.objects.filter(q).values("pk")
        return Order.objects.filter(pk__in=ids).select_related("client", "category")

    def contracts(self) -> QuerySet[Any]:
        from marketplace.models import Contract

        return (
            Contract.objects.filter(order__in=self.orders())
            .select_related("order", "opc", "client")
            .order_by("created_at", "id")
        )


# ------------------------------------------------------------------------------------------------ sections


def _community_figures(area: Area) -> list[Figure]:
    stations = list(area.workstations().order_by("community__name", "code"))
    residencies = list(area.open_residencies())
    occupied_ids = {r.workstation_id for r in residencies}
    per_community: Counter[str] = Counter()
    occupied_per_community: Counter[str] = Counter()
    for ws in stations:
        per_community[ws.community.name] += 1
        if ws.pk in occupied_ids:
            occupied_per_community[ws.community.name] += 1
    names = sorted(per_community)
    station_columns = [_("Community"), _("Workstation"), _("Zone"), _("Status"), _("Occupied today")]

    def station_rows() -> Iterable[Sequence[Any]]:
        for ws in stations:
            yield [ws.community.name, ws.code, ws.zone, ws.get_status_display(), ws.pk in occupied_ids]

    residents = sorted(
        {r.organisation_id: r for r in residencies}.values(), key=lambda r: r.organisation.name
    )
    contracts = list(area.contracts().filter(opc__in=area.members))
    return [
        Figure(
            key="workstations",
            section="communities",
            label=_("Workstations"),
            value=len(stations),
            unit="",
            definition=_("All workstations of the communities in your area."),
            columns=station_columns,
            rows=station_rows,
            row_count=len(stations),
            chart=Chart(_("Workstations per community"), names, [per_community[n] for n in names]),
        ),
        Figure(
            key="occupancy",
            section="communities",
            label=_("Occupancy"),
            value=_pct(len(occupied_ids & {ws.pk for ws in stations}), len(stations)),
            unit="%",
            definition=_("Workstations with a residency running today ÷ all workstations."),
            columns=station_columns,
            rows=station_rows,
            row_count=len(stations),
            chart=Chart(
                _("Occupancy per community"),
                names,
                [_pct(occupied_per_community[n], per_community[n]) for n in names],
                unit="%",
                maximum=100,
            ),
            extra={"occupied": len(occupied_ids), "total": len(stations)},
        ),
        Figure(
            key="residents",
            section="communities",
            label=_("Resident companies"),
            value=len(residents),
            unit="",
            definition=_("Companies with a residency running today (each counted once)."),
            columns=[_("Company"), _("Community"), _("Workstation"), _("Since")],
            rows=lambda: (
                [r.organisation.name, r.workstation.community.name, r.workstation.code, r.start_date]
                for r in residents
            ),
            row_count=len(residents),
        ),
        Figure(
            key="projects",
            section="communities",
            label=_("Projects landed"),
            value=len(contracts),
            unit="",
            definition=_("Marketplace contracts won by member OPCs of your area."),
            columns=[
                _("Contract"),
                _("Order"),
                _("OPC"),
                _("Client"),
                _("Price (CNY)"),
                _("Status"),
                _("Signed"),
            ],
            rows=lambda: (
                [
                    c.pk,
                    c.order.title,
                    c.opc.name,
                    c.client.name,
                    c.price,
                    c.get_status_display(),
                    c.created_at,
                ]
                for c in contracts
            ),
            row_count=len(contracts),
        ),
    ]


def _marketplace_figures(area: Area) -> list[Figure]:
    published = list(area.orders().filter(published_at__isnull=False).order_by("published_at", "id"))
    contracts = list(area.contracts())
    contracted = {c.order_id: c for c in contracts}
    awarded = [o for o in published if o.pk in contracted or o.status in AWARDED_STATUSES]
    value = sum((c.price for c in contracts), ZERO)
    waits = [
        ((c.created_at - c.order.published_at).total_seconds() / 86400.0, c)
        for c in contracts
        if c.order.published_at is not None
    ]
    median_days = round(statistics.median(w for w, _c in waits), 1) if waits else 0.0
    months: Counter[str] = Counter(timezone.localtime(o.published_at).strftime("%Y-%m") for o in published)
    month_keys = sorted(months)[-12:]
    value_months: Counter[str] = Counter()
    for c in contracts:
        value_months[timezone.localtime(c.created_at).strftime("%Y-%m")] += c.price
    value_keys = sorted(value_months)[-12:]
    order_columns = [_("Order"), _("Title"), _("Client"), _("Status"), _("Published"), _("Budget to (CNY)")]
    return [
        Figure(
            key="orders",
            section="marketplace",
            label=_("Orders published"),
            value=len(published),
            unit="",
            definition=_(
                "Published orders posted to your area's communities, by its members, or contracted to them."
            ),
            columns=order_columns,
            rows=lambda: (
                [o.pk, o.title, o.client.name, o.get_status_display(), o.published_at, o.budget_max]
                for o in published
            ),
            row_count=len(published),
            chart=Chart(_("Orders published per month"), month_keys, [months[m] for m in month_keys]),
        ),
        Figure(
            key="order_value",
            section="marketplace",
            label=_("Contract value"),
            value=value,
            unit="CNY",
            definition=_("Sum of the prices of the contracts of these orders."),
            columns=[_("Contract"), _("Order"), _("OPC"), _("Client"), _("Price (CNY)"), _("Signed")],
            rows=lambda: (
                [c.pk, c.order.title, c.opc.name, c.client.name, c.price, c.created_at] for c in contracts
            ),
            row_count=len(contracts),
            chart=Chart(
                _("Contract value per month (CNY)"), value_keys, [value_months[m] for m in value_keys]
            ),
        ),
        Figure(
            key="fill_rate",
            section="marketplace",
            label=_("Fill rate"),
            value=_pct(len(awarded), len(published)),
            unit="%",
            definition=_(
                "Published orders that were awarded (a contract or a contest winner) ÷ published orders."
            ),
            columns=[*order_columns, _("Awarded")],
            rows=lambda: (
                [
                    o.pk,
                    o.title,
                    o.client.name,
                    o.get_status_display(),
                    o.published_at,
                    o.budget_max,
                    o in awarded,
                ]
                for o in published
            ),
            row_count=len(published),
            extra={"awarded": len(awarded), "published": len(published)},
        ),
        Figure(
            key="time_to_award",
            section="marketplace",
            label=_("Median time to award"),
            value=median_days,
            unit=_("days"),
            definition=_("Median of (contract signed − order published) over the contracts, in days."),
            columns=[_("Contract"), _("Order"), _("Published"), _("Signed"), _("Days")],
            rows=lambda: (
                [c.pk, c.order.title, c.order.published_at, c.created_at, round(days, 2)] for days, c in waits
            ),
            row_count=len(waits),
        ),
    ]


def _gateway_figures(area: Area) -> list[Figure]:
    usage_model = _optional_model("gateway", "UsageRecord")
    if usage_model is None:
        return []
    records = list(
        usage_model.objects.filter(organisation__in=area.members)
        .select_related("organisation")
        .order_by("started_at", "id")
    )
    charged = _money(sum((Decimal(r.charged) for r in records), Decimal("0")))
    tokens = sum(int(r.prompt_tokens) + int(r.completion_tokens) for r in records)
    per_org: Counter[str] = Counter()
    for r in records:
        per_org[r.organisation.name] += int(r.prompt_tokens) + int(r.completion_tokens)
    top = per_org.most_common(10)
    columns = [
        _("Time"),
        _("Company"),
        _("Model"),
        _("Status"),
        _("Prompt tokens"),
        _("Completion tokens"),
        _("Charged (CNY)"),
    ]

    def rows() -> Iterable[Sequence[Any]]:
        for r in records:
            yield [
                r.started_at,
                r.organisation.name,
                r.model,
                r.status,
                r.prompt_tokens,
                r.completion_tokens,
                r.charged,
            ]

    return [
        Figure(
            key="gateway_requests",
            section="gateway",
            label=_("Model calls"),
            value=len(records),
            unit="",
            definition=_("Calls through the token-quota gateway by member companies."),
            columns=columns,
            rows=rows,
            row_count=len(records),
        ),
        Figure(
            key="gateway_tokens",
            section="gateway",
            label=_("Tokens used"),
            value=tokens,
            unit="",
            definition=_("Prompt plus completion tokens of those calls."),
            columns=columns,
            rows=rows,
            row_count=len(records),
            chart=Chart(_("Tokens by company (top 10)"), [n for n, _v in top], [v for _n, v in top]),
        ),
        Figure(
            key="gateway_charged",
            section="gateway",
            label=_("Charged to quotas"),
            value=charged,
            unit="CNY",
            definition=_("What those calls charged to the members' token quotas."),
            columns=columns,
            rows=rows,
            row_count=len(records),
        ),
    ]


def _event_figures(area: Area) -> list[Figure]:
    from events.models import EventOrder, InvestmentIntent, Registration

    scope = area.scope
    if scope.is_operator and scope.organisation is not None:
        event_q = Q(event__organiser=scope.organisation)
        if area.community is not None:
            event_q &= Q(event__community=area.community)
    else:
        event_q = Q(event__community__in=area.communities)
    regs = list(
        Registration.objects.filter(event_q, event__status__in=["published", "closed"])
        .select_related("event")
        .order_by("event__starts_at", "created_at")
    )
    per_event: Counter[str] = Counter(r.event.title for r in regs if r.status != "cancelled")
    links = list(
        EventOrder.objects.filter(event_q).select_related("event", "order__client").order_by("recorded_at")
    )
    intents = list(
        InvestmentIntent.objects.filter(event_q).exclude(status="withdrawn").select_related("event", "opc")
    )
    intent_total = sum((i.amount for i in intents), ZERO)
    top = per_event.most_common(10)
    return [
        Figure(
            key="event_signups",
            section="events",
            label=_("Event sign-ups"),
            value=len([r for r in regs if r.status != "cancelled"]),
            unit="",
            definition=_("Registrations (not cancelled) for published events, attendees and hosts."),
            columns=[_("Event"), _("Company"), _("Role"), _("Status"), _("Checked in")],
            rows=lambda: (
                [
                    r.event.title,
                    r.organisation_name,
                    r.get_role_display(),
                    r.get_status_display(),
                    r.checked_in_at,
                ]
                for r in regs
                if r.status != "cancelled"
            ),
            row_count=len([r for r in regs if r.status != "cancelled"]),
            chart=Chart(_("Sign-ups per event"), [t for t, _n in top], [n for _t, n in top]),
        ),
        Figure(
            key="event_orders",
            section="events",
            label=_("Orders from events"),
            value=len(links),
            unit="",
            definition=_("Marketplace orders recorded as outcomes of events."),
            columns=[_("Event"), _("Order"), _("Client"), _("Status"), _("Budget to (CNY)")],
            rows=lambda: (
                [
                    x.event.title,
                    x.order.title,
                    x.order.client.name,
                    x.order.get_status_display(),
                    x.order.budget_max,
                ]
                for x in links
            ),
            row_count=len(links),
        ),
        Figure(
            key="event_intents",
            section="events",
            label=_("Investment intents"),
            value=intent_total,
            unit="CNY",
            definition=_("Amounts of investment intents (not withdrawn) recorded at events."),
            columns=[_("Event"), _("Investor"), _("OPC"), _("Amount (CNY)"), _("Status")],
            rows=lambda: (
                [i.event.title, i.investor_name, i.opc.name, i.amount, i.get_status_display()]
                for i in intents
            ),
            row_count=len(intents),
        ),
    ]


def _optional_model(app: str, model: str) -> Any | None:
    """A model of another app, or None while that app has no such model (its section is then skipped)."""
    if not apps.is_installed(app):
        return None
    try:
        return apps.get_model(app, model)
    except LookupError:
        return None


def _subsidy_figures(area: Area) -> list[Figure]:
    batch_model = _optional_model("subsidies", "ClaimBatch")
    if batch_model is None or area.community is not None:
        return []  # claim batches are per operator, not per community: no share of one is made up
    scope = area.scope
    if scope.is_operator and scope.organisation is not None:
        operators_q = Q(operator=scope.organisation)
    else:
        operators_q = Q(operator__operated_communities__in=area.communities)
    ids = batch_model.objects.filter(operators_q, submitted_at__isnull=False).values("pk")
    batches = list(
        batch_model.objects.filter(pk__in=ids).select_related("operator").order_by("submitted_at", "pk")
    )
    claimed = sum((_money(b.claimed_amount) for b in batches), ZERO)
    approved = sum((_money(b.approved_amount) for b in batches if b.approved_amount is not None), ZERO)
    received = sum((_money(b.received_amount) for b in batches if b.received_amount is not None), ZERO)

    def received_on(b: Any) -> Any:
        return b.funds_received_on or (
            timezone.localdate(b.funds_received_at) if b.funds_received_at else None
        )

    cycles = [
        ((received_on(b) - timezone.localdate(b.submitted_at)).days, b)
        for b in batches
        if received_on(b) is not None
    ]
    median_cycle = round(statistics.median(d for d, _b in cycles), 1) if cycles else 0.0
    columns = [
        _("Batch"),
        _("Operator"),
        _("Policy"),
        _("Period"),
        _("Status"),
        _("Claimed (CNY)"),
        _("Approved (CNY)"),
        _("Received (CNY)"),
        _("Submitted"),
        _("Funds arrived on"),
    ]

    def rows() -> Iterable[Sequence[Any]]:
        for b in batches:
            yield [
                b.code,
                b.operator.name,
                b.policy_title,
                b.period_label,
                b.get_status_display(),
                b.claimed_amount,
                b.approved_amount,
                b.received_amount,
                b.submitted_at,
                received_on(b),
            ]

    per_status: Counter[str] = Counter(str(b.get_status_display()) for b in batches)
    return [
        Figure(
            key="subsidies_claimed",
            section="subsidies",
            label=_("Subsidies claimed"),
            value=claimed,
            unit="CNY",
            definition=_("Amounts of the claim batches submitted to the authorities."),
            columns=columns,
            rows=rows,
            row_count=len(batches),
            chart=Chart(_("Claim batches by status"), list(per_status), list(per_status.values())),
        ),
        Figure(
            key="subsidies_approved",
            section="subsidies",
            label=_("Subsidies approved"),
            value=approved,
            unit="CNY",
            definition=_("Approved amounts of those batches."),
            columns=columns,
            rows=rows,
            row_count=len(batches),
        ),
        Figure(
            key="subsidies_received",
            section="subsidies",
            label=_("Subsidies received"),
            value=received,
            unit="CNY",
            definition=_("Amounts that arrived from the authorities."),
            columns=columns,
            rows=rows,
            row_count=len(batches),
        ),
        Figure(
            key="payout_cycle",
            section="subsidies",
            label=_("Median payout cycle"),
            value=median_cycle,
            unit=_("days"),
            definition=_("Median of (funds arrived − batch submitted) over the batches paid, in days."),
            columns=[_("Batch"), _("Policy"), _("Submitted"), _("Funds arrived on"), _("Days")],
            rows=lambda: ([b.code, b.policy_title, b.submitted_at, received_on(b), d] for d, b in cycles),
            row_count=len(cycles),
        ),
    ]


def _copyright_figures(area: Area) -> list[Figure]:
    work_model = _optional_model("rights", "Work")
    case_model = _optional_model("rights", "Case")
    if work_model is None or case_model is None:
        return []
    works = list(
        work_model.objects.filter(holder__in=area.members, status="registered")
        .select_related("holder")
        .order_by("registered_at", "pk")
    )
    cases = list(
        case_model.objects.filter(holder__in=area.members)
        .select_related("work", "holder", "agency")
        .order_by("created_at", "pk")
    )
    compensation = sum((_money(c.compensation_total) for c in cases), ZERO)
    per_status: Counter[str] = Counter(str(c.get_status_display()) for c in cases)
    case_columns = [
        _("Case"),
        _("Work"),
        _("Rights holder"),
        _("Agency"),
        _("Status"),
        _("Opened"),
        _("Closed"),
        _("Compensation (CNY)"),
    ]

    def case_rows() -> Iterable[Sequence[Any]]:
        for c in cases:
            yield [
                c.pk,
                c.work.title,
                c.holder.name,
                c.agency.name,
                c.get_status_display(),
                c.created_at,
                c.closed_at,
                c.compensation_total,
            ]

    return [
        Figure(
            key="copyright_works",
            section="copyright",
            label=_("Works registered"),
            value=len(works),
            unit="",
            definition=_("Works of member companies registered in the copyright registry."),
            columns=[_("Code"), _("Work"), _("Rights holder"), _("Registered")],
            rows=lambda: ([w.code, w.title, w.holder.name, w.registered_at] for w in works),
            row_count=len(works),
        ),
        Figure(
            key="copyright_cases",
            section="copyright",
            label=_("Infringement cases"),
            value=len(cases),
            unit="",
            definition=_("Infringement cases opened by member companies."),
            columns=case_columns,
            rows=case_rows,
            row_count=len(cases),
            chart=Chart(_("Cases by status"), list(per_status), list(per_status.values())),
        ),
        Figure(
            key="copyright_compensation",
            section="copyright",
            label=_("Compensation recovered"),
            value=compensation,
            unit="CNY",
            definition=_("Compensation received in those cases."),
            columns=case_columns,
            rows=case_rows,
            row_count=len(cases),
        ),
    ]


BUILDERS: list[Callable[[Area], list[Figure]]] = [
    _community_figures,
    _marketplace_figures,
    _subsidy_figures,
    _gateway_figures,
    _copyright_figures,
    _event_figures,
]


OPTIONAL = {_subsidy_figures, _gateway_figures, _copyright_figures}


def overseen_community(scope: Scope, raw: str | None) -> Any | None:
    """The community a dashboard is narrowed to (``?community=<id>``): None for the whole area; an id
    outside the caller's area (or not an id) is "not found"."""
    if not raw:
        return None
    from core.errors import NotFound
    from core.http import parse_id

    pk = parse_id(raw)
    community = scope.overseen_communities().filter(pk=pk).first() if pk is not None else None
    if community is None:
        raise NotFound()
    return community


def figures(scope: Scope, community: Any = None) -> list[Figure]:
    area = Area(scope, community)
    out: list[Figure] = []
    for build in BUILDERS:
        if build in OPTIONAL:
            # Another app's tables, read by field name: if that app changes them, its section is skipped
            # (and logged) rather than taking the whole dashboard down.
            try:
                out.extend(build(area))
            except (FieldError, AttributeError, LookupError):
                logger.warning("dashboard section %s skipped", build.__name__, exc_info=True)
            continue
        out.extend(build(area))
    return out


def figure(scope: Scope, key: str, community: Any = None) -> Figure | None:
    return next((f for f in figures(scope, community) if f.key == key), None)


def by_section(items: Sequence[Figure]) -> list[tuple[str, list[Figure]]]:
    grouped: OrderedDict[str, list[Figure]] = OrderedDict()
    for f in items:
        grouped.setdefault(f.section, []).append(f)
    return [(str(SECTIONS.get(k, k)), v) for k, v in grouped.items()]
