"""The rule library (``data/rules.yaml``) loaded, compiled and applied to one clause.

A rule belongs to a risk category and has regular expressions that are applied sentence by sentence:
``any`` (one must match; its match is the span shown to the reader), ``all`` (each must also match in the same
sentence; the span grows to cover them), ``unless`` (none may match in the sentence) and ``unless_clause`` (none
may match anywhere in the clause). ``check: penalty`` adds the computed liquidated-damages test of
``amounts.penalty_in_sentence``. Macros such as ``{A}`` (the stronger party: 甲方, 投资方 …) keep patterns short.
Full-width ASCII is folded to ASCII before matching (one character for one, so spans stay exact); English is
matched case-insensitively.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from contracts.review import amounts
from contracts.review.clauses import sentences

RULES_FILE = Path(__file__).parent / "data" / "rules.yaml"
SEVERITIES = ("high", "medium", "low")
SEVERITY_RANK = {"high": 3, "medium": 2, "low": 1}
LANGS = ("zh", "en")

# Full-width ASCII (！ … ～) and the ideographic space → ASCII; one character for one.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def fold(text: str) -> str:
    return text.translate(_FOLD)


@dataclass(frozen=True)
class Category:
    code: str
    severity: str
    cuad: str
    title: dict[str, str]
    explanation: dict[str, str]
    fairer: dict[str, str]
    basis: dict[str, str]
    rank: int = 100
    classifier: bool = True  # may the classifier raise this category without a rule hit?
    cues: re.Pattern[str] | None = None  # the classifier needs one of these words in the clause

    def cued(self, text: str) -> bool:
        return self.cues is None or self.cues.search(text) is not None


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    lang: str
    severity: str
    any: tuple[re.Pattern[str], ...]
    all: tuple[re.Pattern[str], ...]
    unless: tuple[re.Pattern[str], ...]
    unless_clause: tuple[re.Pattern[str], ...]
    check: str
    texts: dict[str, dict[str, str]]  # overrides: {"explanation": {"zh": …, "en": …}, …}
    examples: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleHit:
    rule: Rule
    start: int
    end: int
    detail: dict[str, str] = field(default_factory=dict)  # computed facts, e.g. the damages ratio


@dataclass(frozen=True)
class Library:
    version: str
    categories: dict[str, Category]
    rules: tuple[Rule, ...]

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


class LibraryError(ValueError):
    pass


def _texts(raw: Any, where: str, *, required: bool = True) -> dict[str, str]:
    if raw is None and not required:
        return {}
    if not isinstance(raw, dict) or any(
        not isinstance(raw.get(lang), str) or not raw[lang] for lang in LANGS
    ):
        raise LibraryError(f"{where}: needs non-empty zh and en texts")
    return {lang: raw[lang].strip() for lang in LANGS}


def _compile(patterns: Any, macros: dict[str, str], where: str) -> tuple[re.Pattern[str], ...]:
    if patterns is None:
        return ()
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise LibraryError(f"{where}: expected a list of patterns")
    out = []
    for pattern in patterns:
        expanded = pattern
        for _ in range(3):  # macros may use macros
            for name, value in macros.items():
                expanded = expanded.replace("{" + name + "}", value)
        try:
            out.append(re.compile(expanded, re.IGNORECASE))
        except re.error as exc:
            raise LibraryError(f"{where}: bad pattern {pattern!r}: {exc}") from None
    return tuple(out)


def parse_library(data: dict[str, Any]) -> Library:
    macros = {str(k): str(v) for k, v in (data.get("macros") or {}).items()}
    categories: dict[str, Category] = {}
    for code, raw in (data.get("categories") or {}).items():
        where = f"category {code}"
        if raw.get("severity") not in SEVERITIES:
            raise LibraryError(f"{where}: severity must be one of {SEVERITIES}")
        categories[code] = Category(
            code=code,
            severity=raw["severity"],
            cuad=str(raw.get("cuad") or ""),
            title=_texts(raw.get("title"), f"{where}.title"),
            explanation=_texts(raw.get("explanation"), f"{where}.explanation"),
            fairer=_texts(raw.get("fairer"), f"{where}.fairer"),
            basis=_texts(raw.get("basis"), f"{where}.basis", required=False),
            rank=int(raw.get("rank", 100)),
            classifier=bool(raw.get("classifier", True)),
            cues=_compile([raw["cues"]], macros, f"{where}.cues")[0] if raw.get("cues") else None,
        )
    rules: list[Rule] = []
    seen: set[str] = set()
    for raw in data.get("rules") or []:
        rule_id = str(raw.get("id") or "")
        where = f"rule {rule_id or '?'}"
        if not rule_id or rule_id in seen:
            raise LibraryError(f"{where}: missing or duplicate id")
        seen.add(rule_id)
        category = raw.get("category")
        if category not in categories:
            raise LibraryError(f"{where}: unknown category {category!r}")
        severity = raw.get("severity") or categories[category].severity
        if severity not in SEVERITIES:
            raise LibraryError(f"{where}: bad severity")
        lang = raw.get("lang")
        if lang not in LANGS:
            raise LibraryError(f"{where}: lang must be zh or en")
        check = str(raw.get("check") or "")
        if check not in ("", "penalty"):
            raise LibraryError(f"{where}: unknown check {check!r}")
        any_ = _compile(raw.get("any"), macros, f"{where}.any")
        if not any_ and not check:
            raise LibraryError(f"{where}: needs 'any' patterns or a check")
        examples = raw.get("examples") or {}
        if not examples.get("match"):
            raise LibraryError(f"{where}: needs at least one example that matches")
        rules.append(
            Rule(
                id=rule_id,
                category=category,
                lang=lang,
                severity=severity,
                any=any_,
                all=_compile(raw.get("all"), macros, f"{where}.all"),
                unless=_compile(raw.get("unless"), macros, f"{where}.unless"),
                unless_clause=_compile(raw.get("unless_clause"), macros, f"{where}.unless_clause"),
                check=check,
                texts={
                    key: _texts(raw.get(key), f"{where}.{key}")
                    for key in ("title", "explanation", "fairer")
                    if raw.get(key) is not None
                },
                examples={
                    "match": [str(x) for x in examples.get("match") or []],
                    "no_match": [str(x) for x in examples.get("no_match") or []],
                },
            )
        )
    return Library(version=str(data.get("version") or "1"), categories=categories, rules=tuple(rules))


@functools.cache
def library() -> Library:
    with RULES_FILE.open(encoding="utf-8") as handle:
        return parse_library(yaml.safe_load(handle))


def apply_rule(
    rule: Rule, clause: str, *, folded: str | None = None, value: Decimal | None = None
) -> RuleHit | None:
    """The first hit of ``rule`` in ``clause`` (sentence by sentence), or None."""
    text = folded if folded is not None else fold(clause)
    if any(p.search(text) for p in rule.unless_clause):
        return None
    for start, end in sentences(text):
        sentence = text[start:end]
        if any(p.search(sentence) for p in rule.unless):
            continue
        if rule.check == "penalty":
            hit = amounts.penalty_in_sentence(sentence, value)
            if hit is None:
                continue
            if rule.any and not any(p.search(sentence) for p in rule.any):
                continue
            return RuleHit(rule, start + hit.start, start + hit.end, _penalty_detail(hit))
        first = None
        for pattern in rule.any:
            first = pattern.search(sentence)
            if first:
                break
        if first is None:
            continue
        lo, hi = first.start(), first.end()
        matched_all = True
        for pattern in rule.all:
            m = pattern.search(sentence)
            if m is None:
                matched_all = False
                break
            lo, hi = min(lo, m.start()), max(hi, m.end())
        if not matched_all:
            continue
        return RuleHit(rule, start + lo, start + hi)
    return None


def _pct(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.1')).normalize():f}%"


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,.2f}"


def _penalty_detail(hit: amounts.PenaltyHit) -> dict[str, str]:
    if hit.basis == "daily":
        return {
            "zh": f"按日计算的违约金为每日 {_pct(hit.ratio)}，且未设上限：约 {int(amounts.THRESHOLD / hit.ratio)} 天即超过 30%。",
            "en": f"Daily damages of {_pct(hit.ratio)} a day with no cap exceed 30 % after about "
            f"{int(amounts.THRESHOLD / hit.ratio)} days.",
        }
    if hit.basis == "multiple":
        return {
            "zh": f"违约金为相关金额的 {hit.ratio.normalize():f} 倍（{_pct(hit.ratio)}），超过 30%。",
            "en": f"Damages of {hit.ratio.normalize():f} times the amount ({_pct(hit.ratio)}) exceed 30 %.",
        }
    if hit.basis == "amount" and hit.amount is not None and hit.value is not None:
        return {
            "zh": f"违约金 {_money(hit.amount)} 元为合同金额 {_money(hit.value)} 元的 {_pct(hit.ratio)}，超过 30%。",
            "en": f"Damages of {_money(hit.amount)} are {_pct(hit.ratio)} of the contract value "
            f"{_money(hit.value)}, above 30 %.",
        }
    return {
        "zh": f"违约金为合同金额的 {_pct(hit.ratio)}，超过 30%。",
        "en": f"Damages of {_pct(hit.ratio)} of the contract value exceed 30 %.",
    }


def apply_library(clause: str, lib: Library | None = None, *, value: Decimal | None = None) -> list[RuleHit]:
    """Every rule's first hit in the clause (several rules of one category may hit)."""
    lib = lib or library()
    folded = fold(clause)
    hits = []
    for rule in lib.rules:
        hit = apply_rule(rule, clause, folded=folded, value=value)
        if hit is not None:
            hits.append(hit)
    return hits
