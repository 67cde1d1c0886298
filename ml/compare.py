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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import methods
from .bands import BAND_SETS
from .classes import DFC_NAMES, MODEL_CLASSES, dfc_to_index
from .config import TrainConfig
from .data import DATASETS, dataset_splits, real_modis_samples
from .datasets import PatchBatches, Sample
from .evaluate import CLASS_NAMES, evaluate_predictor, write_report
from .figures import rgb, side_by_side
from .metrics import rounded
from .modelio import Predictor, load_model
from .synthetic import make_sen12ms_tree
from .train import train


@dataclass(frozen=True)
class Entry:
    """One row of the comparison: a registered method, the labels it trains on, and how the table names it."""

    name: str
    method: str
    title: str
    learns_from: str
    labels: str | None = None


ENTRIES = {e.name: e for e in (
    Entry("unet-coarse", "unet", "U-Net (baseline)", "coarse labels (cross-entropy)", labels="coarse"),
    Entry("lsr", "lsr", methods.get("lsr").title, "coarse labels (label super-resolution loss)"),
    Entry("cgan", "cgan", methods.get("cgan").title, "coarse map → fine labels"),
    Entry("pix2pix", "pix2pix", methods.get("pix2pix").title, "image → fine labels"),
    Entry("bagofcolours", "bagofcolours", methods.get("bagofcolours").title, "image → fine labels"),
    Entry("unet-fine", "unet", "U-Net, fine labels", "fine labels (upper reference)", labels="fine"),
    Entry("unet-distilled", "unet", "U-Net, distilled", "the teacher's probabilities (soft labels)", labels="soft"),
)}
SOFT_DATASETS = ("real",)  # only sets built by ml.realdata hold a teacher's probabilities


def build_parser() -> argparse.ArgumentParser:
    """The command line of the comparison."""
    parser = argparse.ArgumentParser(prog="python -m ml.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--dataset", default="synthetic", choices=list(DATASETS))
    parser.add_argument("--methods", nargs="+", choices=list(ENTRIES),
                        help="default: every entry the dataset has labels for")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--gan-epochs", type=int, default=None, help="default: --epochs")
    parser.add_argument("--base-filters", type=int, default=16)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-2, help="U-Net and label super-resolution (the same for both)")
    parser.add_argument("--gan-lr", type=float, default=1e-3)
    parser.add_argument("--bands", choices=sorted(BAND_SETS), default="rgbn", help="the bands every method reads")
    parser.add_argument("--lsr-stats", choices=["prior", "calibrate"],
                        help="label super-resolution's expected class shares per coarse class: the prior, or "
                             "calibrated on every training patch's fine labels (on --dataset real: block statistics "
                             "derived from the teacher); default: calibrate on real, else prior")
    parser.add_argument("--teacher", type=Path, help="a model folder scored as a row of its own (not trained): "
                                                     "on --dataset real, the teacher whose pseudo-labels the set holds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retrain", action="store_true")
    return parser


def train_config(name: str, args: argparse.Namespace) -> TrainConfig:
    """How the comparison trains one entry: the same seed and network size for every method."""
    entry = ENTRIES[name]
    base = TrainConfig(method=entry.method, dataset=args.dataset, data=args.data, out=args.out / "models" / name,
                       seed=args.seed, labels=entry.labels, bands=args.bands)
    family = methods.get(entry.method).family
    if family == "forest":
        return base.with_changes(trees=args.trees)
    if entry.method == "lsr":
        stats = args.lsr_stats or ("calibrate" if args.dataset in SOFT_DATASETS else "prior")
        base = base.with_changes(lsr_stats=stats, lsr_calibration=10_000)
    gan = family == "gan"
    return base.with_changes(epochs=(args.gan_epochs or args.epochs) if gan else args.epochs,
                             lr=args.gan_lr if gan else args.lr, base_filters=args.base_filters, depth=args.depth)


def prediction_figure(png: Path, predictors: dict[str, Predictor], samples: Sequence[Sample], count: int = 3,
                      reference: str = "reference") -> None:
    """Image, reference and every method's prediction side by side for the first test patches."""
    titles = {name: "teacher" if name == "teacher" else ENTRIES[name].title for name in predictors}
    rows = []
    for sample in samples[:count]:
        row = {"image": rgb(sample.image(("B2", "B3", "B4"))), reference: sample.labels("fine")}
        for name, predictor in predictors.items():
            batch = PatchBatches([sample], predictor.normalisation, "fine", 1, inputs=predictor.input_kind)[0][0]
            row[titles[name]] = dfc_to_index(predictor.predict_codes(batch))[0]
        rows.append(row)
    side_by_side(png, rows, ["image", reference, *titles.values()])


def markdown(rows: list[dict]) -> str:
    """The comparison table and the per-class tables, in Markdown."""
    with_modis = any("modis_OA" in r for r in rows)
    extra = " MODIS OA % | MODIS mIoU % |" if with_modis else ""
    out = ["| method | learns from | mIoU % | mF1 % | OA % | AA % |" + extra + " training s | inference patches/s |",
           "|---|---|---:|---:|---:|---:|" + ("---:|---:|" if with_modis else "") + "---:|---:|"]
    for r in rows:
        cells = (f" {100 * r['modis_OA']:.2f} | {100 * r['modis_mIoU']:.2f} |" if "modis_OA" in r
                 else (" — | — |" if with_modis else ""))
        out.append(f"| {r['title']} | {r['learns_from']} | {100 * r['mIoU']:.2f} | {100 * r['mF1']:.2f} | "
                   f"{100 * r['OA']:.2f} | {100 * r['AA']:.2f} |{cells} {r['training_seconds']:.0f} | "
                   f"{r['patches_per_s']:.1f} |")
    for key, label in (("iou", "IoU"), ("f1", "F1")):
        out += ["", f"Per-class {label} % (— where the class is absent from the test reference):", "",
                "| method | " + " | ".join(DFC_NAMES[c] for c in MODEL_CLASSES) + " |",
                "|---|" + "---:|" * len(MODEL_CLASSES)]
        for r in rows:
            values = ["—" if v is None else f"{100 * v:.1f}" for v in r[f"per_class_{key}"]]
            out.append(f"| {r['title']} | " + " | ".join(values) + " |")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Train or load every entry, score each on the same test split, write the tables and the figure."""
    args = build_parser().parse_args(argv)
    if args.methods is None:
        args.methods = [n for n, e in ENTRIES.items() if e.labels != "soft" or args.dataset in SOFT_DATASETS]
    if not args.data.exists():
        if args.dataset != "synthetic":
            print(f"error: {args.data} not found", file=sys.stderr)
            return 2
        make_sen12ms_tree(args.data, scenes=12, grid=3, seed=0)
    splits = dataset_splits(args.dataset, args.data, seed=args.seed)
    test = splits["test"] or splits["val"]
    modis = real_modis_samples(args.data, test) if args.dataset == "real" else []
    rows, predictors = [], {}
    names = list(args.methods) + (["teacher"] if args.teacher else [])
    for name in names:
        folder = args.teacher if name == "teacher" else args.out / "models" / name
        if name != "teacher" and (args.retrain or not (folder / "model.json").exists()):
            print(f"== training {name}", file=sys.stderr, flush=True)
            train(train_config(name, args))
        predictor = load_model(folder)
        cm, speed = evaluate_predictor(predictor, test, "fine", batch_size=8)
        scores = cm.scores()
        write_report(args.out / "per_class", name, cm, scores)
        title = (f"{predictor.card.get('name') or predictor.method} (teacher, not trained here)" if name == "teacher"
                 else ENTRIES[name].title)
        row = {"name": name, "title": title, "method": predictor.method,
               "learns_from": "its own training set" if name == "teacher" else ENTRIES[name].learns_from,
               **{k: round(v, 6) for k, v in scores.summary().items()},
               "per_class_iou": rounded(scores.iou), "per_class_f1": rounded(scores.f1),
               "training_seconds": predictor.card.get("training", {}).get("seconds", float("nan")),
               "patches_per_s": round(speed, 2), "test_patches": len(test)}
        if modis:  # agreement with real MODIS labels where the test places have them
            modis_scores = evaluate_predictor(predictor, modis, "coarse", batch_size=8)[0].scores().summary()
            row.update({"modis_OA": round(modis_scores["OA"], 6), "modis_mIoU": round(modis_scores["mIoU"], 6),
                        "modis_patches": len(modis)})
        rows.append(row)
        predictors[name] = predictor
        print(f"{name}: mIoU {100 * rows[-1]['mIoU']:.2f} %", file=sys.stderr, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "comparison.json").write_text(json.dumps({"classes": CLASS_NAMES, "methods": rows}, indent=2) + "\n")
    (args.out / "comparison.md").write_text(markdown(rows))
    figure_samples = test[::max(1, len(test) // 4)] if args.dataset == "real" else test  # spread over the places
    prediction_figure(args.out / "predictions.png", predictors, figure_samples, count=4 if args.dataset == "real" else 3,
                      reference="teacher pseudo-label" if args.dataset == "real" else "reference")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
