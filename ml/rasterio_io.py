"""Small rasterio helpers whose errors always name the file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import RasterioError


class DataError(ValueError):
    """A data file is missing, unreadable or not what it should be; the message names it."""


def read_raster(path: Path, indexes: list[int] | None = None, expect_bands: int | None = None,
                window=None) -> np.ndarray:
    """Read bands as (bands, rows, cols), checking the band count first."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        with rasterio.open(path) as src:
            if expect_bands is not None and src.count != expect_bands:
                raise DataError(f"{path}: has {src.count} band(s), expected {expect_bands}")
            return src.read(indexes, window=window)
    except DataError:
        raise
    except (RasterioError, OSError) as exc:
        raise DataError(f"{path}: cannot be read as a GeoTIFF ({exc})") from exc
