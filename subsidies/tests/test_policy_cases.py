"""Every policy file's own ``cases:`` (inputs → expected outputs), one test each."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.money import exact_fen
from subsidies.engine import Role, evaluate, explain, facts_from_mapping, load_all
from subsidies.engine.schema import Case, Policy

POLICIES = load_all()
CASES = [(p, c) for p in POLICIES for c in p.cases]


@pytest.mark.parametrize(("policy", "case"), CASES, ids=[f"{p.id}:{c.name}" for p, c in CASES])
def test_policy_case(policy: Policy, case: Case) -> None:
    facts = facts_from_mapping(case.facts)
    applicant = Role(case.applicant) if case.applicant else None
    result = evaluate(policy, facts, case.period, applicant=applicant)
    why = explain(result, policy)
    expect = case.expect
    if "eligible" in expect:
        assert result.eligible is expect["eligible"], why
    if "amount" in expect:
        assert result.amount == Decimal(str(expect["amount"])), why
    if "mode" in expect:
        assert result.mode.value == expect["mode"], why
    if "missing_evidence" in expect:
        assert result.missing_evidence == list(expect["missing_evidence"]), why
    if "trace_contains" in expect:
        assert expect["trace_contains"] in why, why
    # whatever the engine pays can be posted to the ledger as it is
    assert exact_fen(result.amount) == result.amount
    assert result.amount >= 0


def test_every_policy_has_cases_and_sources() -> None:
    assert len([p for p in POLICIES if not p.illustrative]) >= 6
    for policy in POLICIES:
        assert len(policy.cases) >= 2, policy.id
        for parameter in policy.parameters.values():
            for version in parameter.versions:
                assert version.source in policy.sources
                if policy.illustrative:
                    continue
                assert not version.placeholder, f"{policy.id}: real policy with a placeholder"


def test_illustrative_policies_are_marked() -> None:
    illustrative = {p.id for p in POLICIES if p.illustrative}
    for policy in POLICIES:
        if policy.id in illustrative:
            assert any(v.placeholder for p in policy.parameters.values() for v in p.versions)
            assert "示意政策" in explain(
                evaluate(policy, facts_from_mapping({}), policy.cases[0].period), policy
            )
