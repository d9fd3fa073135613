"""Retention: `prune_audit` removes entries older than AUDIT_RETENTION_DAYS, records that it did, and leaves a
log that still verifies; a removal that no prune explains is still caught."""

import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from dashboard import audit
from dashboard.models import AuditEvent, Role
from dashboard.services.teams import team_create

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
TABLE = AuditEvent._meta.db_table


@pytest.fixture
def clock(monkeypatch):
    """Sets what "now" is for the code under test; `clock(days=-500)` is 500 days ago."""
    real_now = timezone.now

    def at(**delta):
        moment = real_now() + timedelta(**delta)
        monkeypatch.setattr(timezone, "now", lambda: moment)
        return moment

    return at


def rename(actor, team, new: str) -> AuditEvent:
    return audit.record(action="server.rename", actor=actor, team=team, role=Role.OWNER, target_type="server",
                        target_id="s-1", target_label=new, changes={"name": ["Before", new]})


def prune(*args) -> str:
    out = io.StringIO()
    call_command("prune_audit", *args, stdout=out)
    return out.getvalue()


def verify() -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_audit_chain", stdout=out, stderr=err)
    except SystemExit as exit_:
        return exit_.code, err.getvalue()
    return 0, out.getvalue()


def tamper(sql: str, params=()) -> None:
    """What someone with direct access to the database could do. On PostgreSQL, lifting the triggers first."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")


def actions(team) -> list[str]:
    return list(AuditEvent.objects.filter(team_id=team.pk).order_by("chain_seq").values_list("target_label",
                                                                                               flat=True))


@pytest.fixture
def history(owner, clock):
    """A team founded 900 days ago, renamed then, 500 days ago and yesterday."""
    clock(days=-900)
    team = team_create(actor=owner, name="Old Co")
    rename(owner, team, "900 days ago")
    clock(days=-500)
    rename(owner, team, "500 days ago")
    rename(owner, team, "499 days ago")
    clock(days=-1)
    rename(owner, team, "yesterday")
    clock()
    return team


def test_prune_removes_only_the_entries_older_than_the_retention_period(history, team_b):
    assert prune().startswith("Removed 4 audit log entries older than 400 days (written before ")
    assert actions(history) == ["yesterday"]
    assert AuditEvent.objects.filter(team_id=team_b.pk).count() == 1


def test_prune_records_what_it_removed_and_the_cutoff_in_its_own_entry(history, settings):
    prune()
    event = AuditEvent.objects.get(action="audit.prune")
    cutoff = timezone.now() - timedelta(days=400)
    assert (event.team_id, event.actor_id, event.actor_label, event.outcome) == (None, None, "prune_audit", "success")
    assert event.changes["entries removed"] == [None, 4]
    assert abs(timezone.datetime.fromisoformat(event.changes["written before"][1]) - cutoff) < timedelta(minutes=1)
    assert event.detail.startswith(f"Removed 4 entries older than 400 days (written before {cutoff:%Y-%m-%d}")
    assert audit.ACTIONS["audit.prune"] == "pruned the audit log"


def test_the_log_still_verifies_after_a_prune_and_after_later_entries(owner, history):
    prune()
    assert verify() == (0, "OK: 2 entries in 2 chains verified\n")
    rename(owner, history, "today")
    audit.record(action="auth.login.success", actor=owner, team=None)
    assert verify() == (0, "OK: 4 entries in 2 chains verified\n")


def test_the_log_still_verifies_after_prunes_that_remove_whole_chains_and_earlier_prunes(owner, history, clock,
                                                                                        settings):
    settings.AUDIT_RETENTION_DAYS = 700
    prune()
    assert actions(history) == ["500 days ago", "499 days ago", "yesterday"]
    assert verify()[0] == 0
    settings.AUDIT_RETENTION_DAYS = 400
    prune()
    assert verify()[0] == 0
    clock(days=500)  # everything, the earlier prunes too, is now older than the retention period
    prune()
    assert actions(history) == []
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["audit.prune"]
    assert verify() == (0, "OK: 1 entries in 1 chains verified\n")
    rename(owner, history, "later on")
    assert verify() == (0, "OK: 2 entries in 2 chains verified\n")


def test_removing_the_oldest_entries_without_a_prune_is_caught(history):
    oldest = AuditEvent.objects.filter(team_id=history.pk).order_by("chain_seq")
    first, second, third = oldest[:3]
    tamper(f"DELETE FROM {TABLE} WHERE id IN (%s, %s)", [first.pk, second.pk])
    status, err = verify()
    assert status == 1
    assert f"Audit log entry {third.pk} does not verify: an entry before it is missing or out of order." in err


def test_removing_the_oldest_kept_entry_after_a_prune_is_caught(owner, history):
    rename(owner, history, "today")
    prune()
    kept = list(AuditEvent.objects.filter(team_id=history.pk).order_by("chain_seq"))
    tamper(f"DELETE FROM {TABLE} WHERE id = %s", [kept[0].pk])
    status, err = verify()
    assert status == 1
    assert f"Audit log entry {kept[1].pk} does not verify: an entry before it is missing or out of order." in err


def test_an_edited_prune_entry_explains_nothing(history):
    prune()
    event = AuditEvent.objects.get(action="audit.prune")
    tamper(f"UPDATE {TABLE} SET changes = %s WHERE id = %s",
           [json.dumps({**event.changes, "entries removed": [None, 0]}), event.pk])
    assert verify()[0] == 1


def test_an_entry_goes_only_with_every_entry_before_it_in_its_chain(owner, clock):
    """An attempt written after a rollback can carry an older time than the entry before it; it waits."""
    clock(days=-900)
    team = team_create(actor=owner, name="Old Co")
    clock(days=-1)
    rename(owner, team, "yesterday")
    clock(days=-800)
    rename(owner, team, "written late with an old time")
    clock()
    prune()
    assert actions(team) == ["yesterday", "written late with an old time"]
    assert verify()[0] == 0


def test_a_dry_run_counts_what_would_go_and_changes_nothing(history):
    before = list(AuditEvent.objects.order_by("id").values_list("id", "hash"))
    out = prune("--dry-run")
    assert out.startswith("Dry run: 4 audit log entries are older than 400 days (written before ")
    assert out.rstrip().endswith("would be removed. Nothing was changed.")
    assert list(AuditEvent.objects.order_by("id").values_list("id", "hash")) == before


def test_the_retention_setting_is_respected(history, settings):
    settings.AUDIT_RETENTION_DAYS = 1000
    assert prune().startswith("Removed 0 audit log entries older than 1000 days")
    assert len(actions(history)) == 5
    settings.AUDIT_RETENTION_DAYS = 600
    assert prune().startswith("Removed 2 audit log entries older than 600 days")
    assert actions(history) == ["500 days ago", "499 days ago", "yesterday"]


def test_prune_says_where_its_own_entry_is(history):
    out = prune()
    event = AuditEvent.objects.get(action="audit.prune")
    assert f"The removal is itself in the audit log (entry {event.pk})" in out


def test_small_batches_remove_the_same_entries(history):
    assert prune("--batch-size", "1").startswith("Removed 4 audit log entries")
    assert actions(history) == ["yesterday"]
    assert verify()[0] == 0


# --- The setting ----------------------------------------------------------------------------------------------


def retention_days_with(**env: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key != "AUDIT_RETENTION_DAYS"}
    probe = "import django; django.setup(); from django.conf import settings; print(settings.AUDIT_RETENTION_DAYS)"
    return subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**clean, "DJANGO_SETTINGS_MODULE": "dashboard.settings", **env})


@pytest.mark.parametrize(("given", "days"), [(None, "400"), ("30", "30")])
def test_entries_are_kept_400_days_unless_audit_retention_days_says_otherwise(given, days):
    result = retention_days_with(**({"AUDIT_RETENTION_DAYS": given} if given else {}))
    assert (result.returncode, result.stdout.strip()) == (0, days)


@pytest.mark.parametrize("given", ["a year", "0"])
def test_a_retention_that_is_not_a_whole_number_of_days_refuses_to_start(given):
    result = retention_days_with(AUDIT_RETENTION_DAYS=given)
    assert result.returncode == 1
    assert "Refusing to start: AUDIT_RETENTION_DAYS must be" in result.stderr
