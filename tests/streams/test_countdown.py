"""The purge countdown of an archived stream: its words, its share of the 45 days, its urgency, and how
`{% purge_countdown %}` shows it (in the person's time zone, with text as well as colour, no style attributes)."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

from dashboard.postmark.client import Stream, StreamType, UnsubscribeHandling
from streams.purge import countdown_for, duration_text, purge_date_if_archived_now
from streams.services import stream_archive, stream_create, stream_get
from tests.conftest import TOKEN_A

NOW = datetime(2026, 11, 23, 16, 53, tzinfo=UTC)


def archived(days_ago: float, *, purge_date: datetime | None = None, archived_at: bool = True) -> Stream:
    archive_moment = NOW - timedelta(days=days_ago)
    return Stream(id="newsletter", server_id=1, name="Newsletter", description=None,
                  stream_type=StreamType.BROADCASTS, unsubscribe_handling=UnsubscribeHandling.POSTMARK,
                  created_at=NOW - timedelta(days=400), updated_at=None,
                  archived_at=archive_moment if archived_at else None,
                  expected_purge_date=purge_date if purge_date is not None else archive_moment + timedelta(days=45))


def render(template: str, **context) -> str:
    return Template("{% load streams %}" + template).render(Context(context))


def text_of(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


@pytest.mark.parametrize(("span", "words"), [
    (timedelta(days=12, hours=4, minutes=30), "12 days, 4 hours"),
    (timedelta(days=1, hours=1), "1 day, 1 hour"),
    (timedelta(days=3), "3 days"),
    (timedelta(hours=5, minutes=3, seconds=59), "5 hours, 3 minutes"),
    (timedelta(hours=1), "1 hour"),
    (timedelta(minutes=4, seconds=10), "4 minutes"),
    (timedelta(minutes=1), "1 minute"),
    (timedelta(seconds=59), "less than a minute"),
    (timedelta(0), ""),
    (timedelta(seconds=-5), ""),
])
def test_time_left_reads_as_the_two_largest_units_rounded_down(span, words):
    assert duration_text(span) == words


def test_a_stream_archived_33_days_ago_has_under_12_days_left_and_warns():
    countdown = countdown_for(archived(33), now=NOW + timedelta(minutes=1))

    assert countdown.time_left_text == "11 days, 23 hours"
    assert countdown.urgency == "warning"
    assert countdown.urgency_text == "Purging within 2 weeks"
    assert countdown.percent_passed == 73
    assert not countdown.is_past


def test_a_stream_archived_43_days_ago_is_in_danger():
    countdown = countdown_for(archived(43.5), now=NOW)

    assert countdown.time_left_text == "1 day, 12 hours"
    assert countdown.urgency == "danger"
    assert countdown.urgency_text == "Urgent: purging within 7 days"
    assert countdown.percent_passed == 96


@pytest.mark.parametrize(("days_left", "urgency", "words"), [
    (14, "calm", "Can be restored"),
    (13.9, "warning", "Purging within 2 weeks"),
    (7.01, "warning", "Purging within 2 weeks"),
    (7, "danger", "Urgent: purging within 7 days"),
    (5, "danger", "Urgent: purging within 7 days"),
    (0.01, "danger", "Urgent: purging within 7 days"),
])
def test_seven_days_or_less_before_the_purge_is_urgent_in_words_and_colour(days_left, urgency, words):
    countdown = countdown_for(archived(45 - days_left), now=NOW)

    assert (countdown.urgency, countdown.urgency_text) == (urgency, words)


def test_a_stream_archived_yesterday_is_calm():
    countdown = countdown_for(archived(1), now=NOW)

    assert countdown.time_left_text == "44 days"
    assert countdown.urgency == "calm"
    assert countdown.urgency_text == "Can be restored"
    assert countdown.percent_passed == 2
    assert countdown.days_passed == 1


def test_exactly_14_days_left_is_still_calm_and_a_minute_less_warns():
    stream = archived(31)
    assert countdown_for(stream, now=NOW).urgency == "calm"
    assert countdown_for(stream, now=NOW + timedelta(minutes=1)).urgency == "warning"


def test_a_purge_date_in_the_past_says_postmark_deleted_the_stream():
    countdown = countdown_for(archived(46), now=NOW)

    assert countdown.is_past
    assert countdown.time_left == timedelta(0)
    assert countdown.time_left_text == ""
    assert countdown.urgency_text == "Deleted by Postmark"
    assert countdown.percent_passed == 100


def test_without_an_archive_time_the_archive_is_taken_as_45_days_before_the_purge():
    countdown = countdown_for(archived(0, purge_date=NOW + timedelta(days=9), archived_at=False), now=NOW)

    assert countdown.archived_at == NOW - timedelta(days=36)
    assert countdown.percent_passed == 80
    assert countdown.time_left_text == "9 days"


def test_a_stream_that_is_not_archived_has_no_countdown():
    stream = Stream(id="outbound", server_id=1, name="Default", description=None,
                    stream_type=StreamType.TRANSACTIONAL, unsubscribe_handling=UnsubscribeHandling.NONE,
                    created_at=NOW, updated_at=None, archived_at=None, expected_purge_date=None)

    assert countdown_for(stream, now=NOW) is None
    assert render("{% purge_countdown stream %}", stream=stream).strip() == ""


def test_archiving_now_means_postmark_deletes_the_stream_45_days_from_now():
    assert purge_date_if_archived_now(NOW) == NOW + timedelta(days=45)
    with timezone.override("Europe/Berlin"):
        before = timezone.localtime() + timedelta(days=45)
        shown = render("{% purge_date_if_archived_now as purge_at %}{% load dashboard %}{{ purge_at|local_time }}")
        after = timezone.localtime() + timedelta(days=45)
    assert shown in {f"{moment:%-d %B %Y, %H:%M} {moment.tzname()}" for moment in (before, after)}


def test_the_countdown_shows_urgency_in_words_time_left_and_the_date_in_the_persons_zone():
    with timezone.override("Europe/Berlin"):
        markup = render("{% purge_countdown stream now=now %}", stream=archived(33), now=NOW)

    shown = text_of(markup)
    assert "Purging within 2 weeks" in shown
    assert "12 days left" in shown
    assert "Postmark deletes it on 5 December 2026, 17:53 CET" in shown
    assert 'class="badge badge--warning"' in markup
    assert '<time datetime="2026-12-05T16:53:00Z">' in markup


def test_the_bar_tells_how_many_of_the_45_days_passed_without_a_style_attribute():
    markup = render("{% purge_countdown stream now=now %}", stream=archived(31), now=NOW)

    bar = re.search(r"<progress[^>]*>", markup).group(0)
    assert 'max="100"' in bar and 'value="68"' in bar
    assert 'aria-label="31 of 45 days passed"' in bar
    assert "style=" not in markup


def test_the_compact_countdown_for_a_table_row_keeps_the_words():
    markup = render("{% purge_countdown stream compact=True now=now %}", stream=archived(43), now=NOW)

    assert "countdown--compact" in markup and "countdown--danger" in markup
    assert "Urgent: purging within 7 days" in text_of(markup)
    assert "2 days left" in text_of(markup)
    assert "style=" not in markup


def test_a_past_purge_renders_as_deleted_without_a_bar():
    markup = render("{% purge_countdown stream now=now %}", stream=archived(50), now=NOW)

    assert "Deleted by Postmark" in text_of(markup)
    assert "can no longer be restored" in text_of(markup)
    assert "<progress" not in markup


@pytest.mark.django_db
def test_a_stream_archived_in_the_sandbox_and_backdated_33_days_counts_down_from_postmarks_date(
        sandbox, server_a, owner, team_a):
    stream_create(actor=owner, team=team_a, server=server_a, stream_id="promo", name="Promotions",
                  stream_type="Broadcasts")
    stream_archive(actor=owner, team=team_a, server=server_a, stream_id="promo", confirmation="promo")
    sandbox.backdate_archive(TOKEN_A, "promo", days=33)

    countdown = countdown_for(stream_get(server=server_a, stream_id="promo"))

    assert countdown.time_left_text.startswith("11 days, 23 hours")
    assert countdown.urgency == "warning"
    assert countdown.percent_passed == 73
    with timezone.override("America/New_York"):
        shown = text_of(render("{% purge_countdown stream %}", stream=stream_get(server=server_a, stream_id="promo")))
        purge_in_new_york = timezone.localtime(countdown.purge_at)
    assert f"Postmark deletes it on {purge_in_new_york:%-d %B %Y, %H:%M} {purge_in_new_york.tzname()}" in shown
