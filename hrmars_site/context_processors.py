"""Values every template needs: site name, navigation."""
from django.conf import settings


def site(request):
    """Values every page template uses (navigation, footer, map base layer)."""
    return {
        "SITE_NAME": "HR-MARS",
        "BASEMAP_URL": settings.BASEMAP_URL,
        "BASEMAP_ATTRIBUTION": settings.BASEMAP_ATTRIBUTION,
    }
