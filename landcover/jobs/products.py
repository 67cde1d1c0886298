"""The stored-product registry: every kind of stored result (catalogue map, area, upload, change, and any
kind added later) declared once, and read by everything that spans kinds.

Before this registry each feature that served several kinds switched on the kind by hand (STAC, accuracy,
change, vectors, downloads, tiles), and the copies drifted apart. Now a kind is one `Product`: its job
kind and folder, the files it offers with their media types, its tile layers, its STAC collection and
item properties, who may see it (the access rule, once), its cache policy and its statistics in one
shape. `landcover.api.factory` builds every route of every product from this; `landcover.api.stac`
serves every product's collection; a change or an accuracy assessment takes any product whose map holds
our classes. Adding a kind: its job module defines a `Product` subclass and calls `register`; its task
goes in `landcover.tasks`; docs/ARCHITECTURE.md shows the whole recipe, and a test registers a toy kind.

Files are named by their path under the data folder and read through `landcover.storage`, which keeps them
there or in an object store. Deleting a row of any product removes its folder, or its objects (`remove_folder`,
connected for every registered model by `connect_cleanup`), and `prune` removes results nobody asked for in a
while, never one a user owns.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.db.models.signals import post_delete
from django.utils import timezone

from .. import storage
from ..errors import Forbidden, InvalidInput, NotFound, NotReady, NotSignedIn
from .inference import CONFIDENCE, confident_statistics
from .lifecycle import JobKind

log = logging.getLogger(__name__)
TIFF = "image/tiff"  # what downloads say; every TIFF stored is a COG, and the STAC API says so


@dataclass(frozen=True)
class File:
    """A file a product offers for download: its name in the URL (and in the folder), media type, how STAC
    describes it (asset key, roles, title) and its key among a result's links. Statistics files are rendered
    from the row, not read."""

    name: str
    media: str
    title: str
    roles: tuple[str, ...] = ("data",)
    asset: str = ""  # its STAC asset key ("data" for the main file); "": not an asset
    link: str = ""   # its key among a done result's links; "": not linked

    @property
    def rendered(self) -> bool:
        """Made from the row at each request (statistics), not read from the folder."""
        return self.name.startswith("statistics.")


@dataclass(frozen=True)
class Layer:
    """An XYZ tile layer: the URL segment (`tiles`, `image`, …), the file it is drawn from, the style
    (`classes`, `image`, `confidence`, `palette`), and its WMTS identifier and title."""

    segment: str
    file: str
    style: str
    wmts_id: str
    title: str
    fallback: str = ""  # the file to draw from when `file` is missing (results stored before it existed)


@dataclass(frozen=True)
class Collection:
    """The STAC collection of a product's done rows."""

    id: str
    title: str
    description: str


MAP_FILES = (File("map.tif", TIFF, "Land cover (COG)", ("data",), "data", "cog"),
             File("probabilities.tif", TIFF, "Class probabilities and confidence (×255)", ("data",), "probabilities",
                  "probabilities"),
             File("confidence.tif", TIFF, "Top-1 confidence (×255; 0 = no data)", ("data",), "confidence",
                  "confidence_cog"),
             File("preview.png", "image/png", "Preview", ("overview",), "preview", "png"),
             File("statistics.csv", "text/csv", "Per-class statistics (CSV)", ("metadata",), "", "statistics_csv"),
             File("statistics.json", "application/json", "Per-class statistics", ("metadata",), "statistics",
                  "statistics_json"))
CLASS_LAYERS = (Layer("tiles", "map.tif", "classes", "landcover", "Land cover"),
                Layer("confidence", "confidence.tif", "confidence", "confidence",
                      "Confidence (the less sure, the more opaque)", fallback="probabilities.tif"))


class Product:
    """One kind of stored result. Subclasses set the class attributes and override what differs."""

    kind: str                     # "map", "area", …: route names, STAC item ids, change references
    prefix: str                   # its URL segment under /api/v1/: "maps", "areas", …
    noun: str                     # for messages: "map", "area map", …
    job: JobKind
    root_setting: str             # the setting naming its folder's parent (MAPS_DIR, …)
    files: tuple[File, ...] = MAP_FILES
    layers: tuple[Layer, ...] = CLASS_LAYERS
    collection: Collection | None  # None: not served by the STAC API (exports)
    land_cover: bool = True       # its main file holds our classes: statistics, accuracy, samples, vectors, change
    login_required: bool = False  # only logged-in users can ever see one (the API answers 401 to others)
    cache_seconds: int = 3600
    geometry_field: str = ""      # a geometry column for spatial search in SQL
    datetime_field: str = ""      # a column holding when the imagery was taken (STAC datetime), else made
    owner_field: str = ""         # the column of the user the row belongs to ("" : nobody's)
    kept_by: tuple[str, ...] = ()  # columns that, when set, keep a row from `prune` (whoever asked for it)
    related: tuple[str, ...] = ()
    main_file: str = "map.tif"

    def __init__(self, job: JobKind) -> None:
        """A kind run by `job` (whose rows are this kind's rows)."""
        self.job = job

    # ------------------------------------------------------------------ where its files are
    def root(self) -> Path:
        """The folder holding every row's folder."""
        return Path(getattr(settings, self.root_setting))

    def folder_name(self, row) -> str:
        """The name of one row's folder (a random token: folders are not guessable from ids)."""
        return row.token

    def folder(self, row) -> Path:
        """One row's folder."""
        return self.root() / self.folder_name(row)

    def path(self, row, name: str) -> Path:
        """One of a row's files."""
        return self.folder(row) / name

    # ------------------------------------------------------------------ who may see it
    def rows(self) -> models.QuerySet:
        """Every row, with what describing it needs."""
        rows = self.job.rows()
        return rows.select_related(*self.related) if self.related else rows

    def visible(self, user) -> Q:
        """The rows `user` may see: everybody's, except those owned by somebody else."""
        if not self.owner_field:
            return Q()
        mine = Q(**{self.owner_field: user}) if getattr(user, "is_authenticated", False) else Q(pk__in=[])
        return Q(**{f"{self.owner_field}__isnull": True}) | mine

    def owner_id(self, row) -> int | None:
        """The user a row belongs to; None when it is public."""
        return getattr(row, f"{self.owner_field}_id") if self.owner_field else None

    def private(self, row) -> bool:
        """Whether a row is somebody's own (private caches only)."""
        return self.owner_id(row) is not None

    def cache_control(self, row) -> str:
        """The Cache-Control of a row's files and tiles."""
        return self.cache_header(self.private(row))

    def cache_header(self, private: bool) -> str:
        """The Cache-Control of this kind's private or public answers (the cache policy, once)."""
        return f"{'private' if private else 'public'}, max-age={self.cache_seconds}"

    # ------------------------------------------------------------------ what it is
    def offers(self, row, name: str) -> bool:
        """Whether this row has this file (a MODIS map has no probabilities)."""
        return any(f.name == name for f in self.files)

    def layer_offered(self, row, layer: Layer) -> bool:
        """Whether this row has this tile layer."""
        return self.offers(row, layer.file) or bool(layer.fallback and self.offers(row, layer.fallback))

    def has_confidence(self, row) -> bool:
        """Whether the row's map has per-pixel confidence (min_confidence applies)."""
        return self.offers(row, "probabilities.tif")

    def model_name(self, row) -> str | None:
        """The model that made the map."""
        version = getattr(row, "model_version", None)
        return version.name if version else None

    def synthetic(self, row) -> bool:
        """Made from synthetic imagery or by a model trained on synthetic data."""
        version = getattr(row, "model_version", None)
        return bool(version and version.synthetic_training)

    def geometry(self, row) -> dict:
        """The row's footprint as a GeoJSON geometry (lon, lat)."""
        west, south, east, north = self.bounds(row)
        return {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north],
                                                    [west, south]]]}

    def bounds(self, row) -> tuple[float, float, float, float]:
        """west, south, east, north in degrees."""
        raise NotImplementedError

    def label(self, row) -> str:
        """A short human name: 'area 3 (2024-06-10)'."""
        return f"{self.noun} {row.pk}"

    def scenes(self, row) -> tuple[str, ...]:
        """The ids of the imagery the row's map was made from, where known."""
        return ()

    def acquired(self, row) -> datetime | None:
        """When the imagery was taken, if known."""
        return getattr(row, self.datetime_field) if self.datetime_field else None

    def properties(self, row) -> dict:
        """Kind-specific STAC item properties (`hrmars:…`, title)."""
        return {"hrmars:model": self.model_name(row), "title": self.label(row)}

    def about(self, row) -> dict:
        """Kind-specific context of the statistics (which patch, file, area …)."""
        return {}

    def download_name(self, row, name: str) -> str:
        """The file name a download is saved under."""
        return f"{self.kind}-{row.pk}-{name}"

    def file(self, name: str) -> File | None:
        """The declared file of that name."""
        return next((f for f in self.files if f.name == name), None)

    def layer(self, segment: str) -> Layer:
        """The declared layer of that URL segment."""
        return next(layer for layer in self.layers if layer.segment == segment)


def download_suffix(name: str) -> str:
    """The end of a download's file name: map.tif → .tif, statistics.csv → -statistics.csv."""
    return {"map.tif": ".tif", "preview.png": ".png"}.get(name, "-" + name)


REGISTRY: dict[str, Product] = {}
P = TypeVar("P", bound=Product)


def register(product: P) -> P:
    """Add a kind to the registry (its kind, URL prefix and collection must be new); returns it."""
    collection = product.collection.id if product.collection else None
    for other in REGISTRY.values():
        if other.kind != product.kind and (other.prefix == product.prefix or (
                collection is not None and other.collection is not None and other.collection.id == collection)):
            raise ValueError(f"{product.kind}: its prefix or collection is already {other.kind}'s")
    REGISTRY[product.kind] = product
    return product


def unregister(kind: str) -> None:
    """Remove a kind (tests that register a toy kind take it away again)."""
    REGISTRY.pop(kind, None)


def registered() -> Iterator[Product]:
    """Every registered kind, in registration order."""
    return iter(list(REGISTRY.values()))


def product(kind: str) -> Product:
    """The registered kind of that name; InvalidInput naming the kinds there are."""
    found = REGISTRY.get(kind)
    if found is None:
        raise InvalidInput("kind", f"{str(kind)[:30]!r} is not a kind of stored result: "
                                   f"{', '.join(REGISTRY)}.")
    return found


def land_cover_kinds() -> list[str]:
    """The kinds whose main file is a land-cover map (what change and accuracy take)."""
    return [p.kind for p in registered() if p.land_cover]


# ---------------------------------------------------------------------- finding one row

def find(product_: Product, pk: int, user) -> Any:
    """The row `pk` of a product if `user` may see it; NotFound (as if it did not exist) otherwise."""
    row = product_.rows().filter(product_.visible(user), pk=pk).first()
    if row is None:
        raise NotFound(f"No {product_.noun} {pk}.")
    return row


def may_manage(product_: Product, row, user) -> bool:
    """Whether `user` may cancel or retry this row: its owner alone. A result nobody owns (asked for without
    signing in, or a public catalogue map) is managed by nobody through the API; staff use the admin."""
    owner = product_.owner_id(row)
    return owner is not None and getattr(user, "is_authenticated", False) and owner == user.pk


def require_sign_in(product_: Product, user, action: str) -> None:
    """NotSignedIn (401) for an anonymous requester: asked before anything is looked up, so it says nothing of
    whether the row exists."""
    if not getattr(user, "is_authenticated", False):
        raise NotSignedIn(f"Sign in to {action} a {product_.noun}: only the person who asked for it may.")


def check_manage(product_: Product, row, user, action: str) -> None:
    """NotSignedIn (401) for an anonymous requester, Forbidden (403) for a signed-in one who does not own the
    row (a row somebody else owns is not even visible to them: `find` said 404 before this)."""
    require_sign_in(product_, user, action)
    if not may_manage(product_, row, user):
        raise Forbidden(f"Only the person who asked for this {product_.noun} may {action} it; one asked for without "
                        "signing in is public and runs to its end.")


def done(product_: Product, row) -> Any:
    """The row if its job is done; NotReady saying what it is doing otherwise."""
    status = row.status
    if status == product_.job.done:
        return row
    if status == product_.job.failed:
        raise NotReady(f"The {product_.noun} {row.pk} failed: {row.error or 'no reason recorded'}; nothing to read.")
    raise NotReady(f"The {product_.noun} {row.pk} is {status} ({row.progress} %); poll its URL until its status is "
                   "done.")


@dataclass(frozen=True)
class StoredMap:
    """What comparing, assessing or exporting needs of one done land-cover map, whatever its kind."""

    kind: str
    pk: int
    path: str                 # what GDAL opens (a local path or /vsis3/…: `landcover.storage.name`)
    probabilities: str | None
    model: str
    bounds: tuple[float, float, float, float]
    label: str
    owner_id: int | None
    statistics: list[dict]
    scenes: tuple[str, ...] = ()  # the imagery it was made from, where known (areas)


def stored_map(kind: str, pk: int, user=None, check_access: bool = True) -> StoredMap:
    """A done land-cover map of any kind that `user` may use (`check_access=False`: a job reading a map its
    requester was allowed to use when asking); InvalidInput, NotFound or NotReady saying why not."""
    product_ = product(kind)
    if not product_.land_cover:
        raise InvalidInput("kind", f"A {product_.noun} is not a land-cover map; give one of "
                                   f"{', '.join(land_cover_kinds())}.")
    row = find(product_, pk, user) if check_access else product_.rows().filter(pk=pk).first()
    if row is None:
        raise NotFound(f"No {product_.noun} {pk}.")
    done(product_, row)
    probabilities = storage.name(product_.path(row, "probabilities.tif")) if product_.has_confidence(row) else None
    return StoredMap(kind, pk, storage.name(product_.path(row, product_.main_file)), probabilities,
                     product_.model_name(row) or "MODIS", product_.bounds(row), product_.label(row),
                     product_.owner_id(row), row.statistics, product_.scenes(row))


# ---------------------------------------------------------------------- statistics, one shape

def class_rows(rows: list[dict]) -> list[dict]:
    """Per-class rows as every answer shows them: code, name, colour, pixels, percent, km² and ha."""
    return [{**r, "area_ha": round(r["area_km2"] * 100, 4)} for r in rows]


def statistics(product_: Product, row, min_confidence: float | None = None) -> dict:
    """The statistics of a done row in the one shape every kind shares: what they describe, the classes
    (pixels, %, km², ha) and their totals; with `min_confidence`, pixels less sure than that are counted
    apart as `uncertain`."""
    rows, uncertain = row.statistics, None
    if min_confidence is not None:
        if not product_.has_confidence(row) or not storage.exists(product_.folder(row) / CONFIDENCE):
            raise InvalidInput("min_confidence", f"This {product_.noun} has no per-pixel confidence (MODIS maps "
                                                 "never do); min_confidence applies to maps made by a model.")
        rows, uncertain = confident_statistics(product_.folder(row), row.statistics, min_confidence)
    km2 = sum(r["area_km2"] for r in rows) + (uncertain["area_km2"] if uncertain else 0)
    payload = {"kind": product_.kind, "id": row.pk, "model": product_.model_name(row),
               "synthetic": product_.synthetic(row), **product_.about(row),
               "total_pixels": sum(r["pixels"] for r in rows) + (uncertain["pixels"] if uncertain else 0),
               "total_area_km2": round(km2, 6), "total_area_ha": round(km2 * 100, 4),
               "classes": class_rows(rows)}
    if uncertain is not None:
        payload["uncertain"] = {**uncertain, "area_ha": round(uncertain["area_km2"] * 100, 4)}
    return payload


# ---------------------------------------------------------------------- cleaning up

def delete(product_: Product, row) -> None:
    """Delete a row and its folder at once (the signal below also removes it, once the deletion commits)."""
    folder = product_.folder(row)
    row.delete()
    storage.remove(folder)


def remove_folder(sender, instance, **kwargs) -> None:
    """post_delete of any product's row: its folder goes too, once the deletion is committed."""
    for product_ in registered():
        if isinstance(instance, product_.job.model):
            transaction.on_commit(partial(remove_quietly, product_.folder(instance)))


def remove_quietly(folder: Path) -> None:
    """Remove a deleted row's files; when the store does not answer, the row is gone anyway: log what is left."""
    try:
        storage.remove(folder)
    except storage.StorageUnavailable as exc:
        log.error("the files of a deleted result stay at %s: %s", folder, exc)


def connect_cleanup() -> None:
    """Connect `remove_folder` for the model of every registered kind (once each)."""
    for product_ in registered():
        post_delete.connect(remove_folder, sender=product_.job.model, weak=False,
                            dispatch_uid=f"landcover-product-folder-{product_.kind}")


def prunable(product_: Product, days: float) -> models.QuerySet:
    """Rows of a product nobody has asked for in `days` days, that no user owns and whose job has ended."""
    rows = product_.job.rows().exclude(status__in=product_.job.active)
    rows = rows.filter(requested_at__lt=timezone.now() - timedelta(days=days))
    for field in {product_.owner_field, *product_.kept_by} - {""}:
        rows = rows.filter(**{f"{field}__isnull": True})
    return rows
