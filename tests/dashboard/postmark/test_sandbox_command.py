"""`manage.py sandbox` as an operator runs it: a real process, a real socket, a restart on --state."""

import os
import re
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.socket

REPO = Path(__file__).resolve().parents[3]
TOKEN = "7f3e9b2a-0000-4000-8000-made-up-token-cafe"
STARTUP_SECONDS = 10  # a bound, not a sleep: the first line usually comes in well under a second
STOP_SECONDS = 5


@dataclass
class Running:
    process: subprocess.Popen
    first_line: str
    base_url: str
    log: Path

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"X-Postmark-Server-Token": token} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=STOP_SECONDS, trust_env=False)


def read_first_line(process: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            return process.stdout.readline()
        if process.poll() is not None:
            break
    pytest.fail(f"manage.py sandbox printed nothing (exit {process.poll()}):\n{log.read_text()}")


def wait_for_line(log: Path, text: str) -> None:
    deadline = time.monotonic() + STOP_SECONDS
    while text not in log.read_text():
        if time.monotonic() > deadline:
            pytest.fail(f"the sandbox never logged {text!r}:\n{log.read_text()}")
        time.sleep(0.02)  # another process is writing: nothing here to advance instead


def stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_SECONDS)
    return process.returncode


@pytest.fixture
def start_sandbox(tmp_path):
    """Starts `manage.py sandbox --port 0 ...`; every process it started is stopped afterwards."""
    processes = []

    def start(*arguments: str) -> Running:
        log = tmp_path / f"sandbox-{len(processes)}.log"
        with log.open("w") as log_file:
            process = subprocess.Popen(
                [sys.executable, "manage.py", "sandbox", "--port", "0", *arguments],
                cwd=REPO,
                env={**os.environ, "DEBUG": "1"},
                stdout=subprocess.PIPE,
                stderr=log_file,
                text=True,
            )
        processes.append(process)
        line = read_first_line(process, log)
        port = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert port, line
        return Running(process, line, f"http://127.0.0.1:{port.group(1)}", log)

    try:
        yield start
    finally:
        for process in processes:
            stop(process)
            process.stdout.close()


def test_the_command_serves_postmark_over_loopback_and_keeps_streams_across_a_restart(
    start_sandbox, tmp_path
):
    state = tmp_path / "state.json"
    first = start_sandbox("--token", TOKEN, "--state", str(state))

    with first.client() as client:
        assert [s["ID"] for s in client.get("/message-streams").json()["MessageStreams"]] == [
            "outbound", "inbound", "broadcast",
        ]
        body = {"ID": "billing", "Name": "Billing", "MessageStreamType": "Transactional"}
        assert client.post("/message-streams", json=body).status_code == 200
        duplicate = client.post("/message-streams", json=body)
    assert (duplicate.status_code, duplicate.json()["ErrorCode"]) == (422, 1230)
    assert duplicate.headers["X-PM-ApiErrorCode"] == "1230"
    assert stop(first.process) == 0
    assert "stopped" in first.process.stdout.read()

    second = start_sandbox("--token", TOKEN, "--state", str(state))

    with second.client() as client:
        assert client.get("/message-streams/billing").json()["Name"] == "Billing"
    server_id = re.search(r"ServerID (\d+)", first.first_line).group(1)
    assert f"ServerID {server_id} " in second.first_line


def test_the_command_never_shows_a_token_in_its_output_or_request_log(start_sandbox):
    running = start_sandbox("--token", TOKEN, "--token", "0a1b2c3d-0000-4000-8000-second-fake-beef")

    with running.client(token=None) as client:
        refused = client.get("/message-streams")
    with running.client() as client:
        assert client.get("/message-streams", headers={"X-Extra-Header": "visible?"}).status_code == 200
    # The server writes its request line after it has answered: wait for it rather than stop before it.
    wait_for_line(running.log, '"GET /message-streams HTTP/1.1" 200')
    stop(running.process)

    assert (refused.status_code, refused.json()["ErrorCode"]) == (401, 10)
    assert TOKEN not in running.first_line
    servers = r'ServerID \d+ \(token ending "cafe"\), ServerID \d+ \(token ending "beef"\)'
    assert re.search(servers, running.first_line)
    log = running.log.read_text()
    assert '"GET /message-streams HTTP/1.1" 200' in log
    assert TOKEN not in log and "visible?" not in log and "X-Postmark" not in log


def test_the_command_refuses_to_listen_beyond_loopback():
    finished = subprocess.run(
        [sys.executable, "manage.py", "sandbox", "--host", "0.0.0.0", "--token", TOKEN],
        cwd=REPO, env={**os.environ, "DEBUG": "1"}, capture_output=True, text=True, timeout=STARTUP_SECONDS,
    )

    assert finished.returncode != 0
    assert "loopback" in finished.stderr
    assert TOKEN not in finished.stdout + finished.stderr


def test_the_command_keeps_a_connection_alive_across_requests_as_postmark_does(start_sandbox):
    """A pooled client (ours keeps its connections) pays for one connection, not one per call: reads, a write
    with a body and a refusal all go over the same socket, and each answer is whole."""
    import http.client
    import json

    running = start_sandbox("--token", TOKEN)
    port = int(running.base_url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=STOP_SECONDS)
    headers = {"X-Postmark-Server-Token": TOKEN, "Accept": "application/json", "Content-Type": "application/json"}
    answers = []
    body = json.dumps({"ID": "billing", "Name": "Billing", "MessageStreamType": "Transactional"})
    for method, path, payload in (("GET", "/message-streams", None), ("POST", "/message-streams", body),
                                  ("POST", "/message-streams", body), ("GET", "/message-streams/billing", None)):
        connection.request(method, path, body=payload, headers=headers)
        if not answers:
            first_socket = connection.sock
        response = connection.getresponse()
        answers.append((response.status, json.loads(response.read()), response.getheader("Connection")))
        assert connection.sock is first_socket  # not closed and reopened
    connection.close()

    assert [status for status, _, _ in answers] == [200, 200, 422, 200]
    assert answers[2][1]["ErrorCode"] == 1230 and answers[3][1]["Name"] == "Billing"
    assert all(header != "close" for _, _, header in answers)
