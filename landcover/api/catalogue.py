"""Catalogue resources: datasets, scenes (zoomed-out boxes), patch footprints, the patch at a point,
and the land-cover classes. Answers are cached rendered (`caching`)."""
from __future__ import annotations

import io
from functools import lru_cache

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from PIL import Image, ImageDraw  # Pillow: matplotlib's dependency
from rest_framework import generics
from rest_framework.views import APIView
from rest_framework_gis.pagination import GeoJsonPagination

from ml.classes import DFC

from ..catalogue.queries import of_dataset
from ..catalogue.registry import class_legend
from ..models import Patch, Scene
from .caching import cached
from .files import FileView
from .params import BBOX_PARAM, DATASET, LAT, LON, SEASON, dataset_param, filter_bbox, point_from
from .places import no_patch_message, patches_here
from .serializers import ClassSerializer, DatasetSerializer, PatchFeatureSerializer, SceneFeatureSerializer


class DatasetList(generics.ListAPIView):
    """Datasets in the catalogue, with licences, citations and patch counts; synthetic ones say so."""
    serializer_class = DatasetSerializer
    pagination_class = None

    def get_queryset(self):
        return DatasetSerializer.queryset()


class CachedFeatureList(generics.ListAPIView):
    """GeoJSON features of the view's bbox, optionally of one dataset, cached rendered."""
    geometry_field = ""

    def base_queryset(self):
        raise NotImplementedError

    def get_queryset(self):
        params = self.request.query_params
        return of_dataset(filter_bbox(self.base_queryset(), self.geometry_field, params.get("bbox")),
                          dataset_param(params.get("dataset")))

    @extend_schema(parameters=[BBOX_PARAM, DATASET])
    def get(self, request, *args, **kwargs):
        return cached(request, lambda: self.list(request).data)


class FeaturePagination(GeoJsonPagination):
    """A page of GeoJSON features; the schema says so (a FeatureCollection, not DRF's `results`)."""

    def get_paginated_response_schema(self, schema: dict) -> dict:
        # `schema` is already the FeatureCollection (drf-spectacular's GeoJSON list); a page adds its counts.
        return {"allOf": [schema, {"type": "object", "required": ["count"], "properties": {
            "count": {"type": "integer", "description": "features on all pages"},
            "next": {"type": "string", "format": "uri", "nullable": True},
            "previous": {"type": "string", "format": "uri", "nullable": True}}}]}


class ScenePagination(FeaturePagination):
    page_size = 1000
    max_page_size = 5000


class SceneList(CachedFeatureList):
    """Scenes (groups of patches) as GeoJSON boxes with patch counts: the map's view when zoomed out."""
    serializer_class = SceneFeatureSerializer
    pagination_class = ScenePagination
    geometry_field = "extent"

    def base_queryset(self):
        return Scene.objects.filter(extent__isnull=False).select_related("dataset").order_by("pk")


class PatchPagination(FeaturePagination):
    page_size = 100
    max_page_size = 1000


class PatchList(CachedFeatureList):
    """Patch footprints as GeoJSON, filtered by bbox and dataset, 100 per page (page_size up to 1,000)."""
    serializer_class = PatchFeatureSerializer
    pagination_class = PatchPagination
    geometry_field = "footprint"

    def base_queryset(self):
        return Patch.objects.select_related("dataset", "scene").order_by("pk")


class PatchDetail(generics.RetrieveAPIView):
    """One patch: footprint, dataset, scene, native CRS."""
    serializer_class = PatchFeatureSerializer
    queryset = Patch.objects.select_related("dataset", "scene")


class PatchAtPoint(APIView):
    """The patch covering a point (real data first), and the other patches there (seasons, overlaps)."""

    @extend_schema(parameters=[LAT, LON, DATASET, SEASON],
                   responses={200: PatchFeatureSerializer, 404: OpenApiResponse(description="No patch covers the point")})
    def get(self, request):
        point = point_from(request)

        def build():
            found = list(patches_here(request, point)[:21])
            if not found:
                return None
            data = PatchFeatureSerializer(found[0], context={"request": request}).data
            data["properties"]["others"] = [
                {"id": p.pk, "dataset": p.dataset.name, "season": p.scene.season, "scene": str(p.scene),
                 "url": request.build_absolute_uri(reverse("api:patch-detail", args=[p.pk]))} for p in found[1:]]
            return data

        return cached(request, build, missing=lambda: no_patch_message(point))


class ClassList(APIView):
    """The simplified IGBP classes (DFC2020 codes) with colours and the registered models that predict each
    (MODIS maps hold all ten)."""

    @extend_schema(responses=ClassSerializer(many=True))
    def get(self, request):
        return cached(request, class_legend)


class ClassLegend(FileView):
    """The classes' colours and names as a PNG legend (what WMTS clients such as QGIS show beside a layer)."""

    @extend_schema(operation_id="v1_classes_legend", responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request):
        response = HttpResponse(legend_png(), content_type="image/png")
        response["Cache-Control"] = "public, max-age=86400"
        return response


@lru_cache(maxsize=1)
def legend_png() -> bytes:
    """A 10-row legend: each class's colour, code and name."""
    row = 20
    image = Image.new("RGBA", (200, row * len(DFC) + 8), (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    for i, (code, (name, colour)) in enumerate(DFC.items()):
        y = 4 + i * row
        draw.rectangle([6, y + 2, 22, y + row - 4], fill=colour, outline=(51, 51, 51))
        draw.text((30, y + 3), f"{code} {name}", fill=(20, 20, 20))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
