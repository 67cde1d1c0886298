"""Maps of regions: POST a district, a province or a country (as for an area, up to HRMARS_REGION_MAX_KM2) and
follow its tiles as workers map them (`tiles/`: a GeoJSON grid of the tiles with their status), then use the
joined map like any other: statistics, tiles, WMTS, downloads, STAC, change, accuracy and statistics per unit.
The same request twice gives the same region."""
from __future__ import annotations

from django.conf import settings
from django.db.models import Count
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import parsers, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from hrmars_site.parsers import JSONBodyParser

from ..errors import NotReady
from ..jobs import products, regions
from ..models import RegionMap
from .aoi import AREA_REQUEST, area_from, map_parameters
from .factory import (
    LIST_PARAMETERS,
    NOT_SIGNED_IN,
    Detail,
    Resource,
    detail_url,
    job_fields,
    links,
    own_list,
    own_list_responses,
)
from .limits import count_new_computation
from .serializers import PageSerializer, job_answer


class RegionSerializer(serializers.Serializer):
    """A region map (landcover.api.regions.region_representation)."""
    id = serializers.IntegerField()
    kind = serializers.CharField()
    url = serializers.URLField(help_text="Poll this URL while the tiles run")
    status = serializers.ChoiceField(choices=RegionMap.Status.choices)
    progress = serializers.IntegerField(help_text="Finished tiles / tiles, %")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    seconds = serializers.FloatField(allow_null=True, help_text="How long the join took")
    private = serializers.BooleanField()
    area_km2 = serializers.FloatField()
    bounds = serializers.ListField(child=serializers.FloatField(), help_text="west, south, east, north")
    start = serializers.DateField(allow_null=True)
    end = serializers.DateField(allow_null=True)
    max_cloud = serializers.FloatField()
    source = serializers.CharField()  # type: ignore[assignment]  # as in MapSerializer
    model = serializers.CharField()
    tile_px = serializers.IntegerField(help_text="Tile side, pixels of 10 m")
    tiles = serializers.DictField(child=serializers.IntegerField(), help_text="How many tiles, in all and by status")
    tiles_url = serializers.URLField(help_text="The tiles as GeoJSON, each with its status")
    cancel = serializers.URLField(required=False)
    retry = serializers.URLField(required=False)
    error = serializers.CharField(required=False)
    statistics = serializers.ListField(child=serializers.DictField(), required=False)
    imagery = serializers.DictField(required=False)
    warnings = serializers.ListField(child=serializers.CharField(), required=False)
    links = serializers.DictField(child=serializers.CharField(), required=False)


class RegionPageSerializer(PageSerializer):
    results = RegionSerializer(many=True)


def region_representation(region: RegionMap, request) -> dict:
    """A region: its tiles while they run (in all and by status), then statistics, the scenes used and links."""
    url = detail_url(regions.REGION_PRODUCT, region.pk, request)
    data = job_fields(regions.REGION_PRODUCT, region, url, request.user)
    by_status = dict(region.tiles.values_list("status").annotate(n=Count("pk")).order_by())
    data.update(area_km2=round(region.area_km2, 6), bounds=list(region.geometry.extent), start=region.start,
                end=region.end, max_cloud=region.max_cloud, source=region.imagery_source,
                model=region.model_version.name, tile_px=region.tile_px,
                tiles={"total": region.tiles_total, **by_status}, tiles_url=url + "tiles/")
    if region.status in (RegionMap.Status.FAILED, RegionMap.Status.CANCELLED) and \
            products.may_manage(regions.REGION_PRODUCT, region, request.user):
        data["retry"] = url + "retry/"
    if region.status == RegionMap.Status.DONE:
        data.update(statistics=products.class_rows(region.statistics), imagery=region.imagery,
                    warnings=region.warnings, links=links(regions.REGION_PRODUCT, region, url))
    return data


class RegionList(APIView):
    """GET: your regions, newest first (signed in). POST: map a region — given as an area is (geometry, bbox,
    point or file; dates, cloud limit, source, model) — of up to HRMARS_REGION_MAX_KM2 km², tile by tile by every
    worker there is: 202 and the job's URL, or 200 with the stored map when the same region was asked before."""
    parser_classes = [JSONBodyParser, parsers.MultiPartParser]

    @extend_schema(operation_id="v1_regions_list", parameters=LIST_PARAMETERS,
                   responses=own_list_responses(RegionPageSerializer))
    def get(self, request):
        return own_list(regions.REGION_PRODUCT, request, region_representation)

    @extend_schema(operation_id="v1_regions_create",
                   request={"application/json": AREA_REQUEST, "multipart/form-data": AREA_REQUEST},
                   responses={200: RegionSerializer, 202: RegionSerializer,
                              400: OpenApiResponse(description="The region or a parameter is wrong; the body says "
                                                               "which"),
                              429: OpenApiResponse(description="Too many new map computations")})
    def post(self, request):
        geometry, km2 = area_from(request, settings.REGION_MAX_KM2)
        asked = map_parameters(request)
        region, _ = regions.request_region(geometry, km2, asked.start, asked.end, asked.max_cloud, asked.source,
                                           asked.version, request.user,
                                           before_new=lambda: count_new_computation(request))
        return job_answer(region_representation(region, request), region.status == RegionMap.Status.DONE)


class RegionDetail(Detail):
    """A region's status (progress: finished tiles / tiles), then its statistics, the scenes used and links."""

    @extend_schema(responses={200: RegionSerializer, 404: OpenApiResponse(description="No such region")})
    def get(self, request, pk: int):
        return Response(region_representation(self.row(request, pk), request))


class RegionTiles(Detail):
    """The region's tiles as GeoJSON: the part of the region each holds, its status, attempts, worker and
    seconds (the map page draws them as a progress grid)."""

    @extend_schema(responses={200: OpenApiResponse(description="GeoJSON FeatureCollection"),
                              404: OpenApiResponse(description="No such region")})
    def get(self, request, pk: int):
        region = self.row(request, pk)
        features = [{"type": "Feature", "id": f"{t.row}-{t.col}", "geometry": t.geometry,
                     "properties": {"row": t.row, "col": t.col, "status": t.status, "attempts": t.attempts,
                                    "seconds": t.seconds, "error": t.error or None}}
                    for t in region.tiles.all()]
        return Response({"type": "FeatureCollection", "features": features})


class RegionRetry(APIView):
    """Queue a failed or cancelled region again: its unfinished tiles alone are mapped again."""

    @extend_schema(request=None, responses={202: RegionSerializer, 401: NOT_SIGNED_IN,
                                            403: OpenApiResponse(description="Not yours"),
                                            404: OpenApiResponse(description="No such region of yours"),
                                            409: OpenApiResponse(description="It has not failed"),
                                            429: OpenApiResponse(description="Too many new map computations")})
    def post(self, request, pk: int):
        product = regions.REGION_PRODUCT
        products.require_sign_in(product, request.user, "retry")
        region = products.find(product, pk, request.user)
        products.check_manage(product, region, request.user, "retry")
        if region.status not in (RegionMap.Status.FAILED, RegionMap.Status.CANCELLED):
            raise NotReady(f"Region {pk} is {region.status}; only failed or cancelled regions can be retried.")
        count_new_computation(request)
        regions.retry(region)
        data = region_representation(region, request)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


RESOURCE = Resource(represent=region_representation, detail=RegionDetail, extra=[
    path("regions/<id:pk>/tiles/", RegionTiles.as_view(product=regions.REGION_PRODUCT, operation="tiles"),
         name="region-tiles"),
    path("regions/<id:pk>/retry/", RegionRetry.as_view(), name="region-retry")])
