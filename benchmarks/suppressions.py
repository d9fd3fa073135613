"""Prints what a stream's suppressions page costs at 10,000 suppressions: time, queries and peak memory.

    .venv/bin/python benchmarks/suppressions.py [--suppressions 10000] [--rounds 10]

One stream holds every suppression (Postmark's dump has no paging, so each page view reads them all and shows
100). Measured through the test client against an in-memory SQLite database and the in-process sandbox, so
the times include the sandbox writing Postmark's whole answer and the client reading it. Peak Python memory
(tracemalloc) is taken for one page view and for the CSV download, which is streamed row by row.
Figures, not assertions: speed is never a timed test.
"""

import argparse
import logging
import tracemalloc
import uuid

from bootstrap import median_and_p95_ms, setup_django

setup_django(database="memory")

from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import reverse  # noqa: E402

from dashboard import audit  # noqa: E402
from dashboard.models import User  # noqa: E402
from dashboard.postmark import sandbox, sandbox_suppressions  # noqa: E402
from dashboard.services.servers import server_connect  # noqa: E402
from dashboard.services.teams import team_create  # noqa: E402

logging.getLogger("dashboard.audit.ship").disabled = True  # the audit's copy of each entry, not figures

REASONS = (("HardBounce", "Recipient"), ("SpamComplaint", "Recipient"), ("ManualSuppression", "Recipient"),
           ("ManualSuppression", "Customer"), ("ManualSuppression", "Admin"))


def seed(fake: sandbox.Sandbox, token: str, count: int) -> None:
    """`count` suppressions on outbound, written straight into the sandbox's state (seeding one by one is O(n²))."""
    with fake.changing_server(token) as (server, now):
        recipients = server.recipients
        for number in range(count):
            reason, origin = REASONS[number % len(REASONS)]
            recipients.suppressions.append(sandbox_suppressions.SuppressionRecord(
                recipients.next_id(server.id), "outbound", f"person{number:05d}@example.com", reason, origin,
                now, now))


def measure(label: str, rounds: int, call) -> None:
    call()
    with override_settings(DEBUG=True):
        reset_queries()
        call()
        queries = len(connection.queries)
    median, p95 = median_and_p95_ms(call, rounds)
    print(f"  {label:<52} median {median:8.1f} ms   p95 {p95:8.1f} ms   {queries:3d} queries")


def peak(label: str, call) -> None:
    tracemalloc.start()
    call()
    _, highest = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  {label:<52} peak Python memory {highest / 1e6:6.1f} MB (tracemalloc)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suppressions", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    fake = sandbox.Sandbox()
    sandbox.install(fake)
    token = str(uuid.uuid4())
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]), \
            audit.context(request_id="benchmark"):
        owner = User.objects.create_user(email="owner@bench.example", password="x")
        team = team_create(actor=owner, name="Acme")
        fake.add_server(token, name="Acme Production")
        server = server_connect(actor=owner, team=team, name="Acme Production", token=token, sandbox=True)
    seed(fake, token, args.suppressions)
    client = Client()
    client.force_login(owner)
    page = reverse("suppression_list", args=[team.slug, server.pk, "outbound"])
    export = reverse("suppression_export", args=[team.slug, server.pk, "outbound"])
    search = reverse("suppression_search", args=[team.slug, server.pk, "outbound"])

    def download() -> int:
        return sum(len(chunk) for chunk in client.get(export).streaming_content)

    print(f"\n{args.suppressions:,} suppressions on one stream ({args.rounds} rounds):")
    measure("suppressions page (first 100 of all)", args.rounds, lambda: client.get(page))
    measure("table only, htmx (spam complaints, last page)", args.rounds,
            lambda: client.get(page + "?reason=SpamComplaint&page=1000", HTTP_HX_REQUEST="true"))
    client.post(search, {"search": "person0999"})
    measure("page with an address search (from the session)", args.rounds, lambda: client.get(page))
    client.post(search, {"search": ""})
    measure("CSV download, every row", max(1, args.rounds // 2), download)
    size = download()
    print(f"  (the CSV is {size / 1e6:.2f} MB)")
    peak("suppressions page", lambda: client.get(page))
    peak("CSV download", download)
    lookup = reverse("recipient_lookup", args=[team.slug])
    client.post(lookup, {"email": "person00042@example.com"})
    measure("recipient lookup (every stream of the server)", args.rounds, lambda: client.get(lookup))


if __name__ == "__main__":
    main()
