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
import csv
import sys
import time
from pathlib import Path

import numpy as np

from .bands import BAND_SETS, Normalisation
from .classes import N_MODEL_CLASSES
from .data import DEFAULT_LABELS, dataset_splits
from .datasets import PatchDataset, load_arrays
from .datasets.common import sample_pixels
from .evaluate import evaluate_predictor
from .modelio import Predictor, save_model, write_card


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("method", choices=["unet", "lsr", "cgan", "pix2pix", "bagofcolours"])
    parser.add_argument("--dataset", required=True, choices=["sen12ms", "dfc2020", "synthetic"])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--labels", choices=["coarse", "fine"], help="default: coarse for sen12ms, else fine")
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


def plot_learning_curve(history_csv: Path, png: Path) -> None:
    from .figures import plot_curves

    plot_curves(history_csv, png, [(key, [(key, "train"), (f"val_{key}", "validation")])
                                   for key in ("loss", "accuracy")])


def lsr_statistics(args, splits) -> tuple[list, list, dict]:
    """μ_{c,z}, σ²_{c,z} for the LSR loss, and how they were obtained (for the model card)."""
    import json

    from .models.lsr import label_statistics, prior_statistics

    if args.lsr_stats == "prior":
        means, variances = prior_statistics()
        return means.tolist(), variances.tolist(), {"source": "prior"}
    if args.lsr_stats != "calibrate":
        data = json.loads(Path(args.lsr_stats).read_text())
        return data["means"], data["variances"], {"source": str(args.lsr_stats)}
    calibration = [s for s in splits["train"] if s.dfc and s.lc][:args.lsr_calibration]
    means, variances, counts = label_statistics([(s.labels("coarse"), s.labels("fine")) for s in calibration],
                                                block=args.block)
    return means.tolist(), variances.tolist(), {"source": "calibrate", "patches": len(calibration),
                                                "blocks_per_coarse_class": counts.tolist()}


def train_unet(args, splits, labels: str, norm: Normalisation):
    import keras

    from .models.losses import MaskedAccuracy, masked_sparse_crossentropy
    from .models.unet import build_unet

    loss, extra = masked_sparse_crossentropy, {}
    if args.method == "lsr":
        from .models.lsr import LabelSuperResolutionLoss

        means, variances, source = lsr_statistics(args, splits)
        loss = LabelSuperResolutionLoss(means, variances, block=args.block)
        extra = {"lsr": {"block": args.block, "statistics": source, "means": means, "variances": variances}}

    keras.utils.set_random_seed(args.seed)
    checkpoint = args.out / "checkpoint.keras"
    history_csv = args.out / "history.csv"
    initial_epoch = 0
    if args.resume and checkpoint.exists():
        model = keras.saving.load_model(checkpoint, compile=False, safe_mode=True)
        with open(history_csv) as f:
            initial_epoch = sum(1 for _ in csv.DictReader(f))
        print(f"resuming from {checkpoint} after epoch {initial_epoch}", file=sys.stderr)
    else:
        model = build_unet(bands=len(norm.bands), base_filters=args.base_filters, depth=args.depth)
    model.compile(optimizer=keras.optimizers.Adam(args.lr), loss=loss, metrics=[MaskedAccuracy()])
    train = PatchDataset(splits["train"], norm, labels, args.batch_size, augment=True, shuffle=True, seed=args.seed)
    val = PatchDataset(splits["val"], norm, labels, args.batch_size) if splits["val"] else None
    callbacks = [keras.callbacks.ModelCheckpoint(checkpoint),
                 keras.callbacks.CSVLogger(history_csv, append=initial_epoch > 0)]
    if initial_epoch < args.epochs:
        model.fit(train, validation_data=val, epochs=args.epochs, initial_epoch=initial_epoch,
                  callbacks=callbacks, verbose=1 if sys.stderr.isatty() else 2)
    plot_learning_curve(history_csv, args.out / "learning_curve.png")
    return model, {"size_multiple": 2**args.depth, "base_filters": args.base_filters, "depth": args.depth,
                   "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size, **extra}


def train_gan(args, splits, norm: Normalisation):
    """CGAN (coarse map → fine map) or Pix2Pix (image → fine map): alternating adversarial training."""
    import keras

    from .figures import rgb, side_by_side
    from .models.gan import AdversarialTrainer, build_patch_discriminator, plot_gan_curves
    from .models.unet import build_unet

    keras.utils.set_random_seed(args.seed)
    inputs = "coarse" if args.method == "cgan" else "image"
    channels = N_MODEL_CLASSES if inputs == "coarse" else len(norm.bands)
    g_path, d_path, history = args.out / "checkpoint.keras", args.out / "checkpoint_discriminator.keras", \
        args.out / "history.csv"
    initial_epoch = 0
    if args.resume and g_path.exists() and d_path.exists() and history.exists():
        generator = keras.saving.load_model(g_path, compile=False, safe_mode=True)
        discriminator = keras.saving.load_model(d_path, compile=False, safe_mode=True)
        with open(history) as f:
            initial_epoch = sum(1 for _ in csv.DictReader(f))
        print(f"resuming from {g_path} after epoch {initial_epoch}", file=sys.stderr)
    else:
        generator = build_unet(bands=channels, base_filters=args.base_filters, depth=args.depth, name="generator")
        discriminator = build_patch_discriminator(channels, base_filters=args.disc_filters)
    trainer = AdversarialTrainer(generator, discriminator, lr=args.lr, pixel_weight=args.pixel_weight)
    train = PatchDataset(splits["train"], norm, "fine", args.batch_size, augment=True, shuffle=True, seed=args.seed,
                         inputs=inputs)
    shown = (splits["val"] or splits["train"])[:3]

    def render(epoch: int) -> None:
        generator.save(g_path)
        discriminator.save(d_path)
        rows = []
        for sample in shown:
            condition = (PatchDataset([sample], norm, "fine", 1, inputs=inputs)[0][0])
            pred = np.asarray(generator.predict_on_batch(condition))[0].argmax(-1)
            rows.append({"image": rgb(sample.image(("B2", "B3", "B4"))), "coarse input": sample.labels("coarse"),
                         "prediction": pred, "reference": sample.labels("fine")})
        side_by_side(args.out / "samples.png", rows, ["image", "coarse input", "prediction", "reference"])

    trainer.fit(train, args.epochs, args.out, initial_epoch=initial_epoch, render=render)
    plot_gan_curves(history, args.out / "learning_curve.png")
    return generator, {"size_multiple": 2**args.depth, "base_filters": args.base_filters, "depth": args.depth,
                       "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
                       "pixel_weight": args.pixel_weight, "disc_filters": args.disc_filters}, inputs


def train_bagofcolours(args, splits, labels: str, norm: Normalisation):
    from tqdm import tqdm

    from .models.bagofcolours import BagOfColours

    images, refs = load_arrays(splits["train"], norm, labels)
    params = {"words": args.words, "segments": args.segments, "trees": args.trees, "n_jobs": args.n_jobs,
              "seed": args.seed}
    model = BagOfColours(**params).fit(images, refs, progress=lambda it: tqdm(it, desc="segments", file=sys.stderr))
    return model, {"bagofcolours": params, "size_multiple": 1}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    labels = args.labels or DEFAULT_LABELS[args.dataset]
    splits = dataset_splits(args.dataset, args.data, args.holdout, args.seed, args.max_patches)
    if not splits["train"]:
        print(f"error: no training patches in {args.data}", file=sys.stderr)
        return 2
    bands = BAND_SETS[args.bands]
    norm = Normalisation.fit(bands, sample_pixels(splits["train"], bands, seed=args.seed))
    started = time.perf_counter()
    input_kind = "image"
    if args.method == "lsr":
        labels = "coarse"  # the point of the method: no fine label is used for training
    if args.method in ("unet", "lsr"):
        model, params = train_unet(args, splits, labels, norm)
        input_size = args.input_size
    elif args.method in ("cgan", "pix2pix"):
        labels = "fine"
        model, params, input_kind = train_gan(args, splits, norm)
        input_size = args.input_size
    else:
        model, params = train_bagofcolours(args, splits, labels, norm)
        input_size = 256
    seconds = time.perf_counter() - started

    test = splits["test"] or splits["val"]
    training = {"dataset": args.dataset, "data": str(args.data), "labels": labels, "seed": args.seed,
                "patches": {k: len(v) for k, v in splits.items()}, "seconds": round(seconds, 1),
                "synthetic": args.dataset == "synthetic"}
    save_model(args.out, args.method, model, norm, input_size=input_size, training=training, params=params,
               input_kind=input_kind)
    metrics = {}
    if test:
        from .modelio import load_model

        predictor: Predictor = load_model(args.out)  # score what was saved, through the loading path
        cm, speed = evaluate_predictor(predictor, test, "fine" if test[0].dfc else labels, args.batch_size)
        scores = cm.scores()
        metrics = {**{k: round(v, 6) for k, v in scores.summary().items()}, "patches_per_s": round(speed, 2),
                   "split": "test" if splits["test"] else "val", "reference": "fine" if test[0].dfc else labels,
                   "per_class_iou": [None if np.isnan(v) else round(float(v), 6) for v in scores.iou]}
        write_card(args.out, {**predictor.card, "metrics": metrics})  # the weights are saved already
        print("scores on held-out patches: " + ", ".join(f"{k} {100 * v:.2f} %" for k, v in scores.summary().items()))
    print(f"model saved in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
