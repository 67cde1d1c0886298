"""REST API of the catalogue: footprints, patches at a point, low/high-resolution maps, statistics,
downloads, XYZ tiles and models. Views never compute a map: they queue it and answer 202."""
from __future__ import annotations

import csv
import io
import json
import math

import numpy as np

from django.conf import settings
from django.contrib.gis.geos import Point, Polygon
from django.core.cache import cache
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, renderers, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_gis.pagination import GeoJsonPagination
# Imported here, not in the view: a first import from two request threads at once trips
# rio-tiler's circular imports ("partially initialized module").
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.models import ImageData

from ml.classes import colormap

from . import maps
from .models import LandCoverMap, ModelVersion, Patch, Scene
from .serializers import (DatasetSerializer, ModelVersionSerializer, PatchFeatureSerializer, PointQuery,
                          SceneFeatureSerializer, map_representation)

BBOX_PARAM = OpenApiParameter(
    "bbox", str, description="min_lon,min_lat,max_lon,max_lat in degrees (EPSG:4326); min_lon > max_lon crosses "
                             "the antimeridian. Example: 11.4,48.0,11.8,48.3")
LAT = OpenApiParameter("lat", float, description="latitude, degrees north (−90…90)")
LON = OpenApiParameter("lon", float, description="longitude, degrees east (−180…180)")
PATCH = OpenApiParameter("patch", int, description="a patch id (instead of lat/lon)")
MODEL = OpenApiParameter("model", str, description="model name (default: the site's default model); see /api/v1/models/")
DATASET = OpenApiParameter("dataset", str, description="only this dataset (id or name)")


class ServiceUnavailable(APIException):
    status_code = 503
    default_detail = "Service unavailable."


class MapNotReady(APIException):
    status_code = 409
    default_detail = "The map is not computed yet."


class BinaryRenderer(renderers.BaseRenderer):
    """Lets file and tile views accept any Accept header; they return their own HttpResponse."""
    media_type = "*/*"
    format = "bin"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if data is not None else b""


class FileView(APIView):
    """Files on success; errors still as JSON with a message, whatever the client accepts."""
    renderer_classes = [BinaryRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):
            request.accepted_renderer = renderers.JSONRenderer()
            request.accepted_media_type = "application/json"
        return super().finalize_response(request, response, *args, **kwargs)


# --- Parameters.

def parse_bbox(value: str) -> Polygon | tuple[Polygon, Polygon]:
    """'min_lon,min_lat,max_lon,max_lat' → a polygon (two across the antimeridian); ValidationError says why not."""
    parts = value.split(",")
    try:
        if len(parts) != 4:
            raise ValueError
        x0, y0, x1, y1 = (float(p) for p in parts)
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
            raise ValueError
    except ValueError:
        raise ValidationError({"bbox": f"bbox must be four numbers min_lon,min_lat,max_lon,max_lat in degrees, "
                                       f"e.g. bbox=11.4,48.0,11.8,48.3 (got {value[:100]!r})."}) from None
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180):
        raise ValidationError({"bbox": "bbox longitudes must be between -180 and 180."})
    if not (-90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise ValidationError({"bbox": "bbox latitudes must be between -90 and 90 (is the order lon,lat,lon,lat?)."})
    if y0 >= y1:
        raise ValidationError({"bbox": "bbox min_lat must be less than max_lat (order: min_lon,min_lat,max_lon,max_lat)."})
    if x0 == x1:
        raise ValidationError({"bbox": "bbox has zero width (min_lon equals max_lon)."})
    if x0 > x1:  # across the antimeridian
        return (Polygon.from_bbox((x0, y0, 180, y1)), Polygon.from_bbox((-180, y0, x1, y1)))
    return Polygon.from_bbox((x0, y0, x1, y1))


def filter_bbox(queryset, field: str, value: str | None):
    if not value:
        return queryset
    box = parse_bbox(value)
    if isinstance(box, tuple):
        return queryset.filter(**{f"{field}__bboverlaps": box[0]}) | queryset.filter(**{f"{field}__bboverlaps": box[1]})
    box.srid = 4326
    return queryset.filter(**{f"{field}__bboverlaps": box})


def filter_dataset(queryset, value: str | None, field: str = "dataset"):
    if not value:
        return queryset
    return queryset.filter(**({f"{field}_id": int(value)} if value.isdigit() else {f"{field}__name": value}))


def point_from(request) -> Point:
    query = PointQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    return Point(query.validated_data["lon"], query.validated_data["lat"], srid=4326)


def patches_at(point: Point, request):
    qs = (Patch.objects.filter(footprint__intersects=point).select_related("dataset", "scene")
          .order_by("dataset__synthetic", "dataset__name", "scene__roi", "scene__scene_id", "patch_id"))
    qs = filter_dataset(qs, request.query_params.get("dataset"))
    if request.query_params.get("season"):
        qs = qs.filter(scene__season=request.query_params["season"])
    return qs


def no_patch_message(point: Point) -> str:
    return (f"No catalogue patch covers lat={point.y:.6f}, lon={point.x:.6f}. See which places are covered with "
            f"{reverse('api:patch-list')}?bbox=min_lon,min_lat,max_lon,max_lat or on the map page, or upload your "
            f"own Sentinel-2 image of this place.")


def cached(request, builder, missing=None):
    """A catalogue answer from the cache, keyed by the absolute URL and the catalogue version.

    JSON is cached rendered, and served without DRF rendering it again (420 → see BENCHMARKS.md
    for the footprints of a map view); other formats (the browsable API) are built each time."""
    if getattr(request, "accepted_renderer", None) is None or request.accepted_renderer.format != "json":
        data = builder()
        if data is None:
            raise NotFound(missing())
        return Response(data)
    key = f"api:{maps.catalogue_version()}:{request.build_absolute_uri()}"  # answers hold absolute URLs
    body = cache.get(key)
    if body is None:
        data = builder()
        body = b"" if data is None else renderers.JSONRenderer().render(data)  # b"": nothing there (404)
        cache.set(key, body, settings.API_CACHE_SECONDS)
    if not body:
        raise NotFound(missing())
    return HttpResponse(body, content_type="application/json")


# --- Catalogue.

class DatasetList(generics.ListAPIView):
    """Datasets in the catalogue, with licences, citations and patch counts; synthetic ones say so."""
    serializer_class = DatasetSerializer
    pagination_class = None

    def get_queryset(self):
        return DatasetSerializer.queryset()


class SceneList(generics.ListAPIView):
    """Scenes (groups of patches) as GeoJSON boxes with patch counts: the map's view when zoomed out."""
    serializer_class = SceneFeatureSerializer
    pagination_class = type("ScenePagination", (GeoJsonPagination,), {"page_size": 1000, "max_page_size": 5000})

    def get_queryset(self):
        qs = Scene.objects.filter(extent__isnull=False).select_related("dataset").order_by("pk")
        return filter_dataset(filter_bbox(qs, "extent", self.request.query_params.get("bbox")),
                              self.request.query_params.get("dataset"))

    @extend_schema(parameters=[BBOX_PARAM, DATASET])
    def get(self, request, *args, **kwargs):
        return cached(request, lambda: super(SceneList, self).list(request).data)


class PatchPagination(GeoJsonPagination):
    page_size = 100
    max_page_size = 1000


class PatchList(generics.ListAPIView):
    """Patch footprints as GeoJSON, filtered by bbox and dataset, 100 per page (page_size up to 1,000)."""
    serializer_class = PatchFeatureSerializer
    pagination_class = PatchPagination

    def get_queryset(self):
        qs = Patch.objects.select_related("dataset", "scene").order_by("pk")
        return filter_dataset(filter_bbox(qs, "footprint", self.request.query_params.get("bbox")),
                              self.request.query_params.get("dataset"))

    @extend_schema(parameters=[BBOX_PARAM, DATASET])
    def get(self, request, *args, **kwargs):
        return cached(request, lambda: super(PatchList, self).list(request).data)


class PatchDetail(generics.RetrieveAPIView):
    """One patch: footprint, dataset, scene, native CRS."""
    serializer_class = PatchFeatureSerializer
    queryset = Patch.objects.select_related("dataset", "scene")


class PatchAtPoint(APIView):
    """The patch covering a point (real data first), and the other patches there (seasons, overlaps)."""

    @extend_schema(parameters=[LAT, LON, DATASET, OpenApiParameter("season", str)],
                   responses={200: PatchFeatureSerializer, 404: OpenApiResponse(description="no patch there")})
    def get(self, request):
        point = point_from(request)

        def build():
            found = list(patches_at(point, request)[:21])
            if not found:
                return None
            data = PatchFeatureSerializer(found[0], context={"request": request}).data
            data["properties"]["others"] = [
                {"id": p.pk, "dataset": p.dataset.name, "season": p.scene.season, "scene": str(p.scene),
                 "url": request.build_absolute_uri(reverse("api:patch-detail", args=[p.pk]))} for p in found[1:]]
            return data

        return cached(request, build, missing=lambda: no_patch_message(point))


# --- Models.

class ModelList(generics.ListAPIView):
    """Registered model versions with their method, bands, training data and test metrics; default first."""
    serializer_class = ModelVersionSerializer
    queryset = ModelVersion.objects.all()
    pagination_class = None

    def get(self, request, *args, **kwargs):
        return cached(request, lambda: super(ModelList, self).list(request).data)


class ModelDetail(generics.RetrieveAPIView):
    serializer_class = ModelVersionSerializer
    queryset = ModelVersion.objects.all()
    lookup_field = "name"
    lookup_value_regex = "[^/]+"


def model_from(name: str | None) -> ModelVersion:
    """The model asked for by name, or the site's default when no name is given."""
    if name:
        version = ModelVersion.objects.filter(name=name).first()
        if version is None:
            known = ", ".join(ModelVersion.objects.values_list("name", flat=True)) or "none"
            raise ValidationError({"model": f"Unknown model {name!r}. Registered models: {known} "
                                            f"(see {reverse('api:model-list')})."})
        return version
    version = ModelVersion.objects.filter(is_default=True).first()
    if version is None:
        raise ServiceUnavailable("No model is registered yet, so there are no high-resolution maps; an administrator "
                                 "registers one with `manage.py register_model DIR --default`.")
    return version


# --- Maps.

class MapForPoint(APIView):
    """The low- (MODIS) or high-resolution (model) map of the patch at a point, or of `patch`.
    200 with statistics and links when stored; 202 and the job URL (also in Location) while it is computed:
    poll that URL. A map is computed once and stored; everybody asking gets the same one."""
    resolution = "high"

    @extend_schema(parameters=[LAT, LON, PATCH, MODEL, DATASET],
                   responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT,
                              404: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT})
    def get(self, request):
        patch = self.find_patch(request)
        version = model_from(request.query_params.get("model")) if self.resolution == "high" else None
        try:
            m, _ = maps.request_map(patch, version)
        except maps.MapUnavailable as exc:
            raise NotFound(str(exc)) from exc
        m = LandCoverMap.objects.select_related("patch__dataset", "model_version").get(pk=m.pk)
        data = map_representation(m, request)
        if m.status in maps.ACTIVE:
            return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})
        return Response(data)

    @staticmethod
    def find_patch(request) -> Patch:
        value = request.query_params.get("patch")
        if value:
            if not value.isdigit():
                raise ValidationError({"patch": f"patch must be a patch id (a whole number), got {value[:50]!r}."})
            return get_object_or_404(Patch.objects.select_related("dataset"), pk=int(value))
        point = point_from(request)
        found = patches_at(point, request).first()
        if found is None:
            raise NotFound(no_patch_message(point))
        return found


class MapDetail(APIView):
    """A map's status (the job URL to poll: progress in %), then its statistics and links."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk: int):
        return Response(map_representation(get_map(pk), request))


class MapRetry(APIView):
    """Queue a failed map again."""

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT, 409: OpenApiResponse(description="not failed")})
    def post(self, request, pk: int):
        m = get_map(pk)
        if not maps.retry_map(m):
            raise MapNotReady(f"Map {pk} has not failed (it is {m.status}); nothing to retry.")
        m.refresh_from_db()
        data = map_representation(m, request)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


def get_map(pk: int) -> LandCoverMap:
    return get_object_or_404(LandCoverMap.objects.select_related("patch__dataset", "model_version"), pk=pk)


def done_map(pk: int, request) -> LandCoverMap:
    m = get_map(pk)
    if m.status != LandCoverMap.Status.DONE:
        url = request.build_absolute_uri(reverse("api:map-detail", args=[pk]))
        detail = (f"Map {pk} failed: {m.error}" if m.status == LandCoverMap.Status.FAILED
                  else f"Map {pk} is {m.status} ({m.progress} %); poll {url} until its status is done.")
        raise MapNotReady(detail)
    return m


def statistics_payload(m: LandCoverMap) -> dict:
    return {"map": m.pk, "patch": m.patch_id, "resolution": "low" if m.source == "modis" else "high",
            "model": m.model_version.name if m.model_version else None, "synthetic": m.synthetic,
            "total_pixels": sum(r["pixels"] for r in m.statistics),
            "total_area_km2": round(sum(r["area_km2"] for r in m.statistics), 6), "classes": m.statistics}


class MapStatistics(APIView):
    """Per class: pixel count, share of valid pixels (%), area (km², in the map's own projected CRS)."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk: int):
        return Response(statistics_payload(done_map(pk, request)))


def _filename(m: LandCoverMap, suffix: str) -> str:
    what = "modis" if m.source == "modis" else m.model_version.name
    return f"hrmars-patch{m.patch_id}-{what}-{m.pk}{suffix}"


DOWNLOADS = {"map.tif": "image/tiff", "preview.png": "image/png", "statistics.csv": "text/csv",
             "statistics.json": "application/json"}


def download(name: str, rows: list[dict], payload, path_of, filename: str, cache_control: str) -> HttpResponse:
    """One of DOWNLOADS (checked by check_download) of a stored map: statistics rendered here, files
    streamed from disk."""
    if name == "statistics.csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, ["code", "name", "colour", "pixels", "percent", "area_km2"])
        writer.writeheader()
        writer.writerows(rows)
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    elif name == "statistics.json":
        response = HttpResponse(json.dumps(payload(), indent=1), content_type="application/json")
    else:
        path = path_of(name)
        if not path.is_file():
            raise NotFound("The map's file is missing on the server; an administrator has been told.")
        response = FileResponse(path.open("rb"), content_type=DOWNLOADS[name])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = cache_control
    return response


def check_download(name: str) -> None:
    """Before the map is looked up, so an unknown name is a 404 whatever the map's state."""
    if name not in DOWNLOADS:
        raise NotFound(f"No download {name!r}; there are {', '.join(DOWNLOADS)}.")


def check_tile(z: int, x: int, y: int) -> None:
    if z > 24 or x >= 2 ** z or y >= 2 ** z:
        raise ValidationError({"tile": f"No tile {z}/{x}/{y}: zoom goes up to 24 and x, y below 2^zoom."})


def download_suffix(name: str) -> str:
    return {"map.tif": ".tif", "preview.png": ".png"}.get(name, "-" + name)


class MapFile(FileView):
    """Downloads: the COG GeoTIFF (map.tif), the PNG preview, statistics as CSV or JSON."""

    @extend_schema(operation_id="v1_maps_download", responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, pk: int, name: str):
        check_download(name)
        m = done_map(pk, request)
        return download(name, m.statistics, lambda: statistics_payload(m),
                        lambda n: maps.file_path(m, "cog" if n == "map.tif" else "png"),
                        _filename(m, download_suffix(name)), "public, max-age=86400")


_EMPTY_TILE: bytes | None = None


def empty_tile() -> bytes:
    global _EMPTY_TILE
    if _EMPTY_TILE is None:
        _EMPTY_TILE = ImageData(np.ma.masked_all((1, 256, 256), np.uint8)).render(img_format="PNG")
    return _EMPTY_TILE


def render_tile(path, z: int, x: int, y: int) -> bytes:
    try:
        with Reader(str(path)) as cog:
            img = cog.tile(x, y, z, tilesize=256, resampling_method="nearest")
    except TileOutsideBounds:
        return empty_tile()
    return img.render(img_format="PNG", colormap=colormap())


def tile_response(z: int, x: int, y: int, key: str, path_of, cache_control: str) -> HttpResponse:
    """An XYZ PNG tile (coordinates checked by check_tile) of a stored COG, from the cache or rendered
    with rio-tiler."""
    content = cache.get(key)
    if content is None:
        path = path_of()
        if not path.is_file():
            raise Http404("map file missing")
        content = render_tile(path, z, x, y)
        cache.set(key, content, settings.API_CACHE_SECONDS)
    response = HttpResponse(content, content_type="image/png")
    response["Cache-Control"] = cache_control
    return response


class MapTile(FileView):
    """XYZ PNG tile (Web Mercator, 256 px) of a stored map; transparent outside it."""

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, pk: int, z: int, x: int, y: int):
        check_tile(z, x, y)
        m = done_map(pk, request)
        key = f"tile:{m.pk}:{m.finished_at.timestamp() if m.finished_at else 0}:{z}/{x}/{y}"
        return tile_response(z, x, y, key, lambda: maps.file_path(m, "cog"), "public, max-age=86400")


class ClassList(APIView):
    """The simplified IGBP classes (DFC2020 codes) with colours; models predict all but Savanna and Snow/Ice."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        from ml.classes import DFC, MODEL_CLASSES

        return Response([{"code": c, "name": n, "colour": col, "predicted": c in MODEL_CLASSES}
                         for c, (n, col) in DFC.items()])

