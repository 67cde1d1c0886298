from django.urls import path

from . import api, upload_api

app_name = "api"

urlpatterns = [
    path("datasets/", api.DatasetList.as_view(), name="dataset-list"),
    path("classes/", api.ClassList.as_view(), name="class-list"),
    path("scenes/", api.SceneList.as_view(), name="scene-list"),
    path("patches/", api.PatchList.as_view(), name="patch-list"),
    path("patches/at/", api.PatchAtPoint.as_view(), name="patch-at"),
    path("patches/<int:pk>/", api.PatchDetail.as_view(), name="patch-detail"),
    path("maps/low/", api.MapForPoint.as_view(resolution="low"), name="map-low"),
    path("maps/high/", api.MapForPoint.as_view(resolution="high"), name="map-high"),
    path("maps/<int:pk>/", api.MapDetail.as_view(), name="map-detail"),
    path("maps/<int:pk>/retry/", api.MapRetry.as_view(), name="map-retry"),
    path("maps/<int:pk>/statistics/", api.MapStatistics.as_view(), name="map-statistics"),
    path("maps/<int:pk>/tiles/<int:z>/<int:x>/<int:y>.png", api.MapTile.as_view(), name="map-tile"),
    path("maps/<int:pk>/<str:name>", api.MapFile.as_view(), name="map-file"),
    path("uploads/", upload_api.UploadList.as_view(), name="upload-list"),
    path("uploads/<int:pk>/", upload_api.UploadDetail.as_view(), name="upload-detail"),
    path("uploads/<int:pk>/cancel/", upload_api.UploadCancel.as_view(), name="upload-cancel"),
    path("uploads/<int:pk>/tiles/<int:z>/<int:x>/<int:y>.png", upload_api.UploadTile.as_view(), name="upload-tile"),
    path("uploads/<int:pk>/<str:name>", upload_api.UploadFile.as_view(), name="upload-file"),
    path("models/", api.ModelList.as_view(), name="model-list"),
    path("models/<str:name>/", api.ModelDetail.as_view(), name="model-detail"),
]
