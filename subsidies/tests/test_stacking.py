"""The same invoice is never subsidised beyond what the stacking rules allow."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from subsidies.engine import CompanyFacts, Expense, Period, Plan, evaluate_many, load_policy
from subsidies.engine.loader import POLICY_DIR, parse_policy
from subsidies.engine.money import floor_fen

D = Decimal


def _policy(pid: str, rate: str, stack: str, cap: str | None = None) -> Plan:
    data = {
        "id": pid,
        "version": "1",
        "title": pid,
        "instrument": "compute_voucher",
        "issuer": "test",
        "document": {"title": "test"},
        "sources": {"s": {"title": "test"}},
        "effective": {"from": date(2025, 1, 1)},
        "parameters": {
            "rate": {
                "label": "rate",
                "unit": "rate",
                "values": [{"value": D(rate), "from": date(2025, 1, 1), "source": "s"}],
            },
            "stack": {
                "label": "stack",
                "unit": "rate",
                "values": [{"value": D(stack), "from": date(2025, 1, 1), "source": "s"}],
            },
            "cap": {
                "label": "cap",
                "unit": "cny",
                "values": [{"value": D(cap or "1000000000"), "from": date(2025, 1, 1), "source": "s"}],
            },
        },
        "formula": {
            "kind": "spend",
            "terms": [{"label": "compute", "categories": ["compute"], "rate": "rate"}],
        },
        "caps": {"per_year": "cap"},
        "stacking": {"group": "g", "max_rate": "stack"},
        "application": {"applicants": ["company"], "payee": "company", "benefit": "cash"},
    }
    return Plan(parse_policy(data, f"{pid}.yaml"))


rates = st.sampled_from(["0.10", "0.20", "0.30", "0.50", "0.60", "0.333"])
amounts = st.integers(min_value=1, max_value=10**8).map(lambda n: D(n) / 100)


@given(
    r1=rates,
    r2=rates,
    r3=rates,
    stack=st.sampled_from(["0.30", "0.60", "1.00"]),
    cap=st.one_of(st.none(), st.sampled_from(["0.01", "100.00", "5000.00"])),
    lines=st.lists(st.tuples(st.integers(0, 5), amounts, st.integers(1, 12)), min_size=1, max_size=15),
    prior=st.lists(st.tuples(st.integers(0, 5), amounts), max_size=3),
)
@settings(max_examples=300, deadline=None)
def test_invoice_never_exceeds_the_stacking_limit(
    r1: str,
    r2: str,
    r3: str,
    stack: str,
    cap: str | None,
    lines: list[tuple[int, Decimal, int]],
    prior: list[tuple[int, Decimal]],
) -> None:
    expenses = tuple(
        Expense("compute.general", amount, date(2025, month, 1), f"INV{n}", "SELLER")
        for n, amount, month in lines
    )
    invoice_total: dict[str, Decimal] = {}
    for e in expenses:
        invoice_total[e.invoice_key] = invoice_total.get(e.invoice_key, D(0)) + e.amount  # type: ignore[index]
    prior_claims: dict[str, dict[str, Decimal]] = {}
    for n, amount in prior:
        key = f"SELLER:INV{n}"
        prior_claims[key] = {"g": min(amount, floor_fen(D(stack) * invoice_total.get(key, D(0))))}
    facts = CompanyFacts("c", expenses=expenses, prior_invoice_claims=prior_claims)
    plans = [_policy("p1", r1, stack, cap), _policy("p2", r2, stack), _policy("p3", r3, stack, cap)]
    results = evaluate_many(plans, facts, Period.year(2025))

    paid: dict[str, Decimal] = {k: v["g"] for k, v in prior_claims.items()}
    for result in results:
        assert result.eligible
        assert sum(result.invoice_allocations.values(), D(0)) == result.amount
        for key, share in result.invoice_allocations.items():
            assert share >= 0
            paid[key] = paid.get(key, D(0)) + share
    for key, total in paid.items():
        assert total <= floor_fen(D(stack) * invoice_total.get(key, D(0))), key
    # and each policy alone pays no more than its own rate
    for plan, result in zip(plans, results, strict=True):
        own_rate = plan.policy.parameters["rate"].versions[0].value
        assert result.amount <= floor_fen(own_rate * sum(invoice_total.values(), D(0)))


def test_hangzhou_compute_then_smart_voucher_on_one_invoice() -> None:
    compute = Plan(load_policy(POLICY_DIR / "hangzhou-compute-voucher-2025.yaml"))
    smart = Plan(load_policy(POLICY_DIR / "hangzhou-smart-voucher-2025.yaml"))
    facts = CompanyFacts(
        "c",
        city="杭州市",
        verified=True,
        evidence=frozenset({"compute_contract", "service_contract"}),
        expenses=(Expense("compute.general", D("100000"), date(2025, 3, 1), "HZ-1", "S"),),
    )
    first, second = evaluate_many([compute, smart], facts, Period.year(2025))
    assert first.amount == D("50000.00")  # SME 50%
    assert second.amount == D("10000.00")  # 30% wanted, 60% − 50% left
    assert first.invoice_allocations == {"S:HZ-1": D("50000.00")}
    assert second.invoice_allocations == {"S:HZ-1": D("10000.00")}
