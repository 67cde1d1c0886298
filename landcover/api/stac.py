"""A STAC API of every stored map: catalogue maps, areas of interest, changes, and (to their owner) uploads,
each a STAC Item with the projection, raster, file and classification extensions (our class codes, names,
colours), its COG, probabilities, preview and statistics as assets, and its model as a linked record.

Served at /api/v1/stac/ with the STAC API core, collections, features and item-search conformance classes:
GET and POST /search with collections, ids, bbox, intersects, datetime and limit, pages linked by `next`.
Only done maps are items; an upload is an item for its owner alone. Items are built from the rows, never
from the files, except for the COG's grid (read from its header) and sizes.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import rasterio
from django.contrib.gis.geos import GEOSException, GEOSGeometry, Polygon
from django.db.models import Q, QuerySet
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from ml.classes import DFC

from ..errors import InvalidInput
from ..jobs import areas as area_jobs
from ..jobs import change as change_jobs
from ..jobs import maps as map_jobs
from ..jobs import uploads as upload_jobs
from ..models import AreaMap, ChangeMap, LandCoverMap, Upload

STAC_VERSION = "1.1.0"
CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
EXTENSIONS = [
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "https://stac-extensions.github.io/classification/v2.0.0/schema.json",
]
GEOJSON = "application/geo+json"
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
MAX_LIMIT = 1000
CLASSES = [{"value": code, "name": name.lower().replace("/", "-").replace(" ", "-"), "description": name,
            "color_hint": colour.lstrip("#").upper()} for code, (name, colour) in DFC.items()]


@dataclass(frozen=True)
class Collection:
    """One collection: which rows, how to describe them."""

    id: str
    title: str
    description: str


COLLECTIONS = {c.id: c for c in (
    Collection("catalogue-maps", "Maps of catalogue patches",
               "Land-cover maps (simplified IGBP, DFC2020 codes) of the catalogue's patches: the model's high-resolution "
               "maps and MODIS low-resolution ones."),
    Collection("areas", "Maps of areas of interest",
               "Land-cover maps of areas drawn or uploaded anywhere, from Sentinel-2 imagery (a STAC API or the local "
               "catalogue), clouds masked, clipped to the area."),
    Collection("changes", "Changes between two maps",
               "Change maps between two stored maps of one place: codes (from − 1) × 10 + to."),
    Collection("uploads", "Your uploads' maps", "Land-cover maps of your own uploaded images (yours alone)."),
)}


def api_root(request) -> str:
    """The STAC API's landing page URL (with its trailing slash)."""
    return request.build_absolute_uri(reverse("api:stac-landing"))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _polygon(extent: tuple[float, float, float, float]) -> dict:
    west, south, east, north = extent
    return {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north],
                                                [west, south]]]}


def _raster_properties(path: Path) -> tuple[dict, dict]:
    """Item properties and asset fields of a stored class COG, from its header."""
    if not path.is_file():
        return {}, {}
    with rasterio.open(path) as src:
        epsg = src.crs.to_epsg() if src.crs else None
        props = {"proj:code": f"EPSG:{epsg}" if epsg else None, "proj:shape": [src.height, src.width],
                 "proj:transform": list(src.transform)[:6]}
        asset = {"raster:bands": [{"data_type": src.dtypes[0], "nodata": 0, "spatial_resolution": abs(src.res[0])}],
                 "classification:classes": CLASSES, "file:size": path.stat().st_size}
    return props, asset


def _assets(url: str, cog: Path, fields: dict, extra: dict[str, tuple[str, str, list[str], str]]) -> dict:
    """The item's assets: the class COG (with `fields`, from `_raster_properties`) and the `extra` files."""
    assets = {"data": {"href": url + cog.name, "type": COG, "title": "Land cover (COG)", "roles": ["data"], **fields}}
    for key, (name, media, roles, title) in extra.items():
        assets[key] = {"href": url + name, "type": media, "roles": roles, "title": title}
    return assets


def _item(request, collection: str, item_id: str, geometry: dict, bbox: list[float], when: datetime | None,
          created: datetime | None, properties: dict, assets: dict, links: list[dict]) -> dict:
    root = api_root(request)
    return {"type": "Feature", "stac_version": STAC_VERSION, "stac_extensions": EXTENSIONS, "id": item_id,
            "collection": collection, "geometry": geometry, "bbox": bbox,
            "properties": {"datetime": _iso(when or created), "created": _iso(created), **properties},
            "assets": assets,
            "links": [{"rel": "self", "href": f"{root}collections/{collection}/items/{item_id}", "type": GEOJSON},
                      {"rel": "parent", "href": f"{root}collections/{collection}", "type": "application/json"},
                      {"rel": "collection", "href": f"{root}collections/{collection}", "type": "application/json"},
                      {"rel": "root", "href": root, "type": "application/json"}, *links]}


def _model_link(request, name: str | None) -> list[dict]:
    if not name:
        return []
    return [{"rel": "via", "href": request.build_absolute_uri(reverse("api:model-detail", args=[name])),
             "type": "application/json", "title": f"Model card of {name}"}]


def map_item(request, m: LandCoverMap) -> dict:
    """A catalogue map as a STAC Item."""
    url = request.build_absolute_uri(reverse("api:map-detail", args=[m.pk]))
    patch = m.patch
    extra = {"preview": ("preview.png", "image/png", ["overview"], "Preview"),
             "statistics": ("statistics.json", "application/json", ["metadata"], "Per-class statistics")}
    if m.source == LandCoverMap.Source.MODEL:
        extra["probabilities"] = ("probabilities.tif", COG, ["data"], "Class probabilities and confidence (×255)")
    cog = map_jobs.file_path(m, "map.tif")
    props, fields = _raster_properties(cog)
    model = m.model_version.name if m.model_version else None
    return _item(request, "catalogue-maps", f"map-{m.pk}", json.loads(patch.footprint.geojson),
                 list(patch.footprint.extent), item_time("catalogue-maps", m), m.created_at,
                 {**props, "hrmars:source": m.source, "hrmars:model": model or "MODIS",
                  "hrmars:synthetic": m.synthetic, "title": f"{patch} — {model or 'MODIS'}"},
                 _assets(url, cog, fields, extra), _model_link(request, model))


def area_item(request, a: AreaMap) -> dict:
    """An area map as a STAC Item (its datetime: the first scene's acquisition)."""
    url = request.build_absolute_uri(reverse("api:area-detail", args=[a.pk]))
    folder = area_jobs.area_folder(a)
    props, fields = _raster_properties(folder / "map.tif")
    extra = {"probabilities": ("probabilities.tif", COG, ["data"], "Class probabilities and confidence (×255)"),
             "image": ("image.tif", COG, ["visual"], "Sentinel-2 true colour of the pixels used"),
             "preview": ("preview.png", "image/png", ["overview"], "Preview"),
             "statistics": ("statistics.json", "application/json", ["metadata"], "Per-class statistics")}
    return _item(request, "areas", f"area-{a.pk}", json.loads(a.geometry.geojson), list(a.geometry.extent),
                 item_time("areas", a),
                 a.created_at, {**props, "hrmars:model": a.model_version.name,
                                 "hrmars:cloud_percent": a.imagery.get("cloud_percent"),
                                 "hrmars:scenes": [i["id"] for i in a.imagery.get("items", [])],
                                 "title": f"Area {a.pk} ({a.area_km2:.2f} km²)"},
                 _assets(url, folder / "map.tif", fields, extra), _model_link(request, a.model_version.name))


def change_item(request, c: ChangeMap) -> dict:
    """A change map as a STAC Item."""
    url = request.build_absolute_uri(reverse("api:change-detail", args=[c.pk]))
    folder = change_jobs.change_folder(c)
    props, fields = _raster_properties(folder / "change.tif")
    fields.pop("classification:classes", None)
    assets = {"data": {"href": url + "change.tif", "type": COG, "roles": ["data"], "title": "Change (COG)", **fields},
              "transitions": {"href": url + "transitions.json", "type": "application/json", "roles": ["metadata"],
                              "title": "Transition matrix"},
              "chart": {"href": url + "chart.png", "type": "image/png", "roles": ["overview"], "title": "Net change"}}
    return _item(request, "changes", f"change-{c.pk}", _polygon(tuple(c.bounds)), list(c.bounds), item_time("changes", c),
                 c.created_at,
                 {**props, "hrmars:before": f"{c.before_kind}-{c.before_id}", "hrmars:after": f"{c.after_kind}-{c.after_id}",
                  "hrmars:different_models": c.different_models, "title": f"Change {c.pk}"}, assets, [])


def upload_item(request, u: Upload) -> dict:
    """An upload's map as a STAC Item (its owner's eyes only)."""
    url = request.build_absolute_uri(reverse("api:upload-detail", args=[u.pk]))
    folder = upload_jobs.upload_folder(u)
    props, fields = _raster_properties(folder / "map.tif")
    extra = {"probabilities": ("probabilities.tif", COG, ["data"], "Class probabilities and confidence (×255)"),
             "preview": ("preview.png", "image/png", ["overview"], "Preview"),
             "statistics": ("statistics.json", "application/json", ["metadata"], "Per-class statistics")}
    return _item(request, "uploads", f"upload-{u.pk}", json.loads(u.footprint.geojson), list(u.footprint.extent),
                 item_time("uploads", u), u.created_at, {**props, "hrmars:model": u.model_version.name, "title": u.original_name},
                 _assets(url, folder / "map.tif", fields, extra), _model_link(request, u.model_version.name))


# ------------------------------------------------------------------------------------------ querying

@dataclass
class Search:
    """Parsed search parameters (GET query or POST body)."""

    collections: list[str]
    ids: list[str] | None = None
    geometry: GEOSGeometry | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 10
    page: int = 1


RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _parse_datetime(value: str) -> tuple[datetime | None, datetime | None]:
    """An RFC 3339 instant, or an interval of two (either end open: '..' or empty)."""
    def one(text: str) -> datetime | None:
        if text in ("", ".."):
            return None
        if not RFC3339.fullmatch(text):
            raise InvalidInput("datetime", f"datetime {text[:40]!r} is not an RFC 3339 date-time with a time zone "
                                           "(e.g. 2024-06-01T00:00:00Z).")
        try:
            return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        except ValueError:  # the right shape, an impossible date or time (month 13, second 61)
            raise InvalidInput("datetime", f"datetime {text[:40]!r} is not a real date and time.") from None

    if "/" in value:
        first, last = value.split("/", 1)
        if first in ("", "..") and last in ("", ".."):
            raise InvalidInput("datetime", "An interval needs at least one end.")
        start, end = one(first), one(last)
        if start and end and start > end:
            raise InvalidInput("datetime", "The interval's start is after its end.")
        return start, end
    moment = one(value)
    return moment, moment


def parse_search(data, visible: list[str], from_query: bool = True) -> Search:
    """The parameters of a search, checked: InvalidInput (400) naming the one that is wrong."""
    def listed(value) -> list[str] | None:
        if value in (None, ""):
            return None
        if isinstance(value, str):
            return [v for v in value.split(",") if v]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise InvalidInput("collections", "collections and ids are lists of strings (or comma-separated).")

    collections = listed(data.get("collections")) or visible
    unknown = [c for c in collections if c not in visible]
    if unknown:
        raise InvalidInput("collections", f"No collection {', '.join(unknown)}; there are {', '.join(visible)}.")
    search = Search(collections=collections, ids=listed(data.get("ids")))
    bbox, intersects = data.get("bbox"), data.get("intersects")
    if bbox not in (None, "") and intersects not in (None, ""):
        raise InvalidInput("bbox", "Give bbox or intersects, not both.")
    if bbox not in (None, ""):
        if isinstance(bbox, str) and not from_query:
            raise InvalidInput("bbox", "In a POST body, bbox is an array of numbers.")
        values = bbox.split(",") if isinstance(bbox, str) else bbox
        try:
            numbers = [float(v) for v in values]
        except (TypeError, ValueError):
            numbers = []
        if len(numbers) == 6:
            numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
        if len(numbers) != 4 or not (-180 <= numbers[0] <= 180 and -90 <= numbers[1] <= numbers[3] <= 90):
            raise InvalidInput("bbox", "bbox is west,south,east,north in degrees.")
        if numbers[0] <= numbers[2]:
            search.geometry = Polygon.from_bbox((numbers[0], numbers[1], numbers[2], numbers[3]))
            search.geometry.srid = 4326
        else:
            raise InvalidInput("bbox", "A bbox across the antimeridian (west > east) is not supported; split it.")
    if intersects not in (None, ""):
        try:
            text = intersects if isinstance(intersects, str) else json.dumps(intersects)
            search.geometry = GEOSGeometry(text, srid=4326)
        except (GEOSException, ValueError, TypeError):
            raise InvalidInput("intersects", "intersects must be a GeoJSON geometry.") from None
    if data.get("datetime") not in (None, ""):
        search.start, search.end = _parse_datetime(str(data.get("datetime")))
    for name, high in (("limit", MAX_LIMIT), ("page", 10**6)):
        value = data.get(name)
        if value in (None, ""):
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = 0
        if number < 1:
            raise InvalidInput(name, f"{name} must be a whole number of at least 1.")
        setattr(search, name, min(number, high))  # above the maximum: the maximum, as OGC API Features says
    return search


def visible_collections(request) -> list[str]:
    """The collections this requester sees (uploads: logged-in users)."""
    ids = ["catalogue-maps", "areas", "changes"]
    return ids + ["uploads"] if request.user.is_authenticated else ids


def _rows(request, collection: str, search: Search) -> tuple[QuerySet, str, str]:
    """The done rows of one collection matching the search: (queryset, id prefix, geometry field or '')."""
    if collection == "catalogue-maps":
        return (LandCoverMap.objects.filter(status=LandCoverMap.Status.DONE).select_related(
            "patch__dataset", "model_version"), "map", "patch__footprint")
    if collection == "areas":
        return AreaMap.objects.filter(status=AreaMap.Status.DONE).select_related("model_version"), "area", "geometry"
    if collection == "changes":
        mine = Q(owner__isnull=True) | (Q(owner=request.user) if request.user.is_authenticated else Q(pk__in=[]))
        return ChangeMap.objects.filter(mine, status=ChangeMap.Status.DONE), "change", ""
    return (Upload.objects.filter(status=Upload.Status.DONE, owner=request.user).select_related("model_version"),
            "upload", "footprint")


BUILDERS: dict[str, Callable[..., dict]] = {"catalogue-maps": map_item, "areas": area_item,
                                            "changes": change_item, "uploads": upload_item}


def item_time(collection: str, row) -> datetime | None:
    """An item's datetime, to the second: an area's first scene's acquisition, else when the map was made (finished,
    else created)."""
    when = row.finished_at or row.created_at
    if collection == "areas":
        dates = sorted(i["datetime"] for i in row.imagery.get("items", []) if i.get("datetime"))
        when = datetime.fromisoformat(dates[0]) if dates else when
    return when.replace(microsecond=0) if when else None


def _within(when: datetime | None, start: datetime | None, end: datetime | None) -> bool:
    if when is None:
        return False
    return (start is None or when >= start.replace(microsecond=0)) and (end is None or when <= end)


def run_search(request, search: Search) -> tuple[list[dict], int]:
    """The page of items matching the search, and how many match in all."""
    found: list[tuple[str, object]] = []
    for collection in search.collections:
        rows, prefix, geometry_field = _rows(request, collection, search)
        if search.ids is not None:
            pks = [int(i.split("-", 1)[1]) for i in search.ids if i.startswith(prefix + "-")
                   and i.split("-", 1)[1].isdigit()]
            rows = rows.filter(pk__in=pks)
        if search.geometry is not None and geometry_field:
            rows = rows.filter(**{f"{geometry_field}__intersects": search.geometry})
        items = list(rows.order_by("pk"))
        if search.start is not None or search.end is not None:  # on each item's own datetime, to the second
            items = [r for r in items if _within(item_time(collection, r), search.start, search.end)]
        if search.geometry is not None and not geometry_field:  # changes: bounds in JSON
            items = [r for r in items if Polygon.from_bbox(tuple(r.bounds)).intersects(search.geometry)]
        found.extend((collection, row) for row in items)
    start = (search.page - 1) * search.limit
    page = found[start:start + search.limit]
    return [BUILDERS[collection](request, row) for collection, row in page], len(found)


def item_collection(request, search: Search, method: str, body: dict | None = None) -> dict:
    """The FeatureCollection answer of a search, with a `next` link while more pages remain."""
    features, matched = run_search(request, search)
    links: list[dict[str, object]] = [{"rel": "root", "href": api_root(request), "type": "application/json"},
                                      {"rel": "self", "href": request.build_absolute_uri(), "type": GEOJSON}]
    if search.page * search.limit < matched:
        if method == "GET":
            params = request.GET.copy()
            params["page"] = str(search.page + 1)
            links.append({"rel": "next", "href": request.build_absolute_uri(request.path) + "?" + params.urlencode(),
                          "type": GEOJSON, "method": "GET"})
        else:
            links.append({"rel": "next", "href": request.build_absolute_uri(request.path), "type": GEOJSON,
                          "method": "POST", "body": {**(body or {}), "page": search.page + 1}})
    return {"type": "FeatureCollection", "features": features, "links": links, "numberMatched": matched,
            "numberReturned": len(features)}


# --------------------------------------------------------------------------------------------- views

def collection_document(request, c: Collection) -> dict:
    """A STAC Collection."""
    root = api_root(request)
    return {"type": "Collection", "stac_version": STAC_VERSION, "stac_extensions": [
        "https://stac-extensions.github.io/classification/v2.0.0/schema.json"], "id": c.id, "title": c.title,
        "description": c.description, "license": "other",
        "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [["2017-01-01T00:00:00Z", None]]}},
        "summaries": {"classification:classes": CLASSES} if c.id != "changes" else {},
        "links": [{"rel": "self", "href": f"{root}collections/{c.id}", "type": "application/json"},
                  {"rel": "root", "href": root, "type": "application/json"},
                  {"rel": "parent", "href": root, "type": "application/json"},
                  {"rel": "items", "href": f"{root}collections/{c.id}/items", "type": GEOJSON},
                  {"rel": "license", "href": request.build_absolute_uri(reverse("api:dataset-list")),
                   "title": "Each source dataset's licence"}]}


class StacLanding(APIView):
    """The STAC API's landing page: conformance classes and links to collections and search."""

    @extend_schema(operation_id="v1_stac_landing", responses={200: OpenApiResponse(description="STAC Catalog")})
    def get(self, request):
        root = api_root(request)
        links = [{"rel": "self", "href": root, "type": "application/json"},
                 {"rel": "root", "href": root, "type": "application/json"},
                 {"rel": "conformance", "href": root + "conformance", "type": "application/json"},
                 {"rel": "data", "href": root + "collections", "type": "application/json"},
                 {"rel": "search", "href": root + "search", "type": GEOJSON, "method": "GET"},
                 {"rel": "search", "href": root + "search", "type": GEOJSON, "method": "POST"},
                 {"rel": "service-desc", "href": request.build_absolute_uri(reverse("api-schema")),
                  "type": "application/vnd.oai.openapi;version=3.0"},
                 *[{"rel": "child", "href": f"{root}collections/{c}", "type": "application/json"}
                   for c in visible_collections(request)]]
        return Response({"type": "Catalog", "stac_version": STAC_VERSION, "id": "hr-mars",
                         "title": "HR-MARS land-cover maps", "description": "Every land-cover map HR-MARS has made: "
                         "catalogue maps, areas of interest, changes, and your uploads.",
                         "conformsTo": CONFORMANCE, "links": links})


class StacConformance(APIView):
    """The conformance classes this API implements."""

    @extend_schema(operation_id="v1_stac_conformance", responses={200: OpenApiResponse(description="conformsTo")})
    def get(self, request):
        return Response({"conformsTo": CONFORMANCE})


class StacCollections(APIView):
    """The collections: catalogue maps, areas, changes (and your uploads when logged in)."""

    @extend_schema(operation_id="v1_stac_collections", responses={200: OpenApiResponse(description="Collections")})
    def get(self, request):
        root = api_root(request)
        return Response({"collections": [collection_document(request, COLLECTIONS[c])
                                         for c in visible_collections(request)],
                         "links": [{"rel": "self", "href": root + "collections", "type": "application/json"},
                                   {"rel": "root", "href": root, "type": "application/json"}]})


def _collection(request, collection_id: str) -> Collection:
    if collection_id not in visible_collections(request):
        raise NotFound(f"No collection {collection_id!r}.")
    return COLLECTIONS[collection_id]


class StacCollection(APIView):
    """One collection."""

    @extend_schema(operation_id="v1_stac_collection", responses={200: OpenApiResponse(description="Collection"),
                                                                 404: OpenApiResponse(description="No such")})
    def get(self, request, collection_id: str):
        return Response(collection_document(request, _collection(request, collection_id)))


class StacItems(APIView):
    """The items of one collection (bbox, datetime, limit and page as in search)."""

    @extend_schema(operation_id="v1_stac_items", responses={200: OpenApiResponse(description="ItemCollection")})
    def get(self, request, collection_id: str):
        _collection(request, collection_id)
        search = parse_search(request.query_params, visible_collections(request))
        search.collections = [collection_id]
        return Response(item_collection(request, search, "GET"), content_type=GEOJSON)


class StacItem(APIView):
    """One item."""

    @extend_schema(operation_id="v1_stac_item", responses={200: OpenApiResponse(description="Item"),
                                                           404: OpenApiResponse(description="No such item")})
    def get(self, request, collection_id: str, item_id: str):
        _collection(request, collection_id)
        search = Search(collections=[collection_id], ids=[item_id], limit=1)
        features, _ = run_search(request, search)
        if not features:
            raise NotFound(f"No item {item_id!r} in {collection_id}.")
        return Response(features[0], content_type=GEOJSON)


class StacSearch(APIView):
    """Item search (GET query parameters or a POST JSON body): collections, ids, bbox, intersects, datetime
    (RFC 3339 instant or interval), limit (≤ 1000), page."""

    @extend_schema(operation_id="v1_stac_search_get", responses={200: OpenApiResponse(description="ItemCollection"),
                                                                400: OpenApiResponse(description="A bad parameter")})
    def get(self, request):
        search = parse_search(request.query_params, visible_collections(request))
        return Response(item_collection(request, search, "GET"), content_type=GEOJSON)

    @extend_schema(operation_id="v1_stac_search_post", request={"application/json": {"type": "object"}},
                   responses={200: OpenApiResponse(description="ItemCollection"),
                              400: OpenApiResponse(description="A bad parameter")})
    def post(self, request):
        body = request.data if isinstance(request.data, dict) else None
        if body is None:
            raise InvalidInput("body", "POST a JSON object of search parameters.")
        search = parse_search(body, visible_collections(request), from_query=False)
        return Response(item_collection(request, search, "POST", body), content_type=GEOJSON)

