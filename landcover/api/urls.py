"""URLs of the REST API (/api/v1/). Every stored product's routes come from the route factory (`factory.routes`),
with what its resource module adds (`RESOURCE`: its representation and routes of its own); a product
registered without a resource module (a new kind) still gets every route, with the generic representation."""
from django.urls import path

from .. import urlconverters  # noqa: F401  (registers <id:>)
from ..jobs import products
from . import (
    areas,
    catalogue,
    change,
    competitions,
    composites,
    factory,
    legends,
    maps,
    model_versions,
    regions,
    stac,
    uploads,
    watches,
)

app_name = "api"

RESOURCES = {"map": maps.RESOURCE, "area": areas.RESOURCE, "upload": uploads.RESOURCE, "change": change.RESOURCE,
             "region": regions.RESOURCE, "composite": composites.RESOURCE,
             "series": composites.SERIES_RESOURCE}


def product_routes() -> list:
    """The routes of every registered product."""
    return [route for product in products.registered() for route in factory.routes(product, RESOURCES.get(product.kind))]


urlpatterns = [
    path("datasets/", catalogue.DatasetList.as_view(), name="dataset-list"),
    path("classes/", catalogue.ClassList.as_view(), name="class-list"),
    path("classes/legend.png", catalogue.ClassLegend.as_view(), name="class-legend"),
    path("scenes/", catalogue.SceneList.as_view(), name="scene-list"),
    path("patches/", catalogue.PatchList.as_view(), name="patch-list"),
    path("patches/at/", catalogue.PatchAtPoint.as_view(), name="patch-at"),
    path("patches/<id:pk>/", catalogue.PatchDetail.as_view(), name="patch-detail"),
    path("maps/low/", maps.MapForPoint.as_view(resolution="low"), name="map-low"),
    path("maps/high/", maps.MapForPoint.as_view(resolution="high"), name="map-high"),
    path("uploads/", uploads.UploadList.as_view(), name="upload-list"),
    path("areas/", areas.AreaList.as_view(), name="area-list"),
    path("regions/", regions.RegionList.as_view(), name="region-list"),
    path("composites/", composites.CompositeList.as_view(), name="composite-list"),
    path("series/", composites.SeriesList.as_view(), name="series-list"),
    *watches.ROUTES,
    *competitions.ROUTES,
    *legends.ROUTES,
    path("imagery/", areas.ImageryList.as_view(), name="imagery-list"),
    path("changes/", change.ChangeList.as_view(), name="change-list"),
    path("basemap/countries.geojson", areas.CountryBorders.as_view(), name="basemap-countries"),
    path("stac/", stac.StacLanding.as_view(), name="stac-landing"),
    path("stac/conformance", stac.StacConformance.as_view(), name="stac-conformance"),
    path("stac/collections", stac.StacCollections.as_view(), name="stac-collections"),
    path("stac/collections/<str:collection_id>", stac.StacCollection.as_view(), name="stac-collection"),
    path("stac/collections/<str:collection_id>/items", stac.StacItems.as_view(), name="stac-items"),
    path("stac/collections/<str:collection_id>/items/<str:item_id>", stac.StacItem.as_view(), name="stac-item"),
    path("stac/search", stac.StacSearch.as_view(), name="stac-search"),
    path("models/", model_versions.ModelList.as_view(), name="model-list"),
    path("models/<str:name>/", model_versions.ModelDetail.as_view(), name="model-detail"),
    *product_routes(),
]
