"""Celery tasks of the catalogue: computing land-cover maps (see landcover.maps)."""
from __future__ import annotations

import logging

from celery import Task, shared_task
from django.db import DatabaseError

from . import maps

log = logging.getLogger(__name__)

# Errors that another try can fix: a full or busy disk, a database restart.
TRANSIENT = (OSError, DatabaseError)


class MapTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        """Out of retries (or an unexpected error): the map says failed, with the reason."""
        if args:
            maps.mark_failed(args[0], f"{type(exc).__name__}: {exc}")


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
