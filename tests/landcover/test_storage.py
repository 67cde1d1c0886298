"""Results in object storage (issue 24, item 5), against a real S3 server on loopback (SeaweedFS): a folder
published there leaves nothing on the machine that made it; GDAL reads its COGs through /vsis3/ with range
requests; the API serves tiles, ranged downloads, statistics, exports and STAC from it; deleting a row removes
its objects. What the server holds is checked with a client of our own here, not through the module tested."""
from __future__ import annotations

import os
import time
from pathlib import Path

import morecantile
import numpy as np
import obstore
import pytest
import rasterio
from django.core.exceptions import ImproperlyConfigured
from obstore.store import S3Store
from rasterio.transform import from_origin
from rasterio.windows import Window
from rest_framework.test import APIClient

from landcover import storage
from landcover.jobs import uploads
from landcover.jobs.maps import MAP_PRODUCT
from landcover.models import LandCoverMap, Upload
from landcover.tasks import process_upload
from ml.synthetic import make_scene
from tests.conftest import free_port
from tests.landcover.conftest import centre
from tests.landcover.files import post

pytestmark = pytest.mark.django_db


def keys(s3_server, prefix: str) -> dict[str, int]:
    """Every object under `prefix` in the test bucket, with its size (read without landcover.storage)."""
    store = S3Store(s3_server.bucket, endpoint=s3_server.endpoint, access_key_id=s3_server.access_key,
                    secret_access_key=s3_server.secret_key, region="us-east-1", client_options={"allow_http": True})
    return {meta["path"]: meta["size"] for batch in obstore.list(store, prefix=prefix) for meta in batch}


def test_a_published_folder_lives_in_the_store_alone_and_reads_in_ranges(object_storage, s3_server, settings,
                                                                          tmp_path):
    folder = Path(settings.MAPS_DIR) / "abc"
    work = tmp_path / "work"
    (work / "tiles").mkdir(parents=True)
    data = os.urandom(3 * 2**20 + 17)  # bigger than one streamed piece
    (work / "map.bin").write_bytes(data)
    (work / "tiles" / "note.txt").write_text("tile")
    storage.publish(work, folder)

    assert not work.exists() and not folder.exists()  # nothing stays on the machine that made it
    assert keys(s3_server, object_storage) == {f"{object_storage}/maps/abc/map.bin": len(data),
                                               f"{object_storage}/maps/abc/tiles/note.txt": 4}
    assert storage.exists(folder / "map.bin") and not storage.exists(folder / "other.bin")
    assert storage.stat(folder / "map.bin").size == len(data)
    assert b"".join(storage.chunks(folder / "map.bin", 1000, 2 * 2**20 + 5)) == data[1000:1000 + 2 * 2**20 + 5]
    assert storage.read_bytes(folder / "tiles" / "note.txt") == b"tile"
    with pytest.raises(FileNotFoundError):
        storage.stat(folder / "other.bin")

    storage.fetch(folder)  # what a job does with its inputs on another machine
    assert (folder / "map.bin").read_bytes() == data and (folder / "tiles" / "note.txt").read_text() == "tile"

    storage.remove(folder)
    assert keys(s3_server, object_storage) == {} and not folder.exists()
    storage.remove_file(folder / "map.bin")  # nothing there: no error
    with pytest.raises(ImproperlyConfigured, match="outside HRMARS_DATA_DIR"):
        storage.name(Path("/elsewhere/map.tif"))


def test_gdal_reads_a_stored_cog_through_vsis3(object_storage, settings, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    pixels = (np.arange(600 * 500) % 11).astype("uint8").reshape(600, 500)
    with rasterio.open(work / "map.tif", "w", driver="COG", width=500, height=600, count=1, dtype="uint8",
                       crs="EPSG:32618", transform=from_origin(400000, 4200000, 10, 10), blocksize=256) as dst:
        dst.write(pixels, 1)
    folder = Path(settings.AREAS_DIR) / "cog"
    storage.publish(work, folder)
    name = storage.name(folder / "map.tif")
    assert name.startswith(f"/vsis3/hrmars/{object_storage}/")
    with rasterio.open(name) as src:
        assert src.read(1, window=Window(300, 400, 100, 50)).tolist() == pixels[400:450, 300:400].tolist()


def test_maps_in_the_store_serve_tiles_ranges_exports_and_stac_and_go_with_their_row(object_storage, s3_server,
                                                                                     catalogue):
    client = APIClient()
    stored = LandCoverMap.objects.filter(status="done").order_by("pk")
    m = stored.first()
    assert stored.count() == 24 and not Path(MAP_PRODUCT.folder(m)).exists()  # made here, kept there alone
    objects = keys(s3_server, f"{object_storage}/maps/{MAP_PRODUCT.folder_name(m)}")
    cog_key = next(k for k in objects if k.endswith("/map.tif"))

    url = f"/api/v1/maps/{m.pk}/"
    lat, lon = centre(m.patch)
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 15)
    answer = client.get(url + f"tiles/{tile.z}/{tile.x}/{tile.y}.png")
    assert answer.status_code == 200 and answer.content.startswith(b"\x89PNG") and len(answer.content) > 200

    whole = b"".join(client.get(url + "map.tif").streaming_content)
    assert len(whole) == objects[cog_key]
    part = client.get(url + "map.tif", HTTP_RANGE="bytes=100-1123")
    assert part.status_code == 206 and b"".join(part.streaming_content) == whole[100:1124]
    assert part["Content-Range"] == f"bytes 100-1123/{len(whole)}"
    assert client.get(url + "statistics.csv").status_code == 200

    vectors = client.get(url + "vectors.geojson")  # an export made here from the stored map, then stored there
    assert vectors.status_code == 200, vectors.content[:300]
    assert any("/exports/" in k for k in keys(s3_server, object_storage))
    item = client.get(f"/api/v1/stac/collections/catalogue-maps/items/map-{m.pk}").json()
    assert item["assets"]["data"]["file:size"] == objects[cog_key]

    m.delete()
    assert keys(s3_server, f"{object_storage}/maps/{MAP_PRODUCT.folder_name(m)}") == {}
    assert client.get(url + "map.tif").status_code == 404


def test_an_upload_waits_in_the_store_and_its_job_fetches_it_and_keeps_nothing_here(object_storage, s3_server,
                                                                                     alice, tmp_path):
    scene = make_scene(tmp_path / "scene.tif", 120, 100, bands=13, seed=4).read_bytes()
    job = post(alice, "scene.tif", scene).json()
    upload = Upload.objects.get()
    folder = uploads.UPLOAD_PRODUCT.folder(upload)
    base = f"{object_storage}/uploads/{upload.token}"
    assert not folder.exists() and keys(s3_server, base) == {f"{base}/source.tif": len(scene)}  # for any worker

    assert process_upload.apply(args=[upload.pk]).get()["status"] == "done"  # fetched, mapped, uploaded
    assert not folder.exists()
    assert {"source.tif", "map.tif", "preview.png"} <= {k.rsplit("/", 1)[1] for k in keys(s3_server, base)}
    assert alice.get(job["url"] + "preview.png").status_code == 200
    assert alice.delete(job["url"]).status_code == 204
    assert keys(s3_server, base) == {}


def test_a_store_that_does_not_answer_is_a_503_in_seconds_not_a_hang(catalogue, settings, tmp_path):
    m = LandCoverMap.objects.filter(status="done").order_by("pk").first()
    settings.DATA_DIR = tmp_path
    settings.STORAGE_URL, settings.STORAGE_ENDPOINT = "s3://hrmars/gone", f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    answer = APIClient().get(f"/api/v1/maps/{m.pk}/map.tif")
    assert answer.status_code == 503 and "store did not answer" in answer.json()["detail"]
    assert time.monotonic() - started < 30
