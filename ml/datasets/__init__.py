"""Readers for SEN12MS, DFC2020 and the synthetic trees, and streaming Keras batches."""
from .common import PatchDataset, Sample, load_arrays
from .dfc2020 import scan_dfc2020
from .sen12ms import scan_sen12ms, split_by_scene

__all__ = ["PatchDataset", "Sample", "load_arrays", "scan_dfc2020", "scan_sen12ms", "split_by_scene"]
