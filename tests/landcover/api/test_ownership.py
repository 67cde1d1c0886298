"""Whose results are whose (issue 23, finding 14): an area a signed-in user asks for is theirs alone — nobody
else sees it, cancels it or retries it; an area asked for without signing in is public and nobody cancels it;
each user lists their own areas and changes, page by page."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from landcover.models import AreaMap

pytestmark = pytest.mark.django_db

POINT = {"point": [-75.64, 37.67], "size_m": 1000}


def ask(client, body=POINT):
    answer = client.post("/api/v1/areas/", body, format="json")
    assert answer.status_code == 202, answer.content
    return answer.json()


def test_a_signed_in_users_area_is_theirs_alone(alice, bob):
    anonymous = APIClient()
    area = ask(alice)
    assert area["private"] and area["cancel"].endswith("/cancel/")
    url = area["url"]
    assert anonymous.get(url).status_code == 404 and bob.get(url).status_code == 404  # as if it did not exist
    for path in ("statistics/", "map.tif", "tiles/1/0/0.png", "wmts/", "vectors.geojson", "sample.csv"):
        assert bob.get(url + path).status_code == 404, path
    assert anonymous.post(url + "cancel/").status_code == 401 and bob.post(url + "cancel/").status_code == 404
    assert AreaMap.objects.get(pk=area["id"]).status == "queued"  # nobody else cancelled it
    assert alice.post(url + "cancel/").json()["status"] == "cancelled"
    assert anonymous.post(url + "retry/").status_code == 401 and bob.post(url + "retry/").status_code == 404
    assert alice.post(url + "retry/").status_code == 202


def test_the_same_area_asked_by_two_users_is_two_private_results(alice, bob):
    mine, theirs = ask(alice), ask(bob)
    assert mine["id"] != theirs["id"] and ask(alice)["id"] == mine["id"]  # asked again: the same one
    public = ask(APIClient())
    assert public["id"] not in (mine["id"], theirs["id"]) and not public["private"]
    assert ask(APIClient())["id"] == public["id"]  # anonymous requests share one public result


def test_an_anonymous_area_is_public_and_nobody_cancels_it(alice):
    anonymous = APIClient()
    area = ask(anonymous)
    assert "cancel" not in area and alice.get(area["url"]).status_code == 200  # public: anybody with its URL
    assert anonymous.post(area["url"] + "cancel/").status_code == 401
    refused = alice.post(area["url"] + "cancel/")
    assert refused.status_code == 403 and "Only the person who asked" in refused.json()["detail"]
    assert AreaMap.objects.get(pk=area["id"]).status == "queued"


def test_each_user_lists_their_own_areas_page_by_page(alice, bob):
    assert APIClient().get("/api/v1/areas/").status_code == 401
    for size in (1000, 1200, 1400):
        ask(alice, {**POINT, "size_m": size})
    ask(bob)
    ask(APIClient())
    first = alice.get("/api/v1/areas/", {"page_size": 2}).json()
    assert first["count"] == 3 and len(first["results"]) == 2 and first["next"]
    second = alice.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None
    ids = [a["id"] for a in first["results"] + second["results"]]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert all(a["private"] for a in first["results"])
    assert bob.get("/api/v1/areas/").json()["count"] == 1
    assert alice.get("/api/v1/changes/").json() == {"count": 0, "next": None, "previous": None, "results": []}
