"""Users' uploads: POST a Sentinel-2 GeoTIFF (or a zip of band GeoTIFFs) to map it, list one's own, delete one.
Only the owner sees an upload and everything made of it (anybody else gets 404, as if it did not exist; the
access rule is the registry's, `landcover.jobs.uploads.UploadProduct`). Every problem with a file is a 400
saying what is wrong. Files, tiles, statistics, cancel and the rest come from `landcover.api.factory`."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import parsers, permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..catalogue.registry import find_model
from ..errors import InvalidInput
from ..jobs import uploads
from ..models import Upload
from .factory import Detail, Resource
from .limits import count_file_sent
from .serializers import UploadSerializer, upload_representation


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
        responses={202: UploadSerializer, 400: OpenApiResponse(description="The file or a parameter is wrong"),
                   429: OpenApiResponse(description="A per-user limit was reached"),
                   503: OpenApiResponse(description="No model is registered")})
    def post(self, request):
        count_file_sent(request, "upload-attempts", "uploads")
        file = request.FILES.get("file")
        if file is None:
            raise InvalidInput("file", "Attach the image as the form field `file` (multipart/form-data).")
        upload = uploads.accept_upload(request.user, file, find_model(request.data.get("model"), user=request.user))
        data = upload_representation(upload, request)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


class UploadDetail(Detail):
    """One of your uploads: status and % progress while it runs, then statistics and links. DELETE removes
    it and its files."""

    @extend_schema(responses={200: UploadSerializer, 404: OpenApiResponse(description="No such upload of yours")})
    def get(self, request, pk: int):
        return Response(upload_representation(self.row(request, pk), request))

    @extend_schema(responses={204: None, 404: OpenApiResponse(description="No such upload of yours")})
    def delete(self, request, pk: int):
        uploads.delete(self.row(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


RESOURCE = Resource(represent=upload_representation, detail=UploadDetail)
