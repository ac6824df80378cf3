"""The rule library: it loads, every rule matches its own examples and only those (one test per rule), every
category is covered in both languages and explains itself with a fairer wording, and no rule was written from
the held-out evaluation clauses."""

from __future__ import annotations

import pytest

from contracts.review.rules import LANGS, LibraryError, apply_rule, library, parse_library
from contracts.review.train import load_examples

LIB = library()

ISSUE_CATEGORIES = {
    "ip_assignment",
    "future_works",
    "personal_rights",
    "perpetual_license",
    "ai_training",
    "exclusivity",
    "non_compete",
    "liquidated_damages",
    "uncapped_liability",
    "missing_payment",
    "pay_when_paid",
    "unlimited_revisions",
    "sole_acceptance",
    "unilateral_termination",
    "unilateral_change",
    "auto_renewal",
    "valuation_adjustment",
    "buyback",
    "jurisdiction",
    "confidentiality",
}
CUAD = {
    "IP Ownership Assignment",
    "Irrevocable Or Perpetual License",
    "Exclusivity",
    "Non-Compete",
    "Uncapped Liability",
    "Liquidated Damages",
    "Termination For Convenience",
    "Renewal Term",
    "Governing Law",
}


@pytest.mark.parametrize("rule_id", [r.id for r in LIB.rules])
def test_rule_matches_its_examples_and_only_those(rule_id: str) -> None:
    rule = LIB.rule(rule_id)
    assert rule.examples["match"], "every rule documents what it catches"
    for text in rule.examples["match"]:
        hit = apply_rule(rule, text)
        assert hit is not None, f"{rule_id} should match: {text}"
        assert 0 <= hit.start < hit.end <= len(text)
        assert text[hit.start : hit.end].strip(), "the highlighted span is not empty"
    for text in rule.examples["no_match"]:
        assert apply_rule(rule, text) is None, f"{rule_id} should not match: {text}"


def test_every_issue_category_is_covered_in_both_languages() -> None:
    assert set(LIB.categories) == ISSUE_CATEGORIES
    for code in ISSUE_CATEGORIES:
        langs = {r.lang for r in LIB.rules if r.category == code}
        assert langs == set(LANGS), f"{code} needs zh and en rules"


def test_categories_explain_and_offer_a_fairer_wording() -> None:
    for category in LIB.categories.values():
        assert category.severity in ("high", "medium", "low")
        for lang in LANGS:
            assert len(category.explanation[lang]) > 40
            assert len(category.fairer[lang]) > 30
            assert category.title[lang]
    assert {c.cuad for c in LIB.categories.values()} >= CUAD


def test_no_rule_example_comes_from_the_evaluation_set() -> None:
    held_out = {e.text for e in load_examples(split="eval") + load_examples(split="blind")}
    for rule in LIB.rules:
        for text in rule.examples["match"] + rule.examples["no_match"]:
            assert text not in held_out, f"{rule.id} copies an evaluation clause: {text}"


def test_investment_ip_is_ranked_above_everything_else_of_the_same_severity() -> None:
    ranks = {code: c.rank for code, c in LIB.categories.items()}
    high = sorted((r, code) for code, r in ranks.items() if LIB.categories[code].severity == "high")
    assert high[0][1] == "future_works"
    assert {code for _, code in high[:6]} >= {"future_works", "personal_rights", "ip_assignment"}


def _minimal(**rule: object) -> dict[str, object]:
    text = {"zh": "中文", "en": "English"}
    return {
        "categories": {
            "x": {"severity": "high", "title": text, "explanation": text, "fairer": text},
        },
        "rules": [
            {
                "id": "r1",
                "category": "x",
                "lang": "zh",
                "any": ["甲方"],
                "examples": {"match": ["甲方"]},
                **rule,
            }
        ],
    }


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"any": ["(unclosed"]}, "bad pattern"),
        ({"category": "nope"}, "unknown category"),
        ({"lang": "fr"}, "lang"),
        ({"examples": {}}, "example"),
        ({"check": "magic"}, "unknown check"),
        ({"severity": "extreme"}, "severity"),
    ],
)
def test_a_broken_library_is_refused_with_the_reason(override: dict[str, object], message: str) -> None:
    with pytest.raises(LibraryError, match=message):
        parse_library(_minimal(**override))


def test_a_minimal_library_parses() -> None:
    lib = parse_library(_minimal())
    assert lib.rule("r1").severity == "high"
