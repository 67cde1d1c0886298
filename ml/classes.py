"""Class schemes and vectorised mappings between them.

Codes that a scheme does not define map to NODATA (0), never silently to a class.
Models predict MODEL_CLASSES (the 8 simplified-IGBP classes DFC2020 contains);
their output index i means DFC code MODEL_CLASSES[i].
"""
from __future__ import annotations

import numpy as np

NODATA = 0
IGNORE = 255  # label value skipped by losses and metrics

# MODIS IGBP (MCD12Q1 LC_Type1), band 1 of SEN12MS `lc` files.
IGBP = {
    1: "Evergreen Needleleaf Forests", 2: "Evergreen Broadleaf Forests", 3: "Deciduous Needleleaf Forests",
    4: "Deciduous Broadleaf Forests", 5: "Mixed Forests", 6: "Closed Shrublands", 7: "Open Shrublands",
    8: "Woody Savannas", 9: "Savannas", 10: "Grasslands", 11: "Permanent Wetlands", 12: "Croplands",
    13: "Urban and Built-up Lands", 14: "Cropland/Natural Vegetation Mosaics", 15: "Permanent Snow and Ice",
    16: "Barren", 17: "Water Bodies",
}
# MODIS LCCS layers (MCD12Q1 LC_Type3..5 in SEN12MS band order 2, 3, 4).
LCCS_LC = {
    1: "Barren", 2: "Permanent Snow and Ice", 3: "Water Bodies", 11: "Evergreen Needleleaf Forests",
    12: "Evergreen Broadleaf Forests", 13: "Deciduous Needleleaf Forests", 14: "Deciduous Broadleaf Forests",
    15: "Mixed Broadleaf/Needleleaf Forests", 16: "Mixed Broadleaf Evergreen/Deciduous Forests",
    21: "Open Forests", 22: "Sparse Forests", 31: "Dense Herbaceous", 32: "Sparse Herbaceous",
    41: "Dense Shrublands", 42: "Shrubland/Grassland Mosaics", 43: "Sparse Shrublands",
}
LCCS_LU = {
    1: "Barren", 2: "Permanent Snow and Ice", 3: "Water Bodies", 9: "Urban and Built-up Lands",
    10: "Dense Forests", 20: "Open Forests", 25: "Forest/Cropland Mosaics", 30: "Natural Herbaceous",
    35: "Natural Herbaceous/Croplands Mosaics", 36: "Herbaceous Croplands", 40: "Shrublands",
}
LCCS_SH = {
    1: "Barren", 2: "Permanent Snow and Ice", 3: "Water Bodies", 10: "Dense Forests", 20: "Open Forests",
    27: "Woody Wetlands", 30: "Grasslands", 40: "Shrublands", 50: "Herbaceous Wetlands", 51: "Tundra",
}

# Simplified IGBP of DFC2020 with the contest's colours.
DFC = {
    1: ("Forest", "#009900"), 2: ("Shrubland", "#c6b044"), 3: ("Savanna", "#fbff13"),
    4: ("Grassland", "#b6ff05"), 5: ("Wetlands", "#27ff87"), 6: ("Croplands", "#c24f44"),
    7: ("Urban/Built-up", "#a5a5a5"), 8: ("Snow/Ice", "#69fff8"), 9: ("Barren", "#f9ffa4"),
    10: ("Water", "#1c0dff"),
}
# A class scheme: code → (name, colour). DFC is the site's; a user's legend (issue 27) brings its own.
Scheme = dict[int, tuple[str, str]]
DFC_NAMES = {code: name for code, (name, _) in DFC.items()}
DFC_COLOURS = {code: colour for code, (_, colour) in DFC.items()}
IGBP_TO_DFC = {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 2, 7: 2, 8: 3, 9: 3, 10: 4, 11: 5, 12: 6, 13: 7, 14: 6, 15: 8,
               16: 9, 17: 10}
# DFC2020's labels never hold Savanna (3) or Snow/Ice (8): models predict these eight.
MODEL_CLASSES = (1, 2, 4, 5, 6, 7, 9, 10)
N_MODEL_CLASSES = len(MODEL_CLASSES)


def _lut(mapping: dict[int, int], fill: int) -> np.ndarray:
    table = np.full(256, fill, dtype=np.uint8)
    for src, dst in mapping.items():
        table[src] = dst
    return table


_IGBP_TO_DFC_LUT = _lut(IGBP_TO_DFC, NODATA)
_DFC_TO_INDEX_LUT = _lut({code: i for i, code in enumerate(MODEL_CLASSES)}, IGNORE)
_INDEX_TO_DFC_LUT = _lut(dict(enumerate(MODEL_CLASSES)), NODATA)


def _as_codes(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype != np.uint8:
        bad = (values < 0) | (values > 255)
        values = np.where(bad, 0, values).astype(np.uint8)  # out-of-range codes are unknown → 0
    return values


def igbp_to_dfc(igbp: np.ndarray) -> np.ndarray:
    """IGBP 1–17 → simplified IGBP 1–10; anything else → NODATA."""
    return _IGBP_TO_DFC_LUT[_as_codes(igbp)]


def dfc_to_index(dfc: np.ndarray) -> np.ndarray:
    """DFC code → model class index 0–7; Savanna, Snow/Ice, nodata and unknown codes → IGNORE."""
    return _DFC_TO_INDEX_LUT[_as_codes(dfc)]


def index_to_dfc(index: np.ndarray) -> np.ndarray:
    """Model class index 0–7 → DFC code; anything else → NODATA."""
    return _INDEX_TO_DFC_LUT[_as_codes(index)]


def colormap(scheme: Scheme | None = None) -> dict[int, tuple[int, int, int, int]]:
    """GDAL colour table for rasters of a scheme's codes (default DFC; 0 = transparent nodata)."""
    table = {NODATA: (0, 0, 0, 0)}
    for code, (_, colour) in (scheme or DFC).items():
        table[code] = (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), 255)
    return table


def card_scheme(card: dict) -> Scheme:
    """What a model card's codes mean: its own legend's classes (issue 27), else DFC's."""
    return scheme_of(card["classes"]) if card.get("legend") else DFC


def scheme_of(classes: list[dict]) -> Scheme:
    """The scheme a model card's classes describe (code, name, colour each)."""
    return {int(c["code"]): (str(c.get("name") or DFC_NAMES.get(int(c["code"]), c["code"])),
                             str(c.get("colour") or DFC_COLOURS.get(int(c["code"]), "#000000"))) for c in classes}


def coarse_one_hot(indexes: np.ndarray) -> np.ndarray:
    """Class indexes (H, W) → one-hot (H, W, 8) float32; unknown (IGNORE) pixels all zeros."""
    out = np.zeros(indexes.shape + (N_MODEL_CLASSES,), np.float32)
    valid = indexes != IGNORE
    out[valid, indexes[valid]] = 1.0
    return out
