"""ml.scoring, the trusted scorer (issue 26): unlabelled pixels are skipped, a prediction outside the legend counts
as wrong, κ and the accuracies agree with scikit-learn's on the same pixels, the bootstrap interval holds the
estimate and needs two images, and prepared images carry the card's normalisation (ours or Dynamic World's)."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from sklearn.metrics import balanced_accuracy_score, cohen_kappa_score, jaccard_score

from ml import scoring
from ml.bands import normalisation_from_dict

LEGEND = {1: "Forest", 6: "Croplands", 10: "Water"}


def test_scores_agree_with_scikit_learn_on_the_same_pixels():
    rng = np.random.default_rng(3)
    images = [(rng.choice([0, 1, 6, 10], (40, 40)), rng.choice([1, 6, 10, 4], (40, 40))) for _ in range(5)]
    matrices = [scoring.counts(ref, pred, list(LEGEND)) for ref, pred in images]
    result = scoring.score(matrices, LEGEND)
    ref = np.concatenate([r[r > 0] for r, _ in images])
    pred = np.concatenate([p[r > 0] for r, p in images])
    outside = ~np.isin(pred, list(LEGEND))
    assert result["pixels"] == ref.size and result["confusion_matrix"]["counts"][0][-1] == int(
        (outside & (ref == 1)).sum())
    metrics = result["metrics"]
    assert metrics["OA"] == pytest.approx((ref == pred).mean(), abs=1e-6)
    assert metrics["AA"] == pytest.approx(balanced_accuracy_score(ref, pred), abs=1e-6)
    labels = [*LEGEND, 4]  # 4 (outside the legend) as the scorer's "no class" column
    assert metrics["kappa"] == pytest.approx(cohen_kappa_score(ref, pred, labels=labels), abs=1e-6)
    assert metrics["mIoU"] == pytest.approx(jaccard_score(ref, pred, labels=list(LEGEND), average="macro"), abs=1e-6)
    low, high = result["ci95"]["AA"]
    assert low <= metrics["AA"] <= high
    assert scoring.score(matrices[:1], LEGEND)["ci95"] is None


def test_prepared_images_carry_the_cards_normalisation(tmp_path):
    data = np.random.default_rng(1).integers(0, 5000, (13, 20, 30)).astype("uint16")
    path = tmp_path / "image.tif"
    with rasterio.open(path, "w", driver="GTiff", width=30, height=20, count=13, dtype="uint16", crs="EPSG:32632",
                       transform=from_origin(0, 0, 10, 10)) as dst:
        dst.write(data)
    bands = ["B8", "B4", "B3"]
    for norm in ({"kind": "hrmars", "mean": [0.1, 0.2, 0.3], "std": [0.1, 0.1, 0.2]},
                 {"kind": "log-sigmoid", "a": [1.0, 2.0, 3.0], "s": [0.5, 0.5, 1.0]}):
        card = {"bands": bands, "normalisation": {**norm, "bands": bands}}
        out = tmp_path / norm["kind"]
        assert scoring.prepare([path], card, out) == [(20, 30)]
        prepared = np.load(out / "0000.npy")
        expected = normalisation_from_dict(card["normalisation"]).apply(np.moveaxis(data[[7, 3, 2]], 0, -1))
        assert prepared.dtype == np.float32 and np.array_equal(prepared, np.moveaxis(expected, -1, 0))

