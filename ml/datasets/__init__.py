"""Readers for SEN12MS, DFC2020 and the synthetic trees, and streaming patch batches (Keras's wrapper for training
lives in ml.datasets.training, so reading and evaluating never import TensorFlow)."""
from .common import PatchBatches, Sample, load_arrays
from .dfc2020 import scan_dfc2020
from .sen12ms import scan_sen12ms, split_by_scene

__all__ = ["PatchBatches", "Sample", "load_arrays", "scan_dfc2020", "scan_sen12ms", "split_by_scene"]
