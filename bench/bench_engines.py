"""Engines side by side (issue 15): float32 (Keras/TensorFlow, and compiled by XLA), ONNX Runtime float32 and
int8, OpenVINO float32 and bf16, on the same real pixels, interleaved in one run and reported as ratios to
float32 (this machine is shared and noisy); and `python -m ml.predict` on a whole scene with each engine, in
fresh processes taking turns.

    .venv/bin/python bench/bench_engines.py --models DIR … [--rounds 5] [--scene-size 2048] [--scene-rounds 3]
        [--full-scene]

Every model must have been quantised (`python -m ml.engines quantise`): the card's fidelity (agreement with
float32 on held-out real places) is printed beside the speed. Forward pass: `--tiles` tiles of the model's
input size cut from the real Delmarva scene, prepared once, in batches of the card's batch size; each
round runs every engine of every model once, and the ratio is taken per round (min and median of the
rounds). Whole process: a `--scene-size`² scene of the model's bands tiled from the Delmarva scene, mapped
by `ml.predict --probabilities` in a new process per run with each engine the model has, engines
alternating; wall time and peak resident memory (VmHWM). `--full-scene`: the same once per engine on a full
10,980² Sentinel-2 tile. Writes bench/results/engines.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench_models import (  # noqa: E402  (after the path is set)
    SCENE_SIZE,
    machine,
    make_scene,
    matmul_gflops,
    real_tiles,
    scene_run,
)

from ml.bands import S2_BANDS  # noqa: E402
from ml.engines import network_function  # noqa: E402
from ml.modelio import Predictor, load_model, read_card  # noqa: E402
from ml.runtime import ONNX_FLOAT, OnnxRunner, OpenVinoRunner  # noqa: E402


def xla(predictor: Predictor) -> Callable[[np.ndarray], np.ndarray]:
    """The model's float32 network as exported (ml.engines.network_function), compiled by XLA."""
    import tensorflow as tf

    call = network_function(predictor, jit_compile=True)
    return lambda batch: np.asarray(call(tf.constant(batch)))


def forward(models: list[Path], rounds: int, tiles: int) -> dict:
    """Interleaved forward-pass rounds: every engine of every model once per round (an engine that cannot
    compile a model is reported as such, with the reason)."""
    import tensorflow as tf

    runs, failed = [], []
    for folder in models:
        predictor = load_model(folder, "float32")
        card = read_card(folder)
        raw = real_tiles(predictor.input_size, tiles)
        batch = predictor.prepare(raw[..., [S2_BANDS.index(b) for b in predictor.bands]])
        measured = card["engines"]
        float_file = folder / ONNX_FLOAT
        engines = {"float32 (TensorFlow)": (predictor.predict_proba, None),
                   "float32 (TensorFlow XLA)": (xla(predictor), None),
                   "float32 (ONNX Runtime)": (OnnxRunner(float_file), None),
                   "float32 (OpenVINO)": (OpenVinoRunner(float_file, precision="f32"), None)}
        if "int8" in measured:
            engines["int8 (ONNX Runtime)"] = (OnnxRunner(folder / measured["int8"]["file"]), measured["int8"])
        if "bf16" in measured:
            engines["bf16 (OpenVINO)"] = (OpenVinoRunner(folder / measured["bf16"]["file"]), measured["bf16"])
        for name, (run, fidelity) in engines.items():
            try:
                run(batch[:predictor.batch_size])  # warm-up: graphs built, sessions ready
            except tf.errors.InvalidArgumentError as exc:  # XLA has no kernel for one of the model's ops
                failed.append({"model": folder.name, "engine": name, "error": str(exc).splitlines()[0][:300]})
                continue
            runs.append({"model": folder.name, "engine": name, "run": run, "batch": batch,
                         "batch_size": predictor.batch_size, "tile": predictor.input_size, "seconds": [],
                         "fidelity": fidelity})
    matmul = []
    for _ in range(rounds):
        matmul.append(matmul_gflops(1.0))
        for r in runs:
            t0 = time.perf_counter()
            for i in range(0, len(r["batch"]), r["batch_size"]):
                r["run"](r["batch"][i:i + r["batch_size"]])
            r["seconds"].append(time.perf_counter() - t0)
    rows = []
    for r in runs:
        base = next(b for b in runs if b["model"] == r["model"] and b["engine"].startswith("float32 (Tensor"))
        ratios = [b / s for b, s in zip(base["seconds"], r["seconds"])]
        row = {"model": r["model"], "engine": r["engine"], "tile": r["tile"], "batch_size": r["batch_size"],
               "tiles_per_s_median": len(r["batch"]) / statistics.median(r["seconds"]),
               "speed_vs_float32_median": statistics.median(ratios), "speed_vs_float32_min": min(ratios)}
        if r["fidelity"]:
            row.update({k: r["fidelity"][k] for k in ("agreement", "max_probability_difference", "measured_on")})
        rows.append(row)
    return {"matmul_gflops_median": statistics.median(matmul), "rounds": rounds, "tiles": tiles,
            "rows": rows + failed}


def whole_process(model: Path, size: int, rounds: int, work: Path, probabilities: bool = True,
                  engines: list[str] | None = None) -> dict:
    """ml.predict runs on one scene with every engine the model has, taking turns; each map's agreement with
    float32's, and each engine's speed as the ratio of float32's time to its own, per round."""
    import rasterio

    card = read_card(model)
    scene = make_scene(work / f"scene_{size}_{len(card['bands'])}b.tif", size, card["bands"])
    runs: dict[str, list[dict]] = {engine: [] for engine in ("float32", "int8", "bf16")
                                   if (engine == "float32" or engine in card.get("engines", {}))
                                   and (engines is None or engine == "float32" or engine in engines)}
    for _ in range(rounds):
        for engine in runs:
            runs[engine].append(scene_run(model, scene, work, engine, probabilities))
    result: dict = {"model": model.name, "scene": size, "rounds": rounds, "probabilities": probabilities,
                    "default_engine": card.get("default_engine")}
    with rasterio.open(work / "scene-map-float32.tif") as exact:
        reference = exact.read(1)
    for engine, rs in runs.items():
        with rasterio.open(work / f"scene-map-{engine}.tif") as other:
            agreement = float((other.read(1) == reference).mean())
        ratios = [f["process_seconds"] / r["process_seconds"] for f, r in zip(runs["float32"], rs)]
        result[engine] = {"process_seconds_median": statistics.median(r["process_seconds"] for r in rs),
                          "process_seconds_min": min(r["process_seconds"] for r in rs),
                          "peak_rss_mb_max": max(r["peak_rss_mb"] for r in rs), "map_agreement": agreement,
                          "speed_vs_float32_median": statistics.median(ratios), "speed_vs_float32_min": min(ratios)}
    return result


def main() -> None:
    """Run both comparisons and write the JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=Path, nargs="+", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tiles", type=int, default=16)
    parser.add_argument("--scene-size", type=int, default=2048)
    parser.add_argument("--scene-rounds", type=int, default=3)
    parser.add_argument("--scene-model", type=Path, help="default: the first model")
    parser.add_argument("--full-scene", action="store_true",
                        help=f"also a full {SCENE_SIZE:,}² scene once with each engine of the scene model")
    parser.add_argument("--full-scene-engines", nargs="+", choices=["int8", "bf16"],
                        help="the engines to run the full scene with besides float32 (default: all the model has)")
    parser.add_argument("--full-scene-map-only", action="store_true",
                        help="the full scene without the probabilities COG (the map and its statistics only)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/hrmars-bench"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"machine": machine(), "forward": forward(args.models, args.rounds, args.tiles)}
    for row in report["forward"]["rows"]:
        print(json.dumps(row), flush=True)
    if args.scene_rounds:
        report["whole_process"] = whole_process(args.scene_model or args.models[0], args.scene_size,
                                                args.scene_rounds, args.work)
        print(json.dumps(report["whole_process"]), flush=True)
    if args.full_scene:
        report["full_scene"] = whole_process(args.scene_model or args.models[0], SCENE_SIZE, 1, args.work,
                                             probabilities=not args.full_scene_map_only,
                                             engines=args.full_scene_engines)
        print(json.dumps(report["full_scene"]), flush=True)
    (args.out / "engines.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
