"""A done stored map of any kind (catalogue map, area, upload) as one record: its COG, probabilities, model,
bounds, owner and statistics. Changes compare two of them; accuracy, samples and vector export read one.
Access rules (an upload is its owner's) are the API's to apply with `owner_id`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInput, NotFound, NotReady
from ..models import AreaMap, LandCoverMap, Upload
from . import areas, maps, uploads
from .inference import PROBABILITIES


@dataclass(frozen=True)
class StoredMap:
    """What comparing, assessing or exporting needs of one done map, whatever its kind."""

    kind: str
    pk: int
    path: Path
    probabilities: Path | None
    model: str
    bounds: tuple[float, float, float, float]
    label: str
    owner_id: int | None  # uploads: only their owner may use them
    statistics: list[dict]  # the map's per-class statistics


def stored_map(kind: str, pk: int) -> StoredMap:
    """A done stored map of any kind; NotFound or NotReady saying why not."""
    if kind == "map":
        m = LandCoverMap.objects.select_related("patch", "model_version").filter(pk=pk).first()
        if m is None:
            raise NotFound(f"No map {pk}.")
        if m.status != LandCoverMap.Status.DONE:
            raise NotReady(f"Map {pk} is {m.status} ({m.progress} %); it is not done yet.")
        probabilities = maps.map_folder(m) / PROBABILITIES
        return StoredMap(kind, pk, maps.file_path(m, "map.tif"), probabilities if probabilities.is_file() else None,
                         m.model_version.name if m.model_version else "MODIS", m.patch.footprint.extent,
                         f"map {pk} ({m.patch})", None, m.statistics)
    if kind == "area":
        a = AreaMap.objects.select_related("model_version").filter(pk=pk).first()
        if a is None:
            raise NotFound(f"No area map {pk}.")
        areas.done(a)
        dates = sorted({(i.get("datetime") or "")[:10] for i in a.imagery.get("items", [])} - {""})
        return StoredMap(kind, pk, areas.area_folder(a) / "map.tif", areas.area_folder(a) / PROBABILITIES,
                         a.model_version.name, a.geometry.extent,
                         f"area {pk} ({', '.join(dates) or 'date unknown'})", None, a.statistics)
    if kind == "upload":
        u = Upload.objects.select_related("model_version").filter(pk=pk).first()
        if u is None:
            raise NotFound(f"No upload {pk}.")
        uploads.done(u)
        return StoredMap(kind, pk, uploads.upload_folder(u) / "map.tif", uploads.upload_folder(u) / PROBABILITIES,
                         u.model_version.name, u.footprint.extent, f"upload {pk} ({u.original_name})", u.owner_id,
                         u.statistics)
    raise InvalidInput("before", f"{kind!r} is not a kind of map: map, area or upload.")
