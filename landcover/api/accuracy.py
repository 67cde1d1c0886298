"""How far to trust a stored map (a catalogue map, an area, your upload): POST reference points to get the
confusion matrix, overall / user's / producer's accuracy and, for a stratified random sample of the map's
classes, area estimates with 95 % confidence intervals (Olofsson et al. 2014, `ml.accuracy`); GET a
stratified random sample of the map to label, reproducible by seed."""
from __future__ import annotations

import csv
import io
import json

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import parsers, permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from ml.accuracy import assess, confusion_counts, draw_sample, map_values

from ..errors import InvalidInput, NotFound
from ..jobs.stored import StoredMap, stored_map
from ..validation.reference import read_reference
from .files import FileView

STRATIFIED_NOTE = ("Area estimates and their 95 % confidence intervals are by the stratified estimator of Olofsson et "
                   "al. (2014), with this map's classes as strata: they hold only if the points are a stratified "
                   "random sample of this map (as its sample.geojson draws), labelled independently of the map.")
UNKNOWN_NOTE = ("The points' sampling design is unknown, so these are counts and the accuracy of these points only; "
                "unbiased area estimates with confidence intervals need a probability sample — draw a stratified "
                "one with this map's sample.geojson, label it, and send it with design=stratified.")


def visible_map(request, kind: str, pk: int) -> StoredMap:
    """A done stored map of `kind` the requester may use: anybody's catalogue maps and areas, one's own uploads
    (anybody else's is a 404, as if it did not exist); NotFound or NotReady otherwise."""
    stored = stored_map(kind, pk)
    if stored.owner_id is not None and stored.owner_id != getattr(request.user, "pk", None):
        raise NotFound(f"No upload {pk}.")
    return stored


class ByKind:
    """A view serving one kind of stored map (`kind` set in the URL conf): uploads need their owner logged in."""
    kind = "map"

    def get_permissions(self):
        """IsAuthenticated for uploads (so the schema documents 401/403 there), the defaults otherwise."""
        if self.kind == "upload":
            return [permissions.IsAuthenticated()]
        return super().get_permissions()  # type: ignore[misc]  # APIView's, via the view class


def int_param(request, name: str, default: int, low: int, high: int) -> int:
    value = request.query_params.get(name, str(default))
    if not value.isascii() or not value.lstrip("-").isdigit() or not low <= int(value) <= high:
        raise InvalidInput(name, f"{name} must be a whole number from {low} to {high}.")
    return int(value)


class MapAccuracy(ByKind, APIView):
    """POST reference points (multipart `file`: GeoJSON Point features with a `class` property, or CSV with lon,
    lat, class; classes as codes 1–10 or names) and `design` (`stratified` or `unknown`, the default)."""
    kind = "map"
    parser_classes = [parsers.MultiPartParser]

    @extend_schema(request={"multipart/form-data": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}, "design": {"type": "string", "enum": ["unknown", "stratified"]}},
        "required": ["file"]}}, responses={200: OpenApiResponse(description="The assessment"),
                                           400: OpenApiResponse(description="Unreadable points, or none on the map"),
                                           409: OpenApiResponse(description="The map is not done")})
    def post(self, request, pk: int):
        stored = visible_map(request, self.kind, pk)
        path, rows = stored.path, stored.statistics
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput("file", "Attach the reference points as the form field `file` (GeoJSON or CSV).")
        design = request.data.get("design") or "unknown"
        if design not in ("unknown", "stratified"):
            raise InvalidInput("design", "design must be stratified (a stratified random sample of this map's "
                                         "classes) or unknown.")
        points = read_reference(upload.name, upload.read())
        values = map_values(path, [(x, y) for x, y, _ in points])
        pairs = [(m, r) for m, (_, _, r) in zip(values, points) if m]
        if not pairs:
            raise InvalidInput("file", "None of the points falls on a mapped pixel of this map.")
        mapped = {row["code"]: row for row in rows if row["pixels"]}
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


class MapSample(ByKind, FileView):
    """A stratified random sample of the map to label: `per_class` pixel centres of each class (fewer where a
    class is smaller), the same for the same `seed`; sample.geojson or sample.csv."""
    kind = "map"
    fmt = "geojson"

    @extend_schema(parameters=[OpenApiParameter("per_class", int, description="points per class, 1–1000 (50)"),
                               OpenApiParameter("seed", int, description="random seed, 0–2^31 (0)")],
                   responses={(200, "application/geo+json"): OpenApiTypes.OBJECT, (200, "text/csv"): OpenApiTypes.STR,
                              400: OpenApiResponse(description="A bad parameter"),
                              409: OpenApiResponse(description="The map is not done")})
    def get(self, request, pk: int):
        per_class = int_param(request, "per_class", 50, 1, 1000)
        seed = int_param(request, "seed", 0, 0, 2**31)
        fmt = self.fmt
        sample = draw_sample(visible_map(request, self.kind, pk).path, per_class, seed)
        name = f"{self.kind}-{pk}-sample-{per_class}-seed{seed}"
        if fmt == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(["id", "lon", "lat", "map_class", "map_name", "class"])
            writer.writerows([i, p["lon"], p["lat"], p["map_class"], p["map_name"], ""] for i, p in enumerate(sample, 1))
            response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        else:
            features = [{"type": "Feature", "id": i, "geometry": {"type": "Point", "coordinates": [p["lon"], p["lat"]]},
                         "properties": {"map_class": p["map_class"], "map_name": p["map_name"], "class": None}}
                        for i, p in enumerate(sample, 1)]
            response = HttpResponse(json.dumps({"type": "FeatureCollection", "features": features}),
                                    content_type="application/geo+json")
        response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
        return response
