"""Sentinel-2 bands, band selection and the documented input normalisation.

Normalisation (stored in every model card so inference repeats it exactly):
    reflectance = (DN + offset) / 10000      offset 0 for L1C and old L2A,
                                             -1000 for L2A processing baseline >= 04.00
    x = (clip(reflectance, 0, 1.5) - mean_b) / std_b   per band, mean/std from the training data
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import PermanentError

S2_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")
BAND_SETS = {
    "rgbn": ("B2", "B3", "B4", "B8"),  # the original HR-MARS input
    "all": S2_BANDS,
}
# Band order assumed for files without band descriptions, by band count.
LAYOUTS_BY_COUNT = {
    13: S2_BANDS,                                                         # L1C, all bands
    12: tuple(b for b in S2_BANDS if b != "B10"),                         # L2A drops the cirrus band
    10: ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"),  # 10 m + 20 m bands
    4: ("B2", "B3", "B4", "B8"),                                          # blue, green, red, NIR
}
L2A_OFFSET = -1000


class BandError(PermanentError):
    """The file's bands cannot provide what the model needs."""


def canonical_band(name: str) -> str | None:
    """'B04', 'b4', 'B4 (red)', 'B8A' → 'B4'/'B8A'; None if it names no Sentinel-2 band."""
    match = re.search(r"\bB0?(\d{1,2}A?)\b", name or "", flags=re.IGNORECASE)
    if not match:
        return None
    band = "B" + match.group(1).upper()
    return band if band in S2_BANDS else None


def file_band_names(descriptions: Sequence[str | None], count: int, source: str = "file") -> tuple[str, ...]:
    """Names of a file's bands: from band descriptions when all are Sentinel-2 names, else by band count."""
    found = [canonical_band(d or "") for d in descriptions]
    names = tuple(n for n in found if n)
    if names and len(names) == len(found) and len(set(names)) == len(names):
        return names
    if count in LAYOUTS_BY_COUNT:
        return LAYOUTS_BY_COUNT[count]
    raise BandError(
        f"{source}: {count} band(s) without Sentinel-2 band descriptions; expected 4 (B2, B3, B4, B8), "
        f"10, 12 (L2A) or 13 (L1C) bands, or bands described as B1…B12/B8A"
    )


def band_indexes(file_bands: Sequence[str], wanted: Sequence[str], source: str = "file") -> list[int]:
    """1-based indexes of `wanted` bands in a file whose bands are `file_bands`."""
    missing = [b for b in wanted if b not in file_bands]
    if missing:
        raise BandError(f"{source}: lacks band(s) {', '.join(missing)} (has {', '.join(file_bands)})")
    return [file_bands.index(b) + 1 for b in wanted]


@dataclass
class Normalisation:
    """Per-band input normalisation (the documented formula above), stored in every model card."""
    bands: tuple[str, ...]
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    offset: float = 0.0
    scale: float = 10000.0
    clip: float = 1.5

    def apply(self, dn: np.ndarray, offset: float | None = None) -> np.ndarray:
        """DN array (..., bands) → float32 model input."""
        off = self.offset if offset is None else offset
        x = np.clip((dn.astype(np.float32) + off) / self.scale, 0.0, self.clip)
        if self.mean:
            x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return x.astype(np.float32, copy=False)

    @classmethod
    def fit(cls, bands: Sequence[str], dn_samples: np.ndarray, offset: float = 0.0) -> Normalisation:
        """Per-band mean/std of reflectance over sample pixels (N, bands)."""
        base = cls(tuple(bands), offset=offset)
        x = base.apply(dn_samples.reshape(-1, len(bands)))
        std = np.maximum(x.std(axis=0), 1e-3)
        return cls(tuple(bands), x.mean(axis=0).round(5).tolist(), std.round(5).tolist(), offset)

    def to_dict(self) -> dict:
        """The JSON form stored in a model card."""
        d = asdict(self)
        d["kind"] = "hrmars"
        d["bands"] = list(self.bands)
        d["formula"] = "x = (clip((DN + offset) / scale, 0, clip) - mean) / std"
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Normalisation:
        """Read back what to_dict wrote."""
        return cls(tuple(d["bands"]), list(d.get("mean", [])), list(d.get("std", [])),
                   float(d.get("offset", 0.0)), float(d.get("scale", 10000.0)), float(d.get("clip", 1.5)))


@dataclass
class LogSigmoidNormalisation(Normalisation):
    """Dynamic World's input normalisation (Brown et al. 2022), per band b of DNs:
    x = ln(DN·0.005 + 1); x = (x − a_b) / s_b; x = exp(5x − 1); x = x / (x + 1)."""

    a: list[float] = field(default_factory=list)
    s: list[float] = field(default_factory=list)

    def apply(self, dn: np.ndarray, offset: float | None = None) -> np.ndarray:
        """DN array (..., bands) → float32 model input."""
        off = self.offset if offset is None else offset
        x = np.log(np.maximum(dn.astype(np.float32) + off, 0) * 0.005 + 1)
        x = (x - np.asarray(self.a, np.float32)) / np.asarray(self.s, np.float32)
        x = np.exp(5 * x - 1)
        return (x / (x + 1)).astype(np.float32, copy=False)

    def to_dict(self) -> dict:
        """The JSON form stored in a model card."""
        return {"kind": "log-sigmoid", "bands": list(self.bands), "a": list(self.a), "s": list(self.s),
                "offset": self.offset, "formula": "x = ln(DN*0.005 + 1); x = (x - a)/s; x = exp(5x - 1); x = x/(x + 1)"}


def normalisation_from_dict(d: dict) -> Normalisation:
    """The normalisation a model card describes: ours (kind "hrmars", the default of old cards) or Dynamic
    World's ("log-sigmoid")."""
    kind = d.get("kind", "hrmars")
    if kind == "log-sigmoid":
        return LogSigmoidNormalisation(tuple(d["bands"]), a=list(d["a"]), s=list(d["s"]),
                                       offset=float(d.get("offset", 0.0)))
    if kind != "hrmars":
        raise ValueError(f"unknown normalisation {kind!r}; known: hrmars, log-sigmoid")
    return Normalisation.from_dict(d)
