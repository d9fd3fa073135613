"""A stream's activity on its page and at its own address: charts, the numbers as a table, health in words,
the period in the address, every role, every kind of Postmark trouble, and the archive dialog's reminder."""

import re
from datetime import date, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.models import Server
from dashboard.postmark.client_stats import postmark_today
from dashboard.postmark.sandbox import Sandbox, install
from streams.services import stream_create
from streams.services_activity import StreamActivity, stream_activity
from streams.views.activity import eastern_day_in_local_time
from tests.conftest import TOKEN_A
from tests.csp import csp_violations

pytestmark = pytest.mark.django_db


def today():
    return postmark_today(timezone.now())


def seed(sandbox, stream="outbound", days_ago=0, **counts):
    sandbox.seed_stats(TOKEN_A, stream, today() - timedelta(days=days_ago), counts)


def url(server, name="stream_activity", stream_id="outbound", query=""):
    return reverse(name, args=["acme", server.pk, stream_id]) + query


def text_of(response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def stats_requests(sandbox) -> list[str]:
    return [line for line in sandbox.received if "/stats/" in line]


# --- Who may see it --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "persona, status",
    [("anonymous", 302), ("outsider", 404), ("viewer", 200), ("editor", 200), ("admin", 200), ("owner", 200)],
)
def test_every_member_sees_a_stream_s_activity_and_nobody_else(persona, status, cast, server_a, client_as, sandbox):
    seed(sandbox, Sent=1284)

    response = client_as(cast[persona]).get(url(server_a))

    assert response.status_code == status
    if status == 200:
        assert "Sent 1,284" in text_of(response)
    else:
        assert stats_requests(sandbox) == []


def test_another_team_s_server_is_unknown(viewer, server_b, client_as):
    assert client_as(viewer).get(url(server_b)).status_code == 404


# --- The section on the stream's page ---------------------------------------------------------------


def test_the_stream_page_does_not_wait_for_statistics_it_has_not_got(viewer, server_a, client_as, sandbox):
    response = client_as(viewer).get(url(server_a, "stream_detail"))

    page = response.content.decode()
    assert response.status_code == 200
    assert stats_requests(sandbox) == []
    assert f'hx-get="{url(server_a, query="?days=30")}" hx-trigger="load"' in page
    assert f'<a href="{url(server_a, query="?days=30")}">Show this stream\'s activity</a>' in page


def test_the_stream_page_shows_cached_statistics_at_once(viewer, server_a, client_as, sandbox):
    seed(sandbox, Sent=700)
    stream_activity(server=server_a, stream_id="outbound", days=30)

    response = client_as(viewer).get(url(server_a, "stream_detail"))

    assert "Sent 700" in text_of(response)
    assert 'hx-trigger="load"' not in response.content.decode()
    assert len(stats_requests(sandbox)) == 3  # only the service call above


def test_the_period_is_kept_in_the_address(viewer, server_a, client_as, sandbox):
    seed(sandbox, days_ago=10, Sent=50)
    seed(sandbox, days_ago=1, Sent=7)
    browser = client_as(viewer)

    week = browser.get(url(server_a, query="?days=7"))
    quarter = browser.get(url(server_a, query="?days=90"))
    made_up = browser.get(url(server_a, query="?days=365"))

    assert "Sent 7 " in text_of(week) and "Sent 57 " in text_of(quarter)
    assert text_of(week).count("(today, so far)") == 1
    assert len(re.findall(r'<th scope="row"><time', week.content.decode())) == 7
    assert len(re.findall(r'<th scope="row"><time', quarter.content.decode())) == 90
    assert len(re.findall(r'<th scope="row"><time', made_up.content.decode())) == 30
    assert 'aria-current="true" class="activity__period activity__period--current"' in week.content.decode()


def test_on_the_stream_page_the_period_links_keep_the_stream_page_s_address(viewer, server_a, client_as, sandbox):
    response = client_as(viewer).get(url(server_a, query="?days=7"), HTTP_HX_REQUEST="true")

    page = response.content.decode()
    assert "<html" not in page
    assert "HX-Request" in response["Vary"]
    detail = url(server_a, "stream_detail")
    assert f'href="{detail}?days=90#activity"' in page
    assert f'hx-get="{url(server_a, query="?days=90")}"' in page
    assert f'hx-push-url="{detail}?days=90"' in page


def test_charts_and_the_table_hold_the_same_numbers(viewer, server_a, client_as, sandbox):
    seed(sandbox, days_ago=2, Sent=1000, HardBounce=20, SoftBounce=10, SpamComplaint=1)
    seed(sandbox, days_ago=0, Sent=500)

    response = client_as(viewer).get(url(server_a, query="?days=7"))

    page, text = response.content.decode(), text_of(response)
    assert len(re.findall(r'<svg class="chart__svg"[^>]* role="img" aria-label="[^"]+"', page)) == 3
    assert 'aria-label="Sent per day over the last 7 days: 1,500 in all, the most 1,000 on' in page
    assert len(re.findall(r'<rect class="chart__bar"', page)) == 2 + 1 + 1  # sent: 2 days; rates: 1 day each
    assert "<title>" in page and ": 1,000 sent</title>" in page
    assert "The numbers, day by day" in text
    assert "Sent 1,500 Bounced 30 (2.0%) Spam complaints 1 (0.07%)" in text
    assert "1,000 30 3.0% 1 0.10%" in text  # the day's row
    assert "All 7 days 1,500 30 2.0% 1 0.07%" in text
    assert csp_violations(page) == []


def test_a_quiet_stream_says_nothing_was_sent_and_draws_empty_charts(viewer, server_a, client_as, sandbox):
    response = client_as(viewer).get(url(server_a, query="?days=7"))

    text = text_of(response)
    assert "Nothing was sent on this stream in the last 7 days." in text
    assert "Nothing to draw: nothing was sent in these 7 days." in text
    assert "<rect" not in response.content.decode()


def test_a_healthy_stream_says_so_against_our_thresholds(viewer, server_a, client_as, sandbox):
    seed(sandbox, Sent=1000, HardBounce=5)

    text = text_of(client_as(viewer).get(url(server_a, query="?days=7")))

    assert "Healthy" in text
    assert "below our warning levels of 10% and 0.1%" in text
    assert "are ours" in text and "Postmark's own limits are not public" in text


def test_too_many_bounces_and_complaints_are_named_with_what_to_do(viewer, server_a, client_as, sandbox):
    seed(sandbox, Sent=1000, HardBounce=150, SpamComplaint=3)

    response = client_as(viewer).get(url(server_a, query="?days=7"))

    text = text_of(response)
    assert "Needs attention" in text
    assert "Too many bounces: 15.0% of the messages sent bounced, above our warning level of 10%." in text
    assert "Too many spam complaints: 0.30%" in text
    assert "stop sending to addresses that bounced for good" in text
    assert 'class="chart__bar chart__bar--warning"' in response.content.decode()


def test_the_thresholds_come_from_the_settings(viewer, server_a, client_as, sandbox, settings):
    settings.STREAM_BOUNCE_RATE_WARNING = 20
    seed(sandbox, Sent=1000, HardBounce=150)

    text = text_of(client_as(viewer).get(url(server_a, query="?days=7")))

    assert "Healthy" in text and "warning levels of 20% and 0.1%" in text


@pytest.mark.parametrize(
    "zone, until, starts, same",
    [
        ("Europe/Paris", date(2026, 12, 3), "06:00 CET", False),
        ("Europe/Paris", date(2026, 7, 1), "06:00 CEST", False),
        ("Asia/Tokyo", date(2026, 12, 3), "14:00 JST", False),
        ("Asia/Tokyo", date(2026, 7, 1), "13:00 JST", False),  # Eastern summer time; Tokyo has none
        ("Europe/London", date(2026, 3, 10), "04:00 GMT", False),  # the weeks the US is on summer time, not Europe
        ("America/New_York", date(2026, 12, 3), "00:00 EST", True),
        ("America/Toronto", date(2026, 7, 1), "00:00 EDT", True),
    ],
)
def test_postmark_s_eastern_day_is_given_in_the_reader_s_time_zone(zone, until, starts, same):
    activity = StreamActivity(stream_id="outbound", since=until, until=until, days=(), fetched_at=timezone.now())

    with timezone.override(ZoneInfo(zone)):
        assert eastern_day_in_local_time(activity) == {"day_starts": starts, "same_zone": same}


@pytest.mark.parametrize("zone, words", [("Asia/Tokyo", " JST where you are"), ("America/New_York", "too")])
def test_the_page_explains_eastern_days_in_the_reader_s_time_zone(zone, words, viewer, server_a, client_as, sandbox):
    viewer.time_zone = zone
    viewer.save()

    text = text_of(client_as(viewer).get(url(server_a, query="?days=7")))

    assert "Days are Postmark's: midnight to midnight in US Eastern time (New York)" in text
    assert ("each day here starts at" in text) == (zone != "America/New_York")
    assert f"{words}. Today, {today().day} " in text


def test_an_inbound_stream_has_nothing_to_draw_and_postmark_is_not_asked(viewer, server_a, client_as, sandbox):
    response = client_as(viewer).get(url(server_a, stream_id="inbound"))

    assert "This is an inbound stream" in text_of(response)
    assert stats_requests(sandbox) == []


def test_a_stream_postmark_does_not_know_is_a_404_page_saying_so(viewer, server_a, client_as):
    response = client_as(viewer).get(url(server_a, stream_id="nowhere"))

    assert response.status_code == 404
    assert "Back to the streams of Acme Production" in text_of(response)


# --- Postmark's trouble -------------------------------------------------------------------------------


def test_a_plan_without_statistics_is_said_in_words(viewer, server_a, client_as, sandbox):
    sandbox.allow_stats_api(TOKEN_A, False)

    response = client_as(viewer).get(url(server_a))

    assert response.status_code == 200
    assert "doesn't include statistics" in text_of(response)


FAULTS = {
    "429": ({"status": 429}, "rate_limited", "Postmark is busy."),
    "500": ({"status": 500}, "unavailable", "Postmark isn't answering."),
    "503": ({"status": 503}, "unavailable", "Postmark isn't answering."),
    "502 html": ({"status": 502, "body": "html"}, "unavailable", "Postmark isn't answering."),
    "hang": ({"hang": True}, "unavailable", "Postmark isn't answering."),
}


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("fault", FAULTS)
def test_postmark_s_trouble_shows_as_a_banner_in_the_section(
    fault, htmx, viewer, server_a, client_as, sandbox, settings
):
    settings.POSTMARK_READ_TIMEOUT = 0.3
    browser = client_as(viewer)
    browser.get(url(server_a, "stream_detail"))  # the streams are known; only the statistics fail
    faults, kind, heading = FAULTS[fault]
    sandbox.set_faults(**faults)

    response = browser.get(url(server_a), **({"HTTP_HX_REQUEST": "true"} if htmx else {}))

    assert response.status_code == 200
    assert re.findall(r'data-trouble="([a-z_]+)"', response.content.decode()) == [kind]
    assert heading in text_of(response)
    assert TOKEN_A not in response.content.decode()


@pytest.mark.parametrize("persona, may_replace", [("viewer", False), ("admin", True)])
def test_a_rejected_token_is_named_in_the_section(persona, may_replace, cast, server_a, client_as, sandbox):
    browser = client_as(cast[persona])
    browser.get(url(server_a, "stream_detail"))
    previous = install(Sandbox())
    try:
        response = browser.get(url(server_a), HTTP_HX_REQUEST="true")
    finally:
        install(previous)

    assert "Token rejected" in text_of(response)
    assert (reverse("server_token", args=["acme", server_a.pk]) in response.content.decode()) == may_replace


# --- The archive dialog ------------------------------------------------------------------------------------


@pytest.fixture
def news(sandbox, server_a, editor, team_a):
    """A Broadcasts stream an editor made through the dashboard; the sandbox, to seed its figures."""
    stream_create(actor=editor, team=team_a, server=server_a, stream_id="news", name="News", stream_type="Broadcasts")
    return sandbox


def test_the_archive_dialog_says_how_much_the_stream_sent_in_the_last_seven_days(editor, server_a, client_as, news):
    seed(news, "news", days_ago=0, Sent=1000)
    seed(news, "news", days_ago=6, Sent=284)
    seed(news, "news", days_ago=7, Sent=99)

    response = client_as(editor).get(url(server_a, "stream_archive", "news"), HTTP_HX_REQUEST="true")

    assert "This stream sent 1,284 messages in the last 7 days." in text_of(response)


def test_the_archive_dialog_says_when_a_stream_sent_nothing(editor, server_a, client_as, news):
    response = client_as(editor).get(url(server_a, "stream_archive", "news"))

    assert "This stream sent no messages in the last 7 days." in text_of(response)


class StatsDown:
    """Postmark whose statistics answer 503 while its streams answer as usual."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"].startswith("/stats/"):
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b"{}"]
        return self.inner(environ, start_response)


@pytest.mark.parametrize("trouble", ["not in plan", "503"])
def test_the_archive_dialog_still_works_when_statistics_fail(trouble, editor, server_a, client_as, news):
    news.allow_stats_api(TOKEN_A, trouble != "not in plan")
    previous = install(StatsDown(news)) if trouble == "503" else None
    try:
        response = client_as(editor).get(url(server_a, "stream_archive", "news"))
    finally:
        if previous is not None:
            install(previous)

    text = text_of(response)
    assert response.status_code == 200
    assert "Postmark's statistics can't say right now how many messages this stream sent lately" in text
    assert "Type the stream's ID" in text


# --- Sparklines on the lists ----------------------------------------------------------------------------


def sparklines_url(server):
    return reverse("server_sparklines", args=["acme", server.pk])


@pytest.mark.parametrize("name, args", [("stream_list", ["server"]), ("team_home", [])])
def test_the_lists_fetch_their_sparklines_after_rendering_and_link_to_them_without_javascript(
    name, args, viewer, server_a, client_as, sandbox
):
    response = client_as(viewer).get(reverse(name, args=["acme", *[server_a.pk for _ in args]]))

    page = response.content.decode()
    assert f'hx-get="{sparklines_url(server_a)}" hx-trigger="load"' in page
    assert f'<a href="{sparklines_url(server_a)}">Sent per day by each stream of Acme Production</a>' in page
    assert stats_requests(sandbox) == []


def test_sparklines_show_each_active_sending_stream_with_its_warning_mark(editor, team_a, server_a, client_as, sandbox):
    stream_create(actor=editor, team=team_a, server=server_a, stream_id="news", name="News", stream_type="Broadcasts")
    seed(sandbox, "outbound", Sent=1000, HardBounce=5)
    seed(sandbox, "news", Sent=2000, HardBounce=400)

    response = client_as(editor).get(sparklines_url(server_a), HTTP_HX_REQUEST="true")

    page, text = response.content.decode(), text_of(response)
    assert "<html" not in page and "HX-Request" in response["Vary"]
    assert "Sent per day, last 30 days" in text
    assert "news 2,000 sent Needs attention" in text
    assert "outbound 1,000 sent" in text and text.count("Needs attention") == 1
    assert "inbound" not in text
    assert 'aria-label="News (news): 2,000 sent in the last 30 days"' in page
    assert len(stats_requests(sandbox)) == 3 * 3  # three series for each of the three sending streams
    assert csp_violations(page) == []


def test_sparklines_come_from_the_cache_the_stream_pages_fill(viewer, server_a, client_as, sandbox):
    browser = client_as(viewer)
    browser.get(url(server_a, query="?days=30"), HTTP_HX_REQUEST="true")
    asked = len(stats_requests(sandbox))

    browser.get(sparklines_url(server_a), HTTP_HX_REQUEST="true")
    browser.get(sparklines_url(server_a), HTTP_HX_REQUEST="true")

    assert len(stats_requests(sandbox)) == asked + 3  # only the one stream the stream page did not ask for


def test_sparklines_without_javascript_are_a_page(viewer, server_a, client_as):
    response = client_as(viewer).get(sparklines_url(server_a))

    assert response.status_code == 200
    assert "<h1>Sent per day by each stream of Acme Production</h1>" in response.content.decode()


@pytest.mark.parametrize("fault", ["429", "503", "hang"])
def test_sparklines_say_when_postmark_is_in_trouble(fault, viewer, server_a, client_as, sandbox, settings):
    settings.POSTMARK_READ_TIMEOUT = 0.3
    browser = client_as(viewer)
    browser.get(url(server_a, "stream_detail"))  # the streams are known; only the statistics fail
    sandbox.set_faults(**FAULTS[fault][0])

    response = browser.get(sparklines_url(server_a), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert re.findall(r'data-sparklines-trouble="([a-z_]+)"', response.content.decode()) == [FAULTS[fault][1]]


def test_sparklines_say_when_the_plan_has_no_statistics(viewer, server_a, client_as, sandbox):
    sandbox.allow_stats_api(TOKEN_A, False)

    response = client_as(viewer).get(sparklines_url(server_a), HTTP_HX_REQUEST="true")

    assert "doesn't include statistics" in text_of(response)


def test_an_unreadable_token_is_named_in_the_section_and_the_sparklines(admin, server_a, client_as, sandbox):
    browser = client_as(admin)
    browser.get(url(server_a, "stream_detail"))  # the streams are known; only the token can't be read any more
    Server.objects.filter(pk=server_a.pk).update(token_ciphertext="v1.test2.bm90LWEtdG9rZW4")

    section = browser.get(url(server_a), HTTP_HX_REQUEST="true")
    sparklines = browser.get(sparklines_url(server_a), HTTP_HX_REQUEST="true")

    assert "can't be read with this installation's keys" in text_of(section)
    assert reverse("server_token", args=["acme", server_a.pk]) in section.content.decode()
    assert 'data-sparklines-trouble="token_unreadable"' in sparklines.content.decode()
    assert stats_requests(sandbox) == []
