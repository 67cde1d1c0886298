"""Point GeoDjango at the GDAL and GEOS that the rasterio wheel bundles.

Why: Debian 12 ships GDAL 3.6, and Django (5.2.19+) needs GDAL >= 3.9 to stop
crafted spatial-reference strings from reading files or making requests
(check gis.W001). The rasterio wheel, which ml/ needs anyway, carries GDAL 3.10
and GEOS 3.14. Using those libraries for GeoDjango too also means one GDAL in
each process instead of two of different versions.

The bundled libgdal finds its own dependencies through rasterio's extension
module, so rasterio is imported first; dlopen() of the same file then returns
the already-loaded library. GDAL_LIBRARY_PATH / GEOS_LIBRARY_PATH in the
environment override this (e.g. for a source build of rasterio).
"""
from __future__ import annotations

import os
from pathlib import Path


def _bundled(pattern: str) -> str | None:
    try:
        import rasterio
    except ImportError:
        return None
    libs = Path(rasterio.__file__).resolve().parent.parent / "rasterio.libs"
    matches = sorted(libs.glob(pattern))
    return str(matches[0]) if matches else None


def load_pyproj_first() -> None:
    """Import pyproj before SpatiaLite is loaded.

    pyproj's wheel bundles its own PROJ and SQLite; mod_spatialite links Debian's.
    If mod_spatialite is loaded first, the process aborts at exit with heap
    corruption ("double free or corruption") once pyproj has been used (rio-cogeo
    and rio-tiler use it through morecantile). Loaded the other way round, each
    library binds to its own copies. Measured: exit crash 3 of 3 runs before, 0 after.
    """
    try:
        import pyproj  # noqa: F401  (loads pyproj's PROJ and SQLite first)
    except ImportError:
        pass


def library_paths() -> tuple[str | None, str | None]:
    gdal = os.environ.get("GDAL_LIBRARY_PATH") or _bundled("libgdal-*.so*")
    geos = os.environ.get("GEOS_LIBRARY_PATH") or _bundled("libgeos_c-*.so*")
    return gdal, geos
