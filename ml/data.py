"""Choosing a dataset's patches and splits from the command line's --dataset/--data."""
from __future__ import annotations

import json
from pathlib import Path

from .datasets import Sample, scan_dfc2020, scan_sen12ms, split_by_scene
from .datasets.common import sibling_file
from .datasets.sen12ms import read_holdout_scenes

DEFAULT_LABELS = {"sen12ms": "coarse", "dfc2020": "fine", "synthetic": "fine", "real": "fine"}
DATASETS = tuple(DEFAULT_LABELS)


def real_splits(root: Path) -> dict[str, list[Sample]]:
    """The splits of a real training set built by `ml.realdata build`, as its manifest assigns them (by place)."""
    manifest = json.loads((Path(root) / "manifest.json").read_text())
    splits: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
    for entry in manifest["patches"]:
        s2 = Path(root) / entry["patch"]
        folder = s2.parent.parent
        scene = s2.parent.name.removeprefix("s2_")
        splits[entry["split"]].append(Sample(s2=s2, lc=sibling_file(folder, scene, s2, "lc"),
                                             dfc=sibling_file(folder, scene, s2, "dfc"),
                                             soft=sibling_file(folder, scene, s2, "soft"), scene=entry["place"],
                                             patch=int(s2.stem.rsplit("_p", 1)[1])))
    return splits


def dataset_splits(dataset: str, data: Path, holdout: Path | None = None, seed: int = 0,
                   max_patches: int | None = None) -> dict[str, list[Sample]]:
    """Train / val / test patches. SEN12MS-layout trees split by scene (hold-out list if given);
    DFC2020 trains on its validation split (by a 90/10 cut) and tests on its test split; a real set
    (`ml.realdata`) splits by place as its manifest says."""
    if dataset in ("sen12ms", "synthetic"):
        samples = scan_sen12ms(data)
        splits = split_by_scene(samples, read_holdout_scenes(holdout) if holdout else None, seed=seed)
    elif dataset == "real":
        splits = real_splits(data)
    elif dataset == "dfc2020":
        val_split = scan_dfc2020(data, "validation")
        cut = max(1, len(val_split) // 10)
        try:
            test = scan_dfc2020(data, "test")
        except ValueError:
            test = []
        splits = {"train": val_split[cut:], "val": val_split[:cut], "test": test}
    else:
        raise ValueError(f"unknown dataset {dataset!r}")
    if max_patches:
        splits = {k: v[:max_patches] for k, v in splits.items()}
    return splits


def real_modis_samples(root: Path, samples: list[Sample]) -> list[Sample]:
    """The samples of a real set whose coarse labels are real MODIS (not derived from the teacher)."""
    manifest = json.loads((Path(root) / "manifest.json").read_text())
    modis = {str(Path(root) / e["patch"]) for e in manifest["patches"] if e["labels"]["coarse"].startswith("MODIS")}
    return [s for s in samples if str(s.s2) in modis]
