"""A worker killed (SIGKILL) in the middle of an upload's job: after a restart the job completes,
exactly once, with one result stored."""
import os
import signal
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from landcover.catalogue.registry import register_model
from landcover.jobs import uploads
from landcover.models import Upload
from ml.synthetic import make_scene
from tests.conftest import WorkerProcess, skip_or_fail, test_database_url, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_killed_worker_the_job_runs_again_after_a_restart(tiny_unet, django_user_model, tmp_path, monkeypatch):
    from hrmars_site.celery import app

    if not app.conf.broker_url.startswith("redis://"):
        skip_or_fail("a Redis broker is needed")
    version = register_model(tiny_unet, name="tiny-unet", default=True)
    user = django_user_model.objects.create_user("dave", "d@example.org", "pw-dave-1234")
    scene = make_scene(tmp_path / "big.tif", 2048, 2048, bands=13, seed=3)  # 100 tiles: long enough to kill
    queue = f"test-{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "CELERY_QUEUE": queue, "DATABASE_URL": test_database_url(),
           "HRMARS_BROKER_VISIBILITY_TIMEOUT": "3"}
    monkeypatch.setattr(app.conf, "task_default_queue", queue)
    first = WorkerProcess(queue, tmp_path / "worker1.log", env)
    second = None
    try:
        upload = uploads.accept_upload(user, SimpleUploadedFile("big.tif", scene.read_bytes()), version)
        wait_for(lambda: Upload.objects.get(pk=upload.pk).progress >= 5, timeout=120,
                 message="the job to be under way\n" + first.log())
        os.killpg(first.proc.pid, signal.SIGKILL)  # the worker and its pool child, no warm shutdown
        first.proc.wait(timeout=10)
        killed_at = Upload.objects.get(pk=upload.pk)
        assert killed_at.status == "running" and killed_at.progress < 100

        second = WorkerProcess(queue, tmp_path / "worker2.log", env)
        wait_for(lambda: Upload.objects.get(pk=upload.pk).status == "done", timeout=240,
                 message="the restarted worker to finish the job\n" + second.log())
        done = Upload.objects.get(pk=upload.pk)
        assert done.attempts == 2  # started once by each worker, finished once
        assert sum(r["pixels"] for r in done.statistics) == 2048 * 2048
        folder = uploads.UPLOAD_PRODUCT.folder(done)
        assert sorted(p.name for p in folder.iterdir()) == ["confidence.json", "confidence.tif", "map.tif", "preview.png",
                                                            "probabilities.tif", "source.tif"]
        assert second.log().count("succeeded") == 1
    finally:
        first.stop()
        if second:
            second.stop()
