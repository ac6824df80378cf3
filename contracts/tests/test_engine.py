"""The reviewer end to end on whole contracts: the Done-when investment agreement, an English contract with
CUAD categories, a fair contract, the liquidated-damages arithmetic and the document-level payment check."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from contracts.review import amounts
from contracts.review.clauses import split_clauses
from contracts.review.engine import SOURCE_DOCUMENT, SOURCE_RULE, categories_of, review
from contracts.review.rules import library

FIXTURES = Path(__file__).parent / "fixtures"


def test_investment_agreement_buying_out_the_creators_ip_is_the_top_risk() -> None:
    text = (FIXTURES / "investment_agreement.txt").read_text(encoding="utf-8")
    result = review(text)
    assert result.rating == "high"
    assert result.contract_value == Decimal("10000000")
    top = result.findings[0]
    assert top.severity == "high"
    assert top.category in {"future_works", "ip_assignment"}
    assert top.source == SOURCE_RULE
    assert top.clause_number.startswith("2.")
    assert top.span and top.span in top.clause_text
    category = library().categories[top.category]
    assert "未来" in category.explanation["zh"] or "转让" in category.explanation["zh"]
    assert "乙方" in category.fairer["zh"] and "归乙方" in category.fairer["zh"]
    flagged = {f.category for f in result.findings}
    assert {
        "future_works",
        "ip_assignment",
        "personal_rights",
        "ai_training",
        "valuation_adjustment",
        "buyback",
        "liquidated_damages",
        "uncapped_liability",
        "exclusivity",
        "non_compete",
        "confidentiality",
        "jurisdiction",
    } <= flagged
    damages = next(f for f in result.findings if f.category == "liquidated_damages")
    assert "50%" in damages.detail["zh"]
    # highest risk first
    ranks = [{"high": 3, "medium": 2, "low": 1}[f.severity] for f in result.findings]
    assert ranks == sorted(ranks, reverse=True)


ENGLISH = """SERVICES AGREEMENT
1. Services. The Contractor shall produce three AI-generated product videos for the Company.
2. Fees. The total fees are USD 20,000, payable within 30 days of acceptance of each video.
3. Ownership. Contractor hereby assigns to Company all right, title and interest in the Deliverables.
4. Licence. Contractor grants Company a perpetual, irrevocable licence to use Contractor's pre-existing tools.
5. Exclusivity. During the Term, Contractor shall work exclusively for the Company.
6. Non-competition. For two years after termination, Contractor shall not engage in any business that competes with the Company.
7. Liability. Contractor shall indemnify Company against any and all losses arising from the Services.
8. Liquidated damages. For late delivery Contractor shall pay liquidated damages of 40% of the total fees.
9. Termination. The Company may terminate this Agreement at any time for convenience.
10. Renewal. This Agreement shall automatically renew for successive one-year terms.
"""


def test_english_contract_gets_the_cuad_categories() -> None:
    result = review(ENGLISH)
    assert result.language == "en"
    flagged = {f.category for f in result.findings}
    assert {
        "ip_assignment",
        "perpetual_license",
        "exclusivity",
        "non_compete",
        "uncapped_liability",
        "liquidated_damages",
        "unilateral_termination",
        "auto_renewal",
    } <= flagged
    cuad = {library().categories[f.category].cuad for f in result.findings}
    assert {"IP Ownership Assignment", "Termination For Convenience", "Renewal Term"} <= cuad


FAIR = """委托创作合同
第一条 委托事项：乙方为甲方创作AI宣传短片一部，时长60秒。
第二条 合同价款：合同总价为人民币三万元。甲方于合同签订后五个工作日内支付30%预付款，验收合格后十个工作日内支付其余款项。
第三条 验收：验收标准详见附件一。甲方应在交付后五个工作日内书面验收，逾期未提出书面异议的视为验收合格。
第四条 修改：每个阶段含两轮修改，超出部分按每轮一千元另行计费。
第五条 知识产权：交付成果的著作权归乙方所有。甲方付清全部款项后，可在其官方渠道内使用交付成果三年。
第六条 违约责任：一方违约的，应向守约方支付合同总价款10%的违约金。
第七条 争议解决：协商不成的，任何一方可向被告住所地人民法院起诉。
"""


def test_fair_contract_has_no_high_risk() -> None:
    result = review(FAIR)
    assert not [f for f in result.findings if f.severity == "high"], result.findings
    assert result.rating in ("none", "low", "medium")


def test_missing_payment_terms_are_a_document_level_finding() -> None:
    text = """技术服务合同
第一条 乙方为甲方开发智能客服系统。
第二条 乙方应于2026年6月30日前交付。
第三条 验收标准见附件。
第四条 本合同一式两份。
第五条 本合同自签字之日起生效。
"""
    result = review(text)
    document = [f for f in result.findings if f.source == SOURCE_DOCUMENT]
    assert [f.category for f in document] == ["missing_payment"]
    assert review(FAIR).findings == [f for f in review(FAIR).findings if f.source != SOURCE_DOCUMENT]


@pytest.mark.parametrize(
    ("sentence", "value", "flagged"),
    [
        ("乙方违约的，应支付合同总价款40%的违约金。", None, True),
        ("乙方违约的，应支付合同总价款30%的违约金。", None, False),
        ("乙方违约的，应支付违约金人民币50万元。", Decimal("1000000"), True),
        ("乙方违约的，应支付违约金人民币20万元。", Decimal("1000000"), False),
        ("每逾期一日，按合同金额的千分之五支付违约金。", None, True),
        ("每逾期一日，按合同金额的千分之五支付违约金，累计不超过合同金额的10%。", None, False),
        ("乙方应支付双倍于合同金额的违约金。", None, True),
        ("定金为合同金额的两倍。", None, False),
        ("Liquidated damages of 2% of the fees per day shall accrue without any cap.", None, True),
    ],
)
def test_liquidated_damages_above_30_percent(sentence: str, value: Decimal | None, flagged: bool) -> None:
    assert (amounts.penalty_in_sentence(sentence, value) is not None) is flagged


def test_amounts_in_chinese_numerals_and_scales() -> None:
    assert amounts.cn_to_int("壹仟万") == 10_000_000
    assert amounts.cn_to_int("一百二十万") == 1_200_000
    assert [a.value for a in amounts.find_amounts("人民币 1,000 万元及 ¥500,000")] == [
        Decimal("10000000"),
        Decimal("500000"),
    ]
    assert amounts.contract_value("本合同总价为人民币八十万元（¥800,000）。") == Decimal("800000")


def test_clauses_split_on_chinese_and_english_numbering() -> None:
    clauses = split_clauses("第一条 总则\n1.1 甲方。\n1.2 乙方。\n第二条 价款 合同总价十万元。")
    assert [c.number for c in clauses] == ["1.1", "1.2", "第二条"]
    assert clauses[0].heading == "第一条 总则"
    english = split_clauses("Article 1 Scope. The Contractor builds.\nArticle 2 Fees. USD 100.")
    assert [c.number for c in english] == ["Article 1", "Article 2"]
    one_paragraph = split_clauses("第一条 甲方委托乙方。第二条 乙方交付。第三条 甲方付款。")
    assert len(one_paragraph) == 3


def test_a_single_clause_excerpt_is_classified() -> None:
    assert "pay_when_paid" in categories_of("甲方收到业主付款后再向乙方支付服务费。")
    assert categories_of("本合同一式两份，双方各执一份。") == set()
