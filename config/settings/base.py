"""Settings shared by every configuration; values come from the environment (django-environ)."""
import os
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
_preset_names = set(os.environ)
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
# `NAME=` left empty in .env (as .env.example lists them) means "not set": the default applies.
for _name in set(os.environ) - _preset_names:
    if not os.environ[_name].strip():
        del os.environ[_name]

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "core.views.csrf_failure"  # JSON {"detail","code"} under /api/, Django's page elsewhere
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True
CORS_EXPOSE_HEADERS = ["X-Request-ID"]
PARLEY_VERSION = "1.0.0"

INSTALLED_APPS = [
    # First, as Channels documents: `manage.py runserver` then serves ASGI (WebSockets) with autoreload.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "channels",
    "core",
    "accounts",
    "providers",
    "chats",
    "merging",
    "openai_api",
    "usage",
    "uploads",
    "tools",
    "web",
]

MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",
    "core.middleware.ApiTrailingSlashMiddleware",
    # Django's (and django-csp's) own middlewares, run on the event loop instead of a thread hop per step
    # (core.inline_middleware); security, csrf and clickjacking keep Django's paths, which `check --deploy` looks for.
    "django.middleware.security.SecurityMiddleware",
    # Before the static files, so that every response carries the one policy below.
    "core.inline_middleware.CSPMiddleware",
    "core.static_files.StaticFilesMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "core.inline_middleware.SessionMiddleware",
    "core.inline_middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "core.inline_middleware.AuthenticationMiddleware",
    "core.inline_middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.ApiDebugErrorsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

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
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL names PostgreSQL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'parley.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis (optional): channel layer, Celery broker and cache.
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="") or REDIS_URL

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: with no broker, tasks run in-process on a background thread (core.dispatch).
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
# A task whose worker died unacknowledged is redelivered after this many seconds (longer than any task runs).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=20 * 60)}
CELERY_TIMEZONE = "UTC"
# Workers log through LOGGING below (request ids, secret redaction) instead of Celery's own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Beat (`make worker`) keeps its schedule state under var/, not in the working directory.
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "refresh-model-catalog": {
        "task": "providers.tasks.refresh_catalog",
        "schedule": float(env.int("MODEL_CATALOG_TTL", default=3600)),
    },
    "expire-uploads": {
        "task": "uploads.tasks.expire_uploads",
        "schedule": float(env.int("PARLEY_UPLOAD_SWEEP_SECONDS", default=3600)),
    },
    # Merges with no live delivery (dead worker, refused by a broker that was down) are queued again.
    "sweep-merges": {
        "task": "merging.tasks.sweep_merges",
        "schedule": max(1.0, env.int("PARLEY_MERGE_STALE_SECONDS", default=60) / 4),
    },
    # tools: every enabled MCP server's status and tool list checked again.
    "refresh-mcp-servers": {
        "task": "tools.tasks.refresh_mcp_servers",
        "schedule": float(env.int("PARLEY_MCP_REFRESH_SECONDS", default=900)),
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
# Uploaded attachments: any Django storage backend (e.g. django-storages' S3 backend, configured by its own
# settings); the file-system default keeps them under PARLEY_UPLOAD_ROOT.
PARLEY_UPLOAD_STORAGE = env("PARLEY_UPLOAD_STORAGE", default="django.core.files.storage.FileSystemStorage")
PARLEY_UPLOAD_ROOT = env.path("PARLEY_UPLOAD_ROOT", default=str(VAR_DIR / "uploads"))


def upload_storage_config(root) -> dict:
    options = {"location": str(root)} if PARLEY_UPLOAD_STORAGE.endswith(".FileSystemStorage") else {}
    return {"BACKEND": PARLEY_UPLOAD_STORAGE, "OPTIONS": options}


# tools (SPEC §7): one MCP tool call's deadline, and the most of its result a model is sent.
PARLEY_TOOL_TIMEOUT = env.float("PARLEY_TOOL_TIMEOUT", default=60.0)
PARLEY_TOOL_RESULT_MAX_CHARS = env.int("PARLEY_TOOL_RESULT_MAX_CHARS", default=20_000)
# stdio MCP servers run a command on this machine: only admins add them, and only when this is on (default off).
PARLEY_MCP_ALLOW_STDIO = env.bool("PARLEY_MCP_ALLOW_STDIO", default=False)
# The tool loop: how many rounds of tool calls one reply may make, and how long an `ask` call waits for the user.
PARLEY_TOOL_MAX_ROUNDS = env.int("PARLEY_TOOL_MAX_ROUNDS", default=8)
PARLEY_TOOL_APPROVAL_TIMEOUT = env.float("PARLEY_TOOL_APPROVAL_TIMEOUT", default=300.0)

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    "uploads": upload_storage_config(PARLEY_UPLOAD_ROOT),
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "accounts.authentication.SameOriginSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["core.json_limits.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "core.exceptions.api_exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.negotiation.JsonFallbackContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Rates come from the PARLEY_* settings below, read per request (core.throttling).
    "DEFAULT_THROTTLE_CLASSES": ["core.throttling.UserRateThrottle", "core.throttling.AnonRateThrottle"],
    # X-Forwarded-For is believed only from this many proxies in front of Parley (0: the socket's address).
    "NUM_PROXIES": env.int("PARLEY_NUM_PROXIES", default=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Parley API",
    "DESCRIPTION": "Self-hosted multi-user chat over every major LLM provider.",
    "VERSION": PARLEY_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc assets are served from our own static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `status`; name each choice set so the schema stays stable and warning-free.
    "ENUM_NAME_OVERRIDES": {
        "MessageStatusEnum": "chats.models.MessageStatus",
        "GenerationStatusEnum": "chats.models.GenerationStatus",
        "MergeStatusEnum": "merging.models.MergeStatus",
        "UploadKindEnum": "uploads.models.UploadKind",
        "MergeKindEnum": "merging.models.MergeKind",
        "McpTransportEnum": "tools.models.Transport",
        "McpServerStatusEnum": "tools.models.ServerStatus",
        "HealthStatusEnum": ["ok", "degraded"],
        "ReasoningEffortEnum": ["low", "medium", "high"],
    },
}

# One Content-Security-Policy for every response (pages, admin, API docs, JSON, errors): script only from our
# own origin, never inline. Images only from our origin: a model's markdown cannot make the browser fetch
# another host (a tracking pixel carrying conversation text). The chat pages show such an image only when the
# user clicks "Show image", in a sandboxed frame that the page script creates, hence frame-src.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # Inline style attributes (layout tweaks, highlight.js, Swagger UI, ReDoc) are harmless; inline script
        # is not.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        # 'self' covers ws:// and wss:// of our own host (CSP Level 3).
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],  # ReDoc parses the schema in a worker
        "frame-src": ["https:", "http:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Parley
PARLEY_ENCRYPTION_KEYS = env.list("PARLEY_ENCRYPTION_KEYS", default=[])
PARLEY_DEFAULT_MODEL = env("PARLEY_DEFAULT_MODEL", default="openrouter/openai/gpt-4o-mini")
PARLEY_COMPARE_MODELS = env.list("PARLEY_COMPARE_MODELS", default=[])
PARLEY_COMPARE_MAX_MODELS = env.int("PARLEY_COMPARE_MAX_MODELS", default=8)
# Merges: an identical request within this many seconds returns the same job; context assumed for models the
# catalog does not know (tokens); merge model output is persisted and broadcast in slices of this many seconds.
PARLEY_MERGE_DEDUP_SECONDS = env.int("PARLEY_MERGE_DEDUP_SECONDS", default=30)
PARLEY_MERGE_MAX_SOURCES = env.int("PARLEY_MERGE_MAX_SOURCES", default=10)
PARLEY_MERGE_DEFAULT_CONTEXT = env.int("PARLEY_MERGE_DEFAULT_CONTEXT", default=32_768)
PARLEY_MERGE_SLICE_SECONDS = env.float("PARLEY_MERGE_SLICE_SECONDS", default=0.1)
# A running merge whose delivery sent no heartbeat for this many seconds (its worker died) is run again; a queued one
# the broker refused is queued again at the next sweep (four per period), one it lost after ten periods.
PARLEY_MERGE_STALE_SECONDS = env.int("PARLEY_MERGE_STALE_SECONDS", default=60)
MODEL_CATALOG_TTL = env.int("MODEL_CATALOG_TTL", default=3600)
# Usage and budgets (SPEC §10): the default monthly budget in USD (empty: none); where the price table is
# refreshed from with the catalog (empty: the table pinned with genai-prices); the completion an estimate assumes
# when neither the request nor the price table gives the model's maximum.
PARLEY_DEFAULT_MONTHLY_BUDGET = env("PARLEY_DEFAULT_MONTHLY_BUDGET", default="").strip() or None
if PARLEY_DEFAULT_MONTHLY_BUDGET is not None:
    try:
        PARLEY_DEFAULT_MONTHLY_BUDGET = Decimal(PARLEY_DEFAULT_MONTHLY_BUDGET)
    except ArithmeticError:
        PARLEY_DEFAULT_MONTHLY_BUDGET = Decimal("NaN")
    if not PARLEY_DEFAULT_MONTHLY_BUDGET.is_finite() or PARLEY_DEFAULT_MONTHLY_BUDGET < 0:
        raise ImproperlyConfigured("PARLEY_DEFAULT_MONTHLY_BUDGET must be an amount in USD, e.g. 20 or 7.50.")
PARLEY_PRICE_TABLE_URL = env("PARLEY_PRICE_TABLE_URL", default="")
PARLEY_ESTIMATE_MAX_COMPLETION_TOKENS = env.int("PARLEY_ESTIMATE_MAX_COMPLETION_TOKENS", default=4096)
# Provider HTTP: seconds to connect, to the response headers, and of silence mid-stream; retries happen only
# before the first token, for 408/429/5xx/overloaded, waiting Retry-After (or backoff) up to the cap in total.
PARLEY_PROVIDER_CONNECT_TIMEOUT = env.float("PARLEY_PROVIDER_CONNECT_TIMEOUT", default=10.0)
PARLEY_PROVIDER_FIRST_BYTE_TIMEOUT = env.float("PARLEY_PROVIDER_FIRST_BYTE_TIMEOUT", default=120.0)
PARLEY_PROVIDER_IDLE_TIMEOUT = env.float("PARLEY_PROVIDER_IDLE_TIMEOUT", default=300.0)
PARLEY_PROVIDER_MAX_RETRIES = env.int("PARLEY_PROVIDER_MAX_RETRIES", default=3)
PARLEY_PROVIDER_RETRY_BACKOFF = env.float("PARLEY_PROVIDER_RETRY_BACKOFF", default=0.5)
PARLEY_PROVIDER_RETRY_WAIT_CAP = env.float("PARLEY_PROVIDER_RETRY_WAIT_CAP", default=4.0)
# Every streaming reply holds one upstream connection: the pool must fit the concurrent replies of a process.
PARLEY_PROVIDER_MAX_CONNECTIONS = env.int("PARLEY_PROVIDER_MAX_CONNECTIONS", default=1000)
APP_URL = env("APP_URL", default="http://127.0.0.1:8000")
APP_TITLE = env("APP_TITLE", default="Parley")
# Attachments (SPEC §6): bytes per file, pixels per image, hours an upload no message uses is kept.
PARLEY_UPLOAD_MAX_BYTES = env.int("PARLEY_UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
PARLEY_UPLOAD_MAX_PIXELS = env.int("PARLEY_UPLOAD_MAX_PIXELS", default=40_000_000)
PARLEY_UPLOAD_UNATTACHED_HOURS = env.float("PARLEY_UPLOAD_UNATTACHED_HOURS", default=24)
# How often the retention sweep runs: beat's schedule, or (no broker) at most this often after an upload.
PARLEY_UPLOAD_SWEEP_SECONDS = env.int("PARLEY_UPLOAD_SWEEP_SECONDS", default=3600)
# Speech-to-text: short-lived Deepgram tokens for the browser; the key never leaves the server.
DEEPGRAM_API_KEY = env("DEEPGRAM_API_KEY", default="")
DEEPGRAM_BASE_URL = env("DEEPGRAM_BASE_URL", default="https://api.deepgram.com")
PARLEY_STT_TOKEN_TTL = env.int("PARLEY_STT_TOKEN_TTL", default=30)
PARLEY_STT_TOKENS_PER_MINUTE = env.int("PARLEY_STT_TOKENS_PER_MINUTE", default=10)
PARLEY_MAX_TITLE_LENGTH = env.int("PARLEY_MAX_TITLE_LENGTH", default=200)
PARLEY_MAX_SYSTEM_PROMPT_CHARS = env.int("PARLEY_MAX_SYSTEM_PROMPT_CHARS", default=20_000)
PARLEY_MAX_MESSAGE_CHARS = env.int("PARLEY_MAX_MESSAGE_CHARS", default=100_000)
# Throttling (over the cache): API requests per user and per anonymous address, lower scoped limits, and failed
# sign-ins per account and per address within the window (after that even the right password waits).
PARLEY_API_RATE_USER = env("PARLEY_API_RATE_USER", default="600/min")
PARLEY_API_RATE_ANON = env("PARLEY_API_RATE_ANON", default="60/min")
PARLEY_CATALOG_REFRESH_RATE = env("PARLEY_CATALOG_REFRESH_RATE", default="6/min")
PARLEY_KEY_VALIDATION_RATE = env("PARLEY_KEY_VALIDATION_RATE", default="10/min")
PARLEY_LOGIN_ATTEMPTS = env.int("PARLEY_LOGIN_ATTEMPTS", default=10)
PARLEY_LOGIN_WINDOW_SECONDS = env.int("PARLEY_LOGIN_WINDOW_SECONDS", default=15 * 60)
PARLEY_THROTTLE_PREFIX = "throttle"
# Sign-up: open (anyone), approval (an admin approves each new account), closed (only admins add people).
PARLEY_SIGNUP = env("PARLEY_SIGNUP", default="open").strip().lower()
if PARLEY_SIGNUP not in ("open", "approval", "closed"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"PARLEY_SIGNUP is open, approval or closed, not {PARLEY_SIGNUP!r}.")
# Every JSON body and WebSocket frame: larger is 413 too_large (refused before it is read; multipart exempt).
PARLEY_MAX_JSON_BYTES = env.int("PARLEY_MAX_JSON_BYTES", default=1_048_576)

# Provider keys and base URLs from the environment; the registry reads these lazily.
def _provider_env(slug: str, *, key_vars: tuple[str, ...]) -> dict:
    api_key = next((env(name, default="") for name in key_vars if env(name, default="")), "")
    return {"api_key": api_key, "base_url": env(f"{slug.upper()}_BASE_URL", default="")}


# The provider registry is the one list of slugs (and of their key variables).
from providers.registry import provider_env_variables  # noqa: E402

PARLEY_PROVIDER_ENV = {
    slug: _provider_env(slug, key_vars=key_vars) for slug, key_vars in provider_env_variables().items()
}

# A value pasted wrong (two variables on one line, stray spaces) would misconfigure silently: refuse to start.
from core.environment import refuse_invalid_encryption_keys, refuse_malformed_values  # noqa: E402

refuse_malformed_values(os.environ, [
    "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "APP_URL", "PARLEY_DEFAULT_MODEL",
    "PARLEY_COMPARE_MODELS", "PARLEY_ENCRYPTION_KEYS", "DEEPGRAM_API_KEY", "GOOGLE_API_KEY",
    *(f"{slug.upper()}_{suffix}" for slug in PARLEY_PROVIDER_ENV for suffix in ("API_KEY", "BASE_URL")),
])
refuse_invalid_encryption_keys(PARLEY_ENCRYPTION_KEYS)

# Error reports hide Authorization headers and provider keys as well as Django's own secrets.
DEFAULT_EXCEPTION_REPORTER_FILTER = "core.logging.SecretSafeExceptionReporterFilter"

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "core.logging.RequestIdFilter"},
        "redact_secrets": {"()": "core.logging.SecretRedactionFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id", "redact_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # uvicorn installs handlers of its own before Django starts; route its error and access logs through
        # ours so tracebacks and request lines are redacted too (Celery's already reach root).
        "uvicorn": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "uvicorn.access": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}
