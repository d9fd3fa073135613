"""On PostgreSQL, every page of the audit log reads its entries through an index, whatever it is filtered by:
with a log of 20,000 entries and fresh statistics, no query of the page scans the whole audit table.
Runs in CI's PostgreSQL round."""

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard import audit
from dashboard.audit_log import Cursor
from dashboard.models import AuditChainHead, AuditEvent, Role

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the query plans checked are PostgreSQL's"),
]

TABLE = AuditEvent._meta.db_table
ENTRIES = 20_000
REMOVED_SERVER = "9d2e7a41-0c3b-4f6e-8a15-7b9c2d4e6f80"
STREAM_IDS = ["outbound", "broadcast", "billing-news", "receipts", "password-resets", "welcome"]


def _target(rng: random.Random, team, member, servers) -> tuple[str, str, str]:
    server, kind = rng.choice(servers), rng.random()
    if kind < 0.6:
        return rng.choice(["stream.create", "stream.edit", "stream.archive"]), "stream", \
            f"{server}/{rng.choice(STREAM_IDS)}"
    if kind < 0.75:
        return "server.rename", "server", server
    if kind < 0.88:
        return "member.role_change", "member", str(member.pk)
    return "access.denied", "page", f"/t/{team.slug}/servers/{server}/streams/{rng.choice(STREAM_IDS)}/archive/"


def _entry(rng: random.Random, team, members, moment, seqs, servers) -> AuditEvent:
    """An entry as `audit.record` fills it, without the hash: plans depend on the columns, not on the chain."""
    member = rng.choice(members)
    if team is None:
        action, target_type, target_id = "auth.login.success", "user", str(member.pk)
    else:
        action, target_type, target_id = _target(rng, team, member, servers)
    outcome = rng.choice(["success"] * 85 + ["refused"] * 8 + ["failed"] * 4 + ["denied"] * 3)
    key = team.pk if team else 0
    seqs[key] = seqs.get(key, 0) + 1  # after the entries the fixtures wrote
    return AuditEvent(
        occurred_at=moment, team_id=team.pk if team else None, team_label=team.name if team else "",
        actor_id=member.pk, actor_label=member.email, actor_role=Role.EDITOR, action=action, target_type=target_type,
        target_id=target_id, outcome=outcome, chain_seq=seqs[key], prev_hash=audit.ZERO_HASH, hash=audit.ZERO_HASH,
        **audit.filter_columns(target_type=target_type, target_id=target_id, actor_id=member.pk),
    )


@pytest.fixture
def long_log(team_a, team_b, owner, admin, editor, viewer, outsider, server_a):
    """20,000 entries of Acme over 400 days on its server and one it removed, a tenth as many sign-ins of its
    members, and a tenth as many of Globex's entries."""
    rng, seqs = random.Random(16), {head.team_key: head.seq for head in AuditChainHead.objects.all()}
    start, step = timezone.now() - timedelta(days=400), timedelta(days=400) / ENTRIES
    members, servers = [owner, admin, editor, viewer], [str(server_a.pk), REMOVED_SERVER]
    entries = []
    for index in range(ENTRIES):
        entries.append(_entry(rng, team_a, members, start + step * index, seqs, servers))
        if index % 10 == 0:
            entries.append(_entry(rng, None, members, start + step * (index + 0.5), seqs, servers))
            entries.append(_entry(rng, team_b, [outsider], start + step * (index + 0.25), seqs, servers))
    AuditEvent.objects.bulk_create(entries, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {TABLE}")  # as autovacuum keeps a production table's statistics
    return team_a


def audit_table_plans(client, url: str) -> list[str]:
    """PostgreSQL's plan for each query the page made that reads the audit table."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    plans = []
    for query in captured.captured_queries:
        if TABLE in query["sql"] and query["sql"].lstrip("(").startswith("SELECT"):
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN {query['sql']}")
                plans.append("\n".join(line for (line,) in cursor.fetchall()))
    return plans


def test_no_filter_of_the_audit_log_scans_the_whole_audit_table(client_as, admin, long_log, server_a):
    year_ago = Cursor(timezone.now() - timedelta(days=365), 2**62)
    today = timezone.localdate()
    pages = {
        "first page": "",
        "a group and an outcome": "?group=streams&outcome=refused",
        "a rare group and outcome": "?group=members&outcome=denied",
        "an outcome": "?outcome=failed",
        "a person": f"?person={admin.pk}",
        "a server": f"?server={server_a.pk}",
        "a stream ID": "?stream=billing-news",
        "a stream ID no entry has": "?stream=nothing-here",
        "sign-ins": "?group=signin",
        "a week long ago": f"?from={today - timedelta(days=200)}&to={today - timedelta(days=194)}",
        "a cursor a year back": f"?after={year_ago}",
        "a stream ID and a cursor a year back": f"?stream=receipts&after={year_ago}",
    }
    client = client_as(admin)
    base = f"/t/{long_log.slug}/audit/"
    scanned = {label: plan for label, query in pages.items() for plan in audit_table_plans(client, base + query)
               if f"Seq Scan on {TABLE}" in plan}
    assert scanned == {}
    assert audit_table_plans(client, base)  # the check above saw the page's queries


def test_a_streams_history_on_its_page_reads_only_that_streams_entries(client_as, admin, long_log, server_a):
    """The stream page lists the stream's last entries: found through the stream's index, not by walking the
    team's entries newest first until 50 of them match (thousands of index rows for a quiet stream)."""
    from django.urls import reverse

    url = reverse("stream_detail", args=[long_log.slug, server_a.pk, "outbound"])
    plans = [plan for plan in audit_table_plans(client_as(admin), url) if "stream" in plan]
    assert plans and all("audit_team_stream_time" in plan for plan in plans), plans


def test_the_pages_query_is_prepared_once_a_connection_has_sent_it_five_times(client_as, admin, team_a):
    """PostgreSQL took milliseconds to plan the page's query (a part for each member, UNION ALL) every time. With
    the parameters bound by the server, psycopg prepares a statement a connection sends for the fifth time, and
    PostgreSQL stops planning it anew (settings: DATABASE_PREPARED_STATEMENTS)."""
    client = client_as(admin)
    for _ in range(6):
        assert client.get(f"/t/{team_a.slug}/audit/").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert [statement for statement in prepared if TABLE in statement and "UNION ALL" in statement], prepared
