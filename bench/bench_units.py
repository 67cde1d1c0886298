"""Statistics per unit (issue 24 #4): class areas for 1,000 and 10,000 polygons over one stored map, ours
(`ml.zonal.unit_statistics`) beside the peers a user would pick instead — rasterstats' `zonal_stats(categorical=
True)` and exactextract's `exact_extract(ops=["unique", "frac"])` — interleaved, each run in a fresh process so
its peak RSS is its own.

    .venv/bin/python bench/bench_units.py [--rounds 3] [--size 3000] [--units 1000 10000]

The map is a size² uint8 class raster in UTM 18N (blocks of classes 1–10, some no data); the units a jittered
grid of quadrilaterals with densified edges (80 vertices each, like administrative boundaries), tiling the map.
Ours reads them in lon/lat (what users send) and reprojects them; the peers are given them in the map's CRS
(they do not reproject). rasterstats counts the pixels whose centres are inside, as we do; exactextract weights
each pixel by the fraction of it the polygon covers (another answer along the edges). The peers run in their
own virtualenv (`--peer-venv`, default /tmp/hrmars-units-venv, made once from the package index).

Writes bench/results/units.json.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform as warp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_models import machine  # noqa: E402  (after the path is set)
from bench_tiles import peer_python  # noqa: E402

PEER = ["rasterstats~=0.21", "exactextract~=0.3", "rasterio~=1.4"]
X0, Y0, PIXEL = 400000.0, 4180000.0, 10.0

OURS = """
import json, sys, time
def peak_mb():  # VmHWM: this program's own peak (ru_maxrss would carry the parent's over fork and exec)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
sys.path.insert(0, sys.argv[3])
from ml.zonal import unit_statistics
units = json.load(open(sys.argv[2]))["features"]
t = time.perf_counter()
rows = unit_statistics(sys.argv[1], [f["geometry"] for f in units])
print(json.dumps({"seconds": time.perf_counter() - t, "rows": len(rows),
                  "rss_mb": peak_mb()}))
"""
RASTERSTATS = """
import json, sys, time
def peak_mb():  # VmHWM: this program's own peak (ru_maxrss would carry the parent's over fork and exec)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
from rasterstats import zonal_stats
t = time.perf_counter()
rows = zonal_stats(sys.argv[2], sys.argv[1], categorical=True, nodata=0)
print(json.dumps({"seconds": time.perf_counter() - t, "rows": len(rows),
                  "rss_mb": peak_mb()}))
"""
EXACTEXTRACT = """
import json, sys, time
def peak_mb():  # VmHWM: this program's own peak (ru_maxrss would carry the parent's over fork and exec)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
import rasterio
from exactextract import exact_extract
t = time.perf_counter()
features = json.load(open(sys.argv[2]))["features"]  # no GDAL bindings here: GeoJSON features and a rasterio dataset
with rasterio.open(sys.argv[1]) as src:
    rows = exact_extract(src, features, ["unique", "frac"])
print(json.dumps({"seconds": time.perf_counter() - t, "rows": len(rows),
                  "rss_mb": peak_mb()}))
"""


def make_map(path: Path, size: int) -> None:
    """Blocks of classes 1–10 (16-px blocks, so units cut through class edges), 2 % no data."""
    rng = np.random.default_rng(0)
    blocks = rng.integers(1, 11, (size // 16 + 1, size // 16 + 1), dtype=np.uint8)
    codes = np.kron(blocks, np.ones((16, 16), np.uint8))[:size, :size]
    codes[rng.random((size, size)) < 0.02] = 0
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1, dtype="uint8", nodata=0,
                       crs="EPSG:32618", transform=from_origin(X0, Y0, PIXEL, PIXEL), tiled=True,
                       compress="deflate") as dst:
        dst.write(codes, 1)


def make_units(size: int, count: int, seed: int = 1) -> tuple[dict, dict]:
    """A jittered n × n grid of quadrilaterals over the map, 20 points per edge: (UTM, lon/lat) collections."""
    n = round(count ** 0.5)
    rng = np.random.default_rng(seed)
    step = size * PIXEL / n
    xs = X0 + np.arange(n + 1) * step
    ys = Y0 - np.arange(n + 1) * step
    gx, gy = np.meshgrid(xs, ys)
    jitter = rng.uniform(-0.25, 0.25, (2, n + 1, n + 1)) * step
    jitter[:, [0, -1], :] = 0
    jitter[:, :, [0, -1]] = 0
    gx, gy = gx + jitter[0], gy + jitter[1]
    utm, lonlat = [], []
    for r in range(n):
        for c in range(n):
            corners = [(gx[r, c], gy[r, c]), (gx[r, c + 1], gy[r, c + 1]), (gx[r + 1, c + 1], gy[r + 1, c + 1]),
                       (gx[r + 1, c], gy[r + 1, c])]
            ring = [(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
                    for a, b in zip(corners, corners[1:] + corners[:1]) for t in np.linspace(0, 1, 20, endpoint=False)]
            ring.append(ring[0])
            utm.append({"type": "Feature", "properties": {"id": r * n + c},
                        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}})
            lons, lats = warp("EPSG:32618", "EPSG:4326", [p[0] for p in ring], [p[1] for p in ring])
            lonlat.append({"type": "Feature", "properties": {"id": r * n + c},
                           "geometry": {"type": "Polygon", "coordinates": [list(map(list, zip(lons, lats)))]}})
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32618"}}
    return ({"type": "FeatureCollection", "crs": crs, "features": utm},
            {"type": "FeatureCollection", "features": lonlat})


def run(python: str, script: str, *args: str) -> dict:
    done = subprocess.run([python, "-c", script, *args], capture_output=True, text=True, timeout=3600)
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run the comparison and write bench/results/units.json."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=3000)
    parser.add_argument("--units", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--peer-venv", type=Path, default=Path("/tmp/hrmars-units-venv"))
    args = parser.parse_args()
    peer = str(peer_python(args.peer_venv, PEER))
    results: dict = {"machine": machine(), "map_pixels": args.size ** 2, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_map(work / "map.tif", args.size)
        for count in args.units:
            utm, lonlat = make_units(args.size, count)
            (work / "utm.geojson").write_text(json.dumps(utm))
            (work / "lonlat.geojson").write_text(json.dumps(lonlat))
            tools = {"ours": (sys.executable, OURS, str(work / "map.tif"), str(work / "lonlat.geojson"), str(ROOT)),
                     "rasterstats": (peer, RASTERSTATS, str(work / "map.tif"), str(work / "utm.geojson")),
                     "exactextract": (peer, EXACTEXTRACT, str(work / "map.tif"), str(work / "utm.geojson"))}
            seen: dict[str, list[dict]] = {name: [] for name in tools}
            for k in range(args.rounds):  # interleaved, the order turning each round
                names = list(tools)[k % len(tools):] + list(tools)[:k % len(tools)]
                for name in names:
                    seen[name].append(run(*tools[name]))
            summary = {name: {"seconds": statistics.median(r["seconds"] for r in runs),
                              "rss_mb": max(r["rss_mb"] for r in runs), "rows": runs[0]["rows"]}
                       for name, runs in seen.items()}
            for name in ("rasterstats", "exactextract"):
                summary[f"ours_vs_{name}_time"] = round(summary["ours"]["seconds"] / summary[name]["seconds"], 3)
            results["runs"][str(count)] = summary
            print(count, json.dumps(summary))
    out = ROOT / "bench" / "results" / "units.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB peak child RSS; wrote {out}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"{time.perf_counter() - t0:.0f} s")
