"""Score trained models on a dataset split.

    python -m ml.evaluate MODEL_DIR [MODEL_DIR…] --dataset {sen12ms,dfc2020,synthetic} --data PATH [--out DIR]

Per model: a per-class table (Markdown and CSV) and a confusion-matrix PNG; for all
models: one comparison table (mIoU, mF1, OA, AA, inference patches/s).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path

from tqdm import tqdm

from .classes import DFC_NAMES, MODEL_CLASSES, N_MODEL_CLASSES
from .data import DEFAULT_LABELS, dataset_splits
from .datasets import PatchDataset, Sample
from .metrics import ConfusionMatrix, Scores, plot_confusion
from .modelio import Predictor, load_model

CLASS_NAMES = [DFC_NAMES[c] for c in MODEL_CLASSES]


def evaluate_predictor(predictor: Predictor, samples: Sequence[Sample], labels: str = "fine",
                       batch_size: int = 8, progress: Callable[[range], Iterable[int]] | None = None
                       ) -> tuple[ConfusionMatrix, float]:
    """Confusion matrix over the samples, and inference speed in patches per second."""
    data = PatchDataset(samples, predictor.normalisation, labels, batch_size=batch_size, inputs=predictor.input_kind)
    cm = ConfusionMatrix(N_MODEL_CLASSES)
    seconds = 0.0
    batches = range(len(data)) if progress is None else progress(range(len(data)))
    for i in batches:
        images, refs = data[i]
        t = time.perf_counter()
        pred = predictor.predict_index(images)
        seconds += time.perf_counter() - t
        cm.update(refs, pred)
    return cm, len(samples) / seconds if seconds else float("nan")


def _bar(batches: range, name: str) -> Iterable[int]:
    return tqdm(batches, desc=name, unit="batch", file=sys.stderr)


def write_report(folder: Path, name: str, cm: ConfusionMatrix, scores: Scores) -> None:
    """Per-class table (Markdown and CSV) and confusion-matrix PNG of one model."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(f"# {name}\n\n" + scores.to_markdown(CLASS_NAMES))
    (folder / f"{name}.csv").write_text(scores.to_csv(CLASS_NAMES))
    plot_confusion(cm.matrix, CLASS_NAMES, folder / f"{name}_confusion.png", title=name)


def comparison_table(rows: list[dict]) -> str:
    """One Markdown row per model: mIoU, mF1, OA, AA and speed."""
    lines = ["| model | method | mIoU % | mF1 % | OA % | AA % | patches/s |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['method']} | {100 * r['mIoU']:.2f} | {100 * r['mF1']:.2f} | "
                     f"{100 * r['OA']:.2f} | {100 * r['AA']:.2f} | {r['patches_per_s']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: score each model on one split of a dataset."""
    parser = argparse.ArgumentParser(prog="python -m ml.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--dataset", required=True, choices=["sen12ms", "dfc2020", "synthetic"])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--labels", choices=["coarse", "fine"], help="reference labels (default: fine; coarse for sen12ms)")
    parser.add_argument("--holdout", type=Path, help="SEN12MS hold-out scene list (test split)")
    parser.add_argument("--seed", type=int, default=0, help="the split seed used in training")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("evaluation"))
    args = parser.parse_args(argv)
    samples = dataset_splits(args.dataset, args.data, args.holdout, args.seed)[args.split]
    if not samples:
        print(f"error: the {args.split} split of {args.data} is empty", file=sys.stderr)
        return 2
    labels = args.labels or DEFAULT_LABELS[args.dataset]
    rows = []
    for folder in args.models:
        predictor = load_model(folder)
        name = folder.name
        cm, speed = evaluate_predictor(predictor, samples, labels, args.batch_size,
                                       progress=partial(_bar, name=name))
        scores = cm.scores()
        write_report(args.out, name, cm, scores)
        rows.append({"model": name, "method": predictor.method, **scores.summary(), "patches_per_s": speed})
        print(f"{name}: " + ", ".join(f"{k} {100 * v:.2f} %" for k, v in scores.summary().items()))
    table = comparison_table(rows)
    (args.out / "comparison.md").write_text(
        f"Evaluated on {len(samples)} {args.split} patches of {args.data} ({args.dataset}, {labels} labels).\n\n" + table)
    (args.out / "comparison.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
