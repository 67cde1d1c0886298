"""The admin: staff curate datasets, patches, models (the default among them), and every stored result (maps,
uploads, areas, regions and their tiles, changes, exports), and the competitions: benchmarks (their images' splits;
the files themselves come from `manage.py add_benchmark`) and submissions. Deleting a result here removes its folder too
(products.remove_folder)."""
from django import forms
from django.contrib import admin, messages
from django.utils.text import slugify
from leaflet.admin import LeafletGeoAdmin

from ml.errors import PermanentError

from .catalogue.registry import check_engine_for, set_default_model
from .errors import InvalidInput, LandcoverError
from .jobs import areas as area_jobs
from .jobs import regions as region_jobs
from .jobs import submissions as submission_jobs
from .jobs.maps import retry_map
from .jobs.uploads import delete as delete_upload
from .models import (
    AreaMap,
    Benchmark,
    BenchmarkImage,
    ChangeMap,
    Dataset,
    Export,
    LandCoverMap,
    Legend,
    LegendTraining,
    ModelVersion,
    Patch,
    RegionMap,
    RegionTile,
    Scene,
    Submission,
    Upload,
)


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


class ModelVersionForm(forms.ModelForm):
    class Meta:
        model = ModelVersion
        fields = "__all__"

    def clean_engine(self):
        engine = self.cleaned_data["engine"]
        if self.instance.pk:
            try:
                check_engine_for(self.instance, engine)
            except InvalidInput as exc:
                raise forms.ValidationError(exc.message) from None
        return engine


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    form = ModelVersionForm
    list_display = ["name", "method", "engine", "is_default", "synthetic_training", "owner", "shared", "created_at"]
    list_filter = ["method", "engine", "is_default", "synthetic_training", "shared"]
    search_fields = ["name", "path"]
    readonly_fields = ["card", "created_at"]
    actions = ["make_default"]

    @admin.action(description="Make the selected model the site's default")
    def make_default(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one model to make it the default.", messages.ERROR)
            return
        if queryset.get().owner_id is not None:
            self.message_user(request, "A user's own model (a legend model) maps in their classes: it cannot be the "
                                       "site's default.", messages.ERROR)
            return
        set_default_model(queryset.get())
        self.message_user(request, f"{queryset.get().name} is now the default model.")


@admin.register(LandCoverMap)
class LandCoverMapAdmin(admin.ModelAdmin):
    list_display = ["__str__", "source", "model_version", "status", "progress", "attempts", "seconds", "created_at"]
    list_filter = ["source", "status", "model_version"]
    search_fields = ["patch__scene__scene_id", "error"]
    raw_id_fields = ["patch"]
    list_select_related = ["patch__scene", "model_version"]
    readonly_fields = ["progress", "attempts", "seconds", "statistics", "finished_at", "requested_at"]
    actions = ["retry_failed", "recompute"]

    @admin.action(description="Queue the selected failed maps again")
    def retry_failed(self, request, queryset):
        count = sum(retry_map(m) for m in queryset.filter(status=LandCoverMap.Status.FAILED))
        self.message_user(request, f"{count} failed map(s) queued again.")

    @admin.action(description="Delete the selected maps and their files (they are recomputed on the next request)")
    def recompute(self, request, queryset):
        count, _ = queryset.delete()  # the files go too (landcover.jobs.products.remove_folder)
        self.message_user(request, f"{count} map(s) deleted; the next request for each computes it again.")


@admin.register(Upload)
class UploadAdmin(LeafletGeoAdmin):
    """Staff see every user's uploads; deleting one here removes its files too."""
    list_display = ["original_name", "owner", "status", "progress", "model_version", "width", "height", "created_at"]
    list_filter = ["status", "model_version", "created_at"]
    search_fields = ["original_name", "owner__username", "error"]
    list_select_related = ["owner", "model_version"]
    readonly_fields = ["token", "size_bytes", "width", "height", "bands", "crs", "statistics", "attempts", "progress",
                       "seconds", "finished_at", "requested_at"]
    actions = ["delete_with_files"]

    @admin.action(description="Delete the selected uploads and their files")
    def delete_with_files(self, request, queryset):
        count = 0
        for upload in queryset:
            delete_upload(upload)
            count += 1
        self.message_user(request, f"{count} upload(s) and their files deleted.")


class ResultAdmin(admin.ModelAdmin):
    """What every stored result's admin shows: its job's state and timing, read-only."""
    job_fields = ["status", "progress", "attempts", "error", "seconds", "created_at", "finished_at", "requested_at"]
    readonly_fields = ["token", "key", "progress", "attempts", "seconds", "statistics", "finished_at", "requested_at"]
    list_filter = ["status", "created_at"]
    date_hierarchy = "created_at"


@admin.register(Legend)
class LegendAdmin(admin.ModelAdmin):
    """Users' own legends (issue 27): classes and how many samples; the samples themselves are the user's data."""
    list_display = ["name", "owner", "shared", "sample_count", "updated_at"]
    list_filter = ["shared"]
    search_fields = ["name", "owner__username"]
    readonly_fields = ["owner", "classes", "created_at", "updated_at"]

    @admin.display(description="samples")
    def sample_count(self, legend: Legend) -> int:
        return legend.samples.count()


@admin.register(LegendTraining)
class LegendTrainingAdmin(ResultAdmin, LeafletGeoAdmin):
    list_display = ["pk", "legend", "owner", "encoder", "status", "progress", "model_version", "created_at"]
    readonly_fields = [*ResultAdmin.readonly_fields, "legend", "owner", "encoder", "global_model", "samples", "cv",
                       "comparison", "assessment", "imagery", "model_version"]


@admin.register(AreaMap)
class AreaMapAdmin(ResultAdmin, LeafletGeoAdmin):
    """Areas of interest mapped on request: their polygon, imagery and model."""
    list_display = ["pk", "area_km2", "model_version", "status", "progress", "requested_by", "acquired", "created_at"]
    list_filter = ["status", "model_version", "imagery_source", "created_at"]
    search_fields = ["requested_by__username", "error"]
    list_select_related = ["model_version", "requested_by"]
    readonly_fields = [*ResultAdmin.readonly_fields, "imagery", "acquired", "area_km2"]
    actions = ["retry_failed"]

    @admin.action(description="Queue the selected failed or cancelled areas again")
    def retry_failed(self, request, queryset):
        count = sum(area_jobs.retry(a) for a in queryset.filter(status__in=[AreaMap.Status.FAILED,
                                                                              AreaMap.Status.CANCELLED]))
        self.message_user(request, f"{count} area map(s) queued again.")


class RegionTileInline(admin.TabularInline):
    """A region's tiles: where each is, its state, attempts, worker and time (read-only: the workers write them)."""
    model = RegionTile
    fields = readonly_fields = ("row", "col", "status", "attempts", "worker", "seconds", "error", "updated_at")
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(RegionMap)
class RegionMapAdmin(ResultAdmin, LeafletGeoAdmin):
    """Regions mapped tile by tile: their outline, tiles and model."""
    list_display = ["pk", "area_km2", "tiles_total", "model_version", "status", "progress", "requested_by",
                    "created_at"]
    list_filter = ["status", "model_version", "imagery_source", "created_at"]
    search_fields = ["requested_by__username", "error"]
    list_select_related = ["model_version", "requested_by"]
    readonly_fields = [*ResultAdmin.readonly_fields, "imagery", "acquired", "area_km2", "grid", "tiles_total",
                       "tile_px", "merge_queued"]
    inlines = [RegionTileInline]
    actions = ["retry_failed"]

    @admin.action(description="Queue the selected failed or cancelled regions again (their unfinished tiles)")
    def retry_failed(self, request, queryset):
        count = sum(region_jobs.retry(r) for r in queryset.filter(status__in=[RegionMap.Status.FAILED,
                                                                               RegionMap.Status.CANCELLED]))
        self.message_user(request, f"{count} region(s) queued again.")


@admin.register(ChangeMap)
class ChangeMapAdmin(ResultAdmin, LeafletGeoAdmin):
    """Changes between two stored maps."""
    list_display = ["pk", "before_kind", "before_id", "after_kind", "after_id", "status", "owner", "created_at"]
    search_fields = ["owner__username", "error"]
    list_select_related = ["owner"]
    readonly_fields = [*ResultAdmin.readonly_fields, "change", "models_used", "bounds"]


@admin.register(Export)
class ExportAdmin(ResultAdmin):
    """Vectors and samples exported from stored maps."""
    list_display = ["pk", "filename", "map_kind", "map_id", "status", "owner", "requested_at", "created_at"]
    list_filter = ["status", "what", "map_kind"]
    search_fields = ["owner__username", "error"]
    readonly_fields = [*ResultAdmin.readonly_fields, "params", "bounds", "download_name"]


class BenchmarkImageInline(admin.TabularInline):
    """A benchmark's images: their split can change here; the files come from `manage.py add_benchmark`."""
    model = BenchmarkImage
    extra = 0
    fields = ["name", "split", "width", "height"]
    readonly_fields = ["name", "width", "height"]
    can_delete = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Benchmark)
class BenchmarkAdmin(admin.ModelAdmin):
    """Competitions: their description, metric, legend, phase, limits; publish to open them."""
    list_display = ["slug", "title", "metric", "published", "phase_starts", "phase_ends", "per_day", "per_phase"]
    list_filter = ["published", "metric"]
    search_fields = ["slug", "title"]
    prepopulated_fields = {"slug": ("title",)}
    inlines = [BenchmarkImageInline]


@admin.register(Submission)
class SubmissionAdmin(ResultAdmin):
    """Models entered in competitions: their checks, sandbox time and aggregate scores. Deleting one removes its
    files."""
    list_display = ["pk", "name", "benchmark", "owner", "baseline", "status", "sandbox_seconds", "created_at"]
    list_filter = ["status", "benchmark", "baseline", "created_at"]
    search_fields = ["name", "owner__username", "error"]
    list_select_related = ["benchmark", "owner"]
    readonly_fields = [f for f in ResultAdmin.readonly_fields if f != "key"] + [
        "card", "model_info", "size_bytes", "public_scores", "private_scores", "sandbox_seconds"]
    actions = ["retry_failed", "promote"]

    @admin.action(description="Promote the selected scored entries to site models (they map inside the sandbox)")
    def promote(self, request, queryset):
        for submission in queryset.select_related("benchmark", "owner"):
            name = f"entry-{submission.pk}-{slugify(submission.name)[:60]}"
            try:
                version = submission_jobs.promote(submission, name)
            except (LandcoverError, PermanentError) as exc:
                self.message_user(request, f"{submission}: {getattr(exc, 'message', None) or exc}", messages.ERROR)
                continue
            self.message_user(request, f"{submission} is now the site model {version.name} (make it the default "
                                       "under Model versions).")

    @admin.action(description="Score the selected failed submissions again")
    def retry_failed(self, request, queryset):
        count = sum(submission_jobs.retry(s) for s in queryset.filter(status=Submission.Status.FAILED))
        self.message_user(request, f"{count} submission(s) queued again.")

    def delete_model(self, request, obj):
        submission_jobs.delete(obj)

    def delete_queryset(self, request, queryset):
        for submission in queryset:
            submission_jobs.delete(submission)
