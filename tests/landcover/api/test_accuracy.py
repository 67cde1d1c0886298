"""Accuracy of a stored map against the user's reference points, and the stratified sample to label:
a labelled sample gives the confusion matrix built by hand, Olofsson's area estimates sum to the mapped
area, an unknown design says why it gives no areas, and every unreadable point is a 400 naming it."""
from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_map(catalogue):
    from rest_framework.test import APIClient

    client = APIClient()
    patch = catalogue.first()
    body = client.get("/api/v1/maps/low/", {"patch": patch.pk}).json()
    assert body["status"] == "done"
    return client, body


def post_points(client, url, name: str, content: bytes, design: str | None = None):
    data = {"file": SimpleUploadedFile(name, content)}
    if design:
        data["design"] = design
    return client.post(url + "accuracy/", data, format="multipart")


def test_a_labelled_stratified_sample_gives_the_matrix_and_area_estimates(low_map):
    client, m = low_map
    sample = client.get(m["url"] + "sample.geojson", {"per_class": 8, "seed": 3})
    assert sample.status_code == 200 and sample["Content-Type"] == "application/geo+json"
    features = sample.json()["features"]
    assert features == client.get(m["url"] + "sample.geojson", {"per_class": 8, "seed": 3}).json()["features"]
    mapped = {r["code"]: r for r in m["statistics"] if r["pixels"]}
    assert {f["properties"]["map_class"] for f in features} == set(mapped)
    # Label it: right everywhere but the first point of each class, which the labeller calls Water (10)
    first_of = {}
    for f in features:
        cls = f["properties"]["map_class"]
        f["properties"]["class"] = 10 if cls not in first_of and cls != 10 else cls
        first_of.setdefault(cls, f)
    answer = post_points(client, m["url"], "labelled.geojson", json.dumps(sample.json()).encode(), "stratified")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    classes = [c["code"] for c in body["classes"]]
    matrix = body["confusion_matrix"]
    for i, code in enumerate(classes):
        n = sum(1 for f in features if f["properties"]["map_class"] == code)
        wrong = 1 if code != 10 and n else 0
        assert matrix[i][i] == n - wrong
        if wrong:
            assert matrix[i][classes.index(10)] == 1
    assert body["points_off_the_map"] == 0 and body["design"] == "stratified" and "Olofsson" in body["note"]
    total_mapped = sum(r["area_km2"] for r in mapped.values())
    assert sum(c["estimated_area_km2"] for c in body["classes"]) == pytest.approx(total_mapped, rel=1e-4)
    assert sum(c["mapped_area_km2"] for c in body["classes"]) == pytest.approx(total_mapped, rel=1e-4)
    assert all(c["estimated_area_ci95_ha"] is not None for c in body["classes"] if c["map_points"] > 1)
    assert 0 < body["overall_accuracy"] < 1 and body["overall_accuracy_ci95"] > 0


def test_points_of_unknown_design_give_counts_and_say_why_no_areas(low_map):
    client, m = low_map
    rows = list(csv.DictReader(io.StringIO(client.get(m["url"] + "sample.csv", {"per_class": 3}).content.decode())))
    assert rows and set(rows[0]) == {"id", "lon", "lat", "map_class", "map_name", "class"}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["lon", "lat", "class"])
    writer.writerows([r["lon"], r["lat"], r["map_name"]] for r in rows)  # names work as well as codes
    writer.writerow([0, 0, "Forest"])  # off the map: counted apart
    body = post_points(client, m["url"], "points.csv", out.getvalue().encode()).json()
    assert body["design"] == "unknown" and body["overall_accuracy"] == 1.0
    assert body["points_sent"] == len(rows) + 1 and body["points_off_the_map"] == 1
    assert "probability sample" in body["note"] and "estimated_area_km2" not in body["classes"][0]


@pytest.mark.parametrize("name, content, words", [
    ("p.csv", b"lon,lat,class\n0,0,Jungle\n", "line 2: class 'Jungle' is not one of ours"),
    ("p.csv", b"x;y;z\n", "needs a header with lon, lat and class"),
    ("p.csv", b"lon,lat,class\n0,100,1\n", "line 2: lon must be"),
    ("p.geojson", b'{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": '
                  b'{"type": "Polygon", "coordinates": []}, "properties": {"class": 1}}]}', "feature 1: not a Point"),
    ("p.geojson", b'{"type": "FeatureCollection", "features": []}', "no reference points"),
    ("p.geojson", b"{oops", "invalid JSON"),
    ("p.csv", b"lon,lat,class\n0,0,1\n", "None of the points falls on a mapped pixel"),
    ("p.csv", "lon,lat,class\n0,0,1\n".encode("utf-16"), "UTF-8"),
])
def test_unreadable_reference_points_are_400(low_map, name, content, words):
    client, m = low_map
    answer = post_points(client, m["url"], name, content)
    assert answer.status_code == 400 and words in json.dumps(answer.json(), ensure_ascii=False), answer.content


def test_bad_parameters_and_maps_not_done(low_map, catalogue):
    client, m = low_map
    assert client.get(m["url"] + "sample.geojson", {"per_class": 0}).status_code == 400
    assert client.get(m["url"] + "sample.geojson", {"seed": "x"}).status_code == 400
    assert client.get(m["url"] + "sample.kml").status_code == 404
    assert post_points(client, m["url"], "p.csv", b"lon,lat,class\n", "guess").status_code == 400
    high = client.get("/api/v1/maps/high/", {"patch": catalogue.first().pk}).json()  # queued, not done
    assert client.get(high["url"] + "sample.geojson").status_code == 409
    assert client.get("/api/v1/uploads/1/sample.csv").status_code in (401, 403)  # uploads: their owner only
