"""Composites of a period: POST an area (as for an area map) and a period — a year, a month, a season or a start
and end — and get one map of every scene of that period with clear pixels, combined per pixel by the mode of
their labels or the mean of their probabilities, with the count of clear observations per pixel. A composite is
used like any map (statistics, tiles, WMTS, downloads, STAC with start_datetime/end_datetime, change, accuracy,
statistics per unit); `pixel/` gives one pixel's class probabilities on every date it combines. The same request
twice gives the same composite, and the scenes it maps are reused by every other composite of the place.

Time series: POST an area, a range and a step (months, seasons, years) and get the class areas of each period's
composite as a table (CSV, JSON) and a chart (PNG); each period's map is its composite."""
from __future__ import annotations

from django.conf import settings
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import parsers, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from hrmars_site.parsers import JSONBodyParser
from ml.accuracy import map_values, pixel_values

from .. import storage
from ..errors import InvalidInput
from ..jobs import composites, products, series
from ..models import CompositeMap, TimeSeries
from .aoi import COMPOSITE_REQUEST, SERIES_REQUEST, area_from, map_parameters, period_parameters, series_parameters
from .factory import (
    LIST_PARAMETERS,
    Detail,
    Resource,
    area_job_responses,
    detail_url,
    job_fields,
    links,
    own_list,
    own_list_responses,
)
from .limits import count_new_computation
from .serializers import PageSerializer, job_answer


class CompositeSerializer(serializers.Serializer):
    """A composite (landcover.api.composites.composite_representation)."""
    id = serializers.IntegerField()
    kind = serializers.CharField()
    url = serializers.URLField(help_text="Poll this URL while it runs")
    status = serializers.ChoiceField(choices=CompositeMap.Status.choices)
    progress = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    seconds = serializers.FloatField(allow_null=True)
    private = serializers.BooleanField()
    area_km2 = serializers.FloatField()
    bounds = serializers.ListField(child=serializers.FloatField(), help_text="west, south, east, north")
    period = serializers.CharField(help_text="Its name when asked by name (2024, 2024-06, 2024-JJA)")
    start = serializers.DateField()
    end = serializers.DateField()
    method = serializers.ChoiceField(choices=CompositeMap.Method.choices)
    max_cloud = serializers.FloatField()
    source = serializers.CharField()  # type: ignore[assignment]  # as in MapSerializer
    model = serializers.CharField()
    cancel = serializers.URLField(required=False)
    error = serializers.CharField(required=False)
    statistics = serializers.ListField(child=serializers.DictField(), required=False)
    imagery = serializers.DictField(required=False, help_text="The scenes combined (dates, clear pixels) and how "
                                                              "many pixels were seen clear how many times")
    acquired = serializers.ListField(child=serializers.DateTimeField(allow_null=True), required=False,
                                     help_text="When the first and the last scene combined were taken")
    warnings = serializers.ListField(child=serializers.CharField(), required=False)
    links = serializers.DictField(child=serializers.CharField(), required=False)


class CompositePageSerializer(PageSerializer):
    results = CompositeSerializer(many=True)


def composite_representation(composite: CompositeMap, request) -> dict:
    """A composite: its job, then its statistics, the scenes combined, when they were taken, and links."""
    product = composites.COMPOSITE_PRODUCT
    url = detail_url(product, composite.pk, request)
    data = job_fields(product, composite, url, request.user)
    data.update(area_km2=round(composite.area_km2, 6), bounds=list(composite.geometry.extent),
                period=composite.period, start=composite.start, end=composite.end, method=composite.method,
                max_cloud=composite.max_cloud, source=composite.imagery_source, model=composite.model_version.name)
    if composite.status == CompositeMap.Status.DONE:
        data.update(statistics=products.class_rows(composite.statistics), imagery=composite.imagery,
                    acquired=[composite.acquired, composite.acquired_end], warnings=composite.warnings,
                    links={**links(product, composite, url), "pixel": url + "pixel/"})
    return data


class CompositeList(APIView):
    """GET: your composites, newest first (signed in). POST: the composite of an area (as for an area map: geometry,
    bbox, point or file; cloud limit, source, model) over a period (`period`: 2024, 2024-06 or 2024-JJA; or `start`
    and `end`) by `method` (mode, mean): 202 and the job's URL, or 200 with the stored one when asked before."""
    parser_classes = [JSONBodyParser, parsers.MultiPartParser]

    @extend_schema(operation_id="v1_composites_list", parameters=LIST_PARAMETERS,
                   responses=own_list_responses(CompositePageSerializer))
    def get(self, request):
        return own_list(composites.COMPOSITE_PRODUCT, request, composite_representation)

    @extend_schema(operation_id="v1_composites_create",
                   request={"application/json": COMPOSITE_REQUEST, "multipart/form-data": COMPOSITE_REQUEST},
                   responses=area_job_responses(CompositeSerializer))
    def post(self, request):
        geometry, km2 = area_from(request, settings.COMPOSITE_MAX_KM2)
        asked = map_parameters(request)
        when = period_parameters(request, asked)
        composite, _ = composites.request_composite(
            geometry, km2, start=when.start, end=when.end, period=when.name, method=when.method,
            max_cloud=asked.max_cloud, source=asked.source, version=asked.version, user=request.user,
            before_new=lambda: count_new_computation(request))
        return job_answer(composite_representation(composite, request), composite.status == CompositeMap.Status.DONE)


class CompositeDetail(Detail):
    """A composite's status, then its statistics, the scenes combined and links."""

    @extend_schema(responses={200: CompositeSerializer, 404: OpenApiResponse(description="No such composite")})
    def get(self, request, pk: int):
        return Response(composite_representation(self.row(request, pk), request))


LON_LAT = [OpenApiParameter("lon", OpenApiTypes.NUMBER, required=True),
           OpenApiParameter("lat", OpenApiTypes.NUMBER, required=True)]


class CompositePixel(Detail):
    """One pixel over time: its class probabilities on every date the composite combines (null where that scene
    did not see it clear), and the composite's class there — the per-pixel chart of the map page."""

    @extend_schema(parameters=LON_LAT, responses={200: OpenApiResponse(description="The pixel's dates"),
                                                  400: OpenApiResponse(description="lon or lat is wrong"),
                                                  404: OpenApiResponse(description="No such composite"),
                                                  409: OpenApiResponse(description="Not done yet")})
    def get(self, request, pk: int):
        composite = products.done(self.product, self.row(request, pk))
        point = []
        for name, low, high in (("lon", -180, 180), ("lat", -90, 90)):
            try:
                value = float(request.query_params.get(name, ""))
            except ValueError:
                value = float("nan")
            if not low <= value <= high:
                raise InvalidInput(name, f"{name} must be a number from {low} to {high}.")
            point.append(value)
        lon, lat = point
        bands = composite.model_version.card.get("classes", [])
        predictor_classes = [{"name": c.get("name") or str(c["code"]), "code": c["code"]} for c in bands]
        dates = []
        for scene, name in composites.scene_dates(composite):
            values = pixel_values(name, lon, lat)
            dates.append({"datetime": scene.acquired, "scene": scene.item_id,
                          "probabilities": None if values is None else
                          {c["name"]: round(v / 255, 4) for c, v in zip(predictor_classes, values)}})
        here = map_values(storage.name(self.product.path(composite, "map.tif")), [(lon, lat)])[0]
        return Response({"lon": lon, "lat": lat, "method": composite.method, "classes": predictor_classes,
                         "composite_class": here or None, "dates": dates})


class SeriesSerializer(serializers.Serializer):
    """A time series (landcover.api.composites.series_representation)."""
    id = serializers.IntegerField()
    kind = serializers.CharField()
    url = serializers.URLField(help_text="Poll this URL while it runs")
    status = serializers.ChoiceField(choices=TimeSeries.Status.choices)
    progress = serializers.IntegerField(help_text="Periods done / periods, %")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    seconds = serializers.FloatField(allow_null=True)
    private = serializers.BooleanField()
    area_km2 = serializers.FloatField()
    bounds = serializers.ListField(child=serializers.FloatField())
    start = serializers.DateField()
    end = serializers.DateField()
    step = serializers.ChoiceField(choices=TimeSeries.Step.choices)
    method = serializers.ChoiceField(choices=CompositeMap.Method.choices)
    model = serializers.CharField()
    cancel = serializers.URLField(required=False)
    error = serializers.CharField(required=False)
    periods = serializers.ListField(child=serializers.DictField(), required=False,
                                    help_text="Per period: name, days, status, scenes, dates, class areas (ha, by "
                                              "code), its composite's URL")
    links = serializers.DictField(child=serializers.CharField(), required=False)


class SeriesPageSerializer(PageSerializer):
    results = SeriesSerializer(many=True)


def series_representation(row: TimeSeries, request) -> dict:
    """A time series: its job, then each period (with its composite's URL) and links to the table and chart."""
    product = series.SERIES_PRODUCT
    url = detail_url(product, row.pk, request)
    data = job_fields(product, row, url, request.user)
    data.update(area_km2=round(row.area_km2, 6), bounds=list(row.geometry.extent), start=row.start, end=row.end,
                step=row.step, method=row.method, model=row.model_version.name)
    if row.status == TimeSeries.Status.DONE:
        data.update(periods=[{**p, "composite_url": detail_url(composites.COMPOSITE_PRODUCT, p["composite"], request)}
                             for p in row.periods], links=links(product, row, url))
    return data


class SeriesList(APIView):
    """GET: your time series, newest first (signed in). POST: class areas of an area over a range (`period`: 2024,
    or `start` and `end`) by `step` (month, season, year), one composite per step (`method`: mode, mean): 202 and
    the job's URL, or 200 with the stored one when asked before."""
    parser_classes = [JSONBodyParser, parsers.MultiPartParser]

    @extend_schema(operation_id="v1_series_list", parameters=LIST_PARAMETERS,
                   responses=own_list_responses(SeriesPageSerializer))
    def get(self, request):
        return own_list(series.SERIES_PRODUCT, request, series_representation)

    @extend_schema(operation_id="v1_series_create",
                   request={"application/json": SERIES_REQUEST, "multipart/form-data": SERIES_REQUEST},
                   responses=area_job_responses(SeriesSerializer))
    def post(self, request):
        geometry, km2 = area_from(request, settings.COMPOSITE_MAX_KM2)
        asked = map_parameters(request)
        when, step = series_parameters(request, asked)
        row, _ = series.request_series(
            geometry, km2, start=when.start, end=when.end, step=step, method=when.method, max_cloud=asked.max_cloud,
            source=asked.source, version=asked.version, user=request.user,
            before_new=lambda: count_new_computation(request))
        return job_answer(series_representation(row, request), row.status == TimeSeries.Status.DONE)


class SeriesDetail(Detail):
    """A time series' status, then its periods and links to its table (CSV, JSON) and chart (PNG)."""

    @extend_schema(responses={200: SeriesSerializer, 404: OpenApiResponse(description="No such series")})
    def get(self, request, pk: int):
        return Response(series_representation(self.row(request, pk), request))


SERIES_RESOURCE = Resource(represent=series_representation, detail=SeriesDetail)
RESOURCE = Resource(represent=composite_representation, detail=CompositeDetail, extra=[
    path("composites/<id:pk>/pixel/", CompositePixel.as_view(product=composites.COMPOSITE_PRODUCT, operation="pixel"),
         name="composite-pixel")])
