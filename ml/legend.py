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

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from rasterio.features import rasterize
from rasterio.warp import transform_geom
from shapely.geometry import shape
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from .accuracy import Assessment, assess
from .errors import PermanentError
from .grid import Grid

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


def linear_classifier(seed: int = 0) -> Pipeline:
    """The head every legend model maps with: standardised features, multinomial logistic regression (L2, C = 1)
    — a linear probe, folded into the network's graph when mapping (`ml.legend_model`)."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed))


def classifier(seed: int = 0) -> HistGradientBoostingClassifier:
    """Gradient-boosted trees (200 rounds, early stopping off: reproducible), with an
    L2 penalty on leaf values — without it, on features that separate some classes perfectly (a network's
    probabilities), the multi-class boosting diverged: 62 % training accuracy on Dynamic World's own
    probabilities against its own classes (bench/bench_legend.py), 100 % with it."""
    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, l2_regularization=1.0,
                                          early_stopping=False, random_state=seed)


# The classifiers a legend can be cross-validated with: "linear" maps (ml.legend_model); "trees" is the comparison
# bench/bench_legend.py measures (accuracy and the cost of predicting every pixel).
HEADS = {"linear": linear_classifier, "trees": classifier}


def head(name: str) -> Callable[[int], Pipeline | HistGradientBoostingClassifier]:
    """The classifier factory called `name`; LegendError naming those there are."""
    if name not in HEADS:
        raise LegendError(f"unknown head {name!r}; one of {', '.join(HEADS)}")
    return HEADS[name]


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
                   k: int = 5, seed: int = 0, block_m: float = 0.0, head_name: str = "linear") -> CrossValidation:
    """Blocked k-fold cross-validation of the head `head_name` on (features, labels): every pixel predicted by a
    model that never saw its block."""
    check_labels(labels, classes)
    make = head(head_name)
    fold = folds(block_ids, k, seed)
    predictions = np.zeros_like(labels)
    for f in range(k):
        test = fold == f
        train = ~test
        if len(np.unique(labels[train])) < 2:
            predictions[test] = labels[train][0]
            continue
        model = make(seed).fit(features[train], labels[train])
        predictions[test] = model.predict(features[test])
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), np.int64)
    np.add.at(counts, (np.vectorize(index.get)(predictions), np.vectorize(index.get)(labels)), 1)
    assessment = assess(counts, list(classes))
    f1 = [2 * u * p / (u + p) if u is not None and p is not None and u + p > 0 else None
          for u, p in zip(assessment.users, assessment.producers)]
    return CrossValidation(list(classes), assessment, f1, k, len(np.unique(block_ids)), block_m, predictions)


def train(features: np.ndarray, labels: np.ndarray, classes: Sequence[int], seed: int = 0,
          head_name: str = "linear") -> Pipeline | HistGradientBoostingClassifier:
    """The legend's classifier, fitted on every labelled pixel."""
    check_labels(labels, classes)
    return head(head_name)(seed).fit(features, labels)


def crosswalked(codes: np.ndarray, crosswalk: dict[int, int]) -> np.ndarray:
    """A legend's codes as simplified-IGBP codes by the user's crosswalk; 0 where a class has none."""
    table = np.zeros(max([256, *[c + 1 for c in crosswalk]]), np.int64)
    for own, dfc in crosswalk.items():
        table[own] = dfc
    return table[np.asarray(codes, np.int64)]


def comparison(labels: np.ndarray, legend_predictions: np.ndarray, global_codes: np.ndarray,
               crosswalk: dict[int, int], global_name: str) -> dict:
    """The legend model's out-of-fold predictions and the global model's map against the same labelled pixels, in
    simplified-IGBP codes through the user's crosswalk (pixels of classes without a crosswalk left out): overall
    accuracy and per-class accuracies of each, side by side. Accuracies of these labels, not area estimates."""
    reference = crosswalked(labels, crosswalk)
    used = reference > 0
    if not used.any():
        return {"pixels": 0, "note": "no class of the legend maps to a simplified-IGBP class: nothing to compare"}
    ours = crosswalked(legend_predictions[used], crosswalk)
    theirs = np.asarray(global_codes)[used]
    reference = reference[used]
    codes = sorted({int(c) for c in np.concatenate([reference, ours, theirs]) if c > 0})
    out = {"pixels": int(used.sum()), "reference": "the user's labelled pixels, through the user's crosswalk",
           "classes": codes}
    for key, predicted, name in (("legend", ours, "this legend model (out-of-fold, spatially blocked)"),
                                 ("global", theirs, global_name)):
        index = {c: i for i, c in enumerate(codes)}
        counts = np.zeros((len(codes), len(codes)), np.int64)
        hit = predicted > 0
        np.add.at(counts, (np.vectorize(index.get)(predicted[hit]), np.vectorize(index.get)(reference[hit])), 1)
        a = assess(counts, codes)
        out[key] = {"model": name, "overall_accuracy": round(float((predicted == reference).mean()), 6),
                    "unmapped_pixels": int((~hit).sum()),
                    "producers": [None if p is None else round(p, 6) for p in a.producers],
                    "users": [None if u is None else round(u, 6) for u in a.users]}
    return out


def tiles(height: int, width: int, tile: int, margin: int) -> list[tuple[int, int]]:
    """The (row, col) origins of the interiors of side `tile` − 2·`margin` covering a height × width image; each
    interior is read with `margin` pixels of context around it."""
    step = max(1, tile - 2 * margin)
    return [(y, x) for y in range(0, height, step) for x in range(0, width, step)]


def sample_features(image: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                    features: Callable[[np.ndarray], np.ndarray], *, tile: int,
                    margin: int) -> np.ndarray:
    """The features at pixels (rows, cols) of an (H, W, bands) image: `features` (a prepared-batch function,
    (1, tile, tile, bands) → (1, tile, tile, F)) run on every tile whose interior holds a sample, the image
    reflected at its edges; (samples, F)."""
    h, w, _ = image.shape
    step = max(1, tile - 2 * margin)
    out: np.ndarray | None = None
    padded = np.pad(image, ((margin, tile), (margin, tile), (0, 0)), mode="reflect")
    for y, x in tiles(h, w, tile, margin):
        inside = (rows >= y) & (rows < y + step) & (cols >= x) & (cols < x + step)
        if not inside.any():
            continue
        block = padded[y:y + tile, x:x + tile][None]
        values = features(block)[0]
        if out is None:
            out = np.zeros((len(rows), values.shape[-1]), np.float32)
        out[inside] = values[rows[inside] - y + margin, cols[inside] - x + margin]
    if out is None:
        raise LegendError("no labelled pixel lies on the image")
    return out


@dataclass
class Pixels:
    """The labelled pixels of a legend's samples on an image grid."""

    rows: np.ndarray
    cols: np.ndarray
    labels: np.ndarray
    held_out: np.ndarray  # bool: part of the held-out assessment sample
    sample: np.ndarray    # the index of the sample each pixel comes from
    dropped: dict         # samples with no usable pixel, by reason: outside the image, cloud or no data


def sample_pixels(geometries: Sequence[dict], codes: Sequence[int], held_out: Sequence[bool], grid: Grid,
                  usable: np.ndarray,
                  per_polygon: int, seed: int = 0) -> Pixels:
    """The pixels of each sample (GeoJSON in lon/lat) on `grid` (CRS, transform, width, height): a point's pixel,
    up to `per_polygon` pixels of a polygon (drawn at random, `seed`; the pixel under its centroid when none has
    its centre inside), only where `usable` (clear imagery) is true."""
    rng = np.random.default_rng(seed)
    rows, cols, labels, held, which = [], [], [], [], []
    dropped = {"outside": 0, "unusable": 0}
    inverse = ~grid.transform
    for k, (geometry, code, out) in enumerate(zip(geometries, codes, held_out)):
        projected = transform_geom("EPSG:4326", grid.crs, geometry)
        if projected["type"] == "Point":
            x, y = projected["coordinates"][:2]
            c, r = inverse * (x, y)
            r_, c_ = np.array([int(np.floor(r))]), np.array([int(np.floor(c))])
        else:
            mask = rasterize([(projected, 1)], out_shape=(grid.height, grid.width), transform=grid.transform,
                             fill=0, dtype="uint8")
            r_, c_ = np.nonzero(mask)
            if not len(r_):  # a polygon smaller than a pixel: the pixel under its centroid
                centre = shape(projected).centroid
                c, r = inverse * (centre.x, centre.y)
                r_, c_ = np.array([int(np.floor(r))]), np.array([int(np.floor(c))])
        inside = (r_ >= 0) & (r_ < grid.height) & (c_ >= 0) & (c_ < grid.width)
        r_, c_ = r_[inside], c_[inside]
        if not len(r_):
            dropped["outside"] += 1
            continue
        ok = usable[r_, c_]
        r_, c_ = r_[ok], c_[ok]
        if not len(r_):
            dropped["unusable"] += 1
            continue
        if len(r_) > per_polygon:
            pick = rng.choice(len(r_), per_polygon, replace=False)
            r_, c_ = r_[pick], c_[pick]
        rows.append(r_)
        cols.append(c_)
        labels.append(np.full(len(r_), code, np.int64))
        held.append(np.full(len(r_), bool(out)))
        which.append(np.full(len(r_), k, np.int64))
    if not rows:
        empty = np.zeros(0, np.int64)
        return Pixels(empty, empty, empty, np.zeros(0, bool), empty, dropped)
    return Pixels(np.concatenate(rows), np.concatenate(cols), np.concatenate(labels), np.concatenate(held),
                  np.concatenate(which), dropped)
