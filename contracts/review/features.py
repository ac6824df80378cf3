"""Text → features for the clause classifier, shared by training (``train.py``) and prediction
(``classifier.py``) so both see exactly the same tokens.

Two feature spaces, each TF-IDF weighted (sublinear tf) and L2-normalised on its own, then concatenated:
- words: jieba tokens for Chinese, lower-cased word tokens for English, plus adjacent-word bigrams;
- characters: 1–3 character n-grams of the normalised text (robust to segmentation errors and inflection).

The party names (甲方/乙方, Company/Contractor …) are kept: who owes what is most of the meaning of a clause.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import unicodedata
import warnings
from types import ModuleType

_WORD = re.compile(r"[a-z][a-z'\-]*|\d+(?:\.\d+)?%?|[\u4e00-\u9fff]+")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_SPACES = re.compile(r"\s+")
_jieba: ModuleType | None = None
_lock = threading.Lock()


def jieba() -> ModuleType:
    """jieba, imported once (its source has invalid escape sequences: silence the SyntaxWarning that
    ``-W error`` would turn into an import failure) and initialised quietly."""
    global _jieba
    if _jieba is None:
        with _lock:
            if _jieba is None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    import jieba as module
                module.setLogLevel(logging.WARNING)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    module.initialize()
                _jieba = module
    return _jieba


def normalise(text: str) -> str:
    """NFKC (full-width → ASCII), lower case, whitespace squeezed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def is_chinese(text: str) -> bool:
    """Chinese when at least 20 % of the letters are CJK ideographs."""
    letters = sum(1 for ch in text if ch.isalpha())
    return letters > 0 and len(_CJK.findall(text)) / letters >= 0.2


def word_tokens(text: str) -> list[str]:
    text = normalise(text)
    tokens: list[str] = []
    for piece in _WORD.findall(text):
        if _CJK.match(piece):
            tokens.extend(t for t in jieba().lcut(piece, HMM=False) if t.strip())
        else:
            tokens.append(piece)
    bigrams = [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
    return tokens + bigrams


def char_ngrams(text: str, low: int = 1, high: int = 3) -> list[str]:
    text = normalise(text)
    grams: list[str] = []
    for n in range(low, high + 1):
        grams.extend(text[i : i + n] for i in range(len(text) - n + 1))
    return grams


ANALYZERS = {"word": word_tokens, "char": char_ngrams}
