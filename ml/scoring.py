"""The trusted side of a competition (issue 26, items 3–4): the benchmark's images handed to a sandboxed model, what
it wrote checked, compared with the reference labels, and only aggregate scores kept.

The sandbox never sees a label or an image's name: `prepare` writes each image, cut to the card's bands in its
order and normalised as the card says (`ml.bands`' formulas, ours or Dynamic World's: the sandbox runs none of
our code), as a numbered float32 .npy (0000.npy, 0001.npy, …). What comes back is read here without trusting it — a file
that is not a plain integer .npy of the label's shape, or one missing, is garbage and fails the submission naming
only the number. A pixel predicted 0 or a code outside the benchmark's legend counts as wrong (the metrics'
`outside`), reference pixels of 0 are unlabelled and skipped.

Scores are DFC2020's average accuracy (mean per-class recall, the headline), mIoU, mean F1, OA and Cohen's κ with
per-class IoU, F1, precision and recall and the confusion matrix (`ml.metrics`: the same code every accuracy
report of ours uses). Confidence intervals come from a bootstrap over images — an image's pixels are not
independent, images nearly are — 1,000 resamples, percentile 95 % interval, a fixed seed (the same submission
always gets the same interval).
"""
from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import rasterio

from .bands import band_indexes, file_band_names, normalisation_from_dict
from .classes import IGNORE
from .errors import PermanentError
from .metrics import ConfusionMatrix, Scores, rounded
from .rasterio_io import read_raster

# The leaderboard's metrics: key → (the Scores attribute, its name in words).
METRICS = {"AA": ("average_accuracy", "average accuracy (mean per-class recall, DFC2020's score)"),
           "mIoU": ("mean_iou", "mean intersection over union"),
           "mF1": ("mean_f1", "mean F1"),
           "OA": ("overall_accuracy", "overall accuracy"),
           "kappa": ("kappa", "Cohen's kappa")}
BOOTSTRAP_DRAWS = 1000
BOOTSTRAP_SEED = 2020


class PredictionError(PermanentError):
    """What the sandboxed model wrote is not a prediction of the image it was given."""


def image_name(k: int) -> str:
    """The sandbox's name of the k-th image: a number, nothing of the benchmark's own names."""
    return f"{k:04d}.npy"


def prepare(images: Sequence[Path], card: Mapping, folder: Path) -> list[tuple[int, int]]:
    """Each image (a Sentinel-2 GeoTIFF) cut to the card's bands in their order, normalised as the card says and
    saved as a numbered float32 .npy (bands, H, W) in `folder`; the (height, width) of each."""
    folder.mkdir(parents=True, exist_ok=True)
    normalisation = normalisation_from_dict(card["normalisation"])
    shapes = []
    for k, path in enumerate(images):
        with rasterio.open(path) as src:
            names = file_band_names(src.descriptions, src.count, source=f"image {k}")
        pixels = read_raster(path, band_indexes(names, card["bands"], source=f"image {k}"))
        np.save(folder / image_name(k), np.moveaxis(normalisation.apply(np.moveaxis(pixels, 0, -1)), -1, 0))
        shapes.append(pixels.shape[1:])
    return shapes


def read_prediction(folder: Path, k: int, shape: tuple[int, int]) -> np.ndarray:
    """The k-th prediction written by the sandbox, checked: a plain integer array of `shape`; PredictionError."""
    path = folder / image_name(k)
    if not path.is_file() or path.is_symlink():
        raise PredictionError(f"the model wrote no prediction for image {k}")
    if zipfile.is_zipfile(path):
        raise PredictionError(f"prediction {k} is not a plain .npy array")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise PredictionError(f"prediction {k} is not a readable .npy array ({type(exc).__name__})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "iu":
        raise PredictionError(f"prediction {k} holds {getattr(array, 'dtype', type(array))} values; class codes "
                              "(integers) are expected")
    if array.shape != tuple(shape):
        raise PredictionError(f"prediction {k} has shape {array.shape}; the image is {tuple(shape)}")
    return array


def counts(reference: np.ndarray, prediction: np.ndarray, codes: Sequence[int]) -> ConfusionMatrix:
    """The confusion counts of one image over the legend's `codes` (reference 0 skipped; a prediction outside the
    legend counted as wrong)."""
    lut = np.full(256, IGNORE, np.int64)
    lut[list(codes)] = np.arange(len(codes))
    ref = np.where((reference >= 0) & (reference < 256), reference, 0).astype(np.int64)
    pred = np.where((prediction >= 0) & (prediction < 256), prediction, 0).astype(np.int64)
    return ConfusionMatrix(len(codes), ignore=IGNORE).update(lut[ref], lut[pred])


def _total(matrices: Sequence[ConfusionMatrix]) -> ConfusionMatrix:
    total = ConfusionMatrix(matrices[0].n, ignore=IGNORE)
    for matrix in matrices:
        total.merge(matrix)
    return total


def headline(scores: Scores) -> dict[str, float | None]:
    """The leaderboard's metrics of one set of scores (None where undefined)."""
    return dict(zip(METRICS, rounded([getattr(scores, attribute) for attribute, _ in METRICS.values()])))


def bootstrap(matrices: Sequence[ConfusionMatrix], draws: int = BOOTSTRAP_DRAWS,
              seed: int = BOOTSTRAP_SEED) -> dict[str, list[float | None]] | None:
    """The percentile 95 % interval of each metric over `draws` resamples of the images; None for one image."""
    if len(matrices) < 2:
        return None
    rng = np.random.default_rng(seed)
    k = len(matrices)
    counts, outside = np.stack([m.matrix for m in matrices]), np.stack([m.outside for m in matrices])  # once
    resample = ConfusionMatrix(matrices[0].n, ignore=IGNORE)
    values: dict[str, list[float]] = {key: [] for key in METRICS}
    for _ in range(draws):
        weights = np.bincount(rng.integers(0, k, k), minlength=k)  # how often each image was drawn
        resample.matrix = np.tensordot(weights, counts, axes=1)
        resample.outside = np.tensordot(weights, outside, axes=1)
        scores = resample.scores()
        for key, (attribute, _) in METRICS.items():
            values[key].append(getattr(scores, attribute))
    out: dict[str, list[float | None]] = {}
    for key, series in values.items():
        finite = np.asarray(series)[np.isfinite(series)]
        out[key] = rounded(np.percentile(finite, [2.5, 97.5])) if finite.size else [None, None]
    return out


def score(matrices: Sequence[ConfusionMatrix], legend: Mapping[int, str]) -> dict:
    """Aggregate scores of a set of images: the metrics, their bootstrap intervals, per-class rows and the
    confusion matrix (rows reference, columns prediction, then `outside`: predicted no class of the legend)."""
    total = _total(matrices)
    scores = total.scores()
    codes = list(legend)
    per_class = [{"code": code, "name": legend[code], "support": int(scores.support[i]),
                  **dict(zip(("IoU", "F1", "precision", "recall"),
                             rounded([scores.iou[i], scores.f1[i], scores.precision[i], scores.recall[i]])))}
                 for i, code in enumerate(codes)]
    return {"images": len(matrices), "pixels": int(total.matrix.sum() + total.outside.sum()),
            "metrics": headline(scores), "ci95": bootstrap(matrices), "per_class": per_class,
            "confusion_matrix": {"classes": codes, "rows": "reference", "columns": "prediction, then outside",
                                 "counts": [[*map(int, row), int(out)]
                                            for row, out in zip(total.matrix, total.outside)]}}
