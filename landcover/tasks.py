"""Celery tasks of the catalogue: computing land-cover maps (see landcover.maps)."""
from __future__ import annotations

import logging

from celery import Task, shared_task
from django.db import DatabaseError

from . import maps

log = logging.getLogger(__name__)

# Errors that another try can fix: a full or busy disk, a database restart.
TRANSIENT = (OSError, DatabaseError)


class RecordingTask(Task):
    """Out of retries (or an unexpected error): the record says failed, with the reason."""
    abstract = True
    record_failure = None  # (record id, message) → None

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        if args and self.record_failure:
            type(self).record_failure(args[0], f"{type(exc).__name__}: {exc}")


class MapTask(RecordingTask):
    record_failure = staticmethod(maps.mark_failed)


@shared_task(bind=True, base=MapTask, name="landcover.compute_map", acks_late=True, reject_on_worker_lost=True,
             autoretry_for=TRANSIENT, retry_backoff=5, retry_backoff_max=300, retry_jitter=True, max_retries=4)
def compute_map(self, map_id: int) -> dict:
    """Compute and store one map. Safe to run again: a done map is left alone, and a worker
    killed mid-way (acks_late) gets the task re-delivered, which starts over cleanly."""
    from ml.modelio import ModelFormatError
    from ml.predict import SceneError
    from ml.rasterio_io import DataError

    m = maps.claim(map_id)
    if m is None:
        return {"map": map_id, "status": "done-or-missing"}
    try:
        maps.compute(m)
    except (SceneError, DataError, ModelFormatError) as exc:
        # The input or the model is wrong: retrying cannot help; say what is wrong.
        maps.mark_failed(map_id, str(exc))
        log.warning("map %s failed: %s", map_id, exc)
        return {"map": map_id, "status": "failed", "error": str(exc)}
    return {"map": map_id, "status": "done", "seconds": m.seconds}


def _fail_upload(upload_id: int, message: str) -> None:
    from . import uploads

    uploads.fail(upload_id, message)


class UploadTask(RecordingTask):
    record_failure = staticmethod(_fail_upload)


@shared_task(bind=True, base=UploadTask, name="landcover.process_upload", acks_late=True, reject_on_worker_lost=True,
             autoretry_for=TRANSIENT, retry_backoff=5, retry_backoff_max=300, retry_jitter=True, max_retries=4)
def process_upload(self, upload_id: int) -> dict:
    """Map a user's upload. A worker killed mid-job gets the task again (acks_late) and starts over."""
    from ml.modelio import ModelFormatError
    from ml.predict import SceneError
    from ml.rasterio_io import DataError

    from . import uploads

    try:
        upload = uploads.run_job(upload_id)
    except (SceneError, DataError, ModelFormatError) as exc:
        uploads.fail(upload_id, str(exc))
        return {"upload": upload_id, "status": "failed", "error": str(exc)}
    return {"upload": upload_id, "status": upload.status if upload else "skipped"}
