"""Settings for the CSP partner portal, all read from the environment.

With nothing set, the portal runs on an embedded default for a laptop: SQLite under var/,
Celery tasks executed eagerly, mail written to files under var/mail/. Production sets
DATABASE_URL, REDIS_URL, EMAIL_URL, SECRET_KEY, ALLOWED_HOSTS and DEBUG=0 (see .env.example).
"""

from __future__ import annotations

import datetime
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import environ
import jinja2
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from django_jinja.builtins import DEFAULT_EXTENSIONS as DJANGO_JINJA_EXTENSIONS

from portal.env import REDIS_SCHEMES, Env

BASE_DIR = Path(__file__).resolve().parent.parent
if (BASE_DIR / ".env").is_file():
    # Values already in the environment win over the file.
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
env = Env()

VAR_DIR = Path(env.str("VAR_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env.bool("DEBUG", True)


def _secret_key() -> str:
    key = env.str("SECRET_KEY")
    if key:
        if not DEBUG and len(key) < 50:
            raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters when DEBUG=0.")
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG=0.")
    # A laptop keeps one generated key so sessions survive restarts.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG=0 (comma-separated host names).")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [])

# The address customers and e-mails use to reach the portal (no trailing slash).
PORTAL_BASE_URL = (env.str("PORTAL_BASE_URL", "http://127.0.0.1:8000") or "").rstrip("/")

INSTALLED_APPS = [
    # modeltranslation must precede admin so its admin integration wins.
    "modeltranslation",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "simple_history",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Its makemessages also finds the strings of the Jinja2 templates ({% trans %} blocks).
    "django_jinja",
    "portal",
    "guidance",
    "cases",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # After the language is chosen (its error messages are translated), around everything that may answer.
    "portal.api_middleware.ApiResponseMiddleware",
    "portal.middleware.RefuseNulMiddleware",
    # A file storage that is away answers 503 (portal/storage.py).
    "portal.storage.StorageUnavailableMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "portal.sessions.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After the password, a user with a second factor reaches only the code step until the code is given.
    "portal.mfa.MfaGateMiddleware",
    "portal.audit.AuditContextMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

# The portal's own pages (templates/) are Jinja2 through django-jinja: the template language was most of
# every page's cost (docs/benchmarks.md). Django admin and the API documentation keep their Django templates.
# Text templates (.txt: e-mail subjects and bodies) are not HTML-escaped; everything else is.
TEMPLATES = [
    {
        "BACKEND": "django_jinja.jinja2.Jinja2",
        "NAME": "jinja2",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {
            "match_extension": None,
            "autoescape": jinja2.select_autoescape(["html"], default_for_string=True, default=False),
            "undefined": "jinja2.ChainableUndefined",
            "keep_trailing_newline": True,
            "policies": {"ext.i18n.trimmed": True},
            "context_processors": [
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
            ],
            "globals": {
                "language_choices": "portal.templating.language_choices",
                "language_name": "portal.templating.language_name",
                "hreflang": "portal.templating.hreflang",
                "case_url": "cases.models.case_url",
                "number": "portal.templating.number",
                "percent": "portal.templating.percent",
                "hours": "portal.templating.hours",
                "money": "cases.currencies.money",
            },
            "filters": {
                "date": "portal.templating.date",
                "filesize": "django.template.defaultfilters.filesizeformat",
            },
            "extensions": [
                "portal.templating.CsrfExtension" if name.endswith(".CsrfExtension") else name
                for name in DJANGO_JINJA_EXTENSIONS
            ],
        },
    },
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # For templates/admin/base_site.html, which the admin's pages extend (its stylesheet on every page).
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------

DATABASES = {
    "default": env.database(
        "DATABASE_URL",
        f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        CONN_MAX_AGE=env.int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        CONN_HEALTH_CHECKS=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # QuerySet.iterator() (a form's model choices) reads everything in one round trip instead of declaring,
    # fetching from and closing a server-side cursor; it also keeps the portal usable behind a transaction
    # pooler such as PgBouncer.
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # A writer waits for another writer instead of failing with "database is locked" at once, and every
        # transaction takes the write lock when it begins, so two never deadlock upgrading a read lock.
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        **DATABASES["default"].get("OPTIONS", {}),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache and Celery broker -----------------------------------------------------------

REDIS_URL = env.url("REDIS_URL", None, schemes=REDIS_SCHEMES)

# The cache is optional: it holds only what can be made again from PostgreSQL (rendered guidance, keyed by
# the text it was rendered from) and the API's rate-limit counters. With Redis unreachable every call is a
# miss (django-redis IGNORE_EXCEPTIONS), logged once a minute (portal.logs.OncePer), and the portal works on.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", "portal"),
            "TIMEOUT": 300,
            "OPTIONS": {
                "IGNORE_EXCEPTIONS": True,
                # An unreachable Redis costs a request at most this long per call, not the default minutes.
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
DJANGO_REDIS_LOGGER = "portal.cache"
# Sessions live in the database alone (no copy in Redis that could outlive a sign-out during an outage), each
# read with its user (portal.sessions).
SESSION_ENGINE = "portal.sessions"

# --- Celery (read by portal/celery.py through the CELERY_ namespace) ----------------------------

# The embedded default runs tasks eagerly; an in-memory broker with a host name keeps kombu from warning.
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
# Without a broker the tasks run in-process, so a laptop needs nothing else running.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", REDIS_URL is None)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", 240, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request that asks for a delivery run while the broker is away gives up quickly and leaves the row to
# the sweep (cases.services.enqueue_notification) instead of holding the page for Celery's default retries.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# Celery's Django fixup closes the database connection before and after every task unless this is set, and a
# new PostgreSQL connection costs more than the task itself. With it set, cases.tasks treats each task like a
# request instead: the connection is reused under DATABASE_CONN_MAX_AGE, with Django's health check.
CELERY_DB_REUSE_MAX = 1000
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # An unacknowledged message returns to the queue after this long (late acks).
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60),
    "socket_connect_timeout": 5,
}
# Close-the-loop e-mails (cases.tasks): retries, the lease on a message being sent, and the sweep.
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", 8, minimum=1)
NOTIFICATION_RETRY_BASE_SECONDS = env.int("NOTIFICATION_RETRY_BASE_SECONDS", 30, minimum=1)
NOTIFICATION_RETRY_MAX_SECONDS = env.int("NOTIFICATION_RETRY_MAX_SECONDS", 3600, minimum=1)
NOTIFICATION_LEASE_SECONDS = env.int("NOTIFICATION_LEASE_SECONDS", 300, minimum=1)
NOTIFICATION_PENDING_GRACE_SECONDS = env.int("NOTIFICATION_PENDING_GRACE_SECONDS", 120, minimum=0)
NOTIFICATION_SWEEP_SECONDS = env.int("NOTIFICATION_SWEEP_SECONDS", 60, minimum=1)
CUSTOMER_ANSWER_DAYS = env.int("CUSTOMER_ANSWER_DAYS", 30, minimum=1)

# Webhooks (webhooks.tasks, docs/webhooks.md): attempts per delivery, backoff, the lease, the sweep, when a
# failing endpoint is disabled, and what an outgoing request may reach and how long it may take.
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", 12, minimum=1)
WEBHOOK_RETRY_BASE_SECONDS = env.int("WEBHOOK_RETRY_BASE_SECONDS", 20, minimum=1)
WEBHOOK_RETRY_MAX_SECONDS = env.int("WEBHOOK_RETRY_MAX_SECONDS", 3600, minimum=1)
WEBHOOK_LEASE_SECONDS = env.int("WEBHOOK_LEASE_SECONDS", 120, minimum=1)
WEBHOOK_SWEEP_SECONDS = env.int("WEBHOOK_SWEEP_SECONDS", 15, minimum=1)
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", 3, minimum=1)
WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1)
WEBHOOK_LOG_DAYS = env.int("WEBHOOK_LOG_DAYS", 30, minimum=1)
# Private, loopback and link-local receivers: refused unless on (default: on only with DEBUG, for a laptop).
WEBHOOK_ALLOW_PRIVATE_HOSTS = env.bool("WEBHOOK_ALLOW_PRIVATE_HOSTS", DEBUG)
# Without a worker there is no beat: the web process then runs the webhook sweep on a timer of its own.
WEBHOOK_SWEEP_IN_PROCESS = env.bool("WEBHOOK_SWEEP_IN_PROCESS", CELERY_TASK_ALWAYS_EAGER)


def _inbound_address(name: str) -> str | None:
    """The portal's own mailbox for customers' replies (cases.inbound); unset: replies go to the partner."""
    value = env.str(name)
    if value is None:
        return None
    local, at, domain = value.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or "+" in local
        or any(c.isspace() or c in "<>," for c in value)
    ):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a plain address such as support@portal.example "
            "(no display name, no +tag: the portal adds +<case token> itself)."
        )
    return value.lower()


# Replies by e-mail (cases/inbound.py): outgoing customer e-mails ask for replies at
# local+<signed case token>@domain; the intake keeps messages up to INBOUND_MAX_BYTES (a 10 MB attachment is
# about 13.7 MB once base64-encoded, so the default leaves room for the largest evidence file).
INBOUND_EMAIL_ADDRESS = _inbound_address("INBOUND_EMAIL_ADDRESS")
_embedded = DEBUG and CELERY_TASK_ALWAYS_EAGER and DATABASES["default"]["ENGINE"].endswith("sqlite3")
if INBOUND_EMAIL_ADDRESS is None and _embedded:
    # `make run` shows the whole conversation on a laptop: the e-mails in var/mail ask for replies at this
    # address, and `manage.py receive_email` takes them back (README, "Replies by e-mail on a laptop").
    INBOUND_EMAIL_ADDRESS = "support@portal.localhost"
INBOUND_MAX_BYTES = env.int("INBOUND_MAX_MB", 20, minimum=1) * 1024 * 1024


def _imap_url(name: str) -> str | None:
    """The mailbox the IMAP poller reads (cases.inbound.poll_imap): imaps://user:password@host[:port]/FOLDER,
    or imap:// (STARTTLS; plain only to a loopback host)."""
    value = env.url(name, None, schemes=frozenset({"imap", "imaps"}))
    if value is not None and not urlsplit(value).username:
        raise ImproperlyConfigured(f"{name} names no user: imaps://user:password@host/INBOX.")
    return value


# Replies by IMAP: a Celery beat task polls this mailbox every INBOUND_IMAP_POLL_SECONDS, at most
# INBOUND_IMAP_BATCH messages a run, and moves each stored message to INBOUND_IMAP_DONE_FOLDER.
INBOUND_IMAP_URL = _imap_url("INBOUND_IMAP_URL")
INBOUND_IMAP_DONE_FOLDER = env.str("INBOUND_IMAP_DONE_FOLDER", "Processed")
INBOUND_IMAP_POLL_SECONDS = env.int("INBOUND_IMAP_POLL_SECONDS", 60, minimum=1)
INBOUND_IMAP_BATCH = env.int("INBOUND_IMAP_BATCH", 50, minimum=1)
INBOUND_IMAP_TIMEOUT = env.int("INBOUND_IMAP_TIMEOUT", 30, minimum=1)

# How often the beat looks for cases at 75 % of a service-level target or past it.
SERVICE_LEVEL_CHECK_SECONDS = env.int("SERVICE_LEVEL_CHECK_SECONDS", 300, minimum=10)

CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "sweep-notifications": {
        "task": "cases.tasks.sweep_notifications",
        "schedule": float(NOTIFICATION_SWEEP_SECONDS),
    },
    "prune-audit-trail": {"task": "portal.tasks.prune_audit", "schedule": 24 * 60 * 60.0},
    "sweep-webhooks": {"task": "webhooks.tasks.sweep_deliveries", "schedule": float(WEBHOOK_SWEEP_SECONDS)},
    "prune-webhook-deliveries": {"task": "webhooks.tasks.prune_deliveries", "schedule": 24 * 60 * 60.0},
    # Warnings at 75 % of a service-level target and at its breach (cases/servicelevels.py).
    "check-service-levels": {
        "task": "cases.tasks.check_service_levels",
        "schedule": float(SERVICE_LEVEL_CHECK_SECONDS),
        "options": {"expires": float(SERVICE_LEVEL_CHECK_SECONDS)},
    },
}
if INBOUND_IMAP_URL:
    CELERY_BEAT_SCHEDULE["poll-inbound-mailbox"] = {
        "task": "cases.tasks.poll_inbound_mailbox",
        "schedule": float(INBOUND_IMAP_POLL_SECONDS),
        # A poll the worker could not start in time is dropped: the next one reads the same mailbox.
        "options": {"expires": float(INBOUND_IMAP_POLL_SECONDS)},
    }
CELERY_TIMEZONE = "UTC"

# --- Mail -------------------------------------------------------------------------------------

_email = env.email("EMAIL_URL")
if _email is None:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
else:
    for _key, _value in _email.items():
        globals()[_key] = _value
    if _email.get("EMAIL_FILE_PATH") == "":
        EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "CSP Partner Portal <portal@localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)

# --- Users and sign-in ------------------------------------------------------------------------

AUTH_USER_MODEL = "portal.User"
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses sign-in attempts from a locked-out e-mail address and IP address.
    "axes.backends.AxesStandaloneBackend",
    "portal.auth.MemberBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# A sign-in resets the count only once it is whole: after the code for a user with two-step sign-in
# (portal.mfa), so signing in again with the password gives no fresh tries at the code.
AXES_RESET_ON_SUCCESS = False
# The sign-in form posts the e-mail address as "username" (Django's AuthenticationForm).
AXES_USERNAME_FORM_FIELD = "username"
# Attempts are counted against the address as sign-in matches it (stripped, case-folded): "SALES@…" and
# " sales@…" are the same account, so they share one lockout.
AXES_USERNAME_CALLABLE = "portal.auth.axes_username"
AXES_LOCKOUT_CALLABLE = "portal.views.locked_out"
AXES_VERBOSE = False
# The audit trail (portal/audit.py): events older than this are removed by `manage.py audit_prune` (0: kept).
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", 400, minimum=0)
# Two-step sign-in (portal/mfa.py). Required of every partner user and staff member in production; the
# embedded default (`make run`, DEBUG on) leaves it to each user, so the demo accounts open directly.
MFA_REQUIRED = env.bool("MFA_REQUIRED", not DEBUG)
OTP_TOTP_ISSUER = "CSP Partner Portal"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Languages --------------------------------------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("zh-hant", _("Traditional Chinese")),
    ("zh-hans", _("Simplified Chinese")),
    ("ja", _("Japanese")),
    ("ru", _("Russian")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env.str("TIME_ZONE", "UTC")
LANGUAGE_COOKIE_NAME = "portal_language"
LANGUAGE_COOKIE_AGE = 60 * 60 * 24 * 365
LANGUAGE_COOKIE_SAMESITE = "Lax"

MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
MODELTRANSLATION_FALLBACK_LANGUAGES = ("en",)
# The tabbed translation admin needs jQuery UI; serve the vendored copy, never a CDN.
JQUERY_UI_URL = "vendor/jquery-ui-1.13.3/jquery-ui.min.js"

# --- Static files -----------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


def s3_storage(
    *,
    bucket: str,
    access_key: str | None,
    secret_key: str | None,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    addressing_style: str = "path",
    location: str = "",
    timeout: int = 5,
) -> dict:
    """The files the portal keeps (evidence, e-mail attachments) in an S3-compatible bucket, through
    django-storages. The bucket stays private: downloads go through the portal
    (cases.uploads.download_response), so no object needs a public ACL or a URL of its own."""
    from botocore.config import Config

    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            # None: boto3's own chain (an instance role, ~/.aws) finds the credentials.
            "access_key": access_key,
            "secret_key": secret_key,
            "endpoint_url": endpoint_url,
            "region_name": region_name,
            # MinIO, SeaweedFS and most self-hosted servers want bucket/key paths, not bucket.host names.
            "addressing_style": addressing_style,
            "location": location,
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": 60,
            # Stored names are the portal's own (a UUID each): no clash to look for before a write.
            "file_overwrite": True,
            # A storage that is away costs a request seconds, not boto3's default minute of retries.
            "client_config": Config(
                connect_timeout=timeout,
                read_timeout=timeout * 2,
                retries={"max_attempts": 2, "mode": "standard"},
                signature_version="s3v4",
            ),
        },
    }


# Where uploaded files go: the file system under MEDIA_ROOT (one machine), or an S3-compatible bucket
# (several machines; django-storages' own variable names).
MEDIA_STORAGE = env.str("MEDIA_STORAGE", "filesystem")
if MEDIA_STORAGE == "s3":
    if not env.str("AWS_STORAGE_BUCKET_NAME"):
        raise ImproperlyConfigured("MEDIA_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME.")
    STORAGES["default"] = s3_storage(
        bucket=env.str("AWS_STORAGE_BUCKET_NAME"),
        access_key=env.str("AWS_ACCESS_KEY_ID"),
        secret_key=env.str("AWS_SECRET_ACCESS_KEY"),
        endpoint_url=env.str("AWS_S3_ENDPOINT_URL"),
        region_name=env.str("AWS_S3_REGION_NAME"),
        addressing_style=env.str("AWS_S3_ADDRESSING_STYLE", "path"),
        location=env.str("AWS_LOCATION", ""),
        timeout=env.int("MEDIA_STORAGE_TIMEOUT", 5, minimum=1),
    )
elif MEDIA_STORAGE != "filesystem":
    raise ImproperlyConfigured(f"MEDIA_STORAGE={MEDIA_STORAGE!r}: use filesystem (the default) or s3.")
if DEBUG:
    # runserver serves from the app folders; no collectstatic needed on a laptop.
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root

# --- REST API ---------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["portal.api.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.IsPartnerMember"],
    "DEFAULT_THROTTLE_CLASSES": ["portal.api.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": env.str("API_THROTTLE_RATE", "600/minute")},
    "DEFAULT_PAGINATION_CLASS": "portal.api.StrictPageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        # JSON only; the one upload (POST /cases/{number}/attachments/) takes multipart itself. A form body
        # elsewhere was one more way to send what the schema does not describe.
        "portal.api.BoundedJSONParser",
    ],
    "EXCEPTION_HANDLER": "portal.api_errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# A sync by change cursor reads cases changed up to this many seconds ago: long enough for the transaction of
# any change to have committed (cases/api_sync.py).
API_SYNC_SETTLE_SECONDS = env.int("API_SYNC_SETTLE_SECONDS", 2, minimum=0)
SPECTACULAR_SETTINGS = {
    "TITLE": "CSP Partner Portal API",
    "DESCRIPTION": "Cases, customers and guidance for CSP partners' own tools. "
    "Authenticate with `Authorization: Bearer <token>`; tokens are created on the portal's account page.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api_schema.postprocess",
    ],
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "cases.models.Status",
        "SeverityEnum": "cases.models.Severity",
        "SubscriptionStatusEnum": "cases.models.SubscriptionStatus",
        "NotificationStatusEnum": "cases.models.NotificationStatus",
        "LanguageEnum": "portal.settings.LANGUAGES",
        "WebhookEventEnum": "webhooks.models.WebhookEvent",
        "WebhookDeliveryStatusEnum": "webhooks.models.DeliveryStatus",
        "ErrorCodeEnum": "portal.api_errors.ERROR_CODE_CHOICES",
        "RoleEnum": "cases.permissions.Role",
        "EscalationTargetEnum": "cases.models.EscalationTarget",
        "ReportEscalationTargetEnum": "cases.api.REPORT_ESCALATION_TARGETS",
    },
}

# --- Uploads ----------------------------------------------------------------------------------

ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_MB", 10, minimum=1) * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- Guidance import ----------------------------------------------------------------------------

# A DocFX file larger than this is refused by import_guidance (the largest Partner Center article is ~60 KB).
GUIDANCE_MAX_FILE_KB = env.int("GUIDANCE_MAX_FILE_KB", 512, minimum=1)

# --- Security ---------------------------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", not DEBUG)
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", not DEBUG)
if env.bool("TRUST_X_FORWARDED_PROTO", False):
    # Only behind a proxy that sets this header itself.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy: no inline or third-party scripts anywhere (django-csp).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # Django admin and jQuery UI tabs still set a few style attributes.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Logging ----------------------------------------------------------------------------------

LOG_LEVEL = (env.str("LOG_LEVEL", "INFO") or "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} is not a logging level.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"once_a_minute": {"()": "portal.logs.OncePer", "seconds": 60}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # Redis away: one line a minute for the cache (and the API throttle that fails open), not one a call.
        "portal.cache": {"level": "WARNING", "filters": ["once_a_minute"]},
        "portal.health": {"level": "WARNING", "filters": ["once_a_minute"]},
    },
}
