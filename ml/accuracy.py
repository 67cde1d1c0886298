"""How far to trust a map's areas: accuracy against reference points, and area estimates with
confidence intervals by the stratified estimator of Olofsson et al. (2014).

Why: a map's pixel counts are biased by its errors; good practice (Olofsson, P., Foody, G. M., Herold,
M., Stehman, S. V., Woodcock, C. E., Wulder, M. A. (2014). Good practices for estimating area and
assessing accuracy of land change. Remote Sensing of Environment 148, 42–57) is to label a stratified
random sample of the map (strata = map classes), and estimate from it the error matrix in area
proportions, overall, user's and producer's accuracies, and each class's area, each with a 95 %
confidence interval. Those estimates need a probability sample: with points of unknown design only the
counts (and accuracies of those points) are honest, and `assess` says so.

- `assess(counts, map_pixels, pixel_area)`: counts n_ij (rows: map class i, columns: reference class j)
  and each map class's pixel count → the estimates (equations 1–10 of the paper's section 4.2).
- `draw_sample(map, per_class, seed)`: a stratified random sample of pixel centres of a class map,
  reproducible by seed, read strip by strip.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.warp import transform as transform_points
from rasterio.windows import Window

from .classes import DFC_NAMES, NODATA

Z95 = 1.96


def confusion_counts(map_codes: Sequence[int], reference_codes: Sequence[int], classes: Sequence[int]) -> np.ndarray:
    """n_ij: how many points of map class i (row) have reference class j (column), over `classes`."""
    index = {c: k for k, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), np.int64)
    for m, r in zip(map_codes, reference_codes):
        if m in index and r in index:
            counts[index[m], index[r]] += 1
    return counts


@dataclass
class Assessment:
    """Accuracy and, for a stratified sample, area estimates with 95 % confidence intervals (± half-widths)."""

    classes: list[int]
    counts: np.ndarray                    # n_ij, rows map, columns reference
    overall: float
    users: list[float | None]             # per map class
    producers: list[float | None]         # per reference class
    stratified: bool
    overall_ci: float | None = None
    users_ci: list[float | None] | None = None
    producers_ci: list[float | None] | None = None
    proportions: np.ndarray | None = None  # p̂_ij, the error matrix in area proportions
    areas: list[float] | None = None       # Â_j, in the unit of `pixel_area`
    areas_ci: list[float] | None = None
    mapped_areas: list[float] | None = None

    def to_dict(self) -> dict:
        """JSON-ready, per class with its name."""
        def r(v: float | None, digits: int = 6) -> float | None:
            return None if v is None or not np.isfinite(v) else round(float(v), digits)

        rows = []
        for k, code in enumerate(self.classes):
            row = {"code": code, "name": DFC_NAMES.get(code, str(code)), "map_points": int(self.counts[k].sum()),
                   "reference_points": int(self.counts[:, k].sum()), "users_accuracy": r(self.users[k]),
                   "producers_accuracy": r(self.producers[k])}
            if self.stratified:
                assert self.users_ci is not None and self.producers_ci is not None
                assert self.areas is not None and self.areas_ci is not None and self.mapped_areas is not None
                row.update(users_accuracy_ci95=r(self.users_ci[k]), producers_accuracy_ci95=r(self.producers_ci[k]),
                           mapped_area=r(self.mapped_areas[k]), estimated_area=r(self.areas[k]),
                           estimated_area_ci95=r(self.areas_ci[k]))
            rows.append(row)
        out = {"classes": rows, "confusion_matrix": self.counts.tolist(), "overall_accuracy": r(self.overall),
               "points": int(self.counts.sum()), "stratified": self.stratified}
        if self.stratified:
            assert self.proportions is not None
            out["overall_accuracy_ci95"] = r(self.overall_ci)
            out["error_matrix_area_proportions"] = [[r(v) for v in row] for row in self.proportions]
        return out


def assess(counts: np.ndarray, classes: Sequence[int], map_pixels: Sequence[float] | None = None,
           pixel_area: float = 1.0) -> Assessment:
    """Accuracy from the counts; with `map_pixels` (each map class's pixel count, the strata sizes) the
    stratified estimates of Olofsson et al. (2014): area proportions p̂_ij = W_i n_ij / n_i., areas
    Â_j = A p̂_.j, and the variances of eqs. 5 (OA), 6 (UA), 7 (PA) and 10 (area proportion)."""
    n = np.asarray(counts, np.float64)
    row_n = n.sum(axis=1)
    col_n = n.sum(axis=0)
    total = n.sum()
    diag = np.diag(n)
    users = [float(diag[i] / row_n[i]) if row_n[i] else None for i in range(len(classes))]
    if map_pixels is None:
        of_points = [float(diag[j] / col_n[j]) if col_n[j] else None for j in range(len(classes))]
        return Assessment(list(classes), n.astype(np.int64), float(diag.sum() / total) if total else 0.0, users,
                          of_points, stratified=False)
    big_n = np.asarray(map_pixels, np.float64)        # N_i.: pixels mapped as class i
    weights = big_n / big_n.sum()                     # W_i
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(row_n[:, None] > 0, n / row_n[:, None], 0.0)  # n_ij / n_i.
        p = weights[:, None] * share                  # p̂_ij
        p_col = p.sum(axis=0)                         # p̂_.j
        overall = float(np.trace(p))
        dof = np.where(row_n > 1, row_n - 1, np.nan)
        u = np.diag(share)
        var_overall = float(np.nansum(weights**2 * u * (1 - u) / dof))
        users_ci = [Z95 * float(np.sqrt(u[i] * (1 - u[i]) / dof[i])) if row_n[i] > 1 else None
                    for i in range(len(classes))]
        producers: list[float | None] = []
        producers_ci: list[float | None] = []
        n_hat_col = (big_n[:, None] * share).sum(axis=0)  # N̂_.j
        for j in range(len(classes)):
            if not p_col[j]:
                producers.append(None)
                producers_ci.append(None)
                continue
            pj = float(p[j, j] / p_col[j])
            others = sum(big_n[i] ** 2 * share[i, j] * (1 - share[i, j]) / dof[i]
                         for i in range(len(classes)) if i != j and row_n[i] > 1)
            first = big_n[j] ** 2 * (1 - pj) ** 2 * u[j] * (1 - u[j]) / dof[j] if row_n[j] > 1 else 0.0
            producers.append(pj)
            producers_ci.append(Z95 * float(np.sqrt((first + pj**2 * others) / n_hat_col[j] ** 2)))
        se_col = np.sqrt(np.nansum(weights[:, None] ** 2 * share * (1 - share) / dof[:, None], axis=0))
    area_total = big_n.sum() * pixel_area
    return Assessment(list(classes), n.astype(np.int64), overall, users, producers, stratified=True,
                      overall_ci=Z95 * float(np.sqrt(var_overall)), users_ci=users_ci, producers_ci=producers_ci,
                      proportions=p, areas=list(area_total * p_col), areas_ci=list(Z95 * area_total * se_col),
                      mapped_areas=list(big_n * pixel_area))


def map_values(path: Path | str, lonlat: Sequence[tuple[float, float]]) -> list[int]:
    """The class code of a map at each (lon, lat); 0 (nodata) outside it."""
    if not lonlat:
        return []
    with rasterio.open(path) as src:
        xs, ys = transform_points("EPSG:4326", src.crs, [p[0] for p in lonlat], [p[1] for p in lonlat])
        values = []
        for x, y in zip(xs, ys):
            row, col = src.index(x, y)
            inside = 0 <= row < src.height and 0 <= col < src.width
            values.append(int(src.read(1, window=Window(col, row, 1, 1))[0, 0]) if inside else NODATA)
    return values


def pixel_values(path: Path | str, lon: float, lat: float) -> list[int] | None:
    """Every band of a file at (lon, lat); None outside it or where its mask says the pixel holds no data."""
    with rasterio.open(path) as src:
        xs, ys = transform_points("EPSG:4326", src.crs, [lon], [lat])
        row, col = src.index(xs[0], ys[0])
        if not (0 <= row < src.height and 0 <= col < src.width):
            return None
        window = Window(col, row, 1, 1)
        if not src.read_masks(1, window=window)[0, 0]:
            return None
        return [int(v) for v in src.read(window=window)[:, 0, 0]]


def draw_sample(path: Path | str, per_class: int | dict[int, int], seed: int, strip_rows: int = 512,
                counts: dict[int, int] | None = None) -> list[dict]:
    """A stratified random sample of a class map: `per_class` pixel centres of each class present (fewer where a
    class has fewer pixels), drawn without replacement, the same for the same seed; each with lon, lat, its
    map class and the pixel's row and column. Read strip by strip (memory grows with the width): once when the
    map's pixel count per class is given (`counts`, as its stored statistics hold them), else twice."""
    rng = np.random.default_rng(seed)
    with rasterio.open(path) as src:
        if counts is None:
            histogram = np.zeros(256, np.int64)
            for y in range(0, src.height, strip_rows):
                strip = src.read(1, window=Window(0, y, src.width, min(strip_rows, src.height - y)))
                histogram += np.bincount(strip.ravel(), minlength=256)[:256]
        else:
            histogram = np.zeros(256, np.int64)
            for code, pixels in counts.items():
                histogram[code] = pixels
        counts_ = histogram
        counts_[NODATA] = 0
        wanted = {}
        for present in np.flatnonzero(counts_).tolist():
            k = per_class.get(present, 0) if isinstance(per_class, dict) else per_class
            k = min(int(k), int(counts_[present]))
            if k:
                wanted[present] = np.sort(rng.choice(int(counts_[present]), size=k, replace=False))
        seen = np.zeros(256, np.int64)
        picked: list[tuple[int, int, int]] = []  # (code, row, col)
        for y in range(0, src.height, strip_rows):
            strip = src.read(1, window=Window(0, y, src.width, min(strip_rows, src.height - y)))
            flat = strip.ravel()
            for code, ranks in wanted.items():
                positions = np.flatnonzero(flat == code)
                lo, hi = int(seen[code]), int(seen[code]) + positions.size
                inside = ranks[(ranks >= lo) & (ranks < hi)] - lo
                for pos in positions[inside]:
                    picked.append((code, y + int(pos) // src.width, int(pos) % src.width))
                seen[code] = hi
        picked.sort(key=lambda p: (p[1], p[2]))  # row by row, whatever the strips were
        xs, ys = zip(*[src.xy(r, c) for _, r, c in picked]) if picked else ((), ())
        lons, lats = transform_points(src.crs, "EPSG:4326", list(xs), list(ys)) if picked else ([], [])
    return [{"lon": round(lon, 7), "lat": round(lat, 7), "map_class": code, "map_name": DFC_NAMES.get(code, ""),
             "row": row, "col": col} for (code, row, col), lon, lat in zip(picked, lons, lats)]
