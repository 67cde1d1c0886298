"""Land-cover maps of catalogue patches: ask for the low- (MODIS) or high-resolution (model) map of a
place and follow its job; retry a failed one. Views never compute a map: they queue it and answer 202.
Everything else a stored map offers (files, tiles, statistics, WMTS, vectors, accuracy) is built for
every product by `landcover.api.factory` from the registry entry in `landcover.jobs.maps`."""
from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..catalogue.registry import find_model
from ..errors import InvalidInput, NotReady
from ..jobs import maps, products
from ..models import LandCoverMap
from .factory import Detail, Resource
from .limits import count_new_computation
from .params import DATASET, LAT, LON, MODEL, PATCH
from .places import find_patch
from .serializers import MapSerializer, job_answer, map_representation


class MapForPoint(APIView):
    """The low- (MODIS) or high-resolution (model) map of the patch at a point, or of `patch`.
    200 with statistics and links when stored; 202 and the job URL (also in Location) while it is computed:
    poll that URL. A map is computed once and stored; everybody asking gets the same one."""
    resolution = "high"

    @extend_schema(parameters=[LAT, LON, PATCH, MODEL, DATASET],
                   responses={200: MapSerializer, 202: MapSerializer,
                              404: OpenApiResponse(description="No patch there, or it has no MODIS map"),
                              429: OpenApiResponse(description="Too many new map computations (HRMARS_MAP_RATE)"),
                              503: OpenApiResponse(description="No model is registered")})
    def get(self, request):
        patch = find_patch(request)
        version = (find_model(request.query_params.get("model"), synthetic_place=patch.dataset.synthetic,
                              user=request.user)
                   if self.resolution == "high" else None)
        if version is not None and version.owner_id is not None:
            raise InvalidInput("model", f"{version.name} is a user's own model: it maps areas, regions and uploads "
                                        "(which stay its owner's), not the catalogue's public patches.")
        m, _ = maps.request_map(patch, version, before_new=lambda: count_new_computation(request))
        m = maps.MAP_PRODUCT.rows().get(pk=m.pk)
        return job_answer(map_representation(m, request), m.status not in maps.ACTIVE)


class MapDetail(Detail):
    """A map's status (the job URL to poll: progress in %), then its statistics and links."""

    @extend_schema(responses={200: MapSerializer, 404: OpenApiResponse(description="No such map")})
    def get(self, request, pk: int):
        return Response(map_representation(self.row(request, pk), request))


class MapRetry(APIView):
    """Queue a failed map again."""

    @extend_schema(request=None, responses={202: MapSerializer, 409: OpenApiResponse(description="The map has not failed"),
                                            429: OpenApiResponse(description="Too many new map computations")})
    def post(self, request, pk: int):
        m = products.find(maps.MAP_PRODUCT, pk, request.user)
        refusal = NotReady(f"Map {pk} has not failed (it is {m.status}); nothing to retry.")
        if m.status != LandCoverMap.Status.FAILED:
            raise refusal  # before counting: a refused retry computes nothing
        count_new_computation(request)
        if not maps.retry_map(m):  # somebody else retried it meanwhile
            raise refusal
        m.refresh_from_db()
        data = map_representation(m, request)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


RESOURCE = Resource(represent=map_representation, detail=MapDetail,
                    extra=[path("maps/<id:pk>/retry/", MapRetry.as_view(), name="map-retry")])
