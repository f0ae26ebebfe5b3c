"""One env-driven settings module. See README.md for the configuration table."""

import json
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from chatbackend.env import env, env_bool, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent

# "production" turns every safety default on and makes missing secrets an error.
ENVIRONMENT = env("DJANGO_ENV", "development")
IS_PRODUCTION = ENVIRONMENT == "production"
DEBUG = env_bool("DEBUG", False)


def _secret(name: str, dev_default: str) -> str:
    value = env(name)
    if value:
        return value
    if IS_PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set in production")
    return dev_default


# Development defaults are deliberately marked insecure; production refuses to start without
# real values. JWT_SECRET is separate from SECRET_KEY so each can be rotated on its own.
SECRET_KEY = _secret("SECRET_KEY", "django-insecure-dev-only-secret-key-change-me-0123456789")
JWT_SECRET = _secret("JWT_SECRET", "insecure-dev-only-jwt-secret-change-me-0123456789abcdef")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if IS_PRODUCTION else "*")
PORT = env_int("PORT", 3006)

INSTALLED_APPS = [
    "daphne",
    "chatbackend.admin_site.ChatAdminConfig",  # django.contrib.admin, login rate-limited
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "channels",
    "sessions_app",
    "messaging_app",
    "agents_app",
]

# BodySizeLimitMiddleware is sync-only and comes last on purpose: below it Django runs the
# view, above it every middleware in sync mode, so a request crosses from the event loop to a
# thread once. Higher up, each of Django's own middlewares below it ran in async mode, which
# hops to a thread and back around its process_request and process_response: ~2 ms of CPU per
# request (docs/benchmarks.md). Last is still before any view or parser reads the body.
MIDDLEWARE = [
    "chatbackend.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "chatbackend.middleware.BodySizeLimitMiddleware",
]

ROOT_URLCONF = "chatbackend.urls"
ASGI_APPLICATION = "chatbackend.asgi.application"
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


# --- Database -----------------------------------------------------------------------------
# DATABASE_URL wins; otherwise the seed's DB_* variables; with neither, embedded SQLite so a
# first `make run` works on any machine.
def _database() -> dict:
    url = env("DATABASE_URL")
    if not url and env("DB_HOST"):
        user = env("DB_USER", "postgres")
        password = env("DB_PASSWORD", "") or ""
        auth = f"{user}:{password}" if password else user
        url = (
            f"postgres://{auth}@{env('DB_HOST')}:{env('DB_PORT', '5432')}/"
            f"{env('DB_NAME', 'poc_banking')}"
        )
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}

    config = dj_database_url.parse(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        return config
    options = config.setdefault("OPTIONS", {})
    if env_bool("DB_SSL", False):
        options["sslmode"] = "require"
    options["connect_timeout"] = max(1, env_int("DB_CONNECTION_TIMEOUT", 5000) // 1000)
    if env_bool("DB_POOL", True):
        # Django's psycopg pool; persistent connections (CONN_MAX_AGE) must be 0 with it.
        options["pool"] = {
            "min_size": env_int("DB_POOL_MIN", 2),
            "max_size": env_int("DB_POOL_MAX", 10),
            "timeout": env_int("DB_POOL_TIMEOUT", 10),
            "max_idle": env_int("DB_IDLE_TIMEOUT", 30000) / 1000,
        }
        config["CONN_MAX_AGE"] = 0
    # Broken pooled connections are replaced after an outage instead of failing requests.
    config["CONN_HEALTH_CHECKS"] = True
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and cache -------------------------------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chatbackend.channel_layer.ResilientRedisChannelLayer",
            "CONFIG": {
                # channels-redis waits for events in 5 s BZPOPMINs, and redis-py 8 gives up on a
                # socket read after 5 s by default: every idle wait failed, and looked like an
                # outage (logged, and fan-out paused for a back-off). Reads must outlast the wait.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "prefix": env("CHANNEL_LAYER_PREFIX", "chatbackend"),
                "capacity": 1000,
                "expiry": 60,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", "chatbackend"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Chat behaviour -------------------------------------------------------------------------
CHAT_SESSION_TTL = timedelta(minutes=env_int("SESSION_TTL_MINUTES", 30))
# How often each server process marks sessions idle past the TTL as expired (sessions_app/
# expiry.py); 0 turns it off, for deployments that run `manage.py expire_sessions` from cron.
SESSION_SWEEP_SECONDS = env_int("SESSION_SWEEP_SECONDS", 30)
CHAT_MESSAGE_MAX_LENGTH = 2000
# A send with no session id but a clientMessageId is a retry of the send that opened a session
# only within this window (a client resending a lost answer does so within minutes); later, the
# same id opens a new conversation (docs/decisions.md).
CHAT_FIRST_MESSAGE_REPLAY_SECONDS = 600
CHAT_HISTORY_MAX_LIMIT = 500
CHAT_SESSION_LIST_MAX_LIMIT = 100

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SIMPLE_JWT = {
    # Its own key, not SECRET_KEY: rotating one must not invalidate the other.
    "SIGNING_KEY": JWT_SECRET,
    "ALGORITHM": "HS256",
    "ISSUER": env("JWT_ISSUER", "chat-backend"),
    "AUDIENCE": env("JWT_AUDIENCE", "chat-clients"),
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_TTL_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_TTL_DAYS", 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "LEEWAY": 5,
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "chatbackend.auth.AccessTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["chatbackend.parsers.SafeJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "chatbackend.schema.ChatAutoSchema",
    "EXCEPTION_HANDLER": "chatbackend.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

# --- I18N / static --------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# WhiteNoise serves static files from the ASGI app itself (the servers do not); straight from
# the app and static/ folders, so there is no collectstatic step to forget.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns (an error under pytest) when it is missing

# --- Security -------------------------------------------------------------------------------
# Everything from our own origin, nothing inline: the chat page keeps its script in a static
# file; the API docs views relax style-src for their bundled UIs (chatbackend/urls.py).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if IS_PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # Health probes come from load balancers over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^health"]

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = (env("LOG_LEVEL", "INFO") or "INFO").upper()
LOG_DIR = Path(env("LOG_DIR", str(BASE_DIR / "logs")) or BASE_DIR / "logs")
LOG_DIR.mkdir(parents=True, exist_ok=True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "chatbackend.logging.RequestIdFilter"},
        "redact": {"()": "chatbackend.logging.RedactSecretsFilter"},
    },
    "formatters": {
        "line": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "line",
            "filters": ["request_id", "redact"],
        },
        "file": {
            "class": "logging.handlers.RotatingFileHandler",
            "filename": LOG_DIR / "chat-backend.log",
            "maxBytes": 10 * 1024 * 1024,
            "backupCount": 5,
            "formatter": "line",
            "filters": ["request_id", "redact"],
            "delay": True,
        },
        "error_file": {
            "class": "logging.handlers.RotatingFileHandler",
            "filename": LOG_DIR / "chat-backend-error.log",
            "maxBytes": 10 * 1024 * 1024,
            "backupCount": 5,
            "formatter": "line",
            "filters": ["request_id", "redact"],
            "level": "ERROR",
            "delay": True,
        },
    },
    "root": {"handlers": ["console", "file", "error_file"], "level": LOG_LEVEL},
    "loggers": {
        # Our request line replaces Django's own 4xx/5xx "django.request" warnings, which
        # would otherwise repeat every failed request (and its path) a second time.
        "django.request": {"level": "ERROR"},
        "daphne": {"level": "WARNING"},
        # uvicorn configures its own handlers before the app loads, and its "uvicorn.error"
        # logger prints every WebSocket handshake with its query string (?token=...). Taking
        # its loggers over puts those lines through our handlers and their redaction. Its
        # access lines stay off whatever the command line says: our request line
        # (chatbackend.middleware) logs every request already, without the query string.
        "uvicorn": {"handlers": ["console", "file", "error_file"], "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}

# --- Browser origins (WebSocket handshakes; CORS) -----------------------------------------
# Development allows the local chat page; production lists its frontends explicitly.
ALLOWED_ORIGINS = env_list(
    "ALLOWED_ORIGINS",
    "" if IS_PRODUCTION else f"http://localhost:{PORT},http://127.0.0.1:{PORT}",
)
WS_AUTH_TIMEOUT_SECONDS = float(env("WS_AUTH_TIMEOUT_SECONDS", "5") or 5)
WS_MAX_FRAME_BYTES = env_int("WS_MAX_FRAME_BYTES", 16 * 1024)
WS_TYPING_TIMEOUT_SECONDS = 10

# --- OpenAPI (drf-spectacular) --------------------------------------------------------------
SPECTACULAR_SETTINGS = {
    "TITLE": "Chat backend for banking assistants",
    "DESCRIPTION": (
        "REST half of the chat API (see docs/api.md; the WebSocket protocol is in "
        "docs/websocket.md). Errors always have the body "
        '{"error": {"code", "message", "details"}}.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/(api|auth)",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Served from our own static files (drf-spectacular-sidecar), not a CDN: CSP allows 'self'.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Agents -----------------------------------------------------------------------------------
# Further MCP servers the MCP agent may call, as JSON:
#   MCP_SERVERS='[{"name": "fx", "url": "https://fx.internal/mcp", "headers": {"X-Key": "..."}}]'
try:
    MCP_SERVERS = json.loads(env("MCP_SERVERS", "[]") or "[]")
except ValueError as exc:
    raise ImproperlyConfigured("MCP_SERVERS must be a JSON list") from exc
NLU_MODEL_PATH = Path(env("NLU_MODEL_PATH", str(BASE_DIR / "var" / "nlu-model.skops")))

# --- Limits -----------------------------------------------------------------------------------
CHAT_MESSAGE_RATE = env("CHAT_MESSAGE_RATE", "60/m")  # "" lifts it (only the benchmark does)
# Failed logins only (docs/security.md). Per client address and username; LOGIN_RATE_PER_USER
# is its name from when it counted every attempt per username, still read.
LOGIN_RATE_PER_IP_USER = env("LOGIN_RATE_PER_IP_USER", env("LOGIN_RATE_PER_USER", "10/m"))
LOGIN_RATE_PER_IP = env("LOGIN_RATE_PER_IP", "30/m")
# Per username from all addresses together, against distributed guessing: "" lifts it.
LOGIN_RATE_PER_USER_ALL_ADDRESSES = env("LOGIN_RATE_PER_USER_ALL_ADDRESSES", "100/m")
# Addresses of our own reverse proxies; only they may set X-Forwarded-For.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "")
RATELIMIT_USE_CACHE = "default"
RATELIMIT_IP_META_KEY = "chatbackend.net.client_ip"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BYTES", 64 * 1024)

CORS_ALLOWED_ORIGINS = ALLOWED_ORIGINS
CORS_URLS_REGEX = r"^/(api|auth)(/.*)?$"
CORS_ALLOW_HEADERS = ("authorization", "content-type", "x-session-id", "x-request-id")
CORS_EXPOSE_HEADERS = ("retry-after", "x-request-id")
