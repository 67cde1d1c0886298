"""Choosing a dataset's patches and splits from the command line's --dataset/--data."""
from __future__ import annotations

from pathlib import Path

from .datasets import Sample, scan_dfc2020, scan_sen12ms, split_by_scene
from .datasets.sen12ms import read_holdout_scenes

DEFAULT_LABELS = {"sen12ms": "coarse", "dfc2020": "fine", "synthetic": "fine"}


def dataset_splits(dataset: str, data: Path, holdout: Path | None = None, seed: int = 0,
                   max_patches: int | None = None) -> dict[str, list[Sample]]:
    """Train / val / test patches. SEN12MS-layout trees split by scene (hold-out list if given);
    DFC2020 trains on its validation split (by a 90/10 cut) and tests on its test split."""
    if dataset in ("sen12ms", "synthetic"):
        samples = scan_sen12ms(data)
        splits = split_by_scene(samples, read_holdout_scenes(holdout) if holdout else None, seed=seed)
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
