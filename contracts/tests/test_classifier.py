"""The shipped classifier: numbers only (no pickle), small, reproducible from the labelled set with the fixed
seed, and its numpy prediction path computes exactly what scikit-learn computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from contracts.review import classifier, train


def test_shipped_model_is_small_and_loads_without_pickle() -> None:
    assert classifier.MODEL_FILE.stat().st_size < 5 * 1024 * 1024
    model = classifier.load_model()
    assert list(model.categories) == train.learnt_categories()
    assert "liquidated_damages" not in model.categories  # needs the computed ratio: rules only
    assert model.weights.shape == (sum(len(s.vocabulary) for s in model.spaces), len(model.categories))


def test_numpy_prediction_equals_scikit_learn(tmp_path: Path) -> None:
    examples = train.load_examples(split="train")[::4]
    categories = ["ip_assignment", "exclusivity", "jurisdiction"]
    fitted = train.train(examples, categories)
    reordered = train._reordered(fitted)
    path = tmp_path / "model.npz"
    classifier.save(
        path,
        version="test",
        categories=categories,
        spaces=reordered["spaces"],
        weights=reordered["weights"],
        intercepts=reordered["intercepts"],
        thresholds=reordered["thresholds"],
    )
    model = classifier.load_model(path)
    texts = ["乙方将作品的著作权全部转让给甲方。", "Disputes go to the courts of New York.", "无关的句子"]
    expected = train._transform(fitted["vectorisers"], texts).toarray()
    # columns of the saved model are sorted by term within each space, like scikit-learn's vocabulary
    for text, row in zip(texts, expected, strict=True):
        columns, values = model.vectorise(text)
        dense = np.zeros(row.shape)
        dense[columns] = values
        assert np.allclose(dense, row, atol=1e-6)
    scores = model.scores(texts[0])
    raw = expected[0] @ fitted["weights"] + fitted["intercepts"]
    assert np.allclose(scores, raw, atol=1e-4)


def test_training_is_reproducible_and_the_shipped_model_is_current() -> None:
    assert train.main(["--check"]) == 0


def test_training_never_reads_the_evaluation_split() -> None:
    train_ids = {e.id for e in train.load_examples(split="train")}
    eval_ids = {e.id for e in train.load_examples(split="eval")}
    blind_ids = {e.id for e in train.load_examples(split="blind")}
    assert train_ids and eval_ids and blind_ids
    assert not train_ids & eval_ids and not train_ids & blind_ids and not eval_ids & blind_ids
    train_texts = {e.text for e in train.load_examples(split="train")}
    held_out = train.load_examples(split="eval") + train.load_examples(split="blind")
    assert not {e.text for e in held_out} & train_texts
    assert {e.split for e in train.load_examples()} == {"train", "eval", "blind"}
    everything = train.load_examples()
    assert len(everything) >= 600
    assert {e.lang for e in everything} == {"zh", "en"}
    negatives = [e for e in everything if not e.labels]
    assert len(negatives) >= 150
    assert len(eval_ids) / len(everything) > 0.25
