"""Every shell command in the README works as written, on a fresh clone after `make install`.

The README's shell blocks are read, and each command is matched with the way it is tried here: run to
its end, or started until it serves and then stopped. A command this file does not know fails the
suite, and so does one this file knows that the README dropped, so the two cannot drift apart. Each
runs in the environment of a new shell: none of the settings the suite itself runs under (no
SECRET_KEY, no key ring, no DATABASE_URL), exactly as a person who just cloned the project has.
The manage.py commands the README names in its prose are checked against the commands' own options.
"""

import os
import re
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
from django.core.management import get_commands, load_command_class

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
START_SECONDS = 240  # a bound, not a wait: the demo migrates a new database and seeds it before it serves
STOP_SECONDS = 10

# Variables a fresh shell does not have; the suite runs with some of them set (pytest-env, .ci/run).
PROJECT_VARIABLES = {
    "DEBUG", "DEMO", "SECRET_KEY", "TOKEN_ENCRYPTION_KEYS", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS", "DJANGO_SETTINGS_MODULE", "SECURE_SSL_REDIRECT", "VAR_DIR", "REQUIRE_SERVICES",
    "REQUIRE_BROWSER", "DJANGO_ALLOW_ASYNC_UNSAFE",
}

# Run to the end: each benchmark prints figures. With its own options for the fewest rounds, so the
# suite checks that it runs rather than timing anything (the full run of audit_log.py takes minutes).
BENCHMARKS = {
    ".venv/bin/python benchmarks/postmark_client.py": "--calls 3",
    ".venv/bin/python benchmarks/team_pages.py": "--servers 2 --members 3 --rounds 1",
    ".venv/bin/python benchmarks/stream_pages.py": "--servers 1 --rounds 1 --latency 0",
    ".venv/bin/python benchmarks/audit_log.py": "--events 300 --rounds 1 --depth 2",
    ".venv/bin/python benchmarks/stream_reads.py": (
        "--servers 10 --rounds 2 --throughput-seconds 1 --throughput-rounds 1"),
    ".venv/bin/python benchmarks/suppressions.py": "--suppressions 200 --rounds 1",
    ".venv/bin/python benchmarks/stream_activity.py": "--rounds 1 --latency 0",
}
DEMO = "make demo"
SANDBOX = ".venv/bin/python manage.py sandbox --port 8025 --token my-test-token --state var/postmark-sandbox.json"
DEMO_ON_SANDBOX = "POSTMARK_API_URL=http://127.0.0.1:8025 make demo"
# Not run here, with the reason.
NOT_RUN_HERE = {
    "make test": "it is the command running this test",
}
TRIED_HERE = {*BENCHMARKS, DEMO, SANDBOX, DEMO_ON_SANDBOX, *NOT_RUN_HERE}


def readme_commands() -> list[str]:
    """The commands in the README's sh blocks, one a line, without their trailing comments."""
    text = README.read_text()
    commands = []
    for block in re.findall(r"^ *```(?:sh|bash|shell)\n(.*?)^ *```", text, flags=re.MULTILINE | re.DOTALL):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def fresh_shell() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name not in PROJECT_VARIABLES}


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def needs_port(port: int) -> None:
    deadline = time.monotonic() + STOP_SECONDS  # the previous test's server may still be closing its socket
    while port_in_use(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not port_in_use(port):
        return
    message = f"port {port} is already in use on 127.0.0.1, and the README's command listens on it"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message + " (is `make demo` running?)")


@contextmanager
def started(command: str, log: Path) -> Iterator[subprocess.Popen]:
    """Runs `command` in bash in the checkout; afterwards stops it and everything it started."""
    with log.open("w") as output:
        process = subprocess.Popen(
            ["bash", "-c", command], cwd=REPO, env=fresh_shell(), stdout=output, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        yield process
    finally:
        for sent in (signal.SIGTERM, signal.SIGKILL):
            if process.poll() is not None:
                break
            os.killpg(process.pid, sent)
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                continue
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # runserver's reloader child outlives its parent


def wait_until_served(url: str, process: subprocess.Popen, log: Path) -> httpx.Response:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the command ended (exit {process.returncode}) before serving {url}:\n{log.read_text()}")
        try:
            return httpx.get(url, timeout=2, trust_env=False)
        except httpx.TransportError:
            time.sleep(0.2)  # polling a process that is starting up: there is no clock to advance
    pytest.fail(f"nothing answered {url} within {START_SECONDS} s:\n{log.read_text()}")


def test_every_shell_command_in_the_readme_is_tried_here():
    commands = readme_commands()

    assert len(commands) == len(set(commands)), "the README repeats a command"
    assert set(commands) == TRIED_HERE, (
        f"new in the README, say here how to try it: {sorted(set(commands) - TRIED_HERE)}; "
        f"no longer in the README: {sorted(TRIED_HERE - set(commands))}"
    )


def test_the_readme_points_at_nothing_outside_the_repository():
    links = re.findall(r"\]\(([^)#]+)[^)]*\)|src=\"([^\"]+)\"", README.read_text())
    for link in (first or second for first, second in links):
        if link.startswith(("http://", "https://", "mailto:")):
            continue
        assert (REPO / link).resolve().is_relative_to(REPO), link
        assert (REPO / link).exists(), f"the README links {link}, which is not in the repository"
    assert "../" not in README.read_text()


@pytest.mark.socket
@pytest.mark.parametrize("command", BENCHMARKS)
def test_each_benchmark_in_the_readme_runs_and_prints_figures(command):
    finished = subprocess.run(
        ["bash", "-c", f"{command} {BENCHMARKS[command]}"], cwd=REPO, env=fresh_shell(), capture_output=True,
        text=True, timeout=300, stdin=subprocess.DEVNULL,
    )

    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert re.search(r"\d+(\.\d+)? ?(ms|µs|s)\b", finished.stdout), finished.stdout


@pytest.mark.socket
def test_make_demo_serves_the_dashboard_with_its_sign_in_page(tmp_path):
    needs_port(8000)
    log = tmp_path / "demo.log"

    with started(DEMO, log) as process:
        health = wait_until_served("http://127.0.0.1:8000/healthz", process, log)
        sign_in = httpx.get("http://127.0.0.1:8000/", follow_redirects=True, timeout=10, trust_env=False)

    assert (health.status_code, health.text.strip()) == (200, "ok")
    assert sign_in.status_code == 200
    assert "Sign in" in sign_in.text
    assert "streams-demo" in log.read_text()  # the demo says how to sign in


@pytest.mark.socket
def test_the_readme_sandbox_serves_postmarks_official_python_sdk_and_the_demo_runs_against_it(tmp_path):
    from postmark.exceptions import PostmarkAPIException
    from postmark.models.streams.enums import MessageStreamType, UnsubscribeHandlingType
    from postmark.sync import ServerClient

    needs_port(8025)
    needs_port(8000)
    (REPO / "var" / "postmark-sandbox.json").unlink(missing_ok=True)  # the token's streams start as new
    sandbox_log, demo_log = tmp_path / "sandbox.log", tmp_path / "demo.log"

    with started(SANDBOX, sandbox_log) as sandbox:
        wait_until_served("http://127.0.0.1:8025/message-streams", sandbox, sandbox_log)
        with ServerClient("my-test-token", base_url="http://127.0.0.1:8025", retries=0) as client:
            defaults = client.stream.list()
            created = client.stream.create(
                "billing-news", "Billing news", MessageStreamType.BROADCASTS, description="Monthly invoices",
            )
            with pytest.raises(PostmarkAPIException) as duplicate:
                client.stream.create("billing-news", "Again", MessageStreamType.BROADCASTS)
            edited = client.stream.edit("billing-news", name="Billing")
            archived = client.stream.archive("billing-news")
            with_archived = client.stream.list(include_archived=True)
            restored = client.stream.unarchive("billing-news")
        with started(DEMO_ON_SANDBOX, demo_log) as demo:
            health = wait_until_served("http://127.0.0.1:8000/healthz", demo, demo_log)

    assert [stream.id for stream in defaults.items] == ["outbound", "inbound", "broadcast"]
    assert defaults.total == 3
    assert created.subscription_management_configuration.unsubscribe_handling_type == UnsubscribeHandlingType.POSTMARK
    assert (duplicate.value.error_code, duplicate.value.http_status) == (1230, 422)
    assert edited.name == "Billing" and edited.updated_at is not None
    assert (archived.expected_purge_date - edited.updated_at).days in (44, 45)
    assert [s.id for s in with_archived.items if s.archived_at] == ["billing-news"]
    assert restored.archived_at is None and restored.expected_purge_date is None
    assert "my-test-token" not in sandbox_log.read_text()  # only its last four characters, at most
    assert (health.status_code, health.text.strip()) == (200, "ok")


def inline_manage_commands() -> list[list[str]]:
    """`python manage.py ...` commands the README names in its prose, as argument lists."""
    found = re.findall(r"`(?:[A-Z_]+=\S+ )*(?:\.venv/bin/)?python manage\.py ([^`]+)`", README.read_text())
    return [shlex.split(arguments) for arguments in found]


def test_the_readme_names_manage_py_commands_that_exist_with_options_they_take():
    commands = inline_manage_commands()
    known = get_commands()

    assert len(commands) >= 5, commands  # the deployment steps, key rotation and the audit log's commands
    for name, *options in commands:
        assert name in known, f"the README names `manage.py {name}`, which does not exist"
        command = load_command_class(known[name], name)
        command.create_parser("manage.py", name).parse_args(options)  # exits (fails the test) on an unknown option
