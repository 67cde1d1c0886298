"""SEN12MS layout: ROIs{1158_spring,1868_summer,1970_fall,2017_winter}/{s1,s2,lc}_<scene>/ROIs…_{kind}_<scene>_p<patch>.tif.

Synthetic trees (ml.synthetic) add fine labels in dfc_<scene>/ folders beside them.
Splits are by scene, never by patch (neighbouring patches overlap); the official
hold-out scenes are listed in SEN12MS's splits/SEN12MS_holdOutScenes.txt.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..rasterio_io import DataError
from .common import Sample, sibling_file

_S2_NAME = re.compile(r"^(ROIs\d{4})_(spring|summer|fall|winter)_s2_(\d+)_p(\d+)\.tif$")


def scan_sen12ms(root: Path) -> list[Sample]:
    """All S2 patches under `root` with their lc/s1/dfc siblings (which may be absent)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: SEN12MS folder not found")
    samples = []
    for s2 in sorted(root.glob("ROIs*_*/s2_*/*.tif")):
        match = _S2_NAME.match(s2.name)
        if not match:
            continue
        roi, season, scene, patch = match.groups()
        season_dir = s2.parent.parent
        samples.append(Sample(s2=s2, lc=sibling_file(season_dir, scene, s2, "lc"),
                              s1=sibling_file(season_dir, scene, s2, "s1"), dfc=sibling_file(season_dir, scene, s2, "dfc"),
                              scene=f"{roi}_{season}/{scene}", patch=int(patch)))
    if not samples:
        raise DataError(f"{root}: no SEN12MS patches (expected ROIs*_<season>/s2_<scene>/*.tif)")
    return samples


def read_holdout_scenes(path: Path) -> set[str]:
    """'ROIs1158_spring/s1_63' lines → {'ROIs1158_spring/63', …}."""
    scenes = set()
    for line in Path(path).read_text().split():
        folder, _, name = line.strip().partition("/")
        if name:
            scenes.add(f"{folder}/{name.split('_', 1)[1]}")
    return scenes


def split_by_scene(samples: Sequence[Sample], holdout: set[str] | None = None, val_fraction: float = 0.1,
                   test_fraction: float = 0.1, seed: int = 0) -> dict[str, list[Sample]]:
    """train/val/test by scene. Test = the hold-out scenes if given, else a random `test_fraction` of scenes."""
    scenes = sorted({s.scene for s in samples})
    rng = np.random.default_rng(seed)
    if holdout:
        test = {s for s in scenes if s in holdout}
        rest = [s for s in scenes if s not in test]
    else:
        shuffled = list(rng.permutation(scenes))
        n_test = max(1, round(test_fraction * len(scenes))) if len(scenes) > 2 else 0
        test, rest = set(shuffled[:n_test]), shuffled[n_test:]
    rest = list(rng.permutation(rest))
    n_val = max(1, round(val_fraction * len(rest))) if len(rest) > 1 else 0
    val = set(rest[:n_val])
    return {
        "train": [s for s in samples if s.scene not in test and s.scene not in val],
        "val": [s for s in samples if s.scene in val],
        "test": [s for s in samples if s.scene in test],
    }
