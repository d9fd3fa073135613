"""Django set up for a benchmark script: development settings, quiet logs, the sandbox on, its own database.

Import it first thing (`from bootstrap import setup_django`); the scripts run as `python benchmarks/x.py`,
so this folder is on the import path.
"""

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def setup_django(*, database: str = "disk", temp_prefix: str = "dashboard-bench-") -> str | None:
    """`database` is "disk" (a SQLite file in a new temporary folder, returned), "memory", or "default"
    (whatever the environment says). Call it before importing anything from Django or the project."""
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    folder = None
    if database != "default":
        os.environ["POSTMARK_SANDBOX_ENABLED"] = "1"
        os.environ["ALLOWED_HOSTS"] = "testserver"
        if database == "disk":
            folder = tempfile.mkdtemp(prefix=temp_prefix)
            os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
        else:
            os.environ["DATABASE_URL"] = "sqlite://:memory:"

    import django

    django.setup()
    return folder


# (ID, name, type, archived) of the 7 streams each benchmark server gets beside its 3 defaults: Postmark's usual
# limit of 10, 2 of them archived.
EXTRA_STREAMS = [
    ("receipts", "Receipts", "Transactional", False),
    ("password-resets", "Password resets", "Transactional", False),
    ("billing-news", "Billing news", "Broadcasts", False),
    ("product-news", "Product news", "Broadcasts", False),
    ("welcome", "Welcome series", "Transactional", False),
    ("spring-sale", "Spring sale", "Broadcasts", True),
    ("old-alerts", "Old alerts", "Transactional", True),
]


def add_extra_streams(postmark, server_number: int) -> None:
    """Give one server (through its PostmarkClient) the EXTRA_STREAMS, archiving those marked archived."""
    for stream_id, name, stream_type, archived in EXTRA_STREAMS:
        postmark.create_stream(id=stream_id, name=name, stream_type=stream_type,
                               description=f"{name} for customers of server {server_number}")
        if archived:
            postmark.archive_stream(stream_id)


def median_and_p95_ms(call, rounds: int) -> tuple[float, float]:
    """Run `call` `rounds` times; its median and 95th-percentile time in milliseconds."""
    import statistics
    import time

    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]
