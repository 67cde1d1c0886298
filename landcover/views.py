"""The map page: everything on it comes from the API (static/js/map.js)."""
from django.conf import settings
from django.urls import reverse
from django.views.generic import TemplateView

from ml.classes import DFC, MODEL_CLASSES


class MapPageView(TemplateView):
    template_name = "landcover/map.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["nav"] = "map"
        context["classes"] = [{"code": c, "name": n, "colour": col, "predicted": c in MODEL_CLASSES}
                              for c, (n, col) in DFC.items()]
        context["map_config"] = {
            "api": {
                "scenes": reverse("api:scene-list"),
                "patches": reverse("api:patch-list"),
                "patchAt": reverse("api:patch-at"),
                "low": reverse("api:map-low"),
                "high": reverse("api:map-high"),
                "models": reverse("api:model-list"),
            },
            "basemap": {"url": settings.BASEMAP_URL, "attribution": settings.BASEMAP_ATTRIBUTION},
            "classes": context["classes"],
            "patchZoom": 9,  # below: one box per scene; from here: patch footprints
            "center": [20.0, 0.0],
            "zoom": 2,
        }
        return context
