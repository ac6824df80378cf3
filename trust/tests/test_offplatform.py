"""The maintained list of off-platform payment phrases: every entry is pinned by an example, in Chinese and
English, with the usual evasions (spaces, punctuation, full-width letters, case), and ordinary talk is not
flagged."""

from __future__ import annotations

import re

import pytest

from trust.offplatform import CHINESE, ENGLISH, find_offplatform_requests, is_offplatform_request

FLAGGED_CHINESE = [
    ("我们私下转账吧，比较快", "私下转账"),
    ("私下交易可以便宜点", "私下交易"),
    ("线下付款就行", "线下付款"),
    ("这单平台外交易", "平台外交易"),
    ("绕过平台直接做", "绕过平台"),
    ("不走平台，省事", "不走平台"),
    ("你直接转账给我", "直接转账给我"),
    ("打到我的银行卡上", "打到我的银行卡"),
    ("支付宝转我就行", "支付宝转我"),
    ("转我支付宝吧", "转我支付宝"),
    ("当面交易更放心", "当面交易"),
    ("帮你省掉平台的手续费", "省掉平台的手续费"),
    ("加我微信详聊", "加我微信"),
    ("加 微 信 吧", "加微信"),
    ("加·V·信", "加v信"),
    ("加VX：abc", "加vx"),
    ("我微信号是 opc2026", "微信号"),
    ("手机号 139 1234 5678 联系", "手机号13912345678"),
]

FLAGGED_ENGLISH = [
    ("Can we do a private transfer instead?", "private transfer"),
    ("Just pay me directly, it's faster", "pay me directly"),
    ("Please pay in cash when we meet", "pay in cash"),
    ("Let's go outside the platform for this one", "outside the platform"),
    ("We can bypass the escrow", "bypass the escrow"),
    ("an off-platform deal", "off platform"),
    ("Offline payment is fine", "offline payment"),
    ("Send the money directly to my account", "send the money directly to my"),
    ("bank transfer to my company", "bank transfer to my"),
    ("Here are my bank account details", "my bank account details"),
    ("Add me on WeChat", "add me on wechat"),
    ("WhatsApp me tonight", "whatsapp me"),
    ("and we skip the platform fee", "skip the platform fee"),
]

HARMLESS = [
    "请通过平台托管付款，验收后放款。",
    "我们线下开会讨论一下脚本。",
    "微信群里大家都在讨论这个项目。",
    "第一阶段交付：分镜脚本和样片。",
    "The client pays into escrow through the platform.",
    "Please pay via the platform escrow as usual.",
    "We shoot off site next week.",
    "Offline rendering takes two days.",
    "",
]


@pytest.mark.parametrize(("text", "phrase"), FLAGGED_CHINESE)
def test_chinese_phrases_are_flagged(text: str, phrase: str) -> None:
    assert phrase in find_offplatform_requests(text)
    assert is_offplatform_request(text)


@pytest.mark.parametrize(("text", "phrase"), FLAGGED_ENGLISH)
def test_english_phrases_are_flagged(text: str, phrase: str) -> None:
    assert phrase in find_offplatform_requests(text)


@pytest.mark.parametrize("text", HARMLESS)
def test_ordinary_talk_is_not_flagged(text: str) -> None:
    assert find_offplatform_requests(text) == []


def test_evasions_do_not_hide_a_phrase() -> None:
    assert find_offplatform_requests("私-下-转-账") == ["私下转账"]
    assert find_offplatform_requests("ＰＲＩＶＡＴＥ　ＴＲＡＮＳＦＥＲ") == ["private transfer"]  # full width
    assert find_offplatform_requests("PAY   ME\nDIRECTLY") == ["pay me directly"]


def test_mixed_message_lists_each_phrase_once_in_order() -> None:
    text = "私下转账吧，加我微信。Or a private transfer — 私下转账 also fine."
    assert find_offplatform_requests(text) == ["私下转账", "加我微信", "private transfer"]


def test_every_list_entry_is_pinned_by_an_example() -> None:
    examples = [t for t, _p in FLAGGED_CHINESE]
    for pattern in CHINESE:
        compiled = re.compile(pattern)
        assert any(compiled.search(find_compact(t)) for t in examples), pattern
    english = [t for t, _p in FLAGGED_ENGLISH]
    for pattern in ENGLISH:
        compiled = re.compile(pattern)
        assert any(compiled.search(t.lower().replace("-", " ")) for t in english), pattern


def find_compact(text: str) -> str:
    from trust.offplatform import _normalise

    return _normalise(text)[0]
