"""Prints what reading streams costs with the product run as production runs it: gunicorn, Redis, Postmark over HTTP.

    .venv/bin/python benchmarks/stream_reads.py [--servers 10,30] [--rounds 15] [--latency 0.05] [--redis-db 15]
        [--throughput-seconds 4] [--throughput-rounds 3]

Starts the HTTP sandbox (`manage.py sandbox`) standing in for Postmark with `--latency` seconds per call, and
gunicorn twice with the Dockerfile's CMD on loopback (3 workers x 4 threads): once with the default freshness
and once with STREAMS_FRESH_SECONDS=0 (every copy stale). Both use an on-disk SQLite database in a temporary
folder and Redis database `--redis-db` (flushed before and after) as the shared cache; without Redis, each
gunicorn runs one worker and the output says so. Times are wall times measured by this client over keep-alive
connections; Postmark calls are the sandbox's request lines. Each round measures every figure (the fresh page
five times), side by side; the figures are medians over the rounds, a ratio the median of each round's ratio.
Teams of 1 server and of each `--servers` size, 10 streams per server. 20 concurrent requests for one stale
server's list page go to the default gunicorn, the copy made an hour old in the database first. Last, throughput:
10 clients, each asking for its own server's stale list page as fast as answers come, on kept-alive connections
and with a new connection per page, beside the bound the workers and threads set.
Figures, not assertions: speed is never a timed test. Exits 0 whether or not a target is met.
"""

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bootstrap import REPO, add_extra_streams, setup_django

TMP = tempfile.mkdtemp(prefix="dashboard-stream-reads-")
# The gunicorns read the same database and decrypt the tokens this process stores: same keys, same file.
RUN_ENV = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "TOKEN_ENCRYPTION_KEYS": "bench:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "DEBUG": "0",
    "DEMO": "1",  # plain HTTP on loopback
    "DATABASE_URL": f"sqlite:///{TMP}/bench.sqlite3",
    "STATIC_ROOT": f"{TMP}/static",
    "VAR_DIR": TMP,
    "LOG_LEVEL": "WARNING",
    "AUDIT_SHIP_FILE": f"{TMP}/audit.jsonl",  # the audit copy, off stdout
}
os.environ.update(RUN_ENV)
setup_django(database="default")

import httpx  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from dashboard import audit  # noqa: E402
from dashboard.access import SESSION_TEAM  # noqa: E402
from dashboard.models import Team, User  # noqa: E402
from dashboard.postmark.client import PostmarkClient, close_pools  # noqa: E402
from dashboard.services.servers import server_connect  # noqa: E402
from dashboard.services.teams import team_create  # noqa: E402
from streams.models import StreamCopy  # noqa: E402

CONCURRENT = 20
THROUGHPUT_CLIENTS = 10
FRESH_PAGES_PER_ROUND = 5
OVERVIEW_TARGETS = {10: 1.3, 30: 1.5}
FANOUT = ThreadPoolExecutor(max_workers=32, thread_name_prefix="direct-fanout")  # as POSTMARK_CONCURRENCY


# --- Processes ---------------------------------------------------------------------------------------


class SandboxLog:
    """Drains the sandbox's stderr and counts its request lines: every one outside /_sandbox/ is a Postmark call.

    A line is written just after its answer is sent, so `settled()` asks a marked control path and waits for its
    line: every call answered before the mark was sent has been counted by then.
    """

    def __init__(self, stream):
        self.calls = 0
        self.answered_at: list[float] = []  # when each call's line arrived (monotonic seconds)
        self.tail: list[str] = []
        self._marks: set[str] = set()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.tail = [*self.tail[-19:], line.rstrip()]
            found = re.search(r'"[A-Z]+ (\S+) HTTP/[\d.]+"', line)
            if not found:
                continue
            with self._changed:
                path = found.group(1)
                mark = re.search(r"[?&]mark=([\w-]+)", path)
                if mark:
                    self._marks.add(mark.group(1))
                elif not path.startswith("/_sandbox"):
                    self.calls += 1
                    self.answered_at.append(time.monotonic())
                self._changed.notify_all()

    def settled(self, url: str) -> int:
        mark = uuid.uuid4().hex
        httpx.get(f"{url}/_sandbox/faults", params={"mark": mark}, timeout=10)
        with self._changed:
            if not self._changed.wait_for(lambda: mark in self._marks, timeout=10):
                raise RuntimeError("The sandbox did not log its control request within 10 s.")
            return self.calls


def start_sandbox(tokens: list[str], cleanup: list) -> tuple[str, SandboxLog, int]:
    command = [sys.executable, "manage.py", "sandbox", "--port", "0"]
    for token in tokens:
        command += ["--token", token]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "DEBUG": "1"})
    cleanup.append((process, []))
    log = SandboxLog(process.stderr)
    line = process.stdout.readline()
    url = next((word for word in line.split() if word.startswith("http://")), None)
    if url is None:
        raise RuntimeError(f"The sandbox did not start: {line!r} {log.tail}")
    return url, log, process.pid


def dockerfile_cmd() -> tuple[list[str], int]:
    """The Dockerfile's CMD (gunicorn and its flags) and its WEB_CONCURRENCY: the way production starts."""
    text = (REPO / "Dockerfile").read_text()
    command = json.loads(re.search(r"^CMD (\[.*\])\s*$", text, re.MULTILINE).group(1))
    workers = int(re.search(r"\bWEB_CONCURRENCY=(\d+)", text).group(1))
    return command, workers


SERVER_TIME_MARK = "bench-access"
BENCH_HEADER = "x-bench-sample"


def server_times_ms(server: "Gunicorn", sample: str) -> list[float]:
    """Gunicorn's own time for each request that carried `BENCH_HEADER: sample`, from its access log."""
    times = []
    for line in server.log_path.read_text().splitlines():
        words = line.split()
        if len(words) == 4 and words[0] == SERVER_TIME_MARK and words[1] == sample and words[2] == "200":
            times.append(int(words[3]) / 1000)
    return times


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Gunicorn:
    label: str
    process: subprocess.Popen
    url: str
    log_path: Path
    workers: list[int] = field(default_factory=list)


def start_gunicorn(label: str, *, workers: int, extra_env: dict[str, str]) -> Gunicorn:
    command, _ = dockerfile_cmd()
    port = free_port()
    command = [str(Path(sys.executable).parent / command[0]), *command[1:], "--bind", f"127.0.0.1:{port}",
               # The access log says how long gunicorn itself spent on each request (microseconds): server time.
               "--access-logformat", f"{SERVER_TIME_MARK} %({{{BENCH_HEADER}}}i)s %(s)s %(D)s"]
    env = {**os.environ, **RUN_ENV, "WEB_CONCURRENCY": str(workers), "ALLOWED_HOSTS": "127.0.0.1",
           "POSTMARK_SANDBOX_ENABLED": "0", **extra_env}
    log_path = Path(TMP) / f"gunicorn-{label}.log"
    with open(log_path, "w") as log:  # the access log and gunicorn's own lines, shown if it fails
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Gunicorn(label, process, f"http://127.0.0.1:{port}", log_path)


def wait_until_serving(server: Gunicorn, workers: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn ({server.label}) exited:\n{server.log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                server.workers = children(server.process.pid)
                if len(server.workers) >= workers:
                    return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn ({server.label}) did not serve within 60 s:\n{server.log_path.read_text()[-3000:]}")


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def stop_all(started: list[tuple[subprocess.Popen, list[int]]]) -> None:
    """Terminate every process at once, then wait and kill what outlives it; the ids beside a process (gunicorn's
    workers) are ended too if they outlive their master."""
    for process, _ in started:
        if process.poll() is None:
            process.terminate()
    for process, workers in started:
        try:
            process.wait(timeout=25)  # gunicorn's --graceful-timeout is 20 s
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        for pid in workers:
            try:
                still_gunicorn = "gunicorn" in Path(f"/proc/{pid}/cmdline").read_text()
            except OSError:
                continue  # gone
            if still_gunicorn:
                os.kill(pid, signal.SIGKILL)


def redis_db(number: int):
    """A flushed Redis database for the shared cache, or None when Redis does not answer."""
    try:
        import redis

        client = redis.Redis.from_url(f"redis://127.0.0.1:6379/{number}", socket_connect_timeout=0.5)
        client.ping()
    except Exception:  # not installed, not running: the run goes on with one worker
        return None
    client.flushdb()
    return client


# --- The data: a user, teams of servers connected to the HTTP sandbox -------------------------------------


def build(sizes: list[int], tokens: list[str], sandbox_url: str) -> tuple[User, dict[int, Team]]:
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # DEBUG off: pages need the manifest
    owner = User.objects.create_user(email="owner@bench.example")
    teams, left = {}, iter(tokens)
    with override_settings(POSTMARK_API_URL=sandbox_url), audit.context(request_id="benchmark"):
        for size in sizes:
            teams[size] = team_create(actor=owner, name=f"Bench {size}")
            for i in range(size):
                token = next(left)
                server_connect(actor=owner, team=teams[size], name=f"Server {i:02d}", token=token, sandbox=False)
                postmark = PostmarkClient(token, base_url=sandbox_url)
                add_extra_streams(postmark, i)
    return owner, teams


def session_cookie(owner: User, team: Team) -> dict[str, str]:
    """A signed-in session, as the login form leaves it, already on `team` (so no page rewrites it)."""
    store = SessionStore()
    store[SESSION_KEY] = owner._meta.pk.value_to_string(owner)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = owner.get_session_auth_hash()
    store[SESSION_TEAM] = team.slug
    store.create()
    return {settings.SESSION_COOKIE_NAME: store.session_key}


# --- Measuring ---------------------------------------------------------------------------------------------


def timed_get(client: httpx.Client, url: str, sample: str = "") -> float:
    """Milliseconds for one page, which must answer 200 with no Postmark trouble shown. A `sample` name marks the
    request in gunicorn's access log, which gives its server time."""
    started = time.perf_counter()
    response = client.get(url, headers={BENCH_HEADER: sample} if sample else None)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    return elapsed


def burst(base_url: str, path: str, cookies: dict[str, str], count: int) -> tuple[float, list[int]]:
    """`count` GETs of one page at once, each on its own connection: milliseconds until the last answered, and
    the statuses."""
    clients = [httpx.Client(base_url=base_url, cookies=cookies, timeout=30) for _ in range(count)]
    for client in clients:
        client.get("/healthz")  # connect first, so the page requests leave together
    ready = threading.Barrier(count + 1)
    statuses: list[int] = []

    def fire(client: httpx.Client) -> None:
        ready.wait()
        statuses.append(client.get(path).status_code)

    threads = [threading.Thread(target=fire, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = (time.perf_counter() - started) * 1000
    for client in clients:
        client.close()
    return elapsed, sorted(statuses)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


@dataclass
class Bench:
    """What the rounds measure with: the running processes, the pages' addresses and signed-in clients."""

    sandbox_url: str
    calls: SandboxLog
    sandbox_pid: int
    fresh: Gunicorn  # default STREAMS_FRESH_SECONDS
    stale: Gunicorn  # STREAMS_FRESH_SECONDS=0
    workers: int
    redis: bool  # Redis answered: the cache (and the lock) is shared by every worker
    sizes: list[int]
    server: object  # the 1-server team's server, whose list page is measured
    list_path: str
    overview_paths: dict[int, str]
    cookies: dict[int, dict[str, str]]
    fresh_client: httpx.Client
    stale_clients: dict[int, httpx.Client]
    direct: PostmarkClient
    list_paths: list[str]  # the list page of each server of the largest team: one per throughput client
    list_cookies: dict[str, str]
    directs: list[PostmarkClient]  # one client per server of the largest team, for the fan-out floor

    def close(self) -> None:
        for client in [self.fresh_client, *self.stale_clients.values()]:
            client.close()
        close_pools()


@dataclass
class Samples:
    fresh_ms: list[float] = field(default_factory=list)
    fresh_calls: int = 0
    floor_ms: list[float] = field(default_factory=list)
    direct_ms: list[float] = field(default_factory=list)
    stale_ms: list[float] = field(default_factory=list)
    stale_ratio: list[float] = field(default_factory=list)
    stale_calls: list[int] = field(default_factory=list)
    overview_ms: dict[int, list[float]] = field(default_factory=dict)
    overview_calls: dict[int, list[int]] = field(default_factory=dict)
    overview_ratio: dict[int, list[float]] = field(default_factory=dict)
    fanout_ms: dict[int, list[float]] = field(default_factory=dict)  # N direct calls at once, no page
    burst_ms: list[float] = field(default_factory=list)
    burst_calls: list[int] = field(default_factory=list)
    burst_gaps: list[list[float]] = field(default_factory=list)
    warm_statuses: list[int] = field(default_factory=list)
    throughput: dict[str, list[float]] = field(default_factory=dict)  # pages per second, by connection kind
    single_ms: list[float] = field(default_factory=list)  # one stale list page alone, for the model's bound
    # CPU per page during the throughput part, by connection kind: milliseconds by part of the machine, per round
    throughput_cpu: dict[str, list[dict[str, float]]] = field(default_factory=dict)


def start(args, sizes: list[int], redis_client, cleanup: list) -> Bench:
    """The sandbox, the data, and the two gunicorns serving it."""
    _, production_workers = dockerfile_cmd()
    workers = production_workers if redis_client is not None else 1
    tokens = [str(uuid.uuid4()) for _ in range(sum(sizes))]
    sandbox_url, calls, sandbox_pid = start_sandbox(tokens, cleanup)
    owner, teams = build(sizes, tokens, sandbox_url)
    cache_env = {"REDIS_URL": f"redis://127.0.0.1:6379/{args.redis_db}"} if redis_client is not None else {}
    base_env = {**cache_env, "POSTMARK_API_URL": sandbox_url}
    fresh = start_gunicorn("fresh", workers=workers, extra_env=base_env)
    cleanup.append(fresh)
    stale = start_gunicorn("stale", workers=workers, extra_env={**base_env, "STREAMS_FRESH_SECONDS": "0"})
    cleanup.append(stale)
    wait_until_serving(fresh, workers)
    wait_until_serving(stale, workers)
    server = teams[1].servers.get()
    cookies = {size: session_cookie(owner, team) for size, team in teams.items()}
    return Bench(
        sandbox_url=sandbox_url, calls=calls, sandbox_pid=sandbox_pid, fresh=fresh, stale=stale, workers=workers,
        redis=redis_client is not None, sizes=sizes, server=server,
        list_path=reverse("stream_list", args=[teams[1].slug, server.pk]),
        overview_paths={size: reverse("team_home", args=[team.slug]) for size, team in teams.items()},
        cookies=cookies, fresh_client=httpx.Client(base_url=fresh.url, cookies=cookies[1], timeout=30),
        stale_clients={size: httpx.Client(base_url=stale.url, cookies=cookies[size], timeout=30) for size in sizes},
        direct=PostmarkClient(tokens[0], base_url=sandbox_url),
        list_paths=[reverse("stream_list", args=[teams[max(sizes)].slug, each.pk])
                    for each in teams[max(sizes)].servers.order_by("name")],
        list_cookies=cookies[max(sizes)],
        directs=[PostmarkClient(token, base_url=sandbox_url) for token in tokens[:max(sizes)]],
    )


def print_setting(args, bench: Bench) -> None:
    command, production_workers = dockerfile_cmd()
    flags = " ".join(command[1:])
    print(f"Python {sys.version.split()[0]}, httpx {httpx.__version__}, {os.cpu_count()} CPUs; "
          f"Postmark: the HTTP sandbox taking {args.latency * 1000:.0f} ms per call")
    if bench.redis:
        print(f"gunicorn {flags}, {bench.workers} workers (the Dockerfile's CMD), Redis db {args.redis_db} "
              f"as the cache")
    else:
        print(f"gunicorn {flags}, 1 worker: Redis is not reachable at 127.0.0.1:6379, so the cache is each "
              f"process's own memory and the lock is shared by one worker's threads only (production runs "
              f"{production_workers} workers sharing Redis)")
    print(f"SQLite on disk in a temporary folder; teams of {', '.join(map(str, bench.sizes))} server(s), 10 streams "
          f"each; {args.rounds} rounds. Times: wall time per request seen by this client over keep-alive; for the "
          f"fresh list page also gunicorn's own time per request (its access log).")
    print(f"Load average at the start: {os.getloadavg()[0]:.2f} (other work on this machine skews every time)")


def warm_up(bench: Bench) -> list[int]:
    """Every worker loads its code and templates, opens its database and Postmark connections and its fan-out pool
    (past gunicorn's 2 s keep-alive, a client reconnects to any worker). Pages go at once so that every worker gets
    some; the statuses are returned, as SQLite may turn a second concurrent writer away."""
    pages = [(bench.fresh, bench.list_path, bench.cookies[1]), (bench.stale, bench.list_path, bench.cookies[1]),
             *[(bench.stale, bench.overview_paths[size], bench.cookies[size]) for size in bench.sizes]]
    statuses = [status for server_process, path, cookie in pages
                for status in burst(server_process.url, path, cookie, bench.workers * 4)[1]]
    for client, path in [(bench.fresh_client, bench.list_path), (bench.stale_clients[1], bench.list_path),
                         *[(bench.stale_clients[size], bench.overview_paths[size]) for size in bench.sizes]]:
        timed_get(client, path)
    bench.direct.list_streams(include_archived=True)
    return statuses


def measure_fresh_list(bench: Bench, samples: Samples) -> None:
    timed_get(bench.fresh_client, bench.list_path)  # asks Postmark if the copy has aged past its 30 s
    before = bench.calls.settled(bench.sandbox_url)
    samples.fresh_ms += [timed_get(bench.fresh_client, bench.list_path, "fresh-list")
                         for _ in range(FRESH_PAGES_PER_ROUND)]
    samples.floor_ms.append(timed_get(bench.fresh_client, "/healthz"))
    samples.fresh_calls += bench.calls.settled(bench.sandbox_url) - before


def measure_stale_list(bench: Bench, samples: Samples, *, direct_first: bool) -> None:
    before = bench.calls.settled(bench.sandbox_url)
    for which in ("direct", "page") if direct_first else ("page", "direct"):
        if which == "direct":
            started = time.perf_counter()
            bench.direct.list_streams(include_archived=True)
            samples.direct_ms.append((time.perf_counter() - started) * 1000)
        else:
            samples.stale_ms.append(timed_get(bench.stale_clients[1], bench.list_path, "stale-list"))
    samples.stale_calls.append(bench.calls.settled(bench.sandbox_url) - before - 1)  # less the direct call
    samples.stale_ratio.append(samples.stale_ms[-1] / samples.direct_ms[-1])


def measure_overviews(bench: Bench, samples: Samples) -> None:
    for size in bench.sizes:
        before = bench.calls.settled(bench.sandbox_url)
        samples.overview_ms.setdefault(size, []).append(
            timed_get(bench.stale_clients[size], bench.overview_paths[size]))
        samples.overview_calls.setdefault(size, []).append(bench.calls.settled(bench.sandbox_url) - before)
    for size in bench.sizes[1:]:
        samples.overview_ratio.setdefault(size, []).append(samples.overview_ms[size][-1] / samples.overview_ms[1][-1])
    # The floor under those ratios: the same number of calls made straight with our client, all at once, as the
    # overview makes them (its own pool of threads, the client's pooled connections), with no page around them.
    for size in bench.sizes:
        started = time.perf_counter()
        list(FANOUT.map(lambda client: client.list_streams(include_archived=True), bench.directs[:size]))
        samples.fanout_ms.setdefault(size, []).append((time.perf_counter() - started) * 1000)


def measure_concurrent(bench: Bench, samples: Samples) -> None:
    """20 requests at once for one server's list page on the default gunicorn, its copy made an hour old."""
    StreamCopy.objects.filter(server=bench.server).update(fetched_at=timezone.now() - timedelta(hours=1))
    before = bench.calls.settled(bench.sandbox_url)
    elapsed, statuses = burst(bench.fresh.url, bench.list_path, bench.cookies[1], CONCURRENT)
    if statuses != [200] * CONCURRENT:
        raise RuntimeError(f"{CONCURRENT} concurrent GETs of {bench.list_path} answered {statuses}")
    samples.burst_ms.append(elapsed)
    samples.burst_calls.append(bench.calls.settled(bench.sandbox_url) - before)
    if samples.burst_calls[-1] > 1:  # how far apart the calls ended tells whether they overlapped
        ends = bench.calls.answered_at[before:]
        samples.burst_gaps.append([(later - earlier) * 1000 for earlier, later in zip(ends, ends[1:], strict=False)])


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far, from /proc (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time every CPU of this machine has spent not idle (steal by the hypervisor included), from /proc/stat."""
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_now(bench: Bench) -> dict[str, float]:
    """CPU seconds used so far by the stale gunicorn (its arbiter and workers), the sandbox, this client and the
    whole machine."""
    return {
        "gunicorn": sum(map(process_cpu_seconds, [bench.stale.process.pid, *bench.stale.workers])),
        "sandbox": process_cpu_seconds(bench.sandbox_pid),
        "client": time.process_time(),
        "machine": machine_busy_seconds(),
    }


def measure_throughput(bench: Bench, samples: Samples, seconds: float) -> None:
    """THROUGHPUT_CLIENTS clients, each asking for its own server's list page (every copy stale, so each page is a
    Postmark call) as fast as answers come, for `seconds`: once each on one kept-alive connection, once each with a
    new connection per page (`Connection: close`). Pages per second, both ways, side by side."""
    paths = (bench.list_paths * THROUGHPUT_CLIENTS)[:THROUGHPUT_CLIENTS]
    with httpx.Client(base_url=bench.stale.url, cookies=bench.list_cookies, timeout=30) as alone:
        alone.get(paths[0])
        samples.single_ms += [timed_get(alone, paths[0]) for _ in range(3)]
    for kind in ("keep-alive", "new connection each"):
        done = [0] * len(paths)
        stop_at = time.monotonic() + seconds
        start_line = threading.Barrier(len(paths) + 1)

        def client_loop(number: int, kind: str = kind, done: list[int] = done, stop_at: float = stop_at,
                        start_line: threading.Barrier = start_line) -> None:
            headers = {"Connection": "close"} if kind != "keep-alive" else {}
            with httpx.Client(base_url=bench.stale.url, cookies=bench.list_cookies, timeout=30,
                              headers=headers) as client:
                start_line.wait()
                while time.monotonic() < stop_at:
                    if client.get(paths[number]).status_code == 200:
                        done[number] += 1

        threads = [threading.Thread(target=client_loop, args=(number,)) for number in range(len(paths))]
        for thread in threads:
            thread.start()
        start_line.wait()
        started, cpu_before = time.monotonic(), cpu_now(bench)
        for thread in threads:
            thread.join()
        cpu_after = cpu_now(bench)
        samples.throughput.setdefault(kind, []).append(sum(done) / (time.monotonic() - started))
        samples.throughput_cpu.setdefault(kind, []).append(
            {part: (cpu_after[part] - cpu_before[part]) * 1000 / max(sum(done), 1) for part in cpu_after})


def report(args, bench: Bench, samples: Samples) -> None:
    median = statistics.median
    rows = []
    fresh = median(samples.fresh_ms)
    server_ms = server_times_ms(bench.fresh, "fresh-list")
    server = median(server_ms)
    print(f"\n1. List page, fresh copy (default STREAMS_FRESH_SECONDS={settings.STREAMS_FRESH_SECONDS:g}), "
          f"{len(samples.fresh_ms)} requests")
    print(f"   server time (gunicorn's own, from its access log, {len(server_ms)} requests): median {server:6.2f} ms   "
          f"p95 {p95(server_ms):6.2f} ms")
    print(f"   wall time seen by this client: median {fresh:6.2f} ms   p95 {p95(samples.fresh_ms):6.2f} ms   "
          f"Postmark calls: {samples.fresh_calls} in {len(samples.fresh_ms)} pages")
    print(f"   (the floor: GET /healthz on the same connection, no session, no template: "
          f"median {median(samples.floor_ms):6.2f} ms)")
    rows.append(("list page, fresh copy: server time", f"{server:.2f} ms", "<= 10 ms", server <= 10))
    rows.append(("list page, fresh copy: Postmark calls", f"{samples.fresh_calls}", "0", samples.fresh_calls == 0))

    ratio = median(samples.stale_ratio)
    print("\n2. List page, stale copy (STREAMS_FRESH_SECONDS=0) / one direct list_streams(include_archived=True)")
    print(f"   page median {median(samples.stale_ms):6.2f} ms   direct median {median(samples.direct_ms):6.2f} ms   "
          f"ratio (median of rounds) {ratio:.3f}   Postmark calls per page: {median(samples.stale_calls):g} "
          f"(min {min(samples.stale_calls)}, max {max(samples.stale_calls)})")
    stale_server = server_times_ms(bench.stale, "stale-list")
    print(f"   the page's server time (gunicorn's own): median {median(stale_server):6.2f} ms; the rest of its wall "
          f"time is the hop from this client to gunicorn, which a direct call does not make")
    rows.append(("list page, stale copy / direct call", f"{ratio:.3f}", "<= 1.15", ratio <= 1.15))

    print("\n3. Team overview, every copy stale (STREAMS_FRESH_SECONDS=0)")
    for size in bench.sizes:
        times, calls = samples.overview_ms[size], samples.overview_calls[size]
        line = (f"   {size:3d} server{'s' if size > 1 else ' '}   median {median(times):7.2f} ms   "
                f"p95 {p95(times):7.2f} ms   Postmark calls per page: {median(calls):g}")
        if size in samples.overview_ratio:
            line += f"   / 1 server (median of rounds): {median(samples.overview_ratio[size]):.3f}"
        print(line)
    one_call = median(samples.fanout_ms[1])
    floors = ", ".join(f"{size} at once {median(samples.fanout_ms[size]):.1f} ms "
                       f"({median(samples.fanout_ms[size]) / one_call:.2f} x one)" for size in bench.sizes[1:])
    print(f"   the floor, our client alone with no page: 1 call {one_call:.1f} ms, {floors}; the client and the "
          f"sandbox share this machine's {os.cpu_count()} CPUs with the pages")
    for size, ratios in samples.overview_ratio.items():
        target, value = OVERVIEW_TARGETS.get(size), median(ratios)
        rows.append((f"overview, {size} servers / 1 server", f"{value:.3f}",
                     f"<= {target}" if target else "-", (value <= target) if target else None))

    calls = samples.burst_calls
    exact = sum(count == 1 for count in calls)
    print(f"\n4. {CONCURRENT} concurrent requests for one server's list page, copy an hour old "
          f"(default gunicorn, {bench.workers} x 4 threads)")
    print(f"   Postmark calls per burst: median {median(calls):g}, min {min(calls)}, max {max(calls)}; "
          f"exactly 1 in {exact} of {len(calls)} rounds   burst median {median(samples.burst_ms):7.2f} ms")
    for gaps in samples.burst_gaps:
        print(f"   a burst with {len(gaps) + 1} calls: each answered {', '.join(f'{gap:.0f}' for gap in gaps)} ms "
              f"after the one before (a call takes {args.latency * 1000:.0f} ms or more: a gap that long means it "
              f"was asked after the other had ended)")
    rows.append((f"{CONCURRENT} concurrent, one stale server: Postmark calls", f"{median(calls):g} (max {max(calls)})",
                 "exactly 1 every round", exact == len(calls)))

    if samples.throughput:
        slots = min(THROUGHPUT_CLIENTS, bench.workers * 4)
        bound = slots / (median(samples.single_ms) / 1000)
        kept, fresh_each = (median(samples.throughput[kind]) for kind in ("keep-alive", "new connection each"))
        print(f"\n5. Throughput: {THROUGHPUT_CLIENTS} clients, each on its own server's list page, every copy stale "
              f"(a Postmark call per page), {args.throughput_seconds:g} s per way per round")
        print(f"   keep-alive {kept:6.1f} pages/s   new connection per page {fresh_each:6.1f} pages/s   "
              f"keep-alive / new: {kept / fresh_each:.3f}")
        print(f"   the worker and thread model's bound: {slots} requests at once ({bench.workers} workers x 4 threads, "
              f"{THROUGHPUT_CLIENTS} clients) / {median(samples.single_ms):.1f} ms for one page alone = "
              f"{bound:.1f} pages/s; reached {kept / bound:.0%} with keep-alive, {fresh_each / bound:.0%} without")
        for kind, label in (("keep-alive", "keep-alive"), ("new connection each", "new connections")):
            cpu = {part: median([each[part] for each in samples.throughput_cpu[kind]])
                   for part in samples.throughput_cpu[kind][0]}
            other = max(cpu["machine"] - cpu["gunicorn"] - cpu["sandbox"] - cpu["client"], 0)
            cap = os.cpu_count() * 1000 / cpu["machine"]
            print(f"   CPU per page, {label}: gunicorn {cpu['gunicorn']:.1f} ms, the sandbox {cpu['sandbox']:.1f} ms, "
                  f"this client {cpu['client']:.1f} ms, the rest {other:.1f} ms (Redis, the kernel, the hypervisor's "
                  f"steal): {cpu['machine']:.1f} ms of this machine's {os.cpu_count()} CPUs a page, so at most "
                  f"{cap:.0f} pages/s, {cap / bound:.0%} of the model's bound")
        rows.append(("throughput, keep-alive / new connections", f"{kept / fresh_each:.3f}", "0.90 to 1.10",
                     0.9 <= kept / fresh_each <= 1.1))
        rows.append(("throughput / the model's bound (lower way)", f"{min(kept, fresh_each) / bound:.0%}", ">= 80%",
                     min(kept, fresh_each) / bound >= 0.8))

    print(f"\nLoad average at the end: {os.getloadavg()[0]:.2f}")
    refused = sum(status != 200 for status in samples.warm_statuses)
    locked = sum(server_process.log_path.read_text().count("django.db.utils.OperationalError: database is locked")
                 for server_process in (bench.fresh, bench.stale))
    if refused or locked:
        print(f"Warm-up: {refused} of {len(samples.warm_statuses)} concurrent page requests did not answer 200; "
              f"gunicorn logged {locked} 'database is locked' error(s): SQLite refuses a second concurrent writer "
              f"of the copy")
    print(f"\n{'figure':<46} {'measured':>14}  {'target':<22} result")
    for label, value, target, met in rows:
        result = "-" if met is None else ("met" if met else "not met")
        print(f"{label:<46} {value:>14}  {target:<22} {result}")


def run(args, sizes: list[int], redis_client, cleanup: list) -> None:
    bench = start(args, sizes, redis_client, cleanup)
    try:
        print_setting(args, bench)
        httpx.post(f"{bench.sandbox_url}/_sandbox/faults", json={"latency": args.latency}, timeout=10)
        samples = Samples(warm_statuses=warm_up(bench))
        for number in range(args.rounds):  # every figure in every round, side by side
            measure_fresh_list(bench, samples)
            measure_stale_list(bench, samples, direct_first=number % 2 == 1)
            measure_overviews(bench, samples)
            measure_concurrent(bench, samples)
            if args.throughput_seconds > 0 and number < args.throughput_rounds:
                measure_throughput(bench, samples, args.throughput_seconds)
        report(args, bench, samples)
    finally:
        bench.close()


def main() -> None:
    cleanup: list = []
    redis_client = None
    try:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--servers", default="10,30", help="team sizes beside the 1-server team, comma-separated")
        parser.add_argument("--rounds", type=int, default=15)
        parser.add_argument("--latency", type=float, default=0.05, help="seconds Postmark takes per call")
        parser.add_argument("--redis-db", type=int, default=15, help="Redis database used and flushed (not 0)")
        parser.add_argument("--throughput-seconds", type=float, default=4,
                            help="seconds per way of the throughput part (0 leaves it out)")
        parser.add_argument("--throughput-rounds", type=int, default=3, help="rounds that include the throughput part")
        args = parser.parse_args()
        if args.redis_db == 0:
            parser.error("--redis-db 0 is the default database of everything else on this Redis; pick another")
        sizes = sorted({1, *(int(size) for size in args.servers.split(",") if size.strip())})
        redis_client = redis_db(args.redis_db)
        run(args, sizes, redis_client, cleanup)
    except Exception:
        for item in cleanup:  # what the servers said before the crash
            if isinstance(item, Gunicorn):
                print(f"--- gunicorn ({item.label}), end of its log:\n{item.log_path.read_text()[-4000:]}",
                      file=sys.stderr)
        raise
    finally:
        stop_all([(item.process, children(item.process.pid) or item.workers) if isinstance(item, Gunicorn)
                  else item for item in cleanup])
        if redis_client is not None:
            redis_client.flushdb()
            redis_client.close()
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
