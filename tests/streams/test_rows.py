"""The values a stream table's rows show, worked out in Python (`streams.views.rows`): the same words, dates
and addresses the per-row template tags gave, in the reader's time zone."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from dashboard.postmark.client import Stream, StreamType, UnsubscribeHandling
from streams.purge import countdown_for
from streams.views.rows import Countdown, Moment, server_address, stream_address, stream_rows

NOW = datetime(2026, 11, 23, 16, 53, tzinfo=UTC)
SERVER = "6f1d3a52-5d0e-4a4b-9d54-1b6a7c1e2f00"


def stream(stream_id="billing", *, archived_days_ago=None, handling=UnsubscribeHandling.NONE,
           stream_type=StreamType.TRANSACTIONAL, description=None, updated_at=None) -> Stream:
    archived_at = NOW - timedelta(days=archived_days_ago) if archived_days_ago is not None else None
    return Stream(id=stream_id, server_id=1, name="Billing", description=description, stream_type=stream_type,
                  unsubscribe_handling=handling, created_at=datetime(2026, 1, 31, 23, 30, tzinfo=UTC),
                  updated_at=updated_at, archived_at=archived_at,
                  expected_purge_date=archived_at + timedelta(days=45) if archived_at else None)


@pytest.mark.parametrize("name", ["stream_detail", "stream_restore", "stream_edit", "stream_archive"])
@pytest.mark.parametrize("stream_id", ["billing", "x", "stream-id", "Old_Stream-2", "streams"])
def test_a_row_address_is_what_reverse_gives(name, stream_id):
    assert stream_address("acme", name)(SERVER, stream_id) == reverse(name, args=["acme", SERVER, stream_id])


@pytest.mark.parametrize("name", ["server_detail", "server_token", "stream_list", "stream_create"])
def test_a_server_address_is_what_reverse_gives(name):
    # A team slug that looks like a placeholder must not be mistaken for one.
    for slug in ["acme", "stream-id", "servers"]:
        assert server_address(slug, name)(SERVER) == reverse(name, args=[slug, SERVER])


def test_dates_are_days_in_the_readers_zone_with_the_full_time_beside_them():
    with timezone.override("Pacific/Auckland"):
        [row] = stream_rows([stream(updated_at=datetime(2026, 7, 1, 10, 0, tzinfo=UTC))], team_slug="acme",
                            server_pk=SERVER, now=NOW)
    assert (row.created.day, row.created.full) == ("1 February 2026", "1 February 2026, 12:30 NZDT")
    assert row.created.stamp == "2026-01-31T23:30:00Z"
    assert (row.updated.day, row.updated.full) == ("1 July 2026", "1 July 2026, 22:00 NZST")


def test_a_stream_never_updated_has_no_update_date():
    [row] = stream_rows([stream()], team_slug="acme", server_pk=SERVER, now=NOW)
    assert row.updated is None


@pytest.mark.parametrize(("handling", "stream_type", "words"), [
    (UnsubscribeHandling.POSTMARK, StreamType.BROADCASTS, "By Postmark"),
    (UnsubscribeHandling.CUSTOM, StreamType.BROADCASTS, "By you"),
    (UnsubscribeHandling.NONE, StreamType.TRANSACTIONAL, "None"),
    (UnsubscribeHandling.NONE, StreamType.INBOUND, "None"),
])
def test_unsubscribe_handling_reads_in_two_words(handling, stream_type, words):
    [row] = stream_rows([stream(handling=handling, stream_type=stream_type)], team_slug="acme", server_pk=SERVER)
    assert row.handling == words


def test_a_long_description_is_cut_to_90_characters_and_a_short_one_kept():
    rows = stream_rows([stream(description="x" * 200), stream(description="Receipts")], team_slug="acme",
                       server_pk=SERVER)
    assert [len(row.short_description) for row in rows] == [90, 8]
    assert rows[0].short_description.endswith("…")


def test_an_archived_row_carries_the_countdown_the_purge_module_computes():
    archived = stream(archived_days_ago=33)
    expected = countdown_for(archived, NOW)
    with timezone.override("Europe/Berlin"):
        [row] = stream_rows([archived], team_slug="acme", server_pk=SERVER, now=NOW)
    shown = row.countdown
    assert (shown.urgency, shown.urgency_text, shown.time_left_text, shown.percent_passed, shown.days_passed,
            shown.period_days, shown.is_past) == (
        expected.urgency, expected.urgency_text, expected.time_left_text, expected.percent_passed,
        expected.days_passed, expected.period_days, False)
    assert shown.purge_at.full == "5 December 2026, 17:53 CET"
    assert row.is_archived


def test_an_active_row_has_no_countdown():
    [row] = stream_rows([stream()], team_slug="acme", server_pk=SERVER, now=NOW)
    assert row.countdown is None
    assert not row.is_archived


def _words_and_tags(html: str) -> str:
    """HTML as a browser reads it: every run of white space is one space."""
    return re.sub(r"\s+", " ", str(html)).strip()


@pytest.mark.parametrize("archived_days_ago", [0, 1, 20, 38, 44, 44.9, 45, 46, 60])
def test_a_rows_compact_countdown_is_the_templates_compact_countdown(archived_days_ago):
    with timezone.override("America/New_York"):
        [row] = stream_rows([stream(archived_days_ago=archived_days_ago)], team_slug="acme", server_pk=SERVER,
                            now=NOW)
        from_template = render_to_string("components/purge_countdown.html",
                                         {"countdown": row.countdown, "compact": True})
    assert _words_and_tags(row.countdown.compact_html) == _words_and_tags(from_template)


def test_a_rows_compact_countdown_escapes_what_it_is_given():
    shown = Countdown(urgency="soon", urgency_text="<b>x</b>", time_left_text="3 days", is_past=False,
                      percent_passed=90, days_passed=42, period_days=45,
                      purge_at=Moment(day="d", full="<i>when</i>", stamp='"s"'))
    assert "<b>" not in shown.compact_html and "<i>" not in shown.compact_html and '"s"' not in shown.compact_html


@pytest.mark.parametrize("description", [
    "Receipts", "x" * 90, "x" * 91, "Café receipts", "Cafe\u0301 receipts", "e\u0301" * 90, "ü" * 95, " ",
])
def test_the_short_description_is_what_truncator_gives(description):
    from django.utils.text import Truncator

    [row] = stream_rows([stream(description=description)], team_slug="acme", server_pk=SERVER)
    assert row.short_description == Truncator(description).chars(90)
