"""HR-MARS settings. Every deployment-specific value comes from the environment.

Two set-ups are supported (see README, "Configuration"):
- embedded default (no servers): SpatiaLite file + Celery over kombu's
  filesystem transport + file cache, all under HRMARS_DATA_DIR;
- production and tests: PostGIS (DATABASE_URL=postgis://…) and Redis
  (CELERY_BROKER_URL=redis://…, CACHE_URL=redis://…).
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

from .env import cache_from_url, env_bool, env_float, env_int, env_list, env_path, env_str
from .geolibs import library_paths, load_pyproj_first

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env_path("HRMARS_DATA_DIR", BASE_DIR / "data")

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it to a long random string "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'); scripts/run.sh does this for you."
        )
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# CORS (django-cors-headers): web GIS clients on other origins (OpenLayers, Leaflet, geotiff.js, STAC Browser) read
# the API — tiles, STAC, COG downloads with byte ranges, WMTS. Reads only, and never with credentials: a browser
# sends no cookie cross-origin, so another site can only read what an anonymous client may (a private result
# stays a 404); scripts that use a token send it themselves. HRMARS_CORS_ORIGINS narrows the origins ("*": any).
CORS_URLS_REGEX = r"^/api/v1/.*$"
_cors_origins = env_list("HRMARS_CORS_ORIGINS", ["*"])
CORS_ALLOW_ALL_ORIGINS = _cors_origins == ["*"]
CORS_ALLOWED_ORIGINS = [] if CORS_ALLOW_ALL_ORIGINS else _cors_origins
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_METHODS = ("GET", "HEAD", "OPTIONS")
CORS_ALLOW_HEADERS = ("accept", "authorization", "range", "if-none-match", "if-modified-since")
CORS_EXPOSE_HEADERS = ("Content-Range", "Accept-Ranges", "Content-Length", "Content-Disposition", "Location")
CORS_PREFLIGHT_MAX_AGE = 86400

# --- HTTPS hardening: on by default outside DEBUG; the embedded run script
# serves plain HTTP on loopback and turns it off with HRMARS_HTTPS=0.
HTTPS = env_bool("HRMARS_HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^health/$"]  # load balancers probe over plain HTTP
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env_bool("HRMARS_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_ratelimit",
    "axes",
    "csp",
    "corsheaders",
    "leaflet",
    "rest_framework_gis",
    "django_celery_beat",
    "django.contrib.sites",   # django-contrib-comments needs it (SITE_ID)
    "django_comments_xtd",    # before django_comments: its templates win
    "django_comments",
    "hrmars_site",
    "accounts",
    "feedback",
    "landcover",
    "discussions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "hrmars_site.bodylimits.BodySizeLimit",  # before anything reads the body: a large one is refused unread
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",  # before CommonMiddleware, as django-cors-headers asks
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a lockout into its answer
]

ROOT_URLCONF = "hrmars_site.urls"
WSGI_APPLICATION = "hrmars_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "hrmars_site.context_processors.site",
            ],
        },
    },
]

# --- Database: SpatiaLite file by default, PostGIS in production and tests.
DATABASE_URL = env_str("DATABASE_URL", f"spatialite:///{DATA_DIR / 'hrmars.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.contrib.gis.db.backends.spatialite":
    # Several processes (web workers, Celery) share one file: wait for locks. Connections are kept like
    # PostGIS's (DB_CONN_MAX_AGE): opening one loads the SpatiaLite extension, about 15 ms, which a
    # request for an XYZ tile (15 ms of rendering) should not pay each time.
    # Every transaction takes the write lock when it begins (IMMEDIATE): one that reads, then writes (a limit counted,
    # then a row inserted) waits its turn instead of failing with "database is locked" when another wrote meanwhile,
    # and two cannot both pass a limit between their count and their insert.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    load_pyproj_first()  # see geolibs.load_pyproj_first: avoids a crash at exit
elif DATABASES["default"]["ENGINE"] != "django.contrib.gis.db.backends.postgis":
    raise ImproperlyConfigured(
        f"DATABASE_URL must use postgis:// or spatialite:// (GeoDjango), not {DATABASE_URL.split(':', 1)[0]}://"
    )
GDAL_LIBRARY_PATH, GEOS_LIBRARY_PATH = library_paths()
SPATIALITE_LIBRARY_PATH = env_str("SPATIALITE_LIBRARY_PATH", "mod_spatialite")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (API answers, tiles) and rate-limit counters (a store of their own).
CACHE_URL = env_str("CACHE_URL", f"file://{DATA_DIR / 'cache'}")
CACHES = {"default": cache_from_url(CACHE_URL, key_prefix=env_str("CACHE_KEY_PREFIX", "hrmars"))}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # Redis INCR is atomic, and counters live under their own prefix.
    CACHES["ratelimit"] = {**CACHES["default"], "KEY_PREFIX": CACHES["default"]["KEY_PREFIX"] + "-rl"}
    # django-ratelimit 4.1 predates Django's own Redis backend and lists only django_redis.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
else:
    # No Redis (the embedded mode): counters in the database, one atomic statement each, in a table
    # nothing else writes, so neither races nor a full cache can reset a limit (hrmars_site.counters).
    CACHES["ratelimit"] = {"BACKEND": "hrmars_site.counters.CounterCache"}
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]  # a backend of ours, not on its list
# XYZ tiles get a store of their own: a map session's tiles must not be evicted by catalogue answers (the
# file cache culls a third of its 300 entries when full). Redis: the same server under its own prefix;
# the file cache: its own folder, holding HRMARS_TILE_CACHE_ENTRIES tiles (about 2 KB each) before culling.
TILE_CACHE_ENTRIES = env_int("HRMARS_TILE_CACHE_ENTRIES", 50_000)
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["tiles"] = {**CACHES["default"], "KEY_PREFIX": CACHES["default"]["KEY_PREFIX"] + "-tiles"}
elif CACHES["default"]["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache":
    CACHES["tiles"] = {**CACHES["default"], "LOCATION": str(Path(CACHES["default"]["LOCATION"]) / "tiles"),
                       "OPTIONS": {"MAX_ENTRIES": TILE_CACHE_ENTRIES, "CULL_FREQUENCY": 10}}
else:
    CACHES["tiles"] = {**CACHES["default"], "LOCATION": "hrmars-tiles"} if "LOCATION" in CACHES["default"] \
        else dict(CACHES["default"])
RATELIMIT_USE_CACHE = "ratelimit"
RATELIMIT_VIEW = "hrmars_site.views.rate_limited"
RATELIMIT_IP_META_KEY = env_str("RATELIMIT_IP_META_KEY") or None
MAP_RATE = env_str("HRMARS_MAP_RATE", "30/h")  # new map computations (and retries) per client
UPLOAD_RATE = env_str("HRMARS_UPLOAD_RATE", "30/h")  # upload attempts per user, refused ones included

# --- Login throttling (django-axes): every door that checks a password (/accounts/login/,
# /admin/login/, /api/v1/auth/token/) goes through Django's authenticate(), which axes watches.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("HRMARS_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("HRMARS_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["ip_address"]  # one client guessing, whatever usernames it tries
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "hrmars_site.views.locked_out"
AXES_IPWARE_META_PRECEDENCE_ORDER = [RATELIMIT_IP_META_KEY or "REMOTE_ADDR"]
AXES_VERBOSE = False

FEEDBACK_RATE = env_str("HRMARS_FEEDBACK_RATE", "5/10m")
SIGNUP_RATE = env_str("HRMARS_SIGNUP_RATE", "10/h")
PASSWORD_RESET_RATE = env_str("HRMARS_PASSWORD_RESET_RATE", "10/h")                  # per client IP
PASSWORD_RESET_ADDRESS_RATE = env_str("HRMARS_PASSWORD_RESET_ADDRESS_RATE", "3/h")  # per e-mail address

# --- Celery.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    _default_backend = f"file://{DATA_DIR / 'celery-results'}"
    (DATA_DIR / "celery-results").mkdir(parents=True, exist_ok=True)
else:
    _default_backend = CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
    # Redis: a task taken by a worker that then died (kill -9, power loss) is handed out again
    # after this many seconds. Longer than the longest job (a full tile takes ~6 min on 2 cores).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("HRMARS_BROKER_VISIBILITY_TIMEOUT", 3600)}
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", _default_backend) or None
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "hrmars")
CELERY_TASK_ACKS_LATE = True  # a killed worker's task is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_RESULT_EXPIRES = 7 * 24 * 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Periodic tasks (watched areas) live in the database (django-celery-beat): the admin can see and change them, and
# `celery beat` (run.sh starts it inside its worker with -B) reads them from there.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Auth.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "accounts:profile"
LOGOUT_REDIRECT_URL = "home"

# --- E-mail (password reset). Console backend unless configured.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "HR-MARS <noreply@localhost>")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(DATA_DIR / "outbox"))  # for the file backend

# --- Discussions (issue 26): django-comments-xtd threads on competitions, entries and maps (discussions/). Only
# signed-in users post; a new account's first comment waits for a moderator; enough removal flags hide a comment.
SITE_ID = 1
COMMENTS_APP = "django_comments_xtd"
COMMENT_MAX_LENGTH = 3000                 # django-contrib-comments' own (its column is this wide)
COMMENTS_HIDE_REMOVED = False             # a removed comment shows as removed, its replies stay in place
COMMENTS_XTD_MAX_THREAD_LEVEL = 2         # a comment, a reply, a reply to the reply
COMMENTS_XTD_CONFIRM_EMAIL = False        # posters are signed in: no confirmation e-mail
COMMENTS_XTD_SEND_HTML_EMAIL = False      # follow-up e-mails in plain text
COMMENTS_XTD_THREADED_EMAILS = False      # sent in the request (the console, file or SMTP backend), not a thread
COMMENTS_XTD_FROM_EMAIL = DEFAULT_FROM_EMAIL
COMMENTS_XTD_APP_MODEL_OPTIONS = {"default": {"who_can_post": "users", "allow_flagging": True,
                                              "allow_feedback": False, "show_feedback": False}}
DISCUSSION_RATE = env_str("HRMARS_DISCUSSION_RATE", "10/10m")               # comments per user
DISCUSSION_TRUSTED_AFTER_DAYS = env_int("HRMARS_DISCUSSION_TRUSTED_AFTER_DAYS", 7)  # before: first comment held
DISCUSSION_HIDE_AFTER_FLAGS = env_int("HRMARS_DISCUSSION_HIDE_AFTER_FLAGS", 3)      # removal flags that hide one

# --- REST API.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PARSER_CLASSES": ["hrmars_site.parsers.JSONBodyParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],  # JSON nested too deeply: a 400
    "DEFAULT_SCHEMA_CLASS": "hrmars_site.schema.AutoSchema",  # documents every error answer too
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    # One table from the domain's errors (landcover.errors) to HTTP statuses.
    "EXCEPTION_HANDLER": "landcover.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "HR-MARS API",
    "DESCRIPTION": "High-resolution land cover from Sentinel-2: catalogue, maps, statistics and downloads.",
    "VERSION": "1",
    "PATH_CONVERTER_OVERRIDES": {"id": int},  # landcover.urlconverters.IdConverter
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # System fonts: ReDoc would fetch Google Fonts, which the Content-Security-Policy blocks (templates/drf_spectacular).
    "REDOC_UI_SETTINGS": {"theme": {"typography": {"fontFamily": "system-ui, -apple-system, 'Segoe UI', sans-serif",
                                                   "headings": {"fontFamily": "system-ui, sans-serif"}}}},
}

# --- I18N.
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Files.
STATIC_URL = "/static/"
STATIC_ROOT = env_path("STATIC_ROOT", DATA_DIR / "static")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = env_path("MEDIA_ROOT", DATA_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed, compressed names need `collectstatic`; off in DEBUG and in the
        # test suite (its live server finds files in the source folders).
        "BACKEND": (
            "hrmars_site.storage.StaticStorage"
            if env_bool("HRMARS_STATIC_MANIFEST", not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Land-cover maps: COG + PNG per map, one folder each, outside the static and media paths
# (the API serves them). Work in progress is written under MAPS_DIR/.tmp and moved in.
MAPS_DIR = env_path("HRMARS_MAPS_DIR", DATA_DIR / "maps")
# A job (any stored result) still queued or running this long without a progress report is taken as lost (the
# broker was emptied, its worker killed) and queued again when it is next asked for or looked at.
MAP_STALE_SECONDS = env_int("HRMARS_MAP_STALE_SECONDS", 900)
# How long catalogue answers (footprints, point look-ups, model lists) and XYZ tiles stay
# in the cache; ingestion and model changes invalidate catalogue answers at once.
API_CACHE_SECONDS = env_int("HRMARS_API_CACHE_SECONDS", 600)
# The most pixels of a stored file one XYZ tile may read (a file without overviews that coarse): beyond, a
# transparent tile at once. Every tile of a COG with overviews reads far fewer.
TILE_MAX_READ_PIXELS = env_int("HRMARS_TILE_MAX_READ_PIXELS", 4 * 2**20)

# --- Uploads: users' own Sentinel-2 images, outside the static and media paths.
UPLOADS_DIR = env_path("HRMARS_UPLOADS_DIR", DATA_DIR / "uploads")
# Defaults fit a full 10980 × 10980 13-band uint16 Sentinel-2 tile (3.1 GB uncompressed).
UPLOAD_MAX_MB = env_int("HRMARS_UPLOAD_MAX_MB", 4096)
UPLOAD_MAX_SIDE = env_int("HRMARS_UPLOAD_MAX_SIDE", 11000)   # pixels, width and height
UPLOAD_MAX_ACTIVE = env_int("HRMARS_UPLOAD_MAX_ACTIVE", 2)    # queued or running jobs per user
UPLOAD_DAILY_LIMIT = env_int("HRMARS_UPLOAD_DAILY_LIMIT", 20)  # uploads per user per 24 h
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "tmp")                  # large uploads stream to disk here
# Bodies of any other route (forms, JSON): refused above this by their Content-Length (hrmars_site/bodylimits.py).
MAX_BODY_KB = env_int("HRMARS_MAX_BODY_KB", 2560)
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)

# --- Areas of interest: maps of any area, from a STAC API or the local imagery catalogue.
AREAS_DIR = env_path("HRMARS_AREAS_DIR", DATA_DIR / "areas")
AREA_MAX_KM2 = env_int("HRMARS_AREA_MAX_KM2", 400)            # largest area mapped at once (geodesic)
AREA_MAX_VERTICES = env_int("HRMARS_AREA_MAX_VERTICES", 10000)  # vertices of a drawn or uploaded area
AREA_POINT_SIZE_M = env_int("HRMARS_AREA_POINT_SIZE_M", 2000)   # side of the square mapped around a clicked point
AREA_MAX_FILE_KB = env_int("HRMARS_AREA_MAX_FILE_KB", 5120)     # uploaded GeoJSON / KML / zipped Shapefile / reference
AREA_MAX_FEATURES = env_int("HRMARS_AREA_MAX_FEATURES", 1000)   # polygons in an area file (a district's is a handful)
AREA_FILE_RATE = env_str("HRMARS_AREA_FILE_RATE", "30/h")        # area files read per client, refused ones included
UNITS_MAX_FEATURES = env_int("HRMARS_UNITS_MAX_FEATURES", 10000)  # units in one layer for statistics per unit
UNITS_MAX_FILE_KB = env_int("HRMARS_UNITS_MAX_FILE_KB", 20480)    # its file (GeoJSON / KML / zipped Shapefile)
VECTOR_MAX_PIXELS = env_int("HRMARS_VECTOR_MAX_PIXELS", 25_000_000)  # largest map vectorised (a job above INLINE_MAX_PIXELS)
REFERENCE_MAX_POINTS = env_int("HRMARS_REFERENCE_MAX_POINTS", 10000)  # reference points assessed at once
CHANGES_DIR = env_path("HRMARS_CHANGES_DIR", DATA_DIR / "changes")  # change maps between two stored maps
EXPORTS_DIR = env_path("HRMARS_EXPORTS_DIR", DATA_DIR / "exports")  # vectors and samples of stored maps
# Regions (issue 24): maps of areas of any size up to REGION_MAX_KM2, cut into tiles of REGION_TILE_PX (10 m) pixels
# a side that any number of workers map; REGION_TILE_QUEUE: the Celery queue of tiles ("" = the default queue, as
# run.sh's one worker needs; a deployment gives tiles their own workers: `celery worker -Q tiles`).
REGIONS_DIR = env_path("HRMARS_REGIONS_DIR", DATA_DIR / "regions")
REGION_MAX_KM2 = env_int("HRMARS_REGION_MAX_KM2", 1_000_000)
REGION_TILE_PX = env_int("HRMARS_REGION_TILE_PX", 2048)   # 20.5 km: a tile maps in a few minutes on one core
REGION_TILE_QUEUE = env_str("HRMARS_REGION_TILE_QUEUE", "")
# A running tile beats every 5 s; one silent this long lost its worker and is taken by the next task that asks.
REGION_TILE_STALE_SECONDS = env_int("HRMARS_REGION_TILE_STALE_SECONDS", 120)
# Composites and time series (issue 25): every dated scene of an area over a period mapped once (SCENES_DIR, found
# again by scene, grid and model) and combined per pixel (COMPOSITES_DIR). An area up to COMPOSITE_MAX_KM2, at most
# COMPOSITE_MAX_SCENES scenes (the least cloudy first) per composite.
SCENES_DIR = env_path("HRMARS_SCENES_DIR", DATA_DIR / "scenes")
COMPOSITES_DIR = env_path("HRMARS_COMPOSITES_DIR", DATA_DIR / "composites")
SERIES_DIR = env_path("HRMARS_SERIES_DIR", DATA_DIR / "series")  # time series: one composite per period
SERIES_MAX_PERIODS = env_int("HRMARS_SERIES_MAX_PERIODS", 60)  # five years of months
# Competitions (issue 26): benchmarks' images and labels (BENCHMARKS_DIR, never served) and the models users submit
# (SUBMISSIONS_DIR). A submission runs under bubblewrap on SUBMISSION_QUEUE ("" = the default queue, as run.sh's one
# worker needs; a deployment gives it workers of its own, on machines of their own: `celery worker -Q submissions`)
# within these limits; its output-size limit follows from the benchmark's pixels.
BENCHMARKS_DIR = env_path("HRMARS_BENCHMARKS_DIR", DATA_DIR / "benchmarks")
SUBMISSIONS_DIR = env_path("HRMARS_SUBMISSIONS_DIR", DATA_DIR / "submissions")
SUBMISSION_QUEUE = env_str("HRMARS_SUBMISSION_QUEUE", "")
SANDBOX_CPU_SECONDS = env_int("HRMARS_SANDBOX_CPU_SECONDS", 600)      # CPU time of one submission's inference
SANDBOX_WALL_SECONDS = env_int("HRMARS_SANDBOX_WALL_SECONDS", 900)
SANDBOX_MEMORY_MB = env_int("HRMARS_SANDBOX_MEMORY_MB", 4096)        # address space (ONNX Runtime reserves much)
SANDBOX_THREADS = env_int("HRMARS_SANDBOX_THREADS", 1)               # ONNX Runtime's threads, pinned
# Legends of one's own (issue 27): a user's classes and labelled samples (points, polygons), legend models trained
# on the features of the imagery over them (one read of at most LEGEND_MAX_KM2 around all samples); reports in
# LEGENDS_DIR/<token>/, the models in LEGENDS_DIR/models/legend-<token>/ (a local folder: workers load them).
LEGENDS_DIR = env_path("HRMARS_LEGENDS_DIR", DATA_DIR / "legends")
LEGEND_MAX_CLASSES = env_int("HRMARS_LEGEND_MAX_CLASSES", 30)
LEGEND_MAX_SAMPLES = env_int("HRMARS_LEGEND_MAX_SAMPLES", 5000)          # points and polygons in one legend
LEGEND_MAX_POLYGON_KM2 = env_float("HRMARS_LEGEND_MAX_POLYGON_KM2", 1.0)  # a field or a stand, not a region
LEGEND_PIXELS_PER_POLYGON = env_int("HRMARS_LEGEND_PIXELS_PER_POLYGON", 200)  # drawn at random, fixed seed
LEGEND_MAX_KM2 = env_int("HRMARS_LEGEND_MAX_KM2", 400)   # the box around all samples: one imagery read
LEGEND_TRAININGS_PER_DAY = env_int("HRMARS_LEGEND_TRAININGS_PER_DAY", 20)
COMPOSITE_MAX_KM2 = env_int("HRMARS_COMPOSITE_MAX_KM2", 400)
COMPOSITE_MAX_SCENES = env_int("HRMARS_COMPOSITE_MAX_SCENES", 60)
COMPOSITE_MAX_DAYS = env_int("HRMARS_COMPOSITE_MAX_DAYS", 366)  # a period given by start and end: a year at most
# Watched areas (issue 25): the beat task looks at every watched area this often (seconds) and maps each new period
# once its imagery exists; webhooks go to public addresses only unless WATCH_WEBHOOK_ALLOW_PRIVATE (tests, an
# intranet) allows loopback and private networks.
WATCH_CHECK_SECONDS = env_int("HRMARS_WATCH_CHECK_SECONDS", 3600)
WATCH_MAX_PER_USER = env_int("HRMARS_WATCH_MAX_PER_USER", 20)
WATCH_WEBHOOK_ALLOW_PRIVATE = env_bool("HRMARS_WATCH_WEBHOOK_ALLOW_PRIVATE", False)
WATCH_WEBHOOK_TIMEOUT = env_int("HRMARS_WATCH_WEBHOOK_TIMEOUT", 10)
# --- Where results live (issue 24): "" keeps them in the folders above (the embedded default, one machine, or a
# shared file system mounted at the same path everywhere); s3://bucket/prefix puts every finished result in an
# S3-compatible object store that every machine reads (landcover/storage.py): workers then keep nothing on disk.
# HRMARS_STORAGE_ENDPOINT: a server other than AWS (http://seaweedfs:8333, MinIO, Ceph, …); credentials come from
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, which GDAL and obstore both read.
STORAGE_URL = env_str("HRMARS_STORAGE_URL", "")
STORAGE_ENDPOINT = env_str("HRMARS_STORAGE_ENDPOINT", "")
STORAGE_REGION = env_str("HRMARS_STORAGE_REGION", "us-east-1")
# Work a web request may do itself: exporting (vectors, samples) a map of up to this many pixels; a larger one
# is an export job of the worker and the request answers 202 with its URL (2,000² px: about a second).
INLINE_MAX_PIXELS = env_int("HRMARS_INLINE_MAX_PIXELS", 4_000_000)
EXPORT_RATE = env_str("HRMARS_EXPORT_RATE", "60/h")  # new export variants per client (made ones are read freely)
# `manage.py prune` removes results nobody has asked for in this many days (never one a user owns).
PRUNE_DAYS = env_int("HRMARS_PRUNE_DAYS", 90)
# A STAC API with Sentinel-2 collections (empty: the local imagery catalogue only, which works offline).
# Production: https://earth-search.aws.element84.com/v1 with sentinel-2-l2a (public COGs, no key).
STAC_URL = env_str("HRMARS_STAC_URL", "")
STAC_COLLECTIONS = env_list("HRMARS_STAC_COLLECTIONS", ["sentinel-2-l2a"])

# --- Map.
BASEMAP_URL = env_str("HRMARS_BASEMAP_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
BASEMAP_ATTRIBUTION = env_str(
    "HRMARS_BASEMAP_ATTRIBUTION", '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)

LEAFLET_CONFIG = {
    "TILES": [("Base map", BASEMAP_URL, {"attribution": BASEMAP_ATTRIBUTION})] if BASEMAP_URL else [],
    "DEFAULT_CENTER": (20.0, 0.0),
    "DEFAULT_ZOOM": 2,
    "MIN_ZOOM": 1,
    "MAX_ZOOM": 18,
    "RESET_VIEW": False,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Content-Security-Policy (django-csp): scripts only from this site, no inline script but for one carrying the
# request's nonce. Only django-leaflet's admin map widget asks for one (its inline set-up script); a page that
# never reads request.csp_nonce sends no nonce, so nothing inline runs there.
_basemap = urlparse(BASEMAP_URL.replace("{s}", "*")) if BASEMAP_URL else None
CONTENT_SECURITY_POLICY = {"DIRECTIVES": {
    "default-src": ["'self'"],
    "script-src": ["'self'", NONCE],
    "style-src": ["'self'", "'unsafe-inline'"],  # class colours are inline style attributes; no script runs from them
    "img-src": ["'self'", "data:", *([f"{_basemap.scheme}://{_basemap.netloc}"] if _basemap else [])],
    "connect-src": ["'self'"],
    "font-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}}
