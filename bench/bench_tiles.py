"""Uncached XYZ tiles: the site against TiTiler on the same COG, both on loopback, in one run (issue 15).

    .venv/bin/python bench/bench_tiles.py --cog MAP.tif [--tiles 300] [--zoom 14]

The peer a user would pick instead is TiTiler (titiler.core's TilerFactory under uvicorn), installed by
this script into its own virtualenv (`--titiler-venv`, default /tmp/hrmars-titiler-venv; from the
package index, once). The site runs as in production (gunicorn, DEBUG=0) on the embedded defaults in a
throw-away data folder, with a dummy cache so that no tile is ever served from a cache: every request
renders. The COG (a stored land-cover map: uint8 classes, colour table, overviews, e.g. the map of
`bench_models.py --scene`) is copied into the site's maps folder and attached to one map row.

Both servers get one process and the same request sequence: `--tiles` distinct z/x/y tiles over the
COG, each fetched once from each server, the two taking turns (which goes first alternates), over
keep-alive-free HTTP/1.1 from this process. Both render the classes with nearest resampling and the
same colour map. Reports p50 and p95 latency per server and their ratio. Writes bench/results/tiles.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_api import free_port  # noqa: E402  (after the path is set)
from bench_models import machine  # noqa: E402

TITILER = ["titiler.core~=2.4", "uvicorn~=0.38"]
TITILER_APP = """from fastapi import FastAPI
from titiler.core.factory import TilerFactory

app = FastAPI()
app.include_router(TilerFactory().router)
"""
SETUP = """
import os
from django.contrib.gis.geos import Polygon
from landcover.models import Dataset, LandCoverMap, Patch, Scene
west, south, east, north = map(float, os.environ["BENCH_BOUNDS"].split(","))
dataset = Dataset.objects.create(name="bench", kind="sen12ms")
scene = Scene.objects.create(dataset=dataset, scene_id="bench")
box = Polygon.from_bbox((west, south, east, north))
patch = Patch.objects.create(dataset=dataset, scene=scene, patch_id=1, footprint=box, crs="EPSG:4326",
                             transform=[1, 0, 0, 0, -1, 0], width=1, height=1, s2_path="bench")
m = LandCoverMap.objects.create(patch=patch, source="modis", status="done")
print(m.pk)
"""


def peer_python(venv: Path, packages: list[str]) -> Path:
    """The interpreter of a peer's own virtualenv (made and filled with `packages` on first use)."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
    return python


def wait_for(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Until `url` answers 200 (or the process dies)."""
    end = time.time() + timeout
    while time.time() < end:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer in {timeout} s")


def fetch(url: str) -> tuple[float, int, int]:
    """(seconds, status, bytes) of one GET."""
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:
        body = r.read()
        return time.perf_counter() - t0, r.status, len(body)


def tiles_over(cog: Path, zoom: int, count: int) -> tuple[list[tuple[int, int, int]], tuple[float, ...]]:
    """Up to `count` distinct tiles at `zoom` spread over the COG (wholly inside it), and its bounds in lon/lat."""
    import morecantile
    import numpy as np
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(cog) as src:
        bounds = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    west, south, east, north = bounds
    tms = morecantile.tms.get("WebMercatorQuad")
    tiles = [t for t in tms.tiles(*bounds, zooms=[zoom]) if (b := tms.bounds(t)).left > west and b.right < east
             and b.bottom > south and b.top < north]  # wholly inside: TiTiler answers 500 outside its bounds
    picked = [tiles[int(i)] for i in np.linspace(0, len(tiles) - 1, min(count, len(tiles)))]
    return [(t.z, t.x, t.y) for t in picked], bounds


def main() -> None:
    """Start both servers, take turns tile by tile, write the latencies."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--cog", type=Path, required=True, help="a land-cover map COG (uint8 classes)")
    parser.add_argument("--tiles", type=int, default=300)
    parser.add_argument("--zoom", type=int, default=14)
    parser.add_argument("--titiler-venv", type=Path, default=Path("/tmp/hrmars-titiler-venv"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    from ml.classes import colormap

    tiles, bounds = tiles_over(args.cog, args.zoom, args.tiles)
    python = peer_python(args.titiler_venv, TITILER)
    work = Path(tempfile.mkdtemp(prefix="hrmars-tiles-"))
    processes: list[subprocess.Popen] = []
    try:
        env = {**os.environ, "HRMARS_DATA_DIR": str(work / "data"), "DEBUG": "0", "HRMARS_HTTPS": "0",
               "SECRET_KEY": "bench-only-" + "x" * 40, "ALLOWED_HOSTS": "127.0.0.1", "CACHE_URL": "dummy://",
               "HRMARS_STATIC_MANIFEST": "0"}
        for key in ("DATABASE_URL", "CELERY_BROKER_URL"):
            env.pop(key, None)
        venv_python = str(ROOT / ".venv" / "bin" / "python")
        subprocess.run([venv_python, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        out = subprocess.run([venv_python, "manage.py", "shell", "-c", SETUP], cwd=ROOT, check=True,
                             env={**env, "BENCH_BOUNDS": ",".join(map(str, bounds))}, capture_output=True,
                             text=True).stdout
        map_id = int(out.strip().splitlines()[-1])
        (work / "data" / "maps" / str(map_id)).mkdir(parents=True)  # a map's folder: MAPS_DIR/<id>/
        shutil.copy(args.cog, work / "data" / "maps" / str(map_id) / "map.tif")
        site_port, titiler_port = free_port(), free_port()
        processes.append(subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "hrmars_site.wsgi", "--bind", f"127.0.0.1:{site_port}",
             "--workers", "1", "--threads", "1", "--log-level", "warning"], cwd=ROOT, env=env))
        (work / "titiler_app.py").write_text(TITILER_APP)
        processes.append(subprocess.Popen(
            [str(python), "-m", "uvicorn", "titiler_app:app", "--host", "127.0.0.1", "--port", str(titiler_port),
             "--workers", "1", "--log-level", "warning"], cwd=work))
        site = f"http://127.0.0.1:{site_port}/api/v1/maps/{map_id}/tiles/{{z}}/{{x}}/{{y}}.png"
        query = urllib.parse.urlencode({"url": str(args.cog), "resampling": "nearest",
                                        "colormap": json.dumps({str(k): v for k, v in colormap().items()})})
        titiler = f"http://127.0.0.1:{titiler_port}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png?{query}"
        wait_for(f"http://127.0.0.1:{site_port}/health/", processes[0])
        wait_for(f"http://127.0.0.1:{titiler_port}/docs", processes[1])
        warm = tiles[0]
        for template in (site, titiler):  # first requests import and open what each server needs
            for _ in range(3):
                fetch(template.format(z=warm[0], x=warm[1], y=warm[2]))
        seconds: dict[str, list[float]] = {"site": [], "titiler": []}
        statuses: dict[str, set[int]] = {"site": set(), "titiler": set()}
        for i, (z, x, y) in enumerate(tiles[1:]):
            order = [("site", site), ("titiler", titiler)]
            for name, template in order if i % 2 == 0 else order[::-1]:
                s, status, _ = fetch(template.format(z=z, x=x, y=y))
                seconds[name].append(s)
                statuses[name].add(status)
        report = {"machine": machine(), "cog": str(args.cog), "zoom": args.zoom, "tiles": len(tiles) - 1,
                  "statuses": {k: sorted(v) for k, v in statuses.items()}}
        for name, values in seconds.items():
            ordered = sorted(values)
            report[name] = {"p50_ms": round(1000 * statistics.median(values), 2),
                            "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 2)}
        report["site_vs_titiler_p50"] = round(report["site"]["p50_ms"] / report["titiler"]["p50_ms"], 3)
        report["site_vs_titiler_p95"] = round(report["site"]["p95_ms"] / report["titiler"]["p95_ms"], 3)
        print(json.dumps(report, indent=2))
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "tiles.json").write_text(json.dumps(report, indent=2) + "\n")
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
