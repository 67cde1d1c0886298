"""The map page in a real headless Chromium, with a real worker: click a footprint, watch the
high-resolution map arrive, read its statistics, download the GeoTIFF and open it."""
import pytest
import rasterio
from django.core.management import call_command

from landcover.catalogue.registry import register_model
from landcover.models import Patch

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_click_a_footprint_and_get_the_high_resolution_map(page, live_server, celery_worker, synthetic_tree,
                                                           tiny_unet, tmp_path):
    call_command("ingest_sen12ms", str(synthetic_tree), "--name", "Synthetic SEN12MS")
    register_model(tiny_unet, name="tiny-unet", default=True)
    patch = Patch.objects.order_by("pk").first()
    lon, lat = patch.footprint.centroid.coords

    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/map/")
    assert page.get_by_role("heading", name="Land-cover map").is_visible()
    page.wait_for_function("document.getElementById('map').dataset.footprints === 'scenes'")
    assert page.locator("#model-select option").first.inner_text().startswith("tiny-unet")

    # Zoom to the patch: the page switches from scene boxes to patch footprints.
    page.evaluate(f"window.hrmarsMap.setView([{lat}, {lon}], 14)")
    page.wait_for_function("document.getElementById('map').dataset.footprints === 'patches'")
    page.wait_for_selector(".leaflet-overlay-pane path, .leaflet-footprints-pane path")
    point = page.evaluate(f"(() => {{ const p = window.hrmarsMap.latLngToContainerPoint([{lat}, {lon}]);"
                          f" const r = document.getElementById('map').getBoundingClientRect();"
                          f" return [r.left + p.x, r.top + p.y]; }})()")
    page.mouse.click(*point)

    page.wait_for_selector("#patch-info:not([hidden])")
    assert f"patch {patch.patch_id}" in page.locator("#patch-summary").inner_text()
    assert page.locator("#patch-synthetic").is_visible()
    high = page.locator("#card-high")
    # The progress indicator shows while the worker computes; then the statistics replace it.
    high.locator(".stats-table").wait_for(timeout=120_000)
    assert not errors, errors
    rows = high.locator(".stats-table tbody tr")
    assert rows.count() >= 1
    shares = [float(rows.nth(i).locator("td").first.inner_text()) for i in range(rows.count())]
    assert abs(sum(shares) - 100) < 1
    assert high.locator(".share-chart span").count() == rows.count()

    # The overlay: tiles of the stored map drawn on the map, with a working opacity slider.
    page.wait_for_function("document.querySelectorAll('.overlay-high img.leaflet-tile-loaded').length > 0")
    high.locator(".opacity").fill("0.3")
    assert page.evaluate("getComputedStyle(document.querySelector('.overlay-high')).opacity") == "0.3"
    high.get_by_label("Show on map").uncheck()
    assert page.locator(".overlay-high").count() == 0
    high.get_by_label("Show on map").check()

    # Confidence: the layer of unsure pixels, and a threshold that moves pixels into "uncertain".
    high.get_by_label("Show where the model is unsure").check()
    page.wait_for_function("document.querySelectorAll('.confidence-high img.leaflet-tile-loaded').length > 0")
    high.get_by_label("Minimum confidence").fill("0.9")
    high.get_by_label("Minimum confidence").dispatch_event("change")
    high.locator(".stats-table tr.uncertain").wait_for()
    assert "0.9" in high.locator(".stats-table tr.uncertain th").inner_text()
    shares = [float(rows.nth(i).locator("td").first.inner_text()) for i in range(rows.count())]
    assert abs(sum(shares) - 100) < 1 and shares[-1] > 0  # the uncertain share is part of the whole
    page.wait_for_function("[...document.querySelectorAll('.confidence-high img.leaflet-tile-loaded')]"
                           ".some((i) => i.src.includes('min_confidence=0.9'))")
    assert not errors, errors

    # The low-resolution (MODIS) map, built at ingestion, is there too.
    page.locator("#card-low .stats-table").wait_for()

    with page.expect_download() as download_info:
        high.get_by_role("link", name="GeoTIFF (COG)").click()
    target = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(target)
    assert target.suffix == ".tif"
    with rasterio.open(target) as src:
        assert src.crs.to_string() == patch.crs
        assert (src.width, src.height) == (patch.width, patch.height)
        assert src.tags()["CLASS_1"] == "Forest"


def test_a_coordinate_outside_the_catalogue_says_so(page, live_server, synthetic_tree):
    call_command("ingest_sen12ms", str(synthetic_tree), "--headers-only")
    page.goto("/map/")
    page.get_by_label("Latitude").fill("0")
    page.get_by_label("Longitude").fill("0")
    page.get_by_role("button", name="Go", exact=True).click()
    message = page.locator("#panel-message")
    message.filter(has_text="No catalogue patch covers").wait_for()
    page.get_by_label("Latitude").fill("123")
    page.get_by_role("button", name="Go", exact=True).click()
    message.filter(has_text="latitude between -90 and 90").wait_for()
