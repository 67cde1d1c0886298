"""Issue 4's methods: label super-resolution, CGAN low → high, Pix2Pix, and the comparison command."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from ml.classes import IGNORE
from ml.config import TrainConfig
from ml.train import train as run_training


def train(method, tree, out, **settings):
    """Train a small network of `method` on `tree` into `out`; its model card."""
    run_training(TrainConfig(method=method, dataset="synthetic", data=tree, out=out, base_filters=8, depth=3, batch_size=4,
                      seed=2, input_size=128, **settings))
    return json.loads((out / "model.json").read_text())


# --- Label super-resolution.

def lsr_numpy(coarse, probs, means, variances, block):
    """The paper's per-block Gaussian NLL, written out plainly (an independent reference)."""
    total, blocks = 0.0, 0
    for b in range(coarse.shape[0]):
        for r in range(0, coarse.shape[1] - block + 1, block):
            for c in range(0, coarse.shape[2] - block + 1, block):
                z = coarse[b, r:r + block, c:c + block]
                if (z == IGNORE).any():
                    continue
                area = np.bincount(z.ravel(), minlength=8) / z.size   # mixture for straddling windows
                p = probs[b, r:r + block, c:c + block].reshape(-1, probs.shape[-1])
                mu = p.mean(0)
                var = (p * (1 - p)).sum(0) / p.shape[0] ** 2
                s2 = var + area @ variances
                total += np.sum(0.5 * (mu - area @ means) ** 2 / s2 + 0.5 * np.log(2 * math.pi * s2))
                blocks += 1
    return total / max(blocks, 1)


def test_lsr_loss_matches_the_paper_formula():
    from ml.models.lsr import LabelSuperResolutionLoss, prior_statistics

    rng = np.random.default_rng(0)
    coarse = np.zeros((2, 20, 20), np.int32)
    coarse[0, :10] = 3
    coarse[0, 10:, :10] = 5
    coarse[0, 12, 15] = IGNORE             # this block is skipped
    coarse[1, :, :] = 1
    coarse[1, 5, 0:15] = 2                 # windows straddling coarse cells get the mixture target
    logits = rng.normal(size=(2, 20, 20, 8))
    probs = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)
    means, variances = prior_statistics()
    variances = variances * rng.uniform(0.5, 2, variances.shape).astype(np.float32)
    loss = LabelSuperResolutionLoss(means, variances, block=10)
    value = float(np.asarray(loss(coarse, probs)))
    assert value == pytest.approx(lsr_numpy(coarse, probs, means, variances, 10), rel=1e-4)

    # Predicting exactly the expected shares scores better than predicting the coarse class alone.
    exact = np.broadcast_to(means[3], (1, 10, 10, 8)).astype(np.float32)
    hard = np.zeros((1, 10, 10, 8), np.float32)
    hard[..., 3] = 1
    z = np.full((1, 10, 10), 3, np.int32)
    assert float(np.asarray(loss(z, exact))) < float(np.asarray(loss(z, hard)))
    assert LabelSuperResolutionLoss.from_config(loss.get_config()).block == 10


def test_label_statistics_from_coarse_and_fine_pairs():
    from ml.models.lsr import VARIANCE_FLOOR, label_statistics

    coarse = np.zeros((100, 100), np.uint8)
    coarse[:, 50:] = 4
    fine = np.zeros((100, 100), np.uint8)
    fine[:25, :50] = 1                        # coarse class 0: 25 % class 1 in one block, 0 % in the other
    fine[:, 50:] = 4
    means, variances, counts = label_statistics([(coarse, fine)], block=50, prior_blocks=0)  # raw estimates
    assert counts[0] == 2 and counts[4] == 2
    assert means[0, 0] == pytest.approx(0.75) and means[0, 1] == pytest.approx(0.25)
    assert variances[0, 1] == pytest.approx(0.0625)  # variance of the shares {0.5, 0}
    assert means[4, 4] == pytest.approx(1.0) and variances[4, 4] == pytest.approx(VARIANCE_FLOOR)
    assert np.allclose(means.sum(axis=1), 1.0)
    assert means[2, 2] == pytest.approx(0.7)  # never seen: the prior

    shrunk, _, _ = label_statistics([(coarse, fine)], block=50, prior_blocks=4)  # two blocks weigh 2 / (2 + 4)
    assert shrunk[0, 0] == pytest.approx(0.75 / 3 + 0.7 * 2 / 3)
    assert np.allclose(shrunk.sum(axis=1), 1.0)


def test_lsr_trains_on_coarse_labels_only_and_beats_its_untrained_self(small_tree, tmp_path):
    untrained = train("lsr", small_tree, tmp_path / "lsr0", epochs=0, lsr_stats="calibrate")
    assert untrained["params"]["lsr"]["statistics"]["source"] == "calibrate"
    assert untrained["params"]["lsr"]["statistics"]["patches"] == 8
    trained = train("lsr", small_tree, tmp_path / "lsr", epochs=6, lr=0.01)
    assert trained["training"]["labels"] == "coarse"
    assert trained["params"]["lsr"]["block"] == 50 and trained["params"]["lsr"]["statistics"]["source"] == "prior"
    assert trained["metrics"]["reference"] == "fine"  # scored against fine labels
    assert trained["metrics"]["mIoU"] > untrained["metrics"]["mIoU"] + 0.1, (trained["metrics"], untrained["metrics"])


# --- GANs.

@pytest.mark.parametrize("method", ["cgan", "pix2pix"])
def test_gan_trains_beats_its_untrained_self_and_reports_both_losses(small_tree, tmp_path, method):
    untrained = train(method, small_tree, tmp_path / "g0", epochs=0)
    out = tmp_path / method
    card = train(method, small_tree, out, epochs=5, lr=0.002, disc_filters=8)
    assert card["input"] == ("coarse" if method == "cgan" else "image")
    assert card["metrics"]["mIoU"] > untrained["metrics"]["mIoU"] + 0.1, (card["metrics"], untrained["metrics"])
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 and all(float(r["d_loss"]) > 0 and float(r["g_loss"]) > 0 for r in rows)
    assert float(rows[-1]["g_pixel"]) < float(rows[0]["g_pixel"])
    for png in ("learning_curve.png", "samples.png"):
        assert (out / png).read_bytes().startswith(b"\x89PNG")

    # --resume continues after the last epoch instead of starting over.
    card2 = train(method, small_tree, out, epochs=6, lr=0.002, disc_filters=8, resume=True)
    with open(out / "history.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1, 2, 3, 4, 5]
    assert card2["params"]["epochs"] == 6


def test_cgan_maps_a_modis_file_and_refuses_an_image(small_tree, tmp_path):
    import rasterio

    from ml.predict import main as predict

    out = tmp_path / "cgan"
    train("cgan", small_tree, out, epochs=1, disc_filters=8)
    lc = next(small_tree.glob("*/lc_*/*.tif"))
    assert predict([str(lc), str(tmp_path / "refined.tif"), "--model", str(out)]) == 0
    with rasterio.open(tmp_path / "refined.tif") as dst, rasterio.open(lc) as src:
        assert dst.crs == src.crs and dst.transform == src.transform
        assert set(np.unique(dst.read(1))) <= {1, 2, 4, 5, 6, 7, 9, 10}
    s2 = next(small_tree.glob("*/s2_*/*.tif"))
    assert predict([str(s2), str(tmp_path / "wrong.tif"), "--model", str(out)]) == 2


# --- The comparison.

def test_compare_trains_and_scores_every_method_on_one_split(small_tree, tmp_path, capsys):
    from ml.compare import ENTRIES, main

    out = tmp_path / "compare"
    assert main(["--data", str(small_tree), "--out", str(out), "--epochs", "1", "--base-filters", "8", "--depth", "3",
                 "--trees", "20"]) == 0
    result = json.loads((out / "comparison.json").read_text())
    # Every entry but the distilled U-Net, which needs a teacher's probabilities (only real sets have them).
    assert [m["name"] for m in result["methods"]] == [n for n in ENTRIES if ENTRIES[n].labels != "soft"]
    for m in result["methods"]:
        assert 0 <= m["mIoU"] <= 1 and len(m["per_class_iou"]) == 8 and m["patches_per_s"] > 0
        assert m["training_seconds"] > 0
    table = (out / "comparison.md").read_text()
    assert "Label super-resolution" in table and "Pix2Pix" in table and "Per-class F1" in table
    assert (out / "predictions.png").read_bytes().startswith(b"\x89PNG")
    # A second run loads the trained models instead of training again.
    capsys.readouterr()
    assert main(["--data", str(small_tree), "--out", str(out), "--methods", "lsr", "cgan"]) == 0
    assert "== training" not in capsys.readouterr().err
