"""The production image's command, run here: no Docker engine runs on these machines."""

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = (REPO / "Dockerfile").read_text()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def image_command() -> list[str]:
    return json.loads(re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.MULTILINE).group(1))


def get(url: str, **headers) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def production_env(*, port: int, static_root, database_url: str, **changes: str) -> dict:
    """The environment the image's command runs with in production (a made-up secret and key ring)."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DEBUG": "0",
        "SECRET_KEY": "a-production-like-secret-key-for-this-test-only-0123456789",
        # Made up for this test: a production-like ring of two keys, the first one encrypting.
        "TOKEN_ENCRYPTION_KEYS": f"k2:{base64.urlsafe_b64encode(b'2' * 32).decode()},"
                                 f"k1:{base64.urlsafe_b64encode(b'1' * 32).decode()}",
        "ALLOWED_HOSTS": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "STATIC_ROOT": str(static_root),
        "DATABASE_URL": database_url,
        **changes,
    }
    for name in ("SECURE_SSL_REDIRECT", "DEMO"):
        if name not in changes:
            env.pop(name, None)
    return env


@contextmanager
def image_serving(env: dict, *, log: Path) -> Iterator[str]:
    """The image's command (gunicorn) started with `env`, its output in `log`; yields its address once it listens."""
    with images_serving([env], logs=[log]) as (base,):
        yield base


@contextmanager
def images_serving(environments: list[dict], *, logs: list[Path]) -> Iterator[list[str]]:
    """Several instances of the image's command, started at once (one per environment, each on its own PORT)."""
    processes = []
    try:
        for env, log in zip(environments, logs, strict=True):
            with log.open("wb") as output:
                processes.append(subprocess.Popen(image_command(), cwd=REPO, env=env, stdout=output,
                                                  stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 20
        for process, env, log in zip(processes, environments, logs, strict=True):
            while True:
                if process.poll() is not None:
                    pytest.fail(f"gunicorn exited: {log.read_text()}")
                try:
                    socket.create_connection(("127.0.0.1", int(env["PORT"])), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail("gunicorn did not listen within 20 s")
                    time.sleep(0.1)
        yield [f"http://127.0.0.1:{env['PORT']}" for env in environments]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory, collected_static):
    """One start of the image's command for the module's tests: they only read pages, so none changes what the next
    one gets (each start and stop costs seconds)."""
    folder = tmp_path_factory.mktemp("gunicorn")
    env = production_env(port=free_port(), static_root=collected_static,
                         database_url=f"sqlite:///{folder / 'db.sqlite3'}")
    with image_serving(env, log=folder / "gunicorn.log") as base:
        yield base


def test_the_image_is_slim_python_311_running_as_a_non_root_user():
    assert re.search(r"^FROM python:3\.11-slim", DOCKERFILE, re.MULTILINE)
    assert re.search(r"^USER app$", DOCKERFILE, re.MULTILINE)
    assert "collectstatic --noinput" in DOCKERFILE
    assert image_command()[0] == "gunicorn"


def test_the_image_build_step_collects_static_files_with_throwaway_keys_only(tmp_path):
    instructions = DOCKERFILE.replace("\\\n", " ").splitlines()
    step = next(line for line in instructions if line.startswith("RUN ") and "collectstatic" in line)
    build_env = dict(re.findall(r"\b([A-Z_]+)=(\S+)", step.split("python manage.py collectstatic")[0]))
    assert set(build_env) == {"SECRET_KEY", "DEBUG", "TOKEN_ENCRYPTION_KEYS"}
    assert build_env["DEBUG"] == "0"
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "TOKEN_ENCRYPTION_KEYS", "DEBUG", "DEMO"}}

    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--dry-run"], cwd=REPO,
        env={**clean, **build_env, "STATIC_ROOT": str(tmp_path)}, capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "static files copied" in result.stdout


def test_the_image_command_serves_the_dashboard_behind_a_proxy(gunicorn):
    status, _, body = get(f"{gunicorn}/healthz", **{"X-Forwarded-Proto": "https"})
    assert (status, body) == (200, b"ok\n")

    status, _, page = get(f"{gunicorn}/accounts/login/", **{"X-Forwarded-Proto": "https"})
    assert status == 200 and b"Sign in" in page

    css = re.search(rb'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page).group(1).decode()
    status, headers, _ = get(f"{gunicorn}{css}", **{"Accept-Encoding": "gzip", "X-Forwarded-Proto": "https"})
    assert status == 200 and headers.get("Content-Encoding") == "gzip"


def test_the_image_command_sends_plain_http_to_https(gunicorn):
    request = urllib.request.Request(f"{gunicorn}/accounts/login/")
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(request, timeout=5)
    answer.value.close()  # else gunicorn, stopping, waits out the connection's keep-alive (2 s)
    assert answer.value.code == 301
    assert answer.value.headers["Location"].startswith("https://127.0.0.1")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
