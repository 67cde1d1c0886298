"""One lifecycle for every long-running job: queue, claim, run with progress and cancellation,
build in a temporary folder, store atomically, finish or fail, retry, recover when lost.

A job is a database row (a map, an upload, …) plus the files its run produces. A job kind
(`JobKind`) says which model holds the rows, what its statuses are called, which Celery task
runs it, where its files go and how to build them; everything else is written once here:

- `enqueue` queues the kind's task by name once the transaction commits, so the row exists
  before any worker looks for it, and nothing here imports the tasks.
- `run` (the task's body) claims the row under a row lock and counts the attempt; a row that is
  done, failed, cancelled or gone is left alone, so a task delivered twice does nothing twice.
  It clears what an earlier attempt killed mid-way left in the staging folder, builds the files
  in a fresh temporary folder there, puts them in place (`landcover.storage.publish`: renames on one file
  system, or an upload to the object store) and only then marks the row done: nobody ever sees half a result.
- Errors in the input or the model (`ml.errors.PermanentError`) fail the job at once with a readable
  reason; `ml.errors.TransientError` (a source that did not answer) and any other error propagate to
  Celery, which retries transient ones and records the final failure (`fail`).
- Progress is written at most once a second; a cancelled job notices at that moment and stops.
- `retry` queues a failed job again; `requeue_if_stale` queues again a job whose task was lost.

Adding a job kind is one module (its `JobKind` and build function) plus one task in
`landcover.tasks`; docs/ARCHITECTURE.md shows how.
"""
from __future__ import annotations

import errno
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from ml.errors import PermanentError, TransientError

from .. import storage
from ..errors import NotReady
from ..models import QueuedJob

log = logging.getLogger(__name__)


Progress = Callable[[int, int], None]  # (done, total), as ml.predict reports it


def share(progress: Progress, low: int, high: int) -> Progress:
    """A step's progress reported as the `low`…`high` % part of the whole job's."""
    def report(done: int, total: int) -> None:
        progress(low * total + (high - low) * done, 100 * total)
    return report


class Cancelled(Exception):
    """The job was cancelled while it ran; whatever it built is thrown away."""


@dataclass(frozen=True)
class JobKind:
    """What the lifecycle needs to know about one kind of job."""

    name: str                       # "map", "upload": the key of the job's id in task results and logs
    task: str                       # the Celery task that runs it (landcover.tasks)
    model: type[models.Model]       # the rows: status, progress, attempts, error, seconds, finished_at, updated_at
    waiting: str                    # status values of the row's model
    running: str
    done: str
    failed: str
    cancelled: str | None           # None: this kind cannot be cancelled
    idle_result: str                # what the task reports when there was nothing to do
    related: tuple[str, ...]        # select_related when claiming
    staging: Callable[[Any], Path]      # where attempts build; on the file system of `destination`
    destination: Callable[[Any], Path]  # where the finished files go
    build: Callable[[Any, Path, Progress], dict]  # write the files into a folder; fields to save when done
    queue_setting: str = ""         # the setting naming its Celery queue ("" or an empty setting: the default queue)

    @property
    def active(self) -> tuple[str, str]:
        """The statuses of a job that has not ended."""
        return (self.waiting, self.running)

    def rows(self) -> models.QuerySet:
        """All rows of this kind."""
        return self.model._default_manager.all()


def queued_kind(name: str, task: str, model: type[models.Model], build: Callable[[Any, Path, Progress], dict],
                staging: Callable[[Any], Path], destination: Callable[[Any], Path], related: tuple[str, ...] = (),
                cancellable: bool = True, idle_result: str = "skipped", queue_setting: str = "") -> JobKind:
    """The JobKind of rows that inherit `QueuedJob` (every kind does): queued → running → done, failed or
    cancelled."""
    status = QueuedJob.Status
    return JobKind(name=name, task=task, model=model, waiting=status.QUEUED, running=status.RUNNING,
                   done=status.DONE, failed=status.FAILED, cancelled=status.CANCELLED if cancellable else None,
                   idle_result=idle_result, related=related, staging=staging, destination=destination, build=build,
                   queue_setting=queue_setting)


def enqueue(kind: JobKind, pk: int) -> None:
    """Queue the kind's task for row `pk` (on its queue, if it has one) once the current transaction commits."""
    queue = getattr(settings, kind.queue_setting, "") if kind.queue_setting else ""
    transaction.on_commit(lambda: current_app.send_task(kind.task, args=[pk], queue=queue or None))


def find_or_queue(kind: JobKind, lookup: dict[str, Any], fields: dict[str, Any], stale_after: float,
                  before_new: Callable[[], None] | None = None, run_here: bool = False) -> tuple[Any, bool]:
    """The job row matching `lookup` (a unique key), queued again if its task was lost; else a new row of
    `lookup` and `fields`, queued, after `before_new` (a caller's limit on new computations raises there).
    With `run_here` (small work, under a documented cap) a new row is run in this process instead of queued.
    Returns (row, created now); two requests at once create one row between them."""
    rows = kind.rows().select_related(*kind.related) if kind.related else kind.rows()
    existing = rows.filter(**lookup).first()
    if existing is not None:
        asked_again(kind, existing)
        requeue_if_stale(kind, existing, stale_after)
        return existing, False
    if before_new is not None:
        before_new()
    try:
        with transaction.atomic():
            row = kind.model._default_manager.create(**lookup, **fields)
            if not run_here:
                enqueue(kind, row.pk)
    except IntegrityError:  # somebody asked for the same thing at the same moment
        return rows.get(**lookup), False
    if run_here:
        run(kind, row.pk)
        row.refresh_from_db()
    return row, True


ASKED_AGAIN_EVERY = timedelta(hours=1)  # `requested_at` is written at most this often per row


def asked_again(kind: JobKind, row) -> None:
    """Note that somebody asked for this result again (`prune` keeps what is asked for); one write an hour
    at most, so a popular result costs no write per request."""
    now = timezone.now()
    if row.requested_at >= now - ASKED_AGAIN_EVERY:  # read from the row: no query at all within the hour
        return
    if kind.rows().filter(pk=row.pk, requested_at__lt=now - ASKED_AGAIN_EVERY).update(requested_at=now):
        row.requested_at = now


def claim(kind: JobKind, pk: int):
    """Mark the row running and count the attempt; None when there is nothing to do."""
    with transaction.atomic():
        row = (kind.rows().select_for_update(of=("self",)).select_related(*kind.related)
               .filter(pk=pk, status__in=kind.active).first())
        if row is None:
            return None
        row.status = kind.running
        row.attempts += 1
        row.progress = 0
        row.error = ""
        row.save(update_fields=["status", "attempts", "progress", "error", "updated_at"])
        return row


def throttled_progress(report: Callable[[int], None], seconds: float = 1.0) -> Progress:
    """A progress callback that passes on the percentage (at most 99) at most once per `seconds`,
    and always at the end: a database update per tile would slow big scenes down."""
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] > seconds:
            last[0] = now
            report(min(99, int(100 * done / total)))

    return progress


def progress_reporter(kind: JobKind, pk: int) -> Progress:
    """Writes the job's progress (throttled) and raises Cancelled once the job has been cancelled."""
    rows = kind.rows().filter(pk=pk)

    def report(percent: int) -> None:
        if kind.cancelled is not None and rows.filter(status=kind.cancelled).exists():
            raise Cancelled()
        # updated_at is the job's heartbeat: a running job that reports progress is never taken for lost.
        rows.filter(status=kind.running).update(progress=percent, updated_at=timezone.now())

    return throttled_progress(report)


def run(kind: JobKind, pk: int) -> dict:
    """The task's body: claim, build, store, finish. Safe to run again at any point."""
    row = claim(kind, pk)
    if row is None:
        return {kind.name: pk, "status": kind.idle_result}
    started = time.perf_counter()
    work: Path | None = None
    try:
        staging = kind.staging(row)
        staging.mkdir(parents=True, exist_ok=True)
        prefix = f"{kind.name}-{pk}-"
        for stale in staging.glob(f"{prefix}*"):  # left by an attempt whose worker was killed
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=prefix, dir=staging))
        fields = kind.build(row, work, progress_reporter(kind, pk))
        storage.publish(work, kind.destination(row))
    except Cancelled:
        log.info("%s %s was cancelled while running", kind.name, pk)
        return {kind.name: pk, "status": kind.idle_result}
    except TransientError:  # before PermanentError: a source that is down may be both kinds of ImageryError
        raise
    except PermanentError as exc:
        fail(kind, pk, str(exc))
        log.warning("%s %s failed: %s", kind.name, pk, exc)
        return {kind.name: pk, "status": kind.failed, "error": public_message(str(exc))}
    except OSError as exc:
        if exc.errno not in NOT_WRITABLE:
            raise  # a full disk or a busy one: the task tries again later
        log.error("%s %s: the storage cannot be written: %s", kind.name, pk, exc)  # the folder, for the admins
        fail(kind, pk, storage_message(exc))
        return {kind.name: pk, "status": kind.failed, "error": storage_message(exc)}
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    seconds = round(time.perf_counter() - started, 3)
    now = timezone.now()
    kind.rows().filter(pk=pk, status__in=kind.active).update(
        status=kind.done, progress=100, seconds=seconds, finished_at=now, updated_at=now, **fields)
    return {kind.name: pk, "status": kind.done, "seconds": seconds}


# A storage folder that cannot be written: no later try fixes it, so the job fails at once (not after its retries).
NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}


def storage_message(exc: OSError) -> str:
    """What a job's owner (or an uploader) is told when the server's storage failed: the cause in words, no
    folder of this machine (the log has it for the administrators)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        why = "is full"
    elif exc.errno in NOT_WRITABLE:
        why = "cannot be written (read-only or not permitted)"
    else:
        why = f"failed ({exc.strerror or type(exc).__name__})"
    return (f"The server's storage {why}, so this result could not be stored. Nothing is wrong with your request: "
            "the site's administrators have to fix this; try again later.")


ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/-])/(?:[^\s/'\":]+/)+([^\s/'\":]*)")


def public_message(message: str) -> str:
    """An error message fit to show the job's owner: absolute paths on this machine cut to their last part."""
    return ABSOLUTE_PATH.sub(lambda m: m.group(1) or "a folder", message)


def fail(kind: JobKind, pk: int, message: str) -> None:
    """Record that the job failed, and why (a job that ended otherwise is left as it is). Paths on this machine
    are cut out of the reason, which the job's owner reads."""
    kind.rows().filter(pk=pk, status__in=kind.active).update(
        status=kind.failed, error=public_message(message)[:2000], updated_at=timezone.now())


def retry(kind: JobKind, row) -> bool:
    """Queue a failed job again; False if it had not failed (or someone else retried first)."""
    if kind.rows().filter(pk=row.pk, status=kind.failed).update(
            status=kind.waiting, progress=0, error="", updated_at=timezone.now()):
        row.refresh_from_db()
        enqueue(kind, row.pk)
        return True
    return False


def requeue_if_stale(kind: JobKind, row, stale_after: float) -> bool:
    """Queue again a job that has been waiting or running for over `stale_after` seconds without a word
    (broker emptied, task dropped); the conditional update makes sure that happens once."""
    if row.status not in kind.active or row.updated_at >= timezone.now() - timedelta(seconds=stale_after):
        return False
    if kind.rows().filter(pk=row.pk, updated_at=row.updated_at).update(
            status=kind.waiting, progress=0, updated_at=timezone.now()):
        log.warning("%s %s was %s for over %s s: queued again", kind.name, row.pk, row.status, stale_after)
        row.refresh_from_db()
        enqueue(kind, row.pk)
        return True
    return False


def cancel(kind: JobKind, row) -> bool:
    """Cancel a waiting or running job; False if it had ended (or this kind cannot be cancelled)."""
    if kind.cancelled is None:
        return False
    return bool(kind.rows().filter(pk=row.pk, status__in=kind.active)
                .update(status=kind.cancelled, updated_at=timezone.now()))


def cancel_or_refuse(kind: JobKind, row, noun: str) -> None:
    """Cancel a waiting or running job, or NotReady saying why it cannot be."""
    if not cancel(kind, row):
        raise NotReady(f"The {noun} {row.pk} is {row.status}; only queued or running jobs can be cancelled.")


def reset_failed(kind: JobKind, row) -> None:
    """Make a failed job claimable again without queueing it (for callers that run it themselves)."""
    kind.rows().filter(pk=row.pk, status=kind.failed).update(status=kind.waiting, error="",
                                                              updated_at=timezone.now())
