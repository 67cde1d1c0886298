"""API throughput under a load generator: gunicorn + the production settings + wrk on loopback.

    .venv/bin/python bench/bench_api.py [--workers 4] [--connections 32] [--duration 10]

Needs the 180,662-patch catalogue that bench/bench_catalogue.py leaves in the hrmars_bench
database, Redis (cache) on 127.0.0.1:6379 and `wrk` (apt-get install wrk). It stores one map
(a MODIS map of a synthetic patch, attached to a catalogue patch) so that the map, statistics
and tile endpoints have something to serve, starts gunicorn with DEBUG=0 and a Redis cache,
warms each URL once, then runs wrk against each for --duration seconds. The "varying" runs
request a different place on every request (a Lua script), so they measure the database path,
not the cache.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LUA_VARYING = """
local places = {%s}
local path = "%s"
request = function()
  local p = places[math.random(#places)]
  return wrk.format("GET", string.format(path, p[1], p[2]))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url: str, connections: int, duration: int, script: Path | None = None) -> dict:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"] + (["-s", str(script)] if script else [])
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def latency(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out).groups()
        return round(float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit], 2)

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests_per_s": round(rps, 1), "p50_ms": latency("50"), "p99_ms": latency("99"),
            "non_2xx": int(errors.group(1)) if errors else 0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="postgis://hrmars:hrmars@127.0.0.1:5432/hrmars_bench")
    parser.add_argument("--cache-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="hrmars-bench-api-"))
    env = {**os.environ, "DATABASE_URL": args.database_url, "CACHE_URL": args.cache_url, "DEBUG": "0",
           "HRMARS_HTTPS": "0", "HRMARS_STATIC_MANIFEST": "0", "SECRET_KEY": "benchmark-only-" + "x" * 40,
           "ALLOWED_HOSTS": "127.0.0.1", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/13",
           "HRMARS_DATA_DIR": str(work), "HRMARS_MAPS_DIR": str(work / "maps"), "LOG_LEVEL": "WARNING",
           "DJANGO_SETTINGS_MODULE": "hrmars_site.settings"}
    os.environ.update(env)
    import django

    django.setup()
    from django.core.cache import cache

    from landcover.jobs.maps import MAP_PRODUCT
    from landcover.models import LandCoverMap, Patch
    from ml.modis import modis_map
    from ml.synthetic import make_sen12ms_tree

    total = Patch.objects.count()
    if total < 1000:
        sys.exit(f"the bench catalogue has {total} patches; run bench/bench_catalogue.py first")
    cache.clear()

    # One stored map on a catalogue patch (its pixels come from a synthetic lc file).
    tree = make_sen12ms_tree(work / "tree", scenes=1, grid=1, seed=3)
    patch = Patch.objects.order_by("pk").first()
    LandCoverMap.objects.filter(patch=patch).delete()
    m = LandCoverMap.objects.create(patch=patch, source="modis", status="done")
    folder = MAP_PRODUCT.folder(m)
    folder.mkdir(parents=True)
    m.statistics = modis_map(next(tree.glob("*/lc_*/*.tif")), folder / "map.tif")
    m.finished_at = m.updated_at
    m.save()
    import morecantile
    from rasterio.warp import transform as warp

    with __import__("rasterio").open(folder / "map.tif") as src:
        cx, cy = (src.bounds.left + src.bounds.right) / 2, (src.bounds.bottom + src.bounds.top) / 2
        (lon,), (lat,) = warp(src.crs, "EPSG:4326", [cx], [cy])
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 14)

    rng = random.Random(1)
    places = [p.centroid for p in Patch.objects.order_by("?").values_list("footprint", flat=True)[:2000]]
    c = places[0]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    urls = {
        "footprints (one map view, bbox)":
            f"/api/v1/patches/?bbox={c.x - 0.6:.4f},{c.y - 0.35:.4f},{c.x + 0.6:.4f},{c.y + 0.35:.4f}",
        "patch at a point": f"/api/v1/patches/at/?lat={c.y:.5f}&lon={c.x:.5f}",
        "models": "/api/v1/models/",
        "map status": f"/api/v1/maps/{m.pk}/",
        "map statistics": f"/api/v1/maps/{m.pk}/statistics/",
        "XYZ tile": f"/api/v1/maps/{m.pk}/tiles/{tile.z}/{tile.x}/{tile.y}.png",
    }
    gunicorn = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "hrmars_site.wsgi", "--bind",
                                 f"127.0.0.1:{port}", "--workers", str(args.workers), "--log-level", "warning"],
                                cwd=ROOT, env=env, start_new_session=True)
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(base + "/health/", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        results = {"patches": total, "workers": args.workers, "connections": args.connections,
                   "duration_s": args.duration, "cached": {}, "varying": {}}
        for name, path in urls.items():
            for _ in range(args.workers * 2):  # every worker process imports and warms up
                urllib.request.urlopen(base + path, timeout=30).read()
            results["cached"][name] = wrk(base + path, args.connections, args.duration)
            print(name, results["cached"][name], flush=True)
        lua_places = ",".join(f"{{{p.y + rng.uniform(-0.003, 0.003):.5f},{p.x:.5f}}}" for p in places)
        for name, path in (("patch at a point", "/api/v1/patches/at/?lat=%s&lon=%s"),
                           ("footprints (one map view, bbox)", "/api/v1/patches/?bbox=%s")):
            if "bbox" in path:
                boxes = ",".join(f'{{"{p.x - 0.6:.4f},{p.y - 0.35:.4f},{p.x + 0.6:.4f},{p.y + 0.35:.4f}"}}'
                                 for p in places)
                script = LUA_VARYING.replace("p[1], p[2]", "p[1]") % (boxes, path)
            else:
                script = LUA_VARYING % (lua_places, path)
            (work / "varying.lua").write_text(script)
            cache.clear()
            results["varying"][name] = wrk(base + "/", args.connections, args.duration, work / "varying.lua")
            print("varying:", name, results["varying"][name], flush=True)
    finally:
        os.killpg(gunicorn.pid, signal.SIGTERM)
        gunicorn.wait(timeout=30)
        LandCoverMap.objects.filter(pk=m.pk).delete()
        shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "api.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
