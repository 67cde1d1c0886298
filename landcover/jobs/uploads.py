"""Users' uploads as jobs: accept a checked file (nothing kept of a bad one), map it, cancel, delete.

Files live under UPLOADS_DIR/<random token>/: the source (source.tif) and, once mapped, map.tif
and preview.png. The file is checked (`landcover.validation.uploads`) before the row exists or
anything is queued; the job itself runs through `landcover.jobs.lifecycle`.
"""
from __future__ import annotations

import secrets
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from ..errors import LimitReached, NotReady
from ..models import ModelVersion, Upload
from ..validation.uploads import Checked, check_file
from . import lifecycle
from .inference import map_image, predictor_for
from .lifecycle import JobKind, Progress


def uploads_root() -> Path:
    """Where uploads live (HRMARS_UPLOADS_DIR), outside the static and media paths."""
    return Path(settings.UPLOADS_DIR)


def upload_folder(upload: Upload) -> Path:
    """One upload's folder."""
    return uploads_root() / upload.token


def build(upload: Upload, work: Path, progress: Progress) -> dict:
    """The upload's map and preview in `work`."""
    statistics = map_image(upload_folder(upload) / "source.tif", work, predictor_for(upload.model_version), progress)
    return {"statistics": statistics}


UPLOAD_JOB = JobKind(
    name="upload", task="landcover.process_upload", model=Upload,
    waiting=Upload.Status.QUEUED, running=Upload.Status.RUNNING, done=Upload.Status.DONE,
    failed=Upload.Status.FAILED, cancelled=Upload.Status.CANCELLED, idle_result="skipped",
    related=("model_version",), staging=upload_folder, destination=upload_folder, build=build)


def check_limits(user) -> None:
    """LimitReached when the user has too many jobs going or has uploaded too much today."""
    active = Upload.objects.filter(owner=user, status__in=UPLOAD_JOB.active).count()
    if active >= settings.UPLOAD_MAX_ACTIVE:
        raise LimitReached(f"You have {active} jobs queued or running (the limit is {settings.UPLOAD_MAX_ACTIVE}); "
                           "wait for one to finish or cancel one.")
    today = Upload.objects.filter(owner=user, created_at__gte=timezone.now() - timedelta(hours=24)).count()
    if today >= settings.UPLOAD_DAILY_LIMIT:
        raise LimitReached(f"You have uploaded {today} images in the last 24 hours (the limit is "
                           f"{settings.UPLOAD_DAILY_LIMIT}); try again later.")


def accept_upload(user, uploaded_file, model_version: ModelVersion) -> Upload:
    """Validate an uploaded file and create its job: the folder and the row exist together or not at all,
    whatever fails (a check, the disk, the database, a limit reached meanwhile)."""
    check_limits(user)
    root = uploads_root()
    (root / ".incoming").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="in-", dir=root / ".incoming"))
    try:
        raw = work / "upload.bin"
        if hasattr(uploaded_file, "temporary_file_path"):
            shutil.move(uploaded_file.temporary_file_path(), raw)
        else:
            with open(raw, "wb") as f:
                for chunk in uploaded_file.chunks():
                    f.write(chunk)
        checked = check_file(raw, uploaded_file.name, work, model_version.card.get("bands", ()))
        return _store(user, uploaded_file, model_version, checked.path, checked)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _store(user, uploaded_file, model_version: ModelVersion, source: Path, checked: Checked) -> Upload:
    """Move the checked file into a new folder and create its row in one transaction; on any failure the
    folder goes again. The user's row is locked meanwhile, so concurrent uploads count against the limits
    one after the other."""
    token = secrets.token_urlsafe(24)
    folder = uploads_root() / token
    try:
        with transaction.atomic():
            get_user_model().objects.select_for_update().filter(pk=user.pk).first()
            check_limits(user)  # again, now that this user's other uploads wait for us
            folder.mkdir()
            shutil.move(str(source), folder / "source.tif")
            upload = Upload.objects.create(
                owner=user, token=token, original_name=uploaded_file.name[:255], size_bytes=uploaded_file.size,
                model_version=model_version, width=checked.width, height=checked.height, bands=checked.bands,
                crs=checked.crs, footprint=checked.footprint)
            lifecycle.enqueue(UPLOAD_JOB, upload.pk)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return upload


def cancel(upload: Upload) -> bool:
    """Cancel a queued or running upload; False if it had ended."""
    return lifecycle.cancel(UPLOAD_JOB, upload)


def cancel_or_refuse(upload: Upload) -> None:
    """Cancel, or NotReady saying why it cannot be."""
    if not cancel(upload):
        raise NotReady(f"Upload {upload.pk} is {upload.status}; only queued or running jobs can be cancelled.")


def delete(upload: Upload) -> None:
    """Cancel the job if it runs, and remove the upload's row and files."""
    cancel(upload)
    folder = upload_folder(upload)
    upload.delete()
    shutil.rmtree(folder, ignore_errors=True)


def done(upload: Upload) -> Upload:
    """The upload if its map is ready, else NotReady."""
    if upload.status != Upload.Status.DONE:
        raise NotReady(f"Upload {upload.pk} is {upload.status} ({upload.progress} %); its map is not ready.")
    return upload
