"""Uploads: a corpus of bad files (each a 400 with its own message, nothing kept), a good GeoTIFF and a
zip of band files mapped by the job, cancel, delete, per-user limits, and isolation between users."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import rasterio
from rasterio.io import MemoryFile
from rest_framework.test import APIClient

from landcover.catalogue.registry import register_model
from landcover.jobs import uploads
from landcover.models import Upload
from landcover.tasks import process_upload
from ml.modelio import read_card, write_card
from ml.synthetic import make_scene
from tests.landcover.files import nothing_kept, post, tiff, zipped

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene_bytes(tmp_path):
    return make_scene(tmp_path / "scene.tif", 300, 280, bands=13, seed=4).read_bytes()


def bad_corpus(good: bytes) -> dict[str, tuple[str, bytes, str]]:
    bomb = zipped({"T32_B02.tif": b"\0" * (40 * 2**20)})
    return {
        "truncated": ("cut.tif", good[: len(good) // 3], "damaged or truncated"),
        "png renamed": ("photo.tif", b"\x89PNG\r\n\x1a\n" + b"\0" * 200, "not a GeoTIFF or a zip"),
        "no crs": ("nocrs.tif", tiff(crs=None, fill=100), "no coordinate reference system"),
        "one band": ("one.tif", tiff(count=1, fill=100), "has 1 band(s)"),
        "twenty bands": ("twenty.tif", tiff(count=20, fill=100), "has 20 band(s)"),
        "huge header": ("huge.tif", tiff(width=100_000, height=100_000, tiled=True, SPARSE_OK=True),
                        "100,000 × 100,000 pixels"),
        "zip bomb": ("bomb.zip", bomb, "zip bomb"),
        "zip traversal": ("evil.zip", zipped({"../../etc/T32_B02.tif": tiff(count=1, fill=5)}), "unsafe path"),
        "all NaN": ("nan.tif", tiff(dtype="float32", fill=np.nan), "holds no data"),
        "not a zip of bands": ("notes.zip", zipped({"readme.txt": b"hello"}), "no band GeoTIFFs"),
    }


def test_every_bad_file_gets_its_own_400_and_nothing_is_kept(alice, scene_bytes):
    messages = set()
    for case, (name, data, expected) in bad_corpus(scene_bytes).items():
        response = post(alice, name, data)
        assert response.status_code == 400, (case, response.content)
        message = response.json()["file"][0]
        assert expected in message, (case, message)
        messages.add(message)
        assert nothing_kept(), case
    assert len(messages) == len(bad_corpus(scene_bytes))  # each its own message


def test_a_good_geotiff_is_mapped_with_statistics_downloads_and_tiles(alice, scene_bytes):
    response = post(alice, "my scene.tif", scene_bytes)
    assert response.status_code == 202, response.content
    job = response.json()
    assert response["Location"] == job["url"] and job["status"] == "queued" and job["model"] == "tiny-unet"
    assert (job["width"], job["height"], job["bands"]) == (280, 300, 13)
    upload = Upload.objects.get()
    stored = uploads.UPLOAD_PRODUCT.folder(upload) / "source.tif"
    assert stored.is_file() and upload.token in str(stored) and "my scene" not in str(stored)  # random name
    assert alice.get(job["url"] + "map.tif").status_code == 409  # not ready yet

    assert process_upload.apply(args=[upload.pk]).get()["status"] == "done"
    data = alice.get(job["url"]).json()
    assert data["status"] == "done" and data["progress"] == 100
    assert sum(r["pixels"] for r in data["statistics"]) == 280 * 300
    cog = alice.get(data["links"]["cog"])
    with MemoryFile(b"".join(cog.streaming_content)) as mem, mem.open() as src, MemoryFile(scene_bytes) as m2, \
            m2.open() as original:
        assert src.crs == original.crs and src.transform == original.transform
    assert b"".join(alice.get(data["links"]["png"]).streaming_content).startswith(b"\x89PNG")
    assert alice.get(data["links"]["statistics_csv"]).content.startswith(b"code,name")
    lon, lat = np.mean(data["bounds"][::2]), np.mean(data["bounds"][1::2])
    import morecantile

    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 14)
    tile = alice.get(data["links"]["tiles"].format(z=t.z, x=t.x, y=t.y))
    assert tile.status_code == 200 and tile.content.startswith(b"\x89PNG")
    confident = alice.get(data["links"]["confidence_tiles"].format(z=t.z, x=t.x, y=t.y), {"min_confidence": 0.9})
    assert confident.status_code == 200 and confident.content.startswith(b"\x89PNG")
    probabilities = alice.get(data["links"]["probabilities"])
    with MemoryFile(b"".join(probabilities.streaming_content)) as mem, mem.open() as src:
        assert src.count == 9 and src.shape == (300, 280)
    statistics = alice.get(data["links"]["statistics_json"], {"min_confidence": 0.9}).json()
    assert sum(r["pixels"] for r in statistics["classes"]) + statistics["uncertain"]["pixels"] == 280 * 300
    assert [u["id"] for u in alice.get("/api/v1/uploads/").json()] == [upload.pk]

    deleted = alice.delete(job["url"])
    assert deleted.status_code == 204
    assert not Upload.objects.exists() and not uploads.UPLOAD_PRODUCT.folder(upload).exists()


def test_an_image_of_another_level_than_the_models_is_mapped_with_a_warning(alice, tiny_unet, tmp_path):
    """Issue 23 #2: an L2A image given to an L1C model says so in the answer (and on the page, which shows the
    answer's warnings); an L1C one does not."""
    folder = tmp_path / "l1c-unet"
    shutil.copytree(tiny_unet, folder)
    card = read_card(folder)
    write_card(folder, {**card, "level": "L1C"})
    register_model(folder, name="l1c-unet", default=True)
    for name, level, warned in (("S2B_MSIL2A_scene.tif", "L2A", True), ("S2B_MSIL1C_scene.tif", "L1C", False)):
        path = make_scene(tmp_path / name, 64, 64, bands=13, seed=6)
        response = post(alice, name, path.read_bytes())
        assert response.status_code == 202, response.content
        upload = Upload.objects.get(pk=response.json()["id"])
        assert process_upload.apply(args=[upload.pk]).get()["status"] == "done"
        warnings = alice.get(response.json()["url"]).json()["warnings"]
        assert bool(warnings) == warned and all(f"Sentinel-2 {level}" in w and "trained on L1C" in w
                                                for w in warnings), warnings


def test_a_zip_of_band_files_is_stacked_at_10_m_by_the_job_not_the_request(alice):
    """Issue 23 #16: the request checks the bands' headers and a few windows; the job stacks them."""
    bands = {f"S2B_T32UPU_B0{n}.tif": tiff(count=1, fill=800 + n, width=64, height=64) for n in (2, 3, 4, 8)}
    response = post(alice, "bands.zip", zipped(bands))
    assert response.status_code == 202, response.content
    upload = Upload.objects.get()
    assert upload.bands == 4 and (upload.width, upload.height) == (64, 64)
    folder = uploads.UPLOAD_PRODUCT.folder(upload)
    assert not (folder / "source.tif").exists()
    assert sorted(p.name for p in (folder / "bands").iterdir()) == ["B2.tif", "B3.tif", "B4.tif", "B8.tif"]
    assert process_upload.apply(args=[upload.pk]).get()["status"] == "done"
    assert not (folder / "bands").exists()
    with rasterio.open(folder / "source.tif") as src:
        assert src.descriptions == ("B2", "B3", "B4", "B8") and src.read(4).max() == 808


def test_cancel_a_queued_job_and_the_worker_skips_it(alice, scene_bytes):
    job = post(alice, "scene.tif", scene_bytes).json()
    cancelled = alice.post(job["cancel"])
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert process_upload.apply(args=[job["id"]]).get()["status"] == "skipped"
    assert Upload.objects.get().status == "cancelled"
    assert alice.post(job["url"] + "cancel/").status_code == 409


def test_an_upload_whose_task_was_lost_is_queued_again_when_its_owner_looks(alice, scene_bytes,
                                                                          django_capture_on_commit_callbacks):
    """Issue 23, finding 20: with the worker's main process killed, an upload stayed "running 13 %" for good,
    holding one of its owner's two active slots. Looking at a job whose heartbeat (updated_at, refreshed by every
    progress report) is older than HRMARS_MAP_STALE_SECONDS queues it again, once."""
    from datetime import timedelta

    from django.utils import timezone

    job = post(alice, "scene.tif", scene_bytes).json()
    Upload.objects.filter(pk=job["id"]).update(status="running", progress=13,
                                               updated_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks() as queued:
        seen = alice.get(job["url"]).json()
        again = alice.get(job["url"]).json()
    assert seen["status"] == again["status"] == "queued" and seen["progress"] == 0 and len(queued) == 1
    assert process_upload.apply(args=[job["id"]]).get()["status"] == "done"
    assert Upload.objects.get(pk=job["id"]).attempts == 1


def test_per_user_limits(alice, scene_bytes, settings):
    settings.UPLOAD_MAX_ACTIVE = 1
    assert post(alice, "a.tif", scene_bytes).status_code == 202
    response = post(alice, "b.tif", scene_bytes)
    assert response.status_code == 429 and "limit is 1" in response.json()["detail"]
    settings.UPLOAD_MAX_ACTIVE = 5
    settings.UPLOAD_DAILY_LIMIT = 1
    response = post(alice, "c.tif", scene_bytes)
    assert response.status_code == 429 and "last 24 hours" in response.json()["detail"]
    settings.UPLOAD_DAILY_LIMIT = 20
    settings.UPLOAD_MAX_MB = 0
    response = post(alice, "d.tif", scene_bytes)  # refused by its declared size before a byte is read
    assert response.status_code == 413 and "Nothing was kept" in response.json()["detail"]
    assert Upload.objects.count() == 1


def test_another_user_gets_404_for_every_url_of_an_upload(alice, bob, scene_bytes):
    job = post(alice, "scene.tif", scene_bytes).json()
    process_upload.apply(args=[job["id"]])
    url = job["url"]
    for path in ("", "map.tif", "preview.png", "probabilities.tif", "statistics.csv", "statistics.json",
                 "tiles/14/8700/5700.png", "confidence/14/8700/5700.png"):
        assert bob.get(url + path).status_code == 404, path
    assert bob.post(url + "cancel/").status_code == 404
    assert bob.delete(url).status_code == 404
    assert bob.get("/api/v1/uploads/").json() == []
    assert Upload.objects.filter(pk=job["id"]).exists()
    assert alice.get(url).status_code == 200


def test_anonymous_users_cannot_upload(scene_bytes, tiny_unet_model):
    response = post(APIClient(), "scene.tif", scene_bytes)
    assert response.status_code in (401, 403)
    assert APIClient().get("/api/v1/uploads/").status_code in (401, 403)
    assert nothing_kept()


def test_missing_file_and_unknown_model(alice, scene_bytes):
    response = alice.post("/api/v1/uploads/", {}, format="multipart")
    assert response.status_code == 400 and "form field `file`" in response.json()["file"][0]
    response = post(alice, "scene.tif", scene_bytes, model="nope")
    assert response.status_code == 400 and "Unknown model 'nope'" in response.json()["model"][0]


def test_uploads_page_profile_list_and_delete(client, django_user_model, alice, scene_bytes):
    assert client.get("/uploads/").status_code == 302  # log in first
    job = post(alice, "scene.tif", scene_bytes).json()
    upload = Upload.objects.get()
    folder = uploads.UPLOAD_PRODUCT.folder(upload)
    client.force_login(upload.owner)
    page = client.get("/uploads/")
    assert page.status_code == 200 and b"Upload and map" in page.content and b"tiny-unet" in page.content
    profile = client.get("/accounts/profile/").content.decode()
    assert "scene.tif" in profile and f"/uploads/{job['id']}/delete/" in profile

    other = django_user_model.objects.create_user("eve", "e@example.org", "pw-eve-12345")
    client.force_login(other)
    assert client.post(f"/uploads/{job['id']}/delete/").status_code == 404
    assert folder.exists()
    client.force_login(upload.owner)
    response = client.post(f"/uploads/{job['id']}/delete/", follow=True)
    assert "Deleted scene.tif" in response.content.decode()
    assert not Upload.objects.exists() and not folder.exists()
