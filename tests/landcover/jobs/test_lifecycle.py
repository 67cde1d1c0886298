"""The one job lifecycle (landcover.jobs.lifecycle) on its own: claiming counts attempts and skips ended jobs, a job
whose task was lost is queued again once, cancel stops a running build and keeps nothing, a failed build leaves
nothing behind, publishing replaces what a killed attempt left, and errors are sorted by ml.errors' classes."""
from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.utils import timezone

from landcover.jobs import lifecycle
from landcover.jobs.lifecycle import JobKind
from landcover.models import AreaMap
from ml.errors import PermanentError, TransientError

pytestmark = pytest.mark.django_db


def kind_of(build, root: Path) -> JobKind:
    """A job kind over area rows whose build is `build`."""
    return JobKind(name="probe", task="tests.probe", model=AreaMap, waiting="queued", running="running", done="done",
                   failed="failed", cancelled="cancelled", idle_result="skipped", related=(),
                   staging=lambda row: root / ".tmp", destination=lambda row: root / row.token, build=build)


@pytest.fixture
def row(tiny_unet_model):
    return AreaMap.objects.create(key=secrets.token_hex(32), token=secrets.token_urlsafe(12), area_km2=1.0,
                                  geometry=MultiPolygon(Polygon.from_bbox((0, 0, 0.01, 0.01)), srid=4326),
                                  model_version=tiny_unet_model)


def writes(name: str, text: str = "x"):
    def build(row, work: Path, progress) -> dict:
        (work / name).write_text(text)
        progress(1, 1)
        return {"statistics": [{"code": 1}]}
    return build


def test_claim_counts_every_attempt_and_leaves_ended_jobs_alone(row, tmp_path):
    kind = kind_of(writes("a"), tmp_path)
    claimed = lifecycle.claim(kind, row.pk)
    assert claimed.status == "running" and claimed.attempts == 1
    # A task delivered again while the row says running (its worker was killed: acks_late) starts over.
    assert lifecycle.claim(kind, row.pk).attempts == 2
    for ended in ("done", "failed", "cancelled"):
        AreaMap.objects.filter(pk=row.pk).update(status=ended)
        assert lifecycle.claim(kind, row.pk) is None
        assert lifecycle.run(kind, row.pk) == {"probe": row.pk, "status": "skipped"}
    assert AreaMap.objects.get(pk=row.pk).attempts == 2


def test_run_publishes_atomically_and_replaces_a_killed_attempts_files(row, tmp_path):
    kind = kind_of(writes("map.tif", "new"), tmp_path)
    destination = tmp_path / row.token
    destination.mkdir(parents=True)
    (destination / "map.tif").write_text("half written by a killed attempt")
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / f"probe-{row.pk}-left").mkdir()  # a killed attempt's work folder
    result = lifecycle.run(kind, row.pk)
    assert result["status"] == "done"
    assert (destination / "map.tif").read_text() == "new"
    assert not list((tmp_path / ".tmp").iterdir())  # its work folder and the stale one are gone
    row.refresh_from_db()
    assert row.status == "done" and row.progress == 100 and row.statistics == [{"code": 1}] and row.finished_at


def test_a_permanent_error_fails_at_once_and_a_transient_one_goes_to_celery(row, tmp_path):
    def broken(row, work, progress):
        (work / "part").write_text("x")
        raise PermanentError("the file at /srv/data/secret/scene.tif is not an image")

    result = lifecycle.run(kind_of(broken, tmp_path), row.pk)
    row.refresh_from_db()
    assert result["status"] == row.status == "failed"
    assert "scene.tif" in row.error and "/srv/data" not in row.error  # paths on the server are cut
    assert not (tmp_path / row.token).exists() and not list((tmp_path / ".tmp").iterdir())

    def unreachable(row, work, progress):
        raise TransientError("the STAC API did not answer")

    AreaMap.objects.filter(pk=row.pk).update(status="queued")
    with pytest.raises(TransientError):
        lifecycle.run(kind_of(unreachable, tmp_path), row.pk)  # Celery retries it (landcover.tasks)
    row.refresh_from_db()
    assert row.status == "running" and not list((tmp_path / ".tmp").iterdir())


def test_cancel_stops_a_running_build_and_keeps_nothing(row, tmp_path):
    def cancelled_meanwhile(row, work, progress):
        (work / "map.tif").write_text("x")
        AreaMap.objects.filter(pk=row.pk).update(status="cancelled")  # somebody cancels while it runs
        progress(1, 1)  # the next progress report notices
        raise AssertionError("not reached")

    kind = kind_of(cancelled_meanwhile, tmp_path)
    assert lifecycle.run(kind, row.pk)["status"] == "skipped"
    assert not (tmp_path / row.token).exists()
    row.refresh_from_db()
    assert row.status == "cancelled" and not lifecycle.cancel(kind, row)  # over: nothing to cancel


def test_a_lost_job_is_queued_again_once(row, tmp_path, django_capture_on_commit_callbacks):
    kind = kind_of(writes("a"), tmp_path)
    long_ago = timezone.now() - timedelta(hours=2)
    AreaMap.objects.filter(pk=row.pk).update(status="running", updated_at=long_ago)
    row.refresh_from_db()
    with django_capture_on_commit_callbacks() as queued:
        assert lifecycle.requeue_if_stale(kind, row, stale_after=3600)
        assert not lifecycle.requeue_if_stale(kind, row, stale_after=3600)  # fresh now
    assert len(queued) == 1 and row.status == "queued"
    stale_copy = AreaMap.objects.get(pk=row.pk)
    stale_copy.updated_at = long_ago  # another request still holding the old row loses the race
    assert not lifecycle.requeue_if_stale(kind, stale_copy, stale_after=3600)


def test_find_or_queue_counts_a_new_computation_once_and_notes_requests(row, tmp_path):
    kind = kind_of(writes("a"), tmp_path)
    counted = []
    found, created = lifecycle.find_or_queue(kind, {"key": row.key}, {}, 3600, before_new=lambda: counted.append(1))
    assert found.pk == row.pk and not created and not counted  # stored: no new computation counted
    AreaMap.objects.filter(pk=row.pk).update(requested_at=timezone.now() - timedelta(days=3))
    lifecycle.find_or_queue(kind, {"key": row.key}, {}, 3600)
    row.refresh_from_db()
    assert row.requested_at > timezone.now() - timedelta(minutes=1)  # asked for again: prune keeps it
