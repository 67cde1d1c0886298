"""Request bodies are refused by their size before anything of them is read or written to disk.

Why: Django streams a multipart file to FILE_UPLOAD_TEMP_DIR before any view can look at its size, so an
anonymous 300 MB post to /api/v1/areas/ (whose files may be 5 MB) was written to disk in full, and a restart
mid-upload left it there. This middleware compares the declared Content-Length with the limit of the route
(a user's image, an area or reference-point file, anything else) and answers 413 at once, so a large body is
never read; a body without a Content-Length is not read by Django at all (its multipart parser reads exactly
Content-Length bytes), and an upload handler stops one that would still exceed the limit while streaming.
"""
from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler
from django.http import JsonResponse

from ml import submissions

MULTIPART_SLACK = 64 * 1024  # form fields and part headers beside the file
AREA_FILES = re.compile(r"^/api/v1/(areas/|[a-z]+/\d+/accuracy/|legends/\d+/samples/)$")
UNIT_FILES = re.compile(r"^/api/v1/[a-z]+/\d+/units/$")
SUBMISSIONS = re.compile(r"^/(api/v1/benchmarks|competitions)/[-\w]+/(submissions|submit)/$")


def limit_for(path: str) -> int:
    """The largest body accepted on a route, bytes."""
    if path == "/api/v1/uploads/":
        return settings.UPLOAD_MAX_MB * 1024 * 1024 + MULTIPART_SLACK
    if AREA_FILES.match(path):
        return settings.AREA_MAX_FILE_KB * 1024 + MULTIPART_SLACK
    if UNIT_FILES.match(path):
        return settings.UNITS_MAX_FILE_KB * 1024 + MULTIPART_SLACK
    if SUBMISSIONS.match(path):
        return submissions.MAX_BYTES + submissions.MAX_CARD_BYTES + MULTIPART_SLACK
    return settings.MAX_BODY_KB * 1024


class LimitedUpload(FileUploadHandler):
    """Stops a multipart body that streams past the route's limit (defence behind the Content-Length check)."""

    def __init__(self, request=None, limit: int = 0) -> None:
        super().__init__(request)
        self.limit = limit

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            raise RequestDataTooBig(f"The request body is over the {self.limit:,} bytes this address accepts.")
        return raw_data

    def file_complete(self, file_size):
        return None


class BodySizeLimit:
    """Answer 413 to a body declared larger than its route accepts; bound the rest while they stream."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if request.method in ("POST", "PUT", "PATCH"):
            limit = limit_for(request.path)
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0
            if declared > limit:
                return JsonResponse({"detail": f"The request body is {declared:,} bytes; this address accepts at "
                                               f"most {limit:,}. Nothing was kept."}, status=413)
            request.upload_handlers.insert(0, LimitedUpload(request, limit))
        return self.get_response(request)
