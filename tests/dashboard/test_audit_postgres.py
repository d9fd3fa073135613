"""On PostgreSQL the database itself refuses to change the audit log: triggers from migration 0004 reject
UPDATE, DELETE and TRUNCATE, and only `prune_audit` gets a DELETE past them. Runs in CI's PostgreSQL round."""

import io
import threading
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from dashboard import audit
from dashboard.models import AuditChainHead, AuditEvent, Team
from dashboard.services.teams import team_create

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the triggers exist on PostgreSQL only"),
]

TABLE = AuditEvent._meta.db_table


def refused(sql: str, params=()) -> str:
    """Run `sql` through a raw cursor and return the database's refusal (in a savepoint, so the test goes on)."""
    with pytest.raises(DatabaseError) as refusal, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(refusal.value)


@pytest.mark.parametrize(("statement", "sql"), [
    ("UPDATE", f"UPDATE {TABLE} SET detail = 'rewritten'"),
    ("DELETE", f"DELETE FROM {TABLE}"),
    ("TRUNCATE", f"TRUNCATE {TABLE}"),
])
def test_the_database_refuses_to_change_or_remove_audit_entries(team_a, statement, sql):
    message = refused(sql)
    assert f"The audit log is append-only, so {statement} on its entries is refused." in message
    assert "Only manage.py prune_audit removes entries" in message
    assert AuditEvent.objects.get(action="team.create").detail == ""


def test_prune_audit_gets_past_the_triggers_and_closes_them_again(owner, monkeypatch):
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() - timedelta(days=500))
    old = team_create(actor=owner, name="Old Co")
    monkeypatch.setattr(timezone, "now", real_now)
    recent = team_create(actor=owner, name="New Co")

    call_command("prune_audit", stdout=io.StringIO())
    assert not AuditEvent.objects.filter(team_id=old.pk).exists()
    assert AuditEvent.objects.filter(team_id=recent.pk).count() == 1
    assert "append-only, so DELETE" in refused(f"DELETE FROM {TABLE}")  # same transaction, closed again
    out = io.StringIO()
    call_command("verify_audit_chain", stdout=out)
    assert out.getvalue() == "OK: 2 entries in 2 chains verified\n"


def test_the_chain_heads_stay_updatable(team_a):
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {AuditChainHead._meta.db_table} SET seq = seq WHERE team_key = %s", [team_a.pk])
        assert cursor.rowcount == 1


def test_two_app_instances_writing_for_one_team_at_once_do_not_fork_its_chain():
    """Each thread has its own connection and commits for real, as two app instances would."""
    team = Team(pk=987_654_321, name="Busy team")  # never saved: entries need only its id and name
    start = threading.Barrier(4)
    failures = []

    def write_many():
        try:
            start.wait()
            for number in range(15):
                with transaction.atomic():
                    audit.record(action="server.rename", actor=None, team=team, changes={"name": ["a", number]})
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            connections.close_all()

    writers = [threading.Thread(target=write_many) for _ in range(4)]
    try:
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(timeout=60)
        assert failures == []
        seqs = list(AuditEvent.objects.filter(team_id=team.pk).order_by("id").values_list("chain_seq", flat=True))
        assert seqs == list(range(1, 61))
        out = io.StringIO()
        call_command("verify_audit_chain", "--team", str(team.pk), stdout=out)
        assert out.getvalue() == "OK: 60 entries in 1 chains verified\n"
    finally:
        _remove_committed_entries_of(team.pk)


def _remove_committed_entries_of(team_id: int) -> None:
    """The threads committed outside the test's transaction: clean up the way prune_audit does."""
    db = settings.DATABASES["default"]
    with psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"] or None,
                         dbname=connection.settings_dict["NAME"], autocommit=False) as raw:
        raw.execute("SELECT set_config(%s, 'on', true)", [audit.PRUNE_SETTING])
        raw.execute(f"DELETE FROM {TABLE} WHERE team_id = %s", [team_id])
        raw.execute(f"DELETE FROM {AuditChainHead._meta.db_table} WHERE team_key = %s", [team_id])
        raw.commit()
