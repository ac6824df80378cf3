"""Money, percentages and multiples in contract text, and the liquidated-damages check.

民法典 第585条: liquidated damages that are "excessively higher" than the loss may be reduced by a court or
arbitral body on request; the Supreme People's Court's interpretation (2023 合同编通则解释 第65条) takes
"more than 30 % above the loss" as the usual yardstick. A reviewer does not know the loss, so this module uses
the contract value as the reference and flags liquidated damages above 30 % of it (a percentage of the
contract amount, a multiple of it, an amount compared with the contract value found elsewhere in the text,
or an uncapped daily rate that reaches 30 % within 100 days).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

THRESHOLD = Decimal("0.30")
DAILY_THRESHOLD = Decimal("0.003")  # 0.3 % a day reaches 30 % in 100 days

_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3, "四": 4, "肆": 4,
    "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
_CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}
CN_NUMERAL = "零〇一壹二贰两三叁四肆五伍六陆七柒八捌九玖十拾百佰千仟万萬亿億"

_SCALE = {
    "千": Decimal(1000),
    "万": Decimal(10_000),
    "亿": Decimal(100_000_000),
    "thousand": Decimal(1000),
    "k": Decimal(1000),
    "million": Decimal(1_000_000),
    "m": Decimal(1_000_000),
    "mn": Decimal(1_000_000),
    "billion": Decimal(1_000_000_000),
    "bn": Decimal(1_000_000_000),
}

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_MONEY_PATTERNS = [
    # ¥1,000,000 / 人民币 1000 万元 / RMB 500,000 / 100万元 / 5 万
    re.compile(
        rf"(?:人民币|RMB|CNY|¥|￥|US\$|USD|\$|EUR|€|HKD|HK\$)\s*(?P<n>{_NUM})\s*(?P<s>千|万|亿|thousand|million|billion|mn|bn|[kKmM]\b)?\s*(?:元|圆)?",
    ),
    re.compile(rf"(?P<n>{_NUM})\s*(?P<s>千|万|亿)?\s*(?:元|圆)(?!/)"),
    re.compile(
        rf"(?P<n>{_NUM})\s*(?P<s>thousand|million|billion)?\s*(?:US dollars|dollars|yuan|renminbi|RMB|USD|CNY)\b",
        re.IGNORECASE,
    ),
    # 人民币壹仟万元整 / 一百万元
    re.compile(rf"(?:人民币)?(?P<cn>[{CN_NUMERAL}]{{2,}})(?:元|圆)"),
]
_PERCENT = re.compile(rf"(?P<n>{_NUM})\s*(?:[%％]|per\s?cent\b|percent\b)", re.IGNORECASE)
_CN_PERCENT = re.compile(rf"(?P<base>百分之|千分之|万分之)(?P<n>[\d.]+|[{CN_NUMERAL}点]+)")
_MULTIPLE = re.compile(
    rf"(?P<cn>[{CN_NUMERAL}\d]+)\s*倍|双倍|翻倍|加倍|(?P<en>\btwice\b|\bdouble\b|\btriple\b|\btreble\b|"
    r"\b(?:two|three|four|five|ten|\d+)\s*(?:\(\d+\)\s*)?times\b)",
    re.IGNORECASE,
)
_EN_TIMES = {
    "twice": 2,
    "double": 2,
    "two": 2,
    "triple": 3,
    "treble": 3,
    "three": 3,
    "four": 4,
    "five": 5,
    "ten": 10,
}

PENALTY_WORDS = re.compile(
    r"违约金|赔偿金|罚金|罚款|违约赔偿|滞纳金|liquidated damages|penalt(?:y|ies)|agreed damages|"
    r"as damages|forfeit",
    re.IGNORECASE,
)
VALUE_WORDS = re.compile(
    r"合同(?:总)?(?:价|金额|价款|总额|总价)|总价款|总价|价款|服务费(?:用)?(?:总额)?|委托费|设计费|制作费|"
    r"报酬(?:总额)?|项目(?:总)?(?:价|金额|费用)|投资(?:款|金额|总额)?|增资款|认购款|转让款|费用总额|"
    r"total (?:contract )?(?:price|fees?|value|consideration|amount)|contract (?:price|value|sum|amount)|"
    r"investment amount|purchase price|aggregate fees|service fees?|the fees?\b",
    re.IGNORECASE,
)
_CAP_WORDS = re.compile(
    r"最高不超过|累计不超过|不超过|不得超过|以[^。；;]{0,12}为限|上限|封顶|cap(?:ped)?\b|not (?:to )?exceed|"
    r"maximum|no more than|up to",
    re.IGNORECASE,
)
_DAILY = re.compile(
    r"每(?:逾期|延误|延迟|迟延|超期|拖延)?(?:一)?[日天]|按日|日[计息]|per (?:calendar )?day|each day|for every day|"
    r"daily|a day\b",
    re.IGNORECASE,
)
_NO_CAP = re.compile(
    r"不设上限|无上限|不封顶|没有上限|without (?:any )?(?:cap|limit)|no (?:cap|limit)|uncapped", re.IGNORECASE
)
_DEPOSIT = re.compile(r"定金")
_SENTENCES = re.compile(r"[。；;\n]|(?<=[.!?])\s+(?=[A-Z(“\"])")


@dataclass(frozen=True)
class Amount:
    value: Decimal
    start: int
    end: int


@dataclass(frozen=True)
class PenaltyHit:
    ratio: Decimal  # liquidated damages / contract value (for daily rates: the rate a day)
    start: int
    end: int
    basis: str  # "percent" | "multiple" | "amount" | "daily"
    amount: Decimal | None = None
    value: Decimal | None = None


def cn_to_int(text: str) -> int | None:
    """Chinese numerals (一百二十万, 壹仟万, 两千) → int; None when it is not a number."""
    if not text or any(ch not in _CN_DIGITS and ch not in _CN_UNITS and ch not in _CN_BIG for ch in text):
        return None
    total = 0
    section = 0
    digit = 0
    seen = False
    for ch in text:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
            seen = True
        elif ch in _CN_UNITS:
            section += (digit or 1) * _CN_UNITS[ch]
            digit = 0
            seen = True
        else:
            section += digit
            total = (total + section) * _CN_BIG[ch] if ch in ("亿", "億") else total + section * _CN_BIG[ch]
            section = 0
            digit = 0
    return total + section + digit if seen or total else None


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def find_amounts(text: str) -> list[Amount]:
    """Money amounts (any currency, as written; no conversion), left to right, overlaps removed."""
    found: list[Amount] = []
    for pattern in _MONEY_PATTERNS:
        for m in pattern.finditer(text):
            value: Decimal | None
            if m.groupdict().get("cn"):
                number = cn_to_int(m.group("cn"))
                value = Decimal(number) if number else None
            else:
                value = _decimal(m.group("n"))
                scale = (m.group("s") or "").lower()
                if value is not None and scale:
                    value *= _SCALE.get(scale, Decimal(1))
            if value is not None and value > 0:
                found.append(Amount(value=value, start=m.start(), end=m.end()))
    found.sort(key=lambda a: (a.start, -(a.end - a.start)))
    out: list[Amount] = []
    for amount in found:
        if out and amount.start < out[-1].end:
            continue
        out.append(amount)
    return out


def find_percentages(text: str) -> list[tuple[Decimal, int, int]]:
    """Percentages as fractions (50% → 0.5, 千分之五 → 0.005) with their offsets."""
    out: list[tuple[Decimal, int, int]] = []
    for m in _PERCENT.finditer(text):
        value = _decimal(m.group("n"))
        if value is not None:
            out.append((value / 100, m.start(), m.end()))
    for m in _CN_PERCENT.finditer(text):
        raw = m.group("n")
        value = _decimal(raw) if re.fullmatch(r"[\d.]+", raw) else _cn_decimal(raw)
        if value is None:
            continue
        base = {"百分之": 100, "千分之": 1000, "万分之": 10_000}[m.group("base")]
        out.append((value / base, m.start(), m.end()))
    return sorted(out, key=lambda p: p[1])


def _cn_decimal(text: str) -> Decimal | None:
    whole, _, frac = text.partition("点")
    number = cn_to_int(whole) if whole else 0
    if number is None:
        return None
    if not frac:
        return Decimal(number)
    digits = "".join(str(_CN_DIGITS.get(ch, "")) for ch in frac)
    return Decimal(f"{number}.{digits}") if digits else Decimal(number)


def find_multiples(text: str) -> list[tuple[Decimal, int, int]]:
    out: list[tuple[Decimal, int, int]] = []
    for m in _MULTIPLE.finditer(text):
        word = m.group(0)
        if m.group("cn"):
            raw = m.group("cn")
            number = int(raw) if raw.isdigit() else cn_to_int(raw)
            if not number:
                continue
            value = Decimal(number)
        elif m.group("en"):
            first = re.split(r"\s+", m.group("en").lower())[0]
            value = Decimal(int(first)) if first.isdigit() else Decimal(_EN_TIMES.get(first, 0))
            if not value:
                continue
        else:  # 双倍 / 翻倍 / 加倍
            value = Decimal(2)
        if word:
            out.append((value, m.start(), m.end()))
    return out


def contract_value(text: str) -> Decimal | None:
    """The contract value: the largest amount in a sentence that names the price, fee or investment (the
    amount must follow the naming word within the sentence)."""
    best: Decimal | None = None
    for sentence in _SENTENCES.split(text):
        if PENALTY_WORDS.search(sentence):
            continue
        for name in VALUE_WORDS.finditer(sentence):
            for amount in find_amounts(sentence[name.end() : name.end() + 80]):
                if best is None or amount.value > best:
                    best = amount.value
    return best


def penalty_in_sentence(sentence: str, value: Decimal | None = None) -> PenaltyHit | None:
    """Excessive liquidated damages stated in one sentence, or None.

    ``value`` is the contract value found elsewhere in the document, used for amounts written as money."""
    keyword = PENALTY_WORDS.search(sentence)
    if keyword is None:
        return None
    capped = _CAP_WORDS.search(sentence) is not None and _NO_CAP.search(sentence) is None
    daily = _DAILY.search(sentence) is not None
    for fraction, start, end in find_percentages(sentence):
        if daily:
            if fraction >= DAILY_THRESHOLD and not capped:
                return PenaltyHit(ratio=fraction, start=start, end=end, basis="daily")
            continue
        # "年化 10 % 的利息" / "10 % 的违约金上限" are not a penalty rate of the contract value
        before = sentence[max(0, start - 8) : start]
        if re.search(r"年化|年利率|利息|interest", before, re.IGNORECASE):
            continue
        if fraction > THRESHOLD:
            return PenaltyHit(ratio=fraction, start=start, end=end, basis="percent")
    if not _DEPOSIT.search(sentence):
        for multiple, start, end in find_multiples(sentence):
            if multiple > THRESHOLD:
                return PenaltyHit(ratio=multiple, start=start, end=end, basis="multiple")
    local_value = contract_value(sentence.replace(keyword.group(0), "", 1)) if value is None else value
    if local_value:
        for amount in find_amounts(sentence[keyword.start() :]):
            absolute = Amount(amount.value, amount.start + keyword.start(), amount.end + keyword.start())
            if absolute.value == local_value:
                continue
            ratio = absolute.value / local_value
            if ratio > THRESHOLD:
                return PenaltyHit(
                    ratio=ratio,
                    start=absolute.start,
                    end=absolute.end,
                    basis="amount",
                    amount=absolute.value,
                    value=local_value,
                )
    return None
