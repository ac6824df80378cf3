"""Benchmark: the contract reviewer (rules + shipped classifier) on the held-out clauses of the labelled set.

    python bench/contracts.py [--split held-out|eval|blind|train|all] [--rules-only] [--misses]

The labelled set ``contracts/review/data/clauses.jsonl`` has three splits, so that the score is not measured on
what the reviewer was built on:

- ``train``: the rules in ``rules.yaml`` were written against these clauses and the classifier is fitted on
  them (its decision threshold by 5-fold cross-validation inside this split). Scores here are optimistic.
- ``eval``: held out from the start; the training script never reads it and rule examples may not copy it (a
  test checks both).
- ``blind``: 102 clauses written later by a second author from the category definitions alone, without looking
  at the rule patterns, after the reviewer was frozen; nothing in the rules or the model was changed after
  scoring it. It checks that ``eval`` was not overfitted by hand.

Every clause of ``contracts/review/data/clauses.jsonl`` in the split is reviewed on its own (as a one-clause
text); a prediction is a (clause, category) pair. Precision, recall and F1 are micro-averaged over those pairs
(clauses with no risk count through their false positives). ``seconds_per_page`` is the review time of all the
clauses divided by their length in pages (1,500 characters a page, the same estimate as uploads); loading the
rules, the model and jieba's dictionary happens once before timing. The default, ``held-out``, is ``eval`` and
``blind`` together. No Django needed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts.review.engine import categories_of
from contracts.review.train import Example, load_examples

CHARS_PER_PAGE = 1500


def evaluate(examples: list[Example], *, use_model: bool = True) -> dict[str, object]:
    categories_of("预热：甲方有权随时解除合同。", use_model=use_model)  # load rules, model and jieba
    tp = fp = fn = 0
    misses: list[tuple[str, str, list[str], list[str]]] = []
    started = time.perf_counter()
    predictions = [categories_of(e.text, use_model=use_model) for e in examples]
    seconds = time.perf_counter() - started
    for example, predicted in zip(examples, predictions, strict=True):
        gold = set(example.labels)
        tp += len(gold & predicted)
        fp += len(predicted - gold)
        fn += len(gold - predicted)
        if gold != predicted:
            misses.append((example.id, example.text, sorted(gold), sorted(predicted)))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    pages = sum(len(e.text) for e in examples) / CHARS_PER_PAGE
    return {
        "clauses": len(examples),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "seconds_per_page": seconds / pages if pages else 0.0,
        "misses": misses,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", choices=["held-out", "eval", "blind", "train", "all"], default="held-out")
    parser.add_argument("--rules-only", action="store_true", help="without the classifier")
    parser.add_argument("--misses", action="store_true", help="list the clauses predicted wrongly")
    args = parser.parse_args(argv)
    if args.split == "held-out":
        examples = load_examples(split="eval") + load_examples(split="blind")
    else:
        examples = load_examples(split=None if args.split == "all" else args.split)
    result = evaluate(examples, use_model=not args.rules_only)
    if args.misses:
        for clause_id, text, gold, predicted in result["misses"]:  # type: ignore[attr-defined]
            print(
                f"{clause_id}\tgold={','.join(gold) or '-'}\tpredicted={','.join(predicted) or '-'}\t{text}"
            )
    print(
        f"contracts: clauses={result['clauses']} precision={result['precision']:.3f} "
        f"recall={result['recall']:.3f} f1={result['f1']:.3f} seconds_per_page={result['seconds_per_page']:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
