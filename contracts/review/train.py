"""Train the clause classifier on the *train* split of ``data/clauses.jsonl`` and write ``data/classifier.npz``.

    python -m contracts.review.train            # writes the model, prints a summary
    python -m contracts.review.train --check    # trains in memory and fails if the shipped model differs

Reproducible: a fixed seed, deterministic solvers and sorted vocabularies give the same numbers on every run.
The *eval* split is never read here (``bench/contracts.py`` measures on it). Categories whose rules need
numbers or the whole document (``classifier: false`` in ``rules.yaml``) are not learnt.

The classifier only raises a category when the clause contains one of the category's cue words (``cues`` in
rules.yaml); the decision threshold is chosen by 5-fold cross-validation on the train split: the one value (kept
within 0.3–0.8) that maximises micro-F1 of the cue-gated out-of-fold probabilities.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from contracts.review.classifier import MODEL_FILE, load_model, save
from contracts.review.features import ANALYZERS

DATA_FILE = Path(__file__).parent / "data" / "clauses.jsonl"
SEED = 20260315
C = 8.0
MIN_DF = 2
THRESHOLD_RANGE = (0.3, 0.8)


@dataclass(frozen=True)
class Example:
    id: str
    lang: str
    text: str
    labels: tuple[str, ...]
    split: str


def load_examples(path: Path = DATA_FILE, split: str | None = None) -> list[Example]:
    out: list[Example] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            raw = json.loads(line)
            example = Example(raw["id"], raw["lang"], raw["text"], tuple(raw["labels"]), raw["split"])
            if split is None or example.split == split:
                out.append(example)
    return out


def learnt_categories() -> list[str]:
    from contracts.review.rules import library

    return [code for code, category in library().categories.items() if category.classifier]


@functools.cache
def _tokens(name: str, text: str) -> tuple[str, ...]:
    return tuple(ANALYZERS[name](text))  # cross-validation tokenises every clause several times


def _vectorisers() -> list[Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return [
        TfidfVectorizer(
            analyzer=functools.partial(_tokens, name), sublinear_tf=True, min_df=MIN_DF, dtype=np.float64
        )
        for name in ANALYZERS
    ]


def _fit_matrix(texts: list[str]) -> tuple[list[Any], Any]:
    from scipy.sparse import hstack

    vectorisers = _vectorisers()
    blocks = [v.fit_transform(texts) for v in vectorisers]
    return vectorisers, hstack(blocks).tocsr()


def _transform(vectorisers: list[Any], texts: list[str]) -> Any:
    from scipy.sparse import hstack

    return hstack([v.transform(texts) for v in vectorisers]).tocsr()


def _classifier() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        C=C, class_weight="balanced", solver="liblinear", random_state=SEED, max_iter=1000
    )


def _cue_mask(texts: list[str], categories: list[str]) -> np.ndarray:
    from contracts.review.rules import library

    lib = library()
    return np.array([[lib.categories[c].cued(t) for c in categories] for t in texts], dtype=bool)


def _best_threshold(targets: np.ndarray, probabilities: np.ndarray, cued: np.ndarray) -> float:
    """The single threshold that maximises micro-F1 of the cue-gated out-of-fold predictions."""
    low, high = THRESHOLD_RANGE
    best, best_f1 = 0.5, -1.0
    positive = targets == 1
    for t in np.arange(low, high + 1e-9, 0.05):
        pred = (probabilities >= t) & cued
        tp = float((pred & positive).sum())
        fp = float((pred & ~positive).sum())
        fn = float((~pred & positive).sum())
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 > best_f1 + 1e-9:
            best, best_f1 = float(round(t, 2)), f1
    return best


def _thresholds(texts: list[str], targets: np.ndarray, categories: list[str]) -> np.ndarray:
    from sklearn.model_selection import KFold

    folds = KFold(n_splits=5, shuffle=True, random_state=SEED)
    oof = np.zeros(targets.shape, dtype=np.float64)
    for train_idx, test_idx in folds.split(texts):
        vectorisers, x_train = _fit_matrix([texts[i] for i in train_idx])
        x_test = _transform(vectorisers, [texts[i] for i in test_idx])
        for j in range(targets.shape[1]):
            y = targets[train_idx, j]
            if y.sum() == 0:
                continue
            oof[test_idx, j] = _classifier().fit(x_train, y).predict_proba(x_test)[:, 1]
    threshold = _best_threshold(targets, oof, _cue_mask(texts, categories))
    return np.full(targets.shape[1], threshold)


def train(examples: list[Example], categories: list[str]) -> dict[str, Any]:
    """Fit on ``examples``; returns the arrays ``save`` writes (and the fitted vectorisers, for tests)."""
    texts = [e.text for e in examples]
    targets = np.array([[1 if c in e.labels else 0 for c in categories] for e in examples], dtype=np.int64)
    vectorisers, x = _fit_matrix(texts)
    weights = np.zeros((x.shape[1], len(categories)))
    intercepts = np.zeros(len(categories))
    for j in range(len(categories)):
        if targets[:, j].sum() == 0:
            intercepts[j] = -20.0  # never predicted
            continue
        model = _classifier().fit(x, targets[:, j])
        weights[:, j] = model.coef_[0]
        intercepts[j] = model.intercept_[0]
    spaces = [
        (name, {str(t): int(i) for t, i in v.vocabulary_.items()}, v.idf_)
        for name, v in zip(ANALYZERS, vectorisers, strict=True)
    ]
    return {
        "categories": categories,
        "spaces": spaces,
        "weights": weights,
        "intercepts": intercepts,
        "thresholds": _thresholds(texts, targets, categories),
        "vectorisers": vectorisers,
    }


def _reordered(fitted: dict[str, Any]) -> dict[str, Any]:
    """Columns sorted by term within each space (vocabularies from scikit-learn are already sorted; this keeps
    the file independent of that detail)."""
    weights = fitted["weights"]
    blocks = []
    spaces = []
    offset = 0
    for name, vocab, idf in fitted["spaces"]:
        order = sorted(vocab, key=lambda t: t)
        columns = np.array([vocab[t] for t in order], dtype=np.int64)
        blocks.append(weights[offset + columns])
        spaces.append((name, {t: i for i, t in enumerate(order)}, idf[columns]))
        offset += len(vocab)
    return {**fitted, "spaces": spaces, "weights": np.vstack(blocks)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="verify the shipped model instead of writing it")
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    args = parser.parse_args(argv)

    examples = load_examples(split="train")
    categories = learnt_categories()
    fitted = _reordered(train(examples, categories))
    version = f"clauses-{len(examples)}-seed-{SEED}"
    if args.check:
        shipped = load_model(args.out)
        same = (
            shipped.categories == tuple(categories)
            and np.allclose(shipped.weights, fitted["weights"].astype(np.float32), atol=1e-5)
            and np.allclose(shipped.thresholds, fitted["thresholds"], atol=1e-6)
        )
        print("classifier: shipped model matches the training data" if same else "classifier: MODEL IS STALE")
        return 0 if same else 1
    save(
        args.out,
        version=version,
        categories=categories,
        spaces=fitted["spaces"],
        weights=fitted["weights"],
        intercepts=fitted["intercepts"],
        thresholds=fitted["thresholds"],
    )
    size = args.out.stat().st_size
    print(
        f"classifier: {len(examples)} train clauses, {len(categories)} categories, "
        f"{fitted['weights'].shape[0]} features, {size / 1024:.0f} KiB → {args.out}"
    )
    print(
        f"classifier: cue-gated decision threshold {float(fitted['thresholds'][0]):.2f} (5-fold CV on train)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
