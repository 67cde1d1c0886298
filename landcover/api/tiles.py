"""XYZ PNG tiles (Web Mercator, 256 px) of stored map COGs, rendered with rio-tiler and cached;
shared by catalogue maps and uploads. Transparent outside the map."""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpResponse

# Imported here, not in a view: a first import from two request threads at once trips
# rio-tiler's circular imports ("partially initialized module").
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.models import ImageData

from ml.classes import colormap


@lru_cache(maxsize=1)
def empty_tile() -> bytes:
    """A fully transparent 256-px PNG."""
    return ImageData(np.ma.masked_all((1, 256, 256), np.uint8)).render(img_format="PNG")


def render_tile(path: Path, z: int, x: int, y: int) -> bytes:
    """The PNG of tile z/x/y of a land-cover COG, coloured by class."""
    try:
        with Reader(str(path)) as cog:
            img = cog.tile(x, y, z, tilesize=256, resampling_method="nearest")
    except TileOutsideBounds:
        return empty_tile()
    return img.render(img_format="PNG", colormap=colormap())


def tile_response(z: int, x: int, y: int, key: str, path_of: Callable[[], Path], cache_control: str) -> HttpResponse:
    """An XYZ PNG tile (coordinates checked by params.check_tile) of a stored COG, from the cache or
    rendered."""
    content = cache.get(key)
    if content is None:
        path = path_of()
        if not path.is_file():
            raise Http404("map file missing")
        content = render_tile(path, z, x, y)
        cache.set(key, content, settings.API_CACHE_SECONDS)
    response = HttpResponse(content, content_type="image/png")
    response["Cache-Control"] = cache_control
    return response
