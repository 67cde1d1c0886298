"""Train a land-cover model and save it as a model folder.

    python -m ml.train {unet,lsr,cgan,pix2pix,bagofcolours} --dataset {sen12ms,dfc2020,synthetic} --data PATH
                       --out DIR [--epochs N] [--seed N] [--resume] …

U-Net: cross-entropy on --labels. LSR (label super-resolution): the same U-Net trained on
coarse labels only with the statistics-matching loss (ml/models/lsr.py). CGAN: coarse map →
fine map, adversarial + pixel loss. Pix2Pix: image → fine map, adversarial + pixel loss.
Keras methods checkpoint after every epoch (DIR/checkpoint*.keras, DIR/history.csv) so
--resume continues where a run stopped, and plot learning curves; GANs also write
DIR/samples.png (image, coarse input, prediction, reference). Every model card carries the
test-split scores. Bag of colours: fits the vocabulary and the forest.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .bands import BAND_SETS, Normalisation
from .config import TrainConfig
from .data import DATASETS, DEFAULT_LABELS, dataset_splits
from .datasets.common import sample_pixels
from .errors import PermanentError
from .evaluate import evaluate_predictor
from .methods import METHODS, get
from .metrics import rounded
from .modelio import load_model, save_model, write_card


class TrainingError(PermanentError):
    """Training cannot start (no data, say); the message says why."""


@dataclass(frozen=True)
class TrainResult:
    """Where the model was saved and how it scored on held-out patches (empty without a test split)."""

    folder: Path
    metrics: dict


def build_parser() -> argparse.ArgumentParser:
    """The command line: one option per TrainConfig setting."""
    parser = argparse.ArgumentParser(prog="python -m ml.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("method", choices=list(METHODS))
    parser.add_argument("--dataset", required=True, choices=list(DATASETS))
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--labels", choices=["coarse", "fine", "soft"],
                        help="default: coarse for sen12ms, else fine; soft: a teacher's probabilities (dataset real, "
                             "U-Net: distillation)")
    parser.add_argument("--bands", choices=sorted(BAND_SETS), default="rgbn")
    parser.add_argument("--holdout", type=Path, help="SEN12MS hold-out scene list for the test split")
    parser.add_argument("--max-patches", type=int, help="use at most this many patches per split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)
    unet = parser.add_argument_group("U-Net")
    unet.add_argument("--epochs", type=int, default=20)
    unet.add_argument("--lr", type=float, default=1e-3)
    unet.add_argument("--base-filters", type=int, default=32)
    unet.add_argument("--depth", type=int, default=4)
    unet.add_argument("--input-size", type=int, default=256)
    unet.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.keras")
    lsr = parser.add_argument_group("label super-resolution")
    lsr.add_argument("--block", type=int, default=50, help="coarse block size in pixels (MODIS 500 m = 50)")
    lsr.add_argument("--lsr-stats", default="prior",
                     help="μ/σ² of fine-class shares per coarse class: 'prior' (70 %% of a block is its coarse "
                          "class, σ 0.2; the default), 'calibrate' (from the fine labels of --lsr-calibration "
                          "training patches), or a JSON file {means, variances}")
    lsr.add_argument("--lsr-calibration", type=int, default=8, help="patches used by --lsr-stats calibrate")
    gan = parser.add_argument_group("CGAN / Pix2Pix")
    gan.add_argument("--pixel-weight", type=float, default=10.0, help="λ: weight of the pixel loss")
    gan.add_argument("--disc-filters", type=int, default=32)
    boc = parser.add_argument_group("bag of colours")
    boc.add_argument("--words", type=int, default=80)
    boc.add_argument("--segments", type=int, default=20)
    boc.add_argument("--trees", type=int, default=1000)
    boc.add_argument("--n-jobs", type=int, default=-1)
    return parser


def train(config: TrainConfig) -> TrainResult:
    """Train `config.method`, save the model folder, score it on the held-out split and record that in its card."""
    method = get(config.method)
    labels = method.labels or config.labels or DEFAULT_LABELS[config.dataset]
    config = config.with_changes(labels=labels)
    config.out.mkdir(parents=True, exist_ok=True)
    splits = dataset_splits(config.dataset, config.data, config.holdout, config.seed, config.max_patches)
    if not splits["train"]:
        raise TrainingError(f"no training patches in {config.data}")
    bands = BAND_SETS[config.bands]
    norm = Normalisation.fit(bands, sample_pixels(splits["train"], bands, seed=config.seed))
    started = time.perf_counter()
    model, params = method.train(config, splits, norm)
    seconds = time.perf_counter() - started

    training = {"dataset": config.dataset, "data": str(config.data), "labels": labels, "seed": config.seed,
                "patches": {k: len(v) for k, v in splits.items()}, "seconds": round(seconds, 1),
                "synthetic": config.dataset == "synthetic"}
    save_model(config.out, method.name, model, norm, input_size=method.fixed_input_size or config.input_size,
               training=training, params=params, input_kind=method.reads)
    test = splits["test"] or splits["val"]
    metrics: dict = {}
    if test:
        predictor = load_model(config.out)  # score what was saved, through the loading path
        reference = "fine" if test[0].dfc else labels
        cm, speed = evaluate_predictor(predictor, test, reference, config.batch_size)
        scores = cm.scores()
        metrics = {**{k: round(v, 6) for k, v in scores.summary().items()}, "patches_per_s": round(speed, 2),
                   "split": "test" if splits["test"] else "val", "reference": reference,
                   "per_class_iou": rounded(scores.iou)}
        write_card(config.out, {**predictor.card, "metrics": metrics})  # the weights are saved already
    return TrainResult(config.out, metrics)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: parse, train, report."""
    args = vars(build_parser().parse_args(argv))
    try:
        result = train(TrainConfig(**args))
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if result.metrics:
        print("scores on held-out patches: " + ", ".join(
            f"{k} {100 * v:.2f} %" for k, v in result.metrics.items() if k in ("mIoU", "mF1", "OA", "AA")))
    print(f"model saved in {result.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
