"""File downloads of stored results, for every product (`landcover.api.factory`): COGs with byte ranges, the
PNG preview, and the statistics rendered as CSV or JSON. Errors stay JSON whatever the client accepts."""
from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header, http_date
from rest_framework import renderers
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import storage
from ..errors import NotFound

STATISTICS_COLUMNS = ["code", "name", "colour", "pixels", "percent", "area_km2", "area_ha"]


class BinaryRenderer(renderers.BaseRenderer):
    """Lets file and tile views accept any Accept header; they return their own HttpResponse."""
    media_type = "*/*"
    format = "bin"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if data is not None else b""


class FileView(APIView):
    """Files on success; errors still as JSON with a message, whatever the client accepts."""
    renderer_classes = [BinaryRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):
            request.accepted_renderer = renderers.JSONRenderer()
            request.accepted_media_type = "application/json"
        return super().finalize_response(request, response, *args, **kwargs)


def statistics_rows(rows: list[dict], uncertain: dict | None) -> list[dict]:
    """The statistics as CSV rows: the classes, then (with min_confidence) the uncertain pixels as code 0."""
    if uncertain is None:
        return rows
    return [*rows, {"code": 0, "name": f"uncertain (confidence < {uncertain['min_confidence']})", "colour": "",
                    "pixels": uncertain["pixels"], "percent": uncertain["percent"],
                    "area_km2": uncertain["area_km2"], "area_ha": round(uncertain["area_km2"] * 100, 4)}]


RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def ranged_file(request, path: Path, content_type: str) -> HttpResponseBase:
    """The file at `path` for a GET or HEAD, whole (200) or one byte range of it (206; `bytes=a-b`, `a-` or
    `-n`), so GDAL's /vsicurl/ and QGIS read a COG's header and the tiles they need without fetching the whole
    file. One range per request: several (multipart/byteranges) are refused with 416 saying so, as is a range
    outside the file."""
    found = storage.stat(path)
    size = found.size
    header = request.META.get("HTTP_RANGE", "").strip()
    response: HttpResponseBase
    start, end = 0, size - 1
    partial = False
    if header:
        match = RANGE.fullmatch(header.replace(" ", ""))
        if "," in header or match is None or match.groups() == ("", ""):
            response = JsonResponse({"detail": "One byte range per request (Range: bytes=START-END); several ranges "
                                               "in one request are not served."}, status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        first, last = match.groups()
        if first:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
        else:  # the last n bytes
            start, end = max(0, size - int(last)), size - 1
        if start >= size or start > end:
            response = JsonResponse({"detail": f"The range {header[:60]} is outside the file ({size} bytes)."},
                                    status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        partial = True
    length = end - start + 1
    if request.method == "HEAD":
        response = HttpResponse(b"", content_type=content_type, status=206 if partial else 200)
    else:
        response = StreamingHttpResponse(storage.chunks(path, start, length), content_type=content_type,
                                         status=206 if partial else 200)
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Last-Modified"] = http_date(found.mtime)
    if partial:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response


def download(name: str, media: str, rows: list[dict], payload: Callable[[], dict], path_of: Callable[[str], Path],
             filename: str, cache_control: str, request=None) -> HttpResponseBase:
    """One file of a stored result: statistics rendered here (CSV from `rows`, JSON from `payload`), files
    streamed from storage (with HEAD and single byte ranges when the request is given). The file name is
    quoted as RFC 6266 says, whatever characters it holds."""
    response: HttpResponseBase
    if name == "statistics.csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, STATISTICS_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    elif name == "statistics.json":
        response = HttpResponse(json.dumps(payload(), indent=1), content_type="application/json")
    else:
        path = path_of(name)
        if not storage.exists(path):
            raise NotFound("The result's file is missing on the server; an administrator has been told.")
        if request is not None:
            response = ranged_file(request, path, media)
        else:
            response = StreamingHttpResponse(storage.chunks(path, 0, storage.stat(path).size), content_type=media)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = cache_control
    return response
