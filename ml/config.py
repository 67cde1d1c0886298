"""What a training run is asked to do: one dataclass shared by the CLI, the site's demo loader,
`ml.compare` and the tests, so nothing builds argument lists to call another module."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of `ml.train`; the defaults are the command line's."""

    method: str
    dataset: str
    data: Path
    out: Path
    labels: str | None = None          # "coarse", "fine" or "soft" (real sets); None: the dataset's default
    bands: str = "rgbn"                # a key of ml.bands.BAND_SETS
    holdout: Path | None = None        # SEN12MS hold-out scene list for the test split
    max_patches: int | None = None     # at most this many patches per split
    seed: int = 0
    batch_size: int = 8
    # U-Net family
    epochs: int = 20
    lr: float = 1e-3
    base_filters: int = 32
    depth: int = 4
    input_size: int = 256
    resume: bool = False
    # label super-resolution
    block: int = 50
    lsr_stats: str = "prior"
    lsr_calibration: int = 8
    # CGAN / Pix2Pix
    pixel_weight: float = 10.0
    disc_filters: int = 32
    # bag of colours
    words: int = 80
    segments: int = 20
    trees: int = 1000
    n_jobs: int = -1

    def __post_init__(self) -> None:
        """Paths given as strings become Paths."""
        for name in ("data", "out", "holdout"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, Path(value))

    def with_changes(self, **changes: Any) -> TrainConfig:
        """A copy with some settings changed."""
        return replace(self, **changes)
