"""The catalogue (datasets, scenes, patches with footprints), model versions and land-cover maps."""
from django.contrib.gis.db import models
from django.db.models import Q
from django.utils import timezone


class Dataset(models.Model):
    class Kind(models.TextChoices):
        SEN12MS = "sen12ms", "SEN12MS"
        DFC2020 = "dfc2020", "IEEE GRSS DFC2020"
        BIGEARTHNET = "bigearthnet", "BigEarthNet"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.TextField(blank=True)
    licence = models.CharField(max_length=200, blank=True)
    citation = models.TextField(blank=True)
    url = models.URLField(blank=True)
    root = models.CharField("folder on disk", max_length=500, blank=True)
    synthetic = models.BooleanField(default=False, help_text="Generated data, not real imagery: always shown as such.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}{' (synthetic)' if self.synthetic else ''}"


class Scene(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="scenes")
    roi = models.CharField("ROI set", max_length=20, blank=True)  # e.g. ROIs1970
    season = models.CharField(max_length=10, blank=True)
    scene_id = models.CharField(max_length=50)
    # Kept up to date by ingestion: what the map shows when zoomed out (one shape per scene).
    extent = models.PolygonField(srid=4326, null=True, blank=True, spatial_index=True)
    patch_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["dataset", "roi", "season", "scene_id"]
        constraints = [models.UniqueConstraint(fields=["dataset", "roi", "season", "scene_id"], name="unique_scene")]

    def __str__(self) -> str:
        return "_".join(p for p in (self.roi, self.season, self.scene_id) if p)


class Patch(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="patches")
    scene = models.ForeignKey(Scene, on_delete=models.CASCADE, related_name="patches")
    patch_id = models.IntegerField()
    footprint = models.PolygonField(srid=4326, spatial_index=True)
    crs = models.CharField("native CRS", max_length=2000)
    transform = models.JSONField(help_text="Affine (a, b, c, d, e, f) in the native CRS")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    s2_path = models.CharField(max_length=500)
    s1_path = models.CharField(max_length=500, blank=True)
    lc_path = models.CharField(max_length=500, blank=True)
    dfc_path = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["scene", "patch_id"]
        constraints = [models.UniqueConstraint(fields=["scene", "patch_id"], name="unique_patch")]
        verbose_name_plural = "patches"

    def __str__(self) -> str:
        return f"{self.scene} p{self.patch_id}"


class ModelVersion(models.Model):
    name = models.CharField(max_length=100, unique=True)
    method = models.CharField(max_length=30)
    path = models.CharField("model folder", max_length=500)
    card = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict, blank=True)
    synthetic_training = models.BooleanField(default=False, help_text="Trained on synthetic data.")
    is_default = models.BooleanField(default=False)
    engine = models.CharField(
        max_length=10, default="default", choices=[
            ("default", "The model card's default engine"), ("float32", "float32 (the model's own framework)"),
            ("int8", "int8 (ONNX Runtime; made and measured by python -m ml.engines quantise)"),
            ("bf16", "bf16 (OpenVINO; measured by python -m ml.engines quantise)")],
        help_text="How the worker runs this model. The card says how far each engine's maps are from float32's.")
    owner = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.CASCADE, related_name="own_models",
                              help_text="A user's own model (a legend model, issue 27): only they may use it unless "
                                        "shared; empty: a site model, everybody's")
    shared = models.BooleanField(default=False, help_text="An owned model anybody may use")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_default", "name"]
        constraints = [models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True),
                                               name="one_default_model")]

    def __str__(self) -> str:
        return f"{self.name} ({self.method}){' — default' if self.is_default else ''}"


class QueuedJob(models.Model):
    """What every job row holds for `landcover.jobs.lifecycle`: its state, progress, attempts, error, timing,
    when it was last asked for, and the statistics of its map."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    statistics = models.JSONField(default=list, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(default=timezone.now, db_index=True,
                                        help_text="When somebody last asked for this result (prune reads it)")
    warnings = models.JSONField(default=list, blank=True,
                                help_text="What the result cannot say, in words (e.g. imagery of another processing "
                                          "level than the model's, undated imagery for dates asked)")

    class Meta:
        abstract = True
        ordering = ["-created_at"]


class LandCoverMap(QueuedJob):
    """The MODIS (low-resolution) or model (high-resolution) map of a catalogue patch. Files live under
    MAPS_DIR/<id>/: map.tif, preview.png, statistics.json and, for model maps, probabilities.tif and
    confidence.json."""

    class Source(models.TextChoices):
        MODIS = "modis", "MODIS (low resolution)"
        MODEL = "model", "Model (high resolution)"

    patch = models.ForeignKey(Patch, on_delete=models.CASCADE, related_name="maps")
    source = models.CharField(max_length=10, choices=Source.choices)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.CASCADE,
                                      related_name="maps")

    class Meta(QueuedJob.Meta):
        constraints = [
            # One map per (patch, source, model version); two partial constraints because
            # NULL model versions (MODIS maps) are distinct in a plain unique constraint.
            models.UniqueConstraint(fields=["patch", "source"], condition=Q(model_version__isnull=True),
                                    name="unique_map_without_model"),
            models.UniqueConstraint(fields=["patch", "source", "model_version"],
                                    condition=Q(model_version__isnull=False), name="unique_map_with_model"),
            models.CheckConstraint(condition=Q(source="modis", model_version__isnull=True)
                                   | Q(source="model", model_version__isnull=False), name="map_source_matches_model"),
        ]

    def __str__(self) -> str:
        return f"{self.patch} — {self.model_version or self.get_source_display()}"

    @property
    def synthetic(self) -> bool:
        """Made from synthetic imagery, or by a model trained on synthetic data: always shown as such."""
        return self.patch.dataset.synthetic or bool(self.model_version and self.model_version.synthetic_training)


class Upload(QueuedJob):
    """A user's own Sentinel-2 image and the job that maps it. Files live under UPLOADS_DIR/<token>/,
    outside the static and media paths, under a random name; only the owner reaches them."""

    owner = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="uploads")
    token = models.CharField(max_length=40, unique=True, editable=False)
    original_name = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField()
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="uploads")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bands = models.PositiveSmallIntegerField()
    crs = models.CharField(max_length=2000)
    footprint = models.PolygonField(srid=4326)
    level = models.CharField(max_length=3, blank=True, help_text="The Sentinel-2 processing level (L1C, L2A) the "
                                                                  "file or its name gives; blank: unknown")

    class Meta(QueuedJob.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.original_name} ({self.owner}, {self.status})"


class AreaMap(QueuedJob):
    """A land-cover map of an area of interest anywhere: the Sentinel-2 pixels of the area (from a STAC API or
    the local imagery catalogue, clouds masked) mapped by one model, clipped to the polygon. Anybody may ask;
    the same area, dates, source and model give the same stored result (`key`). Files live under
    AREAS_DIR/<token>/: map.tif, probabilities.tif, confidence.json, preview.png and image.tif (true colour
    of the pixels used)."""

    key = models.CharField(max_length=64, unique=True, editable=False,
                           help_text="SHA-256 of the area, dates, cloud limit, source and model")
    token = models.CharField(max_length=40, unique=True, editable=False)
    geometry = models.MultiPolygonField(srid=4326)
    area_km2 = models.FloatField(help_text="Geodesic area of the polygon (WGS 84 ellipsoid)")
    start = models.DateField(null=True, blank=True)
    end = models.DateField(null=True, blank=True)
    max_cloud = models.FloatField(default=100.0, help_text="Largest scene cloud cover accepted, %")
    imagery_source = models.CharField(max_length=20, default="auto",
                                      help_text="auto (every configured source), stac or local")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="areas")
    requested_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="areas")
    imagery = models.JSONField(default=dict, blank=True,
                               help_text="Scenes used, grid, cloud and missing shares of the area")
    acquired = models.DateTimeField(null=True, blank=True, db_index=True,
                                    help_text="When the first scene used was taken (the STAC item's datetime)")

    class Meta(QueuedJob.Meta):
        pass

    def __str__(self) -> str:
        return f"area {self.pk} ({self.area_km2:.2f} km², {self.model_version.name}, {self.status})"


class ChangeMap(QueuedJob):
    """The change between two stored maps of one place (catalogue maps, areas, uploads): a change COG, the
    transition matrix and what was left out. Files live under CHANGES_DIR/<token>/. A change that involves an
    upload belongs to that upload's owner (`owner`) and is hidden from everybody else."""

    key = models.CharField(max_length=64, unique=True, editable=False)
    token = models.CharField(max_length=40, unique=True, editable=False)
    # Kinds of the product registry (landcover.jobs.products) whose maps hold land cover: map, area, upload, …
    before_kind = models.CharField(max_length=20)
    before_id = models.PositiveBigIntegerField()
    after_kind = models.CharField(max_length=20)
    after_id = models.PositiveBigIntegerField()
    min_confidence = models.FloatField(null=True, blank=True)
    owner = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.CASCADE, related_name="changes")
    bounds = models.JSONField(default=list, help_text="west, south, east, north of the first map")
    footprint = models.PolygonField(srid=4326, null=True, blank=True,
                                    help_text="The bounds as a polygon, for spatial search")
    models_used = models.JSONField(default=dict, help_text="The model of each map: before, after")
    change = models.JSONField(default=dict, blank=True, help_text="Transitions, classes, exclusions")

    class Meta(QueuedJob.Meta):
        pass

    def __str__(self) -> str:
        return f"change {self.pk}: {self.before_kind} {self.before_id} → {self.after_kind} {self.after_id}"

    @property
    def different_models(self) -> bool:
        """The two maps come from different models: part of the change may be theirs, not the land's."""
        return self.models_used.get("before") != self.models_used.get("after")


class Export(QueuedJob):
    """An export of a stored land-cover map (its vectors, or a sample to label) made once per map, export and
    parameters (`key`). Files live under EXPORTS_DIR/<token>/<filename>. An export of a private map belongs to
    that map's owner (`owner`) and is hidden from everybody else."""

    key = models.CharField(max_length=64, unique=True, editable=False)
    token = models.CharField(max_length=40, unique=True, editable=False)
    map_kind = models.CharField(max_length=20)
    map_id = models.PositiveBigIntegerField()
    what = models.CharField(max_length=20, help_text="vectors or sample")
    filename = models.CharField(max_length=40)
    params = models.JSONField(default=dict)
    download_name = models.CharField(max_length=200)
    bounds = models.JSONField(default=list, help_text="west, south, east, north of the map")
    owner = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.CASCADE, related_name="exports")
    requested_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="exports_asked")

    class Meta(QueuedJob.Meta):
        pass

    def __str__(self) -> str:
        return f"export {self.pk}: {self.filename} of {self.map_kind} {self.map_id} ({self.status})"


class RegionMap(QueuedJob):
    """A land-cover map of a region of any size up to HRMARS_REGION_MAX_KM2 (a district, a province, a country),
    cut into tiles (`RegionTile`) that any number of workers map, then joined into one map. The same region,
    dates, cloud limit, source, model and tile size give the same stored result (`key`). Files live under
    REGIONS_DIR/<token>/: tiles/<row>-<col>/ while it runs, then map.tif, probabilities.tif, confidence.tif,
    confidence.json and preview.png of the whole region. Its status is the region's: running while tiles run,
    done once they are joined."""

    key = models.CharField(max_length=64, unique=True, editable=False,
                           help_text="SHA-256 of the region, dates, cloud limit, source, model and tile size")
    token = models.CharField(max_length=40, unique=True, editable=False)
    geometry = models.MultiPolygonField(srid=4326)
    area_km2 = models.FloatField(help_text="Geodesic area of the region (WGS 84 ellipsoid)")
    start = models.DateField(null=True, blank=True)
    end = models.DateField(null=True, blank=True)
    max_cloud = models.FloatField(default=100.0, help_text="Largest scene cloud cover accepted, %")
    imagery_source = models.CharField(max_length=20, default="auto",
                                      help_text="auto (every configured source), stac or local")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="regions")
    requested_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="regions")
    tile_px = models.PositiveIntegerField(help_text="Tile side, pixels of 10 m")
    grid = models.JSONField(default=dict, blank=True, help_text="The region's grid: crs, transform, width, height")
    tiles_total = models.PositiveIntegerField(default=0)
    merge_queued = models.BooleanField(default=False, help_text="Every tile is done and the join was queued")
    imagery = models.JSONField(default=dict, blank=True, help_text="Scenes used, cloud and missing shares")
    acquired = models.DateTimeField(null=True, blank=True, db_index=True,
                                    help_text="When the first scene used was taken")

    class Meta(QueuedJob.Meta):
        pass

    def __str__(self) -> str:
        return f"region {self.pk} ({self.area_km2:,.0f} km², {self.tiles_total} tiles, {self.status})"


class RegionTile(models.Model):
    """One tile of a region: a window of its grid mapped on its own by whichever worker takes it. A tile is
    mapped again from the start when its task comes back (a killed worker, a retry): it writes the same pixels."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        EMPTY = "empty", "No imagery"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    region = models.ForeignKey(RegionMap, on_delete=models.CASCADE, related_name="tiles")
    row = models.PositiveIntegerField()
    col = models.PositiveIntegerField()
    col_off = models.PositiveIntegerField()
    row_off = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    geometry = models.JSONField(help_text="The part of the region in the tile (GeoJSON, lon/lat)")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, help_text="The worker that last took it")
    seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    counts = models.JSONField(default=dict, blank=True, help_text="Pixels and km² per class code; clear, cloud and "
                                                                  "missing pixels; scenes used")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["row", "col"]
        constraints = [models.UniqueConstraint(fields=["region", "row", "col"], name="one_tile_per_place")]

    def __str__(self) -> str:
        return f"tile {self.row}-{self.col} of region {self.region_id} ({self.status})"


class SceneMap(models.Model):
    """One dated scene mapped on one place's grid by one model: the map and class probabilities a composite or a
    time series combines. Kept and found again by `key` (the scene, the grid and its context margin, the model
    and its engine), so a scene is mapped once for every composite and series that needs it. Files live under
    SCENES_DIR/<token>/: map.tif, probabilities.tif, confidence.tif."""

    key = models.CharField(max_length=64, unique=True, editable=False,
                           help_text="SHA-256 of the scene, grid, context margin, model and engine")
    token = models.CharField(max_length=40, unique=True, editable=False)
    item_id = models.CharField(max_length=200, help_text="The scene's STAC item id (or local file)")
    acquired = models.DateTimeField(null=True, blank=True, help_text="When the scene was taken")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="scene_maps")
    clear_pixels = models.PositiveBigIntegerField(default=0)
    cloud_pixels = models.PositiveBigIntegerField(default=0)
    missing_pixels = models.PositiveBigIntegerField(default=0)
    item = models.JSONField(default=dict, blank=True, help_text="The scene as the imagery summary lists it")
    warnings = models.JSONField(default=list, blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="Time to read and map it")
    uses = models.PositiveIntegerField(default=0, help_text="Composites and series that used it")
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"scene {self.item_id} mapped by {self.model_version_id} ({self.clear_pixels:,} clear px)"


class CompositeMap(QueuedJob):
    """A land-cover map of an area over a period: every scene with clear pixels over it mapped (once: `SceneMap`)
    and combined per pixel by the mode of their labels or the mean of their probabilities, with the count of
    clear observations as a quality band. Files live under COMPOSITES_DIR/<token>/: map.tif, probabilities.tif,
    confidence.tif, observations.tif, confidence.json, preview.png."""

    class Method(models.TextChoices):
        MODE = "mode", "Mode of the scenes' labels"
        MEAN = "mean", "Mean of the scenes' probabilities"

    key = models.CharField(max_length=64, unique=True, editable=False,
                           help_text="SHA-256 of the area, period, method, cloud limit, source and model")
    token = models.CharField(max_length=40, unique=True, editable=False)
    geometry = models.MultiPolygonField(srid=4326)
    area_km2 = models.FloatField(help_text="Geodesic area of the polygon (WGS 84 ellipsoid)")
    start = models.DateField()
    end = models.DateField()
    period = models.CharField(max_length=20, blank=True, help_text="Its name when asked by name: 2024, 2024-06, "
                                                                    "2024-JJA")
    method = models.CharField(max_length=4, choices=Method.choices, default=Method.MODE)
    max_cloud = models.FloatField(default=100.0, help_text="Largest scene cloud cover accepted, %")
    imagery_source = models.CharField(max_length=20, default="auto")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="composites")
    requested_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="composites")
    scene_maps = models.ManyToManyField(SceneMap, blank=True, related_name="composites")
    imagery = models.JSONField(default=dict, blank=True, help_text="Scenes used (with dates and clear pixels), "
                                                                   "clear-observation counts")
    acquired = models.DateTimeField(null=True, blank=True, db_index=True, help_text="When the first scene was taken")
    acquired_end = models.DateTimeField(null=True, blank=True, help_text="When the last scene was taken")

    class Meta(QueuedJob.Meta):
        pass

    def __str__(self) -> str:
        return f"composite {self.pk} ({self.start} to {self.end}, {self.method}, {self.status})"


class TimeSeries(QueuedJob):
    """Class areas of an area over time: one composite per period (months, seasons or years over a range), their
    statistics side by side. Files live under SERIES_DIR/<token>/: series.csv, series.json and series.png (the
    chart). A period without clear imagery is a gap, not an error."""

    class Step(models.TextChoices):
        MONTH = "month", "Months"
        SEASON = "season", "Meteorological seasons"
        YEAR = "year", "Years"

    key = models.CharField(max_length=64, unique=True, editable=False)
    token = models.CharField(max_length=40, unique=True, editable=False)
    geometry = models.MultiPolygonField(srid=4326)
    area_km2 = models.FloatField()
    start = models.DateField()
    end = models.DateField()
    step = models.CharField(max_length=6, choices=Step.choices, default=Step.MONTH)
    method = models.CharField(max_length=4, choices=CompositeMap.Method.choices, default=CompositeMap.Method.MODE)
    max_cloud = models.FloatField(default=100.0)
    imagery_source = models.CharField(max_length=20, default="auto")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="series")
    requested_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="series")
    periods = models.JSONField(default=list, blank=True, help_text="Per period: its name, days, composite, scenes "
                                                                   "and class areas (ha)")

    class Meta(QueuedJob.Meta):
        pass

    def __str__(self) -> str:
        return f"series {self.pk} ({self.start} to {self.end} by {self.step}, {self.status})"


class WatchedArea(models.Model):
    """A place a signed-in user watches: each new period (month, season or year) is mapped as a composite once its
    imagery exists, compared with the period before, and the user's rules decide whether to alert (e-mail, an
    HMAC-signed webhook, an Atom feed). `secret` signs the webhooks; `feed_token` opens the feed to a reader."""

    owner = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="watched_areas")
    name = models.CharField(max_length=120)
    geometry = models.MultiPolygonField(srid=4326)
    area_km2 = models.FloatField()
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="watched_areas")
    step = models.CharField(max_length=6, choices=TimeSeries.Step.choices, default=TimeSeries.Step.MONTH)
    method = models.CharField(max_length=4, choices=CompositeMap.Method.choices, default=CompositeMap.Method.MODE)
    max_cloud = models.FloatField(default=100.0)
    imagery_source = models.CharField(max_length=20, default="auto")
    rules = models.JSONField(default=list, blank=True, help_text="Alert rules: class (code or 'any'), change "
                                                                 "(loses, gains, changes), more_than, unit (ha, %)")
    email = models.BooleanField(default=True, help_text="Alerts by e-mail to the owner")
    webhook_url = models.URLField(blank=True, max_length=500)
    secret = models.CharField(max_length=64, editable=False, help_text="HMAC-SHA256 key of the webhooks")
    feed_token = models.CharField(max_length=40, unique=True, editable=False)
    paused = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    checked_at = models.DateTimeField(null=True, blank=True, help_text="When the beat last looked at it")

    def __str__(self) -> str:
        return f"watched area {self.pk} ({self.name}, by {self.step}{', paused' if self.paused else ''})"


class WatchPeriod(models.Model):
    """One period of a watched area: its composite, the change from the period before and the rules it set off.
    One row per area and period (a constraint): an alert is sent once, when `alerted_at` is first set."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for imagery or its composite"
        DONE = "done", "Mapped and compared"

    watched = models.ForeignKey(WatchedArea, on_delete=models.CASCADE, related_name="periods")
    period = models.CharField(max_length=20)
    start = models.DateField()
    end = models.DateField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.WAITING)
    reason = models.TextField(blank=True, help_text="Why it waits")
    composite = models.ForeignKey(CompositeMap, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    previous = models.CharField(max_length=20, blank=True, help_text="The period it was compared with")
    change = models.ForeignKey(ChangeMap, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    changes = models.JSONField(default=list, blank=True, help_text="Per class: ha before, after, difference, % of "
                                                                   "the area")
    triggered = models.JSONField(default=list, blank=True, help_text="The rules it set off, in words")
    alerted_at = models.DateTimeField(null=True, blank=True)
    delivery = models.JSONField(default=dict, blank=True, help_text="E-mail and webhook outcome")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start"]
        constraints = [models.UniqueConstraint(fields=["watched", "period"], name="one_row_per_watched_period")]

    def __str__(self) -> str:
        return f"{self.period} of {self.watched_id} ({self.status}{', alerted' if self.alerted_at else ''})"


class Benchmark(models.Model):
    """A competition (issue 26): real Sentinel-2 images with reference labels, split into a public part (scored on
    the public board as submissions finish) and a private part (its board revealed when the phase ends). The images
    and labels live under BENCHMARKS_DIR/<slug>/ and no route serves them, nor their names."""

    class Metric(models.TextChoices):
        AA = "AA", "Average accuracy (mean per-class recall, as DFC2020)"
        MIOU = "mIoU", "Mean IoU"
        MF1 = "mF1", "Mean F1"
        OA = "OA", "Overall accuracy"
        KAPPA = "kappa", "Cohen's kappa"

    slug = models.SlugField(max_length=60, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="Markdown: the task, the data, the rules")
    licence = models.CharField(max_length=200, blank=True, help_text="Of the images and labels")
    metric = models.CharField(max_length=10, choices=Metric.choices, default=Metric.AA,
                              help_text="The primary metric: boards rank by it, then by time")
    legend = models.JSONField(default=dict, blank=True,
                              help_text='The labels\' classes, {"code": "name"}; empty: the site\'s ten classes')
    phase_starts = models.DateTimeField(default=timezone.now)
    phase_ends = models.DateTimeField(null=True, blank=True,
                                      help_text="Submissions close and the private board is revealed; empty: never")
    per_day = models.PositiveIntegerField(default=5, help_text="Submissions per user in any 24 hours")
    per_phase = models.PositiveIntegerField(default=100, help_text="Submissions per user in the phase")
    published = models.BooleanField(default=False, help_text="Listed on the site and open to submissions")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-phase_starts", "slug"]

    def __str__(self) -> str:
        return self.title

    def ended(self, now=None) -> bool:
        """The phase is over: no more submissions, the private board shown."""
        return self.phase_ends is not None and (now or timezone.now()) >= self.phase_ends

    def open(self, now=None) -> bool:
        """Submissions are accepted now."""
        now = now or timezone.now()
        return self.published and self.phase_starts <= now and not self.ended(now)


class BenchmarkImage(models.Model):
    """One image of a benchmark and its reference labels (paths under BENCHMARKS_DIR; never served)."""

    class Split(models.TextChoices):
        PUBLIC = "public", "Public"
        PRIVATE = "private", "Private"

    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="images")
    name = models.CharField(max_length=200)
    split = models.CharField(max_length=10, choices=Split.choices, default=Split.PUBLIC)
    image = models.CharField(max_length=500, help_text="Sentinel-2 GeoTIFF, relative to BENCHMARKS_DIR")
    label = models.CharField(max_length=500, help_text="Reference codes (0: unlabelled), relative to BENCHMARKS_DIR")
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["benchmark", "split", "name"]
        constraints = [models.UniqueConstraint(fields=["benchmark", "name"], name="unique_benchmark_image")]

    def __str__(self) -> str:
        return f"{self.benchmark.slug}: {self.name} ({self.split})"


class Submission(QueuedJob):
    """A user's ONNX model and card entered in a benchmark, scored in the sandbox (`landcover.jobs.submissions`).
    Files live under SUBMISSIONS_DIR/<token>/: model.onnx and card.json; only aggregate scores are kept."""

    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="submissions")
    owner = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="submissions")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    token = models.CharField(max_length=40, unique=True, editable=False)
    card = models.JSONField(default=dict)
    model_info = models.JSONField(default=dict, help_text="Opset, operators, parameters, shapes: as checked")
    size_bytes = models.BigIntegerField(default=0)
    baseline = models.BooleanField(default=False, help_text="The platform's own method, entered for comparison")
    public_scores = models.JSONField(default=dict, blank=True)
    private_scores = models.JSONField(default=dict, blank=True)
    sandbox_seconds = models.FloatField(null=True, blank=True, help_text="Time inside the sandbox")

    class Meta(QueuedJob.Meta):
        indexes = [models.Index(fields=["benchmark", "owner", "created_at"], name="submission_limits")]

    def __str__(self) -> str:
        return f"{self.name} ({self.owner}, {self.benchmark.slug}, {self.status})"


class Legend(models.Model):
    """A user's own classes (issue 27): names, colours and, optionally, the simplified-IGBP class each corresponds
    to (the crosswalk the comparison with the global model uses), with labelled points or polygons
    (`LabelledSample`). Private to its owner unless shared."""

    owner = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="legends")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    classes = models.JSONField(default=list, help_text='[{"code": 1, "name": "Rice", "colour": "#a0c040", '
                                                       '"crosswalk": 6}] — crosswalk: a DFC code or null')
    shared = models.BooleanField(default=False, help_text="Anybody may see it and use its models")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_legend_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.owner})"


class LabelledSample(models.Model):
    """One labelled point or polygon of a legend. `held_out`: part of a probability sample kept apart for an
    accuracy assessment with area estimates (never trained on)."""

    legend = models.ForeignKey(Legend, on_delete=models.CASCADE, related_name="samples")
    geometry = models.GeometryField(srid=4326)
    code = models.PositiveSmallIntegerField()
    held_out = models.BooleanField(default=False)
    source = models.CharField(max_length=200, blank=True, help_text="The file it came from, or 'drawn'")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.geometry.geom_type} of class {self.code} ({self.legend_id})"


class LegendTraining(QueuedJob):
    """Training a legend model (issue 27): features of the labelled pixels from the imagery over them, spatially
    blocked cross-validation, the comparison with the global model, the model itself (`model_version`, the
    owner's). Its report lives under LEGENDS_DIR/<token>/report.json."""

    key = models.CharField(max_length=64, unique=True, editable=False,
                           help_text="SHA-256 of the legend's classes and samples and the parameters")
    token = models.CharField(max_length=40, unique=True, editable=False)
    legend = models.ForeignKey(Legend, on_delete=models.CASCADE, related_name="trainings")
    owner = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="legend_trainings")
    encoder = models.CharField(max_length=30)
    global_model = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+",
                                     help_text="The global model the features come from and it is compared with")
    block_m = models.FloatField(default=1000.0, help_text="Side of the spatial blocks of cross-validation, metres")
    folds = models.PositiveSmallIntegerField(default=5)
    geometry = models.MultiPolygonField(srid=4326, help_text="Where the imagery is read: around the samples")
    start = models.DateField(null=True, blank=True)
    end = models.DateField(null=True, blank=True)
    max_cloud = models.FloatField(default=100.0)
    imagery_source = models.CharField(max_length=20, default="auto")
    samples = models.JSONField(default=dict, blank=True, help_text="Samples and pixels used, and those dropped")
    cv = models.JSONField(default=dict, blank=True, help_text="Spatially blocked cross-validation")
    comparison = models.JSONField(default=dict, blank=True, help_text="Against the global model via the crosswalk")
    assessment = models.JSONField(default=dict, blank=True, help_text="On the held-out sample, with area estimates")
    imagery = models.JSONField(default=dict, blank=True)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="trainings")

    class Meta(QueuedJob.Meta):
        pass

    def __str__(self) -> str:
        return f"training {self.pk} of {self.legend} ({self.status})"
