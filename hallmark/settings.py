"""Django settings for Hallmark.

Everything comes from environment variables (12-factor). With none set, Hallmark runs on one
machine with embedded defaults: SQLite and Celery's filesystem broker under ``var/``, media
under ``var/media/``. Production and CI set ``DATABASE_URL`` and ``CELERY_BROKER_URL``.
The parsers (flags, lists, kept secrets, cache URLs, rates) are in ``hallmark.environment``; the
larger dictionaries (the database, broker options, beat schedule, REST framework) are built in
``hallmark.database_settings``, ``hallmark.celery_settings`` and ``hallmark.rest_settings`` from
values read here.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from hallmark.celery_settings import beat_schedule, broker_transport_options
from hallmark.database_settings import default_database
from hallmark.environment import (
    cache_from_url,
    download_url_expires,
    env_bool,
    env_choice,
    env_choices,
    env_float_seconds,
    env_int,
    env_list,
    env_path,
    kept_secret,
    media_storage,
    network_list,
    optional_secret,
    throttle_rate,
)
from hallmark.orchestration_settings import *  # noqa: F403  (routing, checks, batching)
from hallmark.rest_settings import rest_framework, spectacular

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HALLMARK_VAR_DIR", BASE_DIR / "var")).resolve()
# Private when made here: it holds keys, the SQLite database (tokens, sessions, hashes), media.
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)


def _secret_key() -> str:
    """Use DJANGO_SECRET_KEY, or a random key kept under var/ so sessions survive restarts."""
    return kept_secret("DJANGO_SECRET_KEY", VAR_DIR / "secret_key")


def _prompt_hmac_key() -> str:
    """HALLMARK_PROMPT_HMAC_KEY, or a random key kept under var/ (see docs/provenance.md)."""
    # A short key can be guessed along with the prompt, which is what the HMAC prevents.
    return kept_secret("HALLMARK_PROMPT_HMAC_KEY", VAR_DIR / "prompt_hmac_key", min_length=32)


# --- Core -------------------------------------------------------------------------------------
SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = list(env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver"))
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]
HALLMARK_PORT = int(os.environ.get("HALLMARK_PORT", "8000"))

# --- HTTPS (production) -------------------------------------------------------------------------
# Off by default: the embedded demo serves plain http on localhost, where secure-only cookies
# and a redirect to https would lock everyone out. On, it is what `manage.py check --deploy`
# asks for. TLS is expected to end at a proxy in front of gunicorn, which tells Django the
# original scheme in X-Forwarded-Proto (HALLMARK_HTTPS_PROXY_HEADER; empty when nothing in
# front does: a header a client can write itself must not be trusted).
HALLMARK_HTTPS = env_bool("HALLMARK_HTTPS", False)
if HALLMARK_HTTPS:
    SECURE_SSL_REDIRECT = env_bool("HALLMARK_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("HALLMARK_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HALLMARK_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("HALLMARK_HSTS_PRELOAD", False)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    _proxy_header = os.environ.get("HALLMARK_HTTPS_PROXY_HEADER", "X-Forwarded-Proto").strip()
    if _proxy_header:
        SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https")
    if not SECURE_HSTS_PRELOAD:
        # Asking browsers to preload the domain is a commitment that is slow to undo, so it is
        # the operator's to opt into (HALLMARK_HSTS_PRELOAD); not doing so is not a weakness.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

# --- Apps, middleware, templates ----------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Hallmark's apps (which may import which: the import contracts in pyproject.toml).
    *("governance", "plugins", "routing", "acceptance", "generation", "assets"),
    *("operations", "workspace", "scorecards"),
    # After governance, whose receivers for failed logins then run before django-axes' own.
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Names the acting user in audit events written by model signals (governance.acting).
    "governance.acting.ActingUserMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Failed logins per address, whatever the usernames (governance.login_guard).
    "governance.login_guard.AddressLockoutMiddleware",
    # Last, as django-axes asks: turns a lockout into its response (governance.login_guard).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "hallmark.urls"
WSGI_APPLICATION = "hallmark.wsgi.application"
ASGI_APPLICATION = "hallmark.asgi.application"

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
                "governance.roles.roles_context",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": default_database(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'hallmark.sqlite3'}"),
        VAR_DIR,
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
        server_side_binding=env_bool("HALLMARK_DATABASE_SERVER_SIDE_BINDING", True),
    )
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes first: it refuses a locked-out username+address before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media -------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = Path(os.environ.get("HALLMARK_MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"
# Asset files under MEDIA_ROOT (one host), or in an S3-compatible store every host reaches
# (HALLMARK_STORAGE=s3 and the AWS_* variables; docs/deployment.md).
HALLMARK_STORAGE, _media_storage = media_storage()
STORAGES = {
    "default": _media_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Downloads from the store: streamed through the web (default), or a 302 to a presigned URL.
HALLMARK_DOWNLOAD_REDIRECT = env_bool("HALLMARK_DOWNLOAD_REDIRECT", False)
HALLMARK_DOWNLOAD_URL_EXPIRES = download_url_expires()  # at most an hour: issued URLs outlive deletion
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Uploads (provenance verification) are size-limited; larger bodies are refused with a 4xx.
HALLMARK_MAX_UPLOAD_BYTES = int(os.environ.get("HALLMARK_MAX_UPLOAD_BYTES", str(25 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = HALLMARK_MAX_UPLOAD_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = HALLMARK_MAX_UPLOAD_BYTES
# Uploaded images declaring more pixels than this are refused before decoding (decompression bombs).
HALLMARK_MAX_IMAGE_PIXELS = int(os.environ.get("HALLMARK_MAX_IMAGE_PIXELS", str(40_000_000)))
# GET /api/v1/assets/ pages kept per web process until an audited change (workspace.page_cache).
HALLMARK_LIBRARY_PAGE_CACHE = env_bool("HALLMARK_LIBRARY_PAGE_CACHE", True)
HALLMARK_LIBRARY_PAGE_CACHE_MB = env_int("HALLMARK_LIBRARY_PAGE_CACHE_MB", 32, minimum=1, maximum=4096)
# The most assets one zip export may hold (streamed, but its audit event lists every asset).
HALLMARK_EXPORT_MAX_ASSETS = max(1, int(os.environ.get("HALLMARK_EXPORT_MAX_ASSETS", "5000")))

# --- Cache (API rate-limit counters) -----------------------------------------------------------
# By default files under var/cache/, shared by every process on this machine (the gunicorn
# workers); several web machines share counts only through Redis or the database.
CACHES = {
    "default": {
        **cache_from_url(os.environ.get("HALLMARK_CACHE_URL") or f"file://{VAR_DIR / 'cache'}"),
        "KEY_PREFIX": "hallmark",
    }
}

# Requests a user (or, without logging in, a client address) may make to the API; over it: 429.
HALLMARK_API_THROTTLE_USER = throttle_rate("HALLMARK_API_THROTTLE_USER", "600/min")
HALLMARK_API_THROTTLE_ANON = throttle_rate("HALLMARK_API_THROTTLE_ANON", "60/min")
# Images a user may verify per period (each batch file counted): verifying costs CPU.
HALLMARK_VERIFY_RATE = throttle_rate("HALLMARK_VERIFY_RATE", "30/min")
# Zip exports per user (API and pages): each holds a web worker while it streams.
HALLMARK_EXPORT_RATE = throttle_rate("HALLMARK_EXPORT_RATE", "10/hour")
# Proxies in front of Hallmark that append to X-Forwarded-For: rate limits and login lockouts
# count the address the outermost one saw. 0 (no proxy): the header is ignored, since any
# client could write it.
HALLMARK_NUM_PROXIES = max(0, int(os.environ.get("HALLMARK_NUM_PROXIES", "0")))

# --- Login lockout (django-axes) ---------------------------------------------------------------
# After this many failed logins for one username from one address, that pair is locked out of
# /accounts/login/ and /admin/login/ for the cool-off time (429 and a page that says so; a
# cool-off of 0 locks out until an admin unlocks).
# `manage.py axes_reset_username <name>` or the Django admin (Axes) unlocks early.
AXES_FAILURE_LIMIT = int(os.environ.get("HALLMARK_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("HALLMARK_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Against password spraying (a few passwords on many accounts): failed logins per address, any
# usernames, within the same cool-off; higher than the per-account limit (0: no such limit).
HALLMARK_LOGIN_FAILURES_PER_ADDRESS = int(os.environ.get("HALLMARK_LOGIN_FAILURES_PER_ADDRESS", "30"))
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "governance.login_guard.client_ip"
AXES_LOCKOUT_CALLABLE = "governance.login_guard.lockout_response"
AXES_VERBOSE = False

# --- REST API ---------------------------------------------------------------------------------
# hallmark/rest_settings.py: authentication (token, then session), IsViewer by default, the
# safe JSON parser, paging, throttles (counted per HALLMARK_NUM_PROXIES), the OpenAPI schema.
REST_FRAMEWORK = rest_framework(HALLMARK_NUM_PROXIES)
SPECTACULAR_SETTINGS = spectacular()

# --- Celery -----------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
# A submit publishes once with this connect timeout (seconds) and answers: a broker that is down
# leaves the job waiting for it (generation.services.enqueue), never a request hanging on it.
HALLMARK_BROKER_PUBLISH_TIMEOUT = float(os.environ.get("HALLMARK_BROKER_PUBLISH_TIMEOUT", "1"))
# Per broker (hallmark/celery_settings.py): no retries inside a publish, the connect timeout,
# the filesystem broker's folders. The visibility timeout must exceed the longest job, or a
# running job is handed to a second worker (Redis, SQS); the filesystem broker lists its folder
# every HALLMARK_BROKER_POLL_INTERVAL seconds (kombu's 1 s put most of a second on every job).
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(
    CELERY_BROKER_URL,
    BROKER_DIR,
    visibility_timeout=int(os.environ.get("HALLMARK_BROKER_VISIBILITY_TIMEOUT", str(4 * 3600))),
    connect_timeout=HALLMARK_BROKER_PUBLISH_TIMEOUT,
    poll_interval=float(os.environ.get("HALLMARK_BROKER_POLL_INTERVAL", "0.05")),
)
# RabbitMQ (py-amqp) connects within this; Redis within the transport's socket_connect_timeout.
CELERY_BROKER_CONNECTION_TIMEOUT = HALLMARK_BROKER_PUBLISH_TIMEOUT
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "hallmark"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Hallmark: jobs and workers ---------------------------------------------------------------
# How often a running job writes its heartbeat, and after how long without one a worker
# that starts (or its recovery sweep) takes the job over from a worker presumed dead.
HALLMARK_HEARTBEAT_SECONDS = float(os.environ.get("HALLMARK_HEARTBEAT_SECONDS", "2"))
HALLMARK_JOB_STALE_AFTER = float(os.environ.get("HALLMARK_JOB_STALE_AFTER", "60"))
# Queued jobs that no worker has picked up for this long are enqueued again (a broker lost them).
HALLMARK_REQUEUE_QUEUED_AFTER = float(os.environ.get("HALLMARK_REQUEUE_QUEUED_AFTER", "600"))
HALLMARK_RECOVERY_INTERVAL = float(os.environ.get("HALLMARK_RECOVERY_INTERVAL", "30"))
# Workers may keep database connections between jobs this long (seconds; 0: closed after each
# job). A new PostgreSQL connection costs about 20 ms here, two per job (docs/benchmarks.md);
# off by default because the tests' in-process workers must leave no connection open.
HALLMARK_WORKER_CONN_MAX_AGE = int(os.environ.get("HALLMARK_WORKER_CONN_MAX_AGE", "0"))
if HALLMARK_WORKER_CONN_MAX_AGE > 0:
    # Else Celery's Django fix-up closes every connection around each task.
    CELERY_DB_REUSE_MAX = 1000
# Encode, sign and write images in a storage thread, so a GPU worker starts its next job
# instead of waiting for that CPU work.
HALLMARK_STORE_IN_BACKGROUND = env_bool("HALLMARK_STORE_IN_BACKGROUND", True)
HALLMARK_MAX_ATTEMPTS = int(os.environ.get("HALLMARK_MAX_ATTEMPTS", "3"))
# Jobs one user may have queued or running at once; more is refused with 429 (0: no cap).
HALLMARK_MAX_QUEUED_PER_USER = int(os.environ.get("HALLMARK_MAX_QUEUED_PER_USER", "20"))
HALLMARK_MAX_PROMPT_LENGTH = int(os.environ.get("HALLMARK_MAX_PROMPT_LENGTH", "4000"))

# --- Hallmark: scheduled maintenance (Celery beat) ----------------------------------------------
# `celery -A hallmark beat` sends these; a worker serving the `maintenance` queue runs them
# (`manage.py runworker --maintenance`; scripts/start.sh runs both). Each message expires when
# the next one is due, so a beat running while no worker serves the queue piles nothing up.
HALLMARK_MAINTENANCE_QUEUE = "maintenance"
# Assets whose files are re-hashed and whose manifests are re-validated each night.
HALLMARK_VERIFY_SAMPLE_SIZE = max(0, int(os.environ.get("HALLMARK_VERIFY_SAMPLE_SIZE", "200")))
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ROUTES = {"hallmark.maintenance.*": {"queue": HALLMARK_MAINTENANCE_QUEUE}}
_SWEEP_SECONDS = max(60.0, HALLMARK_RECOVERY_INTERVAL)
CELERY_BEAT_SCHEDULE = beat_schedule(_SWEEP_SECONDS)

# --- Hallmark: watching it run (/healthz, /readyz, /metrics) ------------------------------------
# /metrics answers only a request that carries this bearer token (when set) and comes from one
# of these networks (when set); with neither set it is off (404). The network is checked on the
# connecting address, never X-Forwarded-For (whatever HALLMARK_NUM_PROXIES says); set a token too.
HALLMARK_METRICS_TOKEN = optional_secret("HALLMARK_METRICS_TOKEN", min_length=24)
HALLMARK_METRICS_ALLOWED_NETWORKS = network_list("HALLMARK_METRICS_ALLOWED_NETWORKS")
# What /readyz checks, and how long each check may take before it counts as failed.
HALLMARK_READY_CHECKS = env_choices(
    "HALLMARK_READY_CHECKS", "database,broker,signer,storage", ("database", "broker", "signer", "storage")
)
# Bounded: it is also the broker socket timeout of /metrics, and a thread wait overflows.
HALLMARK_READY_TIMEOUT = env_float_seconds("HALLMARK_READY_TIMEOUT", 2, minimum=0.1, maximum=30)

# --- Hallmark: plugins ------------------------------------------------------------------------
# Warm plugin cache on each worker: total memory the loaded models may take.
HALLMARK_PLUGIN_MEMORY_BUDGET_MB = int(os.environ.get("HALLMARK_PLUGIN_MEMORY_BUDGET_MB", "16384"))
# Local model weights: when set, every plugin's weights_path must resolve (symlinks followed)
# inside this folder; empty allows any path the worker can read (docs/models.md).
HALLMARK_WEIGHTS_ROOT = os.environ.get("HALLMARK_WEIGHTS_ROOT", "").strip()
# Secrets of plugins are named by the operator, not by a database row: the environment
# variables a plugin's `env` setting may name (comma-separated names or fnmatch globs).
# DJANGO_*, DATABASE_URL, CELERY_*, HALLMARK_* and AWS_* are refused whatever this says.
HALLMARK_SECRET_ENV_ALLOWLIST = env_list("HALLMARK_SECRET_ENV_ALLOWLIST", "IDEOGRAM_*")
# Where the Ideogram plugins may send the API key: `host`, `host:port`, or `http://host:port`
# to allow plain http (https and port 443 otherwise). Add a proxy or regional endpoint here.
HALLMARK_IDEOGRAM_ALLOWED_HOSTS = env_list("HALLMARK_IDEOGRAM_ALLOWED_HOSTS", "api.ideogram.ai")
# Hosts the Ideogram plugins may download images from (same form; `*.` globs allowed).
HALLMARK_IDEOGRAM_IMAGE_HOSTS = env_list("HALLMARK_IDEOGRAM_IMAGE_HOSTS", "ideogram.ai,*.ideogram.ai")
# Allow image downloads from private, loopback and link-local addresses (a local test double).
HALLMARK_IDEOGRAM_ALLOW_PRIVATE_ADDRESSES = env_bool("HALLMARK_IDEOGRAM_ALLOW_PRIVATE_ADDRESSES", False)

# --- Hallmark: stored files and provenance ----------------------------------------------------
# PNG compression level for stored images: 1 is the cheap end (see docs/benchmarks.md).
HALLMARK_PNG_COMPRESS_LEVEL = int(os.environ.get("HALLMARK_PNG_COMPRESS_LEVEL", "1"))
# Write prompts into the file's `parameters` chunk; off for confidential work.
HALLMARK_EMBED_PROMPTS = env_bool("HALLMARK_EMBED_PROMPTS", True)
# Soft binding (docs/provenance.md): which stored images get an invisible watermark. `auto`:
# those of AI models unless the plugin declines (its licence or terms); `all`: the procedural
# demo too (still never a plugin that declines); `off`: none. Fingerprints are always recorded.
HALLMARK_WATERMARK = env_choice("HALLMARK_WATERMARK", "auto", ("auto", "all", "off"))
# The largest Hamming distance (of 256 bits) at which a fingerprint lookup names an asset; the
# default is the one measured by bench/bench_soft_binding.py (docs/benchmarks.md).
HALLMARK_FINGERPRINT_MAX_DISTANCE = env_int("HALLMARK_FINGERPRINT_MAX_DISTANCE", 31, minimum=0, maximum=64)
# With prompts withheld, manifests and audit events carry an HMAC of the prompt under this
# organisation key instead of its plain sha256 (which would confirm a guessed prompt). Set the
# same value on every worker; by default a random key kept in var/prompt_hmac_key (mode 600).
HALLMARK_PROMPT_HMAC_KEY = _prompt_hmac_key()
# C2PA content credentials: the signer's certificate chain (signer first, then its CA), its
# private key, and the roots a manifest must chain to for "Trusted". `manage.py provenance_init`
# makes a development set here; production points these at a real certificate (docs/provenance.md).
# With HALLMARK_C2PA_REQUIRED, a job fails rather than store an image without credentials.
HALLMARK_C2PA_CERT_CHAIN = env_path("HALLMARK_C2PA_CERT_CHAIN", VAR_DIR / "provenance" / "signer-chain.pem")
HALLMARK_C2PA_PRIVATE_KEY = env_path("HALLMARK_C2PA_PRIVATE_KEY", VAR_DIR / "provenance" / "signer-key.pem")
HALLMARK_C2PA_TRUST_ANCHORS = env_path("HALLMARK_C2PA_TRUST_ANCHORS", VAR_DIR / "provenance" / "trust-anchors.pem")
HALLMARK_C2PA_REQUIRED = env_bool("HALLMARK_C2PA_REQUIRED", True)
# PEM file of Hallmark signer certificates used before a rotation: their manifests still count
# as Hallmark's (see docs/provenance.md). Unset: only the current signer's.
HALLMARK_C2PA_PREVIOUS_CERTS = os.environ.get("HALLMARK_C2PA_PREVIOUS_CERTS") or None

# --- Hallmark: audit and retention ------------------------------------------------------------
# Audit checkpoints: an Ed25519 key kept outside the database signs the chain head, so a
# rewritten or truncated tail is caught even by someone who can also rewrite the head row.
HALLMARK_AUDIT_SIGNING_KEY = env_path("HALLMARK_AUDIT_SIGNING_KEY", VAR_DIR / "audit" / "checkpoint_ed25519.pem")
HALLMARK_AUDIT_CHECKPOINT_DIR = env_path("HALLMARK_AUDIT_CHECKPOINT_DIR", VAR_DIR / "audit" / "checkpoints")
# Soft-deleted assets are purged (file and row; an audit tombstone stays) after this many days.
HALLMARK_RETENTION_DAYS = int(os.environ.get("HALLMARK_RETENTION_DAYS", "30"))

# --- Logging ----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("HALLMARK_LOG_LEVEL", "INFO")},
    # django-axes logs every login at INFO; its warnings (failures, lockouts) are kept.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
