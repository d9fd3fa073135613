"""Prints what the stream pages cost as a team grows: time, database queries and Postmark calls.

    .venv/bin/python benchmarks/stream_pages.py [--servers 1,10,30] [--rounds 20] [--latency 0.05]

Each server has 10 streams (Postmark's usual limit: the 3 defaults and 7 more, 2 of them archived).
Runs against an in-memory SQLite database and the in-process sandbox. Postmark calls are counted with a
handler on the `dashboard.postmark` logger (the client logs one line per conversation with Postmark).
Pages are measured with each server's last-known copy fresh (no Postmark call) and stale (one call per
server). The last part gives Postmark 50 ms per call with every copy stale, to show that the overview asks
for all its servers at once.
Timed as production serves pages: DEBUG off (no query log, cached templates, hashed static files from a
manifest collected for the run), with made-up keys; DEMO keeps plain HTTP. Queries are counted on a run of their
own, which the timed rounds do not pay for.
Figures, not assertions: speed is never a timed test.
"""

import argparse
import base64
import logging
import os
import secrets
import statistics
import tempfile
import time
import uuid

from bootstrap import add_extra_streams, setup_django

os.environ.update({
    "DEBUG": "0",
    "DEMO": "1",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "TOKEN_ENCRYPTION_KEYS": "bench:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "STATIC_ROOT": tempfile.mkdtemp(prefix="dashboard-stream-pages-static-"),
})
setup_django(database="memory")

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from dashboard import audit  # noqa: E402
from dashboard.models import Team, User  # noqa: E402
from dashboard.postmark import sandbox  # noqa: E402
from dashboard.postmark.client import SANDBOX_URL, PostmarkClient  # noqa: E402
from dashboard.services.servers import server_connect  # noqa: E402
from dashboard.services.teams import team_create  # noqa: E402
from streams import last_known, services  # noqa: E402

SEARCH = {"type": "broadcasts", "archived": "1", "q": "news", "sort": "created"}


class PostmarkCalls(logging.Handler):
    """Counts the client's log lines, one per conversation with Postmark (retries included in one)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Postmark "):
            self.count += 1


CALLS = PostmarkCalls()
_postmark_logger = logging.getLogger("dashboard.postmark")
_postmark_logger.setLevel(logging.INFO)
_postmark_logger.propagate = False  # counted, not printed
_postmark_logger.addHandler(CALLS)


def measure(label: str, rounds: int, call) -> None:
    """Median and p95 time of `call`, and the queries and Postmark calls of one run (after a warm-up)."""
    call()
    with CaptureQueriesContext(connection) as captured:  # a run of its own: the timed ones record nothing
        CALLS.count = 0
        call()
        queries, calls = len(captured.captured_queries), CALLS.count
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    print(f"  {label:<46} median {statistics.median(samples):7.2f} ms   p95 {p95:7.2f} ms"
          f"   {queries:3d} queries   {calls:3d} Postmark calls")


def page(client: Client, url: str, *, post: dict | None = None, htmx: bool = False, before=None):
    headers = {"HX-Request": "true"} if htmx else {}

    def get():
        if before is not None:
            before()
        response = client.post(url, post, headers=headers) if post is not None else client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.status_code)

    return get


def build_team(owner: User, size: int, fake: sandbox.Sandbox) -> Team:
    team = team_create(actor=owner, name=f"Bench {size}")
    for i in range(size):
        token = str(uuid.uuid4())
        fake.add_server(token, name=f"Server {i:02d}")
        server_connect(actor=owner, team=team, name=f"Server {i:02d}", token=token, sandbox=True)
        postmark = PostmarkClient(token, base_url=SANDBOX_URL)
        add_extra_streams(postmark, i)
    return team


def own_time(owner: User, fake: sandbox.Sandbox, team: Team, client: Client, rounds: int) -> None:
    """Our own time for a server's list page with archived streams shown: the copy is fresh, so Postmark is not
    asked and every millisecond is ours (middleware, session, view, template). 10 streams and 50 (Postmark
    support raises the limit of 10 on request)."""
    token = str(uuid.uuid4())
    fake.add_server(token, name="Fifty streams", max_streams=50)
    with audit.context(request_id="benchmark"):
        big = server_connect(actor=owner, team=team, name="Fifty streams", token=token, sandbox=True)
    postmark = PostmarkClient(token, base_url=SANDBOX_URL)
    add_extra_streams(postmark, 99)
    for number in range(40):
        postmark.create_stream(id=f"campaign-{number}", name=f"Campaign {number}", stream_type="Broadcasts",
                               description=f"Campaign number {number} for the spring season")
        if number % 5 == 0:
            postmark.archive_stream(f"campaign-{number}")
    small = team.servers.exclude(pk=big.pk).order_by("name").first()
    print(f"\nOur own time per list page (archived shown, copy fresh: no Postmark call; {rounds * 5} requests):")
    for server, count in ((small, 10), (big, 50)):
        url = reverse("stream_list", args=[team.slug, server.pk]) + "?archived=1"
        measure(f"stream list, {count} streams", rounds * 5, page(client, url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="1,10,30", help="team sizes, in servers, comma-separated")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds Postmark takes per call, last part")
    args = parser.parse_args()
    sizes = [int(size) for size in args.servers.split(",")]

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # DEBUG off: pages need the manifest
    print(f"Timed with DEBUG {'on' if settings.DEBUG else 'off'} and "
          f"{settings.STORAGES['staticfiles']['BACKEND'].rsplit('.', 1)[-1]}, as production serves pages; "
          "queries counted on a run of their own.")
    fake = sandbox.Sandbox()
    sandbox.install(fake)
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]), \
            audit.context(request_id="benchmark"):
        owner = User.objects.create_user(email="owner@bench.example", password="x")
        teams = {size: build_team(owner, size, fake) for size in sizes}
    client = Client()
    client.force_login(owner)

    for size, team in teams.items():
        server = team.servers.order_by("name").first()
        print(f"\n{size} server{'s' if size > 1 else ''}, 10 streams each ({args.rounds} rounds):")
        print(" services")
        measure("team_overview", args.rounds, lambda team=team: services.team_overview(team=team))
        measure("stream_list (type, archived, search, sort)", args.rounds,
                lambda server=server: services.stream_list(server=server, stream_type="broadcasts",
                                                           include_archived=True, search="news", sort="created"))
        measure("stream_get", args.rounds, lambda server=server: services.stream_get(server=server,
                                                                                     stream_id="billing-news"))
        measure("stream_ids_on_server (from the fresh copy)", args.rounds,
                lambda server=server: services.stream_ids_on_server(server=server))
        with override_settings(STREAMS_FRESH_SECONDS=0):
            measure("team_overview (every copy stale)", args.rounds,
                    lambda team=team: services.team_overview(team=team))
            measure("stream_list (copy stale)", args.rounds,
                    lambda server=server: services.stream_list(server=server))
        # Postmark listing just what every copy holds: written down after the page, as one UPDATE of the moments,
        # beside the whole take-in (read, merge, rewrite) that an answer with a change gets. One moment for every
        # run, so each run finds the copies as it left them.
        moment = timezone.now()
        answers = [(each, copy.streams, moment) for each in team.servers.all()
                   for copy in [last_known.load(each)]]
        read_at = {each.pk: moment for each, _, _ in answers}
        measure("write down unchanged answers (after the page)", args.rounds,
                lambda answers=answers, read_at=read_at, moment=moment:
                last_known.take_unchanged_lists(answers, read_at, now=moment))
        measure("the whole take-in of the same answers", args.rounds,
                lambda answers=answers, moment=moment: last_known.take_lists(answers, now=moment))
        print(" pages")
        slug, pk = team.slug, server.pk
        measure("team overview", args.rounds, page(client, reverse("team_home", args=[slug])))
        list_url = reverse("stream_list", args=[slug, pk])
        measure("stream list", args.rounds, page(client, list_url))
        query = "&".join(f"{key}={value}" for key, value in SEARCH.items())
        measure("stream list, filtered and searched (htmx)", args.rounds,
                page(client, f"{list_url}?{query}", htmx=True))
        measure("stream page", args.rounds, page(client, reverse("stream_detail", args=[slug, pk, "billing-news"])))
        check_url = reverse("stream_create_check", args=[slug, pk])
        typed = {"name": "Billing news", "stream_id": "billing-news", "stream_type": "Broadcasts",
                 "touched": "name stream_id"}
        measure("create check (htmx, IDs from the fresh copy)", args.rounds,
                page(client, check_url, htmx=True, post=typed))
        with override_settings(STREAMS_FRESH_SECONDS=0):
            measure("team overview (every copy stale)", args.rounds, page(client, reverse("team_home", args=[slug])))
            measure("stream list (copy stale)", args.rounds, page(client, list_url))
            measure("create check (htmx, copy stale)", args.rounds, page(client, check_url, htmx=True, post=typed))

    own_time(owner, fake, teams[sizes[0]], client, args.rounds)

    print(f"\nPostmark taking {args.latency * 1000:.0f} ms per call, every copy stale: the overview asks for "
          "all its servers at once")
    fake.set_faults(latency=args.latency)
    stale = override_settings(STREAMS_FRESH_SECONDS=0)
    stale.enable()
    try:
        for size, team in teams.items():
            url = reverse("team_home", args=[team.slug])
            client.get(url)
            samples = []
            for _ in range(max(3, args.rounds // 4)):
                started = time.perf_counter()
                client.get(url)
                samples.append(time.perf_counter() - started)
            median = statistics.median(samples)
            print(f"  team overview, {size:2d} server{'s' if size > 1 else ' '}   median {median * 1000:7.1f} ms"
                  f"   one after another: {size * args.latency * 1000:6.0f} ms"
                  f"   all at once: {args.latency * 1000:4.0f} ms")
    finally:
        stale.disable()
        fake.clear_faults()


if __name__ == "__main__":
    main()
