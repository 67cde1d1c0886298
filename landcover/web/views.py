"""The map page: everything on it comes from the API (static/js/map.js)."""
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView

from ..catalogue.registry import class_legend, visible_models
from ..jobs import uploads
from ..models import Upload


class MapPageView(TemplateView):
    template_name = "landcover/map.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["nav"] = "map"
        context["stac_configured"] = bool(settings.STAC_URL)
        context["area_max_km2"] = f"{settings.AREA_MAX_KM2:,}"
        context["region_max_km2"] = f"{settings.REGION_MAX_KM2:,}"
        context["classes"] = class_legend()
        context["map_config"] = {
            "api": {
                "scenes": reverse("api:scene-list"),
                "patches": reverse("api:patch-list"),
                "patchAt": reverse("api:patch-at"),
                "low": reverse("api:map-low"),
                "high": reverse("api:map-high"),
                "models": reverse("api:model-list"),
                "uploads": reverse("api:upload-list"),
                "areas": reverse("api:area-list"),
                "regions": reverse("api:region-list"),
                "series": reverse("api:series-list"),
                "changes": reverse("api:change-list"),
                "imagery": reverse("api:imagery-list"),
                "countries": reverse("api:basemap-countries"),
                "legends": reverse("api:legend-list"),
            },
            "signedIn": self.request.user.is_authenticated,  # whose earlier areas to list
            "areaSizeM": settings.AREA_POINT_SIZE_M,
            "areaMaxKm2": settings.AREA_MAX_KM2,
            "regionMaxKm2": settings.REGION_MAX_KM2,
            "basemap": {"url": settings.BASEMAP_URL, "attribution": settings.BASEMAP_ATTRIBUTION},
            "classes": context["classes"],
            "patchZoom": 9,  # below: one box per scene; from here: patch footprints
            "center": [20.0, 0.0],
            "zoom": 2,
        }
        return context


class UploadsPageView(LoginRequiredMixin, TemplateView):
    """Upload a Sentinel-2 image, follow its job, and reach its map and downloads."""
    template_name = "landcover/uploads.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(nav="uploads", models=visible_models(self.request.user), max_mb=settings.UPLOAD_MAX_MB,
                       max_side=settings.UPLOAD_MAX_SIDE, api_uploads=reverse("api:upload-list"),
                       map_url=reverse("landcover:map"))
        return context


@login_required
@require_POST
def delete_upload(request, pk: int):
    """From the profile page: delete one of your uploads and its files (others' are 404)."""
    upload = get_object_or_404(Upload, pk=pk, owner=request.user)
    name = upload.original_name
    uploads.delete(upload)
    messages.success(request, f"Deleted {name} and its map.")
    return redirect("accounts:profile")
