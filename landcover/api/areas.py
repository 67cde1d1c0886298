"""Maps of any area: POST an area of interest (a point, a bounding box, a GeoJSON geometry, or an
uploaded GeoJSON / KML / zipped Shapefile) with dates, a cloud limit and a model; follow the job; read
its statistics (hectares and km², the cloud share apart); download the COGs; view the land cover and
the true-colour image of the pixels used as XYZ tiles. The same request twice gives the same map.
Every bad area is a 400 that says what is wrong with it."""
from __future__ import annotations

import json
from datetime import date

from django.conf import settings
from django.http import HttpResponse
from django.urls import path, reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import parsers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from hrmars_site.parsers import JSONBodyParser

from ..catalogue.imagery import SOURCES, country_borders, local_catalogue
from ..catalogue.registry import find_model
from ..errors import InvalidInput, NotFound, NotReady
from ..jobs import areas, products
from ..models import AreaMap
from ..validation import areas as aoi
from .factory import LIST_PARAMETERS, Detail, Resource, links, own_list
from .limits import count_area_file, count_new_computation
from .serializers import AreaPageSerializer, AreaSerializer, job_answer

AREA_REQUEST = {"type": "object", "properties": {
    "geometry": {"type": "object", "description": "GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection "
                                                  "(lon, lat)"},
    "point": {"type": "array", "items": {"type": "number"}, "description": "[lon, lat]: a square around it"},
    "size_m": {"type": "number", "description": "side of the square around `point`, metres (default "
                                                "HRMARS_AREA_POINT_SIZE_M)"},
    "bbox": {"type": "array", "items": {"type": "number"}, "description": "[west, south, east, north]"},
    "file": {"type": "string", "format": "binary", "description": "GeoJSON, KML or zipped Shapefile (multipart)"},
    "start": {"type": "string", "format": "date"}, "end": {"type": "string", "format": "date"},
    "max_cloud": {"type": "number", "description": "largest scene cloud cover accepted, % (default 100)"},
    "model": {"type": "string"}, "source": {"type": "string", "enum": list(SOURCES)}}}


def _date(data, field: str) -> date | None:
    value = data.get(field)
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(field, f"{field} must be a date like 2024-06-30, got {str(value)[:30]!r}.") from None


def _json_field(data, field: str):
    """A field that multipart forms send as JSON text."""
    value = data.get(field)
    if isinstance(value, str) and value.strip().startswith(("{", "[")):
        try:
            return json.loads(value)
        except ValueError:
            raise InvalidInput(field, f"{field} is not readable: invalid JSON.") from None
    return value


def body_of(request):
    """The request's fields: a JSON object or a form; InvalidInput for anything else (a JSON array, a number)."""
    if not hasattr(request.data, "get"):
        raise InvalidInput("geometry", "Send the request as a JSON object (or a multipart form) with the area and "
                                       "its parameters.")
    return request.data


def area_from(request):
    """The area of the request, checked: InvalidInput (400) for anything empty, invalid, too large or unreadable."""
    data = body_of(request)
    given = [k for k in ("geometry", "point", "bbox") if data.get(k) not in (None, "")]
    upload = request.FILES.get("file") if hasattr(request, "FILES") else None
    if upload is not None:
        given.append("file")
    if len(given) != 1:
        raise InvalidInput("geometry", "Give the area one way: geometry (GeoJSON), point ([lon, lat]), bbox "
                                       "([west, south, east, north]) or file (GeoJSON, KML, zipped Shapefile).")
    kind = given[0]
    if upload is not None:
        count_area_file(request)  # reading a file is work for the web process: refused ones count too
        if upload.size > settings.AREA_MAX_FILE_KB * 1024:
            raise InvalidInput("file", f"The file is larger than {settings.AREA_MAX_FILE_KB:,} KB.")
        geometry = aoi.from_file(upload.name, upload.read())
    elif kind == "point":
        point = _json_field(data, "point")
        if not isinstance(point, (list, tuple)) or len(point) != 2:
            raise InvalidInput("point", "Give the point as [lon, lat] in degrees.")
        geometry = aoi.from_point(point[0], point[1], data.get("size_m"))
    elif kind == "bbox":
        geometry = aoi.from_bbox(_json_field(data, "bbox"))
    else:
        geometry = aoi.from_geojson(_json_field(data, "geometry"))
    return aoi.checked(geometry, "file" if kind == "file" else kind)


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
                   responses={200: AreaPageSerializer, 401: OpenApiResponse(description="Not signed in"),
                              404: OpenApiResponse(description="No such page")})
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
        geometry, km2 = area_from(request)
        data = body_of(request)
        start, end = _date(data, "start"), _date(data, "end")
        if start and end and start > end:
            raise InvalidInput("end", "end must not be before start.")
        try:
            max_cloud = float(data.get("max_cloud", 100) or 100)
        except (TypeError, ValueError):
            max_cloud = -1
        if not 0 <= max_cloud <= 100:
            raise InvalidInput("max_cloud", "max_cloud must be a percentage from 0 to 100.")
        source = data.get("source") or "auto"
        if source not in SOURCES:
            raise InvalidInput("source", f"source must be one of {', '.join(SOURCES)}.")
        model = data.get("model")
        if model is not None and not isinstance(model, str):
            raise InvalidInput("model", "model must be a model's name (see /api/v1/models/).")
        version = find_model(model)
        area, _ = areas.request_area(geometry, km2, start=start, end=end, max_cloud=max_cloud, source=source,
                                     version=version, user=request.user,
                                     before_new=lambda: count_new_computation(request))
        return job_answer(area_representation(area, request), area.status == AreaMap.Status.DONE)


class AreaRetry(APIView):
    """Queue a failed or cancelled area map again."""

    @extend_schema(request=None, responses={202: AreaSerializer, 401: OpenApiResponse(description="Not signed in"),
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
