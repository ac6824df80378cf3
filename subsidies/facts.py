"""Company facts from the platform, for the engine: one ``CompanyFacts`` per organisation, built for a whole
batch of organisations in a constant number of queries (organisations with profile and community, skills,
residencies, approved expenses, live gateway usage, earlier claim lines, marketplace contracts, approved
evidence documents).

What the platform does not hold stays ``None`` — the engine then lists the evidence to supply instead of
refusing (快申快享).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from organisations.capabilities import OrgKind
from organisations.models import Organisation, VerificationStatus
from subsidies.engine import CompanyFacts, Period, PriorPayout
from subsidies.engine import Expense as EngineExpense
from subsidies.engine.schema import Policy, Term
from subsidies.models import (
    FACT_DOCUMENTS,
    ClaimLine,
    EvidenceDocument,
    Expense,
    ExpenseCategory,
    ExpenseSource,
    ExpenseStatus,
)


def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def years_window(period: Period) -> tuple[dt.date, dt.date]:
    """Whole calendar years around ``period``: spend conditions may look at the year (``window: year``)."""
    return dt.date(period.start.year, 1, 1), dt.date(period.end.year, 12, 31)


@dataclass
class FactsBundle:
    """Facts per organisation id, and the approved expense rows each fact set was built from."""

    facts: dict[int, CompanyFacts]
    expenses: dict[int, list[Expense]]
    organisations: dict[int, Organisation]


def _verified(org: Organisation) -> bool | None:
    if org.verification_status == VerificationStatus.VERIFIED:
        return True
    if org.verification_status == VerificationStatus.REJECTED:
        return False
    return None  # pending / unverified: not known yet


def build_facts(
    organisations: Iterable[Organisation],
    *,
    period: Period,
    exclude_batch_id: int | None = None,
    explain_claims: bool = False,
) -> FactsBundle:
    """Facts for ``organisations`` as they stand for ``period``.

    Spend: approved expenses in the calendar years of the period; metered token fees from gateway statements
    (``Expense`` rows imported per month) and, for months not imported yet, live from the gateway's usage
    records. Prior payouts and invoice claims: every active claim line (except those of ``exclude_batch_id``),
    so caps per year and stacking limits count what was already claimed elsewhere. ``explain_claims``: leave
    out the lines whose period overlaps ``period`` too — they are the claims being explained, not earlier ones
    (the "why ¥X" pages show what a claim for the period computes).
    """
    ids = [o.pk for o in organisations]
    orgs = {
        o.pk: o
        for o in Organisation.objects.filter(pk__in=ids)
        .select_related("home_community", "opc_profile")
        .prefetch_related("opc_profile__skills")
    }
    start, end = years_window(period)

    residency_since: dict[int, dt.date] = {}
    from communities.models import Residency

    for org_id, started in (
        Residency.objects.filter(organisation_id__in=ids, start_date__lte=period.end)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=period.start))
        .order_by("organisation_id", "start_date")
        .values_list("organisation_id", "start_date")
    ):
        residency_since.setdefault(org_id, started)

    rows: dict[int, list[Expense]] = defaultdict(list)
    imported_months: set[tuple[int, dt.date]] = set()
    for expense in Expense.objects.filter(
        organisation_id__in=ids, status=ExpenseStatus.APPROVED, spent_on__range=(start, end)
    ).order_by("spent_on", "pk"):
        rows[expense.organisation_id].append(expense)
        if expense.source == ExpenseSource.GATEWAY and expense.month is not None:
            imported_months.add((expense.organisation_id, expense.month))

    live: dict[int, list[EngineExpense]] = defaultdict(list)
    from gateway.models import UsageRecord, UsageStatus

    tz = timezone.get_current_timezone()
    usage = (
        UsageRecord.objects.filter(
            organisation_id__in=ids,
            status=UsageStatus.SETTLED,
            started_at__gte=dt.datetime.combine(start, dt.time.min, tzinfo=tz),
            started_at__lt=dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz),
        )
        .annotate(month=TruncMonth("started_at", tzinfo=tz))
        .values("organisation_id", "month")
        .annotate(total=Sum("charged"))
        .order_by()
    )
    for usage_row in usage:
        row: dict[str, Any] = dict(usage_row)
        month = row["month"]
        first = month.date() if isinstance(month, dt.datetime) else month
        total = row["total"] or Decimal(0)
        if total > 0 and (row["organisation_id"], first) not in imported_months:
            live[row["organisation_id"]].append(
                EngineExpense(ExpenseCategory.TOKEN_API.value, total, month_end(first), None, None, True)
            )

    payouts: dict[int, list[PriorPayout]] = defaultdict(list)
    claims: dict[int, dict[str, dict[str, Decimal]]] = defaultdict(dict)
    lines = ClaimLine.objects.filter(organisation_id__in=ids, active=True)
    if exclude_batch_id is not None:
        lines = lines.exclude(batch_id=exclude_batch_id)
    if explain_claims:
        lines = lines.exclude(period_start__lte=period.end, period_end__gte=period.start)
    for line in lines.only(
        "organisation_id",
        "policy_id",
        "period_end",
        "eligible_amount",
        "share",
        "stacking_group",
        "invoice_allocations",
    ):
        payouts[line.organisation_id].append(
            PriorPayout(line.policy_id, line.period_end.year, line.counted_amount)
        )
        if line.stacking_group:
            for key, amount in (line.invoice_allocations or {}).items():
                group = claims[line.organisation_id].setdefault(key, {})
                group[line.stacking_group] = group.get(line.stacking_group, Decimal(0)) + Decimal(amount)

    contracts: dict[int, dict[str, Any]] = {}
    if apps.is_installed("marketplace"):
        from marketplace.models import Contract, ContractStatus

        for contract_row in (
            Contract.objects.filter(opc_id__in=ids)
            .exclude(status=ContractStatus.CANCELLED)
            .values("opc_id")
            .annotate(total=Sum("price"), count=Count("id"))
            .order_by()
        ):
            contracts[contract_row["opc_id"]] = {
                "contracts_total": contract_row["total"],
                "contracts": contract_row["count"],
            }

    evidence: dict[int, set[str]] = defaultdict(set)
    flags: dict[int, dict[str, Any]] = defaultdict(dict)
    for org_id, kind in (
        EvidenceDocument.objects.filter(organisation_id__in=ids, status=ExpenseStatus.APPROVED)
        .values_list("organisation_id", "kind")
        .distinct()
    ):
        if kind in FACT_DOCUMENTS:
            flags[org_id][FACT_DOCUMENTS[kind]] = True
        else:
            evidence[org_id].add(kind)

    facts: dict[int, CompanyFacts] = {}
    for org_id in ids:
        org = orgs.get(org_id)
        if org is None:
            continue
        facts[org_id] = _facts_for(
            org,
            expenses=rows.get(org_id, []),
            live=live.get(org_id, []),
            since=residency_since.get(org_id),
            payouts=payouts.get(org_id, []),
            claims=claims.get(org_id, {}),
            extra={**contracts.get(org_id, {}), **flags.get(org_id, {})},
            evidence=frozenset(evidence.get(org_id, ())),
        )
    return FactsBundle(facts, {k: v for k, v in rows.items()}, orgs)


def _facts_for(
    org: Organisation,
    *,
    expenses: list[Expense],
    live: list[EngineExpense],
    since: dt.date | None,
    payouts: list[PriorPayout],
    claims: dict[str, dict[str, Decimal]],
    extra: dict[str, Any],
    evidence: frozenset[str],
) -> CompanyFacts:
    community = org.home_community
    profile = getattr(org, "opc_profile", None) if org.kind == OrgKind.OPC else None
    skills = frozenset(s.code for s in profile.skills.all()) if profile is not None else None
    engine_expenses = [to_engine(e) for e in expenses] + live
    return CompanyFacts(
        company_id=str(org.pk),
        kind=org.kind,
        registered_on=profile.founded_on if profile is not None else None,
        verified=_verified(org),
        city=org.city or (community.city if community else None) or None,
        district=org.district or (community.district if community else None) or None,
        community=community.name if community else None,
        residency_since=since,
        skills=skills if skills else None,
        headcount=profile.headcount if profile is not None else None,
        talent_level=(profile.talent_level or None) if profile is not None else None,
        expenses=tuple(engine_expenses),
        prior_payouts=tuple(payouts),
        prior_invoice_claims=claims,
        evidence=evidence,
        extra=dict(extra),
    )


def to_engine(expense: Expense) -> EngineExpense:
    return EngineExpense(
        category=expense.category,
        amount=expense.amount,
        day=expense.spent_on,
        invoice_id=expense.invoice_key or None,
        seller_uscc=expense.seller_uscc or None,
        metered=expense.source == ExpenseSource.GATEWAY,
    )


def facts_snapshot(facts: CompanyFacts) -> dict[str, Any]:
    """The facts a line was computed from, as JSON (frozen on the claim line for the audit report)."""
    return {
        "kind": facts.kind,
        "registered_on": str(facts.registered_on) if facts.registered_on else None,
        "verified": facts.verified,
        "city": facts.city,
        "district": facts.district,
        "community": facts.community,
        "residency_since": str(facts.residency_since) if facts.residency_since else None,
        "skills": sorted(facts.skills) if facts.skills else None,
        "headcount": facts.headcount,
        "talent_level": facts.talent_level,
        "expenses": len(facts.expenses),
        "extra": {k: str(v) for k, v in facts.extra.items()},
    }


def _matches(category: str, prefixes: tuple[str, ...]) -> bool:
    return any(category == p or category.startswith(p + ".") for p in prefixes)


def term_uses(term: Term, expense: Expense, window: Period) -> bool:
    if not (window.start <= expense.spent_on <= window.end):
        return False
    if term.weekends_only and expense.spent_on.weekday() < 5:
        return False
    if not _matches(expense.category, term.categories):
        return False
    if expense.invoice_key or not term.requires_invoice:
        return True
    return term.accepts_metered and expense.source == ExpenseSource.GATEWAY


def expenses_used(policy: Policy, period: Period, expenses: Iterable[Expense]) -> list[Expense]:
    """The approved expenses a spend formula counts for ``period`` (the evidence index of a claim)."""
    window = period.intersect(policy.effective_from, policy.effective_to)
    if window is None or policy.formula.kind != "spend":
        return []
    return [e for e in expenses if any(term_uses(t, e, window) for t in policy.formula.terms)]
