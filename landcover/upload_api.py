"""REST API of users' uploads: only the owner sees, downloads, tiles, cancels or deletes an upload
(anybody else gets 404, as if it did not exist)."""
from __future__ import annotations


from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import parsers, permissions, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from . import uploads
from .api import (FileView, MapNotReady, check_download, check_tile, download, download_suffix, model_from,
                  tile_response)
from .models import Upload


class TooMany(APIException):
    status_code = 429
    default_detail = "Limit reached."


def own(request, pk: int) -> Upload:
    return get_object_or_404(Upload.objects.select_related("model_version"), pk=pk, owner=request.user)


def representation(upload: Upload, request) -> dict:
    url = request.build_absolute_uri(reverse("api:upload-detail", args=[upload.pk]))
    data = {"id": upload.pk, "url": url, "name": upload.original_name, "status": upload.status,
            "progress": upload.progress, "model": upload.model_version.name,
            "synthetic_model": upload.model_version.synthetic_training, "width": upload.width,
            "height": upload.height, "bands": upload.bands, "crs": upload.crs,
            "bounds": list(upload.footprint.extent), "size_bytes": upload.size_bytes,
            "created_at": upload.created_at, "finished_at": upload.finished_at, "seconds": upload.seconds}
    if upload.status in (Upload.Status.QUEUED, Upload.Status.RUNNING):
        data["cancel"] = url + "cancel/"
    if upload.status == Upload.Status.FAILED:
        data["error"] = upload.error
    if upload.status == Upload.Status.DONE:
        data["statistics"] = upload.statistics
        data["links"] = {"cog": url + "map.tif", "png": url + "preview.png", "tiles": url + "tiles/{z}/{x}/{y}.png",
                         "statistics_csv": url + "statistics.csv", "statistics_json": url + "statistics.json"}
    return data


class UploadList(APIView):
    """Your uploads (newest first); POST a Sentinel-2 GeoTIFF or a zip of band GeoTIFFs (`file`, optional
    `model`) to map it: 202 with the job URL. Every problem with the file is a 400 saying what is wrong."""
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [parsers.MultiPartParser]

    @extend_schema(operation_id="v1_uploads_list", responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response([representation(u, request) for u in
                         Upload.objects.filter(owner=request.user).select_related("model_version")[:200]])

    @extend_schema(request={"multipart/form-data": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}, "model": {"type": "string"}}, "required": ["file"]}},
        responses={202: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT, 429: OpenApiTypes.OBJECT})
    def post(self, request):
        file = request.FILES.get("file")
        if file is None:
            raise ValidationError({"file": ["Attach the image as the form field `file` (multipart/form-data)."]})
        version = model_from(request.data.get("model"))
        if version.card.get("input") == "coarse":
            raise ValidationError({"model": f"{version.name} refines MODIS land-cover maps and cannot map an image; "
                                            "choose a model that reads Sentinel-2 bands."})
        try:
            upload = uploads.accept_upload(request.user, file, version)
        except uploads.LimitReached as exc:
            raise TooMany(str(exc)) from None
        except uploads.UploadError as exc:
            raise ValidationError({"file": [str(exc)]}) from None
        data = representation(upload, request)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


class UploadDetail(APIView):
    """One of your uploads: status and % progress while it runs, then statistics and links. DELETE removes
    it and its files."""
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk: int):
        return Response(representation(own(request, pk), request))

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        upload = own(request, pk)
        uploads.cancel(upload)
        uploads.delete(upload)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UploadCancel(APIView):
    """Cancel a queued or running job."""
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk: int):
        upload = own(request, pk)
        if not uploads.cancel(upload):
            raise MapNotReady(f"Upload {pk} is {upload.status}; only queued or running jobs can be cancelled.")
        upload.refresh_from_db()
        return Response(representation(upload, request))


def done(request, pk: int) -> Upload:
    upload = own(request, pk)
    if upload.status != Upload.Status.DONE:
        raise MapNotReady(f"Upload {pk} is {upload.status} ({upload.progress} %); its map is not ready.")
    return upload


class UploadFile(FileView):
    """Downloads of your upload's map: map.tif (COG), preview.png, statistics.csv, statistics.json."""
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(operation_id="v1_uploads_download", responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, pk: int, name: str):
        check_download(name)
        upload = done(request, pk)
        stem = upload.original_name.rsplit(".", 1)[0][:80] or "upload"
        payload = lambda: {"upload": upload.pk, "name": upload.original_name,  # noqa: E731
                           "model": upload.model_version.name, "classes": upload.statistics}
        return download(name, upload.statistics, payload, lambda n: uploads.upload_folder(upload) / n,
                        f"{stem}-landcover{download_suffix(name)}", "private, max-age=3600")


class UploadTile(FileView):
    """XYZ PNG tile of your upload's map."""
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, pk: int, z: int, x: int, y: int):
        check_tile(z, x, y)
        upload = done(request, pk)
        return tile_response(z, x, y, f"upload-tile:{upload.token}:{z}/{x}/{y}",
                             lambda: uploads.upload_folder(upload) / "map.tif", "private, max-age=3600")
