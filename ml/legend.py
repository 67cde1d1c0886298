"""A classifier of a user's own classes (issue 27), trained on the features of their labelled pixels, and its
accuracy measured honestly.

Why blocked: labelled points come in clusters (a field visited, a polygon drawn), and neighbouring pixels look
alike; a random k-fold puts a pixel in the test fold and its twin next door in the training folds, and reports
the accuracy of remembering a place, not of mapping a new one. Here folds are made of whole square blocks of
`block_m` metres (in the image's projected CRS): no block is ever on both sides (`folds`), so a test pixel's
nearest training pixel is at least a block's edge away unless the block boundary runs between them — choose
blocks larger than the range at which the labels look alike (the test shows random folds reporting ~100 % on
labels that are pure spatial noise, blocked folds reporting chance).

The classifier is scikit-learn's `HistGradientBoostingClassifier` (fast to train on 10⁵ samples and hundreds of
features, no scaling needed; predicting every pixel of a map is another matter: docs/BENCHMARKS.md). Accuracy
from the out-of-fold predictions: the confusion counts (rows: predicted, columns: reference, as `ml.accuracy`),
overall accuracy, user's and producer's accuracies and F1 per class — accuracies of these points; area estimates
with intervals need a probability sample (`ml.accuracy.assess`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from .accuracy import Assessment, assess
from .errors import PermanentError

MIN_PER_CLASS = 5  # labelled pixels a class needs to be learnt and assessed at all


class LegendError(PermanentError):
    """The labels cannot train or assess a model (too few of a class, too few blocks)."""


def blocks(x: np.ndarray, y: np.ndarray, block_m: float) -> np.ndarray:
    """The square block (of `block_m` metres, on a grid from the origin) each point falls in, as one integer id."""
    if block_m <= 0:
        raise LegendError("the block size must be positive")
    col = np.floor(np.asarray(x, np.float64) / block_m).astype(np.int64)
    row = np.floor(np.asarray(y, np.float64) / block_m).astype(np.int64)
    return (row << 32) ^ (col & 0xFFFFFFFF)


def folds(block_ids: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """A fold (0 … k−1) per sample such that every block lies in one fold: blocks shuffled (by `seed`), each given
    to the fold with the fewest samples so far, largest blocks first."""
    unique, inverse, sizes = np.unique(block_ids, return_inverse=True, return_counts=True)
    if len(unique) < k:
        raise LegendError(f"{len(unique)} spatial blocks hold the labels; {k}-fold blocked cross-validation needs at "
                          f"least {k}: use smaller blocks, fewer folds, or label more places")
    order = np.random.default_rng(seed).permutation(len(unique))
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of_block = np.empty(len(unique), np.int64)
    load = np.zeros(k, np.int64)
    for b in order:
        f = int(np.argmin(load))
        fold_of_block[b] = f
        load[f] += sizes[b]
    return fold_of_block[inverse]


def classifier(seed: int = 0) -> HistGradientBoostingClassifier:
    """The model every legend trains: gradient-boosted trees (200 rounds, early stopping off: reproducible), with an
    L2 penalty on leaf values — without it, on features that separate some classes perfectly (a network's
    probabilities), the multi-class boosting diverged: 62 % training accuracy on Dynamic World's own
    probabilities against its own classes (bench/bench_legend.py), 100 % with it."""
    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, l2_regularization=1.0,
                                          early_stopping=False, random_state=seed)


@dataclass
class CrossValidation:
    """Out-of-fold accuracy of a legend's classifier."""

    classes: list[int]
    assessment: Assessment
    f1: list[float | None]
    folds: int
    blocks: int
    block_m: float
    predictions: np.ndarray  # out-of-fold, one per sample

    def to_dict(self, names: dict[int, str]) -> dict:
        """JSON-ready, per class with its name."""
        out = self.assessment.to_dict()
        for row, f1 in zip(out["classes"], self.f1):
            row["name"] = names.get(row["code"], str(row["code"]))
            row["f1"] = None if f1 is None else round(f1, 6)
        out.update(folds=self.folds, blocks=self.blocks, block_m=self.block_m,
                   method="spatially blocked cross-validation (whole blocks per fold)")
        return out


def check_labels(labels: np.ndarray, classes: Sequence[int]) -> None:
    """LegendError when a class has fewer than MIN_PER_CLASS labelled pixels."""
    counts = {c: int((labels == c).sum()) for c in classes}
    short = {c: n for c, n in counts.items() if n < MIN_PER_CLASS}
    if short:
        raise LegendError("too few labelled pixels: " + ", ".join(f"class {c} has {n}" for c, n in short.items())
                          + f" (at least {MIN_PER_CLASS} each)")


def cross_validate(features: np.ndarray, labels: np.ndarray, block_ids: np.ndarray, classes: Sequence[int],
                   k: int = 5, seed: int = 0, block_m: float = 0.0) -> CrossValidation:
    """Blocked k-fold cross-validation of `classifier` on (features, labels): every pixel predicted by a model
    that never saw its block."""
    check_labels(labels, classes)
    fold = folds(block_ids, k, seed)
    predictions = np.zeros_like(labels)
    for f in range(k):
        test = fold == f
        train = ~test
        if len(np.unique(labels[train])) < 2:
            predictions[test] = labels[train][0]
            continue
        model = classifier(seed).fit(features[train], labels[train])
        predictions[test] = model.predict(features[test])
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), np.int64)
    np.add.at(counts, (np.vectorize(index.get)(predictions), np.vectorize(index.get)(labels)), 1)
    assessment = assess(counts, list(classes))
    f1 = [2 * u * p / (u + p) if u is not None and p is not None and u + p > 0 else None
          for u, p in zip(assessment.users, assessment.producers)]
    return CrossValidation(list(classes), assessment, f1, k, len(np.unique(block_ids)), block_m, predictions)


def train(features: np.ndarray, labels: np.ndarray, classes: Sequence[int], seed: int = 0) -> HistGradientBoostingClassifier:
    """The legend's classifier, fitted on every labelled pixel."""
    check_labels(labels, classes)
    return classifier(seed).fit(features, labels)
