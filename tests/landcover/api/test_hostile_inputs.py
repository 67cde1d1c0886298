"""Issue 23, finding 17: hostile inputs that answered 500 (found by a fault probe of the embedded site), each now a
400 naming the problem, with nothing left behind. Zip members that lie (a bad CRC, the encryption flag, an
unknown compression method, a false size), GeoJSON that is not (string or null coordinates, "features": 5,
nesting 100,000 deep, in areas, STAC search and reference points), a .prj that would fetch a file over HTTP,
a CSV field over 128 KB, a class of 5,000 digits, STAC `intersects` with words for coordinates."""
from __future__ import annotations

import io
import json
import struct
import zipfile

import pytest
import rasterio
import shapefile
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from landcover.models import AreaMap
from tests.landcover.files import nothing_kept, post, tiff

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000


def shapefile_zip(prj: str) -> bytes:
    """A zipped Shapefile of one small square with the given .prj."""
    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    with shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shapefile.POLYGON) as w:
        w.field("name", "C")
        w.poly([[[500000, 4170000], [500500, 4170000], [500500, 4170500], [500000, 4170500], [500000, 4170000]]])
        w.record("a")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for suffix, data in (("shp", shp), ("shx", shx), ("dbf", dbf)):
            zf.writestr(f"area.{suffix}", data.getvalue())
        zf.writestr("area.prj", prj)
    return out.getvalue()


def corrupt(data: bytes, how: str) -> bytes:
    """A zip whose first member lies: a bad CRC, the encryption flag, compression method 98, a false size."""
    raw = bytearray(data)
    header = raw.index(b"PK\x03\x04")
    central = raw.index(b"PK\x01\x02")
    if how == "crc":
        for at in (header + 14, central + 16):
            raw[at:at + 4] = struct.pack("<I", 0xDEADBEEF)
    elif how == "encrypted":
        for at in (header + 6, central + 8):
            raw[at] |= 1
    elif how == "method":
        for at in (header + 8, central + 10):
            raw[at:at + 2] = struct.pack("<H", 98)
    elif how == "size":
        for at in (header + 22, central + 24):
            raw[at:at + 4] = struct.pack("<I", 10**9)
    return bytes(raw)


def area_file(client, name: str, data: bytes):
    return client.post("/api/v1/areas/", {"file": SimpleUploadedFile(name, data)}, format="multipart")


@pytest.fixture
def client(tiny_unet_model):
    return APIClient()


@pytest.mark.parametrize("how", ["crc", "encrypted", "method", "size"])
def test_zip_members_that_lie_are_400s(client, alice, how):
    wkt = rasterio.crs.CRS.from_epsg(32618).to_wkt()
    answer = area_file(client, "area.zip", corrupt(shapefile_zip(wkt), how))
    assert answer.status_code == 400, (how, answer.status_code, answer.content[:300])
    assert "file" in answer.json() and not AreaMap.objects.exists()
    bands = {f"scene_{b}.tif": tiff(count=1, fill=500) for b in ("B02", "B03", "B04", "B08")}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in bands.items():
            zf.writestr(name, data)
    upload = post(alice, "bands.zip", corrupt(out.getvalue(), how))
    assert upload.status_code == 400, (how, upload.status_code, upload.content[:300])
    assert nothing_kept()


@pytest.mark.parametrize("geometry", [
    {"type": "Polygon", "coordinates": [[["a", "b"], ["c", "d"], ["e", "f"], ["a", "b"]]]},
    {"type": "Polygon", "coordinates": [[[None, None], [1, 1], [1, 0], [None, None]]]},
    {"type": "FeatureCollection", "features": 5},
    {"type": "Polygon", "coordinates": None},
])
def test_geojson_that_is_not_is_a_400(client, geometry):
    answer = client.post("/api/v1/areas/", {"geometry": geometry}, format="json")
    assert answer.status_code == 400 and "geometry" in answer.json(), answer.content[:300]
    assert area_file(client, "area.geojson", json.dumps(geometry).encode()).status_code == 400


def test_nesting_100k_deep_is_a_400_everywhere(client):
    for url in ("/api/v1/areas/", "/api/v1/stac/search", "/api/v1/changes/"):
        answer = client.post(url, DEEP, content_type="application/json")
        assert answer.status_code == 400, (url, answer.status_code)
    assert area_file(client, "area.geojson", ('{"type": "Polygon", "coordinates": ' + DEEP + "}").encode()
                     ).status_code == 400


def test_a_prj_that_would_fetch_a_file_over_http_is_a_400(client):
    prj = ('BOUNDCRS[SOURCECRS[GEOGCRS["WGS 84",DATUM["World Geodetic System 1984",ELLIPSOID["WGS 84",6378137,'
           '298.257223563]],CS[ellipsoidal,2],AXIS["lat",north],AXIS["lon",east],UNIT["degree",0.0174532925199433]]],'
           'TARGETCRS[GEOGCRS["WGS 84",DATUM["World Geodetic System 1984",ELLIPSOID["WGS 84",6378137,298.257223563]],'
           'CS[ellipsoidal,2],AXIS["lat",north],AXIS["lon",east],UNIT["degree",0.0174532925199433]]],'
           'ABRIDGEDTRANSFORMATION["grid",METHOD["NTv2"],PARAMETERFILE["Latitude and longitude difference file",'
           '"http://127.0.0.1:9/grid.gsb"]]]')
    answer = area_file(client, "area.zip", shapefile_zip(prj))
    assert answer.status_code == 400 and "file" in answer.json(), answer.content[:300]


def test_reference_points_that_are_not_are_400s(client, catalogue):
    m = client.get("/api/v1/maps/low/", {"patch": catalogue.first().pk}).json()
    url = m["url"] + "accuracy/"
    cases = {
        "big.csv": b"lon,lat,class\n1," + b"9" * 200_000 + b",1\n",
        "digits.csv": b"lon,lat,class\n1,2," + b"7" * 5000 + b"\n",
        "deep.geojson": ('{"type": "FeatureCollection", "features": ' + DEEP + "}").encode(),
        "five.geojson": b'{"type": "FeatureCollection", "features": 5}',
    }
    for name, data in cases.items():
        answer = client.post(url, {"file": SimpleUploadedFile(name, data)}, format="multipart")
        assert answer.status_code == 400 and "file" in answer.json(), (name, answer.status_code, answer.content[:200])


def test_stac_intersects_with_words_for_coordinates_is_a_400(client):
    for body in ({"intersects": {"type": "Point", "coordinates": ["a", "b"]}},
                 {"intersects": {"type": "Polygon", "coordinates": "x"}}, {"bbox": ["a", 1, 2, 3]}):
        answer = client.post("/api/v1/stac/search", body, format="json")
        assert answer.status_code == 400, (body, answer.status_code, answer.content[:200])


def test_area_files_of_too_many_features_are_refused_and_every_file_counts(client, settings):
    """Issue 23, finding 22: a 20,000-feature area file cost the web process 3–7 s before being refused, and refused
    files counted against no limit. Now a file of more than HRMARS_AREA_MAX_FEATURES polygons is refused before
    they are read, and every area file, refused ones included, counts against HRMARS_AREA_FILE_RATE."""
    settings.AREA_MAX_FEATURES = 50
    settings.AREA_FILE_RATE = "3/h"
    square = [[[-75.65, 37.67], [-75.649, 37.67], [-75.649, 37.671], [-75.65, 37.671], [-75.65, 37.67]]]
    many = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": square}}] * 51}
    answer = area_file(client, "units.geojson", json.dumps(many).encode())
    assert answer.status_code == 400 and "51 features" in answer.json()["file"][0]
    answers = [area_file(client, "bad.geojson", b"{not json").status_code for _ in range(4)]
    assert answers == [400, 400, 429, 429]  # the refused 51-feature file counted as the first
