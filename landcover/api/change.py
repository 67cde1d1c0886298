"""Change between two stored maps of one place: POST the two maps (catalogue maps, areas, your uploads) and
an optional confidence threshold; follow the job; read the transition matrix (ha and %), each class's net
change and the biggest transitions; download the change COG, the matrix (JSON, CSV) and a chart; view the
change as XYZ tiles. Two maps from different models are flagged: part of their difference is the models'."""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from ..errors import InvalidInput, NotFound
from ..jobs import change as jobs
from ..jobs.stored import StoredMap
from ..models import ChangeMap
from .accuracy import visible_map
from .files import TILE_RESPONSES, FileView, check_download, download
from .maps import count_new_computation
from .params import check_tile
from .serializers import job_answer
from .tiles import render_palette_tile, tile_response

CHANGE_DOWNLOADS = {"change.tif": "image/tiff", "transitions.json": "application/json",
                    "transitions.csv": "text/csv", "chart.png": "image/png"}
DIFFERENT_MODELS = ("The two maps come from different models ({before} and {after}): part of the change shown is the "
                    "models' disagreement, not the land's. Compare maps of one model to measure change.")
MAP_REF = {"type": "object", "properties": {"kind": {"type": "string", "enum": ["map", "area", "upload"]},
                                            "id": {"type": "integer"}}, "required": ["kind", "id"]}


def map_ref(request, field: str) -> StoredMap:
    """One of the two maps of the request, done and visible to the requester."""
    value = request.data.get(field) if hasattr(request.data, "get") else None
    if not isinstance(value, dict) or value.get("kind") not in ("map", "area", "upload") or \
            not isinstance(value.get("id"), int) or isinstance(value.get("id"), bool) or value["id"] < 1:
        raise InvalidInput(field, f'Give {field} as {{"kind": "map" | "area" | "upload", "id": N}}.')
    return visible_map(request, value["kind"], value["id"])


def get_change(request, pk: int) -> ChangeMap:
    """The change with this id, if the requester may see it (one involving an upload: its owner only)."""
    change = get_object_or_404(ChangeMap, pk=pk)
    if change.owner_id is not None and change.owner_id != getattr(request.user, "pk", None):
        raise NotFound(f"No change {pk}.")
    return change


def change_representation(change: ChangeMap, request) -> dict:
    """A change job: status while it runs, then the matrix, classes, biggest changes, flags and links."""
    url = request.build_absolute_uri(reverse("api:change-detail", args=[change.pk]))
    used = change.models_used
    data = {"id": change.pk, "url": url, "status": change.status, "progress": change.progress,
            "before": {"kind": change.before_kind, "id": change.before_id},
            "after": {"kind": change.after_kind, "id": change.after_id},
            "min_confidence": change.min_confidence, "models": used, "different_models": change.different_models,
            "bounds": change.bounds, "created_at": change.created_at, "finished_at": change.finished_at,
            "seconds": change.seconds}
    if change.different_models:
        data["warning"] = DIFFERENT_MODELS.format(before=used.get("before"), after=used.get("after"))
    if change.status in (ChangeMap.Status.FAILED, ChangeMap.Status.CANCELLED):
        data["error"] = change.error or change.status
    if change.status == ChangeMap.Status.DONE:
        data["change"] = change.change
        data["links"] = {"cog": url + "change.tif", "transitions_json": url + "transitions.json",
                         "transitions_csv": url + "transitions.csv", "chart": url + "chart.png",
                         "tiles": url + "tiles/{z}/{x}/{y}.png"}
    return data


class ChangeList(APIView):
    """Compare two done maps of one place: 202 and the job URL (200 with the result when asked before)."""

    @extend_schema(
        operation_id="v1_changes_create",
        request={"application/json": {"type": "object", "properties": {
            "before": MAP_REF, "after": MAP_REF,
            "min_confidence": {"type": "number", "description": "compare only pixels both models were this sure of"}},
            "required": ["before", "after"]}},
        responses={200: OpenApiResponse(description="Stored"), 202: OpenApiResponse(description="Queued"),
                   400: OpenApiResponse(description="Not two overlapping maps"),
                   404: OpenApiResponse(description="No such map"), 409: OpenApiResponse(description="Not done")},
        examples=[OpenApiExample("two dates of an area", request_only=True, value={
            "before": {"kind": "area", "id": 1}, "after": {"kind": "area", "id": 2}, "min_confidence": 0.5})])
    def post(self, request):
        before, after = map_ref(request, "before"), map_ref(request, "after")
        threshold = request.data.get("min_confidence")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                      or not 0 < threshold <= 1):
            raise InvalidInput("min_confidence", "min_confidence must be a probability above 0, at most 1.")
        change, _ = jobs.request_change(before, after, threshold, request.user,
                                        before_new=lambda: count_new_computation(request))
        return job_answer(change_representation(change, request), change.status == ChangeMap.Status.DONE)


class ChangeDetail(APIView):
    """A change's status, then its transition matrix, classes, biggest changes and links."""

    @extend_schema(responses={200: OpenApiResponse(description="The change")})
    def get(self, request, pk: int):
        return Response(change_representation(get_change(request, pk), request))


class ChangeFile(FileView):
    """Downloads: change.tif (COG, codes (from − 1) × 10 + to, colour table), transitions.json,
    transitions.csv, chart.png."""

    @extend_schema(operation_id="v1_changes_download", responses={
        (200, "image/tiff"): OpenApiTypes.BINARY, (200, "image/png"): OpenApiTypes.BINARY,
        (200, "text/csv"): OpenApiTypes.STR, (200, "application/json"): OpenApiTypes.OBJECT,
        404: OpenApiResponse(description="No such file or change"), 409: OpenApiResponse(description="Not done")})
    def get(self, request, pk: int, name: str):
        check_download(name, CHANGE_DOWNLOADS)
        change = jobs.done(get_change(request, pk))
        folder = jobs.change_folder(change)
        return download(name, [], lambda: change.change, lambda n: folder / n, f"change-{change.pk}-{name}",
                        "private, max-age=3600" if change.owner_id else "public, max-age=3600", request)


class ChangeTile(FileView):
    """XYZ PNG tiles of the change map in its colours (unchanged grey, changed in the colour of the new class)."""

    @extend_schema(responses=TILE_RESPONSES)
    def get(self, request, pk: int, z: int, x: int, y: int):
        check_tile(z, x, y)
        change = jobs.done(get_change(request, pk))
        folder = jobs.change_folder(change)
        return tile_response(z, x, y, f"change:{change.token}:{z}/{x}/{y}", lambda: folder / "change.tif",
                             "private, max-age=3600" if change.owner_id else "public, max-age=3600",
                             render_palette_tile)
