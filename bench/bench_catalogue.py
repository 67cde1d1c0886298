"""Catalogue benchmark: ingestion rate from headers and PostGIS query latency at SEN12MS scale.

    .venv/bin/python bench/bench_catalogue.py [--patches 180662] [--database-url postgis://…/hrmars_bench]

1. Writes a SEN12MS-layout tree of header-only GeoTIFFs (sparse: 256×256×13 uint16 with no
   data blocks, a few hundred bytes each) over 125 scenes in their own UTM zones.
2. Ingests it with `ingest_samples` (the code behind `manage.py ingest_sen12ms`) into a
   separate database (created if missing; default hrmars_bench on the local PostGIS).
3. Times the catalogue queries the API makes: the patch at a point, and one page of the
   footprints in a map view (bbox), p50/p95 over 500 random queries each.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_tree(root: Path, patches: int, scenes: int = 125) -> None:
    import rasterio
    from rasterio.transform import from_origin

    from ml.synthetic import utm_origin

    rng = random.Random(0)
    per_scene = -(-patches // scenes)
    side = int(per_scene**0.5) + 1
    seasons = (("ROIs1158", "spring"), ("ROIs1868", "summer"), ("ROIs1970", "fall"), ("ROIs2017", "winter"))
    written = 0
    for s in range(scenes):
        lon, lat = rng.uniform(-170, 170), rng.uniform(-55, 70)
        crs, x0, y0 = utm_origin(lon, lat)
        roi, season = seasons[s % 4]
        folder = root / f"{roi}_{season}" / f"s2_{s + 1}"
        folder.mkdir(parents=True, exist_ok=True)
        for p in range(min(per_scene, patches - written)):
            r, c = divmod(p, side)
            with rasterio.open(folder / f"{roi}_{season}_s2_{s + 1}_p{p + 1}.tif", "w", driver="GTiff", width=256,
                               height=256, count=13, dtype="uint16", crs=crs, tiled=True, SPARSE_OK=True,
                               transform=from_origin(x0 + c * 2560, y0 - r * 2560, 10, 10)):
                pass
            written += 1


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"p50_ms": round(1000 * statistics.median(ordered), 2),
            "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 2), "n": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patches", type=int, default=180_662)
    parser.add_argument("--tree", type=Path, default=Path("/tmp/hrmars-bench/catalogue-tree"))
    parser.add_argument("--database-url", default="postgis://hrmars:hrmars@127.0.0.1:5432/hrmars_bench")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/13")
    os.environ.setdefault("HRMARS_DATA_DIR", "/tmp/hrmars-bench/data")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hrmars_site.settings")
    import psycopg2

    name = args.database_url.rsplit("/", 1)[1]
    admin = psycopg2.connect(args.database_url.replace("postgis://", "postgresql://").rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname=%s", [name])
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.contrib.gis.geos import Point, Polygon
    from django.core.management import call_command
    from django.db import connection

    from landcover.catalogue.ingestion import get_or_create_dataset, ingest_samples
    from landcover.models import Patch
    from ml.datasets import scan_sen12ms

    call_command("migrate", verbosity=0)
    if not args.tree.exists():
        t = time.perf_counter()
        make_tree(args.tree, args.patches)
        print(f"wrote {args.patches} header-only patches in {time.perf_counter() - t:.0f} s", flush=True)
    Patch.objects.all().delete()
    t = time.perf_counter()
    samples = scan_sen12ms(args.tree)
    scan_s = time.perf_counter() - t
    dataset = get_or_create_dataset("bench", "sen12ms", args.tree, synthetic=True)
    report = ingest_samples(dataset, samples)
    result = {"patches": report.created, "scan_seconds": round(scan_s, 1), "ingest_seconds": round(report.seconds, 1),
              "ingest_patches_per_s": round(report.created / report.seconds, 1),
              "with_scan_patches_per_s": round(report.created / (report.seconds + scan_s), 1)}
    print(json.dumps(result), flush=True)
    t = time.perf_counter()
    again = ingest_samples(dataset, samples)
    result["second_run_added"] = again.created
    result["second_run_seconds"] = round(time.perf_counter() - t, 1)
    with connection.cursor() as cur:
        cur.execute("ANALYZE landcover_patch")

    rng = random.Random(1)
    centres = [p.centroid for p in Patch.objects.order_by("?").values_list("footprint", flat=True)[:500]]
    point_times = []
    for c in centres:
        t = time.perf_counter()
        list(Patch.objects.filter(footprint__intersects=Point(c.x + rng.uniform(-0.005, 0.005), c.y, srid=4326))
             .select_related("scene")[:5])
        point_times.append(time.perf_counter() - t)
    bbox_times = []
    for c in centres:
        view = Polygon.from_bbox((c.x - 0.6, c.y - 0.35, c.x + 0.6, c.y + 0.35))  # ~ a 1200×700 px view at zoom 10
        view.srid = 4326
        t = time.perf_counter()
        qs = Patch.objects.filter(footprint__bboverlaps=view).only("id", "footprint", "patch_id").order_by("id")
        list(qs[:100])  # evaluate the page
        qs.count()
        bbox_times.append(time.perf_counter() - t)
    result["point_query"] = percentiles(point_times)
    result["bbox_page_query"] = percentiles(bbox_times)
    result["bbox_mean_hits"] = round(statistics.mean(
        Patch.objects.filter(footprint__bboverlaps=Polygon.from_bbox((c.x - 0.6, c.y - 0.35, c.x + 0.6, c.y + 0.35)))
        .count() for c in centres[:50]), 1)
    print(json.dumps(result, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "catalogue.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
