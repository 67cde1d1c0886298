"""What every land-cover product offers beyond its files: how far to trust it and how to take it elsewhere.

- ``accuracy/``: POST reference points to get the confusion matrix, overall / user's / producer's accuracy and,
  for a stratified random sample of the map's classes, area estimates with 95 % confidence intervals
  (Olofsson et al. 2014, `ml.accuracy`). Reads one pixel per point, never the whole map.
- ``sample.geojson`` / ``sample.csv``: a stratified random sample of the map to label, reproducible by seed;
- ``vectors.geojson`` / ``vectors.gpkg``: polygons per class after a minimum mapping unit.
- ``units/``: POST a layer of polygons (administrative units, farms, watersheds) to get one row per unit —
  class areas in ha and %, no-data share — as CSV, GeoJSON and GeoPackage (always a job).

Samples and vectors read the whole map, so they are exports (`landcover.jobs.exports`): made in the request
for a map of up to HRMARS_INLINE_MAX_PIXELS pixels, else a job whose URL the answer (202) gives; each
variant is made once and kept as its own result, and a new one counts against the client's limit on new exports
(HRMARS_EXPORT_RATE; a job, against HRMARS_MAP_RATE too), so nobody fills the disk with variants; `prune` removes
those nobody reads.
"""
from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse
from django.urls import path, reverse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import parsers, permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ml.accuracy import assess, confusion_counts, map_values

from .. import storage
from ..errors import Damaged, InvalidInput, NotReady
from ..jobs import exports, products
from ..jobs.products import Product, StoredMap
from ..validation.areas import features_from_file, unit_geometry
from ..validation.reference import read_reference
from .files import FileView, ranged_file
from .limits import count_area_file, count_new_computation, count_new_export
from .params import int_param
from .serializers import links
from .tiles import DAMAGED, UNREADABLE

STRATIFIED_NOTE = ("Area estimates and their 95 % confidence intervals are by the stratified estimator of Olofsson et "
                   "al. (2014), with this map's classes as strata: they hold only if the points are a stratified "
                   "random sample of this map (as its sample.geojson draws), labelled independently of the map.")
UNKNOWN_NOTE = ("The points' sampling design is unknown, so these are counts and the accuracy of these points only; "
                "unbiased area estimates with confidence intervals need a probability sample — draw a stratified "
                "one with this map's sample.geojson, label it, and send it with design=stratified.")
EXPORT_RESPONSES = {(200, "application/geo+json"): OpenApiTypes.OBJECT, (200, "text/csv"): OpenApiTypes.STR,
                    (200, "application/geopackage+sqlite3"): OpenApiTypes.BINARY,
                    202: OpenApiResponse(description="A large map: the export's job URL (also in Location) to poll"),
                    400: OpenApiResponse(description="A bad parameter, or a map too large"),
                    404: OpenApiResponse(description="No such map, or not yours"),
                    409: OpenApiResponse(description="The map is not done")}


class OneProductView(APIView):
    """A view of one product (set by `as_view(product=…)`): login-only products say 401 to anonymous clients.
    The base of these views and of the route factory's (`factory.ProductView`)."""

    product: Product = None  # type: ignore[assignment]  # set by as_view(product=…)

    def get_permissions(self):
        """IsAuthenticated for login-only products (so the schema documents 401/403 there), else the defaults."""
        if self.product.login_required:
            return [permissions.IsAuthenticated()]
        return super().get_permissions()


class AnalysisView(OneProductView):
    """A view of one land-cover product."""

    fmt = ""

    def stored(self, request, pk: int) -> StoredMap:
        """The done map, if the requester may use it."""
        return products.stored_map(self.product.kind, pk, request.user)


class Accuracy(AnalysisView):
    """POST reference points (multipart `file`: GeoJSON Point features with a `class` property, or CSV with lon,
    lat, class; classes as codes 1–10 or names) and `design` (`stratified` or `unknown`, the default)."""
    parser_classes = [parsers.MultiPartParser]

    @extend_schema(request={"multipart/form-data": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}, "design": {"type": "string", "enum": ["unknown", "stratified"]}},
        "required": ["file"]}}, responses={200: OpenApiResponse(description="The assessment"),
                                           400: OpenApiResponse(description="Unreadable points, or none on the map"),
                                           404: OpenApiResponse(description="No such map, or not yours"),
                                           409: OpenApiResponse(description="The map is not done")})
    def post(self, request, pk: int):
        stored = self.stored(request, pk)
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput("file", "Attach the reference points as the form field `file` (GeoJSON or CSV).")
        design = request.data.get("design") or "unknown"
        if design not in ("unknown", "stratified"):
            raise InvalidInput("design", "design must be stratified (a stratified random sample of this map's "
                                         "classes) or unknown.")
        points = read_reference(upload.name, upload.read())
        try:
            values = map_values(stored.path, [(x, y) for x, y, _ in points])
        except UNREADABLE as exc:
            raise Damaged(DAMAGED) from exc
        pairs = [(m, r) for m, (_, _, r) in zip(values, points) if m]
        if not pairs:
            raise InvalidInput("file", "None of the points falls on a mapped pixel of this map.")
        mapped = {row["code"]: row for row in stored.statistics if row["pixels"]}
        classes = sorted(set(mapped) | {r for _, r in pairs} | {m for m, _ in pairs})
        counts = confusion_counts([m for m, _ in pairs], [r for _, r in pairs], classes)
        if design == "stratified":
            pixels = [mapped[c]["pixels"] if c in mapped else 0 for c in classes]
            km2_per_pixel = sum(r["area_km2"] for r in mapped.values()) / max(1, sum(pixels))
            result = assess(counts, classes, pixels, km2_per_pixel).to_dict()
            for row in result["classes"]:
                for key in ("mapped_area", "estimated_area", "estimated_area_ci95"):
                    km2 = row.pop(key)
                    row[f"{key}_km2"] = km2
                    row[f"{key}_ha"] = None if km2 is None else round(km2 * 100, 4)
        else:
            result = assess(counts, classes).to_dict()
        return Response({**result, "design": design, "points_sent": len(points),
                         "points_off_the_map": len(points) - len(pairs),
                         "note": STRATIFIED_NOTE if design == "stratified" else UNKNOWN_NOTE})


class Export(AnalysisView, FileView):
    """Common to samples and vectors: find or make the export, serve it when done, else 202 and its job."""
    what = ""

    def params(self, request) -> dict:
        raise NotImplementedError

    def export(self, request, pk: int):
        params = self.params(request)
        stored = self.stored(request, pk)
        tail = "-".join(f"{k}{v}" for k, v in params.items())
        name = f"{self.product.kind}-{pk}-{'landcover' if self.what == 'vectors' else 'sample'}-{tail}.{self.fmt}"

        pixels = exports.pixels_of(stored.path)  # the map's header, read once

        def before_new() -> None:  # only for a variant not made yet
            if self.what == "vectors" and pixels > settings.VECTOR_MAX_PIXELS:
                raise InvalidInput("mmu", f"This map has {pixels:,} pixels; vector export is offered up to "
                                          f"{settings.VECTOR_MAX_PIXELS:,} (HRMARS_VECTOR_MAX_PIXELS).")
            count_new_export(request)  # every new variant is work and disk: the client's limit applies
            if pixels > settings.INLINE_MAX_PIXELS:
                count_new_computation(request)  # a job for the worker, as a new map is

        row, _ = exports.request_export(stored, self.what, self.fmt, params, name, request.user, pixels, before_new)
        if row.status == exports.EXPORT_JOB.done:
            target = exports.EXPORT_PRODUCT.path(row, row.filename)
            if self.what == "vectors":
                response = ranged_file(request, target, exports.MEDIA[row.filename])
            else:
                response = HttpResponse(storage.read_bytes(target), content_type=exports.MEDIA[row.filename])
            response["Content-Disposition"] = content_disposition_header(True, row.download_name)
            response["Cache-Control"] = self.product.cache_header(stored.owner_id is not None)
            return response
        if row.status in exports.EXPORT_JOB.active:
            url = request.build_absolute_uri(reverse("api:export-detail", args=[row.pk]))
            return Response({"id": row.pk, "url": url, "status": row.status, "progress": row.progress},
                            status=status.HTTP_202_ACCEPTED, headers={"Location": url})
        if row.status == exports.EXPORT_JOB.failed:
            raise Damaged(f"The export could not be made: {row.error or 'no reason recorded'}.")
        raise NotReady(f"The export is {row.status}.")


class Sample(Export):
    """A stratified random sample of the map to label: `per_class` pixel centres of each class (fewer where a
    class is smaller), the same for the same `seed`; sample.geojson or sample.csv."""
    what, fmt = "sample", "geojson"

    def params(self, request) -> dict:
        return {"per_class": int_param(request, "per_class", 50, 1, 1000),
                "seed": int_param(request, "seed", 0, 0, 2**31)}

    @extend_schema(parameters=[OpenApiParameter("per_class", int, description="points per class, 1–1000 (50)"),
                               OpenApiParameter("seed", int, description="random seed, 0–2^31 (0)")],
                   responses=EXPORT_RESPONSES)
    def get(self, request, pk: int):
        return self.export(request, pk)


class Vectors(Export):
    """Polygons per class of the map: `vectors.geojson` (lon/lat) or `vectors.gpkg` (the map's CRS), `mmu` = the
    minimum mapping unit in pixels (0: none; at 10 m a pixel is 0.01 ha)."""
    what, fmt = "vectors", "geojson"

    def params(self, request) -> dict:
        return {"mmu": int_param(request, "mmu", 0, 0, 10_000)}

    @extend_schema(parameters=[OpenApiParameter("mmu", int, description="minimum mapping unit, pixels (0–10,000)")],
                   responses=EXPORT_RESPONSES)
    def get(self, request, pk: int):
        return self.export(request, pk)


class Units(AnalysisView):
    """POST a layer of units (multipart `file`: GeoJSON FeatureCollection, KML or zipped Shapefile; up to
    HRMARS_UNITS_MAX_FEATURES polygons with their attributes) to get the map's statistics per unit: an export job
    whose units.csv, units.geojson and units.gpkg hold one row per unit (200 with them once made)."""
    parser_classes = [parsers.MultiPartParser]

    @extend_schema(request={"multipart/form-data": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}, "required": ["file"]}},
        responses={200: OpenApiResponse(description="Made before: the export and its links"),
                   202: OpenApiResponse(description="The export's job URL (also in Location) to poll"),
                   400: OpenApiResponse(description="An unreadable layer, or too many units"),
                   404: OpenApiResponse(description="No such map, or not yours"),
                   409: OpenApiResponse(description="The map is not done"),
                   429: OpenApiResponse(description="Too many files or new exports")})
    def post(self, request, pk: int):
        count_area_file(request)  # reading a layer costs the web process time, refused ones too
        stored = self.stored(request, pk)
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput("file", "Attach the units as the form field `file` (GeoJSON, KML or zipped Shapefile).")
        features = features_from_file(upload.name or "", upload.read(), settings.UNITS_MAX_FEATURES,
                                      settings.UNITS_MAX_FILE_KB)
        layer = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": json.loads(unit_geometry(f.geometry, n).json),
             "properties": {str(k): v if isinstance(v, (int, float, str)) or v is None else str(v)
                            for k, v in f.properties.items()}} for n, f in enumerate(features, start=1)]}

        def before_new() -> None:
            count_new_export(request)
            count_new_computation(request)

        row, _ = exports.request_units(stored, layer, request.user, before_new)
        url = request.build_absolute_uri(reverse("api:export-detail", args=[row.pk]))
        body = {"id": row.pk, "url": url, "status": row.status, "progress": row.progress, "units": len(features)}
        if row.status == exports.EXPORT_JOB.done:
            return Response({**body, "links": links(exports.EXPORT_PRODUCT, row, url)})
        if row.status == exports.EXPORT_JOB.failed:
            raise Damaged(f"The statistics per unit could not be made: {row.error or 'no reason recorded'}.")
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url})


def routes(product_: Product, base: str) -> list:
    """The accuracy, sample and vector routes of a land-cover product (under `base`)."""
    kind = product_.kind
    return [
        path(f"{base}accuracy/", Accuracy.as_view(product=product_), name=f"{kind}-accuracy"),
        path(f"{base}units/", Units.as_view(product=product_), name=f"{kind}-units"),
        path(f"{base}vectors.geojson", Vectors.as_view(product=product_), name=f"{kind}-vectors"),
        path(f"{base}vectors.gpkg", Vectors.as_view(product=product_, fmt="gpkg"), name=f"{kind}-vectors-gpkg"),
        path(f"{base}sample.geojson", Sample.as_view(product=product_), name=f"{kind}-sample"),
        path(f"{base}sample.csv", Sample.as_view(product=product_, fmt="csv"), name=f"{kind}-sample-csv"),
    ]
