"""Users' uploads: only the owner sees, downloads, tiles, cancels or deletes an upload (anybody else
gets 404, as if it did not exist). Every problem with a file is a 400 saying what is wrong."""
from __future__ import annotations

from functools import partial

from django.conf import settings
from django.shortcuts import get_object_or_404
from django_ratelimit.core import is_ratelimited
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import parsers, permissions, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from ..catalogue.registry import find_model
from ..errors import LimitReached
from ..jobs import uploads
from ..jobs.inference import PROBABILITIES, confident_statistics
from ..models import Upload
from .files import (
    DOWNLOAD_RESPONSES,
    TILE_RESPONSES,
    FileView,
    check_download,
    download,
    download_suffix,
    statistics_rows,
)
from .params import MIN_CONFIDENCE, check_tile, min_confidence
from .serializers import UploadSerializer, upload_representation
from .tiles import render_confidence_tile, tile_response


def own(request, pk: int) -> Upload:
    """The requesting user's upload with this id, or 404 (also for anybody else's)."""
    return get_object_or_404(Upload.objects.select_related("model_version"), pk=pk, owner=request.user)


class UploadList(APIView):
    """Your uploads (newest first); POST a Sentinel-2 GeoTIFF or a zip of band GeoTIFFs (`file`, optional
    `model`) to map it: 202 with the job URL. Every problem with the file is a 400 saying what is wrong."""
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [parsers.MultiPartParser]

    @extend_schema(operation_id="v1_uploads_list", responses=UploadSerializer(many=True))
    def get(self, request):
        return Response([upload_representation(u, request) for u in
                         Upload.objects.filter(owner=request.user).select_related("model_version")[:200]])

    @extend_schema(request={"multipart/form-data": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}, "model": {"type": "string"}}, "required": ["file"]}},
        responses={202: UploadSerializer, 429: OpenApiResponse(description="A per-user limit was reached"),
                   503: OpenApiResponse(description="No model is registered")})
    def post(self, request):
        if is_ratelimited(request, group="upload-attempts", key="user", rate=settings.UPLOAD_RATE, increment=True):
            raise LimitReached(f"You have sent the most uploads allowed in a while ({settings.UPLOAD_RATE}, refused "
                               "ones included); wait before sending another.")
        file = request.FILES.get("file")
        if file is None:
            raise ValidationError({"file": ["Attach the image as the form field `file` (multipart/form-data)."]})
        version = find_model(request.data.get("model"))
        if version.card.get("input") == "coarse":
            raise ValidationError({"model": f"{version.name} refines MODIS land-cover maps and cannot map an image; "
                                            "choose a model that reads Sentinel-2 bands."})
        upload = uploads.accept_upload(request.user, file, version)
        data = upload_representation(upload, request)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


class UploadDetail(APIView):
    """One of your uploads: status and % progress while it runs, then statistics and links. DELETE removes
    it and its files."""
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=UploadSerializer)
    def get(self, request, pk: int):
        return Response(upload_representation(own(request, pk), request))

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        uploads.delete(own(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UploadCancel(APIView):
    """Cancel a queued or running job."""
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: UploadSerializer, 409: OpenApiResponse(description="Already over")})
    def post(self, request, pk: int):
        upload = own(request, pk)
        uploads.cancel_or_refuse(upload)
        upload.refresh_from_db()
        return Response(upload_representation(upload, request))


def _statistics_payload(upload: Upload, confidence: float | None) -> dict:
    payload = {"upload": upload.pk, "name": upload.original_name, "model": upload.model_version.name,
               "classes": upload.statistics}
    if confidence is not None:
        payload["classes"], payload["uncertain"] = confident_statistics(uploads.upload_folder(upload),
                                                                        upload.statistics, confidence)
    return payload


class UploadFile(FileView):
    """Downloads of your upload's map: map.tif (COG), probabilities.tif (class probabilities and confidence, COG),
    preview.png, statistics.csv, statistics.json (min_confidence: less sure pixels counted as 'uncertain')."""
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(operation_id="v1_uploads_download", parameters=[MIN_CONFIDENCE], responses=DOWNLOAD_RESPONSES)
    def get(self, request, pk: int, name: str):
        check_download(name)
        confidence = min_confidence(request)
        upload = uploads.done(own(request, pk))
        stem = upload.original_name.rsplit(".", 1)[0][:80] or "upload"
        payload = _statistics_payload(upload, confidence if name.startswith("statistics") else None)
        return download(name, statistics_rows(payload["classes"], payload.get("uncertain")), lambda: payload,
                        lambda n: uploads.upload_folder(upload) / n, f"{stem}-landcover{download_suffix(name)}",
                        "private, max-age=3600", request)


class UploadTile(FileView):
    """XYZ PNG tile of your upload's map."""
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=TILE_RESPONSES)
    def get(self, request, pk: int, z: int, x: int, y: int):
        check_tile(z, x, y)
        upload = uploads.done(own(request, pk))
        return tile_response(z, x, y, f"upload-tile:{upload.token}:{z}/{x}/{y}",
                             lambda: uploads.upload_folder(upload) / "map.tif", "private, max-age=3600")


class UploadConfidenceTile(FileView):
    """XYZ PNG tile of your upload's per-pixel confidence (with min_confidence: only the pixels below it)."""
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(parameters=[MIN_CONFIDENCE], responses=TILE_RESPONSES)
    def get(self, request, pk: int, z: int, x: int, y: int):
        check_tile(z, x, y)
        confidence = min_confidence(request)
        upload = uploads.done(own(request, pk))
        return tile_response(z, x, y, f"upload-confidence-{confidence}:{upload.token}:{z}/{x}/{y}",
                             lambda: uploads.upload_folder(upload) / PROBABILITIES, "private, max-age=3600",
                             partial(render_confidence_tile, min_confidence=confidence))
