"""Users' uploads as jobs: accept a checked file (nothing kept of a bad one), map it, cancel, delete.

Files live under UPLOADS_DIR/<random token>/: the source (source.tif, or a zip's band files in bands/ until
the job stacks them) and, once mapped, map.tif and preview.png. The file is checked
(`landcover.validation.uploads`) before the row exists or anything is queued; the job itself runs through
`landcover.jobs.lifecycle`.
"""
from __future__ import annotations

import errno
import json
import logging
import secrets
import shutil
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ml.bands import S2_BANDS
from ml.rasterio_io import plan_stack, write_stack

from .. import storage
from ..catalogue.registry import refuse_coarse
from ..errors import LimitReached, Unavailable
from ..models import ModelVersion, Upload
from ..validation.uploads import Checked, check_file
from . import lifecycle, products
from .inference import map_image, predictor_for
from .lifecycle import Progress
from .products import Collection, Product

log = logging.getLogger(__name__)
STACK_SHARE = 20  # % of the progress bar for stacking a zip's bands


def build(upload: Upload, work: Path, progress: Progress) -> dict:
    """The upload's map and preview in `work`; a zip's band files are stacked into source.tif first (here, not
    in the web request that accepted them)."""
    source, bands = UPLOAD_PRODUCT.path(upload, "source.tif"), UPLOAD_PRODUCT.path(upload, "bands")
    storage.fetch(UPLOAD_PRODUCT.folder(upload))  # from the object store, when the web put it there
    start = 0
    if bands.is_dir():
        files = {path.stem: path for path in bands.glob("*.tif")}
        order = [band for band in S2_BANDS if band in files]
        staged = source.with_name(".source.tif")
        write_stack(plan_stack(files, order), files, staged, progress=lifecycle.share(progress, 0, STACK_SHARE))
        staged.replace(source)
        shutil.rmtree(bands)
        start = STACK_SHARE
    mapped = map_image(source, work, predictor_for(upload.model_version), lifecycle.share(progress, start, 100),
                       level=upload.level or None)
    return {"statistics": mapped.statistics, "warnings": mapped.warnings}


class UploadProduct(Product):
    """A user's own image mapped: its owner's alone (anybody else is told it does not exist)."""

    kind, prefix, noun, root_setting = "upload", "uploads", "upload", "UPLOADS_DIR"
    collection = Collection("uploads", "Your uploads' maps", "Land-cover maps of your own uploaded images (yours "
                                                              "alone).")
    login_required = True
    owner_field = "owner"
    geometry_field = "footprint"
    related = ("model_version",)

    def visible(self, user) -> Q:
        return Q(owner=user) if getattr(user, "is_authenticated", False) else Q(pk__in=[])

    def bounds(self, row) -> tuple[float, float, float, float]:
        return row.footprint.extent

    def geometry(self, row) -> dict:
        return json.loads(row.footprint.geojson)

    def label(self, row) -> str:
        return f"upload {row.pk} ({row.original_name})"

    def properties(self, row) -> dict:
        return {"hrmars:model": row.model_version.name, "title": row.original_name}

    def about(self, row) -> dict:
        return {"name": row.original_name}

    def download_name(self, row, name: str) -> str:
        stem = row.original_name.rsplit(".", 1)[0][:80] or "upload"
        return f"{stem}-landcover{products.download_suffix(name)}"


UPLOAD_JOB = lifecycle.queued_kind(
    "upload", "landcover.process_upload", Upload, build, staging=lambda upload: UPLOAD_PRODUCT.folder(upload),
    destination=lambda upload: UPLOAD_PRODUCT.folder(upload), related=("model_version",))
UPLOAD_PRODUCT: UploadProduct = products.register(UploadProduct(UPLOAD_JOB))


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
    refuse_coarse(model_version)
    check_limits(user)
    try:
        return _accept(user, uploaded_file, model_version)
    except OSError as exc:
        if exc.errno not in (*lifecycle.NOT_WRITABLE, errno.ENOSPC, errno.EDQUOT):
            raise
        log.error("upload refused: the storage cannot be written: %s", exc)
        raise Unavailable(lifecycle.storage_message(exc)) from None


def _accept(user, uploaded_file, model_version: ModelVersion) -> Upload:
    raw = storage.receive(uploaded_file, UPLOAD_PRODUCT.root(), "upload.bin")
    work = raw.parent
    try:
        checked = check_file(raw, uploaded_file.name, work, model_version.card.get("bands", ()))
        return _store(user, uploaded_file, model_version, checked.path, checked)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _store(user, uploaded_file, model_version: ModelVersion, source: Path, checked: Checked) -> Upload:
    """Move the checked file into a new folder and create its row in one transaction; on any failure the
    folder goes again. The user's row is locked meanwhile, so concurrent uploads count against the limits
    one after the other."""
    token = secrets.token_urlsafe(24)
    folder = UPLOAD_PRODUCT.root() / token
    try:
        with transaction.atomic():
            get_user_model().objects.select_for_update().filter(pk=user.pk).first()
            check_limits(user)  # again, now that this user's other uploads wait for us
            folder.mkdir()
            shutil.move(str(source), folder / ("bands" if source.is_dir() else "source.tif"))
            upload = Upload.objects.create(
                owner=user, token=token, original_name=uploaded_file.name[:255], size_bytes=uploaded_file.size,
                model_version=model_version, width=checked.width, height=checked.height, bands=checked.bands,
                crs=checked.crs, footprint=checked.footprint, level=checked.level or "")
            storage.put_folder(folder)  # where a worker on another machine reads it
            lifecycle.enqueue(UPLOAD_JOB, upload.pk)
    except BaseException:
        storage.remove(folder)
        raise
    return upload


def cancel(upload: Upload) -> bool:
    """Cancel a queued or running upload; False if it had ended."""
    return lifecycle.cancel(UPLOAD_JOB, upload)


def delete(upload: Upload) -> None:
    """Cancel the job if it runs, and remove the upload's row and folder."""
    cancel(upload)
    products.delete(UPLOAD_PRODUCT, upload)
