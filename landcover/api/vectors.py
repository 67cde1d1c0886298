"""Vector export of a stored map (catalogue map, area, your upload): polygons per class after merging
patches smaller than a minimum mapping unit, as GeoJSON (lon/lat) or GeoPackage (the map's CRS).

Made on first request for each MMU and kept beside the map (written to a temporary name, then renamed:
a reader never sees half a file); maps larger than HRMARS_VECTOR_MAX_PIXELS are refused with a 400 saying
so, since polygonising them belongs in a job, not in a web request."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import rasterio
from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from ml.vectors import vectorise

from ..errors import InvalidInput
from .accuracy import ByKind, int_param, visible_map
from .files import FileView, ranged_file

MEDIA = {"geojson": "application/geo+json", "gpkg": "application/geopackage+sqlite3"}


class MapVectors(ByKind, FileView):
    """Polygons per class of the map: `vectors.geojson` or `vectors.gpkg`, `mmu` = the minimum mapping unit in
    pixels (0: none; at 10 m a pixel is 0.01 ha)."""
    kind = "map"
    fmt = "geojson"

    @extend_schema(parameters=[OpenApiParameter("mmu", int, description="minimum mapping unit, pixels (0–10,000)")],
                   responses={(200, "application/geo+json"): OpenApiTypes.OBJECT,
                              (200, "application/geopackage+sqlite3"): OpenApiTypes.BINARY,
                              400: OpenApiResponse(description="A bad parameter, or a map too large"),
                              409: OpenApiResponse(description="The map is not done")})
    def get(self, request, pk: int):
        mmu = int_param(request, "mmu", 0, 0, 10_000)
        path = visible_map(request, self.kind, pk).path
        target = path.parent / f"vectors-mmu{mmu}.{self.fmt}"
        if not target.is_file():
            with rasterio.open(path) as src:
                pixels = src.width * src.height
            if pixels > settings.VECTOR_MAX_PIXELS:
                raise InvalidInput("mmu", f"This map has {pixels:,} pixels; vector export is offered up to "
                                          f"{settings.VECTOR_MAX_PIXELS:,} (HRMARS_VECTOR_MAX_PIXELS).")
            build(path, target, self.fmt, mmu)
        response = ranged_file(request, target, MEDIA[self.fmt])
        response["Content-Disposition"] = f'attachment; filename="{self.kind}-{pk}-landcover-mmu{mmu}.{self.fmt}"'
        response["Cache-Control"] = "private, max-age=3600" if self.kind == "upload" else "public, max-age=3600"
        return response


def build(path: Path, target: Path, fmt: str, mmu: int) -> None:
    """The vectors of `path` into `target`, atomically (two requests at once each write their own temporary)."""
    handle, tmp = tempfile.mkstemp(prefix=".vectors-", suffix=f".{fmt}", dir=target.parent)
    os.close(handle)
    try:
        vectorise(path, Path(tmp), fmt, mmu)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
