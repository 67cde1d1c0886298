"""/api/v1/changes/: two stored maps of one place → a change job through a real worker → the transition
matrix computed by hand, the different-model flag, nodata left out, the change COG, matrix, chart and tiles;
and a 400/404/409 for every request that cannot be a change."""
from __future__ import annotations

import csv
import io
import secrets

import numpy as np
import pytest
import rasterio
from django.contrib.gis.geos import MultiPolygon, Polygon
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds

from landcover.catalogue.registry import register_model
from landcover.jobs.areas import AREA_PRODUCT
from landcover.models import AreaMap
from tests.conftest import wait_for
from tests.ml.test_change import AFTER, BEFORE

pytestmark = pytest.mark.django_db(transaction=True)


def stored_area(codes: np.ndarray, version, status="done", left=500_000.0, size=100.0) -> AreaMap:
    """An area map row, done, whose map.tif holds `codes` (UTM 33N)."""
    transform = from_origin(left, 5_000_000.0, size, size)
    west, south, east, north = transform_bounds("EPSG:32633", "EPSG:4326", left, 5_000_000.0 - size * codes.shape[0],
                                                left + size * codes.shape[1], 5_000_000.0)
    area = AreaMap.objects.create(key=secrets.token_hex(32), token=secrets.token_urlsafe(24), area_km2=1.0,
                                  geometry=MultiPolygon(Polygon.from_bbox((west, south, east, north)), srid=4326),
                                  model_version=version, status=status)
    folder = AREA_PRODUCT.folder(area)
    folder.mkdir(parents=True)
    with rasterio.open(folder / "map.tif", "w", driver="GTiff", width=codes.shape[1], height=codes.shape[0], count=1,
                       dtype="uint8", nodata=0, crs="EPSG:32633", transform=transform) as dst:
        dst.write(codes[None])
    return area


@pytest.fixture
def two_areas(tiny_unet):
    one = register_model(tiny_unet, name="tiny-unet", default=True)
    other = register_model(tiny_unet, name="tiny-unet-again")
    return stored_area(BEFORE, one), stored_area(AFTER, other), one


def test_a_worker_compares_two_maps(client, two_areas, celery_worker):
    before, after, _ = two_areas
    answer = client.post("/api/v1/changes/", {"before": {"kind": "area", "id": before.pk},
                                              "after": {"kind": "area", "id": after.pk}}, content_type="application/json")
    assert answer.status_code == 202, answer.content
    url = answer.json()["url"]
    done = wait_for(lambda: (b := client.get(url).json())["status"] in ("done", "failed") and b, timeout=120,
                    message="the change job\n" + celery_worker.log())
    assert done["status"] == "done", done
    assert done["different_models"] and "different models (tiny-unet and tiny-unet-again)" in done["warning"]
    change = done["change"]
    pixels = {(t["from"], t["to"]): t["pixels"] for t in change["transitions"]}
    assert pixels == {(1, 1): 2, (1, 6): 2, (6, 6): 4, (6, 7): 2, (10, 10): 2, (4, 4): 1}
    assert change["excluded"]["nodata_or_cloud_after"]["pixels"] == 1
    assert change["excluded"]["outside_after"]["pixels"] == 5
    assert {"Forest → Croplands: 2.0 ha", "Croplands → Urban/Built-up: 2.0 ha"} == set(change["biggest_changes"])
    links = done["links"]
    rows = list(csv.DictReader(io.StringIO(b"".join(client.get(links["transitions_csv"]).streaming_content)
                                           .decode())))
    assert len(rows) == 6 and rows[0]["from_name"] == "Forest"
    assert b"".join(client.get(links["chart"]).streaming_content)[:4] == b"\x89PNG"
    cog = client.get(links["cog"])
    with rasterio.MemoryFile(b"".join(cog.streaming_content)) as memory, memory.open() as src:
        assert src.read(1)[1, 2] == 57 and src.tags()["CHANGE_57"] == "Croplands → Urban/Built-up"
    again = client.post("/api/v1/changes/", {"before": {"kind": "area", "id": before.pk},
                                             "after": {"kind": "area", "id": after.pk}}, content_type="application/json")
    assert again.status_code == 200 and again.json()["id"] == done["id"]


def test_requests_that_cannot_be_a_change(client, two_areas):
    before, after, version = two_areas

    def ask(b, a, **extra):
        return client.post("/api/v1/changes/", {"before": b, "after": a, **extra}, content_type="application/json")

    area = {"kind": "area", "id": before.pk}
    assert ask(area, area).status_code == 400  # the same map twice
    far = stored_area(AFTER, version, left=300_000.0)
    assert "do not overlap" in ask(area, {"kind": "area", "id": far.pk}).json()["after"][0]
    running = stored_area(AFTER, version, status="running")
    assert ask(area, {"kind": "area", "id": running.pk}).status_code == 409
    assert ask(area, {"kind": "area", "id": 99999}).status_code == 404
    assert ask(area, {"kind": "forest", "id": 1}).status_code == 400
    assert ask(area, {"kind": "area", "id": after.pk}, min_confidence=2).status_code == 400
    assert client.post("/api/v1/changes/", [1, 2], content_type="application/json").status_code == 400
