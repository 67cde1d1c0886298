"""Synthetic Sentinel-2 scenes with known land cover, for tests, demos and benchmarks.

Everything here is synthetic and labelled as such (file tags SYNTHETIC=yes).

Class regions: for each class a smooth random field (Gaussian-filtered noise on a
grid 8× coarser than the pixels, bilinearly interpolated); each pixel takes the
class whose field (plus log prior weight) is highest. Regions are irregular and
spatially coherent, and any window can be computed alone, so scenes of any size
are written strip by strip.

Reflectance: per-class 13-band top-of-atmosphere signatures in L1C DN
(reflectance × 10000). Spectral shapes follow typical TOA spectra of each cover
type (vegetation red edge and NIR plateau, water absorbing beyond red, bright flat
barren soil; cf. the ESA Sentinel-2 User Handbook and the USGS spectral library);
magnitudes are calibrated on the real SEN12MS patches in ../shared/data: Barren on
ROIs1970_fall s2_4 p30 (Mauritania, IGBP 16 everywhere: band means
2162…5723) and Grassland on ROIs2017_winter s2_27 p36 (west Texas, mostly
IGBP 10). Within-class variation: a smooth brightness field (±8 %) and a
per-region spectral tilt; sensor noise: Gaussian, 0.6 % reflectance.

Labels: fine 10 m DFC codes, and coarse MODIS-like IGBP labels: the majority
class of each 500 m (50-pixel) block, with `label_noise` of blocks swapped to a
neighbouring block's or a random class — as MODIS labels disagree with the ground.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine, from_origin
from rasterio.windows import Window
from scipy import ndimage

from .bands import S2_BANDS
from .classes import MODEL_CLASSES

# L1C DN per band B1, B2, B3, B4, B5, B6, B7, B8, B8A, B9, B10, B11, B12.
SIGNATURES: dict[int, tuple[int, ...]] = {
    1: (1300, 1050, 900, 650, 1050, 2050, 2450, 2600, 2750, 900, 15, 1450, 800),           # Forest
    2: (1500, 1350, 1400, 1600, 1950, 2300, 2500, 2600, 2750, 1000, 30, 3000, 2300),       # Shrubland
    4: (1470, 1283, 1340, 1909, 2094, 2298, 2490, 2459, 2710, 1207, 69, 3723, 3056),       # Grassland (Texas patch)
    5: (1350, 1150, 1100, 900, 1200, 1700, 1900, 1950, 2050, 800, 20, 1300, 800),          # Wetlands
    6: (1400, 1200, 1150, 1000, 1500, 2600, 3100, 3300, 3450, 1100, 30, 2400, 1500),       # Croplands
    7: (1700, 1600, 1650, 1800, 1950, 2050, 2150, 2200, 2300, 1000, 40, 2600, 2300),       # Urban/Built-up
    9: (2162, 2265, 2993, 4782, 5050, 5377, 5707, 5469, 5908, 2064, 31, 6650, 5723),       # Barren (Mauritania patch)
    10: (1400, 1150, 900, 650, 550, 450, 420, 380, 350, 150, 5, 150, 100),                 # Water
}
# Relative area of each class in synthetic scenes.
PRIORS = {1: 0.20, 2: 0.10, 4: 0.18, 5: 0.05, 6: 0.20, 7: 0.08, 9: 0.07, 10: 0.12}
# A representative MODIS code of each DFC class, for the 4-band lc files.
DFC_TO_MODIS = {  # IGBP, LCCS-LC, LCCS-LU, LCCS-SH
    1: (4, 14, 10, 10), 2: (7, 43, 40, 40), 4: (10, 31, 30, 30), 5: (11, 31, 30, 50),
    6: (12, 31, 36, 30), 7: (13, 1, 9, 1), 9: (16, 1, 1, 1), 10: (17, 3, 3, 3),
}
S1_DB = {1: (-7.5, -13.5), 2: (-9.5, -16.5), 4: (-10.5, -17.5), 5: (-9.0, -15.0), 6: (-9.0, -15.5),
         7: (-3.0, -10.0), 9: (-14.0, -24.0), 10: (-20.0, -27.0)}
GRID = 8            # class fields live on a grid this many pixels apart
BLOCK = 50          # MODIS 500 m block in 10 m pixels
LOCATIONS = [(-114.26, 41.91), (96.15, 16.82), (130.62, 32.72), (-16.0, 20.5), (-103.6, 32.8), (11.6, 48.1),
             (28.0, -26.2), (-60.0, -3.1), (77.2, 28.6), (144.9, -37.8), (-47.9, -15.8), (37.6, 55.7)]


@dataclass
class SceneField:
    """Deterministic class and reflectance fields for one synthetic scene of height × width pixels."""

    height: int
    width: int
    seed: int = 0
    smoothness: float = 3.0  # in grid cells: larger → bigger regions

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        gh, gw = self.height // GRID + 3, self.width // GRID + 3
        self.codes = np.array(list(PRIORS), dtype=np.uint8)
        noise = rng.standard_normal((len(self.codes), gh, gw)).astype(np.float32)
        fields = ndimage.gaussian_filter(noise, sigma=(0, self.smoothness, self.smoothness), mode="wrap")
        fields /= fields.std(axis=(1, 2), keepdims=True) + 1e-6
        self.fields = fields + np.log(np.array(list(PRIORS.values()), np.float32))[:, None, None] * 0.6
        bright = ndimage.gaussian_filter(rng.standard_normal((gh, gw)).astype(np.float32), 2.0)
        self.brightness = 1.0 + 0.08 * bright / (bright.std() + 1e-6)
        self.tilt = rng.normal(0, 0.04, size=(len(self.codes),)).astype(np.float32)
        self.noise_seed = int(rng.integers(2**31))

    def _grid_coords(self, window: Window) -> np.ndarray:
        rows = (np.arange(window.row_off, window.row_off + window.height) + 0.5) / GRID
        cols = (np.arange(window.col_off, window.col_off + window.width) + 0.5) / GRID
        return np.stack(np.meshgrid(rows, cols, indexing="ij"))

    def classes(self, window: Window) -> np.ndarray:
        """DFC codes (rows, cols) of a window."""
        coords = self._grid_coords(window)
        best = np.full(coords.shape[1:], -np.inf, np.float32)
        out = np.zeros(coords.shape[1:], np.uint8)
        for field, code in zip(self.fields, self.codes):
            value = ndimage.map_coordinates(field, coords, order=1, mode="nearest")
            better = value > best
            best[better] = value[better]
            out[better] = code
        return out

    def image(self, window: Window, classes: np.ndarray | None = None) -> np.ndarray:
        """13-band L1C DN (13, rows, cols) of a window, uint16."""
        classes = self.classes(window) if classes is None else classes
        lut = np.zeros((256, 13), np.float32)
        tilt = np.zeros(256, np.float32)
        for i, code in enumerate(self.codes):
            lut[code] = SIGNATURES[int(code)]
            tilt[code] = self.tilt[i]
        base = lut[classes]  # rows, cols, 13
        slope = np.linspace(-1, 1, 13, dtype=np.float32)
        base *= 1.0 + tilt[classes][..., None] * slope
        coords = self._grid_coords(window)
        base *= ndimage.map_coordinates(self.brightness, coords, order=1, mode="nearest")[..., None]
        rng = np.random.default_rng([self.noise_seed, int(window.row_off), int(window.col_off)])
        base += rng.standard_normal(size=base.shape, dtype=np.float32) * 60.0
        return np.moveaxis(np.clip(base, 1, 65535).astype(np.uint16), -1, 0)


def coarse_labels(fine: np.ndarray, rng: np.random.Generator, block: int = BLOCK, label_noise: float = 0.1,
                  codes: tuple[int, ...] = MODEL_CLASSES) -> np.ndarray:
    """Block-majority labels at `block` pixels, with a fraction of blocks given a wrong class."""
    h, w = fine.shape
    out = np.zeros_like(fine)
    for r in range(0, h, block):
        for c in range(0, w, block):
            values, counts = np.unique(fine[r:r + block, c:c + block], return_counts=True)
            label = values[np.argmax(counts)]
            if rng.random() < label_noise:
                label = rng.choice([v for v in codes if v != label])
            out[r:r + block, c:c + block] = label
    return out


def utm_crs(lon: float, lat: float) -> CRS:
    """The WGS 84 UTM zone of a place."""
    zone = int((lon + 180) // 6) + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def utm_origin(lon: float, lat: float) -> tuple[CRS, float, float]:
    """The UTM zone of a place and the place's easting and northing in it."""
    from rasterio.warp import transform as warp

    crs = utm_crs(lon, lat)
    xs, ys = warp(CRS.from_epsg(4326), crs, [lon], [lat])
    return crs, round(xs[0] / 10) * 10.0, round(ys[0] / 10) * 10.0


def _profile(crs: CRS, transform: Affine, count: int, dtype: str, size: int) -> dict:
    return dict(driver="GTiff", width=size, height=size, count=count, dtype=dtype, crs=crs, transform=transform,
                tiled=True, blockxsize=256 if size >= 256 else 16, blockysize=256 if size >= 256 else 16,
                compress="deflate")


def write_patch_set(paths: dict[str, Path], field: SceneField, window: Window, crs: CRS, transform: Affine,
                    rng: np.random.Generator, label_noise: float) -> None:
    """s2 / lc / dfc / s1 files of one patch."""
    size = int(window.width)
    fine = field.classes(window)
    coarse = coarse_labels(fine, rng, label_noise=label_noise)
    tags = {"SYNTHETIC": "yes", "GENERATOR": "ml.synthetic"}
    for kind, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptions: tuple[str, ...]
        if kind == "s2":
            profile, data = _profile(crs, transform, 13, "uint16", size), field.image(window, fine)
            descriptions = S2_BANDS
        elif kind == "lc":
            modis = np.zeros((4, 256), np.uint8)
            for code, values in DFC_TO_MODIS.items():
                modis[:, code] = values
            profile, data = _profile(crs, transform, 4, "uint8", size), modis[:, coarse]
            descriptions = ("IGBP", "LCCS_LC", "LCCS_LU", "LCCS_SH")
        elif kind == "dfc":
            profile, data, descriptions = _profile(crs, transform, 1, "uint8", size), fine[None], ("DFC2020",)
        else:  # s1
            means = np.zeros((2, 256), np.float32)
            for code, (vv, vh) in S1_DB.items():
                means[:, code] = (vv, vh)
            data = means[:, fine] + rng.normal(0, 1.5, size=(2, size, size)).astype(np.float32)
            profile, descriptions = _profile(crs, transform, 2, "float32", size), ("VV", "VH")
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
            dst.update_tags(**tags)
            for i, d in enumerate(descriptions, start=1):
                dst.set_band_description(i, d)


SEASONS = (("ROIs1158", "spring"), ("ROIs1868", "summer"), ("ROIs1970", "fall"), ("ROIs2017", "winter"))


def make_sen12ms_tree(root: Path, scenes: int = 4, grid: int = 2, patch_size: int = 256, seed: int = 0,
                      label_noise: float = 0.1, with_s1: bool = False) -> Path:
    """A SEN12MS-layout tree: `scenes` scenes of grid×grid patches, plus dfc_<scene> fine labels."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for index in range(scenes):
        roi, season = SEASONS[index % len(SEASONS)]
        scene_id = index + 1
        lon, lat = LOCATIONS[index % len(LOCATIONS)]
        crs, x0, y0 = utm_origin(lon, lat)
        field = SceneField(grid * patch_size, grid * patch_size, seed=seed * 1000 + scene_id)
        for p in range(grid * grid):
            r, c = divmod(p, grid)
            window = Window(c * patch_size, r * patch_size, patch_size, patch_size)
            transform = from_origin(x0 + c * patch_size * 10, y0 - r * patch_size * 10, 10, 10)
            kinds = ["s2", "lc", "dfc"] + (["s1"] if with_s1 else [])
            paths = {k: root / f"{roi}_{season}" / f"{k}_{scene_id}" / f"{roi}_{season}_{k}_{scene_id}_p{p + 1}.tif"
                     for k in kinds}
            write_patch_set(paths, field, window, crs, transform, rng, label_noise)
    return root


def make_dfc2020_tree(root: Path, patches: int = 8, split: str = "validation", patch_size: int = 256,
                      seed: int = 0, label_noise: float = 0.1) -> Path:
    """A DFC2020-layout tree: each patch from its own synthetic scene and place."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for n in range(1, patches + 1):
        lon, lat = LOCATIONS[n % len(LOCATIONS)]
        crs, x0, y0 = utm_origin(lon, lat)
        field = SceneField(patch_size, patch_size, seed=seed * 1000 + 500 + n)
        paths = {k: root / f"ROIs0000_{split}" / f"{k}_0" / f"ROIs0000_{split}_{k}_0_p{n}.tif" for k in ("s2", "lc", "dfc")}
        write_patch_set(paths, field, Window(0, 0, patch_size, patch_size), crs,
                        from_origin(x0, y0, 10, 10), rng, label_noise)
    return root


def make_scene(path: Path, height: int, width: int, bands: int = 13, seed: int = 0, lon: float = 11.6,
               lat: float = 48.1, describe: bool = True, strip: int = 512, labels_path: Path | None = None) -> Path:
    """One large GeoTIFF scene (L1C DN), written strip by strip: memory does not grow with its size."""
    from .bands import LAYOUTS_BY_COUNT

    names = LAYOUTS_BY_COUNT[bands]
    indexes = [S2_BANDS.index(b) for b in names]
    crs, x0, y0 = utm_origin(lon, lat)
    field = SceneField(height, width, seed=seed, smoothness=4.0)
    profile = dict(driver="GTiff", width=width, height=height, count=bands, dtype="uint16", crs=crs,
                   transform=from_origin(x0, y0, 10, 10), tiled=True, blockxsize=512, blockysize=512,
                   compress="deflate", BIGTIFF="IF_SAFER")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    label_dst = None
    if labels_path is not None:
        label_dst = rasterio.open(labels_path, "w", **{**profile, "count": 1, "dtype": "uint8"})
    with rasterio.open(path, "w", **profile) as dst:
        dst.update_tags(SYNTHETIC="yes", GENERATOR="ml.synthetic")
        if describe:
            for i, name in enumerate(names, start=1):
                dst.set_band_description(i, name)
        for row in range(0, height, strip):
            window = Window(0, row, width, min(strip, height - row))
            classes = field.classes(window)
            dst.write(field.image(window, classes)[indexes], window=window)
            if label_dst is not None:
                label_dst.write(classes[None], window=window)
    if label_dst is not None:
        label_dst.close()
    return path


def main(argv: Sequence[str] | None = None) -> None:
    """The command line: write a synthetic tree or scene."""
    parser = argparse.ArgumentParser(prog="python -m ml.synthetic", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--layout", choices=["sen12ms", "dfc2020", "scene"], default="sen12ms")
    parser.add_argument("--scenes", type=int, default=8, help="sen12ms: number of scenes")
    parser.add_argument("--grid", type=int, default=3, help="sen12ms: patches per scene side")
    parser.add_argument("--patches", type=int, default=16, help="dfc2020: number of patches")
    parser.add_argument("--split", default="validation", choices=["validation", "test"])
    parser.add_argument("--size", type=int, nargs=2, default=[2048, 2048], metavar=("HEIGHT", "WIDTH"),
                        help="scene: size in pixels")
    parser.add_argument("--bands", type=int, default=13, choices=[4, 10, 12, 13])
    parser.add_argument("--label-noise", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.layout == "sen12ms":
        make_sen12ms_tree(args.out, args.scenes, args.grid, seed=args.seed, label_noise=args.label_noise)
    elif args.layout == "dfc2020":
        make_dfc2020_tree(args.out, args.patches, args.split, seed=args.seed, label_noise=args.label_noise)
    else:
        height, width = args.size
        make_scene(args.out, height, width, bands=args.bands, seed=args.seed)
    print(f"synthetic {args.layout} data written to {args.out}")


if __name__ == "__main__":
    main()
