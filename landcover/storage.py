"""Where stored results live: files under the data folder (the embedded default and a one-machine site), or an
S3-compatible object store that many machines share (`HRMARS_STORAGE_URL=s3://bucket/prefix`).

Every stored file keeps one name in the code: its path under HRMARS_DATA_DIR (MAPS_DIR/<id>/map.tif, …). Jobs
build in a local folder as before; `publish` moves the finished folder into place — a rename on local disk, or
an upload to the key of the same path relative to the data folder, after which no local copy stays (a worker's
disk is scratch). Every reader goes through this module, so any machine reads any result: GDAL opens `name(path)`
(`/vsis3/…`: a tile or a change map reads the COG's header and the blocks it needs with range requests), downloads
stream ranged GETs, and deleting a row removes its objects. Inputs a job reads on another machine than the web's
(an upload, a layer of units) are put there by the web and fetched by the job (`fetch`, `read_bytes`).

obstore (Rust's object_store) rather than boto3 or django-storages: ranged and streamed reads, multipart uploads
and batch deletes in one small wheel, and no result is a Django FileField. GDAL reads its S3 settings from the
environment (rasterio's Env refuses AWS options without boto3), so `configure_gdal` sets them once per process.
"""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import obstore
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from obstore.exceptions import BaseError
from obstore.store import S3Store

from .errors import Unavailable

if TYPE_CHECKING:  # a type of the stubs alone
    from obstore import ObjectMeta
    from obstore.store import ClientConfig, RetryConfig

CHUNK = 1024 * 1024  # bytes per piece of a streamed download


class StorageUnavailable(Unavailable, OSError):
    """The object store did not answer (503 to a request; a job tries again later, as for a busy disk)."""


@dataclass(frozen=True)
class Stat:
    """A stored file's size and modification time (seconds since the epoch)."""

    size: int
    mtime: float


@dataclass(frozen=True)
class Remote:
    """The object store: its bucket, key prefix and client."""

    bucket: str
    prefix: str
    store: S3Store


def remote() -> Remote | None:
    """The object store results go to; None when they stay in local files."""
    url = settings.STORAGE_URL
    if not url:
        return None
    return _remote(url, settings.STORAGE_ENDPOINT, settings.STORAGE_REGION)


@lru_cache(maxsize=4)
def _remote(url: str, endpoint: str, region: str) -> Remote:
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ImproperlyConfigured(f"HRMARS_STORAGE_URL must be s3://bucket[/prefix], not {url!r}")
    # A store that does not answer fails a request in seconds (a 503), not after obstore's default 3 minutes of
    # retries; a slow download is bounded per read, not in total.
    options: ClientConfig = {"connect_timeout": "5s", "read_timeout": "60s"}
    if endpoint.startswith("http://"):
        options["allow_http"] = True
    retry: RetryConfig = {"max_retries": 2, "retry_timeout": timedelta(seconds=20),
                          "backoff": {"init_backoff": timedelta(milliseconds=200), "max_backoff": timedelta(seconds=2),
                                      "base": 2}}
    store = S3Store(parts.netloc, region=region, endpoint=endpoint or None, client_options=options,
                    retry_config=retry,
                    virtual_hosted_style_request=False)  # path-style: what every S3-compatible server takes
    configure_gdal(endpoint, region)
    return Remote(parts.netloc, parts.path.strip("/"), store)


def configure_gdal(endpoint: str, region: str) -> None:
    """GDAL's /vsis3/ settings for this store (credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in
    the environment, which GDAL and obstore both read)."""
    if endpoint:
        parts = urlsplit(endpoint)
        os.environ["AWS_S3_ENDPOINT"] = parts.netloc
        os.environ["AWS_HTTPS"] = "NO" if parts.scheme == "http" else "YES"
        os.environ["AWS_VIRTUAL_HOSTING"] = "FALSE"
    os.environ.setdefault("AWS_REGION", region)
    os.environ["GDAL_DISABLE_READDIR_ON_OPEN"] = "EMPTY_DIR"  # a COG needs no listing of its "folder"


def key(path: Path) -> str:
    """The object key of a stored file or folder: its path under the data folder, below the URL's prefix."""
    found = remote()
    assert found is not None
    root = Path(settings.DATA_DIR).resolve()
    try:
        relative = Path(os.path.abspath(path)).relative_to(root)
    except ValueError:
        raise ImproperlyConfigured(f"{path} is outside HRMARS_DATA_DIR ({root}); with object storage every result "
                                   "folder must lie under it") from None
    return "/".join(p for p in (found.prefix, relative.as_posix()) if p and p != ".")


def name(path: Path) -> str:
    """What GDAL and rasterio open for a stored file: its path, or /vsis3/bucket/key."""
    found = remote()
    return str(path) if found is None else f"/vsis3/{found.bucket}/{key(path)}"


def _unavailable(exc: BaseError) -> StorageUnavailable:
    return StorageUnavailable(f"The result store did not answer ({str(exc).splitlines()[0][:160]}); try again "
                              "in a minute.")


def stat(path: Path) -> Stat:
    """Size and time of a stored file; FileNotFoundError when there is none."""
    found = remote()
    if found is None:
        st = path.stat()
        return Stat(st.st_size, st.st_mtime)
    try:
        meta = obstore.head(found.store, key(path))
    except BaseError as exc:
        raise _unavailable(exc) from exc
    return Stat(meta["size"], meta["last_modified"].timestamp())


def exists(path: Path) -> bool:
    """Whether a stored file is there."""
    if remote() is None:
        return path.is_file()
    try:
        stat(path)
    except FileNotFoundError:
        return False
    return True


def chunks(path: Path, start: int, length: int) -> Iterator[bytes]:
    """`length` bytes of a stored file from `start`, in pieces (a download streamed, not held in memory)."""
    found = remote()
    if found is None:
        with path.open("rb") as handle:
            handle.seek(start)
            left = length
            while left > 0:
                data = handle.read(min(CHUNK, left))
                if not data:
                    break
                left -= len(data)
                yield data
        return
    if length <= 0:
        return
    try:
        result = obstore.get(found.store, key(path), options={"range": (start, start + length)})
        for piece in result.stream(min_chunk_size=CHUNK):
            yield bytes(piece)
    except BaseError as exc:
        raise _unavailable(exc) from exc


def read_bytes(path: Path) -> bytes:
    """A small stored file whole (statistics, a confidence histogram, a layer of units)."""
    found = remote()
    if found is None:
        return path.read_bytes()
    try:
        return bytes(obstore.get(found.store, key(path)).bytes())
    except BaseError as exc:
        raise _unavailable(exc) from exc


def write_bytes(path: Path, data: bytes) -> None:
    """Store a small file whole, atomically (a partial file is never seen)."""
    found = remote()
    if found is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        partial.write_bytes(data)
        partial.replace(path)
        return
    try:
        obstore.put(found.store, key(path), data)
    except BaseError as exc:
        raise _unavailable(exc) from exc


def publish(work: Path, destination: Path) -> None:
    """Put a finished folder in place: locally the whole folder in one rename when it is new, else each file with
    its own (atomic) rename, replacing what a killed attempt may have left; in the object store each file (in
    subfolders too) under the destination's key, after which the local copies go."""
    found = remote()
    if found is None:
        if not destination.exists():
            work.rename(destination)
            return
        for path in work.iterdir():
            path.replace(destination / path.name)
        return
    base = key(destination)
    try:
        for path in sorted(p for p in work.rglob("*") if p.is_file()):
            obstore.put(found.store, f"{base}/{path.relative_to(work).as_posix()}", path)
    except BaseError as exc:
        raise _unavailable(exc) from exc
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(destination, ignore_errors=True)  # fetched inputs and scratch: nothing stays on this machine


def put_folder(folder: Path) -> None:
    """Put a local folder the web filled (an upload's file) where a job on any machine finds it: nothing to do
    with local files; with an object store, uploaded under its key and removed here."""
    if remote() is None:
        return
    work = folder.with_name(f".{folder.name}.put")
    folder.rename(work)
    try:
        publish(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fetch(folder: Path) -> None:
    """Bring a stored folder's files (a job's inputs, put there by the web) into the local folder of the same
    name; nothing to do with local files."""
    found = remote()
    if found is None:
        return
    base = key(folder)
    try:
        for meta in _objects(found, base):
            target = folder / meta["path"][len(base) + 1:]
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.part")
            with partial.open("wb") as out:
                for piece in obstore.get(found.store, meta["path"]).stream(min_chunk_size=CHUNK):
                    out.write(piece)
            partial.replace(target)
    except BaseError as exc:
        raise _unavailable(exc) from exc


def remove(folder: Path) -> None:
    """Remove a stored folder and everything in it (the local copy too; nothing there is no error)."""
    shutil.rmtree(folder, ignore_errors=True)
    found = remote()
    if found is None:
        return
    try:
        paths = [meta["path"] for meta in _objects(found, key(folder))]
        for start in range(0, len(paths), 1000):  # S3's DeleteObjects takes 1,000 keys at most
            obstore.delete(found.store, paths[start:start + 1000])
    except BaseError as exc:
        raise _unavailable(exc) from exc


def _objects(found: Remote, base: str) -> Iterator[ObjectMeta]:
    """Every object below a folder's key (whole path segments: folder "a/b" never lists "a/bc/…")."""
    for batch in obstore.list(found.store, prefix=base):
        yield from batch


def remove_file(path: Path) -> None:
    """Remove one stored file (nothing there is no error)."""
    found = remote()
    if found is None:
        path.unlink(missing_ok=True)
        return
    try:
        obstore.delete(found.store, key(path))
    except FileNotFoundError:
        pass
    except BaseError as exc:
        raise _unavailable(exc) from exc


def receive(uploaded_file, root: Path, name: str) -> Path:
    """A file a request sent, in a fresh folder of ROOT/.incoming (made with it) as `name`: moved where Django
    streamed it to disk, else written from memory. The caller removes the folder (`path.parent`)."""
    (root / ".incoming").mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="in-", dir=root / ".incoming")) / name
    try:
        if hasattr(uploaded_file, "temporary_file_path"):
            shutil.move(uploaded_file.temporary_file_path(), path)
        else:
            with open(path, "wb") as f:
                for chunk in uploaded_file.chunks():
                    f.write(chunk)
    except BaseException:
        shutil.rmtree(path.parent, ignore_errors=True)  # a full disk mid-write leaves nothing
        raise
    return path
