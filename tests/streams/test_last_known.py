"""The last-known copy of each server's streams: when a read uses it, what Postmark's trouble leaves on a page,
one call for many readers, and the changes made outside the dashboard that reach the audit log (and those that
must not: our own writes, even when their answer was lost)."""

import contextlib
import logging
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from dashboard.models import AuditEvent
from dashboard.postmark.client import SANDBOX_URL, PostmarkClient, ValidationRefused
from dashboard.services.servers import server_connect
from streams import last_known, services
from streams.last_known import OUTSIDE
from streams.models import StreamCopy
from streams.services import (
    PostmarkTrouble,
    StreamGone,
    stream_archive,
    stream_create,
    stream_edit,
    stream_list,
    stream_read,
    stream_restore,
    stream_snapshot,
    team_overview,
)
from tests.conftest import TOKEN_A

pytestmark = pytest.mark.django_db

STAGING_TOKEN = "dddddddd-0000-4000-8000-00000000d4d4"
OUTSIDE_ACTIONS = ("stream.outside.create", "stream.outside.edit", "stream.outside.archive",
                   "stream.outside.restore", "stream.outside.delete", "stream.purge")


@pytest.fixture
def postmark_calls(caplog):
    """How many times the client asked Postmark for something (its one log line per conversation)."""
    caplog.set_level(logging.INFO, logger="dashboard.postmark")

    def count(method: str = "") -> int:
        return sum(1 for record in caplog.records
                   if record.name == "dashboard.postmark" and record.getMessage().startswith(f"Postmark {method}"))

    count.clear = caplog.clear
    return count


@pytest.fixture
def postmark(sandbox, server_a):
    """Postmark as someone else sees it (its own pages, a script): changes made behind the dashboard's back."""
    return PostmarkClient(TOKEN_A, base_url=SANDBOX_URL)


@pytest.fixture
def known(server_a, postmark):
    """Acme Production with a stream of its own, and the dashboard's first copy of it."""
    postmark.create_stream(id="billing-news", name="Billing news", stream_type="Broadcasts", description="Invoices")
    stream_list(server=server_a)
    return server_a


def age_the_copy(server, *, seconds: float = 3600) -> None:
    StreamCopy.objects.filter(server=server).update(fetched_at=timezone.now() - timedelta(seconds=seconds))


def outside_events():
    return list(AuditEvent.objects.filter(action__in=OUTSIDE_ACTIONS).order_by("id"))


def read_again(server):
    return stream_list(server=server, include_archived=True, refresh=True)


# --- When the copy is used -------------------------------------------------------------------------


def test_a_fresh_copy_answers_without_asking_postmark(known, postmark_calls):
    postmark_calls.clear()

    listing = stream_list(server=known, include_archived=True)

    assert postmark_calls() == 0
    assert "billing-news" in [stream.id for stream in listing.streams]
    assert listing.trouble is None and timezone.now() - listing.as_of < timedelta(seconds=30)


def test_a_copy_older_than_the_setting_is_asked_for_again_and_renewed(known, postmark_calls, settings):
    settings.STREAMS_FRESH_SECONDS = 30
    age_the_copy(known, seconds=31)
    postmark_calls.clear()

    listing = stream_list(server=known)

    assert postmark_calls("GET") == 1
    assert timezone.now() - listing.as_of < timedelta(seconds=5)
    assert timezone.now() - StreamCopy.objects.get(server=known).fetched_at < timedelta(seconds=5)


def test_refresh_asks_postmark_even_while_the_copy_is_fresh(known, postmark_calls):
    postmark_calls.clear()

    stream_list(server=known, refresh=True)
    stream_read(server=known, stream_id="billing-news", refresh=True)

    assert postmark_calls("GET") == 2


def test_a_streams_page_reads_the_copy_and_asks_for_a_stream_the_copy_does_not_hold_yet(known, postmark,
                                                                                         postmark_calls):
    postmark.create_stream(id="receipts", name="Receipts", stream_type="Transactional")
    postmark_calls.clear()

    held = stream_read(server=known, stream_id="billing-news")
    newer = stream_read(server=known, stream_id="receipts")

    assert held.stream.name == "Billing news" and newer.stream.name == "Receipts"
    assert postmark_calls("GET") == 1  # only for the stream the copy didn't have
    with pytest.raises(StreamGone):
        stream_read(server=known, stream_id="never-made")


def test_a_copy_is_kept_per_server_and_another_teams_server_has_its_own(known, server_b, postmark):
    stream_list(server=server_b)

    copies = {copy.server_id: copy for copy in StreamCopy.objects.all()}

    assert set(copies) == {known.pk, server_b.pk}
    assert "billing-news" in [item["id"] for item in copies[known.pk].streams]
    assert "billing-news" not in [item["id"] for item in copies[server_b.pk].streams]


# --- Postmark in trouble ---------------------------------------------------------------------------


@pytest.mark.parametrize(("faults", "kind"), [
    ({"status": 503}, "unavailable"), ({"status": 429}, "rate_limited"), ({"status": 502}, "unavailable"),
])
def test_when_postmark_fails_a_read_shows_the_last_copy_with_its_age_and_the_trouble(known, sandbox, faults, kind):
    age_the_copy(known, seconds=420)
    sandbox.set_faults(**faults)

    listing = stream_list(server=known)
    one = stream_read(server=known, stream_id="billing-news")

    assert "billing-news" in [stream.id for stream in listing.streams]
    assert listing.trouble.kind == kind and one.trouble.kind == kind
    assert timedelta(seconds=419) < timezone.now() - listing.as_of < timedelta(seconds=430)
    assert one.stream.name == "Billing news" and one.as_of == listing.as_of


def test_a_rejected_token_shows_the_copy_with_the_token_problem_and_never_as_current(known, sandbox):
    age_the_copy(known)
    sandbox.reset()  # Postmark no longer knows the token

    listing = stream_list(server=known)

    assert listing.trouble.kind == "token_rejected"
    assert "billing-news" in [stream.id for stream in listing.streams]
    assert timezone.now() - listing.as_of > timedelta(minutes=59)
    known.refresh_from_db()
    assert known.token_rejected_at is not None


def test_without_a_copy_postmarks_trouble_is_all_there_is(server_a, sandbox):
    sandbox.set_faults(status=503)

    with pytest.raises(PostmarkTrouble):
        stream_list(server=server_a)
    assert not StreamCopy.objects.exists()


def test_a_read_waiting_for_another_ones_answer_never_asks_postmark_itself_and_falls_back_on_the_copy(
        known, postmark_calls, settings):
    from django.core.cache import cache

    settings.POSTMARK_CONNECT_TIMEOUT, settings.POSTMARK_READ_TIMEOUT = 0.05, 0.1
    age_the_copy(known, seconds=120)
    cache.add(f"streams:asking:{known.pk}", 1, timeout=60)  # another request is asking Postmark right now
    postmark_calls.clear()

    listing = stream_list(server=known)

    assert postmark_calls() == 0
    assert listing.trouble.kind == "unavailable" and "taking too long" in listing.trouble.message
    assert "billing-news" in [stream.id for stream in listing.streams]
    cache.delete(f"streams:asking:{known.pk}")


def test_the_overview_asks_only_the_servers_whose_copy_is_stale(known, server_b, sandbox, team_a, owner,
                                                                postmark_calls):
    sandbox.add_server(STAGING_TOKEN, name="Acme Staging")
    staging = server_connect(actor=owner, team=team_a, name="Acme Staging", token=STAGING_TOKEN, sandbox=True)
    team_overview(team=team_a)
    age_the_copy(staging)
    postmark_calls.clear()

    overview = team_overview(team=team_a)

    assert postmark_calls("GET") == 1
    assert [summary.trouble for summary in overview.servers] == [None, None]


# --- Changes made outside the dashboard ------------------------------------------------------------


def the_outside_event(action: str) -> AuditEvent:
    events = outside_events()
    assert [event.action for event in events] == [action], [(e.action, e.changes) for e in events]
    return events[0]


def test_the_first_copy_of_a_server_records_nothing(known):
    assert StreamCopy.objects.filter(server=known).exists()
    assert outside_events() == []


def test_a_stream_renamed_in_postmark_is_recorded_once_with_postmark_as_the_actor(known, postmark, team_a):
    postmark.edit_stream("billing-news", name="Invoices", description="Monthly invoices")

    read_again(known)
    read_again(known)

    event = the_outside_event("stream.outside.edit")
    assert event.actor_id is None and event.actor_label == OUTSIDE
    assert event.team_id == team_a.pk and event.target_id == f"{known.pk}/billing-news"
    assert event.changes == {"name": ["Billing news", "Invoices"], "description": ["Invoices", "Monthly invoices"]}
    assert event.outcome == AuditEvent.Outcome.SUCCESS


def test_a_change_of_unsubscribe_handling_in_postmark_is_recorded(known, postmark, sandbox):
    sandbox.grant_custom_unsubscribe(TOKEN_A)
    postmark.edit_stream("billing-news", unsubscribe_handling="Custom")

    read_again(known)

    assert the_outside_event("stream.outside.edit").changes == {"unsubscribe_handling": ["Postmark", "Custom"]}


def test_a_stream_created_in_postmark_is_recorded_with_what_it_was_made_with(known, postmark):
    postmark.create_stream(id="receipts", name="Receipts", stream_type="Transactional", description="Paid")

    read_again(known)

    assert the_outside_event("stream.outside.create").changes == {
        "name": [None, "Receipts"], "type": [None, "Transactional"], "description": [None, "Paid"],
        "unsubscribe_handling": [None, "None"]}


def test_a_stream_archived_then_restored_in_postmark_is_recorded_each_time(known, postmark):
    result = postmark.archive_stream("billing-news")
    read_again(known)
    postmark.unarchive_stream("billing-news")
    read_again(known)

    events = outside_events()
    assert [event.action for event in events] == ["stream.outside.archive", "stream.outside.restore"]
    assert events[0].changes == {"state": ["active", "archived"],
                                 "purge_date": [None, result.expected_purge_date.isoformat()]}
    assert events[1].changes == {"state": ["archived", "active"]}


def test_a_stream_purged_by_postmark_after_its_45_days_is_its_own_kind_of_entry(known, postmark, sandbox):
    postmark.archive_stream("billing-news")
    read_again(known)
    # 46 days on, for Postmark (the sandbox's clock) and in what the copy says of the purge date (ours).
    sandbox.advance_clock(days=46)
    copy = StreamCopy.objects.get(server=known)
    for item in copy.streams:
        if item["id"] == "billing-news":
            item["expected_purge_date"] = (timezone.now() - timedelta(days=1)).isoformat()
    copy.save()

    read_again(known)

    purge = AuditEvent.objects.get(action="stream.purge")
    assert purge.actor_label == "Postmark" and purge.changes == {"state": ["archived", "deleted"]}
    assert "after its 45 days" in purge.detail
    assert not AuditEvent.objects.filter(action="stream.outside.delete").exists()


def test_a_stream_that_vanished_before_its_purge_date_is_recorded_as_deleted_outside(known):
    copy = StreamCopy.objects.get(server=known)
    copy.streams.append({**copy.streams[0], "id": "old-promo", "name": "Old promo"})  # Postmark has no such one
    copy.save()

    read_again(known)

    assert the_outside_event("stream.outside.delete").changes == {"state": ["active", "deleted"]}


def test_a_get_of_one_stream_finds_outside_changes_too(known, postmark):
    postmark.edit_stream("billing-news", name="Invoices")
    age_the_copy(known)

    stream_read(server=known, stream_id="billing-news")

    assert the_outside_event("stream.outside.edit").changes == {"name": ["Billing news", "Invoices"]}


def test_the_dashboards_own_changes_are_never_recorded_as_outside_ones(known, editor, team_a):
    stream_create(actor=editor, team=team_a, server=known, stream_id="receipts", name="Receipts",
                  stream_type="Transactional")
    current = stream_read(server=known, stream_id="receipts", refresh=True).stream
    stream_edit(actor=editor, team=team_a, server=known, stream_id="receipts",
                seen=last_known_seen(current), name="Paid receipts", description="", unsubscribe_handling="None")
    stream_archive(actor=editor, team=team_a, server=known, stream_id="receipts", confirmation="receipts")
    read_again(known)
    stream_restore(actor=editor, team=team_a, server=known, stream_id="receipts")

    read_again(known)
    read_again(known)

    assert outside_events() == []
    held = {item["id"]: item for item in StreamCopy.objects.get(server=known).streams}
    assert held["receipts"]["name"] == "Paid receipts" and held["receipts"]["archived_at"] is None


def last_known_seen(stream) -> dict:
    from streams.services import read_snapshot
    return read_snapshot(stream_snapshot(stream), stream_id=stream.id)


def test_a_write_whose_answer_was_lost_is_not_taken_for_an_outside_change_when_it_was_done(known, editor, team_a,
                                                                                          sandbox, postmark,
                                                                                          settings):
    settings.POSTMARK_READ_TIMEOUT = 0.2
    sandbox.set_faults(hang=True)
    with pytest.raises(PostmarkTrouble) as lost:
        stream_create(actor=editor, team=team_a, server=known, stream_id="receipts", name="Receipts",
                      stream_type="Transactional")
    sandbox.clear_faults()
    assert lost.value.maybe_done
    with contextlib.suppress(ValidationRefused):  # Postmark did it after all (the released request may have too)
        postmark.create_stream(id="receipts", name="Receipts", stream_type="Transactional")

    read_again(known)
    postmark.edit_stream("receipts", name="Renamed in Postmark")
    read_again(known)

    assert [event.action for event in outside_events()] == ["stream.outside.edit"]  # only the later, real one


def test_a_list_postmark_answered_before_our_write_does_not_undo_it_or_record_it(known, editor, team_a):
    asked_before = timezone.now()
    old_answer = PostmarkClient(TOKEN_A, base_url=SANDBOX_URL).list_streams(include_archived=True)
    stream_create(actor=editor, team=team_a, server=known, stream_id="receipts", name="Receipts",
                  stream_type="Transactional")

    last_known.take_list(known, old_answer, asked_at=asked_before)

    assert "receipts" in [item["id"] for item in StreamCopy.objects.get(server=known).streams]
    assert outside_events() == []


def test_each_team_with_the_same_postmark_server_sees_the_others_changes_as_outside_ones(
        known, sandbox, team_b, outsider, editor, team_a):
    theirs = server_connect(actor=outsider, team=team_b, name="Shared", token=TOKEN_A, sandbox=True)
    stream_list(server=theirs)

    stream_archive(actor=editor, team=team_a, server=known, stream_id="billing-news", confirmation="billing-news")
    read_again(theirs)
    read_again(known)

    events = outside_events()
    assert [(event.action, event.team_id) for event in events] == [("stream.outside.archive", team_b.pk)]


def test_the_audit_log_filter_for_changes_made_outside_lists_them_and_nothing_else(known, postmark, client_as,
                                                                                   admin, team_a):
    postmark.edit_stream("billing-news", name="Invoices")
    read_again(known)

    page = client_as(admin).get(f"/t/{team_a.slug}/audit/", {"group": "outside"})
    text = page.content.decode()

    assert page.status_code == 200
    assert "Changed outside the dashboard" in text
    assert OUTSIDE in text and "billing-news on Acme Production" in text
    assert "connected a server" not in text


def test_a_streams_history_shows_the_change_made_outside_with_who_made_it(known, postmark, client_as, viewer, team_a):
    postmark.edit_stream("billing-news", name="Invoices")
    read_again(known)

    text = client_as(viewer).get(f"/t/{team_a.slug}/servers/{known.pk}/streams/billing-news/").content.decode()

    assert OUTSIDE in text
    assert "Invoices" in text and "Billing news" in text


def test_the_locks_of_many_servers_are_taken_at_once_and_a_held_one_is_left_alone(known, server_b):
    held = services._lock_key(server_b)
    cache.add(held, "another request", timeout=60)

    taken = services._locks_taken([known, server_b])

    assert taken == [True, False]
    assert cache.get(services._lock_key(known)) == 1
    assert cache.get(held) == "another request"
    assert services._locks_taken([known]) == [False], "taken now, until let go"
    cache.delete_many([services._lock_key(known), held])
