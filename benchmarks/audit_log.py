"""Prints what reading a large audit log costs: the first page, filtered pages, deep pages and the export.

    .venv/bin/python benchmarks/audit_log.py [--events 200000] [--rounds 15] [--depth 200]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dashboard .venv/bin/python benchmarks/audit_log.py

Seeds `--events` entries for one team (Acme) over 400 days, plus a tenth as many sign-ins of its members and
another team's entries, into an on-disk SQLite database in a temporary directory, or, when DATABASE_URL names a
PostgreSQL database, into a new database beside it (its name plus "_audit_bench", dropped at the end; the one
DATABASE_URL names is never touched). Entries go in through
`audit.record_many`, so they are checked, hash-chained and numbered as `audit.record` would do them; the
shipping logger is switched off (it would print every entry). Then, as an admin of Acme, with DEBUG off as in
production (the output says which settings it measured under; queries are counted on a run of their own):
the time and queries of the first page, filtered pages, a page 200 "Older entries" clicks deep and a page
from a year ago, and the rows per second and peak Python memory of exporting everything.
Figures, not assertions: speed is never a timed test.
"""

import argparse
import base64
import logging
import os
import random
import secrets
import shutil
import statistics
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta

from bootstrap import setup_django

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
if ON_POSTGRES:  # the environment's database, with what the "disk" mode sets for a benchmark
    os.environ["POSTMARK_SANDBOX_ENABLED"] = "1"
    os.environ["ALLOWED_HOSTS"] = "testserver"
# Pages are timed as production serves them: DEBUG off (no query log, cached templates, hashed static files from
# the manifest), with made-up keys. DEMO only keeps plain HTTP (no HTTPS redirect) and two-factor sign-in
# optional for the benchmark's admin, as `make demo` does.
_STATIC = tempfile.mkdtemp(prefix="dashboard-audit-bench-static-")
os.environ.update({
    "DEBUG": "0",
    "DEMO": "1",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "TOKEN_ENCRYPTION_KEYS": "bench:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "STATIC_ROOT": _STATIC,
})
_tmp = setup_django(database="default" if ON_POSTGRES else "disk", temp_prefix="dashboard-audit-bench-")

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from dashboard import audit  # noqa: E402
from dashboard.audit_log import AuditFilters, Cursor, team_events  # noqa: E402
from dashboard.models import AuditEvent, Membership, Role, User  # noqa: E402
from dashboard.postmark import sandbox  # noqa: E402
from dashboard.services.servers import server_connect  # noqa: E402
from dashboard.services.teams import team_create  # noqa: E402

STREAM_IDS = ["outbound", "broadcast", "billing-news", "receipts", "password-resets", "product-news", "welcome"]
ROLES = [Role.OWNER, Role.ADMIN, Role.EDITOR, Role.EDITOR, Role.EDITOR, Role.VIEWER]
OUTCOMES = ["success"] * 85 + ["refused"] * 8 + ["failed"] * 4 + ["denied"] * 3
DAYS = 400


def _stream_entry(rng, server):
    stream_id = rng.choice(STREAM_IDS)
    action = rng.choice(["stream.create", "stream.edit", "stream.edit", "stream.archive", "stream.restore"])
    changes = {"state": ["active", "archived"]} if action == "stream.archive" else {
        "name": [f"{stream_id} old", f"{stream_id} new"]}
    return {"action": action, "target_type": "stream", "target_id": f"{server.pk}/{stream_id}",
            "target_label": f"{stream_id} on {server.name}", "changes": changes}


def _entry(rng, team, servers, members, moment):
    member, role = rng.choice(members)
    outcome = rng.choice(OUTCOMES)
    server = rng.choice(servers)
    kind = rng.random()
    if kind < 0.6:
        fields = _stream_entry(rng, server)
    elif kind < 0.75:
        fields = {"action": rng.choice(["server.rename", "server.stream_limit", "server.token.replace"]),
                  "target_type": "server", "target_id": server.pk, "target_label": server.name,
                  "changes": {"name": [server.name, server.name]}}
    elif kind < 0.88:
        other, _ = rng.choice(members)
        fields = {"action": "member.role_change", "target_type": "member", "target_id": other.pk,
                  "target_label": other.email, "changes": {"role": ["Viewer", "Editor"]}}
    else:
        outcome = "denied"
        fields = {"action": "access.denied", "target_type": "page", "target_id": f"/t/{team.slug}/servers/connect/",
                  "target_label": f"/t/{team.slug}/servers/connect/"}
    detail = "" if outcome == "success" else "Postmark code 403: not allowed, for the benchmark."
    return {**fields, "actor": member, "team": team, "role": role, "outcome": outcome, "detail": detail,
            "occurred_at": moment}


def seed(events: int, rng: random.Random):
    owner = User.objects.create_user(email="olivia@acme.example", password="x", name="Olivia Owner")
    team = team_create(actor=owner, name="Acme")
    other_owner = User.objects.create_user(email="oscar@globex.example", password="x", name="Oscar Outsider")
    other_team = team_create(actor=other_owner, name="Globex")
    joined = datetime.now(UTC) - timedelta(days=DAYS + 1)
    members = [(owner, Role.OWNER)]
    for number in range(1, 24):
        user = User.objects.create_user(email=f"member{number}@acme.example", password="x", name=f"Member {number}")
        role = ROLES[number % len(ROLES)]
        Membership.objects.create(team=team, user=user, role=role, joined_at=joined)
        members.append((user, role))
    Membership.objects.filter(team=team, user=owner).update(joined_at=joined)
    admin = members[1][0]
    Membership.objects.filter(team=team, user=admin).update(role=Role.ADMIN)
    fake = sandbox.Sandbox()
    sandbox.install(fake)
    servers = []
    for number in range(5):
        token = str(uuid.uuid4())
        fake.add_server(token, name=f"Acme Server {number}")
        servers.append(server_connect(actor=owner, team=team, name=f"Acme Server {number}", token=token,
                                      sandbox=True))
    other_token = str(uuid.uuid4())
    fake.add_server(other_token, name="Globex Main")
    other_server = server_connect(actor=other_owner, team=other_team, name="Globex Main", token=other_token,
                                  sandbox=True)

    start = datetime.now(UTC) - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / events
    started = time.perf_counter()
    for chunk_start in range(0, events, 5000):
        with audit.context(ip=f"198.51.100.{chunk_start // 5000 % 250 + 1}", user_agent="Mozilla/5.0 (benchmark)"):
            audit.record_many(_entry(rng, team, servers, members, start + step * index)
                              for index in range(chunk_start, min(events, chunk_start + 5000)))
            # A tenth as many sign-ins of Acme's members (kept without a team), and Globex's own entries.
            audit.record_many({"action": "auth.login.success", "actor": member, "team": None, "target_type": "user",
                               "target_id": member.pk, "target_label": member.email,
                               "occurred_at": start + step * (index + 0.5)}
                              for index in range(chunk_start, min(events, chunk_start + 5000), 10)
                              for member, _ in [rng.choice(members)])
            audit.record_many(_entry(rng, other_team, [other_server], [(other_owner, Role.OWNER)],
                                     start + step * (index + 0.25))
                              for index in range(chunk_start, min(events, chunk_start + 5000), 10))
    seconds = time.perf_counter() - started
    total = AuditEvent.objects.count()
    print(f"Seeded {total:,} entries ({AuditEvent.objects.filter(team_id=team.pk).count():,} of Acme's own) "
          f"in {seconds:.1f} s through audit.record_many (hash-chained)")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as a long-running production database would have statistics
    return team, admin, servers


def measure(client: Client, label: str, url: str, rounds: int) -> None:
    client.get(url)  # the session settles on the team first
    # Queries are counted on a run of their own: recording them costs time the timed rounds must not pay.
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    queries = len(captured.captured_queries)
    database = sum(float(query["time"]) for query in captured.captured_queries) * 1000
    assert response.status_code == 200, response.status_code
    entries = response.content.decode().count('data-entry="')
    samples, cpu = [], []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    samples.sort()
    # On a busy machine the median waits for the CPU; the best round and this process's CPU time say what it costs.
    print(f"  {label:<50} median {statistics.median(samples):6.1f} ms   best {samples[0]:6.1f} ms   "
          f"Python CPU {statistics.median(cpu):5.1f} ms   {queries:2d} queries taking {database:5.1f} ms   "
          f"{entries} entries")


def older(client: Client, url: str) -> str:
    html = client.get(url).content.decode()
    marker = html.rfind('rel="next"')
    start = html.rfind('href="', 0, marker) + len('href="')
    return html[start:html.index('"', start)].replace("&amp;", "&")


def export(client: Client, url: str, *, traced: bool) -> tuple[int, float, int, int]:
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    response = client.get(url)
    rows, size = 0, 0
    for piece in response.streaming_content:
        rows += piece.count(b"\n")
        size += len(piece)
    seconds = time.perf_counter() - started
    peak = 0
    if traced:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return rows, seconds, peak, size


def explain(team) -> None:
    for label, filters in [("first page", AuditFilters()), ("streams, refused", AuditFilters(group="streams",
                                                                                             outcome="refused"))]:
        query = team_events(team, filters).order_by("-occurred_at", "-id")[:51]
        sql, params = query.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = "; ".join(row[-1] for row in cursor.fetchall())
        print(f"  {label:<20} {plan}")


def explain_pages(client: Client, pages: list[tuple[str, str]]) -> None:
    """PostgreSQL's plan for each query of each page that reads the audit table: the scans it chose, and the
    time PostgreSQL took to run them all (EXPLAIN ANALYZE's execution times, added up)."""
    table = f" on {AuditEvent._meta.db_table}"
    for label, url in pages:
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        scans, executed = [], 0.0
        for query in captured.captured_queries:
            if AuditEvent._meta.db_table in query["sql"] and query["sql"].lstrip("(").startswith("SELECT"):
                with connection.cursor() as cursor:
                    cursor.execute(f"EXPLAIN ANALYZE {query['sql']}")
                    plan = [line for (line,) in cursor.fetchall()]
                scans.append(" + ".join(line.strip(" ->").split("  ")[0].replace(table, "")
                                        for line in plan if table in line))
                executed += float(plan[-1].split(":")[1].split()[0])  # "Execution Time: 0.123 ms"
        print(f"  {label:<50} {executed:5.1f} ms   " + "; ".join(scans))


def measured_under() -> str:
    """The settings the pages were timed under, as the output says them."""
    options = connection.settings_dict.get("OPTIONS", {})
    prepared = (f"statements prepared after {options['prepare_threshold']} runs on a connection"
                if options.get("server_side_binding") and options.get("prepare_threshold") is not None
                else "no prepared statements")
    words = [f"DEBUG {'on' if settings.DEBUG else 'off'}",
             "cached templates" if not settings.DEBUG else "templates in debug mode",
             f"static files from {settings.STORAGES['staticfiles']['BACKEND'].rsplit('.', 1)[-1]}",
             f"sessions in {'the cache and ' if 'cached_db' in settings.SESSION_ENGINE else ''}the database"]
    if ON_POSTGRES:
        words.append(prepared)
    return "measured under " + ", ".join(words) + "; queries counted on a separate run"


def postgres_database() -> str:
    """A new database beside the one DATABASE_URL names, migrated, for this run only; its old name."""
    old_name = connection.settings_dict["NAME"]
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"{old_name}_audit_bench"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    return old_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--depth", type=int, default=200)
    args = parser.parse_args()

    if ON_POSTGRES:
        old_name = postgres_database()
    else:
        call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # DEBUG off: pages need the manifest
    try:
        run(args)
    finally:
        if ON_POSTGRES:
            connection.creation.destroy_test_db(old_name, verbosity=0)


def run(args) -> None:
    logging.getLogger("dashboard.audit.ship").disabled = True  # it would print every entry
    rng = random.Random(5)
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        team, admin, servers = seed(args.events, rng)
    if ON_POSTGRES:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_total_relation_size(%s)", [AuditEvent._meta.db_table])
            size = cursor.fetchone()[0]
        print(f"Audit table with its indexes: {size / 1e6:.0f} MB in database {connection.settings_dict['NAME']} "
              f"(PostgreSQL, dropped at the end)")
    else:
        print(f"Database file: {os.path.getsize(f'{_tmp}/bench.sqlite3') / 1e6:.0f} MB on disk (removed at the end)")
        print("\nHow SQLite runs the page query:")
        explain(team)

    client = Client()
    client.force_login(admin)
    base = f"/t/{team.slug}/audit/"
    today = datetime.now(UTC).date()
    week = f"from={today - timedelta(days=200)}&to={today - timedelta(days=194)}"
    filtered = [
        ("first page", base),
        ("filtered: streams, refused", f"{base}?group=streams&outcome=refused"),
        ("filtered: members, not allowed (rare)", f"{base}?group=members&outcome=denied"),
        ("filtered: outcome failed", f"{base}?outcome=failed"),
        ("filtered: one person", f"{base}?person={admin.pk}"),
        ("filtered: one server", f"{base}?server={servers[0].pk}"),
        ("filtered: stream ID billing-news", f"{base}?stream=billing-news"),
        ("filtered: stream ID with no entries (worst case)", f"{base}?stream=nothing-here"),
        ("filtered: sign-ins", f"{base}?group=signin"),
        ("filtered: one week, 200 days ago", f"{base}?{week}"),
    ]
    if ON_POSTGRES:
        print("\nHow PostgreSQL reads the audit table for each page (time it ran the queries, their scans):")
        explain_pages(client, filtered)
    print(f"\nThe audit log page ({args.rounds} rounds each, 50 entries a page), {measured_under()}:")
    for label, url in filtered:
        measure(client, label, url, args.rounds)

    url, started = base, time.perf_counter()
    for _ in range(args.depth):
        url = older(client, url)
    walked = time.perf_counter() - started
    print(f"  (followed {args.depth} 'Older entries' links in {walked:.1f} s: {walked / args.depth * 1000:.1f} ms a "
          f"click, {args.depth * 50:,} entries deep)")
    measure(client, f"deep page ({args.depth} clicks in)", url, args.rounds)
    year_ago = Cursor(datetime.now(UTC) - timedelta(days=365), 2**62)
    measure(client, "deep page (a cursor from a year ago)", f"{base}?after={year_ago}", args.rounds)
    measure(client, "deep + filtered (streams, refused, a year ago)",
            f"{base}?group=streams&outcome=refused&after={year_ago}", args.rounds)

    print("\nExport of everything Acme's log holds (streamed in chunks of 2,000):")
    for fmt in ("csv", "jsonl"):
        url = f"{base}export.{fmt}"
        with CaptureQueriesContext(connection) as captured:
            rows, seconds, _, size = export(client, url, traced=False)
        queries = len(captured.captured_queries)
        rows_traced, _, peak, _ = export(client, url, traced=True)
        print(f"  {fmt:<6} {rows:,} lines, {size / 1e6:.0f} MB in {seconds:.1f} s = {rows / seconds:,.0f} rows/s   "
              f"{queries} queries   peak Python memory {peak / 1e6:.1f} MB (tracemalloc)")


if __name__ == "__main__":
    try:
        main()
    finally:
        connection.close()
        if _tmp:
            shutil.rmtree(_tmp, ignore_errors=True)  # the database is a few hundred MB
        shutil.rmtree(_STATIC, ignore_errors=True)
