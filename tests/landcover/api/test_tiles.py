"""Every tile route's cost is bounded (issue 23 #15): a tile that would read more than TILE_MAX_READ_PIXELS of a
file (one whose overviews stop short of its zoom) is answered transparent at once; a COG with overviews is
drawn at every zoom."""
from __future__ import annotations

import io
import time

import morecantile
import numpy as np
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from landcover.api.tiles import empty_tile, open_reader, read_cost, render_tile
from ml.outputs import write_cog


def classes_file(path, size: int) -> None:
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="uint8", crs="EPSG:32618", nodata=0,
                   transform=from_origin(400000, 4180000, 10, 10), tiled=True, compress="deflate")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((1, size, size), 1, np.uint8))


def test_a_tile_that_would_read_too_much_is_transparent_and_quick(tmp_path, settings):
    plain, cog = tmp_path / "plain.tif", tmp_path / "cog.tif"
    classes_file(plain, 3000)
    write_cog(plain, cog)
    settings.TILE_MAX_READ_PIXELS = 1_000_000
    # The z6 tile over the file covers the whole 3,000² file (9 M pixels at full resolution).
    x, y = morecantile.tms.get("WebMercatorQuad").tile(-75.96, 37.63, 6)[:2]
    assert read_cost(open_reader(plain), x, y, 6) > 8e6 > read_cost(open_reader(cog), x, y, 6)
    started = time.perf_counter()
    assert render_tile(plain, 6, x, y) == empty_tile()
    assert time.perf_counter() - started < 1
    drawn = np.asarray(Image.open(io.BytesIO(render_tile(cog, 6, x, y))).convert("RGBA"))
    assert (drawn[..., 3] > 0).any()  # the COG's overviews make the same tile cheap: it is drawn
    assert read_cost(open_reader(cog), 0, 0, 10) == 0  # a tile away from the file reads nothing
