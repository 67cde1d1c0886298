"""A region's plan (issue 24): windows of one grid that partition it, only those holding some of the region, each
with its part of the region; and the VRT that puts the tiles' files back at their windows."""
from __future__ import annotations

import numpy as np
import rasterio

from ml.grid import area_grid
from ml.predict import plan_tiles
from ml.regions import aligned_tile, mosaic_vrt, plan_region, work_order

# An L: a 0.2° square without its north-east quarter.
L_SHAPE = {"type": "Polygon", "coordinates": [[[-75.7, 37.6], [-75.5, 37.6], [-75.5, 37.7], [-75.6, 37.7],
                                               [-75.6, 37.8], [-75.7, 37.8], [-75.7, 37.6]]]}


def test_tiles_partition_the_grid_where_the_region_is():
    grid, tiles = plan_region(L_SHAPE, 512)
    assert grid == area_grid(L_SHAPE)
    covered = np.zeros((grid.height, grid.width), np.int32)
    for t in tiles:
        covered[t.row_off:t.row_off + t.height, t.col_off:t.col_off + t.width] += 1
        assert t.grid(grid).transform == grid.transform * rasterio.Affine.translation(t.col_off, t.row_off)
        assert t.geometry["type"] in ("Polygon", "MultiPolygon")
    assert covered.max() == 1  # no pixel in two tiles
    rows, cols = -(-grid.height // 512), -(-grid.width // 512)
    assert len(tiles) < rows * cols  # the tiles of the missing quarter are left out
    assert {(t.row, t.col) for t in tiles} >= {(rows - 1, 0), (0, 0)}


def test_the_vrt_puts_each_tile_at_its_window(tmp_path):
    grid, tiles = plan_region(L_SHAPE, 700)
    sources = []
    for n, t in enumerate(tiles, start=1):
        path = tmp_path / f"{t.row}-{t.col}.tif"
        tg = t.grid(grid)
        with rasterio.open(path, "w", driver="GTiff", width=t.width, height=t.height, count=1, dtype="uint8",
                           crs=grid.crs, transform=tg.transform, nodata=0) as dst:
            dst.write(np.full((1, t.height, t.width), n, np.uint8))
        sources.append((path, t))
    vrt = tmp_path / "mosaic.vrt"
    vrt.write_text(mosaic_vrt(grid, sources, 1, "uint8", 0, tags={"CLASS_1": "Forest"}, colormap={1: (0, 100, 0)}))
    with rasterio.open(vrt) as src:
        assert (src.width, src.height, src.transform) == (grid.width, grid.height, grid.transform)
        assert src.tags()["CLASS_1"] == "Forest" and src.colormap(1)[1][:3] == (0, 100, 0)
        data = src.read(1)
    for n, t in enumerate(tiles, start=1):
        assert (data[t.row_off:t.row_off + t.height, t.col_off:t.col_off + t.width] == n).all()


def test_a_tile_grows_to_the_model_tiles_it_costs_anyway():
    """A region tile read with its margins is covered by whole model tiles; the aligned side costs the same number
    of them as the side asked, and one pixel more would cost a row and a column more."""
    for asked, margin in ((512, 64), (1024, 64), (2048, 64), (2048, 0), (3000, 32)):
        side = aligned_tile(asked, 512, 64, margin)
        count = len(plan_tiles(asked + 2 * margin, asked + 2 * margin, 512, 16, 64).rows)
        assert side >= asked and len(plan_tiles(side + 2 * margin, side + 2 * margin, 512, 16, 64).rows) == count
        assert len(plan_tiles(side + 1 + 2 * margin, side + 1 + 2 * margin, 512, 16, 64).rows) == count + 1
    assert aligned_tile(96, 512, 64, 64) == 96  # smaller than one model tile: as asked


def test_tiles_are_queued_largest_first_so_workers_finish_together():
    _, tiles = plan_region(L_SHAPE, 512)
    ordered = sorted(tiles, key=work_order)
    areas = [t.width * t.height for t in ordered]
    assert areas == sorted(areas, reverse=True) and areas[0] > areas[-1]  # the plan has smaller edge tiles
    # Two workers pulling the next tile as they free up: the larger-first order never ends later than plan order.
    def finish(order):
        busy = [0, 0]
        for t in order:
            busy[busy.index(min(busy))] += t.width * t.height
        return max(busy)
    assert finish(ordered) <= finish(tiles)
