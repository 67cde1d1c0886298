"""Patch batches as a Keras dataset, for training alone: importing it imports Keras (and TensorFlow)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from ..bands import Normalisation
from .common import PatchBatches, Sample


class PatchDataset(PatchBatches, keras.utils.PyDataset):
    """`PatchBatches` that Keras's fit() reads (workers and multiprocessing options as keyword arguments)."""

    def __init__(self, samples: Sequence[Sample], normalisation: Normalisation, labels: str = "fine",
                 batch_size: int = 8, augment: bool = False, shuffle: bool = False, seed: int = 0,
                 inputs: str = "image", **kwargs: Any):
        """As PatchBatches; `kwargs` go to keras.utils.PyDataset."""
        keras.utils.PyDataset.__init__(self, **kwargs)
        PatchBatches.__init__(self, samples, normalisation, labels, batch_size, augment, shuffle, seed, inputs)
