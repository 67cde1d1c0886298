"""Time series of class areas (issue 25) on the loopback STAC API: by month over May–July 2024, June holds the two
dated items of the west half (tests/stac_server.py), May and July none. June's row is its composite's statistics,
May and July are gaps with their reason, the table, JSON and chart are served, and the June composite is the one
anybody asking for June gets — its scenes mapped once."""
from __future__ import annotations

import csv
import io

import pytest

from landcover.jobs import composites, series
from landcover.models import CompositeMap, SceneMap, TimeSeries
from landcover.tasks import compute_series
from tests.landcover.jobs.test_composites import COL0, COL1, ROW0, ROW1, client  # noqa: F401  (a fixture)
from tests.ml.test_imagery import scene_polygon

pytestmark = pytest.mark.django_db


def test_months_with_and_without_imagery_make_a_table_a_chart_and_reusable_composites(client):  # noqa: F811
    answer = client.post("/api/v1/series/", {"geometry": scene_polygon(COL0, ROW0, COL1, ROW1), "source": "stac",
                                             "start": "2024-05-01", "end": "2024-07-31", "step": "month"},
                         format="json")
    assert answer.status_code == 202, answer.content
    assert compute_series.apply(args=[answer.json()["id"]]).get()["status"] == "done"
    data = client.get(answer.json()["url"]).json()
    assert [p["period"] for p in data["periods"]] == ["2024-05", "2024-06", "2024-07"]
    may, june, july = data["periods"]
    assert may["status"] == july["status"] == "failed" and "no Sentinel-2 scene" in may["error"]
    composite = CompositeMap.objects.get(pk=june["composite"])
    assert june["status"] == "done" and june["scenes"] == 2 and june["dates"] == ["2024-06-10", "2024-06-20"]
    assert june["classes"] == {str(r["code"]): round(r["area_km2"] * 100, 4) for r in composite.statistics}
    assert abs(june["mapped_ha"] - (COL1 - COL0) * (ROW1 - ROW0) / 100) < 0.5  # every pixel seen clear at least once

    table = list(csv.DictReader(io.StringIO(b"".join(client.get(data["links"]["csv"]).streaming_content).decode())))
    assert [r["period"] for r in table] == ["2024-05", "2024-06", "2024-07"]
    assert table[0]["mapped_ha"] == "" and float(table[1]["mapped_ha"]) == june["mapped_ha"]
    shares = [float(v) for k, v in table[1].items() if k.endswith("_percent")]
    assert abs(sum(shares) - 100) < 0.01
    assert b"".join(client.get(data["links"]["chart"]).streaming_content).startswith(b"\x89PNG")

    # June asked for by anybody: the same composite, made already; its scenes were mapped once.
    again = client.post("/api/v1/composites/", {"geometry": scene_polygon(COL0, ROW0, COL1, ROW1), "source": "stac",
                                                "period": "2024-06"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == composite.pk
    assert SceneMap.objects.count() == 2
    assert composites.COMPOSITE_PRODUCT.folder(composite).is_dir()
    assert TimeSeries.objects.get().periods == series.SERIES_PRODUCT.rows().get().periods


@pytest.mark.parametrize("asked, field, words", [
    ({"start": "2024-01-01", "end": "2024-03-01", "step": "week"}, "step", "month, season, year"),
    ({"start": "2010-01-01", "end": "2024-12-31", "step": "month"}, "end", "at most 60"),
    ({"period": "2024", "step": "season", "method": "max"}, "method", "mode, mean"),
])
def test_bad_series_each_get_their_400(client, asked, field, words):  # noqa: F811
    answer = client.post("/api/v1/series/", {"geometry": scene_polygon(COL0, ROW0, COL1, ROW1), **asked},
                         format="json")
    assert answer.status_code == 400 and words in answer.json()[field][0], answer.content
    assert not TimeSeries.objects.exists()
