"""Reads of the trust context, shared by pages, partials and the API.

- **Reputation** of OPCs (``reputation_for``) and **payment reliability** of clients (``payment_reliability_for``)
  are computed from marketplace outcomes over rolling windows (90 days, 365 days, all time) in a constant
  number of queries, whatever the number of organisations asked about.
- **Price reference** (``price_reference``, ``price_flag``, ``budget_flag``): the distribution of accepted
  prices of completed contracts in a category, and whether an amount lies far outside it.
- **Threads, reports, credit exports**: the ``*_for_*`` selectors take the caller's organisation / scope and
  never return another tenant's data; ``get_*`` helpers raise ``NotFound`` outside it (404, not 403).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.db.models import (
    Avg,
    Count,
    DecimalField,
    Exists,
    F,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import NotFound
from core.http import parse_id
from marketplace.models import (
    Bid,
    BidStatus,
    Contract,
    ContractStatus,
    Dispute,
    DisputeStatus,
    Milestone,
    MilestoneStatus,
    Order,
)
from organisations.capabilities import OrgKind
from organisations.models import Organisation, Skill
from trust.models import (
    CreditConsent,
    CreditExport,
    Message,
    MessageAttachment,
    Report,
    ReportStatus,
    Review,
    ReviewDirection,
    Thread,
)

if TYPE_CHECKING:
    from organisations.access import Scope

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
_MONEY = DecimalField(max_digits=20, decimal_places=2)

# Rolling windows: key, label, days (None: all time).
WINDOWS: tuple[tuple[str, Any, int | None], ...] = (
    ("90d", gettext_lazy("Last 90 days"), 90),
    ("365d", gettext_lazy("Last 365 days"), 365),
    ("all", gettext_lazy("All time"), None),
)
GOOD_RATING = 4  # a review of 4 or 5 stars is a good outcome
LOW_RATING = 2  # a review of 1 or 2 stars is a bad one; 3 is neutral

# Price reference: at least this many completed contracts before a quote is judged; the newest this many
# completed contracts of a category make the distribution (bounded work per lookup).
PRICE_MIN_SAMPLE = 5
PRICE_SAMPLE_LIMIT = 1000
PRICE_LOW_FACTOR = Decimal("0.5")  # below p25 × ½ is far below
PRICE_HIGH_FACTOR = Decimal("2")  # above p75 × 2 is far above
PRICE_CACHE_SECONDS = 600  # a cached reference is keyed by the completed contracts' version (never stale)


def _int(pk: Any) -> int:
    value = parse_id(pk)
    if value is None:
        raise NotFound()
    return value


def _merge(counts: dict[int, dict[str, int]], rows: Iterable[Any], key: str) -> None:
    """Add the per-window counts of grouped ``rows`` (dicts keyed by ``key``) to ``counts``."""
    for row in rows:
        data = dict(row)
        counts[int(data.pop(key))].update({k: int(v or 0) for k, v in data.items()})


def _average(value: Any) -> Decimal | None:
    return Decimal(str(value)).quantize(Decimal("0.1"), ROUND_HALF_UP) if value is not None else None


def _cutoffs(now: dt.datetime | None) -> dict[str, dt.datetime | None]:
    now = now or timezone.now()
    return {key: (now - dt.timedelta(days=days) if days else None) for key, _label, days in WINDOWS}


def _windowed(
    name: str, base: Any, date_field: str, cutoffs: dict[str, dt.datetime | None]
) -> dict[str, Any]:
    """``{"<name>__<window>": Count(filter=base & date >= cutoff)}`` for every window."""
    out: dict[str, Any] = {}
    for key, cutoff in cutoffs.items():
        q = base if cutoff is None else base & Q(**{f"{date_field}__gte": cutoff})
        out[f"{name}__{key}"] = Count("pk", filter=q)
    return out


# ---------------------------------------------------------------------------------------------- reputation


@dataclass(frozen=True)
class Outcomes:
    """Good and bad outcomes of an OPC in one window.

    Good: contracts completed on time (every milestone delivered by its due date, no dispute lost); reviews
    of 4–5 stars. Bad: contracts completed late; disputes decided mostly against the OPC; contracts
    cancelled after the award; reviews of 1–2 stars."""

    on_time: int = 0
    well_reviewed: int = 0
    disputes_lost: int = 0
    late: int = 0
    cancelled: int = 0
    low_ratings: int = 0

    @property
    def good(self) -> int:
        return self.on_time + self.well_reviewed

    @property
    def bad(self) -> int:
        return self.disputes_lost + self.late + self.cancelled + self.low_ratings

    @property
    def score(self) -> int:
        return self.good - self.bad

    @property
    def total(self) -> int:
        return self.good + self.bad

    def as_dict(self) -> dict[str, int]:
        return {
            "on_time": self.on_time,
            "well_reviewed": self.well_reviewed,
            "disputes_lost": self.disputes_lost,
            "late": self.late,
            "cancelled": self.cancelled,
            "low_ratings": self.low_ratings,
            "good": self.good,
            "bad": self.bad,
            "score": self.score,
        }


@dataclass(frozen=True)
class Reputation:
    """An OPC's reputation: outcomes per rolling window, plus its review average. ``score`` is the all-time
    good-minus-bad figure; dispatch may prefer ``recent`` or ``share_good``."""

    opc_id: int
    windows: dict[str, Outcomes]
    reviews: int = 0
    rating_average: Decimal | None = None
    # Team contracts in which this OPC was a member but not the contracted PM, each weighted by the member's
    # share of the price (``teams.selectors.team_outcomes_for``): completed counts good, cancelled bad.
    team_good: Decimal = Decimal(0)
    team_bad: Decimal = Decimal(0)

    @property
    def recent(self) -> Outcomes:
        return self.windows["90d"]

    @property
    def year(self) -> Outcomes:
        return self.windows["365d"]

    @property
    def overall(self) -> Outcomes:
        return self.windows["all"]

    @property
    def score(self) -> int:
        return self.overall.score

    @property
    def has_history(self) -> bool:
        return self.overall.total > 0 or bool(self.team_good or self.team_bad)

    @property
    def share_good(self) -> Decimal | None:
        """Good outcomes over all outcomes (0–1, all time), team contracts counted by the member's share;
        ``None`` without history."""
        total = Decimal(self.overall.total) + self.team_good + self.team_bad
        if not total:
            return None
        good = Decimal(self.overall.good) + self.team_good
        return (good / total).quantize(Decimal("0.001"), ROUND_HALF_UP)

    @property
    def on_time_rate(self) -> Decimal | None:
        """Completed contracts delivered on time over all completed ones, in percent (all time)."""
        done = self.overall.on_time + self.overall.late
        if not done:
            return None
        return (Decimal(100) * self.overall.on_time / done).quantize(Decimal("0.1"), ROUND_HALF_UP)

    def rows(self) -> list[tuple[str, Any, Outcomes]]:
        return [(key, label, self.windows[key]) for key, label, _days in WINDOWS]


def reputation_for(opc_ids: Iterable[int], *, now: dt.datetime | None = None) -> dict[int, Reputation]:
    """The reputation of every OPC in ``opc_ids`` (also those without any history), in four queries:
    contracts, disputes and reviews, each grouped by OPC with one conditional count per outcome and window."""
    ids = sorted({int(i) for i in opc_ids if i is not None})
    if not ids:
        return {}
    cutoffs = _cutoffs(now)
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}

    late_milestone = Milestone.objects.filter(
        contract=OuterRef("pk"), delivered_at__isnull=False, delivered_at__date__gt=F("due_date")
    )
    lost_dispute = Dispute.objects.filter(
        milestone__contract=OuterRef("pk"),
        status=DisputeStatus.DECIDED,
        amount_to_client__gt=F("amount_to_opc"),
    )
    completed = Q(status=ContractStatus.COMPLETED)
    contract_rows = (
        Contract.objects.filter(opc_id__in=ids)
        .values("opc_id")
        .order_by()
        .annotate(
            **_windowed(
                "on_time", completed & ~Exists(late_milestone) & ~Exists(lost_dispute), "closed_at", cutoffs
            ),
            **_windowed("late", completed & Exists(late_milestone), "closed_at", cutoffs),
            **_windowed("cancelled", Q(status=ContractStatus.CANCELLED), "closed_at", cutoffs),
        )
    )
    _merge(counts, contract_rows, "opc_id")

    dispute_rows = (
        Dispute.objects.filter(
            milestone__contract__opc_id__in=ids,
            status=DisputeStatus.DECIDED,
            amount_to_client__gt=F("amount_to_opc"),
        )
        .values("milestone__contract__opc_id")
        .order_by()
        .annotate(**_windowed("disputes_lost", Q(), "decided_at", cutoffs))
    )
    _merge(counts, dispute_rows, "milestone__contract__opc_id")

    reviewed = Q(direction=ReviewDirection.CLIENT_TO_OPC)
    review_rows = (
        Review.objects.filter(subject_id__in=ids, direction=ReviewDirection.CLIENT_TO_OPC)
        .values("subject_id")
        .order_by()
        .annotate(
            **_windowed("well_reviewed", reviewed & Q(rating__gte=GOOD_RATING), "created_at", cutoffs),
            **_windowed("low_ratings", reviewed & Q(rating__lte=LOW_RATING), "created_at", cutoffs),
            review_count=Count("pk"),
            rating_avg=Avg("rating"),
        )
    )
    extra: dict[int, tuple[int, Decimal | None]] = {}
    for row in review_rows:
        data: dict[str, Any] = dict(row)
        subject = int(data.pop("subject_id"))
        avg = data.pop("rating_avg")
        extra[subject] = (int(data.pop("review_count")), _average(avg))
        counts[subject].update(data)

    from teams.selectors import team_outcomes_for

    team = team_outcomes_for(ids)
    out: dict[int, Reputation] = {}
    for opc_id in ids:
        c = counts[opc_id]
        windows = {
            key: Outcomes(
                on_time=c.get(f"on_time__{key}", 0),
                well_reviewed=c.get(f"well_reviewed__{key}", 0),
                disputes_lost=c.get(f"disputes_lost__{key}", 0),
                late=c.get(f"late__{key}", 0),
                cancelled=c.get(f"cancelled__{key}", 0),
                low_ratings=c.get(f"low_ratings__{key}", 0),
            )
            for key, _label, _days in WINDOWS
        }
        reviews, average = extra.get(opc_id, (0, None))
        team_good, team_bad = team.get(opc_id, (Decimal(0), Decimal(0)))
        out[opc_id] = Reputation(
            opc_id=opc_id,
            windows=windows,
            reviews=reviews,
            rating_average=average,
            team_good=team_good,
            team_bad=team_bad,
        )
    return out


def reputation_of(opc: Organisation | int | None) -> Reputation | None:
    """One OPC's reputation (``None`` for ``None``); uses a value attached by ``attach_reputations``."""
    if opc is None:
        return None
    attached = getattr(opc, "trust_reputation", None)
    if isinstance(attached, Reputation):
        return attached
    pk = opc if isinstance(opc, int) else opc.pk
    if pk is None:
        return None
    return reputation_for([pk]).get(pk)


def attach_reputations(organisations: Iterable[Organisation]) -> list[Organisation]:
    """Attach ``trust_reputation`` to each organisation (three queries for the whole list), so a list page
    that includes ``trust/_opc_reputation.html`` per row stays at a constant number of queries."""
    orgs = list(organisations)
    found = reputation_for(o.pk for o in orgs)
    for org in orgs:
        org.trust_reputation = found.get(org.pk)  # type: ignore[attr-defined]
    return orgs


# ---------------------------------------------------------------------------------------- payment reliability


@dataclass(frozen=True)
class PaymentOutcomes:
    """A client's payment behaviour in one window.

    Good: milestones funded by their due date; milestones the client released itself, without a dispute.
    Bad: milestones funded after their due date (or still unfunded past it); milestones released
    automatically because the client did not respond; disputes decided mostly against the client."""

    funded_on_time: int = 0
    released_by_client: int = 0
    funded_late: int = 0
    auto_released: int = 0
    disputes_lost: int = 0

    @property
    def good(self) -> int:
        return self.funded_on_time + self.released_by_client

    @property
    def bad(self) -> int:
        return self.funded_late + self.auto_released + self.disputes_lost

    @property
    def score(self) -> int:
        return self.good - self.bad

    @property
    def total(self) -> int:
        return self.good + self.bad

    @property
    def rate(self) -> Decimal | None:
        """Good over all outcomes in percent; ``None`` without any."""
        if not self.total:
            return None
        return (Decimal(100) * self.good / self.total).quantize(Decimal("0.1"), ROUND_HALF_UP)

    def as_dict(self) -> dict[str, Any]:
        return {
            "funded_on_time": self.funded_on_time,
            "released_by_client": self.released_by_client,
            "funded_late": self.funded_late,
            "auto_released": self.auto_released,
            "disputes_lost": self.disputes_lost,
            "good": self.good,
            "bad": self.bad,
            "score": self.score,
            "rate": str(self.rate) if self.rate is not None else None,
        }


@dataclass(frozen=True)
class PaymentReliability:
    client_id: int
    windows: dict[str, PaymentOutcomes]
    reviews: int = 0
    rating_average: Decimal | None = None

    @property
    def overall(self) -> PaymentOutcomes:
        return self.windows["all"]

    @property
    def rate(self) -> Decimal | None:
        return self.overall.rate

    @property
    def score(self) -> int:
        return self.overall.score

    @property
    def has_history(self) -> bool:
        return self.overall.total > 0

    def rows(self) -> list[tuple[str, Any, PaymentOutcomes]]:
        return [(key, label, self.windows[key]) for key, label, _days in WINDOWS]


def payment_reliability_for(
    client_ids: Iterable[int], *, now: dt.datetime | None = None
) -> dict[int, PaymentReliability]:
    """Payment reliability of every client in ``client_ids``, in three queries (milestones, disputes,
    reviews), whatever their number."""
    ids = sorted({int(i) for i in client_ids if i is not None})
    if not ids:
        return {}
    now = now or timezone.now()
    cutoffs = _cutoffs(now)
    today = timezone.localdate(now)
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}

    on_time = Q(funded_at__isnull=False, funded_at__date__lte=F("due_date"))
    late = Q(funded_at__isnull=False, funded_at__date__gt=F("due_date"))
    released = Q(status=MilestoneStatus.RELEASED, released_at__isnull=False)
    overdue: dict[str, Any] = {}
    overdue_base = Q(
        status=MilestoneStatus.PENDING, contract__status=ContractStatus.ACTIVE, due_date__lt=today
    )
    for key, cutoff in cutoffs.items():
        q = overdue_base if cutoff is None else overdue_base & Q(due_date__gte=timezone.localdate(cutoff))
        overdue[f"unfunded__{key}"] = Count("pk", filter=q)
    rows = (
        Milestone.objects.filter(contract__client_id__in=ids)
        .values("contract__client_id")
        .order_by()
        .annotate(
            **_windowed("funded_on_time", on_time, "funded_at", cutoffs),
            **_windowed("funded_late", late, "funded_at", cutoffs),
            **_windowed("released_by_client", released & Q(auto_released=False), "released_at", cutoffs),
            **_windowed("auto_released", released & Q(auto_released=True), "released_at", cutoffs),
            **overdue,
        )
    )
    _merge(counts, rows, "contract__client_id")

    lost = (
        Dispute.objects.filter(
            milestone__contract__client_id__in=ids,
            status=DisputeStatus.DECIDED,
            amount_to_opc__gt=F("amount_to_client"),
        )
        .values("milestone__contract__client_id")
        .order_by()
        .annotate(**_windowed("disputes_lost", Q(), "decided_at", cutoffs))
    )
    _merge(counts, lost, "milestone__contract__client_id")

    review_rows = (
        Review.objects.filter(subject_id__in=ids, direction=ReviewDirection.OPC_TO_CLIENT)
        .values("subject_id")
        .order_by()
        .annotate(n=Count("pk"), avg=Avg("rating"))
    )
    extra = {int(r["subject_id"]): (int(r["n"]), _average(r["avg"])) for r in review_rows}
    out: dict[int, PaymentReliability] = {}
    for client_id in ids:
        c = counts[client_id]
        windows = {
            key: PaymentOutcomes(
                funded_on_time=c.get(f"funded_on_time__{key}", 0),
                released_by_client=c.get(f"released_by_client__{key}", 0),
                funded_late=c.get(f"funded_late__{key}", 0) + c.get(f"unfunded__{key}", 0),
                auto_released=c.get(f"auto_released__{key}", 0),
                disputes_lost=c.get(f"disputes_lost__{key}", 0),
            )
            for key, _label, _days in WINDOWS
        }
        reviews, average = extra.get(client_id, (0, None))
        out[client_id] = PaymentReliability(
            client_id=client_id, windows=windows, reviews=reviews, rating_average=average
        )
    return out


def payment_reliability_of(client: Organisation | None) -> PaymentReliability | None:
    if client is None or client.pk is None:
        return None
    return payment_reliability_for([client.pk]).get(client.pk)


# ---------------------------------------------------------------------------------------------- reviews


def reviews_of_contract(contract: Contract) -> dict[str, Review | None]:
    """``{"client_to_opc": …, "opc_to_client": …}`` for one contract."""
    found = {r.direction: r for r in Review.objects.filter(contract=contract).select_related("author")}
    return {d: found.get(d) for d in ReviewDirection.values}


def reviews_received(organisation: Organisation) -> QuerySet[Review]:
    return (
        Review.objects.filter(subject=organisation)
        .select_related("author", "contract", "contract__order")
        .order_by("-created_at", "-id")
    )


def get_contract_for_party(organisation: Organisation | None, pk: Any) -> Contract:
    """A contract where ``organisation`` is the client or the OPC; ``NotFound`` otherwise."""
    if organisation is None:
        raise NotFound()
    contract = (
        Contract.objects.filter(pk=_int(pk))
        .filter(Q(client=organisation) | Q(opc=organisation))
        .select_related("order", "order__category", "client", "opc")
        .first()
    )
    if contract is None:
        raise NotFound()
    return contract


# ---------------------------------------------------------------------------------------------- prices


@dataclass(frozen=True)
class PriceReference:
    """The accepted-price distribution of completed contracts in one category."""

    category: Skill | None
    count: int
    p25: Decimal | None = None
    median: Decimal | None = None
    p75: Decimal | None = None

    @property
    def enough(self) -> bool:
        return self.count >= PRICE_MIN_SAMPLE and self.p25 is not None

    @property
    def low_limit(self) -> Decimal | None:
        return (self.p25 * PRICE_LOW_FACTOR).quantize(FEN, ROUND_HALF_UP) if self.p25 is not None else None

    @property
    def high_limit(self) -> Decimal | None:
        return (self.p75 * PRICE_HIGH_FACTOR).quantize(FEN, ROUND_HALF_UP) if self.p75 is not None else None

    def as_dict(self) -> dict[str, Any]:
        def money(v: Decimal | None) -> str | None:
            return format(v, "f") if v is not None else None

        return {
            "category": self.category.code if self.category else None,
            "count": self.count,
            "enough_data": self.enough,
            "min_sample": PRICE_MIN_SAMPLE,
            "p25": money(self.p25),
            "median": money(self.median),
            "p75": money(self.p75),
            "far_below": money(self.low_limit),
            "far_above": money(self.high_limit),
        }


def percentile(sorted_values: list[Decimal], fraction: Decimal) -> Decimal:
    """The ``fraction`` percentile (0–1) of ascending ``sorted_values`` by linear interpolation between
    closest ranks (numpy's default, Excel's PERCENTILE.INC), exact in Decimal, rounded half-up to the fen."""
    if not sorted_values:
        raise ValueError("no values")
    position = (len(sorted_values) - 1) * fraction
    lower = int(position)  # floor for non-negative positions
    upper = min(lower + 1, len(sorted_values) - 1)
    weight = position - lower
    value = sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * weight
    return value.quantize(FEN, ROUND_HALF_UP)


def _completed_contracts_version() -> tuple[int, str, int]:
    """A version of the set of completed contracts: their number, newest closing time and highest id. A
    completion changes it (completed is a terminal state, and a completed contract's price and its order's
    category never change), so a price reference cached under it is never stale. One aggregate over the
    contracts — much cheaper than the distribution itself, which joins the orders of a category."""
    row = Contract.objects.filter(status=ContractStatus.COMPLETED).aggregate(
        n=Count("pk"), last=Max("closed_at"), top=Max("pk")
    )
    last = row["last"]
    return int(row["n"] or 0), last.isoformat() if last is not None else "", int(row["top"] or 0)


def price_reference(category: Skill | None) -> PriceReference:
    """p25 / median / p75 of the accepted prices of the newest completed contracts in ``category``.
    Fewer than ``PRICE_MIN_SAMPLE`` contracts: the count only (not enough data).

    Read through the cache (``PRICE_CACHE_SECONDS``) under the version of the completed contracts: one cheap
    query when nothing was completed since, else the distribution query (``_price_reference_uncached``)."""
    if category is None or category.pk is None:
        return PriceReference(category=category, count=0)
    version = ":".join(str(part) for part in _completed_contracts_version())
    key = f"trust:price-reference:{category.pk}:{PRICE_SAMPLE_LIMIT}:{version}"
    cached = cache.get(key)
    if cached is None:
        ref = _price_reference_uncached(category)
        cache.set(key, (ref.count, ref.p25, ref.median, ref.p75), PRICE_CACHE_SECONDS)
        return ref
    count, p25, median, p75 = cached
    return PriceReference(category=category, count=count, p25=p25, median=median, p75=p75)


def _price_reference_uncached(category: Skill) -> PriceReference:
    prices = list(
        Contract.objects.filter(status=ContractStatus.COMPLETED, order__category=category)
        .order_by("-closed_at", "-id")
        .values_list("price", flat=True)[:PRICE_SAMPLE_LIMIT]
    )
    values = sorted(Decimal(p) for p in prices)
    if len(values) < PRICE_MIN_SAMPLE:
        return PriceReference(category=category, count=len(values))
    return PriceReference(
        category=category,
        count=len(values),
        p25=percentile(values, Decimal("0.25")),
        median=percentile(values, Decimal("0.5")),
        p75=percentile(values, Decimal("0.75")),
    )


def category_by_code(code: Any) -> Skill | None:
    if not isinstance(code, str) or not code or len(code) > 40:
        return None
    return Skill.objects.filter(code=code).first()


class PriceLevel:
    NO_DATA = "not_enough_data"
    FAR_BELOW = "far_below"
    FAR_ABOVE = "far_above"
    WITHIN = "within"


@dataclass(frozen=True)
class PriceFlag:
    level: str
    reference: PriceReference
    amount: Decimal | None = None
    message: str = ""

    @property
    def flagged(self) -> bool:
        return self.level in (PriceLevel.FAR_BELOW, PriceLevel.FAR_ABOVE)


def parse_amount(value: Any) -> Decimal | None:
    """A non-negative finite amount from user input, else ``None``."""
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    return amount


def price_flag(category: Skill | None, amount: Any, *, reference: PriceReference | None = None) -> PriceFlag:
    """Whether a quote is far outside the category's accepted prices: below p25 × ½ or above p75 × 2.
    With fewer than ``PRICE_MIN_SAMPLE`` completed contracts: "not enough data"."""
    ref = reference if reference is not None else price_reference(category)
    value = parse_amount(amount)
    if not ref.enough:
        return PriceFlag(
            PriceLevel.NO_DATA,
            ref,
            value,
            _("Not enough completed contracts in this category yet to compare prices."),
        )
    assert ref.low_limit is not None and ref.high_limit is not None
    if value is None:
        return PriceFlag(PriceLevel.WITHIN, ref, None, "")
    if value < ref.low_limit:
        return PriceFlag(
            PriceLevel.FAR_BELOW,
            ref,
            value,
            _("Far below the usual price: less than half of the lower quartile (%(p25)s).")
            % {"p25": _cny(ref.p25)},
        )
    if value > ref.high_limit:
        return PriceFlag(
            PriceLevel.FAR_ABOVE,
            ref,
            value,
            _("Far above the usual price: more than twice the upper quartile (%(p75)s).")
            % {"p75": _cny(ref.p75)},
        )
    return PriceFlag(PriceLevel.WITHIN, ref, value, _("Within the usual range of accepted prices."))


def budget_flag(
    category: Skill | None, low: Any, high: Any, *, reference: PriceReference | None = None
) -> PriceFlag:
    """A budget range is far below when even its upper end is far below, far above when even its lower end
    is far above."""
    ref = reference if reference is not None else price_reference(category)
    lo, hi = parse_amount(low), parse_amount(high)
    if not ref.enough or hi is None:
        return price_flag(category, hi, reference=ref)
    upper = price_flag(category, hi, reference=ref)
    if upper.level == PriceLevel.FAR_BELOW:
        return upper
    lower = price_flag(category, lo if lo is not None else hi, reference=ref)
    if lower.level == PriceLevel.FAR_ABOVE:
        return lower
    return PriceFlag(PriceLevel.WITHIN, ref, hi, _("Within the usual range of accepted prices."))


def price_hint(code: str, budget_min: str = "", budget_max: str = "") -> dict[str, Any]:
    """What the posting form shows for a category code and an optional budget range: the reference and,
    with a budget, its flag."""
    category = category_by_code(code)
    if category is None:
        return {"category": None, "reference": None, "flag": None}
    reference = price_reference(category)
    flag = None
    if budget_min or budget_max:
        flag = budget_flag(category, budget_min or budget_max, budget_max or budget_min, reference=reference)
    return {"category": category, "reference": reference, "flag": flag}


def _cny(value: Decimal | None) -> str:
    from ledger.money import format_cny

    return format_cny(value) if value is not None else "—"


# ---------------------------------------------------------------------------------------------- threads


def _operator_thread_q(community_ids: set[int]) -> Q:
    return (
        Q(client__home_community_id__in=community_ids)
        | Q(opc__home_community_id__in=community_ids)
        | Q(order__community_id__in=community_ids)
    )


def _threads() -> QuerySet[Thread]:
    return Thread.objects.select_related("order", "contract", "client", "opc")


def threads_for(scope: Scope) -> QuerySet[Thread]:
    """Threads the caller takes part in; an operator also sees (read-only) the threads of its communities'
    members. Newest activity first."""
    org = scope.organisation
    if org is None:
        return Thread.objects.none()
    q = Q(client=org) | Q(opc=org)
    if scope.is_operator and scope.managed_community_ids:
        q |= _operator_thread_q(scope.managed_community_ids)
    return (
        _threads()
        .filter(pk__in=Thread.objects.filter(q).values("pk"))
        .annotate(
            message_count=Count("messages", distinct=True),
            flagged_count=Count("messages", filter=Q(messages__flagged=True), distinct=True),
        )
        .order_by(F("last_message_at").desc(nulls_last=True), "-created_at", "-id")
    )


@dataclass
class ThreadAccess:
    thread: Thread
    can_post: bool
    as_party: Organisation | None


def get_thread_for(scope: Scope, pk: Any) -> ThreadAccess:
    """A thread the caller takes part in (may post) or mediates as operator (read only); else 404."""
    org = scope.organisation
    thread = _threads().filter(pk=_int(pk)).first()
    if thread is None or org is None:
        raise NotFound()
    if org.pk in thread.participant_ids():
        return ThreadAccess(thread, True, org)
    if (
        scope.is_operator
        and scope.managed_community_ids
        and Thread.objects.filter(_operator_thread_q(scope.managed_community_ids), pk=thread.pk).exists()
    ):
        return ThreadAccess(thread, False, None)
    raise NotFound()


def messages_of(thread: Thread) -> QuerySet[Message]:
    return (
        Message.objects.filter(thread=thread)
        .select_related("sender", "sender_user")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )


def get_attachment_for(scope: Scope, pk: Any) -> MessageAttachment:
    attachment = MessageAttachment.objects.select_related("message").filter(pk=_int(pk)).first()
    if attachment is None:
        raise NotFound()
    get_thread_for(scope, attachment.message.thread_id)
    return attachment


def thread_for_order(order: Order | None, opc: Organisation | None) -> Thread | None:
    if order is None or opc is None:
        return None
    return Thread.objects.filter(order=order, opc=opc).first()


def opc_may_message(order: Order, opc: Organisation) -> bool:
    """An OPC may talk to the client about an order it bid on, was invited to (or offered directly) or
    holds the contract for."""
    if opc.kind != OrgKind.OPC or opc.pk == order.client_id:
        return False
    return (
        order.direct_opc_id == opc.pk
        or Bid.objects.filter(order=order, opc=opc).exists()
        or order.invited_opcs.filter(pk=opc.pk).exists()
        or Contract.objects.filter(order=order, opc=opc).exists()
    )


def partners_among(
    order: Order, *, bids: Iterable[Bid], invited: Iterable[Organisation], contract: Contract | None
) -> list[Organisation]:
    """``message_partners`` from what an order page already loaded (its bids with their OPCs, its invited
    OPCs, the named OPC and the contract with its OPC): no query."""
    found: dict[int, Organisation] = {}
    for bid in bids:
        if bid.status != BidStatus.WITHDRAWN:
            found[bid.opc_id] = bid.opc
    for opc in invited:
        found[opc.pk] = opc
    if order.direct_opc_id and order.direct_opc is not None:
        found[order.direct_opc_id] = order.direct_opc
    if contract is not None:
        found[contract.opc_id] = contract.opc
    found.pop(order.client_id, None)
    partners = [o for o in found.values() if o.kind == OrgKind.OPC]
    return sorted(partners, key=lambda o: (o.name, o.pk))


def message_partners(order: Order) -> list[Organisation]:
    """The OPCs the client of ``order`` may talk to about it: bidders (not withdrawn), invited OPCs, the
    named OPC and the contracted OPC (two queries)."""
    ids = set(
        Bid.objects.filter(order=order).exclude(status=BidStatus.WITHDRAWN).values_list("opc_id", flat=True)
    )
    ids |= set(order.invited_opcs.values_list("pk", flat=True))
    if order.direct_opc_id:
        ids.add(order.direct_opc_id)
    contract_opc = Contract.objects.filter(order=order).values_list("opc_id", flat=True).first()
    if contract_opc:
        ids.add(contract_opc)
    ids.discard(order.client_id)
    return list(Organisation.objects.filter(pk__in=ids, kind=OrgKind.OPC).order_by("name", "pk"))


def flagged_messages_for(scope: Scope) -> QuerySet[Message]:
    """Flagged messages in threads of the operator's communities (the operator's review list)."""
    if not (scope.is_operator and scope.managed_community_ids):
        return Message.objects.none()
    threads = Thread.objects.filter(_operator_thread_q(scope.managed_community_ids)).values("pk")
    return (
        Message.objects.filter(flagged=True, thread_id__in=threads)
        .select_related("sender", "thread", "thread__order", "thread__client", "thread__opc")
        .order_by("-created_at", "-id")
    )


# ---------------------------------------------------------------------------------------------- reports


def _reports() -> QuerySet[Report]:
    return Report.objects.select_related(
        "reporter",
        "reported_organisation",
        "order",
        "contract",
        "contract__order",
        "message",
        "message__thread",
        "operator",
        "decided_by",
    )


def reports_for_operator(operator: Organisation, *, status: str = "") -> QuerySet[Report]:
    qs = _reports().filter(operator=operator)
    if status in ReportStatus.values:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def open_report_count(operator: Organisation | None) -> int:
    if operator is None:
        return 0
    return Report.objects.filter(operator=operator, status=ReportStatus.OPEN).count()


def get_report_for_operator(operator: Organisation, pk: Any) -> Report:
    report = _reports().filter(operator=operator, pk=_int(pk)).first()
    if report is None:
        raise NotFound()
    return report


def reports_by(reporter: Organisation) -> QuerySet[Report]:
    return _reports().filter(reporter=reporter).order_by("-created_at", "-id")


def _visible_order(org: Organisation, pk: Any) -> Order:
    from marketplace import selectors as market

    order = Order.objects.filter(pk=_int(pk)).select_related("client").first()
    if order is None:
        raise NotFound()
    if order.client_id == org.pk:
        return order
    if org.kind == OrgKind.OPC:
        return market.get_order_for_opc(org, order.pk)
    return market.get_public_order(order.pk)


def report_target_for(org: Organisation | None, kind: str, pk: Any) -> tuple[Organisation, dict[str, Any]]:
    """The organisation a report would be about and the object(s) it concerns, if ``org`` may see the target:
    a public or own order, a contract it is party to, a message in one of its threads, any organisation."""
    from trust.models import ReportTarget

    if org is None:
        raise NotFound()
    if kind == ReportTarget.ORDER:
        order = _visible_order(org, pk)
        return order.client, {"order": order}
    if kind == ReportTarget.CONTRACT:
        contract = get_contract_for_party(org, pk)
        other = contract.opc if contract.client_id == org.pk else contract.client
        return other, {"contract": contract, "order": contract.order}
    if kind == ReportTarget.MESSAGE:
        message = (
            Message.objects.filter(pk=_int(pk))
            .filter(Q(thread__client=org) | Q(thread__opc=org))
            .select_related("sender", "thread", "thread__order")
            .first()
        )
        if message is None:
            raise NotFound()
        return message.sender, {"message": message, "order": message.thread.order}
    if kind == ReportTarget.ORGANISATION:
        target = Organisation.objects.filter(pk=_int(pk)).first()
        if target is None:
            raise NotFound()
        return target, {}
    raise NotFound()


# ---------------------------------------------------------------------------------------------- credit profile


def consents_of(opc: Organisation) -> QuerySet[CreditConsent]:
    return (
        CreditConsent.objects.filter(opc=opc)
        .select_related("granted_by", "revoked_by")
        .prefetch_related(Prefetch("exports", queryset=CreditExport.objects.order_by("-created_at", "-id")))
        .order_by("-granted_at", "-id")
    )


def get_consent_for(opc: Organisation, pk: Any) -> CreditConsent:
    consent = CreditConsent.objects.filter(opc=opc, pk=_int(pk)).first()
    if consent is None:
        raise NotFound()
    return consent


def get_export_for(opc: Organisation, pk: Any) -> CreditExport:
    export = CreditExport.objects.filter(opc=opc, pk=_int(pk)).select_related("consent").first()
    if export is None:
        raise NotFound()
    return export


def normalise_code(raw: Any) -> str:
    """A verification code as typed: case, spaces and dashes don't matter; '' when it cannot be one."""
    if not isinstance(raw, str):
        return ""
    code = raw.strip().upper().replace(" ", "").replace("-", "")
    if not 4 <= len(code) <= 16 or not code.isascii() or not code.isalnum():
        return ""
    return code


def export_by_code(raw: Any) -> CreditExport | None:
    code = normalise_code(raw)
    if not code:
        return None
    return CreditExport.objects.select_related("consent", "opc").filter(code=code).first()


def _money(value: Decimal | None) -> str:
    return format((value or ZERO).quantize(FEN, ROUND_HALF_UP), "f")


@dataclass
class CreditFigures:
    """What an export freezes (``as_json`` is stored in ``CreditExport.facts``)."""

    as_of: dt.datetime
    organisation: dict[str, Any]
    orders_in_hand: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, str] = field(default_factory=dict)
    completed: dict[str, Any] = field(default_factory=dict)
    reputation: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "currency": "CNY",
            "organisation": self.organisation,
            "orders_in_hand": self.orders_in_hand,
            "totals": self.totals,
            "completed": self.completed,
            "reputation": self.reputation,
        }


def credit_figures(opc: Organisation, *, now: dt.datetime | None = None) -> CreditFigures:
    """The OPC's verified orders in hand (active contracts on the platform: value, funded escrow, released,
    remaining), completed value, on-time rate and reputation, as of ``now``."""
    now = now or timezone.now()
    zero = Value(ZERO, output_field=_MONEY)

    def total(expr: Any) -> Any:
        return Coalesce(Sum(expr, output_field=_MONEY), zero, output_field=_MONEY)

    active = (
        Contract.objects.filter(opc=opc, status=ContractStatus.ACTIVE)
        .select_related("order", "client")
        .annotate(
            released=total("milestones__released_amount"),
            refunded=total("milestones__refunded_amount"),
            in_escrow=total(
                F("milestones__funded_amount")
                - F("milestones__released_amount")
                - F("milestones__refunded_amount")
            ),
            milestone_count=Count("milestones"),
        )
        .order_by("created_at", "pk")
    )
    due_dates = dict(
        Milestone.objects.filter(contract__opc=opc, contract__status=ContractStatus.ACTIVE)
        .values("contract_id")
        .order_by()
        .annotate(last=Max("due_date"))
        .values_list("contract_id", "last")
    )
    rows: list[dict[str, Any]] = []
    value_sum = escrow_sum = released_sum = remaining_sum = ZERO
    for c in active:
        released = Decimal(c.released)
        refunded = Decimal(c.refunded)
        in_escrow = Decimal(c.in_escrow)
        remaining = c.price - released - refunded
        last_due = due_dates.get(c.pk)
        rows.append(
            {
                "contract_id": c.pk,
                "order": c.order.title,
                "client": c.client.name,
                "client_verified": c.client.is_verified,
                "since": timezone.localdate(c.created_at).isoformat(),
                "due": last_due.isoformat() if last_due else None,
                "value": _money(c.price),
                "in_escrow": _money(in_escrow),
                "released": _money(released),
                "remaining": _money(remaining),
            }
        )
        value_sum += c.price
        escrow_sum += in_escrow
        released_sum += released
        remaining_sum += remaining
    completed_rows = Contract.objects.filter(opc=opc, status=ContractStatus.COMPLETED).aggregate(
        n=Count("pk", distinct=True), value=total("milestones__released_amount")
    )
    reputation = reputation_for([opc.pk], now=now)[opc.pk]
    community = opc.home_community
    return CreditFigures(
        as_of=now,
        organisation={
            "id": opc.pk,
            "name": opc.name,
            "uscc": opc.uscc or "",
            "verification_status": opc.verification_status,
            "verified": opc.is_verified,
            "community": community.name if community else "",
            "operator": community.operator.name if community else "",
        },
        orders_in_hand=rows,
        totals={
            "contracts": str(len(rows)),
            "value": _money(value_sum),
            "in_escrow": _money(escrow_sum),
            "released": _money(released_sum),
            "remaining": _money(remaining_sum),
        },
        completed={
            "contracts": completed_rows["n"] or 0,
            "value": _money(completed_rows["value"]),
            "on_time": reputation.overall.on_time,
            "late": reputation.overall.late,
            "on_time_rate": str(reputation.on_time_rate) if reputation.on_time_rate is not None else None,
        },
        reputation={
            "score": reputation.score,
            "reviews": reputation.reviews,
            "rating_average": str(reputation.rating_average) if reputation.rating_average else None,
            "windows": {key: reputation.windows[key].as_dict() for key, _l, _d in WINDOWS},
        },
    )
