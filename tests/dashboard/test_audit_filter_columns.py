"""The columns the audit log's filters find entries by: derived by `audit.record` from the target, filled by
migration 0006 for entries written before them, never hashed, and checked by `verify_audit_chain`."""

import io
import sqlite3
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection

from dashboard import audit
from dashboard.models import AuditEvent, Role

pytestmark = pytest.mark.django_db

TABLE = AuditEvent._meta.db_table
SERVER = "5f0c5bd2-6b8e-4a52-9a3e-2b1f0c9d7e11"


def columns(event: AuditEvent) -> tuple[str, str, int | None]:
    event = AuditEvent.objects.get(pk=event.pk)
    return event.server_id, event.stream_id, event.account_id


def test_a_stream_entry_is_found_by_its_server_and_its_stream_id_in_lower_case(editor, team_a):
    event = audit.record(action="stream.archive", actor=editor, team=team_a, role=Role.EDITOR, target_type="stream",
                         target_id=f"{SERVER}/Billing-News", target_label="Billing-News on Acme Production")
    assert columns(event) == (SERVER, "billing-news", editor.pk)


def test_a_refused_page_is_found_by_the_server_and_stream_its_path_names(viewer, team_a):
    event = audit.record(action="access.denied", actor=viewer, team=team_a, role=Role.VIEWER, outcome="denied",
                         target_type="page", target_id=f"/t/acme/servers/{SERVER}/streams/Receipts/archive/")
    assert columns(event) == (SERVER, "receipts", viewer.pk)


def test_a_server_entry_is_found_by_its_server_and_a_member_entry_by_nothing_but_its_actor(owner, admin, team_a):
    server = audit.record(action="server.rename", actor=owner, team=team_a, target_type="server", target_id=SERVER)
    member = audit.record(action="member.role_change", actor=owner, team=team_a, target_type="member",
                          target_id=admin.pk)
    assert (columns(server), columns(member)) == ((SERVER, "", owner.pk), ("", "", owner.pk))


def test_a_failed_sign_in_belongs_to_the_account_it_names_and_a_system_entry_to_no_one(owner):
    failed = audit.record(action="auth.login.failure", actor=None, team=None, outcome="failed", target_type="user",
                          target_id=owner.pk, target_label=owner.email)
    system = audit.record(action="audit.prune", actor=None, team=None, target_type="audit_log")
    assert (columns(failed), columns(system)) == (("", "", owner.pk), ("", "", None))


def test_verify_catches_an_entry_whose_filter_columns_no_longer_match_its_content(editor, team_a):
    event = audit.record(action="stream.edit", actor=editor, team=team_a, role=Role.EDITOR, target_type="stream",
                         target_id=f"{SERVER}/billing-news")
    with connection.cursor() as cursor:  # what someone hiding an entry from the stream filter would do
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        cursor.execute(f"UPDATE {TABLE} SET stream_id = 'something-else' WHERE id = %s", [event.pk])
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")
    err = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("verify_audit_chain", stdout=io.StringIO(), stderr=err)
    assert (f"Audit log entry {event.pk} does not verify: what the log's filters find it by does not match its "
            "content.") in err.getvalue()


def test_the_migration_fills_the_columns_of_entries_written_before_them_and_every_chain_still_verifies(
        sqlite_manage):
    database, manage = sqlite_manage

    assert manage("migrate", "dashboard", "0005", "--noinput").returncode == 0
    written = [  # (team, actor, action, target type, target id), chained below as 0005's code did
        (1, 7, "stream.archive", "stream", f"{SERVER}/Billing-News"),
        (1, 8, "access.denied", "page", f"/t/acme/servers/{SERVER}/streams/receipts/"),
        (1, 7, "server.rename", "server", SERVER),
        (None, None, "auth.login.failure", "user", "8"),
        (None, 7, "auth.login.success", "user", "7"),
    ]
    with sqlite3.connect(database) as db:
        ends: dict[int, tuple[int, str]] = {}
        for team_id, actor_id, action, target_type, target_id in written:
            seq, prev = ends.get(team_id or 0, (0, audit.ZERO_HASH))
            row = {"occurred_at": "2026-01-02 03:04:05.123456", "team_id": team_id, "team_label": "Acme",
                   "actor_id": actor_id, "actor_label": "a@b.example", "actor_role": "", "ip": None,
                   "user_agent": "", "request_id": "", "action": action, "target_type": target_type,
                   "target_id": target_id, "target_label": "", "changes": {}, "outcome": "success", "detail": "",
                   "chain_seq": seq + 1, "prev_hash": prev}
            values = {**row, "occurred_at": datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)}
            row["hash"] = audit.entry_hash(audit.chain_content(values))
            ends[team_id or 0] = (seq + 1, row["hash"])
            row["changes"] = "{}"
            db.execute(f"INSERT INTO {TABLE} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                       list(row.values()))
        db.executemany("INSERT INTO dashboard_auditchainhead (team_key, seq, last_hash) VALUES (?, ?, ?)",
                       [(key, seq, last) for key, (seq, last) in ends.items()])

    migrated = manage("migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    checked = manage("verify_audit_chain")
    assert (checked.returncode, checked.stdout.strip()) == (0, "OK: 5 entries in 2 chains verified")
    with sqlite3.connect(database) as db:
        filled = db.execute(f"SELECT server_id, stream_id, account_id FROM {TABLE} ORDER BY id").fetchall()
    assert filled == [(SERVER, "billing-news", 7), (SERVER, "receipts", 8), (SERVER, "", 7), ("", "", 8),
                      ("", "", 7)]
