"""Prints what a stream's activity costs: the stream page with the statistics cached and not, the section, and
the sparklines the server's list fetches after it renders.

    .venv/bin/python benchmarks/stream_activity.py [--rounds 20] [--latency 0.05]

One server with the benchmark streams (bootstrap.py) and a year of synthetic traffic, in an in-memory SQLite
database and the in-process sandbox. "Uncached" empties the cache before each request, so the activity
section asks Postmark for its three daily series (side by side); "cached" finds them in the cache. The stream
page itself never waits for statistics it has not got: without them it draws a placeholder that htmx fills.
The last part gives Postmark `--latency` seconds per call.
Figures, not assertions: speed is never a timed test.
"""

import argparse
import logging
import statistics
import time
import uuid

from bootstrap import add_extra_streams, setup_django

setup_django(database="memory")

from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import reverse  # noqa: E402

from dashboard import audit  # noqa: E402
from dashboard.models import User  # noqa: E402
from dashboard.postmark import sandbox  # noqa: E402
from dashboard.postmark.client import SANDBOX_URL, PostmarkClient  # noqa: E402
from dashboard.services.servers import server_connect  # noqa: E402
from dashboard.services.teams import team_create  # noqa: E402

STREAM = "receipts"


def measure(label: str, rounds: int, url: str, client: Client, *, cached: bool, htmx: bool = False) -> None:
    headers = {"HX-Request": "true"} if htmx else {}
    client.get(url, headers=headers)  # warm-up, and the cache filled for the cached runs
    samples = []
    for _ in range(rounds):
        if not cached:
            cache.clear()
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    print(f"  {label:<52} median {statistics.median(samples):7.2f} ms   p95 {p95:7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds Postmark takes per call, last part")
    args = parser.parse_args()

    logging.getLogger("dashboard.audit.ship").disabled = True  # it would print every entry
    call_command("migrate", verbosity=0)
    fake = sandbox.Sandbox()
    sandbox.install(fake)
    token = str(uuid.uuid4())
    fake.add_server(token, name="Bench", traffic=True)
    add_extra_streams(PostmarkClient(token, base_url=SANDBOX_URL), 0)
    with (
        override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]),
        audit.context(request_id="benchmark"),
    ):
        owner = User.objects.create_user(email="owner@bench.example", password="x")
        team = team_create(actor=owner, name="Bench")
        server = server_connect(actor=owner, team=team, name="Bench", token=token, sandbox=True)
    client = Client()
    client.force_login(owner)
    args_of = [team.slug, server.pk, STREAM]
    detail, section = reverse("stream_detail", args=args_of), reverse("stream_activity", args=args_of)
    listing = reverse("stream_list", args=[team.slug, server.pk])
    sparklines = reverse("server_sparklines", args=[team.slug, server.pk])

    for latency in sorted({0.0, args.latency}):
        fake.set_faults(latency=latency)
        print(f"\nPostmark taking {latency * 1000:.0f} ms per call ({args.rounds} rounds):")
        for days in (7, 30, 90):
            measure(
                f"stream page, {days} days, statistics cached",
                args.rounds,
                f"{detail}?days={days}",
                client,
                cached=True,
            )
            measure(
                f"stream page, {days} days, statistics not cached",
                args.rounds,
                f"{detail}?days={days}",
                client,
                cached=False,
            )
            measure(
                f"activity section (htmx), {days} days, not cached",
                args.rounds,
                f"{section}?days={days}",
                client,
                cached=False,
                htmx=True,
            )
            measure(
                f"activity section (htmx), {days} days, cached",
                args.rounds,
                f"{section}?days={days}",
                client,
                cached=True,
                htmx=True,
            )
        print("  the server's stream list and its sparklines (7 active sending streams: 21 Postmark calls uncached)")
        measure("stream list page (the sparklines come after it)", args.rounds, listing, client, cached=True)
        measure("sparklines (htmx), not cached", args.rounds, sparklines, client, cached=False, htmx=True)
        measure("sparklines (htmx), cached", args.rounds, sparklines, client, cached=True, htmx=True)
    fake.clear_faults()


if __name__ == "__main__":
    main()
