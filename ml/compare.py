"""Train (or load) and score the five methods on one split, and write one comparison.

    python -m ml.compare --data DIR --out DIR [--dataset synthetic] [--epochs 8] [--retrain]

Methods: U-Net baseline (cross-entropy on the coarse MODIS-style labels, as the original
HR-MARS baseline was trained), label super-resolution (the same U-Net, coarse labels only, LSR
loss), CGAN low → high (coarse map → fine map), Pix2Pix (image → fine map) and bag of colours +
random forest; plus a U-Net trained on the fine labels as an upper reference. Every model is
scored on the same test split against the fine labels.

With --dataset synthetic and no DATA folder, the synthetic benchmark is generated first
(12 scenes × 3 × 3 patches, seed 0: the data of docs/RESULTS.md). Models already in
OUT/models/<name>/ are loaded, not retrained (unless --retrain), so an interrupted run resumes.

Writes OUT/comparison.md and .json (per method: per-class and mean IoU and F1, OA, AA,
training time, inference patches/s), OUT/per_class/, and OUT/predictions.png (image,
reference and every method's prediction side by side for a few test patches).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .classes import DFC_NAMES, MODEL_CLASSES
from .data import dataset_splits
from .evaluate import CLASS_NAMES, evaluate_predictor, write_report
from .modelio import load_model

# name → (ml.train method, extra arguments, what it learns from)
METHODS = {
    "unet-coarse": ("unet", ["--labels", "coarse"], "coarse labels (cross-entropy)"),
    "lsr": ("lsr", [], "coarse labels (label super-resolution loss)"),
    "cgan": ("cgan", [], "coarse map → fine labels"),
    "pix2pix": ("pix2pix", [], "image → fine labels"),
    "bagofcolours": ("bagofcolours", [], "image → fine labels"),
    "unet-fine": ("unet", ["--labels", "fine"], "fine labels (upper reference)"),
}
TITLES = {"unet-coarse": "U-Net (baseline)", "lsr": "Label super-resolution", "cgan": "CGAN low → high",
          "pix2pix": "Pix2Pix", "bagofcolours": "Bag of colours + RF", "unet-fine": "U-Net, fine labels"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--dataset", default="synthetic", choices=["synthetic", "sen12ms", "dfc2020"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--gan-epochs", type=int, default=None, help="default: --epochs")
    parser.add_argument("--base-filters", type=int, default=16)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-2, help="U-Net and label super-resolution (the same for both)")
    parser.add_argument("--gan-lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retrain", action="store_true")
    return parser


def train_args(name: str, args) -> list[str]:
    method, extra, _ = METHODS[name]
    common = ["--dataset", args.dataset, "--data", str(args.data), "--out", str(args.out / "models" / name),
              "--seed", str(args.seed)]
    if method == "bagofcolours":
        return [method, *common, "--trees", str(args.trees), *extra]
    epochs = (args.gan_epochs or args.epochs) if method in ("cgan", "pix2pix") else args.epochs
    lr = args.gan_lr if method in ("cgan", "pix2pix") else args.lr
    size = ["--epochs", str(epochs), "--base-filters", str(args.base_filters), "--depth", str(args.depth),
            "--lr", str(lr)]
    return [method, *common, *size, *extra]


def prediction_figure(png: Path, predictors: dict, samples, count: int = 3) -> None:
    from .datasets import PatchDataset
    from .figures import rgb, side_by_side

    rows = []
    for sample in samples[:count]:
        row = {"image": rgb(sample.image(("B2", "B3", "B4"))), "reference": sample.labels("fine")}
        for name, predictor in predictors.items():
            batch = PatchDataset([sample], predictor.normalisation, "fine", 1, inputs=predictor.input_kind)[0][0]
            row[TITLES[name]] = predictor.predict_index(batch)[0]
        rows.append(row)
    side_by_side(png, rows, ["image", "reference", *[TITLES[n] for n in predictors]])


def markdown(rows: list[dict]) -> str:
    out = ["| method | learns from | mIoU % | mF1 % | OA % | AA % | training s | inference patches/s |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['title']} | {r['learns_from']} | {100 * r['mIoU']:.2f} | {100 * r['mF1']:.2f} | "
                   f"{100 * r['OA']:.2f} | {100 * r['AA']:.2f} | {r['training_seconds']:.0f} | "
                   f"{r['patches_per_s']:.1f} |")
    for key, label in (("iou", "IoU"), ("f1", "F1")):
        out += ["", f"Per-class {label} % (— where the class is absent from the test reference):", "",
                "| method | " + " | ".join(DFC_NAMES[c] for c in MODEL_CLASSES) + " |",
                "|---|" + "---:|" * len(MODEL_CLASSES)]
        for r in rows:
            cells = ["—" if v is None else f"{100 * v:.1f}" for v in r[f"per_class_{key}"]]
            out.append(f"| {r['title']} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .train import main as train

    if not args.data.exists():
        if args.dataset != "synthetic":
            print(f"error: {args.data} not found", file=sys.stderr)
            return 2
        from .synthetic import make_sen12ms_tree

        make_sen12ms_tree(args.data, scenes=12, grid=3, seed=0)
    splits = dataset_splits(args.dataset, args.data, seed=args.seed)
    test = splits["test"] or splits["val"]
    rows, predictors = [], {}
    for name in args.methods:
        folder = args.out / "models" / name
        if args.retrain or not (folder / "model.json").exists():
            print(f"== training {name}", file=sys.stderr, flush=True)
            if train(train_args(name, args)) != 0:
                print(f"error: training {name} failed", file=sys.stderr)
                return 1
        predictor = load_model(folder)
        cm, speed = evaluate_predictor(predictor, test, "fine", batch_size=8)
        scores = cm.scores()
        write_report(args.out / "per_class", name, cm, scores)
        nan_to_none = lambda values: [None if np.isnan(v) else round(float(v), 6) for v in values]  # noqa: E731
        rows.append({"name": name, "title": TITLES[name], "method": predictor.method,
                     "learns_from": METHODS[name][2], **{k: round(v, 6) for k, v in scores.summary().items()},
                     "per_class_iou": nan_to_none(scores.iou), "per_class_f1": nan_to_none(scores.f1),
                     "training_seconds": predictor.card.get("training", {}).get("seconds", float("nan")),
                     "patches_per_s": round(speed, 2), "test_patches": len(test)})
        predictors[name] = predictor
        print(f"{name}: mIoU {100 * rows[-1]['mIoU']:.2f} %", file=sys.stderr, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "comparison.json").write_text(json.dumps({"classes": CLASS_NAMES, "methods": rows}, indent=2) + "\n")
    (args.out / "comparison.md").write_text(markdown(rows))
    prediction_figure(args.out / "predictions.png", predictors, test)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
