"""Django settings, read from the environment.

The embedded default (no variables set) is SQLite under var/, the local-memory cache and the
console e-mail backend, so a fresh machine runs everything. Production sets DATABASE_URL,
REDIS_URL, SECRET_KEY, ALLOWED_HOSTS and leaves DEBUG off. This module must never hold a secret.
"""

import os
import re
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_number(name: str, default: str, *, unit: str, minimum: float = 1, whole: bool = True) -> int | float:
    """A number of `unit` from the environment; anything else stops the start with a one-line reason."""
    kind, what = (int, "a whole number") if whole else (float, "a number")
    try:
        value = kind(os.environ.get(name, default))
    except ValueError:
        sys.exit(f"Refusing to start: {name} must be {what} of {unit}, such as {default}.")
    if value < minimum:
        sys.exit(f"Refusing to start: {name} must be {minimum:g} or more.")
    return value


def _validate_key_ring(text: str) -> str:
    from dashboard.token_crypto import KeyRingError, parse_key_ring

    try:
        parse_key_ring(text)
    except KeyRingError as error:
        return str(error)
    return ""


DEBUG = env_bool("DEBUG")
# `make demo` runs the product as production does, on a laptop: plain HTTP on loopback, real error pages.
DEMO = env_bool("DEMO")
LOCAL = DEBUG or DEMO

# Commands that neither serve the dashboard nor touch stored tokens start with no secret set: the
# sandbox, a new key for the ring, and Django's own help. Every other command, and the web app, refuses.
SECRETLESS_COMMANDS = frozenset({"sandbox", "generate_token_key", "help", "version"})
_COMMAND_LINE = sys.argv if sys.argv and Path(sys.argv[0]).name in {"manage.py", "django-admin"} else None
SECRETLESS = _COMMAND_LINE is not None and (len(_COMMAND_LINE) < 2 or _COMMAND_LINE[1] in SECRETLESS_COMMANDS)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "insecure-development-key-used-only-when-DEBUG-is-on"
    elif SECRETLESS:
        SECRET_KEY = secrets.token_urlsafe(50)  # signs nothing that outlives the command
    else:
        sys.exit("Refusing to start: SECRET_KEY is not set (it is required when DEBUG is off).")

# Server tokens are encrypted under this key ring (see dashboard/token_crypto.py), never under SECRET_KEY.
# A secretless command gets none: whatever it did with a token would fail rather than use a made-up key.
TOKEN_ENCRYPTION_KEYS = os.environ.get("TOKEN_ENCRYPTION_KEYS", "").strip()
if not TOKEN_ENCRYPTION_KEYS:
    if DEBUG:
        TOKEN_ENCRYPTION_KEYS = "dev:ZGV2ZWxvcG1lbnQtb25seS1rZXktbm90LWZvci11c2U="
    elif not SECRETLESS:
        sys.exit(
            "Refusing to start: TOKEN_ENCRYPTION_KEYS is not set (it is required when DEBUG is off). "
            "Generate a first key with `python manage.py generate_token_key --id k1`."
        )
_token_key_problem = _validate_key_ring(TOKEN_ENCRYPTION_KEYS) if TOKEN_ENCRYPTION_KEYS else ""
if _token_key_problem:
    sys.exit(f"Refusing to start: {_token_key_problem}")

# Where Django's admin site lives: one or more lower-case path segments, each ending in "/" ("ops/backstage/").
# Moving it off the well-known address keeps it out of the way of scanners; the admin still asks for a staff login.
ADMIN_PATH = os.environ.get("ADMIN_PATH", "admin/").strip()
# The dashboard's own top-level addresses, which the admin must not hide.
_OWN_PREFIXES = ("teams/", "t/", "invitations/", "accounts/", "static/", "healthz/")
if not re.fullmatch(r"(?:[a-z0-9][a-z0-9_-]{0,63}/){1,4}", ADMIN_PATH):
    sys.exit(f"Refusing to start: ADMIN_PATH {ADMIN_PATH!r} must be lower-case letters, digits, '-' or '_' in one "
             "to four segments, each ending in '/', with no leading '/' (such as 'admin/' or 'ops/backstage/').")
if ADMIN_PATH.startswith(_OWN_PREFIXES):
    sys.exit(f"Refusing to start: ADMIN_PATH {ADMIN_PATH!r} would take an address the dashboard uses itself; "
             "choose another first segment than teams, t, invitations, accounts, static or healthz.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if LOCAL else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
CSRF_FAILURE_VIEW = "dashboard.views.core.csrf_failure"

INSTALLED_APPS = [
    "dashboard",
    "streams",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "csp",
    "axes",
]

# The frame and CSP headers come from the outermost layers, so that every error answer carries them too: a
# middleware's refusal (a foreign Host is a 400 from CommonMiddleware, or from SecurityMiddleware itself when it
# redirects to HTTPS) goes back out only through the middleware listed before it.
MIDDLEWARE = [
    "dashboard.after_response.AfterResponseMiddleware",
    "dashboard.middleware.SecurityHeadersMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "dashboard.middleware.AuditContextMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "dashboard.middleware.PrivatePagesMiddleware",
    "dashboard.middleware.TimeZoneMiddleware",
    "dashboard.middleware.PostmarkDeadlineMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After messages and before LoginRequiredMiddleware's view check: an ended session says why on the sign-in page.
    "dashboard.middleware.SessionLimitsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dashboard.middleware.HtmxMessagesMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the sign-in page with the lockout message.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

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
                "dashboard.context_processors.teams",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'dashboard.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default under gunicorn's threads: a transaction that reads then writes takes the write lock
    # at its start and waits its turn, instead of failing with "database is locked" when another one writes.
    # Write-ahead logging lets pages read while a writer commits, and synchronous=NORMAL syncs the disk at
    # checkpoints rather than on every commit (still safe against a crash of the app; see SQLite's WAL page).
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "transaction_mode": "IMMEDIATE", "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    })

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_PREPARED_STATEMENTS", True):
    # PostgreSQL parses and plans every statement it is sent anew. With the parameters bound by the server, a
    # statement a connection sends for the fifth time is prepared there, and later sends skip that work: the
    # audit log's page query (a UNION of a part for each member) spent 2 to 5 ms there, and runs in under 1.
    # Off for a pooler in transaction mode that keeps no prepared statements (PgBouncer before 1.21).
    DATABASES["default"].setdefault("OPTIONS", {}).update({"server_side_binding": True, "prepare_threshold": 5})

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "dashboard"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# With Redis, a signed-in request reads its session from the shared cache and the database only on a miss
# (writes go to both, so signing out anywhere ends it everywhere). Without Redis each process has its own
# memory cache, where a session ended in one process could live on in another: sessions stay in the database.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db" if REDIS_URL else "django.contrib.sessions.backends.db"

AUTH_USER_MODEL = "dashboard.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out sign-in before any password is checked (the admin's too).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# E-mail: the console backend prints messages unless a real backend is configured.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Streams Dashboard <dashboard@localhost>")

# Postmark. The in-process sandbox answers the sandbox URL without a socket.
POSTMARK_API_URL = os.environ.get("POSTMARK_API_URL", "https://api.postmarkapp.com")
POSTMARK_CONNECT_TIMEOUT = float(os.environ.get("POSTMARK_CONNECT_TIMEOUT", "3"))
POSTMARK_READ_TIMEOUT = float(os.environ.get("POSTMARK_READ_TIMEOUT", "10"))
POSTMARK_RETRY_BACKOFF = float(os.environ.get("POSTMARK_RETRY_BACKOFF", "0.25"))
# How old the last-known copy of a server's streams may be before a page asks Postmark again (seconds).
STREAMS_FRESH_SECONDS = env_number("STREAMS_FRESH_SECONDS", "30", unit="seconds", minimum=0, whole=False)
# At most this many calls to Postmark at once per process (the team overview's fan-out), and as many
# connections in the client's pool.
POSTMARK_CONCURRENCY = env_number("POSTMARK_CONCURRENCY", "32", unit="calls at once")
# Where the in-process sandbox keeps its servers and streams between restarts; empty: memory only.
POSTMARK_SANDBOX_STATE = os.environ.get("POSTMARK_SANDBOX_STATE", "")

# The built-in sandbox stands in for Postmark in the demo and the tests; off in production.
POSTMARK_SANDBOX_ENABLED = env_bool("POSTMARK_SANDBOX_ENABLED", default=LOCAL)

# Invitations: how long a link works, and how many a team may send per hour.
INVITATION_LIFETIME = timedelta(days=int(os.environ.get("INVITATION_LIFETIME_DAYS", "7")))
INVITATIONS_PER_HOUR = int(os.environ.get("INVITATIONS_PER_HOUR", "20"))
# How many teams one person may own; creating one more is refused (and audited) until they give one up.
TEAMS_PER_PERSON = env_number("TEAMS_PER_PERSON", "10", unit="teams")
PASSWORD_RESET_TIMEOUT = 60 * 60 * 3

# How many proxies in front of the app append to X-Forwarded-For; 0 trusts only REMOTE_ADDR.
NUM_PROXIES = int(os.environ.get("NUM_PROXIES", "0"))

# Sign-in that resists guessing (django-axes, kept in the database so every instance sees the same count):
# after SIGN_IN_FAILURE_LIMIT failures for one account, or SIGN_IN_ADDRESS_FAILURE_LIMIT from one address (an
# office shares one), sign-in is refused for SIGN_IN_COOLOFF_MINUTES, whatever the password. The account's limit
# also applies to password reset requests per address.
SIGN_IN_FAILURE_LIMIT = env_number("SIGN_IN_FAILURE_LIMIT", "5", unit="failed sign-ins")
SIGN_IN_ADDRESS_FAILURE_LIMIT = env_number("SIGN_IN_ADDRESS_FAILURE_LIMIT", "30", unit="failed sign-ins")
SIGN_IN_COOLOFF_MINUTES = env_number("SIGN_IN_COOLOFF_MINUTES", "15", unit="minutes")
AXES_HANDLER = "dashboard.sign_in_limits.AccountAndAddressLimits"
AXES_FAILURE_LIMIT = SIGN_IN_FAILURE_LIMIT  # the account's; the handler scales the address's count to it
AXES_COOLOFF_TIME = timedelta(minutes=SIGN_IN_COOLOFF_MINUTES)
# Either one locks: many guesses at one account from many addresses, or at many accounts from one address.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_USERNAME_CALLABLE = "dashboard.views.accounts.sign_in_address"
# The same address the audit log records, so NUM_PROXIES governs both.
AXES_CLIENT_IP_CALLABLE = "dashboard.middleware.client_ip"
AXES_LOCKOUT_CALLABLE = "dashboard.views.accounts.sign_in_locked_out"
# The cool-off runs from the lockout, so "try again in 15 minutes" is true; attempts meanwhile do not extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A success must not wipe the address's count: one's own account would otherwise reset guesses at another's.
AXES_RESET_ON_SUCCESS = False
# The audit log already records every sign-in; axes keeps only what it needs to count failures.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

# Sessions end after SESSION_IDLE_HOURS without a request, and SESSION_MAX_DAYS after signing in, whatever
# happens meanwhile (dashboard.middleware.SessionLimitsMiddleware). The cookie lives as long as the longest
# session may, so the middleware sees an ended session and can say on the sign-in page why it ended.
SESSION_IDLE_HOURS = env_number("SESSION_IDLE_HOURS", "12", unit="hours", whole=False)
SESSION_MAX_DAYS = env_number("SESSION_MAX_DAYS", "14", unit="days", whole=False)
SESSION_COOKIE_AGE = int(SESSION_MAX_DAYS * 24 * 60 * 60)
# A session's "last seen" time is saved at most this often, so an active person costs no write per request.
SESSION_ACTIVITY_RESOLUTION = timedelta(minutes=5)

# Behind a proxy that terminates TLS and sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not LOCAL)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if LOCAL else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not LOCAL)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not LOCAL)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not LOCAL)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# HSTS preloading is hard to undo, so it is the operator's explicit choice, not a deploy warning.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# No inline script and no eval anywhere: behaviour lives in static/js, found by data- attributes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# Stream activity (streams/services_activity.py): how long Postmark's statistics of a stream are kept in the
# shared cache (they change slowly), and the rates over a period above which a stream's page warns. These
# thresholds are ours, from the levels commonly cited for reputation trouble; Postmark's own are not public.
STREAM_ACTIVITY_CACHE_SECONDS = env_number("STREAM_ACTIVITY_CACHE_SECONDS", "300", unit="seconds", minimum=0)
STREAM_BOUNCE_RATE_WARNING = env_number("STREAM_BOUNCE_RATE_WARNING", "10", unit="percent", minimum=0, whole=False)
STREAM_SPAM_RATE_WARNING = env_number("STREAM_SPAM_RATE_WARNING", "0.1", unit="percent", minimum=0, whole=False)

# The audit log keeps entries this many days; `manage.py prune_audit` (run it daily) removes older ones.
AUDIT_RETENTION_DAYS = env_number("AUDIT_RETENTION_DAYS", "400", unit="days")

# Every committed audit entry is also written as one JSON line (its content, id and hash) to the logger
# "dashboard.audit.ship", so an operator can keep a copy outside the database. It goes to stdout by default,
# or appended to the file AUDIT_SHIP_FILE (reopened when logrotate moves it); any other handler can be put in
# its place here (syslog, a socket). It never holds a token: `audit.record` refuses one.
AUDIT_SHIP_FILE = os.environ.get("AUDIT_SHIP_FILE", "")
_audit_ship_handler = (
    {"class": "logging.handlers.WatchedFileHandler", "filename": AUDIT_SHIP_FILE, "formatter": "message_only"}
    if AUDIT_SHIP_FILE
    else {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "message_only"}
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "message_only": {"format": "%(message)s"},
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}",
                          "style": "{"},
    },
    # Invitation and password reset links hold secrets in their paths: no log line keeps them.
    "filters": {"secret_paths": {"()": "dashboard.secret_paths.SecretPathsFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["secret_paths"]},
        "runserver": {"class": "logging.StreamHandler", "formatter": "django.server", "filters": ["secret_paths"]},
        "audit_ship": _audit_ship_handler,
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # httpx logs every request line at INFO; our client logs its own, shorter line.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # django-axes logs each failed sign-in at INFO; the audit log records those. Its lockouts are warnings.
        "axes": {"level": "WARNING"},
        # `runserver` (the demo) logs each request line: the same lines as Django's, through the filter above.
        "django.server": {"handlers": ["runserver"], "level": "INFO", "propagate": False},
        # Its own stream only: a shipped line is the record itself, not a message about the app.
        "dashboard.audit.ship": {"handlers": ["audit_ship"], "level": "INFO", "propagate": False},
    },
}

# --- Background work: the worker that watches every server (issue 14) --------------------------------------
# Tasks run on Django's tasks framework (django-tasks, the backport of Django 6.0's django.tasks). The embedded
# default keeps them in the database (django-tasks-db: SQLite or PostgreSQL, no other service), run by
# `manage.py db_worker`. A deployment that outgrows it names another backend here and changes nothing else,
# e.g. TASKS_BACKEND=django_tasks_rq.RQBackend (with django-tasks-rq installed) on the Redis at REDIS_URL.
INSTALLED_APPS += ["django_tasks", "django_tasks_db", "reminders"]
TASKS = {"default": {"BACKEND": os.environ.get("TASKS_BACKEND", "django_tasks_db.DatabaseBackend")}}
if REDIS_URL:
    RQ_QUEUES = {"default": {"URL": REDIS_URL}}  # read only by django-tasks-rq, when TASKS_BACKEND names it
# `manage.py watch_servers` (run it this often, by cron or the container's scheduler) enqueues one task per
# connected server for each period of this many minutes, once however many instances run it.
WATCH_EVERY_MINUTES = env_number("WATCH_EVERY_MINUTES", "15", unit="minutes")
# Purge reminders are e-mailed through EMAIL_BACKEND above (the console on the embedded default; SMTP, or
# django-anymail's Postmark backend, by setting). Their links point at the dashboard's public address.
DASHBOARD_URL = os.environ.get("DASHBOARD_URL", "http://127.0.0.1:8000")
# Where django.core.mail.backends.filebased.EmailBackend, if chosen, writes each e-mail.
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))

# --- Two-factor sign-in (issue 15) --------------------------------------------------------------------------
# django-otp's TOTP devices (an authenticator app) and static-token devices (recovery codes). After the password,
# a session is not verified until a code passes (dashboard.two_factor.TwoFactorMiddleware, after OTPMiddleware).
INSTALLED_APPS += ["django_otp", "django_otp.plugins.otp_totp", "django_otp.plugins.otp_static"]
MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
                  "django_otp.middleware.OTPMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("django_htmx.middleware.HtmxMiddleware") + 1,
                  "dashboard.two_factor.TwoFactorMiddleware")
# Owners and admins of a team with servers hold the keys to Postmark: with this on, they must set it up before
# anything else. On by default in production; off for `make demo` (TWO_FACTOR_REQUIRED=1 make demo turns it on).
TWO_FACTOR_REQUIRED = env_bool("TWO_FACTOR_REQUIRED", default=not LOCAL)
# The name authenticator apps show beside the code.
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Postmark Streams Dashboard")
# The admin lists devices (an operator deletes one for a person who lost their phone) without their keys.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
