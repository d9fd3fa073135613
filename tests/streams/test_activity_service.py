"""The activity of a stream from Postmark's Stats API: zeros filled, Eastern days, cached, and every kind of
refusal or trouble turned into words a page can show."""

import json
from datetime import date, timedelta

import pytest
from django.core.cache import cache

from dashboard.postmark.sandbox import Sandbox, install
from streams.services import PostmarkTrouble, StreamGone
from streams.services_activity import (
    StatsUnavailable,
    period_from,
    stream_activity,
    stream_activity_cached,
    stream_sent_recently,
)
from tests.conftest import TOKEN_A

pytestmark = pytest.mark.django_db

TODAY = date(2026, 12, 3)


def seed(sandbox, stream, day, **counts):
    sandbox.seed_stats(TOKEN_A, stream, day, counts)


def stats_requests(sandbox) -> list[str]:
    return [line for line in sandbox.received if "/stats/" in line]


class RefusingSandbox(Sandbox):
    """Postmark answering every statistics request with one ErrorCode (the sandbox's own rules never send 900)."""

    def __init__(self, code: int):
        super().__init__()
        self.code = code

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"].startswith("/stats/"):
            start_response("422 Unprocessable Entity", [("Content-Type", "application/json")])
            return [json.dumps({"ErrorCode": self.code, "Message": "Refused."}).encode()]
        return super().__call__(environ, start_response)


@pytest.fixture
def refusing(server_a):
    def install_refusing(code: int):
        fake = RefusingSandbox(code)
        fake.add_server(TOKEN_A, name="Acme Production")
        previous = install(fake)
        restore.append(previous)

    restore = []
    yield install_refusing
    for previous in restore:
        install(previous)


def test_days_postmark_leaves_out_are_zeros_and_the_period_ends_today(server_a, sandbox):
    seed(sandbox, "outbound", TODAY - timedelta(days=2), Sent=100, HardBounce=3, SoftBounce=2, Transient=9)
    seed(sandbox, "outbound", TODAY, Sent=40, SpamComplaint=1)

    activity = stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY)

    assert [day.day for day in activity.days] == [TODAY - timedelta(days=n) for n in range(6, -1, -1)]
    assert [day.sent for day in activity.days] == [0, 0, 0, 0, 100, 0, 40]
    assert [day.bounced for day in activity.days] == [0, 0, 0, 0, 5, 0, 0]  # delays are not bounces
    assert [day.spam_complaints for day in activity.days] == [0, 0, 0, 0, 0, 0, 1]
    assert (activity.sent, activity.bounced, activity.spam_complaints) == (140, 5, 1)
    assert activity.days[0].bounce_rate is None  # nothing sent: no rate, not 0%
    assert activity.days[4].bounce_rate == 5.0


def test_a_day_before_the_period_is_not_counted(server_a, sandbox):
    seed(sandbox, "outbound", TODAY - timedelta(days=7), Sent=999)
    seed(sandbox, "outbound", TODAY - timedelta(days=6), Sent=1)

    assert stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY).sent == 1


@pytest.mark.parametrize("days", [7, 30, 90])
def test_each_period_has_one_entry_per_day(days, server_a):
    activity = stream_activity(server=server_a, stream_id="outbound", days=days, today=TODAY)

    assert activity.period == days
    assert (activity.since, activity.until) == (TODAY - timedelta(days=days - 1), TODAY)


def test_a_period_not_offered_is_refused_by_the_service_and_ignored_in_an_address(server_a):
    with pytest.raises(ValueError):
        stream_activity(server=server_a, stream_id="outbound", days=365, today=TODAY)
    assert [period_from(text) for text in ("7", "90", "365", "x", None, "")] == [7, 90, 30, 30, 30, 30]


def test_the_answer_is_kept_in_the_cache_and_asked_again_only_on_refresh(server_a, sandbox):
    stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY)
    asked = len(stats_requests(sandbox))
    seed(sandbox, "outbound", TODAY, Sent=5)

    cached = stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY)
    assert len(stats_requests(sandbox)) == asked == 3  # sends, bounces, spam
    assert cached.sent == 0
    assert stream_activity_cached(server=server_a, stream_id="outbound", days=7, today=TODAY) == cached

    fresh = stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY, refresh=True)
    assert fresh.sent == 5


def test_nothing_is_cached_for_a_period_nobody_asked_for(server_a, sandbox):
    assert stream_activity_cached(server=server_a, stream_id="outbound", days=30, today=TODAY) is None
    assert stats_requests(sandbox) == []


def test_a_new_eastern_day_starts_a_new_period_instead_of_the_cached_one(server_a, sandbox):
    stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY)

    tomorrow = stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY + timedelta(days=1))

    assert tomorrow.until == TODAY + timedelta(days=1)
    assert len(stats_requests(sandbox)) == 6


def test_a_cache_time_of_zero_asks_postmark_every_time(server_a, sandbox, settings):
    settings.STREAM_ACTIVITY_CACHE_SECONDS = 0
    stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY)
    stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY)

    assert len(stats_requests(sandbox)) == 6


def test_health_compares_the_period_s_rates_with_our_thresholds(server_a, sandbox, settings):
    seed(sandbox, "outbound", TODAY, Sent=1000, HardBounce=80, SoftBounce=30, SpamComplaint=1)

    health = stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY).health

    assert (health.bounce_too_high, health.spam_too_high) == (True, False)  # 11% > 10%; 0.1% is not above 0.1%
    settings.STREAM_BOUNCE_RATE_WARNING = 12
    settings.STREAM_SPAM_RATE_WARNING = 0.05
    health = stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY).health
    assert (health.bounce_too_high, health.spam_too_high) == (False, True)


def test_a_quiet_stream_is_not_called_unhealthy(server_a):
    health = stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY).health

    assert health.healthy


def test_the_archive_dialog_s_count_is_the_last_seven_days(server_a, sandbox):
    seed(sandbox, "outbound", TODAY, Sent=1000)
    seed(sandbox, "outbound", TODAY - timedelta(days=6), Sent=284)
    seed(sandbox, "outbound", TODAY - timedelta(days=7), Sent=50)

    assert stream_sent_recently(server=server_a, stream_id="outbound", today=TODAY) == 1284


# --- Postmark's refusals and trouble -------------------------------------------------------------


def test_a_plan_without_statistics_is_said_in_words_and_remembered(server_a, sandbox):
    sandbox.allow_stats_api(TOKEN_A, False)

    with pytest.raises(StatsUnavailable) as refused:
        stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY)
    assert refused.value.kind == "not_in_plan"
    assert "plan" in refused.value.message and "Acme Production" in refused.value.message
    asked = len(stats_requests(sandbox))
    with pytest.raises(StatsUnavailable):
        stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY)
    assert len(stats_requests(sandbox)) == asked  # not asked again for the cache's time
    assert stream_sent_recently(server=server_a, stream_id="outbound", today=TODAY) is None


def test_a_stream_postmark_does_not_know_is_gone(server_a):
    with pytest.raises(StreamGone):
        stream_activity(server=server_a, stream_id="nowhere", days=7, today=TODAY)


def test_a_period_more_than_a_year_back_asks_for_a_shorter_one(server_a):
    with pytest.raises(StatsUnavailable) as refused:
        stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY.replace(year=2020))

    assert refused.value.kind == "too_old"
    assert "shorter" in refused.value.message


@pytest.mark.parametrize("code, kind", [(614, "not_in_plan"), (900, "refused"), (1500, "too_old"), (1502, "refused")])
def test_each_refusal_postmark_may_send_is_said_in_words(code, kind, server_a, refusing):
    refusing(code)

    with pytest.raises(StatsUnavailable) as refused:
        stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY)

    assert refused.value.kind == kind
    if kind == "refused":
        assert f"(code {code})" in refused.value.message


def test_postmark_s_1226_is_a_stream_gone(server_a, refusing):
    refusing(1226)

    with pytest.raises(StreamGone):
        stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY)


@pytest.mark.parametrize(
    "faults, kind",
    [
        ({"status": 429}, "rate_limited"),
        ({"status": 500}, "unavailable"),
        ({"status": 503}, "unavailable"),
        ({"status": 502, "body": "html"}, "unavailable"),
        ({"hang": True}, "unavailable"),
    ],
)
def test_postmark_s_trouble_is_postmark_trouble_and_is_not_cached(faults, kind, server_a, sandbox, settings):
    settings.POSTMARK_READ_TIMEOUT = 0.3
    sandbox.set_faults(**faults)

    with pytest.raises(PostmarkTrouble) as trouble:
        stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY)

    assert trouble.value.kind == kind
    assert TOKEN_A not in trouble.value.message
    sandbox.clear_faults()
    assert stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY).period == 7


def test_a_token_postmark_forgot_is_token_trouble(server_a, sandbox):
    previous = install(Sandbox())
    try:
        with pytest.raises(PostmarkTrouble) as trouble:
            stream_activity(server=server_a, stream_id="outbound", days=7, today=TODAY)
    finally:
        install(previous)

    assert trouble.value.kind == "token_rejected"
    assert cache.get(f"stream-activity:{server_a.pk}:outbound:7:{TODAY.isoformat()}") is None
