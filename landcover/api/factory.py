"""One route factory: every stored product (`landcover.jobs.products`) gets the same routes, built here from
its registry entry, as TiTiler's TilerFactory builds the same tile routes for any source.

For a product with prefix `areas`, `routes` builds under /api/v1/areas/<id>/:

- ``""`` the detail (the resource module's representation, or a generic one), with ``cancel/`` where the
  job can be cancelled;
- ``statistics/`` the statistics in the one shape every kind shares (``min_confidence`` applies);
- ``<layer>/<z>/<x>/<y>.png`` one XYZ tile route per layer (``min_confidence`` on confidence tiles),
  and ``wmts/``, the OGC WMTS capabilities of those layers;
- ``vectors.geojson``, ``vectors.gpkg``, ``accuracy/``, ``sample.geojson``, ``sample.csv`` for land-cover
  products (`landcover.api.analysis`);
- ``<name>`` every file the product declares (statistics rendered, the rest streamed with ranges).

Every view finds its row through `products.find` (the access rule, once: anybody else's private row is a
404, as if it did not exist; login-only products answer 401 to anonymous clients) and applies the
product's cache policy. Resource modules (`maps`, `areas`, `uploads`, `change`) only create their jobs
and describe them: they give `routes` a `Resource`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.urls import URLPattern, path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from hrmars_site.schema import AutoSchema as SiteSchema

from .. import storage
from ..errors import NotFound, NotSignedIn
from ..jobs import lifecycle, products
from ..jobs.products import Product
from . import analysis
from .files import FileView, download, statistics_rows
from .params import MIN_CONFIDENCE, check_tile, min_confidence
from .serializers import StatisticsSerializer, links
from .tiles import render_confidence_tile, render_image_tile, render_tile, tile_response
from .wmts import capabilities_response

RENDERERS: dict[str, Callable[..., bytes]] = {"classes": render_tile, "image": render_image_tile,
                                               "palette": render_tile}
MAX_PAGE_SIZE = 200
NOT_DONE = OpenApiResponse(description="The job is not done (or failed): the body says which")
NO_SUCH = OpenApiResponse(description="No such result, or not yours")
FILE_RESPONSES = {(200, "image/tiff"): OpenApiTypes.BINARY, (200, "image/png"): OpenApiTypes.BINARY,
                  (200, "text/csv"): OpenApiTypes.STR, (200, "application/json"): OpenApiTypes.OBJECT,
                  400: OpenApiResponse(description="A bad parameter"), 404: NO_SUCH, 409: NOT_DONE}
TILE_RESPONSES = {(200, "image/png"): OpenApiTypes.BINARY, 400: OpenApiResponse(description="No such tile"),
                  404: NO_SUCH, 409: NOT_DONE}


class ProductSchema(SiteSchema):
    """The site's schema (every error answer documented), with operation ids from the product and the route
    (`v1_areas_statistics`), unique whatever the path."""

    def get_operation_id(self):
        view = cast("ProductView", self.view)
        suffix = "_delete" if self.method == "DELETE" else ""
        return f"v1_{view.product.prefix}_{view.operation}{suffix}"


class ProductView(analysis.OneProductView):
    """A view of one product, set by `as_view(product=…, operation=…)`."""

    operation = "detail"
    schema = ProductSchema()

    def row(self, request, pk: int) -> Any:
        """The row if the requester may see it, else NotFound. A job whose task was lost (its worker was killed,
        the broker emptied) is queued again here, when somebody looks at it: an upload nobody asks for again would
        otherwise stay "running" for good, holding one of its owner's active slots."""
        row = products.find(self.product, pk, request.user)
        lifecycle.requeue_if_stale(self.product.job, row, settings.MAP_STALE_SECONDS)
        return row

    def described(self, row, request) -> dict:
        """The row as its resource module represents it (`represent`, set on the view by as_view: a plain
        function, not a method), else the generic representation."""
        represent = getattr(self, "represent", None)
        return represent(row, request) if represent is not None else generic_representation(self.product, row, request)

    def done_row(self, request, pk: int) -> Any:
        """The row if the requester may see it and its job is done; reading it counts as asking for it (once an
        hour at most: `prune` keeps what is read)."""
        row = products.done(self.product, self.row(request, pk))
        lifecycle.asked_again(self.product.job, row)
        return row


class ProductFileView(ProductView, FileView):
    """A product view answering files: errors still JSON."""


def job_fields(product_: Product, row, url: str, user) -> dict:
    """What every job's representation starts with: id, URL, state, timing, and what the requester can do with
    it (cancel: its owner alone)."""
    data: dict[str, Any] = {"id": row.pk, "kind": product_.kind, "url": url, "status": row.status,
                            "progress": row.progress, "created_at": row.created_at,
                            "finished_at": row.finished_at, "seconds": row.seconds,
                            "private": product_.private(row)}
    if product_.job.cancelled is not None and row.status in product_.job.active and \
            products.may_manage(product_, row, user):
        data["cancel"] = url + "cancel/"
    if row.status in (product_.job.failed, product_.job.cancelled):
        data["error"] = row.error or row.status
    return data


def generic_representation(product_: Product, row, request) -> dict:
    """A product's representation when its resource module gives none: the job, and once done its
    statistics and links."""
    url = detail_url(product_, row.pk, request)
    data = job_fields(product_, row, url, request.user)
    data.update(model=product_.model_name(row), bounds=list(product_.bounds(row)))
    if row.status == product_.job.done:
        data["warnings"] = row.warnings
        if product_.land_cover:
            data["statistics"] = products.class_rows(row.statistics)
        data["links"] = links(product_, row, url)
    return data


def detail_url(product_: Product, pk: int, request) -> str:
    """The absolute URL of a row's detail."""
    return request.build_absolute_uri(reverse(f"api:{product_.kind}-detail", args=[pk]))


LIST_PARAMETERS = [OpenApiParameter("page", int, description="page number (1: the newest)"),
                   OpenApiParameter("page_size", int, description=f"results per page (at most {MAX_PAGE_SIZE})")]
NOT_SIGNED_IN = OpenApiResponse(description="Not signed in")


def own_list_responses(page) -> dict:
    """The documented answers of a list of the requester's own jobs (`own_list`): a page, 401, 404."""
    return {200: page, 401: NOT_SIGNED_IN, 404: OpenApiResponse(description="No such page")}


def area_job_responses(serializer) -> dict:
    """The documented answers of a request that makes (or finds) a job of an area: the job, a 400 naming the
    field, 429 past the client's limit of new computations."""
    return {200: serializer, 202: serializer,
            400: OpenApiResponse(description="The area or a parameter is wrong; the body says which"),
            429: OpenApiResponse(description="Too many new map computations")}


class OwnPages(PageNumberPagination):
    """Pages of one's own results: `count`, `next`, `previous`, `results`."""
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


def signed_in(request, why: str):
    """The requester, who must be signed in: NotSignedIn saying `why` otherwise."""
    if not getattr(request.user, "is_authenticated", False):
        raise NotSignedIn(why)
    return request.user


def own_list(product_: Product, request, represent: Callable[[Any, Any], dict]) -> Response:
    """The requester's own rows of a product, newest first, one page of them (NotSignedIn when anonymous)."""
    signed_in(request, f"Sign in to list your {product_.prefix}: those asked for without signing in belong to nobody.")
    rows = product_.rows().filter(**{product_.owner_field: request.user}).order_by("-created_at", "-pk")
    paginator = OwnPages()
    page = paginator.paginate_queryset(rows, request)
    return paginator.get_paginated_response([represent(row, request) for row in page or []])


@dataclass(frozen=True)
class Resource:
    """What a resource module adds to its product's routes: its representation, a detail view of its own
    (say, with DELETE), and routes of its own (retry, lists)."""

    represent: Callable[[Any, Any], dict] | None = None
    detail: type[APIView] | None = None
    extra: list[URLPattern] = field(default_factory=list)


class Detail(ProductView):
    """A result's job: status and progress while it runs, then its statistics and links."""

    represent: Callable[[Any, Any], dict] | None = None

    @extend_schema(responses={200: OpenApiResponse(description="The result"), 404: NO_SUCH})
    def get(self, request, pk: int):
        return Response(self.described(self.row(request, pk), request))


class Cancel(ProductView):
    """Cancel a queued or running job: its owner alone (401 when not signed in, 404 for somebody else's, 403
    for one asked for without signing in, which is public and runs to its end)."""
    operation = "cancel"
    represent: Callable[[Any, Any], dict] | None = None

    @extend_schema(request=None, responses={200: OpenApiResponse(description="Cancelled"),
                                            401: NOT_SIGNED_IN,
                                            403: OpenApiResponse(description="Not yours"), 404: NO_SUCH,
                                            409: OpenApiResponse(description="Already over")})
    def post(self, request, pk: int):
        products.require_sign_in(self.product, request.user, "cancel")
        row = self.row(request, pk)
        products.check_manage(self.product, row, request.user, "cancel")
        lifecycle.cancel_or_refuse(self.product.job, row, self.product.noun)
        row.refresh_from_db()
        return Response(self.described(row, request))


class Statistics(ProductView):
    """Per class: pixels, share of the valid pixels (%), area (km², ha), in one shape for every kind; with
    min_confidence, pixels less sure than that are counted apart as 'uncertain'."""
    operation = "statistics"

    @extend_schema(parameters=[MIN_CONFIDENCE], responses={200: StatisticsSerializer,
                                                           400: OpenApiResponse(description="A bad parameter"),
                                                           404: NO_SUCH, 409: NOT_DONE})
    def get(self, request, pk: int):
        confidence = min_confidence(request)
        return Response(products.statistics(self.product, self.done_row(request, pk), confidence))


class Files(ProductFileView):
    """A result's downloads: its files (COGs with byte ranges), preview, and statistics as CSV or JSON
    (min_confidence applies to both)."""
    operation = "download"

    @extend_schema(parameters=[MIN_CONFIDENCE], responses=FILE_RESPONSES)
    def get(self, request, pk: int, name: str):
        product_ = self.product
        declared = product_.file(name)
        if declared is None:  # before the row is looked up: an unknown name is a 404 whatever its state
            raise NotFound(f"No download {name!r}; there are {', '.join(f.name for f in product_.files)}.")
        confidence = min_confidence(request) if declared.rendered else None
        row = self.done_row(request, pk)
        if not product_.offers(row, name):
            raise NotFound(f"This {product_.noun} has no {name} (MODIS maps have no class probabilities).")
        rows: list[dict] = []
        payload: Callable[[], dict] = dict
        if declared.rendered:
            stats = products.statistics(product_, row, confidence)
            rows, payload = statistics_rows(stats["classes"], stats.get("uncertain")), lambda: stats
        return download(name, declared.media, rows, payload, lambda n: product_.path(row, n),
                        product_.download_name(row, name), product_.cache_control(row), request)


def tile_key(product_: Product, row, segment: str, confidence: float | None, z: int, x: int, y: int) -> str:
    """The cache key of a tile: a recomputed result (a new finished_at) gets new keys."""
    stamp = row.finished_at.timestamp() if row.finished_at else 0
    return f"{product_.kind}:{segment}:{confidence}:{row.pk}:{stamp}:{z}/{x}/{y}"


class Tiles(ProductFileView):
    """XYZ PNG tiles (Web Mercator, 256 px) of one layer; transparent outside the result. Confidence tiles: the
    less sure, the more opaque; with min_confidence, only the pixels below it."""
    operation = "tiles"
    segment = "tiles"

    @extend_schema(parameters=[MIN_CONFIDENCE], responses=TILE_RESPONSES)
    def get(self, request, pk: int, z: int, x: int, y: int):
        check_tile(z, x, y)
        product_ = self.product
        layer = product_.layer(self.segment)
        confidence = min_confidence(request) if layer.style == "confidence" else None
        row = self.done_row(request, pk)
        if not product_.layer_offered(row, layer):
            raise NotFound(f"This {product_.noun} has no {layer.segment} layer.")
        render: Callable[..., bytes] = RENDERERS.get(layer.style) or partial(render_confidence_tile,
                                                                             min_confidence=confidence)
        def source() -> Path:
            path = product_.path(row, layer.file)
            return path if not layer.fallback or storage.exists(path) else product_.path(row, layer.fallback)

        return tile_response(z, x, y, tile_key(product_, row, layer.segment, confidence, z, x, y), source,
                             product_.cache_control(row), render)


class Wmts(ProductFileView):
    """OGC WMTS capabilities of the result's XYZ tile layers, for QGIS, ArcGIS and OWSLib."""
    operation = "wmts"

    @extend_schema(responses={(200, "application/xml"): OpenApiTypes.STR, 404: NO_SUCH, 409: NOT_DONE})
    def get(self, request, pk: int):
        product_ = self.product
        row = self.done_row(request, pk)
        url = detail_url(product_, pk, request)
        model = product_.model_name(row)
        layers = {layer.wmts_id: (f"{layer.title} ({model})" if layer.style == "classes" and model else layer.title,
                                  url + layer.segment + "/{z}/{x}/{y}.png")
                  for layer in product_.layers if product_.layer_offered(row, layer)}
        legend = request.build_absolute_uri(reverse("api:class-legend"))
        legends = {layer.wmts_id: legend for layer in product_.layers if layer.style == "classes"}
        return capabilities_response(f"HR-MARS {product_.label(row)}", product_.bounds(row), layers, url + "wmts/",
                                     product_.cache_control(row), legends)


def routes(product_: Product, resource: Resource | None = None) -> list[URLPattern]:
    """Every route of a product, named `{kind}-detail`, `{kind}-statistics`, `{kind}-tile`,
    `{kind}-{layer}-tile`, `{kind}-wmts`, `{kind}-vectors`, … `{kind}-file`."""
    resource = resource or Resource()
    kind, base = product_.kind, f"{product_.prefix}/<id:pk>/"
    detail = resource.detail or Detail
    found = [path(base, detail.as_view(product=product_, represent=resource.represent), name=f"{kind}-detail")]
    if product_.job.cancelled is not None:
        found.append(path(f"{base}cancel/", Cancel.as_view(product=product_, represent=resource.represent),
                          name=f"{kind}-cancel"))
    found.extend(resource.extra)
    for layer in product_.layers:
        name = f"{kind}-tile" if layer.segment == "tiles" else f"{kind}-{layer.segment}-tile"
        found.append(path(f"{base}{layer.segment}/<int:z>/<int:x>/<int:y>.png",
                          Tiles.as_view(product=product_, segment=layer.segment,
                                        operation="tile" if layer.segment == "tiles" else f"{layer.segment}_tile"),
                          name=name))
    if product_.layers:
        found.append(path(f"{base}wmts/", Wmts.as_view(product=product_), name=f"{kind}-wmts"))
    if product_.land_cover:
        found.append(path(f"{base}statistics/", Statistics.as_view(product=product_), name=f"{kind}-statistics"))
        found.extend(analysis.routes(product_, base))
    found.append(path(f"{base}<str:name>", Files.as_view(product=product_), name=f"{kind}-file"))
    return found
