"""Small files made on the fly for upload tests, and the checks every refused upload must pass."""
from __future__ import annotations

import io
import zipfile

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from rasterio.io import MemoryFile
from rasterio.transform import from_origin

from landcover.jobs import uploads
from landcover.models import Upload


def tiff(count=13, dtype="uint16", width=64, height=64, crs="EPSG:32632", fill=None, transform=None, data=None,
         **extra) -> bytes:
    """The bytes of a GeoTIFF (10 m pixels at 500000, 5300000 unless `transform` says otherwise), filled with
    `fill` or holding `data` (bands, rows, columns)."""
    with MemoryFile() as mem:
        profile = dict(driver="GTiff", width=width, height=height, count=count, dtype=dtype, **extra)
        if crs:
            profile.update(crs=crs, transform=transform or from_origin(500000, 5300000, 10, 10))
        with mem.open(**profile) as dst:
            if fill is not None:
                dst.write(np.full((count, height, width), fill, dtype=dtype))
            if data is not None:
                dst.write(data.astype(dtype))
        return mem.read()


def zipped(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def post(client, name: str, data: bytes, **extra):
    return client.post("/api/v1/uploads/", {"file": SimpleUploadedFile(name, data), **extra}, format="multipart")


def nothing_kept() -> bool:
    """No upload row, and no file under the uploads folder."""
    root = uploads.UPLOAD_PRODUCT.root()
    leftovers = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
    return not Upload.objects.exists() and not leftovers
