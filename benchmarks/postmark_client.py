"""Prints how fast the Postmark client lists a server's streams, and whether it leaks memory.

    .venv/bin/python benchmarks/postmark_client.py [--calls 300]

Three paths: the in-process sandbox (what the demo and tests use), the sandbox over loopback HTTP
through the shared keep-alive pool (what production does with Postmark), and the same with a new
connection per call (what the pool saves). Figures, not assertions: speed is never a timed test.
"""

import argparse
import gc
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc

from bootstrap import REPO, setup_django

setup_django(database="default")

import httpx  # noqa: E402

from dashboard.postmark import sandbox as sandbox_module  # noqa: E402
from dashboard.postmark.client import SANDBOX_URL, PostmarkClient, close_pools  # noqa: E402

TOKEN = "benchmark-token-0000-not-real"


def timed(calls: int, make_call) -> list[float]:
    make_call()  # warm up: first connection, imports, pool creation
    durations = []
    for _ in range(calls):
        started = time.perf_counter()
        make_call()
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def report(label: str, durations: list[float]) -> None:
    ordered = sorted(durations)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(
        f"{label:<42} median {statistics.median(ordered):6.2f} ms   p95 {p95:6.2f} ms   "
        f"max {ordered[-1]:6.2f} ms   ({len(ordered)} calls)"
    )


def seeded_streams(client: PostmarkClient) -> None:
    for number in range(7):  # 10 streams in all: a full server
        client.create_stream(id=f"bench-{number}", name=f"Benchmark stream {number}", stream_type="Broadcasts")


def in_process(calls: int) -> None:
    sandbox = sandbox_module.Sandbox()
    sandbox.add_server(TOKEN)
    sandbox_module.install(sandbox)
    client = PostmarkClient(TOKEN, base_url=SANDBOX_URL)
    seeded_streams(client)
    report("in-process sandbox, list 10 streams", timed(calls, client.list_streams))

    # Steady state: after a warm-up round (worker threads start lazily), memory must stay flat.
    tracemalloc.start()
    rounds = []
    for _ in range(4):
        for _ in range(calls):
            client.list_streams(include_archived=True)
        gc.collect()
        rounds.append(tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    growth = (rounds[-1] - rounds[1]) / 1024
    label = f"in-process memory, rounds 2-4 of {calls} calls"
    print(f"{label:<42} {growth:+.1f} KiB traced (flat = no leak)")


def start_http_sandbox() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "manage.py", "sandbox", "--port", "0", "--token", TOKEN],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "DEBUG": "1"},
    )
    line = process.stdout.readline()
    url = next(word for word in line.split() if word.startswith("http://"))
    return process, url


def over_loopback(calls: int) -> None:
    process, url = start_http_sandbox()
    try:
        pooled = PostmarkClient(TOKEN, base_url=url)
        seeded_streams(pooled)
        report("loopback HTTP, shared keep-alive pool", timed(calls, pooled.list_streams))

        def fresh_connection():
            client = PostmarkClient(TOKEN, base_url=url, transport=httpx.HTTPTransport())
            try:
                client.list_streams()
            finally:
                client.close()

        report("loopback HTTP, new connection per call", timed(calls, fresh_connection))
    finally:
        process.terminate()
        process.wait(timeout=10)
        close_pools()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    calls = parser.parse_args().calls
    print(f"Python {sys.version.split()[0]}, httpx {httpx.__version__}, {os.cpu_count()} CPUs")
    in_process(calls)
    over_loopback(calls)
    max_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'peak resident memory of this process':<42} {max_rss_mib:.1f} MiB")


if __name__ == "__main__":
    main()
