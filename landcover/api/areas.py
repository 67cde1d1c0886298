"""Maps of any area: POST an area of interest (a point, a bounding box, a GeoJSON geometry, or an
uploaded GeoJSON / KML / zipped Shapefile) with dates, a cloud limit and a model; follow the job; read
its statistics (hectares and km², the cloud share apart); download the COGs; view the land cover and
the true-colour image of the pixels used as XYZ tiles. The same request twice gives the same map.
Every bad area is a 400 that says what is wrong with it."""
from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse
from django.urls import path, reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import parsers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from hrmars_site.parsers import JSONBodyParser

from ..catalogue.imagery import country_borders, local_catalogue
from ..errors import NotFound, NotReady
from ..jobs import areas, products
from ..models import AreaMap
from .aoi import AREA_REQUEST, area_from, map_parameters
from .factory import LIST_PARAMETERS, NOT_SIGNED_IN, Detail, Resource, links, own_list, own_list_responses
from .limits import count_new_computation
from .serializers import AreaPageSerializer, AreaSerializer, job_answer


def area_representation(area: AreaMap, request) -> dict:
    """An area map: status and progress while it runs, then statistics, the scenes used and links."""
    url = request.build_absolute_uri(reverse("api:area-detail", args=[area.pk]))
    version = area.model_version
    data = {"id": area.pk, "url": url, "status": area.status, "progress": area.progress,
            "area_km2": round(area.area_km2, 6), "area_ha": round(area.area_km2 * 100, 4),
            "geometry": json.loads(area.geometry.geojson), "bounds": list(area.geometry.extent),
            "start": area.start, "end": area.end, "max_cloud": area.max_cloud, "source": area.imagery_source,
            "model": version.name, "engine": version.engine, "synthetic_model": version.synthetic_training,
            "attribution": version.card.get("attribution", ""), "created_at": area.created_at,
            "finished_at": area.finished_at, "seconds": area.seconds}
    mine = products.may_manage(areas.AREA_PRODUCT, area, request.user)
    data["private"] = area.requested_by_id is not None
    if area.status in (AreaMap.Status.QUEUED, AreaMap.Status.RUNNING) and mine:
        data["cancel"] = url + "cancel/"
    if area.status in (AreaMap.Status.FAILED, AreaMap.Status.CANCELLED):
        data["error"] = area.error or "cancelled"
        if mine:
            data["retry"] = url + "retry/"
    if area.status == AreaMap.Status.DONE:
        data["statistics"] = products.class_rows(area.statistics)
        data["imagery"] = area.imagery
        data["warnings"] = area.warnings
        data["links"] = links(areas.AREA_PRODUCT, area, url)
    return data


class AreaList(APIView):
    """GET: your areas, newest first, paginated (signed in). POST: map an area of interest anywhere. 200 with the
    stored map when the same area, dates, cloud limit, source and model were asked before; else 202 and the job
    URL (also in Location) to poll. A signed-in user's areas are theirs alone; an area asked for without signing
    in is public (anybody with its URL sees it) and nobody can cancel it."""
    parser_classes = [JSONBodyParser, parsers.MultiPartParser]

    @extend_schema(operation_id="v1_areas_list", parameters=LIST_PARAMETERS,
                   responses=own_list_responses(AreaPageSerializer))
    def get(self, request):
        return own_list(areas.AREA_PRODUCT, request, area_representation)

    @extend_schema(
        operation_id="v1_areas_create",
        request={"application/json": AREA_REQUEST, "multipart/form-data": AREA_REQUEST},
        responses={200: AreaSerializer, 202: AreaSerializer,
                   400: OpenApiResponse(description="The area or a parameter is wrong; the body says which"),
                   429: OpenApiResponse(description="Too many new map computations (HRMARS_MAP_RATE)")},
        examples=[OpenApiExample("a drawn polygon", value={
            "geometry": {"type": "Polygon", "coordinates": [[[-75.66, 37.66], [-75.62, 37.66], [-75.62, 37.69],
                                                             [-75.66, 37.69], [-75.66, 37.66]]]},
            "start": "2018-01-01", "end": "2025-12-31", "max_cloud": 30}, request_only=True),
            OpenApiExample("a clicked point", value={"point": [-75.64, 37.67], "size_m": 2000}, request_only=True)])
    def post(self, request):
        geometry, km2 = area_from(request, settings.AREA_MAX_KM2)
        asked = map_parameters(request)
        area, _ = areas.request_area(geometry, km2, start=asked.start, end=asked.end, max_cloud=asked.max_cloud,
                                     source=asked.source, version=asked.version, user=request.user,
                                     before_new=lambda: count_new_computation(request))
        return job_answer(area_representation(area, request), area.status == AreaMap.Status.DONE)


class AreaRetry(APIView):
    """Queue a failed or cancelled area map again."""

    @extend_schema(request=None, responses={202: AreaSerializer, 401: NOT_SIGNED_IN,
                                            403: OpenApiResponse(description="Not yours"),
                                            404: OpenApiResponse(description="No such area map of yours"),
                                            409: OpenApiResponse(description="It has not failed"),
                                            429: OpenApiResponse(description="Too many new map computations")})
    def post(self, request, pk: int):
        products.require_sign_in(areas.AREA_PRODUCT, request.user, "retry")
        area = products.find(areas.AREA_PRODUCT, pk, request.user)
        products.check_manage(areas.AREA_PRODUCT, area, request.user, "retry")
        if area.status not in (AreaMap.Status.FAILED, AreaMap.Status.CANCELLED):
            raise NotReady(f"Area map {pk} is {area.status}; only failed or cancelled maps can be retried.")
        count_new_computation(request)
        areas.retry(area)
        area.refresh_from_db()
        data = area_representation(area, request)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


class ImageryList(APIView):
    """Where imagery can be had: the footprints of the local imagery catalogue (GeoJSON; real Sentinel-2 on this
    machine, mapped offline) and whether a STAC API is searched for everywhere else."""

    @extend_schema(operation_id="v1_imagery_list", responses={200: OpenApiResponse(description="GeoJSON")})
    def get(self, request):
        features = [{"type": "Feature", "id": item.id, "geometry": item.footprint,
                     "properties": {"id": item.id, "level": item.level, "source": "local",
                                    "datetime": item.datetime.isoformat() if item.datetime else None}}
                    for item in local_catalogue().items]
        return Response({"type": "FeatureCollection", "features": features,
                         "stac": {"configured": bool(settings.STAC_URL), "collections": settings.STAC_COLLECTIONS}})


class CountryBorders(APIView):
    """Natural Earth's 1:110m country borders (public domain) as GeoJSON: the map page's base layer when no
    tile server can be reached. 404 until `python -m ml.realdata fetch` has fetched them."""

    @extend_schema(operation_id="v1_basemap_countries", responses={
        200: OpenApiResponse(description="GeoJSON"), 404: OpenApiResponse(description="Not fetched")})
    def get(self, request):
        borders = country_borders()
        if borders is None:
            raise NotFound("The offline base layer is not on this server (python -m ml.realdata fetch adds it).")
        response = HttpResponse(borders.read_bytes(), content_type="application/json")
        response["Cache-Control"] = "public, max-age=86400"
        return response


class AreaDetail(Detail):
    """An area map's status (poll it: progress in %), then its statistics, the scenes used and links."""

    @extend_schema(responses={200: AreaSerializer, 404: OpenApiResponse(description="No such area map")})
    def get(self, request, pk: int):
        return Response(area_representation(self.row(request, pk), request))


RESOURCE = Resource(represent=area_representation, detail=AreaDetail,
                    extra=[path("areas/<id:pk>/retry/", AreaRetry.as_view(), name="area-retry")])
