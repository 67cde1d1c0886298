"""Land-cover maps of catalogue patches: ask for the low- (MODIS) or high-resolution (model) map of a
place, follow its job, read its statistics, download it, view it as XYZ tiles. Views never compute
a map: they queue it and answer 202."""
from __future__ import annotations

from functools import partial

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django_ratelimit.core import is_ratelimited
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from ..catalogue.registry import find_model
from ..errors import InvalidInput, LimitReached, NotReady
from ..jobs import maps
from ..jobs.inference import PROBABILITIES, confident_statistics
from ..models import LandCoverMap, Patch
from .catalogue import no_patch_message, patches_here
from .files import (
    DOWNLOAD_RESPONSES,
    TILE_RESPONSES,
    FileView,
    check_download,
    download,
    download_suffix,
    statistics_rows,
)
from .params import DATASET, LAT, LON, MIN_CONFIDENCE, MODEL, PATCH, check_tile, min_confidence, patch_id, point_from
from .serializers import MapSerializer, MapStatisticsSerializer, job_answer, map_representation
from .tiles import render_confidence_tile, tile_response
from .wmts import capabilities_response


def count_new_computation(request) -> None:
    """One more map computation started by this client (user, or address when anonymous); LimitReached past
    HRMARS_MAP_RATE. Maps already computed are read without limit."""
    if is_ratelimited(request, group="map-computations", key="user_or_ip", rate=settings.MAP_RATE, increment=True):
        raise LimitReached(f"You have started the most new map computations allowed ({settings.MAP_RATE}); wait "
                           "before asking for more. Maps that are already computed can be viewed at any time.")


def find_patch(request) -> Patch:
    """The patch of the `patch` parameter, or the one at lat/lon."""
    value = request.query_params.get("patch")
    if value:
        return get_object_or_404(Patch.objects.select_related("dataset"), pk=patch_id(value))
    point = point_from(request)
    found = patches_here(request, point).first()
    if found is None:
        raise NotFound(no_patch_message(point))
    return found


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
        version = (find_model(request.query_params.get("model"), synthetic_place=patch.dataset.synthetic)
                   if self.resolution == "high" else None)
        m, _ = maps.request_map(patch, version, before_new=lambda: count_new_computation(request))
        m = LandCoverMap.objects.select_related("patch__dataset", "model_version").get(pk=m.pk)
        return job_answer(map_representation(m, request), m.status not in maps.ACTIVE)


def get_map(pk: int) -> LandCoverMap:
    """The map with this id, or 404."""
    return get_object_or_404(LandCoverMap.objects.select_related("patch__dataset", "model_version"), pk=pk)


def done_map(pk: int, request) -> LandCoverMap:
    """The map if it is done; NotReady saying what it is doing otherwise."""
    m = get_map(pk)
    if m.status != LandCoverMap.Status.DONE:
        url = request.build_absolute_uri(reverse("api:map-detail", args=[pk]))
        detail = (f"Map {pk} failed: {m.error}" if m.status == LandCoverMap.Status.FAILED
                  else f"Map {pk} is {m.status} ({m.progress} %); poll {url} until its status is done.")
        raise NotReady(detail)
    return m


class MapDetail(APIView):
    """A map's status (the job URL to poll: progress in %), then its statistics and links."""

    @extend_schema(responses=MapSerializer)
    def get(self, request, pk: int):
        return Response(map_representation(get_map(pk), request))


class MapRetry(APIView):
    """Queue a failed map again."""

    @extend_schema(request=None, responses={202: MapSerializer, 409: OpenApiResponse(description="The map has not failed"),
                                            429: OpenApiResponse(description="Too many new map computations")})
    def post(self, request, pk: int):
        m = get_map(pk)
        refusal = NotReady(f"Map {pk} has not failed (it is {m.status}); nothing to retry.")
        if m.status != LandCoverMap.Status.FAILED:
            raise refusal  # before counting: a refused retry computes nothing
        count_new_computation(request)
        if not maps.retry_map(m):  # somebody else retried it meanwhile
            raise refusal
        m.refresh_from_db()
        data = map_representation(m, request)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


def statistics_payload(m: LandCoverMap, confidence: float | None = None) -> dict:
    """The statistics of a done map with what they describe; with `confidence`, only pixels at least that sure
    are counted in their class, the rest under 'uncertain'."""
    rows, uncertain = m.statistics, None
    if confidence is not None:
        if m.source == LandCoverMap.Source.MODIS:
            raise InvalidInput("min_confidence", "MODIS maps have no per-pixel confidence; min_confidence applies "
                                                 "to high-resolution (model) maps.")
        rows, uncertain = confident_statistics(maps.map_folder(m), m.statistics, confidence)
    payload = {"map": m.pk, "patch": m.patch_id, "resolution": "low" if m.source == "modis" else "high",
               "model": m.model_version.name if m.model_version else None, "synthetic": m.synthetic,
               "total_pixels": sum(r["pixels"] for r in rows) + (uncertain["pixels"] if uncertain else 0),
               "total_area_km2": round(sum(r["area_km2"] for r in rows) + (uncertain["area_km2"] if uncertain else 0),
                                       6),
               "classes": rows}
    if uncertain is not None:
        payload["uncertain"] = uncertain
    return payload


class MapStatistics(APIView):
    """Per class: pixel count, share of valid pixels (%), area (km², in the map's own projected CRS).
    With min_confidence (model maps), pixels less sure than that are counted apart as 'uncertain'."""

    @extend_schema(parameters=[MIN_CONFIDENCE],
                   responses={200: MapStatisticsSerializer, 409: OpenApiResponse(description="Not done yet")})
    def get(self, request, pk: int):
        confidence = min_confidence(request)
        return Response(statistics_payload(done_map(pk, request), confidence))


def _filename(m: LandCoverMap, suffix: str) -> str:
    what = m.model_version.name if m.model_version else "modis"
    return f"hrmars-patch{m.patch_id}-{what}-{m.pk}{suffix}"


class MapFile(FileView):
    """Downloads: the COG GeoTIFF (map.tif), the class probabilities and confidence COG (probabilities.tif,
    model maps), the PNG preview, statistics as CSV or JSON (min_confidence applies to both)."""

    @extend_schema(operation_id="v1_maps_download", parameters=[MIN_CONFIDENCE], responses=DOWNLOAD_RESPONSES)
    def get(self, request, pk: int, name: str):
        check_download(name)
        confidence = min_confidence(request)
        m = done_map(pk, request)
        if name == "probabilities.tif" and m.source == LandCoverMap.Source.MODIS:
            raise NotFound("MODIS maps have no class probabilities; the high-resolution (model) maps do.")
        payload = statistics_payload(m, confidence if name.startswith("statistics") else None)
        return download(name, statistics_rows(payload["classes"], payload.get("uncertain")), lambda: payload,
                        lambda n: maps.file_path(m, n), _filename(m, download_suffix(name)), "public, max-age=86400",
                        request)


def tile_key(m: LandCoverMap, what: str, z: int, x: int, y: int) -> str:
    """The cache key of a tile of a stored map: a recomputed map gets new keys."""
    return f"{what}:{m.pk}:{m.finished_at.timestamp() if m.finished_at else 0}:{z}/{x}/{y}"


class MapTile(FileView):
    """XYZ PNG tile (Web Mercator, 256 px) of a stored map; transparent outside it."""

    @extend_schema(responses=TILE_RESPONSES)
    def get(self, request, pk: int, z: int, x: int, y: int):
        check_tile(z, x, y)
        m = done_map(pk, request)
        return tile_response(z, x, y, tile_key(m, "tile", z, x, y), lambda: maps.file_path(m, "map.tif"),
                             "public, max-age=86400")


class MapConfidenceTile(FileView):
    """XYZ PNG tile of a model map's per-pixel confidence: the less sure, the more opaque; with min_confidence,
    only the pixels below it (what the statistics call 'uncertain')."""

    @extend_schema(parameters=[MIN_CONFIDENCE], responses=TILE_RESPONSES)
    def get(self, request, pk: int, z: int, x: int, y: int):
        check_tile(z, x, y)
        confidence = min_confidence(request)
        m = done_map(pk, request)
        if m.source == LandCoverMap.Source.MODIS:
            raise NotFound("MODIS maps have no per-pixel confidence; the high-resolution (model) maps do.")
        return tile_response(z, x, y, tile_key(m, f"confidence-{confidence}", z, x, y),
                             lambda: maps.file_path(m, PROBABILITIES), "public, max-age=86400",
                             partial(render_confidence_tile, min_confidence=confidence))


class MapWmts(FileView):
    """OGC WMTS capabilities of the map's XYZ tiles (and, for a model map, its confidence tiles): add the map to
    QGIS or ArcGIS as a WMTS layer with this URL."""

    @extend_schema(responses={(200, "application/xml"): OpenApiTypes.STR,
                              409: OpenApiResponse(description="The map is not done")})
    def get(self, request, pk: int):
        m = done_map(pk, request)
        url = request.build_absolute_uri(reverse("api:map-detail", args=[pk]))
        layers = {"landcover": (f"Land cover, {m.patch} ({m.model_version or 'MODIS'})", url + "tiles/{z}/{x}/{y}.png")}
        if m.source == LandCoverMap.Source.MODEL:
            layers["confidence"] = ("Confidence (the less sure, the more opaque)", url + "confidence/{z}/{x}/{y}.png")
        return capabilities_response(f"HR-MARS map {pk}", m.patch.footprint.extent, layers, url + "wmts/",
                                     "public, max-age=86400")
