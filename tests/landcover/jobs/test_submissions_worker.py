"""A submission scored by a real Celery worker that consumes the submission queue alone (issue 26, item 3: strangers'
models on a queue of their own, so they can live on machines of their own): the web side sends it there, the
default queue's worker never sees it, and the scores come back as the job's."""
from __future__ import annotations

import json
import os
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from landcover.models import Submission
from tests.conftest import WorkerProcess, skip_or_fail, test_database_url, wait_for
from tests.landcover.competitions import LIMITS, THRESHOLD
from tests.ml.test_submissions import CARD, segmenter

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_submission_is_scored_by_a_worker_of_the_submission_queue_alone(benchmark, tmp_path, settings,
                                                                          django_user_model):
    from hrmars_site.celery import app

    if not app.conf.broker_url.startswith(("redis://", "rediss://")):
        skip_or_fail("a Redis broker is needed (CELERY_BROKER_URL=redis://…)")
    tag = uuid.uuid4().hex[:8]
    queue = f"submissions-{tag}"
    settings.SUBMISSION_QUEUE = queue
    env = {**os.environ, "CELERY_QUEUE": f"unused-{tag}", "DATABASE_URL": test_database_url(),
           "HRMARS_SUBMISSION_QUEUE": queue, **{f"HRMARS_{k}": str(v) for k, v in LIMITS.items()}}
    worker = WorkerProcess(queue, tmp_path / "worker.log", env, name=f"sandbox-{tag}")
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("ada"))
    try:
        answer = client.post(f"/api/v1/benchmarks/{benchmark.slug}/submissions/", {
            "model": SimpleUploadedFile("model.onnx", segmenter(weights=THRESHOLD).SerializeToString()),
            "card": json.dumps(CARD), "name": "threshold"}, format="multipart")
        assert answer.status_code == 202, answer.content
        row = Submission.objects.get(pk=answer.json()["id"])

        def finished():
            row.refresh_from_db()
            return row.status in ("done", "failed")
        wait_for(finished, 120, 0.5, "the submission's scores")
        assert row.status == "done", (row.error, worker.log()[-3000:])
        assert row.public_scores["metrics"]["AA"] > 0.9 and row.private_scores["images"] == 3
        assert f"sandbox-{tag}@" in worker.log() and "landcover.score_submission" in worker.log()
    finally:
        worker.stop()
