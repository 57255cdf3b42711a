"""Settings of the provisioning portal.

Everything that differs between a laptop and production comes from the environment (or an
optional ``.env`` file beside ``manage.py``); ``.env.example`` documents every variable.
The defaults need no server at all: SQLite and an embedded, file-based Celery broker.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "provisioning.apps.PortalAdminConfig",  # django.contrib.admin, with the overview as its home
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    # before DRF's authtoken: its drf_create_token command is provisioning's (the key is kept as
    # a digest, provisioning/api/tokens.py)
    "provisioning",
    "rest_framework.authtoken",
    "django_filters",
    "django_countries",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "import_export",
    "portal.library_apps.SignInsConfig",  # axes
    "django_otp",
    "portal.library_apps.AuthenticatorAppsConfig",  # django_otp.plugins.otp_totp
    "portal.library_apps.RecoveryCodesConfig",  # django_otp.plugins.otp_static
]

# django-import-export (members in, members/accounts/operations out): CSV and XLSX; exporting needs
# the view permission (importing members: add and change, see MemberAdmin); an import is previewed
# in a transaction that is rolled back, and saved only once confirmed
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "provisioning.api.middleware.json_not_found",  # after CommonMiddleware: its slash redirect still works
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): the second factor
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # last, as django-axes asks: turns a locked-out sign-in into the lockout page
    "axes.middleware.AxesMiddleware",
]

# axes first: it refuses a locked-out user name or address before any password is checked
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "django.template.context_processors.csp",  # csp_nonce, for the few inline styles
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# Default: a SQLite file in WAL mode with a busy timeout, so web, worker and beat can share it.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# a connection is kept between requests and tasks (a worker thread opening one per task spends
# more on it than on the task's queries)
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["portal.formats"]  # a moment reads "2026-12-04 05:23:10 UTC" on every page

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security (production) ------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy on every answer (Django's own, django.middleware.csp): scripts and
# styles from this site only, never inline (the portal's are static files); the few inline
# <style> blocks of Django's and drf-spectacular's templates carry the request's nonce (project
# templates override them); images may be data: URIs (the 2FA enrolment QR code, Swagger UI)
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# --- Sign-in: lockout after repeated failures (django-axes; README, "Security") ----------------
# proxies in front of the web processes that append to X-Forwarded-For (0: none, REMOTE_ADDR)
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_ENABLED = True
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
# minutes a lock lasts after the last failure (failures older than that are forgotten too)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_TIME", default=15))
# counted per user name and, separately, per address: either reaching the limit locks
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "provisioning.security.client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = False  # a successful sign-in does not wipe the address's failures
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # every failure kept (AccessFailureLog, read-only in the admin)
AXES_VERBOSE = False

# --- Second factor (django-otp: TOTP and recovery codes; README, "Security") -------------------
# required for superusers and whoever may read secrets or manage connections; false: nobody is
# asked (local development only)
REQUIRE_SECOND_FACTOR = env.bool("REQUIRE_SECOND_FACTOR", default=True)
OTP_TOTP_ISSUER = "Provisioning portal"
# the admin's pages of a person's authenticator app and recovery codes never show their key, QR
# code or codes: an administrator who could read them could pass as that person
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# seconds a second factor counts as fresh for reading secrets; older: asked again
SECRETS_REAUTH_SECONDS = env.int("SECRETS_REAUTH_SECONDS", default=300)

# --- Sessions end after this long without a request ------------------------------------------
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_TIMEOUT_SECONDS", default=1800)
SESSION_SAVE_EVERY_REQUEST = True  # every request pushes the expiry back: an idle timeout

# --- Service endpoints: who may read /metrics and the detail of /readyz ------------------------
# a bearer token (Authorization: Bearer ...) and/or addresses or networks (comma-separated);
# with neither, only loopback callers are answered
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
# label series by connection id only (names can say more than a scraper needs to know)
METRICS_CONNECTION_NAMES = env.bool("METRICS_CONNECTION_NAMES", default=False)
# /api/schema/ and /api/docs/ without signing in (always so with DEBUG)
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=False)

# --- Encryption of secrets at rest ----------------------------------------------------------
# Comma-separated Fernet keys, newest first. The first encrypts; all decrypt (MultiFernet).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# --- Celery ---------------------------------------------------------------------------------
BROKER_DIR = Path(env("CELERY_BROKER_DIR", default=str(VAR_DIR / "broker")))
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": env.float("CELERY_POLLING_INTERVAL", default=0.2),
    }
else:
    # Keep countdowns far below the visibility timeout; long waits are scheduled from the DB.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup closes the database connection before and after every task unless this
# is set (each task then opened a new PostgreSQL backend: more CPU than all its queries); so
# large that it never does: portal.celery closes connections around tasks as Django does around
# requests, by CONN_MAX_AGE and health checks
CELERY_DB_REUSE_MAX = 2**62
CELERY_RESULT_BACKEND = None
# no results are kept, so none expire: beat's daily "celery.backend_cleanup" would do nothing
CELERY_RESULT_EXPIRES = None
CELERY_TASK_ACKS_LATE = False  # the database sweeper, not the broker, recovers lost work
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# each entry's "description" is what the admin's list of schedules says of it (the database
# scheduler writes an entry's fields on its row when beat starts)
CELERY_BEAT_SCHEDULE = {
    "sweep-operations": {
        "task": "provisioning.tasks.operations_sweep",
        "schedule": env.float("SWEEP_INTERVAL_SECONDS", default=15.0),
        "description": "Sends again the operations a lost message or a stopped worker left behind, and the "
                       "retries that are due. Paused, such operations wait.",
    },
    "health-check-connections": {
        "task": "provisioning.tasks.connections_health_check",
        "schedule": env.float("HEALTH_CHECK_INTERVAL_SECONDS", default=300.0),
        "description": "Checks that each enabled connection's provider answers and accepts its credentials; "
                       "the overview and the connections list show the result.",
    },
    "reconcile-connections": {
        "task": "provisioning.tasks.connections_reconcile",
        "schedule": env.float("RECONCILE_INTERVAL_SECONDS", default=3600.0),
        "description": "Compares each connection's accounts with the users its provider lists, and flags "
                       "for a person those that differ.",
    },
    # the grouped counts /metrics and the connections' account_counts read (services/counts.py)
    "refresh-counts": {
        "task": "provisioning.tasks.counts_refresh",
        "schedule": env.float("COUNTS_REFRESH_INTERVAL_SECONDS", default=20.0),
        "description": "Counts accounts and operations by state for the overview, the connections' "
                       "counts and /metrics. Paused, those counts grow old.",
    },
    "clean-up": {
        "task": "provisioning.tasks.records_clean_up",
        "schedule": env.float("CLEAN_UP_INTERVAL_SECONDS", default=3600.0),
        "description": "Deletes exchange records and webhooks older than their retention (CALL_RETENTION_DAYS, "
                       "WEBHOOK_RETENTION_DAYS) and expired idempotency records.",
    },
    # outbound webhooks whose delivery is due, or whose message or worker was lost (the outbox)
    "sweep-webhook-deliveries": {
        "task": "provisioning.tasks.webhook_deliveries_sweep",
        "schedule": env.float("WEBHOOK_SWEEP_INTERVAL_SECONDS", default=15.0),
        "description": "Sends the webhook deliveries that are due: retries, and those whose message or "
                       "worker was lost. Paused, webhooks wait.",
    },
    # accounts whose remote deletion is queued at the provider (SnapTrade's deleteUser): finished
    # when the provider no longer lists the user, for connections that get no webhooks
    "finish-pending-deletions": {
        "task": "provisioning.tasks.accounts_finish_pending_deletions",
        "schedule": env.float("PENDING_DELETION_CHECK_INTERVAL_SECONDS", default=300.0),
        "description": "Marks as deprovisioned the accounts whose deletion the provider had queued, once it "
                       "no longer lists them (SnapTrade, for connections that get no webhooks).",
    },
}

# --- Provisioning behaviour -----------------------------------------------------------------
BUILT_IN_PROVIDERS = [
    "provisioning.providers.snaptrade.SnapTradeProvider",
    "provisioning.providers.kandy.KandyProvider",
    "provisioning.providers.xhoppe.XhoppeProvider",
    "provisioning.providers.flyve.FlyveProvider",
    "provisioning.providers.scim.ScimProvider",
]
PROVISIONING = {
    # the provider plug-ins, by dotted path to their Provider class (add yours to the list)
    "PROVIDERS": env.list("PROVISIONING_PROVIDERS", default=BUILT_IN_PROVIDERS),
    # a crash-loop guard only: an operation whose worker died mid-run is given up after this many
    # attempts (transient errors are retried until the retry horizon, whatever the attempts)
    "MAX_ATTEMPTS": env.int("OPERATION_MAX_ATTEMPTS", default=100),
    # exponential backoff with full jitter: uniform(0, min(max, base * 2**(attempt-1)))
    "BACKOFF_BASE_SECONDS": env.float("OPERATION_BACKOFF_BASE_SECONDS", default=2.0),
    "BACKOFF_MAX_SECONDS": env.float("OPERATION_BACKOFF_MAX_SECONDS", default=600.0),
    # hours a transient error is retried, from an operation's first attempt (new connections'
    # Connection.retry_horizon_hours; each connection can change its own)
    "RETRY_HORIZON_HOURS": env.int("OPERATION_RETRY_HORIZON_HOURS", default=24),
    # the circuit breaker: this many transient failures in a row quarantine a connection
    "QUARANTINE_AFTER_FAILURES": env.int("QUARANTINE_AFTER_FAILURES", default=5),
    # one probe while quarantined, at growing intervals: min, doubled each time, up to max
    "QUARANTINE_PROBE_MIN_SECONDS": env.float("QUARANTINE_PROBE_MIN_SECONDS", default=10.0),
    "QUARANTINE_PROBE_MAX_SECONDS": env.float("QUARANTINE_PROBE_MAX_SECONDS", default=120.0),
    # held operations released at once when a quarantine ends (a capped connection: its cap)
    "QUARANTINE_RELEASE_AT_ONCE": env.int("QUARANTINE_RELEASE_AT_ONCE", default=4),
    # deprovisions (or accounts a reconciliation would flag) per connection and hour that need a
    # person's confirmation: more than max(MIN_ACCOUNTS, FRACTION * the connection's accounts)
    "MASS_DELETION_MIN_ACCOUNTS": env.int("MASS_DELETION_MIN_ACCOUNTS", default=20),
    "MASS_DELETION_FRACTION": env.float("MASS_DELETION_FRACTION", default=0.10),
    # how long a worker owns a running operation before the sweeper may take it back
    "LEASE_SECONDS": env.float("OPERATION_LEASE_SECONDS", default=120.0),
    # a queued operation not picked up after this long is dispatched again by the sweeper
    "REDISPATCH_AFTER_SECONDS": env.float("OPERATION_REDISPATCH_AFTER_SECONDS", default=30.0),
    # threads per worker process that make provider calls: the calls of one message (up to 8
    # operations) go out at the same time, whichever worker thread claimed them
    "CALL_THREADS": env.int("PROVIDER_CALL_THREADS", default=64),
    # the Redis that holds each capped connection's requests in flight across workers and machines
    # (``services.in_flight``): the broker's by default when it is Redis; empty, the claim holds a
    # cap by itself, counting the operations running
    "CONCURRENCY_REDIS_URL": env(
        "CONCURRENCY_REDIS_URL",
        default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "",
    ),
    # HTTP timeouts for provider calls
    "CONNECT_TIMEOUT_SECONDS": env.float("PROVIDER_CONNECT_TIMEOUT_SECONDS", default=5.0),
    "READ_TIMEOUT_SECONDS": env.float("PROVIDER_READ_TIMEOUT_SECONDS", default=30.0),
    # the window of a connection's requests_per_minute, in seconds (60: a minute; shorter only
    # to test the limit quickly)
    "RATE_LIMIT_WINDOW_SECONDS": env.float("CONNECTION_RATE_LIMIT_WINDOW_SECONDS", default=60.0),
    # the longest a provider's 429 (Retry-After, rate-limit reset headers) pauses a connection
    "MAX_PAUSE_SECONDS": env.float("PROVIDER_MAX_PAUSE_SECONDS", default=3600.0),
    # bodies kept in ExternalCall records are truncated to this many characters
    "RECORDED_BODY_CHARS": env.int("RECORDED_BODY_CHARS", default=4000),
    # a provider answer larger than this many bytes is not read further: it is a broken answer
    "MAX_RESPONSE_BYTES": env.int("PROVIDER_MAX_RESPONSE_BYTES", default=1_000_000),
    # how long ExternalCall rows and idempotency records are kept
    "CALL_RETENTION_DAYS": env.int("CALL_RETENTION_DAYS", default=90),
    # days outbound webhook events (with their deliveries) and the providers' webhooks are kept;
    # an event still to be sent to a disabled endpoint is kept until it is
    "WEBHOOK_RETENTION_DAYS": env.int("WEBHOOK_RETENTION_DAYS", default=90),
    # how old the counts of /metrics and of the connections' account_counts may be before a
    # request counts again itself (beat refreshes them every COUNTS_REFRESH_INTERVAL_SECONDS)
    "COUNTS_MAX_AGE_SECONDS": env.int("COUNTS_MAX_AGE_SECONDS", default=60),
    "IDEMPOTENCY_TTL_HOURS": env.int("IDEMPOTENCY_TTL_HOURS", default=24),
    # a name for this installation, part of every remote user id the portal derives
    "INSTALLATION_ID": env("INSTALLATION_ID", default=""),
    # where the bundled simulators listen (bootstrap configures sandbox connections there)
    "SANDBOX_URL": env("SANDBOX_URL", default="http://127.0.0.1:8001"),
    # the portal's public address, for absolute URLs built outside a request (a connection's
    # webhook_url in outbound webhook payloads)
    "PORTAL_URL": env("PORTAL_URL", default="http://127.0.0.1:8000"),
    # inbound provider webhooks: older than this (seconds) are refused; per-IP requests per minute
    "INBOUND_WEBHOOK_MAX_AGE_SECONDS": env.int("INBOUND_WEBHOOK_MAX_AGE_SECONDS", default=300),
    "INBOUND_WEBHOOK_RATE": env.int("INBOUND_WEBHOOK_RATE_PER_MINUTE", default=600),
    # outbound webhooks: seconds between the attempts of one delivery (then it is given up);
    # about three days in all by default
    "WEBHOOK_RETRY_SCHEDULE_SECONDS": [
        float(x)
        for x in env.list(
            "WEBHOOK_RETRY_SCHEDULE_SECONDS",
            default=["5", "300", "1800", "7200", "18000", "36000", "50400", "72000", "86400"],
        )
    ],
    # an endpoint failing for this long (seconds, from its first failure in a row) is disabled
    # and its owner told by email
    "WEBHOOK_DISABLE_AFTER_SECONDS": env.float("WEBHOOK_DISABLE_AFTER_SECONDS", default=3 * 86400.0),
    # how long a worker owns a delivery it is sending (the sweeper takes it back after that)
    "WEBHOOK_LEASE_SECONDS": env.float("WEBHOOK_LEASE_SECONDS", default=60.0),
    "WEBHOOK_CONNECT_TIMEOUT_SECONDS": env.float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", default=3.0),
    "WEBHOOK_READ_TIMEOUT_SECONDS": env.float("WEBHOOK_READ_TIMEOUT_SECONDS", default=5.0),
    # plain http:// endpoints on a loopback address (development; on by default with DEBUG, so
    # under `make run`); every other endpoint must be https://
    "WEBHOOKS_ALLOW_HTTP_LOOPBACK": env.bool("WEBHOOKS_ALLOW_HTTP_LOOPBACK", default=DEBUG),
    # networks (CIDRs) endpoints may resolve to although private/link-local/loopback/reserved
    "WEBHOOKS_ALLOWED_NETWORKS": env.list("WEBHOOKS_ALLOWED_NETWORKS", default=[]),
}

# --- Email: staff are told when a connection is quarantined and when it is back ------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="portal@localhost")

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "provisioning.api.authentication.DigestTokenAuthentication",
        "provisioning.second_factor.VerifiedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["provisioning.api.permissions.ModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "provisioning.api.exceptions.exception_handler",
    # per user (per IP when anonymous), counted in the default cache (share it: CACHE_URL)
    "DEFAULT_THROTTLE_RATES": {"api": env("API_THROTTLE_RATE", default="1200/minute")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Provisioning portal API",
    # the newest version "Changes to the API contract" in the README describes (a test keeps them together)
    "VERSION": "1.3.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # the portal's outbound webhooks, one per event type (provisioning/api/webhook_docs.py)
    "WEBHOOKS": [f"provisioning.api.webhook_docs.WEBHOOK_{i}" for i in range(9)],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "provisioning.api.schema.provider_kinds_hook",
        "provisioning.api.webhook_docs.webhooks_extension_hook",
    ],
    "ENUM_NAME_OVERRIDES": {
        "AccountStatusEnum": "provisioning.states.AccountStatus",
        "OperationStatusEnum": "provisioning.states.OperationStatus",
        "HealthStatusEnum": "provisioning.models.HealthStatus",
        "ConnectionStateEnum": "provisioning.states.ConnectionState",
    },
}

# --- Logging: one line per event, never bodies or credentials -------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Celery's two lines per task ("received", "succeeded in"): the portal logs what a task
        # did itself (an operation's end, each provider call); failures are still ERROR
        "celery.worker.strategy": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
    },
}
