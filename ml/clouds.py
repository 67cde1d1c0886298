"""Cloud masks of Sentinel-2 pixels: s2cloudless for L1C, the scene classification band (SCL) for L2A.

Why apart from the mosaic: a mask is a property of one acquisition's pixels, used when choosing scenes,
building mosaics and, later, compositing dates; keeping the detector and the SCL codes here gives them one
definition.
"""
from __future__ import annotations

from typing import Any

import numpy as np

CLOUD_RESOLUTION = 60.0    # metres: s2cloudless runs here (it was trained on 160 m; 60 m keeps small clouds)
SCL_CLOUD = (3, 8, 9, 10)  # cloud shadow, cloud medium / high probability, thin cirrus
SCL_NODATA = 0
S2CLOUDLESS_BANDS = ("B1", "B2", "B4", "B5", "B8", "B8A", "B9", "B10", "B11", "B12")

_detector: Any = None


def s2cloudless_mask(dns: np.ndarray) -> np.ndarray:
    """Cloud mask (rows, cols) of L1C DNs (10, rows, cols) in the band order of S2CLOUDLESS_BANDS, by
    s2cloudless at its documented settings for ~60–160 m pixels (threshold 0.4, average over 4, dilate 2)."""
    global _detector
    if _detector is None:
        # Imported here: LightGBM and OpenCV load only when an L1C scene needs a cloud mask.
        from s2cloudless import S2PixelCloudDetector
        _detector = S2PixelCloudDetector(threshold=0.4, average_over=4, dilation_size=2, all_bands=False)
    valid = np.all(dns > 0, axis=0)
    if not valid.any():
        return np.zeros(valid.shape, bool)
    reflectance = np.moveaxis(np.clip(dns / 10000.0, 0, 1), 0, -1)[None].astype(np.float32)
    return (_detector.get_cloud_masks(reflectance)[0] > 0) & valid
