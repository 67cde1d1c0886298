"""The catalogue REST API on PostGIS: datasets, footprints, scenes, point look-up, models, caching,
the OpenAPI schema, and the errors a person gets for bad parameters."""
from __future__ import annotations

import pytest
from django.core.management import call_command

from landcover.models import ModelVersion, Patch
from tests.landcover.conftest import bbox_of, centre

pytestmark = pytest.mark.django_db


def test_datasets_and_classes(client, catalogue):
    data = client.get("/api/v1/datasets/").json()
    assert data == [{**data[0], "name": "Synthetic SEN12MS", "synthetic": True, "patch_count": 24}]
    classes = client.get("/api/v1/classes/").json()
    assert [c["code"] for c in classes] == list(range(1, 11))
    assert [c["code"] for c in classes if not c["predicted"]] == [3, 8]
    assert classes[0]["predicted_by"] == ["tiny-unet"]
    # A model whose card maps Snow/Ice (Dynamic World does): the legend no longer says "MODIS only" (issue 23, 7).
    from landcover.catalogue.version import bump_catalogue_version
    from landcover.models import ModelVersion

    ModelVersion.objects.create(name="snowy", method="pretrained", path="/nowhere",
                                card={"classes": [{"name": "snow_and_ice", "code": 8}, {"name": "water", "code": 10}]})
    bump_catalogue_version()
    classes = client.get("/api/v1/classes/").json()
    assert [c["code"] for c in classes if not c["predicted"]] == [3] and classes[7]["predicted_by"] == ["snowy"]
    assert "MODIS maps only" not in client.get("/map/").content.decode().split("Snow/Ice")[1][:80]


def test_footprints_are_geojson_filtered_by_bbox_and_paginated(client, catalogue):
    first = catalogue[0]
    response = client.get("/api/v1/patches/", {"bbox": bbox_of(first, -0.001)})
    assert response.status_code == 200
    data = response.json()
    assert data["type"] == "FeatureCollection"
    ids = {f["id"] for f in data["features"]}
    assert first.pk in ids and len(ids) < 24  # only the neighbours of the first patch
    feature = next(f for f in data["features"] if f["id"] == first.pk)
    assert feature["geometry"]["type"] == "Polygon"
    lon, lat = feature["geometry"]["coordinates"][0][0]
    assert -115 < lon < -114 and 41 < lat < 42  # RFC 7946 order: lon, lat
    assert feature["properties"]["synthetic"] is True and feature["properties"]["has_low_resolution"] is True

    world = client.get("/api/v1/patches/", {"bbox": "-180,-90,180,90", "page_size": 5}).json()
    assert world["count"] == 24 and len(world["features"]) == 5 and "page=2" in world["next"]
    huge = client.get("/api/v1/patches/", {"page_size": 100000}).json()
    assert len(huge["features"]) == 24  # capped at 1,000 per page; the catalogue is small here
    assert client.get("/api/v1/patches/", {"bbox": "0,0,1,1"}).json()["count"] == 0


def test_bbox_across_the_antimeridian(client, catalogue):
    # 170°E → -100°W the long way round covers the synthetic scenes in the Americas (-114°).
    data = client.get("/api/v1/patches/", {"bbox": "170,-60,-100,60"}).json()
    lons = [f["geometry"]["coordinates"][0][0][0] for f in data["features"]]
    assert data["count"] > 0 and all(lon > 170 or lon < -100 for lon in lons)


@pytest.mark.parametrize("bbox, message", [
    ("1,2,3", "four numbers"),
    ("a,b,c,d", "four numbers"),
    ("1,2,3,nan", "four numbers"),
    ("0,50,10,40", "min_lat must be less than max_lat"),
    ("48,11,48.3,200", "latitudes must be between -90 and 90"),
    ("-200,0,10,10", "longitudes must be between -180 and 180"),
    ("5,0,5,10", "zero width"),
])


def test_malformed_bbox_is_a_400_that_says_why(client, catalogue, bbox, message):
    for url in ("/api/v1/patches/", "/api/v1/scenes/"):
        response = client.get(url, {"bbox": bbox})
        assert response.status_code == 400
        assert message in response.json()["bbox"][0]


def test_scenes_group_patches_for_zoomed_out_views(client, catalogue):
    data = client.get("/api/v1/scenes/", {"bbox": "-180,-90,180,90"}).json()
    assert data["count"] == 6
    assert sum(f["properties"]["patch_count"] for f in data["features"]) == 24
    scene = data["features"][0]
    patch = Patch.objects.filter(scene_id=scene["id"]).first()
    assert patch.footprint.centroid.coords[0] > scene["bbox"][0] if "bbox" in scene else True
    ring = scene["geometry"]["coordinates"][0]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    x, y = patch.footprint.centroid.coords
    assert min(xs) < x < max(xs) and min(ys) < y < max(ys)


def test_patch_at_a_point(client, catalogue):
    patch = catalogue[0]
    lat, lon = centre(patch)
    response = client.get("/api/v1/patches/at/", {"lat": lat, "lon": lon})
    assert response.status_code == 200
    assert response.json()["id"] == patch.pk
    assert response.json()["properties"]["others"] == []
    detail = client.get(f"/api/v1/patches/{patch.pk}/").json()
    assert detail["properties"]["crs"] == patch.crs


def test_no_patch_at_a_point_is_a_404_that_says_what_to_do(client, catalogue):
    response = client.get("/api/v1/patches/at/", {"lat": 0, "lon": 0})
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "No catalogue patch covers lat=0.000000, lon=0.000000" in detail and "/api/v1/patches/?bbox=" in detail
    assert client.get("/api/v1/maps/high/", {"lat": 0, "lon": 0}).status_code == 404
    assert client.get("/api/v1/maps/low/", {"lat": 0, "lon": 0}).status_code == 404


@pytest.mark.parametrize("params, field, message", [
    ({"lat": 91, "lon": 0}, "lat", "between -90 and 90"),
    ({"lat": 0, "lon": -181}, "lon", "between -180 and 180"),
    ({"lat": "north", "lon": 0}, "lat", "must be a number"),
    ({"lon": 0}, "lat", "Give the latitude"),
])


def test_bad_coordinates_are_a_400_that_says_why(client, catalogue, params, field, message):
    for url in ("/api/v1/patches/at/", "/api/v1/maps/low/", "/api/v1/maps/high/"):
        response = client.get(url, params)
        assert response.status_code == 400, url
        assert message in response.json()[field][0]


def test_models_list_with_metrics(client, catalogue):
    data = client.get("/api/v1/models/").json()
    assert [m["name"] for m in data] == ["tiny-unet"]
    model = data[0]
    assert model["is_default"] and model["method"] == "unet" and model["synthetic_training"]
    assert 0 < model["metrics"]["mIoU"] <= 1 and model["bands"] and model["input_size"] == 256
    assert "synthetic" in model["note"]
    assert client.get("/api/v1/models/tiny-unet/").json()["name"] == "tiny-unet"
    assert client.get("/api/v1/models/nope/").status_code == 404


def test_cached_answers_change_when_the_catalogue_does(client, catalogue, synthetic_tree, tmp_path):
    before = client.get("/api/v1/datasets/").json()
    world = client.get("/api/v1/patches/", {"bbox": "-180,-90,180,90"}).json()["count"]
    assert world == 24
    assert client.get("/api/v1/models/").json()[0]["name"] == "tiny-unet"
    ModelVersion.objects.update(name="renamed")  # behind the API's back: the cache still answers
    assert client.get("/api/v1/models/").json()[0]["name"] == "tiny-unet"
    call_command("ingest_sen12ms", str(synthetic_tree), "--name", "Second copy", "--headers-only")
    assert client.get("/api/v1/patches/", {"bbox": "-180,-90,180,90"}).json()["count"] == 48
    assert client.get("/api/v1/models/").json()[0]["name"] == "renamed"
    assert len(client.get("/api/v1/datasets/").json()) == len(before) + 1


def test_openapi_schema_is_valid_and_documents_the_catalogue(client):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    for path in ("/api/v1/patches/", "/api/v1/patches/at/", "/api/v1/maps/high/", "/api/v1/maps/low/",
                 "/api/v1/maps/{id}/statistics/", "/api/v1/maps/{id}/tiles/{z}/{x}/{y}.png", "/api/v1/models/"):
        assert path in paths, path
