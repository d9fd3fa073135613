"""Invitation and password reset links hold secrets in their paths: no log line keeps them, whether Django logs a
path it could not serve, runserver (the demo) a request line, or gunicorn (production) its access and error logs."""

import io
import json
import logging
import re
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from dashboard.gunicorn_logger import SecretlessLogger
from dashboard.secret_paths import SecretPathsFilter, without_secrets

SECRET = "Kp3-invitation_SECRET-0123456789"
RESET = "cbl8vq-0f6d1e2c3b4a59687f6e5d4c3b2a1908"


@pytest.mark.parametrize(("line", "expected"), [
    (f"Not Found: /invitations/{SECRET}/", "Not Found: /invitations/[hidden]/"),
    (f'"GET /invitations/{SECRET}/ HTTP/1.1" 200 5120', '"GET /invitations/[hidden]/ HTTP/1.1" 200 5120'),
    (f"/invitations/{SECRET}", "/invitations/[hidden]"),
    (f"GET /invitations/{SECRET}/?next=/t/acme/ HTTP/1.1", "GET /invitations/[hidden]/?next=/t/acme/ HTTP/1.1"),
    (f'referer "https://dash.example.com/invitations/{SECRET}/"', 'referer "https://dash.example.com/invitations/[hidden]/"'),
    (f"GET /accounts/password/reset/MQ/{RESET}/ HTTP/1.1", "GET /accounts/password/reset/MQ/[hidden]/ HTTP/1.1"),
    (f"https://dash.example.com/accounts/password/reset/MQ/{RESET}/",
     "https://dash.example.com/accounts/password/reset/MQ/[hidden]/"),
])
def test_the_secret_of_an_invitation_or_reset_link_is_hidden(line, expected):
    assert without_secrets(line) == expected


@pytest.mark.parametrize("line", [
    "POST /t/acme/invitations/12/revoke/ HTTP/1.1",  # a team's own page about an invitation: no secret in it
    "GET /accounts/password/reset/MQ/set-password/ HTTP/1.1",  # Django's stand-in for the token
    "GET /accounts/password/reset/sent/ HTTP/1.1",
    "GET /accounts/password/reset/done/ HTTP/1.1",
    "GET /t/acme/members/ HTTP/1.1",
])
def test_paths_without_a_secret_are_left_as_they_are(line):
    assert without_secrets(line) == line


@pytest.fixture
def console():
    """What the app's own log handlers (configured by settings.LOGGING) write, while the test runs."""
    handlers = [handler for name in ("", "django.server") for handler in logging.getLogger(name).handlers
                if any(isinstance(each, SecretPathsFilter) for each in handler.filters)]
    assert len(handlers) == 2, "the root's console and runserver's request lines both filter"
    written = io.StringIO()
    before = [handler.setStream(written) for handler in handlers]
    yield written
    for handler, stream in zip(handlers, before, strict=True):
        handler.setStream(stream)


@pytest.mark.django_db
def test_django_logs_a_made_up_invitation_link_without_its_secret(client, console):
    response = client.get(f"/invitations/{SECRET}/")

    assert response.status_code == 404
    assert "Not Found: /invitations/[hidden]/" in console.getvalue()
    assert SECRET not in console.getvalue()


def test_runserver_logs_request_lines_without_secrets(console):
    logging.getLogger("django.server").info('"%s" %s %s', f"GET /invitations/{SECRET}/ HTTP/1.1", "200", "5120")

    assert '"GET /invitations/[hidden]/ HTTP/1.1" 200 5120' in console.getvalue()
    assert SECRET not in console.getvalue()


def test_gunicorns_access_and_error_logs_leave_the_secrets_out(tmp_path):
    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    config.set("errorlog", str(tmp_path / "error.log"))
    logger = SecretlessLogger(config)
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/invitations/{SECRET}/", "SERVER_PROTOCOL": "HTTP/1.1",
               "PATH_INFO": f"/invitations/{SECRET}/", "QUERY_STRING": "", "REMOTE_ADDR": "192.0.2.1",
               "HTTP_REFERER": f"https://dash.example.com/accounts/password/reset/MQ/{RESET}/"}
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    response = SimpleNamespace(status="200 OK", sent=5120, headers=[])

    logger.access(response, request, environ, timedelta(milliseconds=12))
    logger.error("Error handling request %s", f"/invitations/{SECRET}/")
    for handler in [*logger.access_log.handlers, *logger.error_log.handlers]:
        handler.flush()

    access, error = (tmp_path / "access.log").read_text(), (tmp_path / "error.log").read_text()
    assert '"GET /invitations/[hidden]/ HTTP/1.1" 200 5120' in access
    assert "https://dash.example.com/accounts/password/reset/MQ/[hidden]/" in access
    assert "Error handling request /invitations/[hidden]/" in error
    assert SECRET not in access + error and RESET not in access + error


def test_the_images_command_uses_that_logger():
    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    command = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE).group(1))
    assert command[command.index("--logger-class") + 1] == "dashboard.gunicorn_logger.SecretlessLogger"
