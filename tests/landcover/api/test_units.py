"""Statistics per unit (issue 24 #4) through the API: a layer of 1,024 units over a stored map gives one row per
unit, equal to the pixels each unit's centres hold (the per-polygon statistics), in CSV, GeoJSON and GeoPackage;
the same units again give the same export; each bad layer is a 400 of its own and leaves no export behind; a
private map's units are its owner's alone."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pyogrio
import pytest
import rasterio
from django.core.files.uploadedfile import SimpleUploadedFile
from rasterio.io import MemoryFile
from rasterio.warp import transform as warp

from landcover.jobs import exports
from landcover.models import Export
from landcover.tasks import compute_export, compute_map
from tests.landcover.files import zipped

pytestmark = pytest.mark.django_db
CELL = 8  # px: 32 × 32 = 1,024 units over the 256² map


def stored_map(client, patch) -> tuple[dict, np.ndarray, rasterio.Affine, str]:
    job = client.get("/api/v1/maps/high/", {"patch": patch.pk}).json()
    compute_map.apply(args=[job["id"]]).get()
    m = client.get(job["url"]).json()
    with MemoryFile(b"".join(client.get(m["links"]["cog"]).streaming_content)) as mem, mem.open() as src:
        return m, src.read(1), src.transform, src.crs.to_string()


def cell_layer(codes: np.ndarray, transform, crs: str) -> dict:
    features = []
    for r in range(0, codes.shape[0], CELL):
        for c in range(0, codes.shape[1], CELL):
            xs, ys = zip(*[transform * p for p in ((c, r), (c + CELL, r), (c + CELL, r + CELL), (c, r + CELL), (c, r))])
            lons, lats = warp(crs, "EPSG:4326", list(xs), list(ys))
            features.append({"type": "Feature", "properties": {"name": f"cell {r // CELL}-{c // CELL}", "row": r},
                             "geometry": {"type": "Polygon", "coordinates": [list(map(list, zip(lons, lats)))]}})
    return {"type": "FeatureCollection", "features": features}


def send(client, url: str, name: str, data: bytes):
    return client.post(url + "units/", {"file": SimpleUploadedFile(name, data)}, format="multipart")


def test_a_thousand_units_each_get_the_pixels_they_hold(client, catalogue):
    m, codes, transform, crs = stored_map(client, catalogue[0])
    layer = cell_layer(codes, transform, crs)
    answer = send(client, m["url"], "cells.geojson", json.dumps(layer).encode())
    assert answer.status_code == 202, answer.content
    job = answer.json()
    assert job["units"] == 1024 and answer["Location"] == job["url"]
    assert compute_export.apply(args=[job["id"]]).get()["status"] == "done"
    done = client.get(job["url"]).json()
    assert done["status"] == "done" and set(done["links"]) >= {"units_csv", "units_geojson", "units_gpkg"}

    text = b"".join(client.get(done["links"]["units_csv"]).streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1024 and rows[0]["name"] == "cell 0-0"
    names = {r["code"]: r["name"] for r in m["statistics"]}
    pixel_ha = sum(r["area_km2"] for r in m["statistics"]) * 100 / int((codes > 0).sum())
    for row in rows[::37]:
        i, j = (int(v) for v in row["name"].split()[1].split("-"))
        block = codes[i * CELL:(i + 1) * CELL, j * CELL:(j + 1) * CELL]
        for code, name in names.items():
            slug = exports.slug(name)
            expected = int((block == code).sum())
            assert float(row[f"lc_{slug}_ha"]) == pytest.approx(expected * pixel_ha, rel=2e-3, abs=1e-4)
            share = 100 * expected / max(1, int((block > 0).sum()))
            assert float(row[f"lc_{slug}_percent"]) == pytest.approx(share, abs=1e-3)
    # The layer tiles the map: its units sum to the map's own statistics.
    for r in m["statistics"]:
        total = sum(float(row[f"lc_{exports.slug(r['name'])}_ha"]) for row in rows)
        assert total == pytest.approx(r["area_km2"] * 100, rel=1e-3)

    geojson = json.loads(b"".join(client.get(done["links"]["units_geojson"]).streaming_content))
    assert len(geojson["features"]) == 1024 and geojson["features"][5]["properties"]["row"] == 0
    gpkg = b"".join(client.get(done["links"]["units_gpkg"]).streaming_content)
    path = exports.EXPORT_PRODUCT.path(Export.objects.get(pk=job["id"]), "units.gpkg")
    info = pyogrio.read_info(path)
    assert info["features"] == 1024 and "lc_mapped_ha" in list(info["fields"]) and gpkg[:16] == b"SQLite format 3\0"

    again = send(client, m["url"], "cells.geojson", json.dumps(layer).encode())  # the same units: the same export
    assert again.status_code == 200 and again.json()["id"] == job["id"] and "links" in again.json()


def test_each_bad_layer_is_a_400_of_its_own_and_leaves_nothing(client, catalogue, settings):
    settings.UNITS_MAX_FEATURES = 3
    m, codes, transform, crs = stored_map(client, catalogue[0])
    four = cell_layer(codes[:16, :16], transform, crs)
    point = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                                                         "geometry": {"type": "Point", "coordinates": [1, 2]}}]}
    far = {"type": "Polygon", "coordinates": [[[500, 0], [501, 0], [501, 1], [500, 0]]]}
    cases = {
        "not json": ("units.geojson", b"{nope", "not readable GeoJSON"),
        "features not a list": ("units.geojson", b'{"type": "FeatureCollection", "features": 5}', "must be a list"),
        "too many units": ("units.geojson", json.dumps(four).encode(), "holds 4 features"),
        "points": ("units.geojson", json.dumps(point).encode(), "must be a Polygon or MultiPolygon"),
        "off the earth": ("units.geojson", json.dumps(far).encode(), "outside longitudes"),
        "zip without a shapefile": ("units.zip", zipped({"readme.txt": b"hi"}), "exactly one .shp"),
        "named wrong": ("units.kml", json.dumps(point).encode(), "name it .geojson"),
    }
    messages = set()
    for case, (name, data, expected) in cases.items():
        answer = send(client, m["url"], name, data)
        assert answer.status_code == 400, (case, answer.content)
        message = answer.json()["file"][0]
        assert expected in message, (case, message)
        messages.add(message)
    assert len(messages) == len(cases) and not Export.objects.exists()


def test_a_private_maps_units_are_its_owners_alone(alice, bob, tmp_path):
    from ml.synthetic import make_scene
    from tests.landcover.files import post

    upload = post(alice, "scene.tif", make_scene(tmp_path / "s.tif", 64, 64, seed=3).read_bytes()).json()
    from landcover.tasks import process_upload
    process_upload.apply(args=[upload["id"]]).get()
    with rasterio.open(exports.products.product("upload").path(
            exports.products.product("upload").job.rows().get(pk=upload["id"]), "map.tif")) as src:
        layer = cell_layer(src.read(1)[:16, :16], src.transform, src.crs.to_string())
    assert send(bob, upload["url"], "u.geojson", json.dumps(layer).encode()).status_code == 404
    assert send(alice, upload["url"], "u.geojson", json.dumps(layer).encode()).status_code == 202
