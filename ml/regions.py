"""Regions at scale: a region's grid cut into tiles that any number of workers map on their own, and the tiles'
maps joined into one.

Why tiles of one grid: every tile is a window of the region's 10 m grid (one UTM zone, that of the region's
centre), so the tiles' maps fit together pixel for pixel with nothing resampled, and a tile mapped again (a retry,
a killed worker) writes exactly the same pixels. Each tile is read with a margin of the model's context around it
(`Predictor.context`) and only its own window is kept, so a pixel near a tile's edge sees the same neighbourhood
as in one pass over the whole region: no seams. A region far from its zone's central meridian is mapped on a
distorted grid (the areal scale is taken out of every area, as for any UTM map: `ml.stats`), which is why the
site bounds a region's size.

The join is a VRT of the tiles' COGs (written here, read by GDAL) translated into one COG with overviews: tiles
never overlap, so the VRT is a plain mosaic and the COG is what downloads and tiles read.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from xml.sax.saxutils import escape

import shapely
from affine import Affine
from pyproj import Transformer
from shapely.geometry import box, mapping, shape

from .grid import Grid, area_grid


@dataclass(frozen=True)
class Tile:
    """One tile of a region: its place in the tile grid, its window of the region grid (pixels), and the part
    of the region it holds (lon/lat GeoJSON)."""
    row: int
    col: int
    col_off: int
    row_off: int
    width: int
    height: int
    geometry: dict

    def grid(self, region: Grid) -> Grid:
        """The tile's grid: its window of the region's."""
        return Grid(region.crs, region.transform * Affine.translation(self.col_off, self.row_off), self.width,
                    self.height)


def plan_region(geometry: dict, tile_px: int) -> tuple[Grid, list[Tile]]:
    """The region's grid and the tiles (`tile_px` a side, smaller at the grid's right and bottom edges) that hold
    some of it, row by row."""
    grid = area_grid(geometry)
    to_grid = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
    to_lonlat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    region = shapely.transform(shape(geometry), to_grid.transform, interleaved=False).buffer(0)
    tiles = []
    for row in range(math.ceil(grid.height / tile_px)):
        for col in range(math.ceil(grid.width / tile_px)):
            col_off, row_off = col * tile_px, row * tile_px
            width, height = min(tile_px, grid.width - col_off), min(tile_px, grid.height - row_off)
            left, top = grid.transform * (col_off, row_off)
            right, bottom = grid.transform * (col_off + width, row_off + height)
            part = region.intersection(box(left, bottom, right, top))
            if part.is_empty or part.area == 0:
                continue
            tiles.append(Tile(row, col, col_off, row_off, width, height,
                              mapping(shapely.transform(part, to_lonlat.transform, interleaved=False))))
    return grid, tiles


def aligned_tile(requested: int, scene_tile: int, overlap: int, margin: int) -> int:
    """The largest tile side that costs the model no more than `requested`: a tile read with its margins is
    covered by whole model tiles (`ml.predict.plan_tiles`: k per side, `scene_tile` apart less `overlap`), so
    the pixels up to the k-th model tile's end are free. A tile smaller than one model tile stays as asked."""
    stride = scene_tile - overlap
    length = requested + 2 * margin
    if length <= scene_tile or stride <= 0:
        return requested
    count = math.ceil((length - scene_tile) / stride) + 1
    return scene_tile + (count - 1) * stride - 2 * margin


def mosaic_vrt(region: Grid, sources: Sequence[tuple[Path | str, Tile]], count: int, dtype: str, nodata: float | None,
               tags: dict[str, str] | None = None, colormap: dict[int, tuple[int, ...]] | None = None,
               descriptions: Sequence[str | None] = (), mask: bool = False) -> str:
    """A VRT of the region grid holding each tile's file (`count` bands of `dtype`) at its window, with the tiles'
    tags, first band's colour table and band descriptions (what a map COG carries: class names, attribution);
    `mask`: the tiles' validity masks (a probabilities COG's) become the mosaic's, so what no tile holds is masked."""
    data_type = {"uint8": "Byte", "uint16": "UInt16", "float32": "Float32"}[dtype]
    t = region.transform
    lines = [f'<VRTDataset rasterXSize="{region.width}" rasterYSize="{region.height}">',
             f"  <SRS>{escape(region.crs.to_wkt())}</SRS>",
             f"  <GeoTransform>{t.c!r}, {t.a!r}, {t.b!r}, {t.f!r}, {t.d!r}, {t.e!r}</GeoTransform>"]
    if tags:
        lines.append("  <Metadata>")
        lines += [f'    <MDI key="{escape(key, {chr(34): "&quot;"})}">{escape(str(value))}</MDI>'
                  for key, value in tags.items()]
        lines.append("  </Metadata>")
    for band in range(1, count + 1):
        lines.append(f'  <VRTRasterBand dataType="{data_type}" band="{band}">')
        if len(descriptions) >= band and descriptions[band - 1]:
            lines.append(f"    <Description>{escape(str(descriptions[band - 1]))}</Description>")
        if nodata is not None:
            lines.append(f"    <NoDataValue>{nodata!r}</NoDataValue>")
        if colormap and band == 1:
            lines.append("    <ColorInterp>Palette</ColorInterp>")
            lines.append("    <ColorTable>")
            for value in range(max(colormap) + 1):
                c = tuple(colormap.get(value, (0, 0, 0, 0))) + (255,)
                lines.append(f'      <Entry c1="{c[0]}" c2="{c[1]}" c3="{c[2]}" c4="{c[3]}"/>')
            lines.append("    </ColorTable>")
        for path, tile in sources:
            lines += ["    <SimpleSource>",
                      f'      <SourceFilename relativeToVRT="0">{escape(str(path))}</SourceFilename>',
                      f"      <SourceBand>{band}</SourceBand>",
                      f'      <SrcRect xOff="0" yOff="0" xSize="{tile.width}" ySize="{tile.height}"/>',
                      f'      <DstRect xOff="{tile.col_off}" yOff="{tile.row_off}" xSize="{tile.width}" '
                      f'ySize="{tile.height}"/>',
                      "    </SimpleSource>"]
        lines.append("  </VRTRasterBand>")
    if mask:
        lines += ["  <MaskBand>", '    <VRTRasterBand dataType="Byte">']
        for path, tile in sources:
            lines += ["      <SimpleSource>",
                      f'        <SourceFilename relativeToVRT="0">{escape(str(path))}</SourceFilename>',
                      "        <SourceBand>mask,1</SourceBand>",
                      f'        <SrcRect xOff="0" yOff="0" xSize="{tile.width}" ySize="{tile.height}"/>',
                      f'        <DstRect xOff="{tile.col_off}" yOff="{tile.row_off}" xSize="{tile.width}" '
                      f'ySize="{tile.height}"/>',
                      "      </SimpleSource>"]
        lines += ["    </VRTRasterBand>", "  </MaskBand>"]
    lines.append("</VRTDataset>")
    return "\n".join(lines) + "\n"


class Placed(Protocol):
    """Anything with a tile's place and size (a `Tile`, a tile's database row)."""

    @property
    def row(self) -> int:
        """The tile's row in the grid of tiles."""
    @property
    def col(self) -> int:
        """The tile's column in the grid of tiles."""
    @property
    def width(self) -> int:
        """Its width in pixels."""
    @property
    def height(self) -> int:
        """Its height in pixels."""


def work_order(tile: Placed) -> tuple[int, int, int]:
    """The order tiles are queued in (a sort key of anything with row, col, width, height): largest first, as
    workers pull tiles when they free up, so the small edge tiles left for the end even out their finishing times
    (longest-processing-time-first scheduling)."""
    return -tile.width * tile.height, tile.row, tile.col
