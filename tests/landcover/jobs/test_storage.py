"""A storage folder that cannot be written (issue 23 #22): an area job fails at once, not after five retries, with
a message that says what is wrong and names no folder of the server; an upload is refused with a 503 saying the
same instead of a bare 500; nothing is left behind. The folder is made read-only for real, by a read-only bind
mount (root runs the tests, and file modes do not stop root)."""
from __future__ import annotations

import subprocess

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon

from landcover.models import AreaMap, Upload
from landcover.tasks import compute_area
from ml.synthetic import make_scene
from tests.landcover.files import post

pytestmark = pytest.mark.django_db


@pytest.fixture
def read_only(tmp_path):
    source, target = tmp_path / "source", tmp_path / "read-only"
    source.mkdir()
    target.mkdir()
    if subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True).returncode:
        pytest.skip("a read-only folder needs a bind mount: run as root with the right to mount")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True, capture_output=True)
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_an_area_job_on_read_only_storage_fails_at_once_saying_why(settings, read_only, tiny_unet_model):
    settings.AREAS_DIR = read_only / "areas"
    area = AreaMap.objects.create(key="k" * 64, token="t" * 40, area_km2=1.0, model_version=tiny_unet_model,
                                  geometry=MultiPolygon(Polygon.from_bbox((-75.65, 37.66, -75.63, 37.68))))
    result = compute_area.apply(args=[area.pk]).get()
    area.refresh_from_db()
    assert result["status"] == area.status == "failed" and area.attempts == 1
    assert "storage cannot be written" in area.error and "/" not in area.error, area.error


def test_an_upload_on_read_only_storage_is_refused_with_a_503_saying_why(settings, read_only, alice, tmp_path):
    settings.UPLOADS_DIR = read_only / "uploads"
    response = post(alice, "scene.tif", make_scene(tmp_path / "scene.tif", 64, 64, seed=2).read_bytes())
    assert response.status_code == 503, response.content
    message = response.json()["detail"]
    assert "storage cannot be written" in message and str(tmp_path) not in message
    assert not Upload.objects.exists()
