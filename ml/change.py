"""Change between two land-cover maps of one place: what became what, where, and how many hectares.

Why: monitoring — deforestation, urban growth, water — is a comparison of two times, and the honest
answer counts only pixels both maps saw. The second map is aligned on the first one's grid (nearest
neighbour: classes are never blended); a pixel is compared only where both maps hold a class, and, with
`min_confidence`, only where both models were at least that sure (from their probabilities COGs).
Everything else is counted apart — no data or cloud in either map, outside the other map, uncertain —
never guessed.

Outputs (`change_map`): a change COG of uint8 codes `(from − 1) × 10 + to` (1–100; 0 = not compared)
with a colour table (unchanged pixels white, changed ones in the colour of the class they became) and
every code's "from → to" name in its metadata; the transition matrix in pixels, km², ha and % of the
compared area; each class's area at both times and its net change.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from .classes import DFC, Scheme
from .errors import PermanentError
from .outputs import GDAL_ENV, write_cog
from .stats import confidence_threshold, pixel_areas_km2

CLASSES = tuple(DFC)  # 1–10


class ChangeError(PermanentError):
    """The two maps cannot be compared; the message says why."""
# Unchanged: white, apart from every class colour (a grey was nearly Urban/Built-up's #a5a5a5, so a new town
# and the unchanged land looked alike). Opaque: a GeoTIFF colour table holds no alpha.
UNCHANGED_COLOUR = (255, 255, 255, 255)


def change_code(before: int, after: int) -> int:
    """The change COG's code of a transition (1–100)."""
    return (before - 1) * 10 + after


def _name(scheme: Scheme, code: int) -> str:
    return scheme.get(code, (str(code), "#808080"))[0]


def change_colours(scheme: Scheme | None = None) -> dict[int, tuple[int, int, int, int]]:
    """Colour table of the change COG: unchanged white, changed in the colour of the class it became (in `scheme`:
    DFC's, or a legend's of codes 1–10)."""
    scheme = scheme or DFC
    table: dict[int, tuple[int, int, int, int]] = {0: (0, 0, 0, 0)}
    for a in CLASSES:
        for b in CLASSES:
            hex_colour = scheme.get(b, ("", "#808080"))[1].lstrip("#")
            rgb = tuple(int(hex_colour[i:i + 2], 16) for i in (0, 2, 4))
            table[change_code(a, b)] = UNCHANGED_COLOUR if a == b else (rgb[0], rgb[1], rgb[2], 255)
    return table


@dataclass
class ChangeResult:
    """The transition matrix and what was left out, in pixels and km² (ground areas)."""

    pixels: np.ndarray                    # (11, 11): [from, to], codes 1–10 (row/column 0 unused)
    km2: np.ndarray
    excluded: dict[str, dict[str, float]] = field(default_factory=dict)
    scheme: Scheme = field(default_factory=lambda: DFC)  # what the codes mean: DFC's classes or a legend's

    def to_dict(self, top: int = 10) -> dict:
        """JSON-ready: transitions (non-zero), per-class areas and net change, the biggest changes, exclusions."""
        compared_km2 = float(self.km2.sum())
        transitions: list[dict[str, Any]] = []
        for a in CLASSES:
            for b in CLASSES:
                if self.pixels[a, b]:
                    km2 = float(self.km2[a, b])
                    transitions.append({"from": a, "from_name": _name(self.scheme, a), "to": b,
                                        "to_name": _name(self.scheme, b),
                                        "code": change_code(a, b), "pixels": int(self.pixels[a, b]),
                                        "km2": round(km2, 6), "ha": round(km2 * 100, 4),
                                        "percent": round(100 * km2 / compared_km2, 4) if compared_km2 else 0.0})
        classes = []
        for c in CLASSES:
            before, after = float(self.km2[c, :].sum()), float(self.km2[:, c].sum())
            if before or after:
                classes.append({"code": c, "name": _name(self.scheme, c), "before_ha": round(before * 100, 4),
                                "after_ha": round(after * 100, 4), "net_change_ha": round((after - before) * 100, 4)})
        changes = sorted((t for t in transitions if t["from"] != t["to"]), key=lambda t: -t["km2"])
        unchanged = sum(t["km2"] for t in transitions if t["from"] == t["to"])
        return {"compared_pixels": int(self.pixels.sum()), "compared_ha": round(compared_km2 * 100, 4),
                "changed_percent": round(100 * (1 - unchanged / compared_km2), 4) if compared_km2 else 0.0,
                "transitions": transitions, "classes": classes,
                "biggest_changes": [f"{t['from_name']} → {t['to_name']}: {t['ha']:,.1f} ha" for t in changes[:top]],
                "excluded": self.excluded}


def _confidence_of(path: Path | str | None, dst: DatasetReader, stack: list) -> DatasetReader | None:
    if path is None:
        return None
    src = rasterio.open(path)
    stack.append(src)
    vrt = WarpedVRT(src, crs=dst.crs, transform=dst.transform, width=dst.width, height=dst.height,
                    resampling=Resampling.nearest)
    stack.append(vrt)
    return vrt


def change_map(before: Path | str, after: Path | str, out: Path, *, before_confidence: Path | str | None = None,
               after_confidence: Path | str | None = None, min_confidence: float | None = None,
               progress: Callable[[int, int], None] | None = None, strip_rows: int = 512,
               scheme: Scheme | None = None) -> ChangeResult:
    """The change COG `out` from map `before` to map `after` (on `before`'s grid) and its transition matrix; the
    codes mean `scheme`'s classes (DFC's by default; a legend's of codes 1–10)."""
    scheme = scheme or DFC
    pixels = np.zeros((11, 11), np.int64)
    km2 = np.zeros((11, 11), np.float64)
    left_out = {name: [0, 0.0] for name in ("nodata_or_cloud_before", "nodata_or_cloud_after", "outside_after",
                                            "uncertain")}
    level = confidence_threshold(min_confidence) if min_confidence else None
    tmp = out.with_suffix(".part.tif")
    opened: list = []
    try:
        with rasterio.Env(**GDAL_ENV):
            a = rasterio.open(before)
            opened.append(a)
            b_src = rasterio.open(after)
            opened.append(b_src)
            b = WarpedVRT(b_src, crs=a.crs, transform=a.transform, width=a.width, height=a.height,
                          # 254 never occurs: the map's own 0 (nodata, cloud) passes through as 0, and only
                          # what lies outside it becomes 255
                          resampling=Resampling.nearest, src_nodata=254, nodata=255)
            opened.append(b)
            conf_a = _confidence_of(before_confidence, a, opened) if level is not None else None
            conf_b = _confidence_of(after_confidence, a, opened) if level is not None else None
            profile = {"driver": "GTiff", "width": a.width, "height": a.height, "count": 1, "dtype": "uint8",
                       "crs": a.crs, "transform": a.transform, "nodata": 0, "tiled": True, "blockxsize": 256,
                       "blockysize": 256, "compress": "deflate"}
            with rasterio.open(tmp, "w", **profile) as dst:
                strips = range(0, a.height, strip_rows)
                for k, y in enumerate(strips):
                    window = Window(0, y, a.width, min(strip_rows, a.height - y))
                    ca = a.read(1, window=window)
                    cb = b.read(1, window=window)
                    areas = pixel_areas_km2(a, y, ca.shape[0])[:, None] * np.ones_like(ca, np.float64)
                    masks = {"nodata_or_cloud_before": ~np.isin(ca, CLASSES),
                             "outside_after": cb == 255}
                    masks["nodata_or_cloud_after"] = ~masks["outside_after"] & ~np.isin(cb, CLASSES) & \
                        ~masks["nodata_or_cloud_before"]
                    masks["outside_after"] &= ~masks["nodata_or_cloud_before"]
                    valid = ~(masks["nodata_or_cloud_before"] | masks["nodata_or_cloud_after"] | masks["outside_after"])
                    uncertain = np.zeros_like(valid)
                    for conf in (conf_a, conf_b):
                        if conf is not None:
                            uncertain |= conf.read(conf.count, window=window) < level
                    masks["uncertain"] = valid & uncertain
                    valid &= ~uncertain
                    for name, mask in masks.items():
                        left_out[name][0] += int(mask.sum())
                        left_out[name][1] += float(areas[mask].sum())
                    index = ca[valid].astype(np.int64) * 11 + cb[valid]
                    pixels += np.bincount(index, minlength=121).reshape(11, 11)
                    km2 += np.bincount(index, weights=areas[valid], minlength=121).reshape(11, 11)
                    codes = np.zeros(ca.shape, np.uint8)
                    codes[valid] = ((ca[valid].astype(np.int16) - 1) * 10 + cb[valid]).astype(np.uint8)
                    dst.write(codes[None], window=window)
                    if progress:
                        progress(k + 1, len(strips))
                dst.write_colormap(1, change_colours(scheme))
                dst.update_tags(BEFORE=Path(before).name, AFTER=Path(after).name,
                                CODES="(from - 1) * 10 + to; 0 = not compared",
                                **{f"CHANGE_{change_code(x, y)}": f"{_name(scheme, x)} → {_name(scheme, y)}"
                                   for x in CLASSES for y in CLASSES})
                dst.set_band_description(1, "land-cover change: (from - 1) * 10 + to")
    finally:
        for handle in reversed(opened):
            handle.close()
    write_cog(tmp, out)  # mode overviews, like every class map
    tmp.unlink()
    excluded: dict[str, dict[str, float]] = {name: {"pixels": n, "ha": round(area * 100, 4)}
                                             for name, (n, area) in left_out.items()}
    if min_confidence:
        excluded["uncertain"]["min_confidence"] = min_confidence
    return ChangeResult(pixels, km2, excluded, scheme)
