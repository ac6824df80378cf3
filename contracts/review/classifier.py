"""The shipped clause classifier: TF-IDF (jieba words + character n-grams) → one logistic regression per risk
category. ``train.py`` fits it with scikit-learn and exports only numbers (``data/classifier.npz``: vocabularies,
idf weights, coefficients, intercepts and per-category thresholds), so prediction needs numpy alone and no pickle
is ever loaded.
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from contracts.review.features import ANALYZERS

MODEL_FILE = Path(__file__).parent / "data" / "classifier.npz"


@dataclass(frozen=True)
class Space:
    name: str
    vocabulary: dict[str, int]  # term → column within this space
    idf: np.ndarray
    offset: int  # first column of this space in the weight matrix


@dataclass(frozen=True)
class Model:
    version: str
    categories: tuple[str, ...]
    spaces: tuple[Space, ...]
    weights: np.ndarray  # (features, categories)
    intercepts: np.ndarray  # (categories,)
    thresholds: np.ndarray  # (categories,)

    def vectorise(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Sparse TF-IDF of one text: (columns, values), each space L2-normalised like scikit-learn's
        ``TfidfVectorizer(sublinear_tf=True)``."""
        columns: list[int] = []
        values: list[float] = []
        for space in self.spaces:
            counts = Counter(t for t in ANALYZERS[space.name](text) if t in space.vocabulary)
            if not counts:
                continue
            idx = np.fromiter((space.vocabulary[t] for t in counts), dtype=np.int64, count=len(counts))
            tf = np.fromiter(
                (1.0 + math.log(n) for n in counts.values()), dtype=np.float64, count=len(counts)
            )
            weights = tf * space.idf[idx]
            norm = float(np.sqrt((weights**2).sum()))
            if norm:
                weights /= norm
            columns.extend((idx + space.offset).tolist())
            values.extend(weights.tolist())
        return np.asarray(columns, dtype=np.int64), np.asarray(values, dtype=np.float64)

    def scores(self, text: str) -> np.ndarray:
        """Decision values (log-odds) of every category for ``text``."""
        columns, values = self.vectorise(text)
        if columns.size == 0:
            return self.intercepts.astype(np.float64).copy()
        return values @ self.weights[columns].astype(np.float64) + self.intercepts

    def probabilities(self, text: str) -> dict[str, float]:
        scores = self.scores(text)
        probs = 1.0 / (1.0 + np.exp(-scores))
        return {c: float(p) for c, p in zip(self.categories, probs, strict=True)}

    def predict(self, text: str) -> dict[str, float]:
        """Categories whose probability reaches their threshold, with the probability."""
        probs = self.probabilities(text)
        return {
            c: p for c, p, t in zip(self.categories, probs.values(), self.thresholds, strict=True) if p >= t
        }


def save(path: Path, *, version: str, categories: list[str], spaces: list[tuple[str, dict[str, int], np.ndarray]],
         weights: np.ndarray, intercepts: np.ndarray, thresholds: np.ndarray) -> None:  # fmt: skip
    meta = {
        "version": version,
        "categories": categories,
        "spaces": [
            {"name": name, "terms": sorted(vocab, key=vocab.__getitem__)} for name, vocab, _ in spaces
        ],
    }
    arrays: dict[str, Any] = {f"idf_{name}": idf.astype(np.float32) for name, _, idf in spaces}
    arrays.update(
        meta=np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
        weights=weights.astype(np.float32),
        intercepts=intercepts.astype(np.float32),
        thresholds=thresholds.astype(np.float32),
    )
    np.savez_compressed(path, **arrays)


def load_model(path: Path = MODEL_FILE) -> Model:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(bytes(data["meta"]).decode("utf-8"))
        spaces: list[Space] = []
        offset = 0
        for raw in meta["spaces"]:
            terms = raw["terms"]
            spaces.append(
                Space(
                    name=raw["name"],
                    vocabulary={t: i for i, t in enumerate(terms)},
                    idf=data[f"idf_{raw['name']}"].astype(np.float64),
                    offset=offset,
                )
            )
            offset += len(terms)
        return Model(
            version=str(meta["version"]),
            categories=tuple(meta["categories"]),
            spaces=tuple(spaces),
            weights=np.ascontiguousarray(data["weights"]),
            intercepts=data["intercepts"].astype(np.float64),
            thresholds=data["thresholds"].astype(np.float64),
        )


@functools.cache
def model() -> Model | None:
    """The shipped model, or None when it has not been trained (the rules still work alone)."""
    if not MODEL_FILE.exists():
        return None
    return load_model(MODEL_FILE)
