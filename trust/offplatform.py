"""Phrases that ask to pay (or move the deal) outside the platform — the classic first step of order fraud:
once money leaves escrow, nobody can get it back. A message containing one is delivered but *flagged*: the
recipient sees a warning and the operator lists it for review.

This is the maintained list (Chinese and English; tests in ``trust/tests/test_offplatform.py`` pin each
entry). Matching is forgiving about the tricks people use to dodge filters: full-width characters, upper
case, and spaces or punctuation between the characters (“加 微 信”, “私-下-转-账”) do not hide a phrase.

- ``CHINESE`` entries are regular expressions matched against the text with every space and punctuation
  mark removed;
- ``ENGLISH`` entries are matched against the lower-cased text with runs of non-letters collapsed to one
  space, on word boundaries.

Keep entries specific: “微信” alone is ordinary chat, “加微信” / “微信转账” ask to leave the platform.
"""

from __future__ import annotations

import re
import unicodedata

CHINESE: tuple[str, ...] = (
    # paying privately / offline / around the escrow
    r"私下(转账|转款|付款|付钱|交易|打款|结算|支付|汇款|联系|沟通)",
    r"线下(付款|付钱|转账|交易|打款|结算|支付|汇款|现金)",
    r"(场外|平台外|站外)(交易|付款|转账|结算|支付)",
    r"(绕过|绕开|跳过|避开|不走|别走|不通过|不经过)(平台|托管|担保)",
    r"(直接|先)(转账|打款|汇款|转钱|付款)给我",
    r"(转|打|汇)(到|给)?我(的)?(个人)?(账户|账号|卡|银行卡|支付宝|微信)",
    r"(支付宝|微信|银行卡)(转|打|汇)(我|给我|账给我)",
    r"转我(支付宝|微信|银行卡|卡上)",
    r"(现金|当面)(交易|付款|结算|支付)",
    r"(省|逃|躲|避)掉?(平台)?的?(手续费|服务费|佣金|抽成)",
    # moving the conversation to a private channel
    r"(加|加我|添加|加个|加一下|加下|联系我|私聊)(微信|薇信|威信|vx|wx|v信|qq|扣扣|钉钉|电报|tg)",
    r"(微信|薇信|威信|vx|qq)(号|联系|详聊|私聊)",
    r"加v(信|x)?\d*",
    r"(手机号|电话|手机)(是|号码是)?1[3-9]\d{9}",
)

ENGLISH: tuple[str, ...] = (
    r"private (bank )?transfer",
    r"pay me (directly|privately|in cash|outside)",
    r"pay (privately|in cash|outside (of )?the platform)",
    r"(outside|bypass(ing)?|avoid(ing)?|circumvent(ing)?|go(ing)? around) (of )?(the )?(platform|escrow|opc hub)",
    r"off (the )?platform",
    r"offline (payment|transfer|deal)",
    r"(wire|transfer|send) (the )?(money|payment|funds) (directly )?to (me|my)",
    r"(bank|wire) transfer to (me|my)",
    r"my (personal )?(bank )?account (number|details)",
    r"(add|contact|message|text|reach) me (on|via|at) (wechat|whatsapp|telegram|qq|alipay|signal)",
    r"(wechat|whatsapp|telegram|alipay|paypal|venmo) (me|pay me|transfer)",
    r"(skip|avoid|save) (the )?(platform )?(fee|fees|commission)",
)

_CHINESE = tuple(re.compile(p) for p in CHINESE)
_ENGLISH = tuple(re.compile(rf"\b(?:{p})\b") for p in ENGLISH)
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def _normalise(text: str) -> tuple[str, str]:
    """(compact, spaced): NFKC, lower case; compact without any space or punctuation, spaced with one space
    for every run of them."""
    folded = unicodedata.normalize("NFKC", text or "").lower()
    return _NON_WORD.sub("", folded), " " + _NON_WORD.sub(" ", folded).strip() + " "


def find_offplatform_requests(text: str) -> list[str]:
    """The phrases in ``text`` that ask to pay or deal outside the platform (as matched, normalised), in
    order of appearance (Chinese, then English), without duplicates or overlapping matches. Empty when the text is harmless."""
    compact, spaced = _normalise(text)
    out: list[str] = []
    for haystack, patterns in ((compact, _CHINESE), (spaced, _ENGLISH)):
        matches = sorted(
            (m.start(), -m.end(), m.group(0).strip())
            for p in patterns
            for m in p.finditer(haystack)
            if m.group(0).strip()
        )
        covered_to = -1
        for start, neg_end, phrase in matches:
            if start < covered_to:  # overlaps a longer or earlier phrase already reported
                continue
            covered_to = -neg_end
            if phrase not in out:
                out.append(phrase)
    return out


def is_offplatform_request(text: str) -> bool:
    return bool(find_offplatform_requests(text))
