"""Reads of the subsidy middle layer, shared by pages and the API: expenses and the review queue, eligibility
with traces, consents, claim batches, and the authorities' reports. Objects another tenant may not see are
``NotFound`` (404) — the caller's ``Scope`` decides (``organisations.access``)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from core.errors import NotFound
from core.http import parse_id
from organisations.access import Scope
from organisations.capabilities import Capability, OrgKind
from organisations.models import Organisation
from subsidies import catalog
from subsidies.engine import Period, Result, evaluate_many
from subsidies.engine.schema import Policy, Role
from subsidies.facts import FactsBundle, build_facts
from subsidies.models import (
    BatchStatus,
    ClaimBatch,
    ClaimLine,
    Consent,
    EvidenceDocument,
    Expense,
    ExpenseStatus,
)

ZERO = Decimal("0.00")


def _pk(raw: Any) -> int:
    value = parse_id(raw)
    if value is None:
        raise NotFound()
    return value


# --------------------------------------------------------------------------------------------- expenses


def expenses_of(organisation: Organisation) -> QuerySet[Expense]:
    return Expense.objects.filter(organisation=organisation).select_related("duplicate_of", "reviewed_by")


def filter_expenses(qs: QuerySet[Expense], *, status: str = "", category: str = "") -> QuerySet[Expense]:
    if status in ExpenseStatus.values:
        qs = qs.filter(status=status)
    if category:
        qs = qs.filter(category=category)
    return qs


def review_queue(scope: Scope, *, status: str = ExpenseStatus.SUBMITTED) -> QuerySet[Expense]:
    """Members' expenses the operator reviews (pending first, flagged duplicates marked)."""
    qs = Expense.objects.filter(organisation__in=scope.member_organisations()).select_related(
        "organisation", "duplicate_of", "reviewed_by"
    )
    if status in ExpenseStatus.values:
        qs = qs.filter(status=status)
    return (
        qs.order_by("spent_on", "pk")
        if status == ExpenseStatus.SUBMITTED
        else qs.order_by("-reviewed_at", "-pk")
    )


def expense_for(scope: Scope, pk: Any, *, reviewer: bool = False) -> Expense:
    """An expense the caller may see: its own organisation's, or a member's for its operator. With
    ``reviewer`` only the latter (404 otherwise)."""
    expense = (
        Expense.objects.select_related("organisation__home_community", "duplicate_of")
        .filter(pk=_pk(pk))
        .first()
    )
    if expense is None:
        raise NotFound()
    own = scope.organisation is not None and expense.organisation_id == scope.organisation.pk
    managed = expense.organisation_id in scope.managed_member_ids()
    if (reviewer and not managed) or not (own or managed):
        raise NotFound()
    return expense


def documents_of(organisation: Organisation) -> QuerySet[EvidenceDocument]:
    return EvidenceDocument.objects.filter(organisation=organisation).select_related("reviewed_by")


def document_queue(scope: Scope) -> QuerySet[EvidenceDocument]:
    return (
        EvidenceDocument.objects.filter(
            organisation__in=scope.member_organisations(), status=ExpenseStatus.SUBMITTED
        )
        .select_related("organisation")
        .order_by("created_at", "pk")
    )


def document_for(scope: Scope, pk: Any, *, reviewer: bool = False) -> EvidenceDocument:
    """Like ``expense_for``: the caller's own document, or a member's for its operator (404 otherwise)."""
    document = EvidenceDocument.objects.select_related("organisation").filter(pk=_pk(pk)).first()
    if document is None:
        raise NotFound()
    own = scope.organisation is not None and document.organisation_id == scope.organisation.pk
    managed = document.organisation_id in scope.managed_member_ids()
    if (reviewer and not managed) or not (own or managed):
        raise NotFound()
    return document


# --------------------------------------------------------------------------------------------- eligibility


@dataclass
class Eligibility:
    policy: Policy
    result: Result
    consent: Consent | None = None
    claimed: list[ClaimLine] = field(default_factory=list)
    in_region: bool = True  # the policy's place matches the company's (else listed apart, not as "missing")

    @property
    def qualifies(self) -> bool:
        return self.result.eligible and self.result.amount > 0

    @property
    def failed(self) -> list[Any]:
        return [s for s in self.result.trace if s.ok is False]

    @property
    def operator_applies(self) -> bool:
        return catalog.operator_applies(self.policy)

    @property
    def company_applies(self) -> bool:
        return catalog.company_applies(self.policy)

    @property
    def needs_consent(self) -> bool:
        return (
            self.operator_applies
            and catalog.paid_in_ledger(self.policy)
            and not catalog.own_claim(self.policy)
        )


def _claimed_lines(org_ids: Sequence[int], period: Period) -> dict[tuple[int, str], list[ClaimLine]]:
    found: dict[tuple[int, str], list[ClaimLine]] = defaultdict(list)
    for line in ClaimLine.objects.filter(
        organisation_id__in=org_ids,
        active=True,
        period_start__lte=period.end,
        period_end__gte=period.start,
    ).select_related("batch"):
        found[(line.organisation_id, line.policy_id)].append(line)
    return found


def eligibility_for(
    organisations: Iterable[Organisation], period: Period, *, policies: Sequence[Policy] | None = None
) -> tuple[dict[int, list[Eligibility]], FactsBundle]:
    """Every policy for every organisation in ``period``: eligible or not, amount, trace — each company's
    policies evaluated together (invoices shared by a stacking group are counted once)."""
    orgs = list(organisations)
    chosen = list(policies) if policies is not None else catalog.policies()
    plans = [catalog.plan(p) for p in chosen]
    bundle = build_facts(orgs, period=period, explain_claims=True)
    ids = [o.pk for o in orgs]
    consents = {
        (c.organisation_id, c.policy_id): c
        for c in Consent.objects.filter(organisation_id__in=ids, revoked_at__isnull=True)
    }
    claimed = _claimed_lines(ids, period)
    out: dict[int, list[Eligibility]] = {}
    for org in orgs:
        facts = bundle.facts.get(org.pk)
        if facts is None:
            continue
        results = evaluate_many(plans, facts, period)
        out[org.pk] = [
            Eligibility(
                p,
                r,
                consents.get((org.pk, p.id)),
                claimed.get((org.pk, p.id), []),
                r.eligible or _in_region(p, facts.city, facts.district),
            )
            for p, r in zip(chosen, results, strict=True)
        ]
    return out, bundle


def _in_region(policy: Policy, city: str | None, district: str | None) -> bool:
    region = policy.region
    if region.get("city") and city and region["city"] != city:
        return False
    return not (region.get("district") and district and region["district"] != district)


def eligibility_one(organisation: Organisation, policy: Policy, period: Period) -> Eligibility:
    """One policy for one organisation, evaluated with the others (stacking order) — the "why ¥X" page."""
    rows, _bundle = eligibility_for([organisation], period)
    for row in rows.get(organisation.pk, []):
        if row.policy.id == policy.id:
            return row
    raise NotFound()


def as_operator(row: Eligibility, organisation: Organisation, period: Period) -> Result | None:
    """The same policy evaluated with the operator as applicant (what a batch would claim), or None when the
    operator may not apply for it."""
    if not row.operator_applies:
        return None
    bundle = build_facts([organisation], period=period, explain_claims=True)
    facts = bundle.facts.get(organisation.pk)
    if facts is None:
        return None
    return catalog.plan(row.policy).evaluate(facts, period, applicant=Role.OPERATOR)


def active_consents(organisation: Organisation) -> dict[str, Consent]:
    return {
        c.policy_id: c for c in Consent.objects.filter(organisation=organisation, revoked_at__isnull=True)
    }


def member_shares(organisation: Organisation) -> QuerySet[ClaimLine]:
    """The member's claim lines (its claims through the operator and what it received)."""
    return (
        ClaimLine.objects.filter(organisation=organisation)
        .exclude(batch__status=BatchStatus.CANCELLED)
        .select_related("batch", "batch__operator")
        .order_by("-batch__created_at", "-pk")
    )


def member_line(scope: Scope, pk: Any) -> ClaimLine:
    line = ClaimLine.objects.select_related("batch__operator", "organisation").filter(pk=_pk(pk)).first()
    if line is None or scope.organisation is None or line.organisation_id != scope.organisation.pk:
        raise NotFound()
    return line


# --------------------------------------------------------------------------------------------- batches


def batches_for(scope: Scope) -> QuerySet[ClaimBatch]:
    """Operators: their own batches. Authorities: batches of the operators of the communities they oversee."""
    if scope.is_operator and scope.has(Capability.COMMUNITY_MANAGE):
        qs = ClaimBatch.objects.filter(operator=scope.organisation)
    elif scope.is_authority and scope.has(Capability.OVERSIGHT_VIEW):
        operators = scope.overseen_communities().values("operator_id")
        qs = ClaimBatch.objects.filter(operator_id__in=operators)
    else:
        qs = ClaimBatch.objects.none()
    return qs.select_related("operator", "created_by")


def batch_for(scope: Scope, pk: Any, *, manage: bool = False) -> ClaimBatch:
    """A batch the caller may see (``manage``: only its own operator's)."""
    qs = batches_for(scope)
    if manage:
        qs = qs.filter(operator=scope.organisation) if scope.is_operator else qs.none()
    batch = qs.filter(pk=_pk(pk)).first()
    if batch is None:
        raise NotFound()
    return batch


def batch_lines(batch: ClaimBatch) -> QuerySet[ClaimLine]:
    return batch.lines.select_related("organisation__home_community", "consent").order_by(
        "organisation__name", "pk"
    )


def batch_audit(batch: ClaimBatch) -> QuerySet[Any]:
    from audit.models import AuditRecord

    return (
        AuditRecord.objects.filter(object_type="subsidies.claimbatch", object_id=str(batch.pk))
        .select_related("actor")
        .order_by("created_at", "pk")
    )


def batch_by_code(code: str) -> ClaimBatch | None:
    text = "".join(ch for ch in (code or "").upper() if ch.isalnum())[:16]
    if not text:
        return None
    return (
        ClaimBatch.objects.select_related("operator")
        .filter(code=text, submitted_at__isnull=False)
        .exclude(status=BatchStatus.DRAFT)
        .first()
    )


def candidates(scope: Scope, policy: Policy) -> QuerySet[Organisation]:
    """Members of the operator with active consent for ``policy``."""
    return (
        scope.member_organisations()
        .filter(
            kind=OrgKind.OPC, subsidy_consents__policy_id=policy.id, subsidy_consents__revoked_at__isnull=True
        )
        .distinct()
    )


# --------------------------------------------------------------------------------------------- reports


@dataclass
class PolicyFigures:
    policy_id: str
    title: str
    instrument: str
    batches: int = 0
    claimed: Decimal = ZERO
    approved: Decimal = ZERO
    received: Decimal = ZERO
    distributed: Decimal = ZERO
    cycle_days: list[int] = field(default_factory=list)

    @property
    def median_days(self) -> float | None:
        return statistics.median(self.cycle_days) if self.cycle_days else None


@dataclass
class Report:
    batches: int
    claimed: Decimal
    approved: Decimal
    received: Decimal
    distributed: Decimal
    median_days: float | None
    cycle_count: int
    by_policy: list[PolicyFigures]
    by_community: list[tuple[str, int, Decimal]]
    by_category: list[tuple[str, int, Decimal]]
    by_status: list[tuple[str, int]]


def report(batches: QuerySet[ClaimBatch]) -> Report:
    """Payout-cycle figures (median days from submission to funds received) and subsidies by policy,
    community and category (instrument) over ``batches`` (drafts and cancelled batches left out)."""
    rows = list(batches.exclude(status__in=[BatchStatus.DRAFT, BatchStatus.CANCELLED]))
    per_policy: dict[str, PolicyFigures] = {}
    status_counts: dict[str, int] = defaultdict(int)
    cycles: list[int] = []
    for b in rows:
        status_counts[b.status] += 1
        try:
            policy = catalog.get_policy(b.policy_id)
            instrument = catalog.instrument_label(policy)
        except NotFound:
            instrument = "—"
        figures = per_policy.setdefault(b.policy_id, PolicyFigures(b.policy_id, b.policy_title, instrument))
        figures.batches += 1
        figures.claimed += b.claimed_amount
        figures.approved += b.approved_amount or ZERO
        figures.received += b.received_amount or ZERO
        figures.distributed += b.distributed_amount or ZERO
        if b.payout_days is not None:
            figures.cycle_days.append(b.payout_days)
            cycles.append(b.payout_days)
    community: dict[str, list[Any]] = defaultdict(lambda: [0, ZERO])
    category: dict[str, list[Any]] = defaultdict(lambda: [0, ZERO])
    ids = [b.pk for b in rows if b.status == BatchStatus.DISTRIBUTED]
    for line in ClaimLine.objects.filter(batch_id__in=ids, share__gt=0).select_related(
        "organisation__home_community", "batch"
    ):
        org = line.organisation
        name = (
            org.home_community.name
            if org.home_community
            else (_("Operating organisation") if org.kind == OrgKind.OPERATOR else "—")
        )
        community[name][0] += 1
        community[name][1] += line.share
        label = per_policy[line.batch.policy_id].instrument if line.batch.policy_id in per_policy else "—"
        category[label][0] += 1
        category[label][1] += line.share
    status_labels = dict(BatchStatus.choices)
    return Report(
        batches=len(rows),
        claimed=sum((f.claimed for f in per_policy.values()), ZERO),
        approved=sum((f.approved for f in per_policy.values()), ZERO),
        received=sum((f.received for f in per_policy.values()), ZERO),
        distributed=sum((f.distributed for f in per_policy.values()), ZERO),
        median_days=statistics.median(cycles) if cycles else None,
        cycle_count=len(cycles),
        by_policy=sorted(per_policy.values(), key=lambda f: -f.claimed),
        by_community=sorted(((k, v[0], v[1]) for k, v in community.items()), key=lambda r: -r[2]),
        by_category=sorted(((k, v[0], v[1]) for k, v in category.items()), key=lambda r: -r[2]),
        by_status=[
            (str(status_labels[s]), status_counts[s]) for s in BatchStatus.values if status_counts.get(s)
        ],
    )
