"""A STAC API of every stored product with a STAC collection in the registry (`landcover.jobs.products`):
catalogue maps, areas of interest, changes, and (to their owner) uploads, each a STAC Item with the projection,
raster, file and classification extensions (our class codes, names, colours), the product's files as assets,
and its model as a linked record.

Served at /api/v1/stac/ with the STAC API core, collections, features and item-search conformance classes:
GET and POST /search with collections, ids, bbox, intersects, datetime and limit. Filters, order and limit
run in SQL, one query per collection; pages are linked by `next` with a token (the last item's collection and
id), which stays right when maps are added meanwhile. Only done results are items, and only those the
requester may see (the product's access rule). Items are built from the rows, never from the files, except for
the main COG's grid (read from its header) and sizes; a damaged file leaves that item without them.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import rasterio
from django.contrib.gis.db.models import Extent
from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry
from django.db.models import DateTimeField, F, Max, Min, QuerySet
from django.db.models.functions import Coalesce
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from ml.classes import DFC

from .. import storage
from ..errors import InvalidInput, NotFound
from ..jobs import products
from ..jobs.products import Collection, Product
from ..validation.bbox import parse_bbox

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


def stac_products(request=None) -> list[Product]:
    """The products served as STAC collections (login-only ones to logged-in requesters), in registry order."""
    user = getattr(request, "user", None)
    return [p for p in products.registered() if p.collection is not None
            and (not p.login_required or getattr(user, "is_authenticated", False))]


def api_root(request) -> str:
    """The STAC API's landing page URL (with its trailing slash)."""
    return request.build_absolute_uri(reverse("api:stac-landing"))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _raster_properties(path: Path, classes: bool) -> tuple[dict, dict]:
    """Item properties and asset fields of a stored COG, from its header ({} when it is missing or damaged)."""
    try:
        with rasterio.open(storage.name(path)) as src:
            epsg = src.crs.to_epsg() if src.crs else None
            props = {"proj:code": f"EPSG:{epsg}" if epsg else None, "proj:shape": [src.height, src.width],
                     "proj:transform": list(src.transform)[:6]}
            asset = {"raster:bands": [{"data_type": src.dtypes[0], "nodata": 0,
                                       "spatial_resolution": abs(src.res[0])}], "file:size": storage.stat(path).size}
    except (rasterio.errors.RasterioError, rasterio.errors.CRSError, OSError):
        return {}, {}
    if classes:
        asset["classification:classes"] = CLASSES
    return props, asset


def item(request, product_: Product, row) -> dict:
    """A done row of a product as a STAC Item: its geometry, time, the product's properties, its files as
    assets (the main COG with its grid) and its model as a linked record."""
    root = api_root(request)
    collection = product_.collection
    assert collection is not None  # only products with a collection are searched
    url = request.build_absolute_uri(reverse(f"api:{product_.kind}-detail", args=[row.pk]))
    props, fields = _raster_properties(product_.path(row, product_.main_file), product_.land_cover)
    assets = {}
    for f in product_.files:
        if f.asset and product_.offers(row, f.name):
            media = COG if f.media == "image/tiff" else f.media
            assets[f.asset] = {"href": url + f.name, "type": media, "title": f.title, "roles": list(f.roles),
                               **(fields if f.name == product_.main_file else {})}
    item_id = f"{product_.kind}-{row.pk}"
    model = product_.model_name(row)
    links = [{"rel": "self", "href": f"{root}collections/{collection.id}/items/{item_id}", "type": GEOJSON},
             {"rel": "parent", "href": f"{root}collections/{collection.id}", "type": "application/json"},
             {"rel": "collection", "href": f"{root}collections/{collection.id}", "type": "application/json"},
             {"rel": "root", "href": root, "type": "application/json"}]
    if model and product_.land_cover:
        links.append({"rel": "via", "href": request.build_absolute_uri(reverse("api:model-detail", args=[model])),
                      "type": "application/json", "title": f"Model card of {model}"})
    return {"type": "Feature", "stac_version": STAC_VERSION, "stac_extensions": EXTENSIONS, "id": item_id,
            "collection": collection.id, "geometry": product_.geometry(row), "bbox": list(product_.bounds(row)),
            "properties": {"datetime": _iso(row.item_time), "created": _iso(row.created_at), **props,
                           **product_.properties(row)},
            "assets": assets, "links": links}


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
    after: tuple[int, int] | None = None  # the `token`: (collection's index, last id) of the page before


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
        box = parse_bbox(bbox)
        search.geometry = box[0].union(box[1]) if isinstance(box, tuple) else box
    if intersects not in (None, ""):
        try:
            text = intersects if isinstance(intersects, str) else json.dumps(intersects)
            search.geometry = GEOSGeometry(text, srid=4326)
            if search.geometry.empty or not search.geometry.valid:
                raise ValueError
        except (GEOSException, GDALException, ValueError, TypeError, RecursionError):
            raise InvalidInput("intersects", "intersects must be a valid GeoJSON geometry.") from None
    if data.get("datetime") not in (None, ""):
        search.start, search.end = _parse_datetime(str(data.get("datetime")))
    value = data.get("limit")
    if value not in (None, ""):
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = 0
        if number < 1:
            raise InvalidInput("limit", "limit must be a whole number of at least 1.")
        search.limit = min(number, MAX_LIMIT)  # above the maximum: the maximum, as OGC API Features says
    token = data.get("token")
    if token not in (None, ""):
        match = TOKEN.fullmatch(str(token))
        if match is None or match.group(1) not in collections:
            raise InvalidInput("token", "token is the `next` link's, unchanged.")
        search.after = (collections.index(match.group(1)), int(match.group(2)))
    return search


TOKEN = re.compile(r"([a-z0-9-]{1,40}):([0-9]{1,19})")


def visible_collections(request) -> list[str]:
    """The collections this requester sees (uploads: logged-in users)."""
    return [p.collection.id for p in stac_products(request) if p.collection is not None]


def _product_of(collection_id: str) -> Product:
    return next(p for p in products.registered() if p.collection is not None and p.collection.id == collection_id)


def rows(request, product_: Product, search: Search) -> QuerySet:
    """The done rows of one product the requester may see that match the search, by id, in SQL: the item's time
    (`item_time`: when the imagery was taken where known, else when the result was made) filtered to the second."""
    made = Coalesce(F("finished_at"), F("created_at"))
    when = Coalesce(F(product_.datetime_field), made, output_field=DateTimeField()) if product_.datetime_field else made
    found = product_.rows().filter(product_.visible(request.user), status=product_.job.done).annotate(item_time=when)
    if search.ids is not None:
        prefix = product_.kind + "-"
        found = found.filter(pk__in=[int(i[len(prefix):]) for i in search.ids
                                     if i.startswith(prefix) and i[len(prefix):].isdigit()
                                     and len(i) - len(prefix) < 19])
    if search.geometry is not None:
        if not product_.geometry_field:
            return found.none()
        found = found.filter(**{f"{product_.geometry_field}__intersects": search.geometry})
    if search.start is not None:
        found = found.filter(item_time__gte=search.start.replace(microsecond=0))
    if search.end is not None:
        found = found.filter(item_time__lt=search.end.replace(microsecond=0) + timedelta(seconds=1))
    return found.order_by("pk")


def run_search(request, search: Search) -> tuple[list[dict], int, str | None]:
    """The page of items matching the search, how many match in all, and the next page's token (None: last)."""
    features: list[dict] = []
    matched, last, more = 0, "", False
    for index, collection in enumerate(search.collections):
        product_ = _product_of(collection)
        found = rows(request, product_, search)
        matched += found.count()
        if search.after is not None and index < search.after[0]:
            continue
        if search.after is not None and index == search.after[0]:
            found = found.filter(pk__gt=search.after[1])
        left = search.limit - len(features)
        if left <= 0:
            more = more or found.exists()
            continue
        page = list(found[:left + 1])
        for row in page[:left]:
            features.append(item(request, product_, row))
            last = f"{collection}:{row.pk}"
        more = more or len(page) > left
    return features, matched, last if more and last else None


def item_collection(request, search: Search, method: str, body: dict | None = None) -> dict:
    """The FeatureCollection answer of a search, with a `next` link while more pages remain."""
    features, matched, token = run_search(request, search)
    links: list[dict[str, object]] = [{"rel": "root", "href": api_root(request), "type": "application/json"},
                                      {"rel": "self", "href": request.build_absolute_uri(), "type": GEOJSON}]
    if token is not None:
        if method == "GET":
            params = request.GET.copy()
            params["token"] = token
            links.append({"rel": "next", "href": request.build_absolute_uri(request.path) + "?" + params.urlencode(),
                          "type": GEOJSON, "method": "GET"})
        else:
            links.append({"rel": "next", "href": request.build_absolute_uri(request.path), "type": GEOJSON,
                          "method": "POST", "body": {**(body or {}), "token": token}})
    return {"type": "FeatureCollection", "features": features, "links": links, "numberMatched": matched,
            "numberReturned": len(features)}


# --------------------------------------------------------------------------------------------- views

def _extent(request, product_: Product) -> dict:
    """The collection's spatial and temporal extent from its items (the whole world and no dates while empty)."""
    found = rows(request, product_, Search(collections=[]))
    times = found.aggregate(first=Min("item_time"), last=Max("item_time"))
    bbox = [-180.0, -90.0, 180.0, 90.0]
    if product_.geometry_field:
        box = found.aggregate(box=Extent(product_.geometry_field))["box"]
        bbox = list(box) if box else bbox
    return {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [[_iso(times["first"]), _iso(times["last"])]]}}


def collection_document(request, c: Collection) -> dict:
    """A STAC Collection, its extent from the done rows the requester may see."""
    root = api_root(request)
    extent = _extent(request, _product_of(c.id))
    return {"type": "Collection", "stac_version": STAC_VERSION, "stac_extensions": [
        "https://stac-extensions.github.io/classification/v2.0.0/schema.json"], "id": c.id, "title": c.title,
        "description": c.description, "license": "other",
        "extent": extent,
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
        return Response({"collections": [collection_document(request, p.collection) for p in stac_products(request)
                                         if p.collection is not None],
                         "links": [{"rel": "self", "href": root + "collections", "type": "application/json"},
                                   {"rel": "root", "href": root, "type": "application/json"}]})


def _collection(request, collection_id: str) -> Collection:
    if collection_id not in visible_collections(request):
        raise NotFound(f"No collection {collection_id[:60]!r}.")
    found = _product_of(collection_id).collection
    assert found is not None
    return found


class StacCollection(APIView):
    """One collection."""

    @extend_schema(operation_id="v1_stac_collection", responses={200: OpenApiResponse(description="Collection"),
                                                                 404: OpenApiResponse(description="No such")})
    def get(self, request, collection_id: str):
        return Response(collection_document(request, _collection(request, collection_id)))


class StacItems(APIView):
    """The items of one collection (bbox, datetime, limit and token as in search)."""

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
        features, _, _ = run_search(request, search)
        if not features:
            raise NotFound(f"No item {item_id[:60]!r} in {collection_id}.")
        return Response(features[0], content_type=GEOJSON)


class StacSearch(APIView):
    """Item search (GET query parameters or a POST JSON body): collections, ids, bbox, intersects, datetime
    (RFC 3339 instant or interval), limit (≤ 1000), token (from the `next` link)."""

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

