"""The map page's time: a time series of June and July 2024 on the loopback STAC API (July's scene has half the
area turned to water: `july_item`) opened by its permalink in a real Chromium; the slider changes the layer and
the statistics, the swipe shows two periods side by side, a click shows a pixel's probabilities on each date, and
the permalink it writes reopens the same view."""
import pytest
from rest_framework.test import APIClient

from landcover.catalogue.registry import register_model
from landcover.tasks import compute_series
from tests.landcover.jobs.test_composites import COL0, COL1, ROW0, ROW1
from tests.ml.test_imagery import scene_polygon

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def tiles_of(page, composite: int) -> int:
    return page.locator(f"img[src*='/composites/{composite}/tiles/']").count()


def test_the_slider_the_swipe_and_the_permalink_of_a_time_series(page, live_server, stac_api, july_item, tiny_unet,
                                                                 settings):
    settings.STAC_URL, settings.STAC_COLLECTIONS = stac_api.url, ["sentinel-2-l2a"]
    register_model(tiny_unet, name="tiny-unet", default=True)
    asked = APIClient().post("/api/v1/series/", {"geometry": scene_polygon(COL0, ROW0, COL1, ROW1), "source": "stac",
                                                 "start": "2024-06-01", "end": "2024-07-31"}, format="json").json()
    assert compute_series.apply(args=[asked["id"]]).get()["status"] == "done"
    june, july = (p["composite"] for p in APIClient().get(asked["url"]).json()["periods"])
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"/map/?series={asked['id']}")
    statistics = page.locator("#series-statistics")
    page.wait_for_function("document.getElementById('series-statistics')?.dataset.period === '2024-06'")
    page.wait_for_function(f"document.querySelectorAll(\"img[src*='/composites/{june}/tiles/']\").length > 0")
    june_table = statistics.locator(".stats-table").inner_text()
    assert page.locator("#series-period").get_attribute("max") == "1"

    page.locator("#series-period").fill("1")  # the slider to July: its layer and its statistics
    page.wait_for_function("document.getElementById('series-statistics').dataset.period === '2024-07'")
    page.wait_for_function(f"document.querySelectorAll(\"img[src*='/composites/{july}/tiles/']\").length > 0")
    assert tiles_of(page, june) == 0 and statistics.locator(".stats-table").inner_text() != june_table
    assert "period=1" in page.url

    page.locator("#series-swipe-period").select_option("0")
    page.locator("#series-swipe").check()  # July on the left, June on the right, a divider between
    page.locator(".leaflet-sbs-divider").wait_for()
    page.wait_for_function(f"document.querySelectorAll(\"img[src*='/composites/{june}/tiles/']\").length > 0")
    assert tiles_of(page, july) > 0 and "swipe=0" in page.url

    # One pixel over time (the period shown, July: one date), as the map page charts it on a click.
    page.locator("#series-swipe").uncheck()
    page.locator("#map").click()
    page.wait_for_function("document.getElementById('series-pixel').dataset.dates === '1'")
    assert "2024-07-10" in page.locator("#series-pixel").inner_text()
    page.locator("#series-swipe").check()

    page.goto(page.url)  # the permalink: the same period, the same swipe
    page.locator(".leaflet-sbs-divider").wait_for()
    page.wait_for_function("document.getElementById('series-statistics')?.dataset.period === '2024-07'")
    assert page.locator("#series-period").input_value() == "1" and page.locator("#series-swipe").is_checked()
    assert not errors, errors
