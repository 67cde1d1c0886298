"""Vector export of a stored map: GeoJSON and GeoPackage whose class areas match the map's statistics, an MMU
that merges small patches, a size limit, and the usual 400/409."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_map(catalogue):
    from rest_framework.test import APIClient

    client = APIClient()
    body = client.get("/api/v1/maps/low/", {"patch": catalogue.first().pk}).json()
    assert body["status"] == "done"
    return client, body


def content(response) -> bytes:
    return b"".join(response.streaming_content)


def test_geojson_areas_match_the_map_statistics(low_map):
    client, m = low_map
    answer = client.get(m["url"] + "vectors.geojson", {"mmu": 0})
    assert answer.status_code == 200 and answer["Content-Type"] == "application/geo+json"
    features = json.loads(content(answer))["features"]
    by_class: dict[int, float] = {}
    for f in features:
        by_class[f["properties"]["code"]] = by_class.get(f["properties"]["code"], 0) + f["properties"]["area_ha"]
    stats = {r["code"]: r["area_km2"] * 100 for r in m["statistics"] if r["pixels"]}
    assert by_class.keys() == stats.keys()
    for code, ha in stats.items():
        assert by_class[code] == pytest.approx(ha, rel=1e-3)
    merged = json.loads(content(client.get(m["url"] + "vectors.geojson", {"mmu": 50})))["features"]
    assert len(merged) <= len(features)
    assert sum(f["properties"]["area_ha"] for f in merged) == pytest.approx(sum(stats.values()), rel=1e-3)


def test_geopackage_and_limits(low_map, settings):
    client, m = low_map
    gpkg = client.get(m["url"] + "vectors.gpkg")
    assert gpkg.status_code == 200 and content(gpkg)[:15] == b"SQLite format 3"
    assert client.get(m["url"] + "vectors.gpkg", {"mmu": 20000}).status_code == 400
    assert client.get(m["url"] + "vectors.geojson").status_code == 200
    settings.VECTOR_MAX_PIXELS = 10
    assert "vector export is offered up to 10" in json.dumps(client.get(m["url"] + "vectors.geojson",
                                                                        {"mmu": 3}).json())
    assert client.get(m["url"] + "vectors.geojson").status_code == 200  # made before the limit: kept


def test_not_done_is_409(catalogue):
    from rest_framework.test import APIClient

    client = APIClient()
    high = client.get("/api/v1/maps/high/", {"patch": catalogue.first().pk}).json()
    assert client.get(high["url"] + "vectors.geojson").status_code == 409


def test_a_large_map_is_exported_by_a_job_not_in_the_request(low_map, settings, django_capture_on_commit_callbacks):
    """Above HRMARS_INLINE_MAX_PIXELS the request only queues an export job and answers 202 with its URL; the job
    (run here as the worker would) makes the file once, and every later request is served the stored file."""
    from landcover.jobs import lifecycle
    from landcover.jobs.exports import EXPORT_JOB
    from landcover.models import Export

    client, m = low_map
    settings.INLINE_MAX_PIXELS = 10  # the 256² map counts as large
    with django_capture_on_commit_callbacks() as queued:
        answer = client.get(m["url"] + "vectors.geojson", {"mmu": 4})
    assert answer.status_code == 202 and answer["Location"] == answer.json()["url"] and len(queued) == 1
    job = answer.json()
    export = Export.objects.get(pk=job["id"])
    assert export.status == "queued" and not (settings.EXPORTS_DIR / export.token).exists()  # nothing computed
    assert client.get(m["url"] + "vectors.geojson", {"mmu": 4}).status_code == 202  # the same job, not a second
    assert Export.objects.count() == 1

    lifecycle.run(EXPORT_JOB, export.pk)
    done = client.get(job["url"]).json()
    assert done["status"] == "done" and set(done["links"]) == {"download"}
    served = client.get(done["links"]["download"])
    assert served.status_code == 200 and served["Content-Type"] == "application/geo+json"
    features = json.loads(content(served))["features"]
    again = client.get(m["url"] + "vectors.geojson", {"mmu": 4})
    assert again.status_code == 200 and json.loads(content(again))["features"] == features


def test_new_export_variants_count_against_the_clients_limit(low_map, settings):
    """Issue 23, finding 19: every `mmu` value wrote a new file kept forever, anonymously. Each new variant now counts
    against HRMARS_EXPORT_RATE; a variant already made is served without counting."""
    client, m = low_map
    settings.EXPORT_RATE = "2/h"
    assert client.get(m["url"] + "vectors.geojson", {"mmu": 1}).status_code == 200
    assert client.get(m["url"] + "vectors.geojson", {"mmu": 2}).status_code == 200
    refused = client.get(m["url"] + "vectors.geojson", {"mmu": 3})
    assert refused.status_code == 429
    assert client.get(m["url"] + "vectors.geojson", {"mmu": 1}).status_code == 200  # made already: read freely
    from landcover.models import Export

    assert Export.objects.count() == 2
