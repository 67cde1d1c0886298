"""The stored-product registry (landcover.jobs.products): a toy kind registered here, in this one module, gets
every route a stored map has — detail, files, statistics, tiles, WMTS, STAC items, accuracy, samples, vectors,
and change against another map — with nothing else touched; deleting any kind's row removes its folder; and
`prune` removes what nobody asked for, never what a user owns."""
from __future__ import annotations

import hashlib
import importlib
import json
import secrets
from datetime import timedelta
from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import clear_url_caches
from django.utils import timezone
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds
from rest_framework.test import APIClient

from landcover.jobs import lifecycle, products
from landcover.jobs.change import CHANGE_JOB
from landcover.jobs.lifecycle import Progress
from landcover.jobs.products import MAP_FILES, Collection, Product
from landcover.models import AreaMap, ChangeMap, Export, LandCoverMap
from ml.outputs import open_class_geotiff, write_cog
from ml.stats import class_statistics

pytestmark = pytest.mark.django_db

LEFT, TOP, SIZE = 500_000.0, 5_000_000.0, 10.0  # UTM 33N, 10 m pixels


# ------------------------------------------------------------------------------------------- the toy kind
# A toy kind of stored map, all in this module: its rows are area rows marked `imagery_source="toy"` (so it needs
# no table of its own), its job writes a 64 × 64 map of four classes, and it offers the map, its statistics and
# one tile layer. Nothing in landcover/ knows of it.

def toy_codes(shift: int = 0) -> np.ndarray:
    codes = np.ones((64, 64), np.uint8)
    codes[:, 32:] = 4
    codes[32:, :] = 6 if not shift else 10
    codes[:8, :8] = 10
    return codes


def build_toy(row: AreaMap, work: Path, progress: Progress) -> dict:
    """The toy's map: its COG and statistics."""
    codes = toy_codes(int(row.max_cloud))
    transform = from_origin(LEFT, TOP, SIZE, SIZE)
    with open_class_geotiff(work / "plain.tif", rasterio.crs.CRS.from_epsg(32633), transform, 64, 64, "toy",
                            "toy") as out:
        out.write(codes[None])
    write_cog(work / "plain.tif", work / "map.tif")
    (work / "plain.tif").unlink()
    progress(1, 1)
    return {"statistics": class_statistics(work / "map.tif")}


class ToyProduct(Product):
    kind, prefix, noun, root_setting = "toy", "toys", "toy map", "AREAS_DIR"
    collection = Collection("toys", "Toy maps", "A kind registered by a test.")
    files = tuple(f for f in MAP_FILES if f.name not in ("probabilities.tif", "confidence.tif"))
    layers = (products.CLASS_LAYERS[0],)
    geometry_field = "geometry"
    related = ("model_version",)

    def rows(self):
        return super().rows().filter(imagery_source="toy")

    def offers(self, row, name: str) -> bool:
        return super().offers(row, name)

    def bounds(self, row):
        return row.geometry.extent

    def geometry(self, row) -> dict:
        return json.loads(row.geometry.geojson)


TOY_JOB = lifecycle.queued_kind("toy", "tests.toy", AreaMap, build_toy, staging=lambda row: TOY.root() / ".tmp",
                                destination=lambda row: TOY.folder(row), related=("model_version",))
TOY = ToyProduct(TOY_JOB)


def reload_urls() -> None:
    """Build the URL conf again from the registry as it is now."""
    import hrmars_site.urls
    import landcover.api.urls

    importlib.reload(landcover.api.urls)
    importlib.reload(hrmars_site.urls)
    clear_url_caches()


@pytest.fixture
def toy_kind():
    products.register(TOY)
    try:
        reload_urls()
        yield TOY
    finally:  # whatever happened, the next test sees the registry and URLs as they were
        products.unregister(TOY.kind)
        reload_urls()


def make_toy(version, variant: int = 0) -> AreaMap:
    """A done toy map (made in this process by the lifecycle, as a small job is)."""
    west, south, east, north = transform_bounds("EPSG:32633", "EPSG:4326", LEFT, TOP - 640, LEFT + 640, TOP)
    row, created = lifecycle.find_or_queue(
        TOY_JOB, {"key": hashlib.sha256(f"toy{variant}".encode()).hexdigest()},
        {"token": secrets.token_urlsafe(24), "geometry": MultiPolygon(Polygon.from_bbox((west, south, east, north)),
                                                                      srid=4326),
         "area_km2": 0.4, "max_cloud": variant, "imagery_source": "toy", "model_version": version},
        stale_after=3600, run_here=True)
    assert created and row.status == "done", row.error
    return row


# ----------------------------------------------------------------------------------------------- the tests

def test_a_toy_kind_gets_every_route_of_a_stored_map(toy_kind, tiny_unet_model):
    client = APIClient()
    toy = make_toy(tiny_unet_model)
    url = f"/api/v1/toys/{toy.pk}/"

    detail = client.get(url)
    assert detail.status_code == 200, detail.content
    body = detail.json()
    assert body["kind"] == "toy" and body["status"] == "done" and body["model"] == "tiny-unet"
    assert sum(r["pixels"] for r in body["statistics"]) == 64 * 64
    assert set(body["links"]) == {"cog", "png", "statistics_csv", "statistics_json", "tiles", "wmts", "statistics",
                                  "vectors_geojson", "vectors_gpkg", "accuracy", "units"}

    statistics = client.get(url + "statistics/").json()
    assert statistics["kind"] == "toy" and statistics["id"] == toy.pk and statistics["total_pixels"] == 64 * 64
    counts = dict(zip(*np.unique(toy_codes(), return_counts=True)))
    assert {r["code"]: r["pixels"] for r in statistics["classes"] if r["pixels"]} == {int(k): int(v)
                                                                                       for k, v in counts.items()}
    assert client.get(url + "statistics/", {"min_confidence": 0.5}).status_code == 400  # no probabilities here

    cog = client.get(url + "map.tif")
    assert cog.status_code == 200 and cog["Content-Type"] == "image/tiff"
    assert client.get(url + "probabilities.tif").status_code == 404  # not one of the toy's files
    assert client.get(url + "statistics.csv").content.startswith(b"code,name")

    west, south, east, north = toy.geometry.extent
    tile = morecantile.tms.get("WebMercatorQuad").tile((west + east) / 2, (south + north) / 2, 16)
    png = client.get(url + f"tiles/{tile.z}/{tile.x}/{tile.y}.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert client.get(url + f"confidence/{tile.z}/{tile.x}/{tile.y}.png").status_code == 404  # no such layer
    wmts = client.get(url + "wmts/")
    assert wmts.status_code == 200 and b"<ows:Identifier>landcover</ows:Identifier>" in wmts.content

    collections = client.get("/api/v1/stac/collections").json()["collections"]
    assert "toys" in {c["id"] for c in collections}
    items = client.get("/api/v1/stac/collections/toys/items").json()["features"]
    assert [i["id"] for i in items] == [f"toy-{toy.pk}"] and items[0]["assets"]["data"]["href"].endswith("map.tif")

    sample = client.get(url + "sample.geojson", {"per_class": 5, "seed": 1})
    assert sample.status_code == 200
    points = sample.json()
    for feature in points["features"]:
        feature["properties"]["class"] = feature["properties"]["map_class"]
    answer = client.post(url + "accuracy/", {"file": SimpleUploadedFile("points.geojson", json.dumps(points).encode()),
                                             "design": "stratified"}, format="multipart")
    assert answer.status_code == 200, answer.content
    assert answer.json()["overall_accuracy"] == 1.0
    vectors = client.get(url + "vectors.geojson")
    assert vectors.status_code == 200 and len(json.loads(b"".join(vectors.streaming_content))["features"]) >= 4

    other = make_toy(tiny_unet_model, variant=1)
    change = client.post("/api/v1/changes/", {"before": {"kind": "toy", "id": toy.pk},
                                              "after": {"kind": "toy", "id": other.pk}}, format="json")
    assert change.status_code == 202, change.content
    lifecycle.run(CHANGE_JOB, change.json()["id"])
    done = client.get(change.json()["url"]).json()
    assert done["status"] == "done", done
    moved = {(t["from"], t["to"]): t["pixels"] for t in done["change"]["transitions"]}
    assert moved[(6, 10)] == 32 * 64  # the lower half became water in the second toy map


def test_kinds_unknown_or_not_land_cover_are_refused(toy_kind, tiny_unet_model):
    client = APIClient()
    toy = make_toy(tiny_unet_model)
    answer = client.post("/api/v1/changes/", {"before": {"kind": "nothing", "id": toy.pk},
                                              "after": {"kind": "toy", "id": toy.pk}}, format="json")
    assert answer.status_code == 400 and "toy" in answer.json()["before"][0]
    assert client.get("/api/v1/toys/99999/").status_code == 404


def test_deleting_any_stored_row_removes_its_folder(catalogue, tiny_unet_model, django_capture_on_commit_callbacks):
    m = LandCoverMap.objects.filter(status="done").first()
    folder = products.product("map").folder(m)
    assert folder.is_dir()
    products.delete(products.product("map"), m)
    assert not folder.exists()
    # Deleted another way (a cascade, the admin): the folder goes once the deletion commits.
    area = AreaMap.objects.create(key="k" * 64, token=secrets.token_urlsafe(24), area_km2=1.0,
                                  geometry=MultiPolygon(Polygon.from_bbox((0, 0, 0.01, 0.01)), srid=4326),
                                  model_version=tiny_unet_model, status="done")
    area_folder = products.product("area").folder(area)
    area_folder.mkdir(parents=True)
    (area_folder / "map.tif").write_bytes(b"x")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        area.delete()
    assert len(callbacks) == 1 and not area_folder.exists()


def test_prune_keeps_what_users_own_and_what_was_asked_for(catalogue, tiny_unet_model, django_user_model):
    old = timezone.now() - timedelta(days=200)
    user = django_user_model.objects.create_user("owner", "o@example.org", "pw-owner-1234")
    maps = list(LandCoverMap.objects.filter(status="done")[:3])
    LandCoverMap.objects.filter(pk__in=[maps[0].pk, maps[1].pk]).update(requested_at=old)
    anonymous = AreaMap.objects.create(key="a" * 64, token=secrets.token_urlsafe(24), area_km2=1.0,
                                       geometry=MultiPolygon(Polygon.from_bbox((0, 0, 0.01, 0.01)), srid=4326),
                                       model_version=tiny_unet_model, status="done", requested_at=old)
    owned = AreaMap.objects.create(key="b" * 64, token=secrets.token_urlsafe(24), area_km2=1.0,
                                   geometry=MultiPolygon(Polygon.from_bbox((0, 0, 0.01, 0.01)), srid=4326),
                                   model_version=tiny_unet_model, status="done", requested_at=old, requested_by=user)
    running = AreaMap.objects.create(key="c" * 64, token=secrets.token_urlsafe(24), area_km2=1.0,
                                     geometry=MultiPolygon(Polygon.from_bbox((0, 0, 0.01, 0.01)), srid=4326),
                                     model_version=tiny_unet_model, status="running", requested_at=old)
    for area in (anonymous, owned):
        products.product("area").folder(area).mkdir(parents=True)
    client = APIClient()
    client.get(f"/api/v1/maps/{maps[1].pk}/map.tif")  # reading it counts as asking for it
    call_command("prune", "--dry-run")
    assert LandCoverMap.objects.filter(pk=maps[0].pk).exists()  # a dry run deletes nothing
    call_command("prune", "--days", "90")
    left = set(LandCoverMap.objects.values_list("pk", flat=True))
    assert maps[0].pk not in left and maps[1].pk in left and maps[2].pk in left
    assert not products.product("map").folder(maps[0]).exists()
    assert set(AreaMap.objects.values_list("pk", flat=True)) == {owned.pk, running.pk}
    assert not products.product("area").folder(anonymous).exists()
    assert products.product("area").folder(owned).exists()


def test_every_kind_is_registered_once_with_its_own_prefix_and_model():
    registered = {p.kind: p for p in products.registered()}
    assert set(registered) == {"map", "area", "upload", "change", "export", "region", "composite", "series"}
    assert len({p.prefix for p in registered.values()}) == len(registered)
    assert registered["change"].job.model is ChangeMap and registered["export"].job.model is Export
    clash = type("Clash", (ToyProduct,), {"kind": "clash", "prefix": "maps"})(TOY_JOB)
    with pytest.raises(ValueError, match="already map's"):
        products.register(clash)
    assert "clash" not in {p.kind for p in products.registered()}
