"""DFC2020 layout: ROIs0000_{validation,test}/{s1,s2,lc,dfc}_0/ROIs0000_<split>_<kind>_0_p<N>.tif."""
from __future__ import annotations

import re
from pathlib import Path

from ..rasterio_io import DataError
from .common import Sample, sibling_file

_NAME = re.compile(r"^ROIs0000_(validation|test)_s2_0_p(\d+)\.tif$")


def scan_dfc2020(root: Path, split: str = "test") -> list[Sample]:
    """The patches of one split of a DFC2020-layout folder (ROIs0000_<split>/s2_0, dfc_0, …)."""
    if split not in ("validation", "test"):
        raise ValueError("DFC2020 split must be 'validation' or 'test'")
    folder = Path(root) / f"ROIs0000_{split}"
    if not folder.is_dir():
        raise DataError(f"{folder}: DFC2020 folder not found")
    samples = []
    for s2 in sorted((folder / "s2_0").glob("*.tif")):
        match = _NAME.match(s2.name)
        if not match:
            continue
        samples.append(Sample(s2=s2, lc=sibling_file(folder, "0", s2, "lc"), dfc=sibling_file(folder, "0", s2, "dfc"),
                              s1=sibling_file(folder, "0", s2, "s1"),
                              scene=f"ROIs0000_{split}", patch=int(match.group(2))))
    if not samples:
        raise DataError(f"{folder}: no DFC2020 patches (expected s2_0/ROIs0000_{split}_s2_0_p<N>.tif)")
    return samples
