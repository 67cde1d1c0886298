"""A patch sample, label decoding, augmentation and the streaming batch generator."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..bands import S2_BANDS, Normalisation, band_indexes
from ..classes import IGNORE, N_MODEL_CLASSES, coarse_one_hot, dfc_to_index, igbp_to_dfc
from ..rasterio_io import DataError, read_raster


@dataclass(frozen=True)
class Sample:
    """One 256×256 patch: its Sentinel-2 file and label files."""

    s2: Path
    lc: Path | None = None    # MODIS land cover, 4 bands (IGBP, LCCS-LC, LCCS-LU, LCCS-SH): coarse labels
    dfc: Path | None = None   # fine 10 m simplified-IGBP labels
    s1: Path | None = None
    soft: Path | None = None  # a teacher's class probabilities ×255 (+ confidence), bands tagged CLASS_CODES
    scene: str = ""           # e.g. "ROIs1970_fall/4": splits are made by scene
    patch: int = 0

    def labels(self, kind: str) -> np.ndarray:
        """Model class indexes (IGNORE where unknown) from 'coarse' (MODIS IGBP) or 'fine' (DFC) labels, or
        for 'soft' a teacher's probabilities over the 8 model classes (H, W, 8), all 0 where unknown."""
        if kind == "soft":
            return self._soft_labels()
        if kind == "coarse":
            if self.lc is None:
                raise DataError(f"{self.s2}: no lc (MODIS land cover) file for coarse labels")
            return dfc_to_index(igbp_to_dfc(read_raster(self.lc, [1], expect_bands=4)[0]))
        if kind == "fine":
            if self.dfc is None:
                raise DataError(f"{self.s2}: no dfc (fine label) file")
            return dfc_to_index(read_raster(self.dfc, [1], expect_bands=1)[0])
        raise ValueError(f"label kind must be 'coarse', 'fine' or 'soft', not {kind!r}")

    def _soft_labels(self) -> np.ndarray:
        """The teacher's probabilities of its own classes, summed into the model classes their codes become
        (a class with no model index, e.g. Snow/Ice, is dropped) and renormalised."""
        if self.soft is None:
            raise DataError(f"{self.s2}: no soft (teacher probability) file")
        import rasterio

        with rasterio.open(self.soft) as src:
            codes = [int(c) for c in src.tags().get("CLASS_CODES", "").split(",") if c]
            if len(codes) + 1 != src.count:
                raise DataError(f"{self.soft}: its CLASS_CODES tag does not name its {src.count - 1} class bands")
            probabilities = src.read(list(range(1, len(codes) + 1))).astype(np.float32) / 255.0
        out = np.zeros(probabilities.shape[1:] + (N_MODEL_CLASSES,), np.float32)
        for band, index in zip(probabilities, dfc_to_index(np.array(codes, np.uint8))):
            if index != IGNORE:
                out[..., index] += band
        total = out.sum(axis=-1, keepdims=True)
        return np.where(total > 0, out / np.maximum(total, 1e-6), 0).astype(np.float32)

    def image(self, bands: Sequence[str]) -> np.ndarray:
        """DN values (rows, cols, bands) of the selected bands; S2 patches have all 13 bands."""
        data = read_raster(self.s2, band_indexes(S2_BANDS, bands, str(self.s2)), expect_bands=13)
        return np.moveaxis(data, 0, -1)


def sibling_file(folder: Path, tag: str, s2: Path, kind: str) -> Path | None:
    """The `kind` file (lc, dfc, s1) of the patch whose Sentinel-2 file is `s2`, in folder/<kind>_<tag>/, if any."""
    path = folder / f"{kind}_{tag}" / s2.name.replace("_s2_", f"_{kind}_")
    return path if path.exists() else None


def augment(image: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random flips and 90° rotations, applied alike to image and label."""
    k = int(rng.integers(4))
    image, label = np.rot90(image, k, axes=(0, 1)), np.rot90(label, k, axes=(0, 1))
    if rng.random() < 0.5:
        image, label = image[:, ::-1], label[:, ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(label)


class PatchBatches:
    """Streams (image, label) batches from files: only one batch is in memory at a time. Plain Python, so
    evaluating a model on ONNX Runtime or OpenVINO never imports TensorFlow (training wraps it for Keras:
    `ml.datasets.training.PatchDataset`)."""

    def __init__(self, samples: Sequence[Sample], normalisation: Normalisation, labels: str = "fine",
                 batch_size: int = 8, augment: bool = False, shuffle: bool = False, seed: int = 0,
                 inputs: str = "image"):
        """inputs: "image" (normalised bands) or "coarse" (the coarse labels one-hot, for label refinement)."""
        self.inputs = inputs
        if not samples:
            raise DataError("no patches to read (is the data path right?)")
        self.samples = list(samples)
        self.norm = normalisation
        self.label_kind = labels
        self.batch_size = batch_size
        self.augment = augment
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(self.samples))
        if shuffle:
            self.rng.shuffle(self.order)

    def __len__(self) -> int:
        return int(np.ceil(len(self.samples) / self.batch_size))

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        picked = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        images, labels = [], []
        for i in picked:
            sample = self.samples[i]
            if self.inputs == "coarse":
                image = coarse_one_hot(sample.labels("coarse"))
            else:
                image = self.norm.apply(sample.image(self.norm.bands))
            label = sample.labels(self.label_kind)
            if self.augment:
                image, label = augment(image, label, self.rng)
            images.append(image)
            labels.append(label)
        return np.stack(images), np.stack(labels).astype(np.float32 if self.label_kind == "soft" else np.int32)

    def on_epoch_end(self) -> None:
        """Reshuffle between epochs when shuffling."""
        if self.shuffle:
            self.rng.shuffle(self.order)


def load_arrays(samples: Sequence[Sample], normalisation: Normalisation, labels: str) -> tuple[np.ndarray, np.ndarray]:
    """All patches in memory, for small evaluation sets and the bag-of-colours forest."""
    data = PatchBatches(samples, normalisation, labels, batch_size=len(samples))
    return data[0]


def sample_pixels(samples: Sequence[Sample], bands: Sequence[str], per_patch: int = 2000, seed: int = 0) -> np.ndarray:
    """Random DN pixels (N, bands) from the patches, for fitting the normalisation."""
    rng = np.random.default_rng(seed)
    out = []
    for sample in samples:
        image = sample.image(bands).reshape(-1, len(bands))
        out.append(image[rng.choice(len(image), size=min(per_patch, len(image)), replace=False)])
    return np.concatenate(out)

