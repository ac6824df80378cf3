"""Local token counts, used to reserve before a request and to estimate when the upstream reports no usage.

tiktoken would need its BPE files from the internet, so this is an approximation: ASCII text ~4 characters
per token, CJK characters ~1 token each (most Chinese-capable tokenizers use 0.6–1.5), other non-ASCII ~1
token per 2 characters, plus OpenAI's per-message overhead. Every count made here is marked ``estimated``
wherever it is recorded.
"""

from __future__ import annotations

import math
from typing import Any

PER_MESSAGE_OVERHEAD = 4
REPLY_PRIMING = 3
IMAGE_TOKENS = 765  # a high-detail 512×512 tile set; images are rare on this gateway


def _is_cjk(code: int) -> bool:
    return (
        0x3040 <= code <= 0x30FF  # kana
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xAC00 <= code <= 0xD7AF  # hangul
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
        or 0x3000 <= code <= 0x303F  # CJK punctuation
        or 0x20000 <= code <= 0x2FFFF
    )


def count_text(text: str) -> int:
    if not text:
        return 0
    ascii_chars = cjk = other = 0
    for char in text:
        code = ord(char)
        if code < 128:
            ascii_chars += 1
        elif _is_cjk(code):
            cjk += 1
        else:
            other += 1
    return math.ceil(ascii_chars / 4) + cjk + math.ceil(other / 2)


def _count_content(content: Any) -> int:
    if isinstance(content, str):
        return count_text(content)
    if isinstance(content, list):
        total = 0
        for part in content:
            if isinstance(part, dict):
                if part.get("type") == "text":
                    total += count_text(str(part.get("text", "")))
                elif part.get("type") in {"image_url", "input_image"}:
                    total += IMAGE_TOKENS
                else:
                    total += count_text(str(part))
            else:
                total += count_text(str(part))
        return total
    if content is None:
        return 0
    return count_text(str(content))


def count_messages(messages: list[Any], tools: Any = None) -> int:
    total = REPLY_PRIMING
    for message in messages:
        total += PER_MESSAGE_OVERHEAD
        if isinstance(message, dict):
            total += _count_content(message.get("content"))
            total += count_text(str(message.get("name") or ""))
            if message.get("tool_calls"):
                total += count_text(str(message["tool_calls"]))
        else:
            total += count_text(str(message))
    if tools:
        total += count_text(str(tools))
    return total


def count_embedding_input(value: Any) -> int:
    if isinstance(value, str):
        return count_text(value)
    if isinstance(value, list):
        if value and all(isinstance(item, int) for item in value):  # one pre-tokenised input
            return len(value)
        return sum(count_embedding_input(item) for item in value)
    return count_text(str(value))
