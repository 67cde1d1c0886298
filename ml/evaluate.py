"""Score trained models on a dataset split, or any model on any image against any reference map.

    python -m ml.evaluate MODEL_DIR [MODEL_DIR…] --dataset {sen12ms,dfc2020,synthetic,real} --data PATH [--out DIR]
    python -m ml.evaluate MODEL_DIR --image scene.tif --reference labels.tif [--out DIR]

Per model: a per-class table (Markdown and CSV) and a confusion-matrix PNG; for all
models: one comparison table (mIoU, mF1, OA, AA, inference patches/s).

With --image/--reference the model maps the image (as `ml.predict` does) and its map is compared
with the reference, a GeoTIFF of simplified-IGBP codes in any CRS and resolution: it is reprojected
onto the map's grid with nearest neighbour, and 0 (or its nodata) means "ignore". Scores are over
all ten classes, so a model that maps Snow/Ice or Savanna is scored on them; pixels the map leaves
as nodata are left out and counted. What the reference is decides what the scores mean: against a
teacher's map they measure agreement with the teacher, not accuracy.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject
from tqdm import tqdm

from .classes import DFC_NAMES, MODEL_CLASSES, N_MODEL_CLASSES, NODATA, dfc_to_index
from .data import DATASETS, DEFAULT_LABELS, dataset_splits
from .datasets import PatchBatches, Sample
from .metrics import ConfusionMatrix, Scores, plot_confusion
from .modelio import Predictor, load_model
from .predict import SceneError, predict_scene
from .rasterio_io import DataError
from .runtime import add_engine_argument

CLASS_NAMES = [DFC_NAMES[c] for c in MODEL_CLASSES]


def evaluate_predictor(predictor: Predictor, samples: Sequence[Sample], labels: str = "fine",
                       batch_size: int = 8, progress: Callable[[range], Iterable[int]] | None = None
                       ) -> tuple[ConfusionMatrix, float]:
    """Confusion matrix over the samples, and inference speed in patches per second."""
    data = PatchBatches(samples, predictor.normalisation, labels, batch_size=batch_size, inputs=predictor.input_kind)
    cm = ConfusionMatrix(N_MODEL_CLASSES)
    seconds = 0.0
    batches = range(len(data)) if progress is None else progress(range(len(data)))
    for i in batches:
        images, refs = data[i]
        t = time.perf_counter()
        pred = dfc_to_index(predictor.predict_codes(images))  # any model's classes, by their codes
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


ALL_NAMES = [DFC_NAMES[c] for c in sorted(DFC_NAMES)]


def score_against_reference(predictor: Predictor, image: Path, reference: Path, work: Path,
                            dn_offset: float | None = None) -> tuple[ConfusionMatrix, dict]:
    """Map `image` with the model and compare the map with `reference` (any CRS; nearest neighbour; 0 =
    ignore) over the ten simplified-IGBP classes; returns the matrix and counts of what was left out."""
    work.mkdir(parents=True, exist_ok=True)
    mapped = work / f"{Path(image).stem}-map.tif"
    predict_scene(image, mapped, predictor, dn_offset=dn_offset)
    with rasterio.open(mapped) as m, rasterio.open(reference) as ref:
        prediction = m.read(1)
        aligned = np.zeros(prediction.shape, np.uint8)
        reproject(ref.read(1), aligned, src_transform=ref.transform, src_crs=ref.crs, src_nodata=ref.nodata,
                  dst_transform=m.transform, dst_crs=m.crs, dst_nodata=0, resampling=Resampling.nearest)
    unknown = (aligned > 10)
    aligned[unknown] = 0
    labelled = aligned != NODATA
    unmapped = labelled & (prediction == NODATA)
    keep = labelled & ~unmapped
    cm = ConfusionMatrix(len(ALL_NAMES), ignore=None)
    cm.update(aligned[keep].astype(np.int64) - 1, prediction[keep].astype(np.int64) - 1)
    return cm, {"pixels": int(prediction.size), "reference_pixels": int(labelled.sum()), "scored": int(keep.sum()),
                "unmapped": int(unmapped.sum()), "unknown_codes": int(unknown.sum()), "map": str(mapped)}


def confusion_markdown(cm: ConfusionMatrix, names: Sequence[str]) -> str:
    """The confusion matrix as a Markdown table (rows: reference, columns: prediction), present classes only."""
    present = [i for i in range(cm.n) if cm.matrix[i].sum() or cm.matrix[:, i].sum()]
    lines = ["| reference ↓ / map → | " + " | ".join(names[i] for i in present) + " |",
             "|---|" + "---:|" * len(present)]
    for i in present:
        lines.append(f"| {names[i]} | " + " | ".join(f"{cm.matrix[i, j]:,}" for j in present) + " |")
    return "\n".join(lines) + "\n"


def reference_main(args: argparse.Namespace) -> int:
    """--image/--reference: one model, one image, one reference map."""
    if len(args.models) != 1:
        print("error: --image/--reference scores one model at a time", file=sys.stderr)
        return 2
    predictor = load_model(args.models[0], args.engine)
    try:
        cm, counts = score_against_reference(predictor, args.image, args.reference, args.out, args.dn_offset)
    except (SceneError, DataError, rasterio.errors.RasterioError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scores = cm.scores()
    name = args.models[0].name
    report = (f"# {name} on {args.image.name} against {args.reference.name}\n\n"
              f"Scored {counts['scored']:,} of {counts['reference_pixels']:,} labelled pixels "
              f"({counts['unmapped']:,} labelled but unmapped; {counts['unknown_codes']:,} with codes above 10 "
              f"ignored).\n\n" + scores.to_markdown(ALL_NAMES) + "\n" + confusion_markdown(cm, ALL_NAMES))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.md").write_text(report)
    (args.out / f"{name}.csv").write_text(scores.to_csv(ALL_NAMES))
    (args.out / f"{name}.json").write_text(json.dumps({**counts, **scores.summary(),
                                                        "confusion": cm.matrix.tolist(), "classes": ALL_NAMES}) + "\n")
    plot_confusion(cm.matrix, ALL_NAMES, args.out / f"{name}_confusion.png", title=name)
    print(report)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: score each model on one split of a dataset, or one model against a reference map."""
    parser = argparse.ArgumentParser(prog="python -m ml.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--image", type=Path, help="a Sentinel-2 GeoTIFF to map and score (with --reference)")
    parser.add_argument("--reference", type=Path, help="a GeoTIFF of simplified-IGBP codes (any CRS; 0 = ignore)")
    parser.add_argument("--dn-offset", type=float, default=None, help="as ml.predict: -1000 for L2A of baseline ≥ 04.00")
    parser.add_argument("--dataset", choices=list(DATASETS))
    parser.add_argument("--data", type=Path)
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--labels", choices=["coarse", "fine"], help="reference labels (default: fine; coarse for sen12ms)")
    parser.add_argument("--holdout", type=Path, help="SEN12MS hold-out scene list (test split)")
    parser.add_argument("--seed", type=int, default=0, help="the split seed used in training")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("evaluation"))
    add_engine_argument(parser)
    args = parser.parse_args(argv)
    if args.image or args.reference:
        if not (args.image and args.reference):
            parser.error("--image and --reference go together")
        return reference_main(args)
    if not (args.dataset and args.data):
        parser.error("give --dataset and --data, or --image and --reference")
    samples = dataset_splits(args.dataset, args.data, args.holdout, args.seed)[args.split]
    if not samples:
        print(f"error: the {args.split} split of {args.data} is empty", file=sys.stderr)
        return 2
    labels = args.labels or DEFAULT_LABELS[args.dataset]
    rows = []
    for folder in args.models:
        predictor = load_model(folder, args.engine)
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
