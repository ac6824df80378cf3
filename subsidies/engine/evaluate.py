"""Compile a policy once into a :class:`Plan`; evaluate it per company × period, with a trace.

``evaluate(policy, facts, period)`` → :class:`Result`: eligible or not, the amount (``Decimal``, rounded
*down* to the fen), the clause-by-clause trace (each condition with the fact value it used, each parameter
with its value, effective date and source), the missing evidence and the application mode.

Conditions are three-valued: a fact the platform does not hold is *unknown*, which neither fails the policy
nor proves it: the amount is computed as if it held and the evidence to supply is listed (快申快享).

Stacking: policies that share a ``stacking.group`` share every invoice. :class:`InvoiceClaims` records what
each invoice has already paid per group (seeded from ``facts.prior_invoice_claims``); a later policy only
fills the headroom ``floor_fen(max_rate × invoice) − already claimed``, and the amount it finally pays is
allocated back to the invoices (largest remainder, capped by the headroom) so the next policy sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from .distribute import Distribution, distribute
from .facts import BARE, INVOICED, METERED, CompanyFacts
from .money import ZERO, cny, exact, floor_fen, pct
from .schema import (
    INSTRUMENT_LABELS,
    AllOf,
    AnyOf,
    Condition,
    FactCondition,
    Mode,
    NotOf,
    Parameter,
    ParameterVersion,
    ParamRef,
    Period,
    Policy,
    RegisteredWithin,
    Role,
    SpendCondition,
    Term,
)

# ---------------------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class TraceStep:
    kind: str  # window | applicant | condition | parameter | spend | stacking | formula | cap | minimum | evidence
    text: str
    ok: bool | None = None  # None: not known on the platform
    value: str | None = None
    source: str | None = None
    effective_from: date | None = None


@dataclass(slots=True)
class Result:
    policy_id: str
    company_id: str
    period: Period
    eligible: bool
    amount: Decimal
    mode: Mode
    missing_evidence: list[str]
    trace: list[TraceStep]
    applicants: tuple[Role, ...] = ()
    payee: Role = Role.COMPANY
    benefit: str = "cash"
    invoice_allocations: dict[str, Decimal] = field(default_factory=dict)


class InvoiceClaims:
    """What each invoice has already paid, per stacking group."""

    def __init__(self, facts: CompanyFacts | None = None) -> None:
        self._claimed: dict[tuple[str, str], Decimal] = {}
        if facts is not None:
            for invoice, groups in facts.prior_invoice_claims.items():
                for group, amount in groups.items():
                    self._claimed[(invoice, group)] = amount

    def claimed(self, invoice: str, group: str) -> Decimal:
        return self._claimed.get((invoice, group), ZERO)

    def add(self, invoice: str, group: str, amount: Decimal) -> None:
        self._claimed[(invoice, group)] = self.claimed(invoice, group) + amount

    def items(self) -> Iterable[tuple[tuple[str, str], Decimal]]:
        return self._claimed.items()


# ---------------------------------------------------------------------------------------------- state


class _Eval:
    __slots__ = (
        "as_of",
        "claims",
        "facts",
        "missing",
        "params_seen",
        "period",
        "rule_seen",
        "trace",
        "window",
    )

    def __init__(self, facts: CompanyFacts, period: Period, window: Period) -> None:
        self.facts = facts
        self.period = period
        self.window = window
        self.as_of = window.end
        self.trace: list[TraceStep] = []
        self.missing: list[str] = []
        self.params_seen: set[str] = set()
        self.claims: InvoiceClaims | None = None
        self.rule_seen: dict[int, Tri] = {}


Tri = bool | None
CondFn = Callable[[_Eval], tuple[Tri, tuple[str, ...]]]

_OP_TEXT = {
    "eq": "=",
    "ne": "≠",
    "lt": "<",
    "lte": "≤",
    "gt": ">",
    "gte": "≥",
    "in": "∈",
    "not_in": "∉",
    "contains": "包含",
    "intersects": "含其一",
    "exists": "已登记",
}

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
    "contains": lambda a, b: b in a,
    "intersects": lambda a, b: bool(set(a) & set(b)),
}


def _show(value: Any) -> str:
    if value is None:
        return "（平台无此数据）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, frozenset | set | tuple | list):
        return "、".join(sorted(str(v) for v in value)) or "（空）"
    return str(value)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _matches(category: str, prefixes: tuple[str, ...]) -> bool:
    return any(category == p or category.startswith(p + ".") for p in prefixes)


# ---------------------------------------------------------------------------------------------- plan


class Plan:
    """A policy compiled once: condition closures, parameter look-ups cached by date."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._version_cache: dict[tuple[str, date], ParameterVersion | None] = {}
        self._match_cache: dict[tuple[int, str], bool] = {}
        self._eligibility: CondFn | None = (
            self._compile(policy.eligibility) if policy.eligibility is not None else None
        )
        self._rules: dict[int, tuple[tuple[CondFn, str], ...]] = {}
        for ref in self._all_refs():
            self._rules[id(ref)] = tuple((self._compile(c), name) for c, name in ref.rules)
        self._source_cite = {k: s.cite() for k, s in policy.sources.items()}

    def _all_refs(self) -> list[ParamRef]:
        p = self.policy
        refs = [t.rate for t in p.formula.terms]
        refs += [r for r in (p.formula.amount, p.caps.per_period, p.caps.per_year) if r]
        refs += [r for r in (p.caps.lifetime_years, p.caps.lifetime_amount, p.caps.minimum) if r]
        if p.stacking:
            refs.append(p.stacking.max_rate)
        return refs

    # -- parameters

    def _version(self, name: str, day: date) -> ParameterVersion | None:
        key = (name, day)
        try:
            return self._version_cache[key]
        except KeyError:
            version = self.policy.parameters[name].at(day)
            self._version_cache[key] = version
            return version

    def param(self, ev: _Eval, ref: ParamRef) -> Decimal | None:
        name = ref.param
        rules = self._rules.get(id(ref))
        if rules is None:  # a reference inside a condition: compile its rules on first use
            rules = self._rules[id(ref)] = tuple((self._compile(c), n) for c, n in ref.rules)
        for cond, alternative in rules:
            ok = ev.rule_seen.get(id(cond), 0)
            if ok == 0:  # evaluate (and trace) each switching condition once per evaluation
                ok = ev.rule_seen[id(cond)] = cond(ev)[0]
            if ok:
                name = alternative
                break
        version = self._version(name, ev.as_of)
        if name not in ev.params_seen:
            ev.params_seen.add(name)
            parameter: Parameter = self.policy.parameters[name]
            if version is None:
                ev.trace.append(TraceStep("parameter", f"{parameter.label}：{ev.as_of} 尚未生效", False))
            else:
                shown = (
                    pct(version.value)
                    if parameter.unit == "rate"
                    else (cny(version.value) if parameter.unit == "cny" else f"{version.value.normalize():f}")
                )
                notes = "（示意数字 placeholder）" if version.placeholder else ""
                if version.uncertain:
                    notes += f"（存疑：{version.uncertain}）"
                ev.trace.append(
                    TraceStep(
                        "parameter",
                        f"{parameter.label} = {shown}{notes}",
                        True,
                        shown,
                        self._source_cite[version.source],
                        version.effective_from,
                    )
                )
        return None if version is None else version.value

    # -- conditions

    def _compile(self, cond: Condition) -> CondFn:
        if isinstance(cond, AllOf):
            items = tuple(self._compile(c) for c in cond.items)

            def all_of(ev: _Eval) -> tuple[Tri, tuple[str, ...]]:
                missing: tuple[str, ...] = ()
                unknown = False
                for item in items:
                    ok, miss = item(ev)
                    if ok is False:
                        return False, ()
                    if ok is None:
                        unknown = True
                        missing += miss
                return (None, missing) if unknown else (True, ())

            return all_of
        if isinstance(cond, AnyOf):
            items = tuple(self._compile(c) for c in cond.items)

            def any_of(ev: _Eval) -> tuple[Tri, tuple[str, ...]]:
                missing: tuple[str, ...] = ()
                unknown = False
                for item in items:
                    ok, miss = item(ev)
                    if ok is True:
                        return True, ()
                    if ok is None:
                        unknown = True
                        missing += miss
                return (None, missing) if unknown else (False, ())

            return any_of
        if isinstance(cond, NotOf):
            inner = self._compile(cond.item)

            def not_of(ev: _Eval) -> tuple[Tri, tuple[str, ...]]:
                ok, miss = inner(ev)
                return (None, miss) if ok is None else (not ok, ())

            return not_of
        if isinstance(cond, RegisteredWithin):
            return self._compile_registered(cond)
        if isinstance(cond, SpendCondition):
            return self._compile_spend(cond)
        return self._compile_fact(cond)

    def _compile_fact(self, cond: FactCondition) -> CondFn:
        fact, op, expected = cond.fact, cond.op, cond.value
        label = cond.label or f"{fact} {_OP_TEXT[op]} {_show(expected)}"
        evidence = (cond.evidence or f"{fact}",)
        compare = _COMPARE.get(op)
        is_ref = isinstance(expected, ParamRef)
        getter: Callable[[CompanyFacts], Any]
        if fact.startswith("extra."):
            key = fact[6:]

            def getter(f: CompanyFacts) -> Any:
                return f.extra.get(key)
        else:

            def getter(f: CompanyFacts) -> Any:
                return getattr(f, fact)

        def check(ev: _Eval) -> tuple[Tri, tuple[str, ...]]:
            actual = getter(ev.facts)
            if op == "exists":
                ok: Tri = actual is not None and actual != "" and actual != frozenset()
                ev.trace.append(TraceStep("condition", label, ok, _show(actual)))
                return ok, ()
            if actual is None:
                ev.trace.append(TraceStep("condition", label, None, _show(actual)))
                return None, evidence
            value = self.param(ev, expected) if is_ref else expected
            try:
                ok = compare(actual, value)  # type: ignore[misc]
            except TypeError:
                ok = False
            ev.trace.append(TraceStep("condition", label, ok, _show(actual)))
            return ok, ()

        return check

    def _compile_registered(self, cond: RegisteredWithin) -> CondFn:
        evidence = (cond.evidence or "营业执照（成立日期）",)

        def check(ev: _Eval) -> tuple[Tri, tuple[str, ...]]:
            years = self.param(ev, cond.years)
            label = cond.label or f"成立不满 {years} 年"
            registered = ev.facts.registered_on
            if registered is None or years is None:
                ev.trace.append(TraceStep("condition", label, None, _show(registered)))
                return None, evidence
            ok = registered <= ev.as_of and _add_years(registered, int(years)) > ev.as_of
            ev.trace.append(TraceStep("condition", f"{label}（截至 {ev.as_of}）", ok, str(registered)))
            return ok, ()

        return check

    def _compile_spend(self, cond: SpendCondition) -> CondFn:
        compare = _COMPARE[cond.op]
        cats = cond.categories

        def check(ev: _Eval) -> tuple[Tri, tuple[str, ...]]:
            if cond.window == "year":
                first, last = ev.as_of.year * 12, ev.as_of.year * 12 + 11
                where = f"{ev.as_of.year} 年"
            else:
                first, last = ev.window.first_month, ev.window.last_month
                where = "本期"
            index = ev.facts.spend_index()
            total = Decimal(0)
            for (category, month), bucket in index.items():
                if first <= month <= last and self._match(cats, category):
                    total += bucket[INVOICED] + bucket[METERED] + bucket[BARE]
            threshold = self.param(ev, cond.value)
            ok = threshold is not None and compare(total, threshold)
            label = (
                cond.label or f"{where}{'、'.join(cats)} 支出 {_OP_TEXT[cond.op]} {cny(threshold or ZERO)}"
            )
            ev.trace.append(TraceStep("condition", label, ok, cny(total)))
            return ok, ()

        return check

    def _match(self, cats: tuple[str, ...], category: str) -> bool:
        key = (id(cats), category)
        try:
            return self._match_cache[key]
        except KeyError:
            result = self._match_cache[key] = _matches(category, cats)
            return result

    # -- spend

    def _term_spend(self, ev: _Eval, term: Term) -> tuple[Decimal, Decimal]:
        """(counted spend, spend left out for lack of an invoice) in the window."""
        window = ev.window
        counted = Decimal(0)
        excluded = Decimal(0)
        need_invoice, metered_ok = term.requires_invoice, term.accepts_metered
        if window.month_aligned and not term.weekends_only:
            first, last = window.first_month, window.last_month
            for (category, month), bucket in ev.facts.spend_index().items():
                if first <= month <= last and self._match(term.categories, category):
                    counted += bucket[INVOICED]
                    if not need_invoice:
                        counted += bucket[METERED] + bucket[BARE]
                    elif metered_ok:
                        counted += bucket[METERED]
                        excluded += bucket[BARE]
                    else:
                        excluded += bucket[METERED] + bucket[BARE]
            return counted, excluded
        for expense in ev.facts.expenses:
            if not (window.start <= expense.day <= window.end):
                continue
            if term.weekends_only and expense.day.weekday() < 5:
                continue
            if not self._match(term.categories, expense.category):
                continue
            if expense.invoice_id or not need_invoice or (metered_ok and expense.metered):
                counted += expense.amount
            else:
                excluded += expense.amount
        return counted, excluded

    def _term_lines(self, ev: _Eval, term: Term) -> tuple[dict[str | None, Decimal], Decimal]:
        """Per invoice key (None: metered, no invoice) the counted spend, and the excluded spend."""
        lines: dict[str | None, Decimal] = {}
        excluded = Decimal(0)
        window = ev.window
        for expense in ev.facts.expenses:
            if not (window.start <= expense.day <= window.end):
                continue
            if term.weekends_only and expense.day.weekday() < 5:
                continue
            if not self._match(term.categories, expense.category):
                continue
            key = expense.invoice_key
            if key is None and term.requires_invoice and not (term.accepts_metered and expense.metered):
                excluded += expense.amount
                continue
            lines[key] = lines.get(key, Decimal(0)) + expense.amount
        return lines, excluded

    # -- the evaluation

    def evaluate(
        self,
        facts: CompanyFacts,
        period: Period,
        *,
        claims: InvoiceClaims | None = None,
        applicant: Role | None = None,
    ) -> Result:
        policy = self.policy
        app = policy.application
        window = period.intersect(policy.effective_from, policy.effective_to)
        ev = _Eval(facts, period, window or period)
        trace = ev.trace

        def done(
            eligible: bool, amount: Decimal = ZERO, allocations: dict[str, Decimal] | None = None
        ) -> Result:
            missing = ev.missing
            if eligible:
                missing.extend(e.label for e in app.evidence if e.key not in facts.evidence)
                mode = Mode.QUICK if (missing or not app.auto_allowed) else Mode.AUTO
                trace.append(
                    TraceStep(
                        "evidence",
                        f"申请方式：{mode.value}" + (f"；需补充：{'、'.join(missing)}" if missing else ""),
                        not missing,
                    )
                )
            else:
                mode = Mode.NONE
                missing = []
            return Result(
                policy.id,
                facts.company_id,
                period,
                eligible,
                amount,
                mode,
                missing,
                trace,
                app.applicants,
                app.payee,
                app.benefit.value,
                allocations or {},
            )

        if window is None:
            trace.append(
                TraceStep(
                    "window",
                    f"政策有效期 {policy.effective_from}…{policy.effective_to or '长期'} 与 {period} 不重叠",
                    False,
                )
            )
            return done(False)
        trace.append(TraceStep("window", f"计算区间 {window.start}…{window.end}（政策有效期内）", True))
        if applicant is not None and applicant not in app.applicants:
            who = "、".join("企业本身" if r is Role.COMPANY else "运营方代为申请" for r in app.applicants)
            trace.append(TraceStep("applicant", f"申请人须为：{who}", False, applicant.value))
            return done(False)

        if self._eligibility is not None:
            ok, missing = self._eligibility(ev)
            if ok is False:
                return done(False)
            if ok is None:
                ev.missing.extend(dict.fromkeys(missing))

        caps = policy.caps
        prior = [p for p in facts.prior_payouts if p.policy == policy.id] if facts.prior_payouts else []
        year = ev.as_of.year
        if caps.lifetime_years is not None:
            max_years = self.param(ev, caps.lifetime_years)
            years = {p.year for p in prior if p.year != year and p.amount > 0}
            ok = max_years is None or len(years) < max_years
            trace.append(TraceStep("cap", f"已享受 {len(years)} 个年度，最多 {max_years} 个年度", ok))
            if not ok:
                return done(False)

        formula = policy.formula
        allocations: dict[str, Decimal] | None = None
        weights: dict[str, Decimal] = {}
        headroom: dict[str, Decimal | None] = {}
        if formula.kind == "spend":
            gross = Decimal(0)
            stacking = policy.stacking
            max_rate = self.param(ev, stacking.max_rate) if stacking else None
            if stacking is not None and max_rate is not None:
                ledger = claims if claims is not None else InvoiceClaims(facts)
                ev.claims = ledger
                group = stacking.group
                trimmed = Decimal(0)
                for term in formula.terms:
                    rate = self.param(ev, term.rate) or ZERO
                    lines, excluded = self._term_lines(ev, term)
                    spend = sum(lines.values(), Decimal(0))
                    subtotal = Decimal(0)
                    for key, amount in lines.items():
                        wanted = rate * amount
                        slot = "(metered)" if key is None else key
                        if key is not None:
                            if key not in headroom:
                                headroom[key] = max(
                                    floor_fen(max_rate * amount) - ledger.claimed(key, group), ZERO
                                )
                            room = headroom[key] - weights.get(key, ZERO)  # type: ignore[operator]
                            got = min(wanted, max(room, ZERO))
                        else:
                            headroom[slot] = None
                            got = wanted
                        trimmed += wanted - got
                        weights[slot] = weights.get(slot, ZERO) + got
                        subtotal += got
                    gross += subtotal
                    self._trace_term(ev, term, rate, spend, excluded, rate * spend)
                if trimmed:
                    trace.append(
                        TraceStep(
                            "stacking",
                            f"同一发票与“{group}”组其他政策合计不超过 {pct(max_rate)}：核减 {cny(trimmed)}",
                            True,
                            cny(trimmed),
                        )
                    )
                else:
                    trace.append(TraceStep("stacking", f"叠加上限 {pct(max_rate)}（{group}）未触及", True))
            else:
                for term in formula.terms:
                    rate = self.param(ev, term.rate) or ZERO
                    spend, excluded = self._term_spend(ev, term)
                    subtotal = rate * spend
                    gross += subtotal
                    self._trace_term(ev, term, rate, spend, excluded, subtotal)
            amount = floor_fen(gross)
            if amount != gross:
                trace.append(
                    TraceStep("formula", f"{exact(gross)} 按分向下取整为 {cny(amount)}", True, cny(amount))
                )
        elif formula.kind == "fixed":
            amount = floor_fen(self.param(ev, formula.amount) or ZERO)  # type: ignore[arg-type]
            trace.append(TraceStep("formula", f"{formula.label or '定额'}：{cny(amount)}", True, cny(amount)))
        else:  # monthly
            per_month = self.param(ev, formula.amount) or ZERO  # type: ignore[arg-type]
            since = facts.residency_since
            if since is None:
                months = window.last_month - window.first_month + 1
                ev.missing.append("入驻协议（入驻日期）")
            else:
                start = max(window.first_month, since.year * 12 + since.month - 1)
                months = max(window.last_month - start + 1, 0)
            amount = floor_fen(per_month * months)
            trace.append(
                TraceStep(
                    "formula",
                    f"{formula.label or '按月'}：{cny(per_month)} × {months} 个月 = {cny(amount)}",
                    True,
                    cny(amount),
                )
            )

        if caps.per_period is not None:
            cap = self.param(ev, caps.per_period)
            if cap is not None:
                amount = self._cap(ev, amount, cap, "每期上限")
        if caps.per_year is not None:
            cap = self.param(ev, caps.per_year)
            if cap is not None:
                paid = sum((p.amount for p in prior if p.year == year), ZERO)
                room = max(cap - paid, ZERO)
                label = f"{year} 年度上限（已获 {cny(paid)}，余 {cny(room)}）" if paid else f"{year} 年度上限"
                amount = self._cap(ev, amount, room, label)
        if caps.lifetime_amount is not None:
            cap = self.param(ev, caps.lifetime_amount)
            if cap is not None:
                paid = sum((p.amount for p in prior), ZERO)
                amount = self._cap(ev, amount, max(cap - paid, ZERO), f"累计上限（已获 {cny(paid)}）")
        if caps.minimum is not None:
            minimum = self.param(ev, caps.minimum)
            if minimum is not None and amount < minimum:
                trace.append(TraceStep("minimum", f"{cny(amount)} 低于最低申领额 {cny(minimum)}", False))
                return done(False)

        if ev.claims is not None and weights:
            dist = distribute(amount, weights, headroom)
            allocations = {k: v for k, v in dist.shares.items() if v and k != "(metered)"}
            group = policy.stacking.group  # type: ignore[union-attr]
            for key, share in allocations.items():
                ev.claims.add(key, group, share)
        trace.append(TraceStep("formula", f"合计 {cny(amount)}", True, cny(amount)))
        return done(True, amount, allocations)

    def _trace_term(
        self, ev: _Eval, term: Term, rate: Decimal, spend: Decimal, excluded: Decimal, subtotal: Decimal
    ) -> None:
        cats = "、".join(term.categories)
        text = f"{term.label}：{pct(rate)} × {cny(spend)}（{cats}"
        if term.weekends_only:
            text += "，仅周末"
        text += f"）= {exact(subtotal)}"
        if excluded:
            text += f"；无票支出 {cny(excluded)} 不计入（无票失补）"
        ev.trace.append(TraceStep("spend", text, True, cny(subtotal)))

    @staticmethod
    def _cap(ev: _Eval, amount: Decimal, cap: Decimal, label: str) -> Decimal:
        if amount > cap:
            ev.trace.append(
                TraceStep("cap", f"{label} {cny(cap)}：{cny(amount)} 核减为 {cny(cap)}", True, cny(cap))
            )
            return cap
        ev.trace.append(TraceStep("cap", f"{label} {cny(cap)}：未超", True, cny(cap)))
        return amount


# ---------------------------------------------------------------------------------------------- API

_PLANS: dict[int, Plan] = {}


def compile_policy(policy: Policy) -> Plan:
    plan = _PLANS.get(id(policy))
    if plan is None or plan.policy is not policy:
        plan = _PLANS[id(policy)] = Plan(policy)
    return plan


def evaluate(
    policy: Policy | Plan,
    facts: CompanyFacts,
    period: Period,
    *,
    claims: InvoiceClaims | None = None,
    applicant: Role | None = None,
) -> Result:
    plan = policy if isinstance(policy, Plan) else compile_policy(policy)
    return plan.evaluate(facts, period, claims=claims, applicant=applicant)


def evaluate_many(
    plans: Sequence[Plan], facts: CompanyFacts, period: Period, *, applicant: Role | None = None
) -> list[Result]:
    """All policies for one company and period, in the given order, sharing one invoice-claims record."""
    claims = InvoiceClaims(facts)
    return [plan.evaluate(facts, period, claims=claims, applicant=applicant) for plan in plans]


@dataclass(frozen=True, slots=True)
class BatchClaim:
    """An operator's claim on its members' behalf and the redistribution of what was received."""

    results: list[Result]
    claimed: Decimal
    distribution: Distribution[str]


def batch_claim(
    plan: Plan,
    members: Sequence[CompanyFacts],
    period: Period,
    received: Decimal,
    *,
    member_caps: dict[str, Decimal] | None = None,
) -> BatchClaim:
    """Evaluate every member (applicant: the operator), then split ``received`` pro rata to the eligible
    amounts. A member's cap is its own eligible amount unless ``member_caps`` gives a smaller one."""
    results = [plan.evaluate(m, period, applicant=Role.OPERATOR) for m in members]
    weights = {r.company_id: r.amount for r in results if r.eligible}
    caps: dict[str, Decimal | None] = {}
    for company, amount in weights.items():
        cap = amount
        if member_caps and company in member_caps:
            cap = min(cap, member_caps[company])
        caps[company] = cap
    claimed = sum(weights.values(), ZERO)
    return BatchClaim(results, claimed, distribute(received, weights, caps))


def explain(result: Result, policy: Policy) -> str:
    """为什么是 ¥X — the trace as Chinese lines."""
    marks = {True: "✓", False: "✗", None: "?"}
    head = f"{policy.title}（{INSTRUMENT_LABELS[policy.instrument.value]}）{result.period}："
    if result.eligible:
        head += f"为什么是 {cny(result.amount)}"
    else:
        head += "不符合条件"
    lines = [head]
    for step in result.trace:
        line = f"  {marks[step.ok]} {step.text}"
        if step.kind == "condition" and step.value is not None:
            line += f"［依据：{step.value}］"
        if step.source:
            line += f"［{step.effective_from} 起；来源：{step.source}］"
        lines.append(line)
    if policy.illustrative:
        lines.append("  注：示意政策，数字为占位（placeholder），非正式文件。")
    for note in policy.uncertain:
        lines.append(f"  存疑：{note}")
    return "\n".join(lines)
