"""Prints what guarding server tokens costs, and the queries and time of the team pages as a team grows.

    .venv/bin/python benchmarks/team_pages.py [--servers 50] [--members 200] [--rounds 30]

Runs against a throwaway SQLite database in a temporary directory and the in-process sandbox.
Figures, not assertions: speed is never a timed test.
"""

import argparse
import statistics
import time
import uuid

from bootstrap import setup_django

_tmp = setup_django(database="disk")

from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from dashboard import audit, token_crypto  # noqa: E402
from dashboard.models import Membership, Role, User  # noqa: E402
from dashboard.postmark import sandbox  # noqa: E402
from dashboard.services.servers import server_connect  # noqa: E402
from dashboard.services.teams import team_create  # noqa: E402


def micro(label: str, rounds: int, call) -> None:
    call()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    p95 = samples[int(len(samples) * 0.95)]
    print(f"  {label:<44} median {statistics.median(samples):8.1f} µs   p95 {p95:8.1f} µs")


def page(client: Client, url: str, rounds: int) -> None:
    with override_settings(DEBUG=True):
        reset_queries()
        client.get(url)
        queries = len(connection.queries)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    samples.sort()
    print(f"  {url:<44} median {statistics.median(samples):7.2f} ms   p95 {samples[int(len(samples) * 0.95)]:7.2f} ms"
          f"   {queries} queries")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=50)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    token = str(uuid.uuid4())
    _, ciphertext = token_crypto.encrypt_token(token, team_id=1, server_id="s")
    print("Token encryption (AES-256-GCM, one token):")
    micro("encrypt", 2000, lambda: token_crypto.encrypt_token(token, team_id=1, server_id="s"))
    micro("decrypt", 2000, lambda: token_crypto.decrypt_token(ciphertext, team_id=1, server_id="s"))
    micro("fingerprints under every ring key", 2000, lambda: token_crypto.fingerprints(token))

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]), \
            audit.context(request_id="benchmark"):
        owner = User.objects.create_user(email="owner@bench.example", password="x")
        team = team_create(actor=owner, name="Bench")
        User.objects.bulk_create(User(email=f"m{i}@bench.example") for i in range(args.members))
        Membership.objects.bulk_create(Membership(team=team, user=user, role=Role.VIEWER)
                                       for user in User.objects.exclude(pk=owner.pk))
        fake = sandbox.Sandbox()
        sandbox.install(fake)
        started = time.perf_counter()
        for i in range(args.servers):
            server_token = str(uuid.uuid4())
            fake.add_server(server_token, name=f"Server {i}")
            server_connect(actor=owner, team=team, name=f"Server {i}", token=server_token, sandbox=True)
        per_connect = (time.perf_counter() - started) / args.servers * 1000
    print(f"\nConnecting a server (duplicate check, Postmark check, encrypt, save, audit): {per_connect:.2f} ms each")

    client = Client()
    client.force_login(owner)
    print(f"\nTeam pages with {args.servers} servers and {args.members + 1} members ({args.rounds} rounds each):")
    page(client, f"/t/{team.slug}/", args.rounds)
    page(client, f"/t/{team.slug}/members/", args.rounds)
    first = team.servers.order_by("name").first()
    page(client, f"/t/{team.slug}/servers/{first.pk}/", args.rounds)


if __name__ == "__main__":
    main()
