"""Tamper evidence: each team's audit entries form a hash chain that `verify_audit_chain` walks, and every
committed entry is shipped as one JSON line to the "dashboard.audit.ship" logger."""

import io
import json
import logging
import logging.handlers
import sqlite3

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from dashboard import audit
from dashboard.models import AuditChainHead, AuditEvent, Membership, Role
from dashboard.services import ServiceError
from dashboard.services.teams import member_set_role

pytestmark = pytest.mark.django_db

TABLE = AuditEvent._meta.db_table


def chain_of(team) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(team_id=team.pk if team else None).order_by("chain_seq"))


def rename(actor, team, old: str, new: str) -> AuditEvent:
    return audit.record(action="server.rename", actor=actor, team=team, role=Role.OWNER, target_type="server",
                        target_id="s-1", target_label=new, changes={"name": [old, new]})


def tamper(sql: str, params=()) -> None:
    """What someone with direct access to the database could do. On PostgreSQL, lifting the triggers first."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")


def verify(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_audit_chain", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return exit_.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def acme_log(owner, team_a):
    """Acme's chain: the team's creation, then three renames."""
    for old, new in [("Acme", "Acme Prod"), ("Acme Prod", "Acme Live"), ("Acme Live", "Acme Main")]:
        rename(owner, team_a, old, new)
    return chain_of(team_a)


@pytest.fixture
def shipped(caplog):
    """The JSON lines the shipping logger wrote (it does not pass them on to the root logger)."""
    logger = logging.getLogger("dashboard.audit.ship")
    logger.addHandler(caplog.handler)
    try:
        yield lambda: [json.loads(record.getMessage()) for record in caplog.records if record.name == logger.name]
    finally:
        logger.removeHandler(caplog.handler)


# --- The chain ------------------------------------------------------------------------------------------------


def test_a_teams_entries_are_numbered_from_one_and_each_holds_the_hash_of_the_one_before(acme_log):
    assert [event.chain_seq for event in acme_log] == [1, 2, 3, 4]
    assert acme_log[0].prev_hash == "0" * 64
    assert [event.prev_hash for event in acme_log[1:]] == [event.hash for event in acme_log[:-1]]
    assert all(len(event.hash) == 64 and int(event.hash, 16) >= 0 for event in acme_log)
    assert len({event.hash for event in acme_log}) == 4


def test_the_hash_covers_the_previous_hash_and_every_field_but_the_id_and_the_filter_columns(acme_log):
    event = acme_log[1]
    values = {name: getattr(event, name) for name in audit.CHAIN_FIELDS}
    assert audit.entry_hash(audit.chain_content(values)) == event.hash
    # The filter columns are derived from hashed fields, and verify checks them against those.
    assert set(audit.HASHED_FIELDS) == {field.name for field in AuditEvent._meta.fields} - {"id", "hash"} - {
        "server_id", "stream_id", "account_id"}
    assert audit.entry_hash(audit.chain_content({**values, "detail": "something else"})) != event.hash


def test_each_team_and_the_entries_without_a_team_have_their_own_chain(owner, team_a, outsider, team_b, acme_log):
    audit.record(action="auth.login.success", actor=owner, team=None)
    audit.record(action="auth.login.success", actor=outsider, team=None)
    assert [event.chain_seq for event in chain_of(team_b)] == [1]
    assert [event.chain_seq for event in chain_of(None)] == [1, 2]
    heads = {head.team_key: (head.seq, head.last_hash) for head in AuditChainHead.objects.all()}
    assert heads == {team_a.pk: (4, acme_log[-1].hash), team_b.pk: (1, chain_of(team_b)[0].hash),
                     0: (2, chain_of(None)[-1].hash)}


def test_a_refused_attempt_that_outlives_a_rollback_takes_the_next_number_and_the_rolled_back_change_none(
    owner, admin, team_a
):
    owners = Membership.objects.get(user=owner, team=team_a)

    class RequestFailed(Exception):
        pass

    with pytest.raises(RequestFailed), transaction.atomic():
        rename(owner, team_a, "Acme", "Rolled back")  # succeeds, then the whole request rolls back
        with pytest.raises(ServiceError):
            member_set_role(actor=admin, team=team_a, membership=owners, role=Role.VIEWER)
        raise RequestFailed
    audit.settle_unsettled()
    events = chain_of(team_a)
    assert [(event.chain_seq, event.action, event.outcome) for event in events] == [
        (1, "team.create", "success"), (2, "member.role_change", "refused")]
    assert events[1].prev_hash == events[0].hash
    assert verify()[0] == 0


def test_a_refused_attempt_in_a_transaction_that_commits_is_chained_after_the_change_it_came_with(
    owner, admin, team_a, django_capture_on_commit_callbacks
):
    owners = Membership.objects.get(user=owner, team=team_a)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        rename(owner, team_a, "Acme", "Acme Prod")
        with pytest.raises(ServiceError):
            member_set_role(actor=admin, team=team_a, membership=owners, role=Role.VIEWER)
    audit.settle_unsettled()
    assert [(event.chain_seq, event.action) for event in chain_of(team_a)] == [
        (1, "team.create"), (2, "server.rename"), (3, "member.role_change")]
    assert verify()[0] == 0


# --- verify_audit_chain ---------------------------------------------------------------------------------------


def test_verify_says_how_many_entries_in_how_many_chains_verified_and_exits_zero(owner, outsider, acme_log, team_b):
    audit.record(action="auth.login.success", actor=owner, team=None)
    status, out, err = verify()
    assert (status, out.strip(), err) == (0, "OK: 6 entries in 3 chains verified", "")


def test_verify_names_an_entry_whose_content_was_edited_and_exits_one(team_a, acme_log):
    edited = acme_log[2]
    tamper(f"UPDATE {TABLE} SET detail = %s WHERE id = %s", ["Nothing happened here.", edited.pk])
    status, out, err = verify()
    assert status == 1 and out == ""
    assert f"Audit log entry {edited.pk} does not verify: its content does not match its hash." in err
    assert f"{edited.occurred_at:%Y-%m-%d %H:%M:%S} UTC, action server.rename, team Acme (id {team_a.pk})" in err
    assert "2 entries verified before the check stopped there." in err


def test_verify_catches_an_edit_even_when_the_editor_recomputes_that_entrys_hash(acme_log):
    edited = acme_log[1]
    values = {name: getattr(edited, name) for name in audit.CHAIN_FIELDS} | {"detail": "Quietly changed."}
    forged = audit.entry_hash(audit.chain_content(values))
    tamper(f"UPDATE {TABLE} SET detail = %s, hash = %s WHERE id = %s", ["Quietly changed.", forged, edited.pk])
    status, _, err = verify()
    assert status == 1
    assert (f"Audit log entry {acme_log[2].pk} does not verify: the entry before it was changed or replaced after "
            "this one was written.") in err


def test_verify_names_the_entry_after_a_deleted_one(acme_log):
    tamper(f"DELETE FROM {TABLE} WHERE id = %s", [acme_log[1].pk])
    status, _, err = verify()
    assert status == 1
    assert f"Audit log entry {acme_log[2].pk} does not verify: an entry before it is missing or out of order." in err


def test_verify_catches_the_removal_of_a_chains_newest_entries(acme_log):
    tamper(f"DELETE FROM {TABLE} WHERE id IN (%s, %s)", [acme_log[2].pk, acme_log[3].pk])
    status, _, err = verify()
    assert status == 1
    assert (f"Audit log entry {acme_log[1].pk} does not verify: entries after it are missing "
            "(the chain goes on to number 4).") in err


def test_verify_catches_the_removal_of_every_entry_of_a_chain(team_a, acme_log):
    tamper(f"DELETE FROM {TABLE} WHERE team_id = %s", [team_a.pk])
    status, _, err = verify()
    assert status == 1
    assert (f"The audit log of team Acme (id {team_a.pk}) does not verify: its entries numbered 1 to 4 are "
            "missing.") in err


def test_verify_catches_the_removal_of_a_chains_oldest_entries(acme_log):
    tamper(f"DELETE FROM {TABLE} WHERE id IN (%s, %s)", [acme_log[0].pk, acme_log[1].pk])
    status, _, err = verify()
    assert status == 1
    assert f"Audit log entry {acme_log[2].pk} does not verify: an entry before it is missing or out of order." in err


def test_verify_catches_two_entries_that_swapped_places(acme_log):
    first, last = acme_log[1].pk, acme_log[3].pk
    tamper(f"UPDATE {TABLE} SET id = -1 WHERE id = %s", [first])
    tamper(f"UPDATE {TABLE} SET id = %s WHERE id = %s", [first, last])
    tamper(f"UPDATE {TABLE} SET id = %s WHERE id = -1", [last])
    status, _, err = verify()
    assert status == 1
    assert f"Audit log entry {first} does not verify: an entry before it is missing or out of order." in err


def test_verify_catches_two_entries_that_swapped_their_contents(acme_log):
    one, other = acme_log[1], acme_log[2]
    for target, source in [(one, other), (other, one)]:
        tamper(f"UPDATE {TABLE} SET target_label = %s, changes = %s WHERE id = %s",
               [source.target_label, json.dumps(source.changes), target.pk])
    status, _, err = verify()
    assert status == 1
    assert f"Audit log entry {one.pk} does not verify: its content does not match its hash." in err


def test_verify_names_the_first_broken_entry_when_several_are(acme_log):
    for event in (acme_log[3], acme_log[1]):
        tamper(f"UPDATE {TABLE} SET actor_label = %s WHERE id = %s", ["someone@else.example", event.pk])
    assert f"Audit log entry {acme_log[1].pk} does not verify" in verify()[2]


def test_verify_can_check_one_team_by_its_slug_or_its_id(owner, team_a, team_b, acme_log):
    tamper(f"UPDATE {TABLE} SET detail = %s WHERE team_id = %s", ["changed", team_b.pk])
    assert verify("--team", team_a.slug)[:2] == (0, "OK: 4 entries in 1 chains verified\n")
    assert verify("--team", str(team_a.pk))[0] == 0
    assert verify("--team", team_b.slug)[0] == 1


def test_verify_still_checks_the_chain_of_a_team_that_was_deleted(owner, acme_log, team_a):
    team_id = team_a.pk
    team_a.delete()
    assert verify("--team", str(team_id))[:2] == (0, "OK: 4 entries in 1 chains verified\n")


def test_verify_says_so_when_no_team_has_the_slug(acme_log):
    with pytest.raises(CommandError, match="No team has the slug 'nobody'"):
        call_command("verify_audit_chain", "--team", "nobody")


def test_the_admin_and_the_model_still_offer_no_way_to_change_an_entry(acme_log):
    event = acme_log[0]
    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(hash="0" * 64)
    assert verify()[0] == 0


# --- Shipping -------------------------------------------------------------------------------------------------


def test_each_committed_entry_is_shipped_as_one_json_line_with_its_content_id_and_hash(
    owner, team_a, shipped, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        event = rename(owner, team_a, "Acme", "Acme Prod")
    [line] = shipped()
    assert line == {**audit.chain_content({name: getattr(event, name) for name in audit.CHAIN_FIELDS}),
                    "id": event.pk, "hash": event.hash}
    assert (line["action"], line["ip"], line["changes"]) == ("server.rename", "203.0.113.7",
                                                             {"name": ["Acme", "Acme Prod"]})
    content = {key: value for key, value in line.items() if key not in {"id", "hash"}}
    assert audit.entry_hash(content) == line["hash"]  # a receiving system can check the line on its own


def test_an_entry_whose_transaction_rolls_back_is_not_shipped_but_a_refused_attempt_is(
    owner, admin, team_a, shipped, django_capture_on_commit_callbacks
):
    owners = Membership.objects.get(user=owner, team=team_a)
    class RequestFailed(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RequestFailed), transaction.atomic():
        rename(owner, team_a, "Acme", "Never happened")
        with pytest.raises(ServiceError):
            member_set_role(actor=admin, team=team_a, membership=owners, role=Role.VIEWER)
        raise RequestFailed
    with django_capture_on_commit_callbacks(execute=True):
        audit.settle_unsettled()
    assert [(line["action"], line["outcome"], line["chain_seq"]) for line in shipped()] == [
        ("member.role_change", "refused", 2)]


def test_the_shipped_line_is_written_as_it_is_without_a_time_or_level_in_front(owner, team_a):
    event = rename(owner, team_a, "Acme", "Acme Prod")
    # The handler LOGGING gives it (the test runner adds capturing handlers of its own).
    [handler] = [each for each in logging.getLogger("dashboard.audit.ship").handlers
                 if type(each) in (logging.StreamHandler, logging.handlers.WatchedFileHandler)]
    record = logging.LogRecord("dashboard.audit.ship", logging.INFO, __file__, 0, audit.shipped_line(event), (), None)
    assert handler.format(record) == audit.shipped_line(event)
    assert logging.getLogger("dashboard.audit.ship").propagate is False


def test_a_shipped_line_never_holds_a_server_token(owner, team_a, shipped, django_capture_on_commit_callbacks):
    token = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValueError):
        audit.record(action="server.connect", actor=owner, team=team_a, changes={"token": [None, token]})
    assert shipped() == []


def test_seeding_many_entries_at_once_chains_and_ships_them_like_single_ones(
    owner, team_a, team_b, shipped, django_capture_on_commit_callbacks
):
    entries = [{"action": "server.rename", "actor": owner, "team": team, "changes": {"name": ["a", f"b{i}"]}}
               for i, team in enumerate([team_a, team_b, team_a, None])]
    with django_capture_on_commit_callbacks(execute=True):
        assert audit.record_many(entries, batch_size=3) == 4
    assert [event.chain_seq for event in chain_of(team_a)] == [1, 2, 3]
    assert len(shipped()) == 4
    assert verify()[0] == 0


# --- As an operator runs it -----------------------------------------------------------------------------------


def test_the_command_exits_with_status_0_or_1_and_the_migration_chains_entries_written_before_it(sqlite_manage):
    """Entries written before the chain existed are chained by migration 0004, in the order they were written."""
    database, manage = sqlite_manage

    assert manage("migrate", "dashboard", "0003", "--noinput").returncode == 0
    with sqlite3.connect(database) as db:
        for team_id, action in [(1, "team.create"), (2, "team.create"), (None, "auth.login.success"),
                                (1, "member.invite")]:
            db.execute(f"INSERT INTO {TABLE} (occurred_at, team_id, team_label, actor_label, actor_role, "
                       "user_agent, request_id, action, target_type, target_id, target_label, changes, outcome, "
                       "detail) VALUES ('2026-01-02 03:04:05.123456', ?, 'T', 'a@b.example', '', '', '', ?, '', '',"
                       " '', '{}', 'success', '')", (team_id, action))
    assert manage("migrate", "--noinput").returncode == 0
    checked = manage("verify_audit_chain")
    assert (checked.returncode, checked.stdout.strip()) == (0, "OK: 4 entries in 3 chains verified")

    with sqlite3.connect(database) as db:
        db.execute(f"UPDATE {TABLE} SET outcome = 'refused' WHERE id = 4")
    checked = manage("verify_audit_chain")
    assert checked.returncode == 1
    assert "Audit log entry 4 does not verify: its content does not match its hash." in checked.stderr
    assert "It says it was written 2026-01-02 03:04:05 UTC, action member.invite, team T (id 1)." in checked.stderr
