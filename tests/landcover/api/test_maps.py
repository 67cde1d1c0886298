"""Maps through the API on PostGIS: MODIS and model maps, statistics, downloads, tiles, the job's
states (queued, computed once, failed and retried, lost and re-queued), a real worker, and deletion."""
from __future__ import annotations

import csv
import io
import threading
from datetime import timedelta

import morecantile
import numpy as np
import pytest
import rasterio
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from rasterio.io import MemoryFile

from landcover.jobs import maps
from landcover.models import LandCoverMap, Patch
from landcover.tasks import compute_map
from tests.conftest import wait_for
from tests.landcover.conftest import centre

pytestmark = pytest.mark.django_db


def test_bad_patch_id_and_unknown_model_are_400s(client, catalogue):
    response = client.get("/api/v1/maps/high/", {"patch": "abc"})
    assert response.status_code == 400 and "whole number" in response.json()["patch"][0]
    assert client.get("/api/v1/maps/high/", {"patch": 999999}).status_code == 404
    response = client.get("/api/v1/maps/high/", {"patch": catalogue[0].pk, "model": "nope"})
    assert response.status_code == 400
    assert "Unknown model 'nope'" in response.json()["model"][0] and "tiny-unet" in response.json()["model"][0]


def test_without_any_model_high_resolution_is_a_503_that_says_why(client, synthetic_tree):
    call_command("ingest_sen12ms", str(synthetic_tree), "--headers-only")
    response = client.get("/api/v1/maps/high/", {"patch": Patch.objects.first().pk})
    assert response.status_code == 503 and "register_model" in response.json()["detail"]


def test_low_resolution_map_is_stored_at_ingestion_with_downloads(client, catalogue):
    patch = catalogue[0]
    lat, lon = centre(patch)
    response = client.get("/api/v1/maps/low/", {"lat": lat, "lon": lon})
    assert response.status_code == 200
    m = response.json()
    assert m["status"] == "done" and m["resolution"] == "low" and m["model"] is None
    assert m["synthetic"] is True and "Synthetic" in m["note"]
    stats = m["statistics"]
    assert sum(r["pixels"] for r in stats) == 256 * 256
    assert abs(sum(r["percent"] for r in stats) - 100) < 0.01
    # 256² pixels of 100 m² in UTM: on the ground within UTM's scale factor (ml.stats takes it out)
    assert sum(r["area_km2"] for r in stats) == pytest.approx(6.5536, rel=2e-3)
    assert [r["code"] for r in stats] == list(range(1, 11))  # MODIS maps keep all ten classes

    # The COG: the patch's own CRS and transform, colour table, DFC codes only.
    cog = client.get(m["links"]["cog"])
    assert cog.status_code == 200 and cog["Content-Type"] == "image/tiff"
    assert cog["Content-Disposition"].endswith('.tif"')
    with MemoryFile(b"".join(cog.streaming_content)) as mem, mem.open() as src, rasterio.open(patch.lc_path) as lc:
        assert src.crs.to_string() == patch.crs and src.transform == lc.transform
        assert src.colormap(1)[1] == (0, 153, 0, 255) and src.nodata == 0
        assert set(np.unique(src.read(1))) <= set(range(11))
    png = client.get(m["links"]["png"])
    assert png.status_code == 200 and b"".join(png.streaming_content).startswith(b"\x89PNG")

    rows = list(csv.DictReader(io.StringIO(client.get(m["links"]["statistics_csv"]).content.decode())))
    assert [int(r["pixels"]) for r in rows] == [r["pixels"] for r in stats]
    as_json = client.get(m["links"]["statistics_json"])
    assert as_json["Content-Disposition"].startswith("attachment")
    assert as_json.json()["total_pixels"] == 256 * 256 and as_json.json()["classes"] == stats
    assert client.get(m["links"]["statistics"]).json()["total_area_km2"] == pytest.approx(
        sum(r["area_km2"] for r in stats), abs=1e-5)
    assert client.get(m["url"] + "nothing.txt").status_code == 404


def test_xyz_tiles_of_a_stored_map(client, catalogue):
    patch = catalogue[0]
    m = client.get("/api/v1/maps/low/", {"patch": patch.pk}).json()
    lat, lon = centre(patch)
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 15)
    response = client.get(m["links"]["tiles"].format(z=tile.z, x=tile.x, y=tile.y))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    with MemoryFile(response.content) as mem, mem.open() as png:
        rgba = png.read()
    assert rgba.shape == (4, 256, 256) and rgba[3].max() == 255  # opaque where the map is
    colours = {tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in (r["colour"] for r in m["statistics"] if r["pixels"])}
    seen = {tuple(px) for px in rgba[:3, rgba[3] == 255].T}
    assert seen <= colours  # nearest resampling: only class colours

    far = client.get(m["links"]["tiles"].format(z=15, x=0, y=0))
    assert far.status_code == 200
    with MemoryFile(far.content) as mem, mem.open() as png:
        assert png.read(png.count).max() == 0  # transparent outside the map
    bad = client.get(m["links"]["tiles"].format(z=3, x=9, y=1))
    assert bad.status_code == 400 and "below 2^zoom" in bad.json()["tile"][0]


def test_tiles_have_their_own_cache_and_readers_follow_the_file(client, catalogue):
    from django.core.cache import caches

    from landcover.api.factory import tile_key
    from landcover.api.tiles import OPEN_READERS, open_reader

    patch = catalogue[0]
    m = client.get("/api/v1/maps/low/", {"patch": patch.pk}).json()
    lat, lon = centre(patch)
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 15)
    url = m["links"]["tiles"].format(z=tile.z, x=tile.x, y=tile.y)
    first = client.get(url)
    assert first.status_code == 200
    m_row = LandCoverMap.objects.get(pk=m["id"])
    key = tile_key(maps.MAP_PRODUCT, m_row, "tiles", None, tile.z, tile.x, tile.y)
    assert caches["tiles"].get(key) == first.content and caches["default"].get(key) is None  # a store of its own
    cog = maps.MAP_PRODUCT.folder(m_row) / "map.tif"
    moved = cog.rename(cog.with_suffix(".moved"))
    try:
        assert client.get(url).content == first.content  # from the tile cache: the file is not even looked at
    finally:
        moved.rename(cog)

    # An open reader is reused until the file changes; a new file at the same path gets a new reader.
    reader = open_reader(cog)
    assert open_reader(cog) is reader
    with rasterio.open(cog) as src:
        profile, data = src.profile, src.read()
    replacement = cog.with_suffix(".new.tif")
    with rasterio.open(replacement, "w", **profile) as dst:
        dst.write(data)
    replacement.replace(cog)
    assert open_reader(cog) is not reader and OPEN_READERS >= 1


def test_high_resolution_map_is_queued_then_computed_once_and_stored(client, catalogue):
    patch = catalogue[0]
    response = client.get("/api/v1/maps/high/", {"patch": patch.pk})
    assert response.status_code == 202
    job = response.json()
    assert response["Location"] == job["url"] and job["status"] == "queued" and job["model"] == "tiny-unet"
    again = client.get("/api/v1/maps/high/", {"patch": patch.pk})
    assert again.status_code == 202 and again.json()["id"] == job["id"]
    assert client.get(job["url"]).json()["status"] == "queued"
    not_yet = client.get(job["url"] + "statistics/")
    assert not_yet.status_code == 409 and "poll" in not_yet.json()["detail"]
    assert client.get(job["url"] + "map.tif").status_code == 409

    # The task as the worker runs it (in this process; the worker tests below use a real one).
    assert compute_map.apply(args=[job["id"]]).get()["status"] == "done"
    assert compute_map.apply(args=[job["id"]]).get()["status"] == "done-or-missing"  # a re-delivery: no-op
    done = client.get("/api/v1/maps/high/", {"patch": patch.pk})
    assert done.status_code == 200
    m = done.json()
    assert m["status"] == "done" and m["progress"] == 100
    assert [r["code"] for r in m["statistics"]] == [1, 2, 4, 5, 6, 7, 9, 10]
    assert sum(r["pixels"] for r in m["statistics"]) == 256 * 256
    stored = LandCoverMap.objects.get(pk=m["id"])
    assert stored.attempts == 1 and stored.seconds > 0
    assert sorted(p.name for p in maps.MAP_PRODUCT.folder(stored).iterdir()) == [
        "confidence.json", "confidence.tif", "map.tif", "preview.png", "probabilities.tif", "statistics.json"]
    assert not any((maps.MAP_PRODUCT.root() / ".tmp").iterdir())  # nothing left behind
    with MemoryFile(b"".join(client.get(m["links"]["cog"]).streaming_content)) as mem, mem.open() as src:
        assert src.crs.to_string() == patch.crs and src.tags()["CLASS_6"] == "Croplands"


def test_probabilities_confidence_tiles_and_statistics_at_a_confidence_threshold(client, catalogue):
    patch = catalogue[0]
    job = client.get("/api/v1/maps/high/", {"patch": patch.pk}).json()
    compute_map.apply(args=[job["id"]]).get()
    m = client.get(job["url"]).json()

    with MemoryFile(b"".join(client.get(m["links"]["probabilities"]).streaming_content)) as mem, mem.open() as src:
        assert src.count == 9 and src.crs.to_string() == patch.crs  # 8 classes of the tiny U-Net + confidence
        confidence = src.read(9)
        assert "confidence" in src.descriptions[8]
    with MemoryFile(b"".join(client.get(m["links"]["cog"]).streaming_content)) as mem, mem.open() as src:
        classes = src.read(1)
    # The confidence alone, one band with overviews and nodata 0 (issue 23, finding 15): a low-zoom tile of the
    # many-band probabilities file read every band at full resolution (16 s for a z0 tile of a 4,096² map);
    # this one reads one small overview.
    stored = LandCoverMap.objects.get(pk=m["id"])
    with rasterio.open(maps.MAP_PRODUCT.path(stored, "confidence.tif")) as src:
        assert src.count == 1 and src.nodata == 0 and (src.overviews(1) or src.width <= 512)
        alone = src.read(1)
    assert np.array_equal(alone[alone > 0], confidence[alone > 0]) and ((alone > 0) == (classes > 0)).all()

    plain = client.get(m["links"]["statistics"]).json()
    assert "uncertain" not in plain
    shares = []
    for threshold in (0, 0.5, 0.7, 1):
        answer = client.get(m["links"]["statistics"], {"min_confidence": threshold})
        assert answer.status_code == 200
        body = answer.json()
        level = int(np.ceil(threshold * 255 - 1e-9))
        assert body["uncertain"]["pixels"] == int((confidence < level).sum())  # counted from the stored pixels
        for row in body["classes"]:
            assert row["pixels"] == int(((classes == row["code"]) & (confidence >= level)).sum())
        assert body["total_pixels"] == plain["total_pixels"] == 256 * 256
        assert abs(body["total_area_km2"] - plain["total_area_km2"]) < 1e-5
        shares.append(body["uncertain"]["percent"])
    assert shares[0] == 0 and shares == sorted(shares) and shares[-1] > 50

    rows = list(csv.DictReader(io.StringIO(client.get(m["links"]["statistics_csv"], {"min_confidence": 0.7})
                                           .content.decode())))
    assert rows[-1]["code"] == "0" and rows[-1]["name"].startswith("uncertain")
    assert int(rows[-1]["pixels"]) == int((confidence < 179).sum())

    for bad in ("1.5", "-0.1", "nan", "abc", "inf"):
        answer = client.get(m["links"]["statistics"], {"min_confidence": bad})
        assert answer.status_code == 400 and "min_confidence" in answer.json()

    lat, lon = centre(patch)
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 15)
    url = m["links"]["confidence_tiles"].format(z=tile.z, x=tile.x, y=tile.y)
    answer = client.get(url)
    assert answer.status_code == 200 and answer["Content-Type"] == "image/png"
    with MemoryFile(answer.content) as mem, mem.open() as png:
        ramp = png.read()
    assert ramp[3].max() > 0
    with MemoryFile(client.get(url, {"min_confidence": 1}).content) as mem, mem.open() as png:
        everything = png.read()
    with MemoryFile(client.get(url, {"min_confidence": 0}).content) as mem, mem.open() as png:
        nothing = png.read()
    assert nothing[3].max() == 0 and (everything[3] > 0).sum() > (ramp[3] > 200).sum()

    low = client.get("/api/v1/maps/low/", {"patch": patch.pk}).json()
    assert "probabilities" not in low["links"]
    answer = client.get(low["links"]["statistics"], {"min_confidence": 0.5})
    assert answer.status_code == 400 and "MODIS" in answer.json()["min_confidence"][0]
    answer = client.get(low["url"] + "probabilities.tif")
    assert answer.status_code == 404 and "MODIS" in answer.json()["detail"]


def test_a_broken_input_fails_with_its_reason_and_can_be_retried(client, catalogue, tmp_path):
    patch = catalogue[1]
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00 not really a tiff")
    Patch.objects.filter(pk=patch.pk).update(s2_path=str(broken))
    job = client.get("/api/v1/maps/high/", {"patch": patch.pk}).json()
    compute_map.apply(args=[job["id"]])
    failed = client.get(job["url"]).json()
    assert failed["status"] == "failed" and "cannot be read as a GeoTIFF" in failed["error"]
    assert client.get(job["url"] + "statistics/").status_code == 409
    assert not (maps.MAP_PRODUCT.root() / str(job["id"])).exists()

    Patch.objects.filter(pk=patch.pk).update(s2_path=patch.s2_path)  # fixed
    retried = client.post(failed["retry"])
    assert retried.status_code == 202 and retried.json()["status"] == "queued"
    assert client.post(failed["retry"]).status_code == 409  # not failed any more
    compute_map.apply(args=[job["id"]])
    assert client.get(job["url"]).json()["status"] == "done"
    assert LandCoverMap.objects.get(pk=job["id"]).attempts == 2


def test_a_lost_map_is_queued_again_after_the_stale_time(client, catalogue, settings):
    job = client.get("/api/v1/maps/high/", {"patch": catalogue[2].pk}).json()
    LandCoverMap.objects.filter(pk=job["id"]).update(
        status="running", updated_at=timezone.now() - timedelta(seconds=settings.MAP_STALE_SECONDS + 5))
    response = client.get("/api/v1/maps/high/", {"patch": catalogue[2].pk})
    assert response.status_code == 202 and response.json()["status"] == "queued"
    m = LandCoverMap.objects.get(pk=job["id"])
    assert m.updated_at > timezone.now() - timedelta(seconds=60)


def test_dataset_without_modis_labels_has_no_low_resolution_map(client, catalogue):
    patch = catalogue[3]
    Patch.objects.filter(pk=patch.pk).update(lc_path="")
    response = client.get("/api/v1/maps/low/", {"patch": patch.pk})
    assert response.status_code == 404 and "no MODIS land-cover file" in response.json()["detail"]


def test_twenty_concurrent_requests_start_one_computation_in_a_real_worker(catalogue, celery_worker):
    patch = catalogue[5]
    barrier = threading.Barrier(20)
    answers: list[tuple[int, int]] = []

    def ask():
        try:
            barrier.wait()
            response = Client().get("/api/v1/maps/high/", {"patch": patch.pk})
            answers.append((response.status_code, response.json()["id"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 20 and {code for code, _ in answers} <= {200, 202}
    assert len({pk for _, pk in answers}) == 1  # everybody got the same map
    map_id = answers[0][1]

    def done():
        m = LandCoverMap.objects.get(pk=map_id)
        if m.status == "failed":
            pytest.fail(f"map failed: {m.error}\n{celery_worker.log()}")
        return m.status == "done"

    wait_for(done, timeout=120, message="the worker to compute the map")
    m = LandCoverMap.objects.get(pk=map_id)
    assert LandCoverMap.objects.filter(patch=patch, source="model").count() == 1
    assert m.attempts == 1  # one computation
    assert celery_worker.log().count("landcover.compute_map[") >= 1
    assert celery_worker.log().count("succeeded") == 1
    stored = [p for p in maps.MAP_PRODUCT.root().iterdir() if p.name != ".tmp"]
    modis = LandCoverMap.objects.filter(source="modis").count()
    assert len(stored) == modis + 1  # one new folder: the MODIS maps from ingestion plus this one
    assert sorted(p.name for p in maps.MAP_PRODUCT.folder(m).iterdir()) == [
        "confidence.json", "confidence.tif", "map.tif", "preview.png", "probabilities.tif", "statistics.json"]


def test_deleting_a_map_removes_its_files_and_the_next_request_recomputes_it(client, admin_client, catalogue,
                                                                             django_capture_on_commit_callbacks):
    m = client.get("/api/v1/maps/low/", {"patch": catalogue[0].pk}).json()
    folder = maps.MAP_PRODUCT.folder(LandCoverMap.objects.get(pk=m["id"]))
    assert (folder / "map.tif").is_file()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/landcover/landcovermap/", {
            "action": "recompute", "_selected_action": [m["id"]]}, follow=True)
    assert "1 map(s) deleted" in response.content.decode()
    assert not folder.exists() and not LandCoverMap.objects.filter(pk=m["id"]).exists()
    again = client.get("/api/v1/maps/low/", {"patch": catalogue[0].pk})
    assert again.status_code == 202 and again.json()["id"] != m["id"]
