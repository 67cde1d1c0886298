from django.contrib import admin, messages
from leaflet.admin import LeafletGeoAdmin

from .models import Dataset, LandCoverMap, ModelVersion, Patch, Scene


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "synthetic", "licence", "created_at"]
    list_filter = ["kind", "synthetic"]
    search_fields = ["name", "description", "citation"]


@admin.register(Scene)
class SceneAdmin(admin.ModelAdmin):
    list_display = ["__str__", "dataset", "roi", "season", "scene_id"]
    list_filter = ["dataset", "season", "roi"]
    search_fields = ["scene_id", "roi"]


@admin.register(Patch)
class PatchAdmin(LeafletGeoAdmin):
    list_display = ["__str__", "dataset", "scene", "patch_id", "crs"]
    list_filter = ["dataset", "scene__season"]
    search_fields = ["s2_path", "scene__scene_id"]
    list_select_related = ["dataset", "scene"]
    raw_id_fields = ["scene"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "method", "is_default", "synthetic_training", "created_at"]
    list_filter = ["method", "is_default", "synthetic_training"]
    search_fields = ["name", "path"]
    readonly_fields = ["card", "created_at"]
    actions = ["make_default"]

    @admin.action(description="Make the selected model the site's default")
    def make_default(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one model to make it the default.", messages.ERROR)
            return
        from .services import set_default_model

        set_default_model(queryset.get())
        self.message_user(request, f"{queryset.get().name} is now the default model.")


@admin.register(LandCoverMap)
class LandCoverMapAdmin(admin.ModelAdmin):
    list_display = ["__str__", "source", "model_version", "status", "created_at"]
    list_filter = ["source", "status", "model_version"]
    search_fields = ["patch__scene__scene_id", "error"]
    raw_id_fields = ["patch"]
    list_select_related = ["patch__scene", "model_version"]
