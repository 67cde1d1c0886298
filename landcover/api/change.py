"""Change between two stored maps of one place: POST the two maps (catalogue maps, areas, your uploads) and
an optional confidence threshold; follow the job; read the transition matrix (ha and %), each class's net
change and the biggest transitions; download the change COG, the matrix (JSON, CSV) and a chart; view the
change as XYZ tiles. Two maps from different models are flagged: part of their difference is the models'."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from ..errors import InvalidInput
from ..jobs import change as jobs
from ..jobs import products
from ..jobs.products import StoredMap
from ..models import ChangeMap
from .factory import LIST_PARAMETERS, Detail, Resource, detail_url, links, own_list, own_list_responses
from .limits import count_new_computation
from .params import probability
from .serializers import ChangePageSerializer, ChangeSerializer, job_answer

DIFFERENT_MODELS = ("The two maps come from different models ({before} and {after}): part of the change shown is the "
                    "models' disagreement, not the land's. Compare maps of one model to measure change.")
MAP_REF = {"type": "object", "properties": {"kind": {"type": "string", "description": "a land-cover kind: map, "
                                                                                      "area, upload, …"},
                                            "id": {"type": "integer"}}, "required": ["kind", "id"]}


def map_ref(request, field: str) -> StoredMap:
    """One of the two maps of the request, done and visible to the requester (any land-cover kind of the
    product registry)."""
    value = request.data.get(field) if hasattr(request.data, "get") else None
    kinds = products.land_cover_kinds()
    if not isinstance(value, dict) or value.get("kind") not in kinds or \
            not isinstance(value.get("id"), int) or isinstance(value.get("id"), bool) or value["id"] < 1:
        raise InvalidInput(field, f'Give {field} as {{"kind": {" | ".join(repr(k) for k in kinds)}, "id": N}}.')
    return products.stored_map(value["kind"], value["id"], request.user)


def change_representation(change: ChangeMap, request) -> dict:
    """A change job: status while it runs, then the matrix, classes, biggest changes, flags and links."""
    url = detail_url(jobs.CHANGE_PRODUCT, change.pk, request)
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
        data["warnings"] = change.warnings
        data["change"] = change.change
        data["links"] = links(jobs.CHANGE_PRODUCT, change, url)
    return data


class ChangeList(APIView):
    """GET: your changes (those of your uploads), newest first, paginated. POST: compare two done maps of one
    place: 202 and the job URL (200 with the result when asked before)."""

    @extend_schema(operation_id="v1_changes_list", parameters=LIST_PARAMETERS,
                   responses=own_list_responses(ChangePageSerializer))
    def get(self, request):
        return own_list(jobs.CHANGE_PRODUCT, request, change_representation)

    @extend_schema(
        operation_id="v1_changes_create",
        request={"application/json": {"type": "object", "properties": {
            "before": MAP_REF, "after": MAP_REF,
            "min_confidence": {"type": "number", "description": "compare only pixels both models were this sure of"}},
            "required": ["before", "after"]}},
        responses={200: ChangeSerializer, 202: ChangeSerializer,
                   400: OpenApiResponse(description="Not two overlapping maps"),
                   404: OpenApiResponse(description="No such map"), 409: OpenApiResponse(description="Not done")},
        examples=[OpenApiExample("two dates of an area", request_only=True, value={
            "before": {"kind": "area", "id": 1}, "after": {"kind": "area", "id": 2}, "min_confidence": 0.5})])
    def post(self, request):
        before, after = map_ref(request, "before"), map_ref(request, "after")
        threshold = probability(request.data.get("min_confidence"))
        change, _ = jobs.request_change(before, after, threshold, request.user,
                                        before_new=lambda: count_new_computation(request))
        return job_answer(change_representation(change, request), change.status == ChangeMap.Status.DONE)


class ChangeDetail(Detail):
    """A change's status, then its transition matrix, classes, biggest changes and links."""

    @extend_schema(responses={200: ChangeSerializer, 404: OpenApiResponse(description="No such change")})
    def get(self, request, pk: int):
        return Response(change_representation(self.row(request, pk), request))


RESOURCE = Resource(represent=change_representation, detail=ChangeDetail)
