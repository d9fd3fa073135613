"""Settings come from the environment; each case runs in a fresh interpreter."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; db = s.DATABASES['default'];"
    "from dashboard.token_crypto import key_ring;"
    "print(json.dumps({'debug': s.DEBUG, 'db': db['ENGINE'], 'name': str(db['NAME']),"
    " 'cache': s.CACHES['default']['BACKEND'], 'sessions': s.SESSION_ENGINE,"
    " 'hosts': s.ALLOWED_HOSTS, 'email': s.EMAIL_BACKEND,"
    " 'postmark': s.POSTMARK_API_URL, 'secure_cookies': s.SESSION_COOKIE_SECURE,"
    " 'token_key_ids': list(key_ring().ids), 'sandbox': s.POSTMARK_SANDBOX_ENABLED}))"
)
CONFIG_VARIABLES = (
    "DEBUG", "DEMO", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "POSTMARK_API_URL", "EMAIL_BACKEND",
    "TOKEN_ENCRYPTION_KEYS", "POSTMARK_SANDBOX_ENABLED", "ADMIN_PATH", "TEAMS_PER_PERSON",
    "DATABASE_PREPARED_STATEMENTS",
)
KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()  # made up for these tests
OTHER_KEY = base64.urlsafe_b64encode(bytes(range(32, 64))).decode()
PRODUCTION = {"SECRET_KEY": "p" * 50, "TOKEN_ENCRYPTION_KEYS": f"k2:{OTHER_KEY},k1:{KEY}"}


def run(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    clean["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def settings_with(**env: str) -> dict:
    result = run(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_refuses_to_start_without_a_secret_key_and_says_why_in_one_line():
    result = run(DEBUG="0")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Refusing to start: SECRET_KEY is not set (it is required when DEBUG is off)."
    ]


def test_development_runs_on_the_embedded_default_with_no_variables_but_debug():
    found = settings_with(DEBUG="1")
    assert found["debug"] is True
    assert found["db"] == "django.db.backends.sqlite3"
    assert found["name"] == str(REPO / "var" / "dashboard.sqlite3")
    assert found["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert found["sessions"] == "django.contrib.sessions.backends.db"  # one memory cache per process: not shared
    assert found["email"] == "django.core.mail.backends.console.EmailBackend"
    assert found["postmark"] == "https://api.postmarkapp.com"
    assert found["hosts"] == ["127.0.0.1", "localhost"]


def test_production_reads_its_database_cache_and_hosts_from_the_environment():
    found = settings_with(
        **PRODUCTION,
        DATABASE_URL="postgres://app@db.internal:5432/dashboard",
        REDIS_URL="redis://cache.internal:6379/1",
        ALLOWED_HOSTS="streams.example.com, www.streams.example.com",
        POSTMARK_API_URL="http://127.0.0.1:9999",
    )
    assert found["debug"] is False
    assert found["db"] == "django.db.backends.postgresql"
    assert found["name"] == "dashboard"
    assert found["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert found["sessions"] == "django.contrib.sessions.backends.cached_db"
    assert found["hosts"] == ["streams.example.com", "www.streams.example.com"]
    assert found["postmark"] == "http://127.0.0.1:9999"
    assert found["secure_cookies"] is True
    assert found["token_key_ids"] == ["k2", "k1"]
    assert found["sandbox"] is False


def test_a_production_configuration_passes_djangos_deployment_checks():
    clean = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES and k != "SECURE_SSL_REDIRECT"}
    env = {**clean, **PRODUCTION, "SECRET_KEY": "x9" * 30 + "-Qz!", "ALLOWED_HOSTS": "streams.example.com"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_demo_runs_like_production_on_plain_http_on_loopback():
    found = settings_with(DEMO="1", SECRET_KEY="d" * 50, TOKEN_ENCRYPTION_KEYS=f"demo:{KEY}")
    assert found["debug"] is False
    assert found["hosts"] == ["127.0.0.1", "localhost"]
    assert found["secure_cookies"] is False
    assert found["token_key_ids"] == ["demo"]
    assert found["sandbox"] is True


def test_the_demo_still_needs_a_real_secret_key_and_key_ring():
    assert run(DEMO="1", TOKEN_ENCRYPTION_KEYS=f"demo:{KEY}").returncode == 1
    assert run(DEMO="1", SECRET_KEY="d" * 50).returncode == 1


def test_development_encrypts_tokens_under_a_development_key_when_none_is_set():
    assert settings_with(DEBUG="1")["token_key_ids"] == ["dev"]


@pytest.mark.parametrize(("keys", "hint"), [
    (None, "manage.py generate_token_key"), ("", "manage.py generate_token_key"), (" , ", "'id:key' pairs"),
])
def test_production_refuses_to_start_without_a_token_key_ring_and_says_why_in_one_line(keys, hint):
    env = {"SECRET_KEY": "p" * 50} if keys is None else {"SECRET_KEY": "p" * 50, "TOKEN_ENCRYPTION_KEYS": keys}

    result = run(**env)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Refusing to start: TOKEN_ENCRYPTION_KEYS is not set")
    assert hint in lines[0]


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        pytest.param(KEY, "entry 1 must look like 'id:key'", id="no-id"),
        pytest.param(f"k1:{KEY},k 2:{OTHER_KEY}", "entry 2 must look like 'id:key'", id="bad-id"),
        pytest.param("k1:c2hvcnQta2V5", "key 'k1' must be 32 bytes in URL-safe base64", id="short-key"),
        pytest.param(f"k1:{KEY}!!", "key 'k1' must be 32 bytes in URL-safe base64", id="not-base64"),
        pytest.param(f"k1:{KEY},k1:{OTHER_KEY}", "names the key id 'k1' twice", id="same-id-twice"),
    ],
)
def test_production_refuses_to_start_with_a_malformed_token_key_ring_and_says_why_in_one_line(keys, problem):
    result = run(SECRET_KEY="p" * 50, TOKEN_ENCRYPTION_KEYS=keys)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Refusing to start: TOKEN_ENCRYPTION_KEYS "), result.stderr
    assert problem in lines[0]
    assert "c2hvcnQta2V5" not in lines[0] and KEY[:20] not in lines[0]  # never the key itself


def test_production_starts_with_a_valid_token_key_ring():
    found = settings_with(**PRODUCTION)

    assert found["debug"] is False
    assert found["token_key_ids"] == ["k2", "k1"]


def manage(*arguments: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES and k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [sys.executable, "manage.py", *arguments], cwd=REPO, env={**clean, **env}, capture_output=True, text=True,
        timeout=60, stdin=subprocess.DEVNULL,
    )


def test_a_first_key_is_generated_with_no_setting_at_all():
    result = manage("generate_token_key", "--id", "k1")

    assert result.returncode == 0, result.stderr
    key_id, _, key = result.stdout.strip().partition(":")
    assert key_id == "k1" and len(base64.urlsafe_b64decode(key)) == 32


@pytest.mark.parametrize("command", [["help"], ["help", "sandbox"], ["version"], []])
def test_help_and_version_start_with_no_setting_at_all(command):
    result = manage(*command)

    assert result.returncode == 0, result.stderr
    assert "Refusing" not in result.stderr


@pytest.mark.parametrize("command", [["migrate"], ["runserver"], ["rotate_token_keys"], ["demo_seed"], ["check"]])
def test_commands_that_serve_the_dashboard_or_touch_tokens_still_refuse_without_secrets(command):
    result = manage(*command)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Refusing to start: SECRET_KEY is not set (it is required when DEBUG is off)."
    ]


def test_a_secretless_command_gets_no_key_ring_to_encrypt_with():
    probe = (
        "from dashboard.token_crypto import key_ring\ntry:\n key_ring()\nexcept Exception as e: print(type(e).__name__)"
    )
    result = manage("shell", "-c", probe, SECRET_KEY="p" * 50)
    assert result.returncode == 1 and "TOKEN_ENCRYPTION_KEYS is not set" in result.stderr  # `shell` is not one

    clean = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    found = subprocess.run(
        [sys.executable, "-c", "import sys; sys.argv = ['manage.py', 'sandbox']; import django; django.setup();"
         f"exec({probe!r})"],
        cwd=REPO, env={**clean, "DJANGO_SETTINGS_MODULE": "dashboard.settings"}, capture_output=True, text=True,
        timeout=60,
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "KeyRingError"


ROUTES = (
    "import json, django; django.setup(); from django.conf import settings as s;"
    "from django.urls import resolve, reverse;"
    "from django.urls.exceptions import Resolver404\n"
    "def owner(path):\n"
    "    try: return resolve(path).namespace or resolve(path).url_name\n"
    "    except Resolver404: return None\n"
    "print(json.dumps({'index': reverse('admin:index'), 'old': owner('/admin/'), 'teams': s.TEAMS_PER_PERSON}))"
)


def routes_with(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    result = subprocess.run([sys.executable, "-c", ROUTES], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={**clean, "DJANGO_SETTINGS_MODULE": "dashboard.settings", **PRODUCTION, **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_admin_is_at_admin_and_a_person_may_own_ten_teams_unless_told_otherwise():
    assert routes_with() == {"index": "/admin/", "old": "admin", "teams": 10}


def test_the_admin_moves_to_the_path_an_operator_sets_and_leaves_the_old_address():
    found = routes_with(ADMIN_PATH="ops/backstage-7/", TEAMS_PER_PERSON="3")
    assert found == {"index": "/ops/backstage-7/", "old": None, "teams": 3}


@pytest.mark.parametrize("path", ["/admin/", "admin", "", "Admin/", "a b/", "../x/", "admin//", "teams/", "t/x/",
                                  "accounts/admin/", "static/"])
def test_a_malformed_or_clashing_admin_path_is_refused_at_startup_in_one_line(path):
    result = run(**PRODUCTION, ADMIN_PATH=path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Refusing to start: ADMIN_PATH {path.strip()!r} "), result.stderr


@pytest.mark.parametrize("limit", ["ten", "0", "-2", "1.5"])
def test_a_team_limit_that_is_not_a_whole_number_of_one_or_more_is_refused_at_startup_in_one_line(limit):
    result = run(**PRODUCTION, TEAMS_PER_PERSON=limit)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Refusing to start: TEAMS_PER_PERSON must be"), result.stderr


def test_the_embedded_database_logs_ahead_so_pages_read_while_another_request_writes(tmp_path):
    probe = ("import django; django.setup(); from django.db import connection; cursor = connection.cursor();"
             "print(cursor.execute('PRAGMA journal_mode').fetchone()[0],"
             " cursor.execute('PRAGMA synchronous').fetchone()[0])")
    clean = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**clean, "DJANGO_SETTINGS_MODULE": "dashboard.settings", "DEBUG": "1",
             "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "1"]  # 1 is NORMAL


def _database_options(**env: str) -> dict:
    probe = ("import json, django; django.setup(); from django.conf import settings;"
             "print(json.dumps(settings.DATABASES['default'].get('OPTIONS', {})))")
    clean = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={**clean, **PRODUCTION, "DJANGO_SETTINGS_MODULE": "dashboard.settings", **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_postgresql_prepares_the_statements_a_connection_repeats_unless_a_pooler_cannot_keep_them():
    database = "postgres://app@db.internal:5432/dashboard"
    prepared = {"server_side_binding": True, "prepare_threshold": 5}
    assert _database_options(DATABASE_URL=database).items() >= prepared.items()
    options = _database_options(DATABASE_URL=database, DATABASE_PREPARED_STATEMENTS="0")
    assert "server_side_binding" not in options and "prepare_threshold" not in options
    assert "server_side_binding" not in _database_options(DATABASE_URL="sqlite:///:memory:")
