"""The loader's errors, three-valued conditions, versioned parameters, batch claims and the explanation."""

from __future__ import annotations

import copy
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from subsidies.engine import (
    CompanyFacts,
    Expense,
    Mode,
    Period,
    Plan,
    PolicyError,
    Role,
    batch_claim,
    evaluate,
    explain,
    load_policy,
)
from subsidies.engine.loader import POLICY_DIR, parse_policy, read_yaml

D = Decimal


def _base() -> dict[str, Any]:
    return {
        "id": "p",
        "version": "1",
        "title": "测试政策",
        "instrument": "compute_voucher",
        "issuer": "test",
        "document": {"title": "test"},
        "sources": {"old": {"title": "旧文件", "url": "https://example.org/old"}, "new": {"title": "新文件"}},
        "effective": {"from": date(2025, 1, 1)},
        "parameters": {
            "rate": {
                "label": "补贴比例",
                "unit": "rate",
                "values": [
                    {"value": D("0.20"), "from": date(2025, 1, 1), "source": "old"},
                    {"value": D("0.30"), "from": date(2025, 7, 1), "source": "new"},
                ],
            },
            "max_headcount": {
                "label": "人数上限",
                "unit": "count",
                "values": [{"value": 3, "from": date(2025, 1, 1), "source": "old"}],
            },
        },
        "eligibility": {
            "all": [
                {
                    "fact": "headcount",
                    "op": "lte",
                    "value": {"param": "max_headcount"},
                    "evidence": "社保缴纳证明",
                },
                {
                    "any": [
                        {"fact": "skills", "op": "intersects", "value": ["ai_video", "digital_human"]},
                        {"fact": "talent_level", "op": "in", "value": ["A", "B"], "evidence": "人才认定证书"},
                    ]
                },
            ]
        },
        "formula": {"kind": "spend", "terms": [{"label": "算力", "categories": ["compute"], "rate": "rate"}]},
        "application": {"applicants": ["company"], "payee": "company", "benefit": "cash"},
    }


def _expense(amount: str, day: date) -> Expense:
    return Expense("compute", D(amount), day, "I", "S")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("sources"), "p.yaml: sources: is required"),
        (lambda d: d.update(colour="red"), "p.yaml: (top level): unknown field(s) colour"),
        (
            lambda d: d["parameters"]["rate"]["values"][0].update(source="nope"),
            "parameters.rate.values[0].source",
        ),
        (lambda d: d["parameters"]["rate"]["values"][0].update(value=D("1.5")), "a rate is between 0 and 1"),
        (lambda d: d["eligibility"]["all"][0].update(op="like"), "eligibility.all[0].op"),
        (lambda d: d["eligibility"]["all"][0].update(fact="age"), "eligibility.all[0].fact: unknown fact"),
        (
            lambda d: d["formula"]["terms"][0].update(rate="missing"),
            "formula.terms[0].rate: unknown parameter",
        ),
        (lambda d: d["parameters"]["rate"]["values"][0].update(placeholder=True), "illustrative"),
        (lambda d: d["application"].update(payee="bank"), "application.applicants"),
    ],
)
def test_loader_errors_name_file_and_field(mutate: Any, message: str) -> None:
    data = copy.deepcopy(_base())
    mutate(data)
    with pytest.raises(PolicyError, match=re.escape(message)):
        parse_policy(data, "p.yaml")


def test_yaml_floats_are_decimals() -> None:
    assert read_yaml("rate: 0.30") == {"rate": D("0.30")}
    assert read_yaml("x: 0.1") == {"x": D("0.1")}


def test_file_name_must_match_id(tmp_path: Path) -> None:
    source = (POLICY_DIR / "shanghai-corpus-voucher-2025.yaml").read_text(encoding="utf-8")
    (tmp_path / "renamed.yaml").write_text(source, encoding="utf-8")
    with pytest.raises(PolicyError, match=re.escape("renamed.yaml: id:")):
        load_policy(tmp_path / "renamed.yaml")


def test_parameters_follow_their_effective_date() -> None:
    plan = Plan(parse_policy(_base(), "p.yaml"))
    facts = CompanyFacts(
        "c", headcount=1, skills=frozenset({"ai_video"}), expenses=(_expense("1000", date(2025, 3, 1)),)
    )
    early = plan.evaluate(facts, Period.month(2025, 3))
    late = plan.evaluate(
        CompanyFacts(
            "c", headcount=1, skills=frozenset({"ai_video"}), expenses=(_expense("1000", date(2025, 8, 1)),)
        ),
        Period.month(2025, 8),
    )
    assert (early.amount, late.amount) == (D("200.00"), D("300.00"))
    step = next(s for s in late.trace if s.kind == "parameter" and "补贴比例" in s.text)
    assert (step.value, step.effective_from, step.source) == ("30%", date(2025, 7, 1), "新文件")


def test_unknown_facts_become_missing_evidence_and_known_failures_win() -> None:
    plan = Plan(parse_policy(_base(), "p.yaml"))
    unknown = CompanyFacts("c", expenses=(_expense("100", date(2025, 3, 1)),))
    result = plan.evaluate(unknown, Period.month(2025, 3))
    assert result.eligible and result.mode is Mode.QUICK
    assert result.missing_evidence == ["社保缴纳证明", "skills", "人才认定证书"]
    assert result.amount == D("20.00")

    too_big = CompanyFacts("c", headcount=5, expenses=(_expense("100", date(2025, 3, 1)),))
    result = plan.evaluate(too_big, Period.month(2025, 3))
    assert not result.eligible and result.mode is Mode.NONE and result.missing_evidence == []

    any_known = CompanyFacts("c", headcount=2, talent_level="A")
    result = plan.evaluate(any_known, Period.month(2025, 3))
    assert result.eligible and result.mode is Mode.AUTO and result.missing_evidence == []


def test_explain_says_why() -> None:
    policy = load_policy(POLICY_DIR / "wuhan-opc-compute-2026.yaml")
    facts = CompanyFacts(
        "c",
        city="武汉市",
        evidence=frozenset({"compute_contract"}),
        expenses=(Expense("compute.training", D("1000000"), date(2026, 3, 1), "W", "S"),),
        prior_payouts=(),
    )
    text = explain(evaluate(policy, facts, Period.year(2026)), policy)
    assert "为什么是 ¥200,000.00" in text
    assert "注册地在武汉市［依据：武汉市］" in text
    assert "OPC 算力费用补贴比例 = 50%［2026-02-01 起；来源：gubaposthk.eastmoney.com］" in text
    assert "核减为 ¥200,000.00" in text


def test_operator_batch_claim_redistributes_by_consumption() -> None:
    plan = Plan(load_policy(POLICY_DIR / "yongjia-token-quota.yaml"))
    members = [
        CompanyFacts(
            f"m{i}",
            city="温州市",
            community="楠溪",
            expenses=(Expense("token_api", D(amount), date(2026, 4, 2), metered=True),),
        )
        for i, amount in enumerate(["100.00", "300.00", "10000.00"])
    ]
    members.append(CompanyFacts("m3", city="杭州市", community="x"))
    # eligible: 50.00, 150.00, 2000.00 (capped per month); the authority pays 80% of the claim
    claim = batch_claim(plan, members, Period.month(2026, 4), D("1760.00"))
    assert claim.claimed == D("2200.00")
    assert claim.distribution.shares == {"m0": D("40.00"), "m1": D("120.00"), "m2": D("1600.00")}
    assert claim.distribution.undistributed == 0
    assert all(r.payee is Role.OPERATOR for r in claim.results)

    # paid more than claimed: nobody gets more than its eligible amount; the rest is reported
    over = batch_claim(plan, members, Period.month(2026, 4), D("3000.00"))
    assert over.distribution.shares == {"m0": D("50.00"), "m1": D("150.00"), "m2": D("2000.00")}
    assert over.distribution.undistributed == D("800.00")


def test_periods() -> None:
    assert Period.parse("2025-Q2") == Period(date(2025, 4, 1), date(2025, 6, 30), "2025-Q2")
    assert Period.parse("2024-02").end == date(2024, 2, 29)
    assert Period.parse(2026).month_aligned
    assert not Period(date(2026, 1, 2), date(2026, 1, 31)).month_aligned
    with pytest.raises(ValueError):
        Period.parse("2025-13-01")


def test_payout_options() -> None:
    data = _base()
    data["application"] = {
        "applicants": ["operator"],
        "payee": "operator",
        "benefit": "cash",
        "payout_options": ["cash", "quota"],
    }
    policy = parse_policy(copy.deepcopy(data), "p.yaml")
    assert [b.value for b in policy.application.payouts] == ["cash", "quota"]
    data["application"]["payout_options"] = ["quota", "cash"]
    with pytest.raises(PolicyError, match="starts with the benefit"):
        parse_policy(copy.deepcopy(data), "p.yaml")
    data["application"]["payout_options"] = ["cash", "gold"]
    with pytest.raises(PolicyError, match=r"payout_options\[1\]"):
        parse_policy(copy.deepcopy(data), "p.yaml")
    del data["application"]["payout_options"]
    assert [b.value for b in parse_policy(data, "p.yaml").application.payouts] == ["cash"]
