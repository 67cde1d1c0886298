"""Uploads in a real headless Chromium with a real worker: log in, upload a synthetic scene, watch the
job reach 100 %, see the overlay and statistics on the map, download the COG."""
import pytest
import rasterio
from django.contrib.auth import get_user_model

from landcover.catalogue.registry import register_model
from landcover.models import Upload
from ml.synthetic import make_scene

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_upload_a_scene_and_get_its_map(page, live_server, celery_worker, tiny_unet, tmp_path):
    register_model(tiny_unet, name="tiny-unet", default=True)
    get_user_model().objects.create_user("carol", "c@example.org", "Land-cover-2026!")
    scene = make_scene(tmp_path / "my-scene.tif", 400, 360, bands=13, seed=9)

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password").fill("Land-cover-2026!")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/accounts/profile/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Upload").click()

    page.get_by_label("Image (GeoTIFF or zip)").set_input_files(str(scene))
    page.get_by_role("button", name="Upload and map").click()
    page.locator("#upload-message").filter(has_text="was accepted").wait_for()
    page.wait_for_selector(".job[data-status='done']", timeout=120_000)
    assert page.locator(".job .job-percent").first.inner_text() == "100 %"
    upload = Upload.objects.get()
    assert upload.status == "done" and upload.attempts == 1, celery_worker.log()

    page.get_by_role("link", name="Show on the map").click()
    card = page.locator("#card-upload")
    card.locator(".stats-table").wait_for(timeout=30_000)
    page.wait_for_function("document.querySelectorAll('.overlay-upload img.leaflet-tile-loaded').length > 0")
    shares = [float(t) for t in card.locator(".stats-table tbody td:nth-child(2)").all_inner_texts()]
    assert abs(sum(shares) - 100) < 1
    with page.expect_download() as download_info:
        card.get_by_role("link", name="GeoTIFF (COG)").click()
    target = tmp_path / "result.tif"
    download_info.value.save_as(target)
    with rasterio.open(target) as result, rasterio.open(scene) as source:
        assert result.crs == source.crs and (result.width, result.height) == (360, 400)
