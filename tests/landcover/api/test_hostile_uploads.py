"""The standing hostile-input corpus of issue 11: files an attacker or a broken tool sends. Each gets a 400
with its own message naming no path on the server, nothing is left on disk or in the database, no request
leaves the server, and a good file is still mapped afterwards (the worker is healthy)."""
from __future__ import annotations

import http.server
import threading

import numpy as np
import pytest
import rasterio
from django.conf import settings
from django.db import IntegrityError
from rasterio.transform import Affine, from_origin

from landcover.jobs import uploads
from landcover.models import ModelVersion, Upload
from landcover.tasks import process_upload
from ml.synthetic import make_scene
from tests.landcover.files import nothing_kept, post, tiff, zipped

pytestmark = pytest.mark.django_db

SECRET = b"hrmars-secret-bytes-that-must-never-leave-the-server"
BANDS = ("B02", "B03", "B04", "B08")


@pytest.fixture
def loopback_server():
    """An HTTP server on 127.0.0.1 that counts the requests it gets (none must come)."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(tiff(count=1, fill=7))

        do_HEAD = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()


def raw_vrt(source: str) -> bytes:
    """A VRT whose one band reads raw bytes from `source` (a local file or a /vsicurl/ address)."""
    return (f'<VRTDataset rasterXSize="8" rasterYSize="8"><SRS>EPSG:32632</SRS>'
            f'<GeoTransform>500000, 10, 0, 5300000, 0, -10</GeoTransform>'
            f'<VRTRasterBand dataType="Byte" band="1" subClass="VRTRawRasterBand">'
            f'<SourceFilename relativetoVRT="0">{source}</SourceFilename><ImageOffset>0</ImageOffset>'
            f'<PixelOffset>1</PixelOffset><LineOffset>8</LineOffset></VRTRasterBand></VRTDataset>').encode()


def vrt_band_zip(source: str) -> bytes:
    return zipped({f"T32TPT_{b}.tif": raw_vrt(source) for b in BANDS})


def band_zip(**per_band) -> bytes:
    """Four band GeoTIFFs; per_band[band] = (crs, transform) overrides one band's georeference."""
    entries = {}
    for band in BANDS:
        crs, transform = per_band.get(band, ("EPSG:32632", from_origin(500000, 5300000, 10, 10)))
        entries[f"T32TPT_{band}.tif"] = tiff(count=1, fill=800, crs=crs, transform=transform)
    return zipped(entries)


def corpus(secret_path: str, server: str) -> dict[str, tuple[str, bytes, str]]:
    """name → (file name, bytes, what the message says)."""
    tall = dict(width=64, height=64)
    return {
        # Finding 1: files that are not GeoTIFFs, whatever they are called, are never opened as what they claim.
        "zip member is a VRT reading a local file": ("local.zip", vrt_band_zip(secret_path), "it is not one"),
        "zip member is a VRT fetching a URL": ("remote.zip", vrt_band_zip(f"/vsicurl/{server}/x.tif"), "it is not one"),
        "upload is a VRT": ("plain.tif", raw_vrt(secret_path), "not a GeoTIFF or a zip"),
        # Finding 2: georeferences whose footprint cannot be computed.
        "origin +inf": ("inf.tif", tiff(fill=9, transform=Affine(10, 0, float("inf"), 0, -10, 5e6), **tall),
                        "infinite or undefined"),
        "origin NaN": ("nan-origin.tif", tiff(fill=9, transform=Affine(10, 0, float("nan"), 0, -10, 5e6), **tall),
                       "infinite or undefined"),
        "origin outside the projection": ("far.tif", tiff(fill=9, transform=from_origin(9e12, 5e6, 10, 10), **tall),
                                          "lies outside the Earth"),
        "CRS without longitude/latitude": ("local-cs.tif", tiff(fill=9, crs='LOCAL_CS["arbitrary",UNIT["metre",1]]'),
                                           "lies outside the Earth"),
        # Finding 5: bands stacked by georeference, not by pixel shape.
        "bands in different CRSs": ("crss.zip", band_zip(B03=("EPSG:32633", from_origin(500000, 5300000, 10, 10)),
                                                         B04=("EPSG:3857", from_origin(500000, 5300000, 10, 10))),
                                    "different coordinate reference systems"),
        "band shifted by 50 km": ("shifted.zip", band_zip(B04=("EPSG:32632", from_origin(550000, 5300000, 10, 10))),
                                  "does not cover the same ground"),
        # Finding 8: cheap files that would cost a web worker a lot.
        "one block for the whole image": ("one-block.tif", tiff(count=13, dtype="uint8", width=5000, height=4000,
                                                                fill=0, tiled=True, blockxsize=4608, blockysize=4608,
                                                                compress="deflate"),
                                          "stores its pixels in blocks"),
        "huge and empty": ("empty-tile.tif", tiff(width=11000, height=11000, tiled=True, SPARSE_OK=True),
                           "holds no data where it was sampled"),
        # Finding 9: georeferences that cannot be right.
        "latitude 120": ("lat.tif", tiff(fill=9, crs="EPSG:4326", transform=from_origin(10, 120, 1e-4, 1e-4)),
                         "lies outside the Earth"),
        "longitude 1e300": ("lon.tif", tiff(fill=9, crs="EPSG:4326", transform=from_origin(1e300, 45, 1e-4, 1e-4)),
                            "lies outside the Earth"),
        "zero pixel size": ("flat.tif", tiff(fill=9, transform=Affine(10, 0, 500000, 0, 0, 5300000)),
                            "pixel size of zero"),
    }


def test_every_hostile_file_is_refused_with_its_reason_and_leaves_nothing(alice, tmp_path, loopback_server):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(SECRET * 4)
    server, hits = loopback_server
    messages = set()
    for case, (name, data, expected) in corpus(str(secret), server).items():
        response = post(alice, name, data)
        assert response.status_code == 400, (case, response.status_code, response.content[:300])
        message = response.json()["file"][0]
        assert expected in message, (case, message)
        assert str(tmp_path) not in message and str(settings.UPLOADS_DIR) not in message and "/tmp" not in message, \
            (case, message)
        messages.add(message)
        assert nothing_kept(), case
    assert len(messages) == len(corpus(str(secret), server))  # each its own message
    assert hits == []  # the server fetched nothing
    # The worker is healthy: a good file after all that is accepted and mapped.
    good = make_scene(tmp_path / "good.tif", 120, 130, bands=13, seed=3).read_bytes()
    response = post(alice, "good.tif", good)
    assert response.status_code == 202
    assert process_upload.apply(args=[response.json()["id"]]).get()["status"] == "done"


def test_float_reflectance_bands_in_a_zip_become_digital_numbers(alice):
    """Finding 9: float reflectances (0…1) were cast to uint16 (all 0) and refused as holding no data."""
    rng = np.random.default_rng(1)
    entries = {f"T32TPT_{band}.tif": tiff(count=1, dtype="float32", data=rng.uniform(0.02, 0.3, (1, 64, 64)))
               for band in BANDS}
    response = post(alice, "reflectance.zip", zipped(entries))
    assert response.status_code == 202, response.content
    assert process_upload.apply(args=[response.json()["id"]]).get()["status"] == "done"  # the job stacks them
    with rasterio.open(uploads.UPLOAD_PRODUCT.folder(Upload.objects.get()) / "source.tif") as src:
        dn = src.read()
    assert dn.dtype == np.uint16 and 200 <= dn.min() and dn.max() <= 3000  # reflectance × 10000


def test_too_many_upload_attempts_are_refused_failed_ones_included(alice, settings):
    settings.UPLOAD_RATE = "3/h"
    for _ in range(3):
        assert post(alice, "junk.tif", b"not an image").status_code == 400
    response = post(alice, "junk.tif", b"not an image")
    assert response.status_code == 429 and "uploads allowed" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_a_failure_after_the_file_is_stored_takes_the_file_away(django_user_model, tiny_unet, tmp_path):
    """Finding 2: whatever fails once the file is in its folder, the folder goes again (here the database
    refuses the row, whose model was deleted meanwhile)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from landcover.catalogue.registry import register_model

    version = register_model(tiny_unet, name="tiny-unet", default=True)
    user = django_user_model.objects.create_user("erin", "e@example.org", "pw-erin-1234")
    ModelVersion.objects.filter(pk=version.pk).delete()
    scene = make_scene(tmp_path / "s.tif", 100, 100, bands=13, seed=2).read_bytes()
    with pytest.raises(IntegrityError):
        uploads.accept_upload(user, SimpleUploadedFile("s.tif", scene), version)
    assert nothing_kept()


@pytest.mark.parametrize("url, status, parameter", [
    ("/api/v1/patches/?dataset=%C2%B2", 400, "dataset"),
    ("/api/v1/scenes/?dataset=%C2%B2", 400, "dataset"),
    ("/api/v1/patches/?dataset=99999999999999999999", 400, "dataset"),
    ("/api/v1/patches/at/?lat=48&lon=11&dataset=%C2%B2", 400, "dataset"),
    ("/api/v1/maps/low/?patch=%C2%B9", 400, "patch"),
    ("/api/v1/maps/high/?patch=99999999999999999999", 400, "patch"),
    ("/api/v1/maps/99999999999999999999/", 404, None),
    ("/api/v1/patches/99999999999999999999/", 404, None),
    ("/api/v1/maps/99999999999999999999/tiles/1/0/0.png", 404, None),
])
def test_numbers_the_database_cannot_hold_are_a_400_or_404_never_a_500(client, tiny_unet_model, url, status, parameter):
    """Finding 7: str.isdigit() took '²', and ids past 64 bits overflowed the database."""
    response = client.get(url)
    assert response.status_code == status, response.content[:300]
    if parameter:
        assert parameter in response.json()
