"""The reviewer: plain text → clauses → findings, highest risk first.

For each clause the rule library runs first (transparent: the span shown is what the rule matched). The
classifier then adds categories the rules missed when its probability reaches the category's threshold
(recall); such a finding highlights the sentence the classifier scores highest and says it was found by the
model. One finding per clause and category. Document-level checks (no payment terms at all) run on the whole
text. Findings are ordered by severity, then by how much the category matters (``rank`` in rules.yaml), then
by position.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from decimal import Decimal

from contracts.review import amounts
from contracts.review.classifier import Model, model
from contracts.review.clauses import Clause, sentences, split_clauses
from contracts.review.features import is_chinese
from contracts.review.rules import SEVERITY_RANK, Category, Library, RuleHit, apply_rule, fold, library

SOURCE_RULE = "rule"
SOURCE_MODEL = "model"
SOURCE_DOCUMENT = "document"

RATINGS = ("high", "medium", "low", "none")

# A document with this many clauses is a whole contract (document-level checks apply); shorter texts are
# excerpts pasted for a quick look.
MIN_CLAUSES_FOR_DOCUMENT_CHECKS = 5

_PAYMENT = re.compile(
    r"支付|付款|付清|结算|打款|汇款|转账|报酬|价款|服务费|费用|pay|invoice|fee|price|compensation|remuneration",
    re.IGNORECASE,
)
_WHEN = re.compile(
    r"\d+\s*(?:个)?(?:工作日|日|天|月|周)内|[一二三四五六七八九十两]+(?:个)?(?:工作日|日|天|月|周)内|"
    r"(?:签订|签署|验收|交付|收到)[^。；;]{0,12}(?:后|之日起)|预付|首付|尾款|里程碑|\d{4}\s*年\s*\d{1,2}\s*月|"
    r"within \w+|upon (?:signing|acceptance|delivery|receipt)|on signing|milestone|in advance|net \d+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Finding:
    category: str
    severity: str
    source: str  # rule | model | document
    rule_id: str  # "" for model findings
    clause_index: int  # -1 for document-level findings
    clause_number: str
    clause_heading: str
    clause_text: str
    start: int  # the span in clause_text
    end: int
    confidence: float  # 1.0 for rules; the probability for the model
    detail: dict[str, str] = field(default_factory=dict)  # computed facts (zh / en)

    @property
    def span(self) -> str:
        return self.clause_text[self.start : self.end]


@dataclass(frozen=True)
class Result:
    language: str  # zh | en
    clauses: list[Clause]
    findings: list[Finding]
    contract_value: Decimal | None
    rules_version: str
    model_version: str
    seconds: float

    @property
    def rating(self) -> str:
        return overall_rating(self.findings)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(("high", "medium", "low"), 0)
        for f in self.findings:
            out[f.severity] += 1
        return out


def overall_rating(findings: list[Finding]) -> str:
    if not findings:
        return "none"
    return max((f.severity for f in findings), key=SEVERITY_RANK.__getitem__)


def language_of(text: str) -> str:
    return "zh" if is_chinese(text[:5000]) else "en"


def sort_key(f: Finding, lib: Library) -> tuple[int, int, int, int, int]:
    category = lib.categories.get(f.category)
    rank = category.rank if category else 999
    return (-SEVERITY_RANK[f.severity], rank, 0 if f.source == SOURCE_RULE else 1, f.clause_index, f.start)


def review_clause(
    clause: Clause,
    *,
    lib: Library | None = None,
    classifier: Model | None = None,
    use_model: bool = True,
    value: Decimal | None = None,
) -> list[Finding]:
    """Findings in one clause (unsorted)."""
    lib = lib or library()
    text = clause.text
    lang = "zh" if is_chinese(text) else "en"
    folded = fold(text)
    by_category: dict[str, RuleHit] = {}
    for rule in lib.rules:
        if rule.lang != lang:
            continue
        hit = apply_rule(rule, text, folded=folded, value=value)
        if hit is None:
            continue
        previous = by_category.get(rule.category)
        if previous is None or SEVERITY_RANK[rule.severity] > SEVERITY_RANK[previous.rule.severity]:
            by_category[rule.category] = hit
    findings = [
        Finding(
            category=hit.rule.category,
            severity=hit.rule.severity,
            source=SOURCE_RULE,
            rule_id=hit.rule.id,
            clause_index=clause.index,
            clause_number=clause.number,
            clause_heading=clause.heading,
            clause_text=text,
            start=hit.start,
            end=hit.end,
            confidence=1.0,
            detail=hit.detail,
        )
        for hit in by_category.values()
    ]
    if use_model:
        classifier = classifier if classifier is not None else model()
        if classifier is not None:
            findings.extend(_model_findings(clause, classifier, lib, set(by_category)))
    return findings


def _model_findings(clause: Clause, classifier: Model, lib: Library, found: set[str]) -> list[Finding]:
    predicted = classifier.predict(clause.text)
    out: list[Finding] = []
    for code, probability in predicted.items():
        category = lib.categories.get(code)
        if code in found or category is None or not category.classifier or not category.cued(clause.text):
            continue
        if _excepted(clause.text, code, lib):
            continue
        start, end = _best_sentence(clause.text, classifier, code)
        out.append(
            Finding(
                category=code,
                severity=category.severity,
                source=SOURCE_MODEL,
                rule_id="",
                clause_index=clause.index,
                clause_number=clause.number,
                clause_heading=clause.heading,
                clause_text=clause.text,
                start=start,
                end=end,
                confidence=round(probability, 3),
            )
        )
    return out


def _excepted(text: str, code: str, lib: Library) -> bool:
    """Does the clause say what the rules of this category treat as an exception ("著作权归乙方所有",
    "超出部分另行计费", "non-exclusive" …)? Then the classifier does not raise the category either."""
    lang = "zh" if is_chinese(text) else "en"
    folded = fold(text)
    return any(
        pattern.search(folded)
        for rule in lib.rules
        if rule.category == code and rule.lang == lang
        for pattern in (*rule.unless, *rule.unless_clause)
    )


def _best_sentence(text: str, classifier: Model, code: str) -> tuple[int, int]:
    spans = [(s, e) for s, e in sentences(text) if text[s:e].strip()]
    if len(spans) <= 1:
        start, end = spans[0] if spans else (0, len(text))
    else:
        j = classifier.categories.index(code)
        start, end = max(spans, key=lambda se: classifier.scores(text[se[0] : se[1]])[j])
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _document_findings(text: str, clauses: list[Clause], lib: Library) -> list[Finding]:
    if len(clauses) < MIN_CLAUSES_FOR_DOCUMENT_CHECKS or "missing_payment" not in lib.categories:
        return []
    for clause in clauses:
        for s, e in sentences(clause.text):
            sentence = clause.text[s:e]
            if _PAYMENT.search(sentence) and (_WHEN.search(sentence) or amounts.find_amounts(sentence)):
                return []
    category: Category = lib.categories["missing_payment"]
    first = clauses[0]
    return [
        Finding(
            category="missing_payment",
            severity=category.severity,
            source=SOURCE_DOCUMENT,
            rule_id="document_no_payment_terms",
            clause_index=-1,
            clause_number="",
            clause_heading="",
            clause_text=first.text,
            start=0,
            end=0,
            confidence=1.0,
            detail={
                "zh": "全文未找到写明付款金额或付款时间的条款。",
                "en": "No clause in the document states a payment amount or a payment date.",
            },
        )
    ]


def review(text: str, *, use_model: bool = True) -> Result:
    """Review a whole contract (plain text, see ``extract``)."""
    started = time.perf_counter()
    lib = library()
    classifier = model() if use_model else None
    clauses = split_clauses(text)
    value = amounts.contract_value(text)
    findings: list[Finding] = []
    for clause in clauses:
        findings.extend(
            review_clause(clause, lib=lib, classifier=classifier, use_model=use_model, value=value)
        )
    findings.extend(_document_findings(text, clauses, lib))
    findings.sort(key=lambda f: sort_key(f, lib))
    return Result(
        language=language_of(text),
        clauses=clauses,
        findings=findings,
        contract_value=value,
        rules_version=lib.version,
        model_version=classifier.version if classifier else "",
        seconds=time.perf_counter() - started,
    )


def categories_of(text: str, *, use_model: bool = True, value: Decimal | None = None) -> set[str]:
    """The categories flagged in one clause of text (used by the benchmark and the tests)."""
    clause = Clause(index=0, number="", heading="", text=text)
    value = value if value is not None else amounts.contract_value(text)
    return {f.category for f in review_clause(clause, use_model=use_model, value=value)}
