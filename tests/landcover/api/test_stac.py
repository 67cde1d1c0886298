"""/api/v1/stac/: a STAC API of every stored map, read by pystac-client (conformance, GET and POST search with
bbox, intersects, ids, datetime and paging) and checked by stac-api-validator (core, collections, features,
item-search) against the live server; an upload's map is its owner's alone."""
from __future__ import annotations

import json

import pytest
import requests

from landcover.jobs.areas import first_acquisition
from landcover.models import AreaMap, LandCoverMap
from tests.landcover.api.test_change import stored_area
from tests.ml.test_change import BEFORE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stac(catalogue, live_server):
    from landcover.catalogue.registry import find_model

    area = stored_area(BEFORE, find_model(None))
    imagery = {"items": [{"id": "S2A_test", "datetime": "2024-06-10T15:50:00+00:00"}], "cloud_percent": 0}
    AreaMap.objects.filter(pk=area.pk).update(imagery=imagery, acquired=first_acquisition(imagery))
    return f"{live_server.url}/api/v1/stac/", area


def test_pystac_client_searches_every_map(stac):
    from pystac_client import Client, ConformanceClasses

    url, area = stac
    client = Client.open(url)
    assert client.conforms_to(ConformanceClasses.ITEM_SEARCH) and client.conforms_to(ConformanceClasses.CORE)
    assert {c.id for c in client.get_collections()} == {"catalogue-maps", "areas", "regions", "composites",
                                                        "changes"}  # no uploads
    maps = list(client.search(collections=["catalogue-maps"], limit=5).items())  # 5 per page: paging by `next`
    done = LandCoverMap.objects.filter(status="done").count()
    assert len(maps) == done == 24
    item = maps[0]
    assert item.properties["proj:code"].startswith("EPSG:") and item.properties["proj:shape"] == [256, 256]
    data = item.assets["data"]
    assert data.extra_fields["classification:classes"][0] == {"value": 1, "name": "forest", "description": "Forest",
                                                              "color_hint": data.extra_fields["classification:classes"]
                                                              [0]["color_hint"]}
    assert requests.head(data.href, timeout=10).status_code == 200  # the asset is the COG download
    m = LandCoverMap.objects.select_related("patch").get(pk=int(item.id.split("-")[1]))
    west, south, east, north = m.patch.footprint.extent
    here = list(client.search(bbox=[west + 1e-4, south + 1e-4, east - 1e-4, north - 1e-4],
                              collections=["catalogue-maps"]).items())
    assert item.id in {i.id for i in here} and len(here) < done
    found = list(client.search(ids=[f"area-{area.pk}"]).items())
    assert [i.id for i in found] == [f"area-{area.pk}"] and found[0].datetime.year == 2024
    assert found[0].assets["image"].href.endswith(f"/api/v1/areas/{area.pk}/image.tif")
    inside = {"type": "Point", "coordinates": list(area.geometry.centroid.coords)}
    assert f"area-{area.pk}" in {i.id for i in client.search(intersects=inside).items()}
    assert not list(client.search(collections=["areas"], datetime="2000-01-01/2000-12-31").items())


def test_search_errors_and_private_uploads(stac, django_user_model):
    url, _ = stac
    assert requests.get(url + "search", params={"bbox": "1,2,3"}, timeout=10).status_code == 400
    assert requests.get(url + "search", params={"collections": "nope"}, timeout=10).status_code == 400
    assert requests.get(url + "search", params={"limit": 0}, timeout=10).status_code == 400
    assert requests.get(url + "search", params={"limit": 5000}, timeout=10).json()["numberReturned"] == 25  # ≤ 1000
    assert requests.get(url + "search", params={"datetime": "yesterday"}, timeout=10).status_code == 400
    assert requests.get(url + "collections/uploads", timeout=10).status_code == 404  # anonymous: not there
    assert requests.get(url + "collections/areas/items/area-999999", timeout=10).status_code == 404


def test_stac_api_validator_finds_no_error_but_the_schemas_it_cannot_fetch_offline(stac):
    """stac-api-validator checks the landing page, conformance, collections, items and search behaviour; it also
    validates every object against JSON schemas it downloads, which the offline test machine cannot: those
    errors (and only those) are left out."""
    from stac_api_validator.validations import QueryConfig, validate_api

    url, area = stac
    warnings, errors = validate_api(
        root_url=url, ccs_to_validate=["core", "collections", "features", "item-search"],
        collection="catalogue-maps",
        geometry=json.dumps({"type": "Point", "coordinates": list(LandCoverMap.objects.filter(status="done").first()
                                                                 .patch.footprint.centroid.coords)}),
        auth_bearer_token=None, auth_query_parameter=None, fields_nested_property=None, validate_pagination=True,
        query_config=QueryConfig(*[None] * 13), transaction_collection=None,
        headers=None, open_assets_urls=False)
    offline = ("stac-validator", "stac-check", "schema", "Max retries", "NameResolution", "Failed to resolve")
    real = [e for e in errors.errors if not any(word in str(e) for word in offline)]
    assert not real, "\n".join(str(e) for e in real)


def test_items_collections_and_landing_page_follow_the_core_schemas(stac):
    """Each object against the STAC 1.1.0 JSON schemas pystac ships (the extensions' schemas cannot be fetched
    offline, so this is the core of what stac-validator would check)."""
    from pystac.validation.local_validator import LocalValidator

    url, area = stac
    validator = LocalValidator()
    landing = requests.get(url, timeout=10).json()
    validator.catalog_validator("1.1.0").validate(landing)
    for collection in requests.get(url + "collections", timeout=10).json()["collections"]:
        validator.collection_validator("1.1.0").validate(collection)
    items = requests.get(url + "search", params={"limit": 3}, timeout=10).json()["features"]
    items += requests.get(url + "search", params={"ids": f"area-{area.pk}"}, timeout=10).json()["features"]
    assert len(items) == 4
    for item in items:
        validator.item_validator("1.1.0").validate(item)
