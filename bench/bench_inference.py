"""Scene-inference benchmark: throughput and peak memory against scene size, and the raw forward pass.

    .venv/bin/python bench/bench_inference.py [--sizes 256 2048 10980] [--out bench/results]

Each measurement runs in a fresh process so its peak resident memory (VmHWM)
is its own. The model is the default U-Net architecture (base 32 filters, depth 4,
RGB+NIR) with random weights: speed and memory do not depend on the weights.
Synthetic 13-band L1C scenes are generated first (not timed). Also times the bag
of colours on 256² patches with default settings (80 words, 20 segments, 1000 trees).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def peak_mb() -> float:
    """Peak resident memory of this process (VmHWM). Not ru_maxrss: Linux keeps that across exec,
    so a child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_model(folder: Path) -> None:
    from ml.bands import BAND_SETS, Normalisation
    from ml.modelio import save_model
    from ml.models.unet import build_unet

    norm = Normalisation(BAND_SETS["rgbn"], [0.15] * 4, [0.1] * 4)
    save_model(folder, "unet", build_unet(4), norm, input_size=256,
               training={"dataset": "none (random weights, benchmark only)", "synthetic": True},
               params={"size_multiple": 16})


def child_scene(model: str, scene: str, out: str, batch: int) -> dict:
    from ml.modelio import load_model
    from ml.predict import predict_scene

    predictor = load_model(model)
    predictor.predict_proba(__import__("numpy").zeros((batch, 256, 256, 4), "float32"))  # warm-up
    base = peak_mb()
    result = predict_scene(scene, out, predictor, batch_size=batch)
    return {"seconds": result.seconds, "tiles": result.tiles, "pixels": result.width * result.height,
            "peak_rss_mb": peak_mb(), "rss_after_model_load_mb": base}


def child_raw(model: str, batch: int, seconds: float) -> dict:
    import numpy as np

    from ml.modelio import load_model

    predictor = load_model(model)
    x = np.random.default_rng(0).normal(size=(batch, 256, 256, 4)).astype("float32")
    predictor.predict_proba(x)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        predictor.predict_proba(x)
        n += batch
    return {"patches_per_s": n / (time.perf_counter() - t0), "peak_rss_mb": peak_mb()}


def child_boc(tree: str, folder: str) -> dict:
    import numpy as np

    from ml.config import TrainConfig
    from ml.datasets import scan_sen12ms
    from ml.modelio import load_model
    from ml.train import train

    train(TrainConfig(method="bagofcolours", dataset="synthetic", data=tree, out=folder))
    predictor = load_model(folder)
    samples = scan_sen12ms(tree)[:10]
    images = [predictor.normalisation.apply(s.image(predictor.bands))[None] for s in samples]
    predictor.predict_proba(images[0])
    times = []
    for image in images:
        t = time.perf_counter()
        predictor.predict_proba(image)
        times.append(time.perf_counter() - t)
    return {"seconds_per_patch_median": float(np.median(times)), "seconds_per_patch_max": float(np.max(times)),
            "trees": 1000, "words": 80, "segments": 20}


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 2048, 10980])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--work", type=Path, default=Path("/tmp/hrmars-bench"))
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.child:
        kind, *rest = args.child
        fn = {"scene": child_scene, "raw": child_raw, "boc": child_boc}[kind]
        rest = [int(r) if r.isdigit() else (float(r) if r.replace(".", "", 1).isdigit() else r) for r in rest]
        print(json.dumps(fn(*rest)))
        return
    from ml.synthetic import make_scene, make_sen12ms_tree

    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    model = args.work / "model"
    if not (model / "model.json").exists():
        make_model(model)
    report = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                          "processor": platform.processor() or platform.machine()},
              "raw": run_child("raw", str(model), str(args.batch), "20"), "scenes": []}
    print(f"raw forward pass: {report['raw']['patches_per_s']:.2f} patches/s", flush=True)
    for size in args.sizes:
        scene = args.work / f"scene_{size}.tif"
        if not scene.exists():
            t = time.perf_counter()
            make_scene(scene, size, size, bands=13, seed=size)
            print(f"generated {size}² scene in {time.perf_counter() - t:.0f} s", flush=True)
        r = run_child("scene", str(model), str(scene), str(args.work / f"lc_{size}.tif"), str(args.batch))
        r["size"] = size
        r["tiles_per_s"] = r["tiles"] / r["seconds"]
        r["km2_per_s"] = r["pixels"] * 100 / 1e6 / r["seconds"]
        r["ratio_to_raw_tiles"] = r["tiles_per_s"] / report["raw"]["patches_per_s"]
        r["ratio_to_raw_pixels"] = (r["pixels"] / r["seconds"]) / (report["raw"]["patches_per_s"] * 256 * 256)
        report["scenes"].append(r)
        print(json.dumps(r), flush=True)
    tree = args.work / "boc-tree"
    if not tree.exists():
        make_sen12ms_tree(tree, scenes=4, grid=3, seed=3)
    report["bagofcolours"] = run_child("boc", str(tree), str(args.work / "boc-model"))
    print(json.dumps(report["bagofcolours"]), flush=True)
    (args.out / "inference.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
