"""Plain contract text → clauses.

A clause starts at a line that begins with a numbering marker: 第X条 / 第X章, 一、, （一）, 1.1 / 1.1.1,
1. / 1、, （1）, ①, Article 1 / Section 2.3 / Clause 4, (a), or a bullet that ``extract`` put before a
paragraph numbered by Word. Lines without a marker continue the current clause. A short marked line that
only names a topic ("第三条 知识产权") and is directly followed by another marked line becomes the heading of
the clauses under it instead of a clause of its own. Text pasted as one long paragraph is first broken before
each inline "第X条" / "Article N". Very long clauses are cut at sentence ends so findings stay local.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CN_NUM = "一二三四五六七八九十百千零〇两"
MAX_CLAUSE_CHARS = 1200

# (pattern, level): level orders markers from outer to inner; it only matters for headings.
_MARKERS: list[tuple[re.Pattern[str], int]] = [
    (re.compile(rf"^第\s*[{CN_NUM}\d]+\s*[章节部分编]"), 0),
    (re.compile(rf"^第\s*[{CN_NUM}\d]+\s*条"), 1),
    (re.compile(r"^(?:ARTICLE|Article|SECTION|Section|CLAUSE|Clause)\s+(?:[IVXLC]+|\d+(?:\.\d+)*)\b\.?"), 1),
    (re.compile(rf"^[{CN_NUM}]+\s*[、．.]"), 1),
    (re.compile(rf"^[（(]\s*[{CN_NUM}]+\s*[）)]"), 2),
    (re.compile(r"^\d{1,3}(?:\.\d{1,3}){1,3}\.?(?=\s|[\u4e00-\u9fffA-Za-z（(“\"])(?![万亿元%％])"), 2),
    (re.compile(r"^\d{1,3}\s*[、．]|^\d{1,3}\.(?=\s|[\u4e00-\u9fff])(?!\d)|^\d{1,3}\)(?=\s)"), 2),
    (re.compile(r"^[（(]\s*\d{1,3}\s*[）)]"), 3),
    (re.compile(r"^[①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳]"), 3),
    (re.compile(r"^\(\s*(?:[a-z]|[ivx]{1,4})\s*\)|^[a-z]\)(?=\s)"), 3),
    (re.compile(r"^[•·▪■●◆\-*]\s+"), 3),
]
_INLINE_BREAK = re.compile(
    rf"(?<=[。；;：:!！?？\s])(?=第\s*[{CN_NUM}\d]+\s*条|(?:Article|ARTICLE|Section|SECTION)\s+\d+\b)"
)
_SENTENCE_END = re.compile(r"(?<=[。；;！？!?])|(?<=\.)\s+(?=[A-Z(“\"])")


@dataclass(frozen=True)
class Clause:
    index: int
    number: str  # the marker as written ("第三条", "3.1", "(a)"), "" for the preamble
    heading: str  # the topic line above it, if any ("第三条 知识产权")
    text: str  # the clause as written, marker included


def marker_at_start(line: str) -> tuple[str, int] | None:
    """The numbering marker a line starts with and its level, or None."""
    stripped = line.lstrip()
    for pattern, level in _MARKERS:
        m = pattern.match(stripped)
        if m:
            return m.group(0).strip(), level
    return None


def _is_heading(body: str) -> bool:
    body = body.strip()
    return 0 < len(body) <= 30 and not re.search(r"[。；;，,！？!?]|\.\s+\S", body)


def split_clauses(text: str) -> list[Clause]:
    lines = [ln.strip() for ln in _INLINE_BREAK.sub("\n", text).split("\n")]
    lines = [ln for ln in lines if ln]
    blocks: list[tuple[str, int, list[str]]] = []  # (number, level, lines)
    for line in lines:
        marker = marker_at_start(line)
        if marker is None and blocks:
            blocks[-1][2].append(line)
        elif marker is None:
            blocks.append(("", 99, [line]))
        else:
            blocks.append((marker[0], marker[1], [line]))

    clauses: list[Clause] = []
    headings: list[tuple[int, str]] = []  # stack of (level, heading line)
    for i, (number, level, block_lines) in enumerate(blocks):
        while headings and headings[-1][0] >= level:
            headings.pop()
        first = block_lines[0]
        body = first[len(number) :] if number and first.startswith(number) else first
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        if (
            number
            and len(block_lines) == 1
            and _is_heading(body)
            and following is not None
            and following[0]
            and following[1] >= level
        ):
            headings.append((level, first))
            continue
        heading = headings[-1][1] if headings else ""
        for chunk in _chunks("\n".join(block_lines)):
            clauses.append(Clause(index=len(clauses), number=number, heading=heading, text=chunk))
    return clauses


def _chunks(text: str) -> list[str]:
    if len(text) <= MAX_CLAUSE_CHARS:
        return [text]
    out: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text):
        if current and len(current) + len(sentence) > MAX_CLAUSE_CHARS // 2:
            out.append(current)
            current = ""
        current += sentence
        while len(current) > MAX_CLAUSE_CHARS:  # a single enormous sentence
            out.append(current[:MAX_CLAUSE_CHARS])
            current = current[MAX_CLAUSE_CHARS:]
    if current.strip():
        out.append(current)
    return [c.strip() for c in out if c.strip()]


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of a clause (。；;！？!? and ". " end a sentence; so does a line
    break). Used to keep rule matches and exclusions within one sentence."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in re.finditer(r"[。；;！？!?\n]|\.(?=\s+[A-Z(“\"]|\s*$)", text):
        end = m.end()
        if text[start:end].strip():
            spans.append((start, end))
        start = end
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans
