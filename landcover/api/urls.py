"""URLs of the REST API (/api/v1/)."""
from django.urls import path

from .. import urlconverters  # noqa: F401  (registers <id:>)
from . import accuracy, areas, catalogue, change, maps, model_versions, stac, uploads, vectors

app_name = "api"


def stored_map_routes(prefix: str, kind: str) -> list:
    """What every kind of stored map (catalogue map, upload, area) offers alike: accuracy against reference
    points, the vector export and a stratified sample, named `{kind}-accuracy`, `{kind}-vectors`, …"""
    base = f"{prefix}/<id:pk>/"
    return [
        path(f"{base}accuracy/", accuracy.MapAccuracy.as_view(kind=kind), name=f"{kind}-accuracy"),
        path(f"{base}vectors.geojson", vectors.MapVectors.as_view(kind=kind), name=f"{kind}-vectors"),
        path(f"{base}vectors.gpkg", vectors.MapVectors.as_view(kind=kind, fmt="gpkg"), name=f"{kind}-vectors-gpkg"),
        path(f"{base}sample.geojson", accuracy.MapSample.as_view(kind=kind), name=f"{kind}-sample"),
        path(f"{base}sample.csv", accuracy.MapSample.as_view(kind=kind, fmt="csv"), name=f"{kind}-sample-csv"),
    ]


urlpatterns = [
    path("datasets/", catalogue.DatasetList.as_view(), name="dataset-list"),
    path("classes/", catalogue.ClassList.as_view(), name="class-list"),
    path("scenes/", catalogue.SceneList.as_view(), name="scene-list"),
    path("patches/", catalogue.PatchList.as_view(), name="patch-list"),
    path("patches/at/", catalogue.PatchAtPoint.as_view(), name="patch-at"),
    path("patches/<id:pk>/", catalogue.PatchDetail.as_view(), name="patch-detail"),
    path("maps/low/", maps.MapForPoint.as_view(resolution="low"), name="map-low"),
    path("maps/high/", maps.MapForPoint.as_view(resolution="high"), name="map-high"),
    path("maps/<id:pk>/", maps.MapDetail.as_view(), name="map-detail"),
    path("maps/<id:pk>/retry/", maps.MapRetry.as_view(), name="map-retry"),
    path("maps/<id:pk>/statistics/", maps.MapStatistics.as_view(), name="map-statistics"),
    path("maps/<id:pk>/tiles/<int:z>/<int:x>/<int:y>.png", maps.MapTile.as_view(), name="map-tile"),
    path("maps/<id:pk>/confidence/<int:z>/<int:x>/<int:y>.png", maps.MapConfidenceTile.as_view(),
         name="map-confidence-tile"),
    path("maps/<id:pk>/wmts/", maps.MapWmts.as_view(), name="map-wmts"),
    *stored_map_routes("maps", "map"),
    path("maps/<id:pk>/<str:name>", maps.MapFile.as_view(), name="map-file"),
    path("uploads/", uploads.UploadList.as_view(), name="upload-list"),
    path("uploads/<id:pk>/", uploads.UploadDetail.as_view(), name="upload-detail"),
    path("uploads/<id:pk>/cancel/", uploads.UploadCancel.as_view(), name="upload-cancel"),
    path("uploads/<id:pk>/tiles/<int:z>/<int:x>/<int:y>.png", uploads.UploadTile.as_view(), name="upload-tile"),
    path("uploads/<id:pk>/confidence/<int:z>/<int:x>/<int:y>.png", uploads.UploadConfidenceTile.as_view(),
         name="upload-confidence-tile"),
    *stored_map_routes("uploads", "upload"),
    path("uploads/<id:pk>/<str:name>", uploads.UploadFile.as_view(), name="upload-file"),
    path("areas/", areas.AreaList.as_view(), name="area-list"),
    path("imagery/", areas.ImageryList.as_view(), name="imagery-list"),
    path("stac/", stac.StacLanding.as_view(), name="stac-landing"),
    path("stac/conformance", stac.StacConformance.as_view(), name="stac-conformance"),
    path("stac/collections", stac.StacCollections.as_view(), name="stac-collections"),
    path("stac/collections/<str:collection_id>", stac.StacCollection.as_view(), name="stac-collection"),
    path("stac/collections/<str:collection_id>/items", stac.StacItems.as_view(), name="stac-items"),
    path("stac/collections/<str:collection_id>/items/<str:item_id>", stac.StacItem.as_view(), name="stac-item"),
    path("stac/search", stac.StacSearch.as_view(), name="stac-search"),
    path("changes/", change.ChangeList.as_view(), name="change-list"),
    path("changes/<id:pk>/", change.ChangeDetail.as_view(), name="change-detail"),
    path("changes/<id:pk>/tiles/<int:z>/<int:x>/<int:y>.png", change.ChangeTile.as_view(), name="change-tile"),
    path("changes/<id:pk>/<str:name>", change.ChangeFile.as_view(), name="change-file"),
    path("basemap/countries.geojson", areas.CountryBorders.as_view(), name="basemap-countries"),
    path("areas/<id:pk>/", areas.AreaDetail.as_view(), name="area-detail"),
    path("areas/<id:pk>/cancel/", areas.AreaCancel.as_view(), name="area-cancel"),
    path("areas/<id:pk>/retry/", areas.AreaRetry.as_view(), name="area-retry"),
    path("areas/<id:pk>/tiles/<int:z>/<int:x>/<int:y>.png", areas.AreaTile.as_view(layer="tiles"), name="area-tile"),
    path("areas/<id:pk>/image/<int:z>/<int:x>/<int:y>.png", areas.AreaTile.as_view(layer="image"),
         name="area-image-tile"),
    path("areas/<id:pk>/confidence/<int:z>/<int:x>/<int:y>.png", areas.AreaTile.as_view(layer="confidence"),
         name="area-confidence-tile"),
    path("areas/<id:pk>/wmts/", areas.AreaWmts.as_view(), name="area-wmts"),
    *stored_map_routes("areas", "area"),
    path("areas/<id:pk>/<str:name>", areas.AreaFile.as_view(), name="area-file"),
    path("models/", model_versions.ModelList.as_view(), name="model-list"),
    path("models/<str:name>/", model_versions.ModelDetail.as_view(), name="model-detail"),
]
