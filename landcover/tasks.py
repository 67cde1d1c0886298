"""Celery tasks: thin wrappers that run one job kind each through the shared lifecycle.

Job code queues these by name (`landcover.jobs.lifecycle.enqueue`), so nothing imports this
module but Celery. Every task is acknowledged late (a worker killed mid-job gets the task back
and the lifecycle starts over cleanly), retried with exponential back-off on errors another
try can fix, and, once out of tries, records the failure on the job's row.
"""
from __future__ import annotations

from datetime import datetime

from celery import Task, shared_task
from django.db import DatabaseError

from ml.errors import TransientError

from .jobs import lifecycle, regions, watches
from .jobs.areas import AREA_JOB
from .jobs.change import CHANGE_JOB
from .jobs.composites import COMPOSITE_JOB
from .jobs.exports import EXPORT_JOB
from .jobs.legends import LEGEND_JOB
from .jobs.lifecycle import JobKind
from .jobs.maps import MAP_JOB
from .jobs.regions import REGION_JOB
from .jobs.series import SERIES_JOB
from .jobs.submissions import SUBMISSION_JOB
from .jobs.uploads import UPLOAD_JOB

# Errors that another try can fix: a full or busy disk, a database restart, an imagery source that is down.
TRANSIENT = (OSError, DatabaseError, TransientError)
OPTIONS = dict(bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=TRANSIENT, retry_backoff=5,
               retry_backoff_max=300, retry_jitter=True, max_retries=4)


class JobTask(Task):
    """Out of retries (or an unexpected error): the job's row says failed, with the reason."""

    abstract = True
    job: JobKind

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        if args:
            message = lifecycle.storage_message(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
            lifecycle.fail(self.job, args[0], lifecycle.public_message(message))


@shared_task(base=JobTask, job=MAP_JOB, name=MAP_JOB.task, **OPTIONS)
def compute_map(self, map_id: int) -> dict:
    """Compute and store one land-cover map of a catalogue patch."""
    return lifecycle.run(self.job, map_id)


@shared_task(base=JobTask, job=UPLOAD_JOB, name=UPLOAD_JOB.task, **OPTIONS)
def process_upload(self, upload_id: int) -> dict:
    """Map a user's uploaded image."""
    return lifecycle.run(self.job, upload_id)


@shared_task(base=JobTask, job=AREA_JOB, name=AREA_JOB.task, **OPTIONS)
def compute_area(self, area_id: int) -> dict:
    """Fetch the imagery of an area of interest, mask clouds, map it."""
    return lifecycle.run(self.job, area_id)


@shared_task(base=JobTask, job=CHANGE_JOB, name=CHANGE_JOB.task, **OPTIONS)
def compute_change(self, change_id: int) -> dict:
    """Compare two stored maps of one place."""
    return lifecycle.run(self.job, change_id)


@shared_task(base=JobTask, job=EXPORT_JOB, name=EXPORT_JOB.task, **OPTIONS)
def compute_export(self, export_id: int) -> dict:
    """Export a stored map's vectors or a sample of it."""
    return lifecycle.run(self.job, export_id)


@shared_task(base=JobTask, job=REGION_JOB, name=REGION_JOB.task, **OPTIONS)
def compute_region(self, region_id: int) -> dict:
    """Plan a region's tiles (once) and queue every unfinished one; its join when all are finished."""
    return regions.start(region_id)


class TileTask(Task):
    """Out of retries (or an unexpected error): the tile says failed, and so does its region."""

    abstract = True

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        if args:
            message = lifecycle.storage_message(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
            regions.fail_tile(args[0], message)


# A tile is the longest task: its soft limit (an exception the tile fails with) stays under the broker's visibility
# timeout (HRMARS_BROKER_VISIBILITY_TIMEOUT, 3600 s on Redis), so a tile still running is never handed to a second
# worker; the hard limit kills a tile stuck in native code.
TILE_SOFT_SECONDS = 3000


@shared_task(base=TileTask, name=regions.TILE_TASK, soft_time_limit=TILE_SOFT_SECONDS,
             time_limit=TILE_SOFT_SECONDS + 300, **OPTIONS)
def compute_region_tile(self, tile_id: int) -> dict:
    """Map one tile of a region, on whichever worker takes it."""
    return regions.run_tile(tile_id, worker=self.request.hostname or "")


@shared_task(base=JobTask, job=REGION_JOB, name=regions.MERGE_TASK, **OPTIONS)
def merge_region(self, region_id: int) -> dict:
    """Join a region's tiles into one map once every tile is finished."""
    return regions.join(region_id)


@shared_task(base=JobTask, job=COMPOSITE_JOB, name=COMPOSITE_JOB.task, **OPTIONS)
def compute_composite(self, composite_id: int) -> dict:
    """Map every scene of a period over an area (or find it mapped) and combine them."""
    return lifecycle.run(self.job, composite_id)


@shared_task(base=JobTask, job=SERIES_JOB, name=SERIES_JOB.task, **OPTIONS)
def compute_series(self, series_id: int) -> dict:
    """Each period's composite of an area (made or found), then the table and chart of class areas."""
    return lifecycle.run(self.job, series_id)


@shared_task(base=JobTask, job=SUBMISSION_JOB, name=SUBMISSION_JOB.task, **OPTIONS)
def score_submission(self, submission_id: int) -> dict:
    """Run a submitted model in the sandbox over its benchmark's images and score what it wrote (on
    SUBMISSION_QUEUE; the sandbox's own limits end a run that goes on too long)."""
    return lifecycle.run(self.job, submission_id)


@shared_task(base=JobTask, job=LEGEND_JOB, name=LEGEND_JOB.task, **OPTIONS)
def train_legend(self, training_id: int) -> dict:
    """Train a legend model on a user's labelled samples: features, blocked cross-validation, comparison, model."""
    return lifecycle.run(self.job, training_id)


@shared_task(name="landcover.watch_areas", bind=True, acks_late=True)
def watch_areas(self, now: str | None = None) -> dict:
    """The beat's task: map each watched area's newest ended period and alert by its rules (`now`: an ISO time to
    act as of — what a test moves forward — else the present)."""
    return watches.check_all(datetime.fromisoformat(now.replace("Z", "+00:00")) if now else None)
