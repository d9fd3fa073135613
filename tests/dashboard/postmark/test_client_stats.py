"""The client's outbound Stats API against canned answers at the transport (httpx.MockTransport).

What Postmark sends is taken from its examples in tests/postmark_examples (stats-*.json) and the tolerance list
of docs/postmark-stats-api.md; the last tests run the client, and Postmark's official Python SDK beside it,
against the sandbox over real HTTP.
"""

import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from dashboard.postmark.client import (
    ErrorCode,
    PostmarkClient,
    PostmarkUnavailable,
    RateLimited,
    StreamNotFound,
    TokenRejected,
    ValidationRefused,
    close_pools,
)
from dashboard.postmark.client_stats import (
    BouncesDay,
    ClicksDay,
    DailySeries,
    OpensDay,
    OutboundOverview,
    SendsDay,
    SpamDay,
    postmark_today,
)
from tests.dashboard.postmark.test_sandbox_command import read_first_line, stop
from tests.postmark_examples import example

TOKEN = "3c9a77d2-token-that-must-never-show-51fe"
BASE_URL = "https://postmark.test"
JAN_1, JAN_5 = date(2014, 1, 1), date(2014, 1, 5)
REPO = Path(__file__).resolve().parents[3]


class FakePostmark:
    """Answers each request with the next canned answer (the last one repeats) and records it."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)


def client_for(fake: FakePostmark, **options) -> PostmarkClient:
    options.setdefault("backoff", 0)
    return PostmarkClient(TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(fake), **options)


def ask(call: str, answer, **options):
    """One call of the client with Postmark answering `answer` (a body for 200, or (status, body))."""
    fake = FakePostmark(answer if isinstance(answer, tuple) else (200, answer))
    options = {"since": JAN_1, "until": JAN_5, **options}
    return getattr(client_for(fake), call)(**options)


@pytest.fixture(autouse=True)
def no_pools_left_open():
    yield
    close_pools()


SERIES_CALLS = {
    "sends_per_day": ("stats-sends", "/stats/outbound/sends"),
    "bounces_per_day": ("stats-bounces", "/stats/outbound/bounces"),
    "spam_per_day": ("stats-spam", "/stats/outbound/spam"),
    "opens_per_day": ("stats-opens", "/stats/outbound/opens"),
    "clicks_per_day": ("stats-clicks", "/stats/outbound/clicks"),
}
ALL_CALLS = {"outbound_overview": ("stats-overview", "/stats/outbound"), **SERIES_CALLS}


# --- Postmark's own examples -------------------------------------------------------------------


def test_the_documented_sends_example_gets_its_missing_day_back_as_zero():
    series = ask("sends_per_day", example("stats-sends"))

    assert series == DailySeries(since=JAN_1, until=JAN_5, stream_id=None, days=(
        SendsDay(date(2014, 1, 1), 140), SendsDay(date(2014, 1, 2), 160), SendsDay(date(2014, 1, 3), 0),
        SendsDay(date(2014, 1, 4), 50), SendsDay(date(2014, 1, 5), 115),
    ))
    assert series.total("sent") == 465  # the days' sum, not Postmark's own (inconsistent) total of 615


def test_the_documented_bounces_example_fills_every_left_out_key_and_day_with_zero():
    series = ask("bounces_per_day", example("stats-bounces"))

    assert series.days == (
        BouncesDay(date(2014, 1, 1), hard_bounce=12, soft_bounce=36, smtp_api_error=0, transient=0),
        BouncesDay(date(2014, 1, 2), hard_bounce=0, soft_bounce=0, smtp_api_error=0, transient=0),
        BouncesDay(date(2014, 1, 3), hard_bounce=0, soft_bounce=0, smtp_api_error=0, transient=7),
        BouncesDay(date(2014, 1, 4), hard_bounce=0, soft_bounce=0, smtp_api_error=0, transient=4),
        BouncesDay(date(2014, 1, 5), hard_bounce=0, soft_bounce=2, smtp_api_error=25, transient=8),
    )
    assert (series.total("hard_bounce"), series.total("soft_bounce"), series.total("transient")) == (12, 38, 19)


def test_the_documented_spam_opens_and_clicks_examples_have_every_asked_day():
    spam = ask("spam_per_day", example("stats-spam"))
    opens = ask("opens_per_day", example("stats-opens"))
    clicks = ask("clicks_per_day", example("stats-clicks"))

    assert [day.spam_complaints for day in spam.days] == [2, 3, 0, 0, 5]
    assert opens.days[0] == OpensDay(date(2014, 1, 1), opens=44, unique=4)
    assert [(day.opens, day.unique) for day in opens.days[3:]] == [(0, 0), (0, 0)]
    assert clicks.days[2] == ClicksDay(date(2014, 1, 3), clicks=62, unique=16)
    assert [day.date for day in clicks.days] == [date(2014, 1, day) for day in range(1, 6)]
    assert isinstance(spam.days[0], SpamDay)


def test_the_documented_overview_example_parses_every_figure_and_ignores_the_extra_key():
    overview = ask("outbound_overview", example("stats-overview"), stream_id="outbound")

    assert overview == OutboundOverview(
        since=JAN_1, until=JAN_5, stream_id="outbound", sent=615, bounced=64, smtp_api_errors=25,
        bounce_rate=10.406, spam_complaints=10, spam_complaints_rate=1.626, opens=166, unique_opens=26,
        tracked=111, with_link_tracking=90, with_open_tracking=51, total_tracked_links_sent=60,
        unique_links_clicked=30, total_clicks=72, with_client_recorded=14, with_platform_recorded=10,
    )


# --- What Postmark may send beyond its examples -------------------------------------------------


def test_an_empty_days_list_is_every_day_at_zero():
    series = ask("bounces_per_day", {"Days": []}, since=date(2024, 2, 28), until=date(2024, 3, 1))

    assert [day.date for day in series.days] == [date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)]
    assert all(
        (day.hard_bounce, day.soft_bounce, day.smtp_api_error, day.transient) == (0, 0, 0, 0) for day in series.days
    )


def test_an_overview_without_any_key_is_all_zeros():
    overview = ask("outbound_overview", {})

    assert (overview.sent, overview.bounce_rate, overview.total_clicks) == (0, 0.0, 0)


def test_keys_are_read_in_any_case_and_unknown_keys_are_ignored():
    answer = {
        "days": [{"date": "2014-01-02", "HARDBOUNCE": 3, "softBounce": 1, "Reason": "ignored", "Extra": [1]}],
        "hardbounce": 3, "Unknown": {"nested": True},
    }
    overview = {"SENT": 10, "smtpApiErrors": 1, "SMTPAPIErrors": 1, "bounceRate": "2.5", "New": 1}

    day = ask("bounces_per_day", answer).days[1]

    assert (day.hard_bounce, day.soft_bounce) == (3, 1)
    parsed = ask("outbound_overview", overview)
    assert (parsed.sent, parsed.smtp_api_errors, parsed.bounce_rate) == (10, 1, 2.5)


@pytest.mark.parametrize("value", [7, "7", 7.0, " 7 "])
def test_a_count_may_come_as_a_number_or_numeric_text(value):
    assert ask("sends_per_day", {"Days": [{"Date": "2014-01-03", "Sent": value}]}).days[2].sent == 7


def test_null_counts_and_totals_are_zero_and_totals_may_be_left_out():
    answer = {"Days": [{"Date": "2014-01-01", "Opens": None, "Unique": 2}]}

    assert ask("opens_per_day", answer).days[0] == OpensDay(JAN_1, opens=0, unique=2)


def test_a_date_with_a_time_counts_for_its_own_day_and_days_outside_the_range_are_dropped():
    answer = {"Days": [
        {"Date": "2014-01-02T00:00:00", "Sent": 4},
        {"Date": "2014-01-03T00:00:00-05:00", "Sent": 5},
        {"Date": "2013-12-31", "Sent": 99},
        {"Date": "2014-01-06", "Sent": 99},
    ]}

    assert [day.sent for day in ask("sends_per_day", answer).days] == [0, 4, 5, 0, 0]


def test_a_day_listed_twice_adds_up():
    answer = {"Days": [{"Date": "2014-01-01", "Sent": 4}, {"Date": "2014-01-01", "Sent": 5}]}

    assert ask("sends_per_day", answer).days[0].sent == 9


@pytest.mark.parametrize("answer", [
    {"Sent": 4},
    {"Days": None},
    {"Days": [["2014-01-01", 4]]},
    {"Days": [{"Sent": 4}]},
    {"Days": [{"Date": "01/02/2014", "Sent": 4}]},
    {"Days": [{"Date": "2014-01-02", "Sent": -1}]},
    {"Days": [{"Date": "2014-01-02", "Sent": 1.5}]},
    {"Days": [{"Date": "2014-01-02", "Sent": True}]},
    [],
    "<html>not json</html>",
])
def test_an_answer_without_readable_days_is_postmark_unavailable_never_a_guess(answer):
    with pytest.raises(PostmarkUnavailable) as caught:
        ask("sends_per_day", answer)

    assert TOKEN not in str(caught.value)


# --- What we send ------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ALL_CALLS)
def test_each_call_gets_its_path_with_the_dates_and_stream_as_documented(call):
    fake = FakePostmark((200, example(ALL_CALLS[call][0])))

    getattr(client_for(fake), call)(since=JAN_1, until=JAN_5, stream_id="billing-2")

    request = fake.requests[0]
    assert (request.method, request.url.path) == ("GET", ALL_CALLS[call][1])
    assert dict(request.url.params) == {"fromdate": "2014-01-01", "todate": "2014-01-05", "messagestream": "billing-2"}
    assert request.headers["X-Postmark-Server-Token"] == TOKEN
    assert request.headers["Accept"] == "application/json"
    assert request.content == b""


def test_without_a_stream_the_whole_server_is_asked_for_and_no_messagestream_is_sent():
    fake = FakePostmark((200, example("stats-sends")))

    series = client_for(fake).sends_per_day(since=JAN_1, until=JAN_1)

    assert "messagestream" not in fake.requests[0].url.params
    assert series.stream_id is None


def test_a_stream_id_goes_in_the_query_encoded_never_in_the_path():
    fake = FakePostmark((200, {"Days": []}))

    client_for(fake).spam_per_day(since=JAN_1, until=JAN_1, stream_id="../message-streams?x=1&y")

    assert fake.requests[0].url.path == "/stats/outbound/spam"
    assert fake.requests[0].url.params["messagestream"] == "../message-streams?x=1&y"


@pytest.mark.parametrize(("options", "error_class"), [
    ({"since": JAN_5, "until": JAN_1}, ValueError),
    ({"since": "2014-01-01", "until": JAN_5}, TypeError),
    ({"since": datetime(2014, 1, 1, tzinfo=UTC), "until": JAN_5}, TypeError),
    ({"since": JAN_1, "until": JAN_5, "stream_id": ""}, ValueError),
    ({"since": JAN_1, "until": JAN_5, "stream_id": "  "}, ValueError),
])
def test_a_range_or_stream_postmark_would_refuse_is_refused_before_anything_is_sent(options, error_class):
    fake = FakePostmark((200, {"Days": []}))

    with pytest.raises(error_class):
        client_for(fake).bounces_per_day(**options)

    assert fake.requests == []


def test_one_day_is_a_range_of_one():
    assert len(ask("clicks_per_day", {"Days": []}, since=JAN_5, until=JAN_5).days) == 1


def test_postmarks_today_is_the_date_in_eastern_time():
    assert postmark_today(datetime(2026, 3, 2, 3, 30, tzinfo=UTC)) == date(2026, 3, 1)
    assert postmark_today(datetime(2026, 3, 2, 5, 30, tzinfo=UTC)) == date(2026, 3, 2)


# --- Refusals ------------------------------------------------------------------------------------

STATS_REFUSALS = [
    (614, "Your current plan does not include access to the Stats API.", ValidationRefused),
    (900, "The date provided is not valid.", ValidationRefused),
    (1500, "The 'FromDate' cannot be more than one year in the past.", ValidationRefused),
    (1502, "The 'FromDate' must be before the 'ToDate'.", ValidationRefused),
    (1226, "The message stream for the provided 'ID' was not found.", StreamNotFound),
]


@pytest.mark.parametrize("call", ALL_CALLS)
@pytest.mark.parametrize(("code", "message", "error_class"), STATS_REFUSALS)
def test_each_stats_refusal_keeps_postmarks_code_and_message(call, code, message, error_class):
    fake = FakePostmark((422, {"ErrorCode": code, "Message": message}))

    with pytest.raises(error_class) as caught:
        getattr(client_for(fake), call)(since=JAN_1, until=JAN_5, stream_id="outbound")

    assert caught.value.error_code == ErrorCode(code)
    assert (caught.value.status, caught.value.message) == (422, message)
    assert len(fake.requests) == 1  # a refusal is an answer: never retried


def test_the_error_codes_of_the_stats_api_have_names():
    assert ErrorCode(614).name == "STATS_NOT_IN_PLAN"
    assert ErrorCode(900).name == "INVALID_DATE"
    assert ErrorCode(1500).name == "FROM_DATE_TOO_OLD"
    assert ErrorCode(1502).name == "FROM_DATE_AFTER_TO_DATE"


@pytest.mark.parametrize(("answer", "error_class"), [
    ((401, {"ErrorCode": 10, "Message": "Request does not contain a valid Server token."}), TokenRejected),
    ((429, {"ErrorCode": 0, "Message": "Slow down."}), RateLimited),
    ((503, {"ErrorCode": 100, "Message": "Maintenance."}), PostmarkUnavailable),
    ((502, "<html>bad gateway</html>"), PostmarkUnavailable),
])
def test_other_refusals_are_the_clients_usual_errors_after_two_retries_where_worth_it(answer, error_class):
    fake = FakePostmark(answer)

    with pytest.raises(error_class):
        client_for(fake).outbound_overview(since=JAN_1, until=JAN_5)

    assert len(fake.requests) == (1 if answer[0] == 401 else 3)


def test_a_stats_read_is_retried_after_a_failure_like_every_read():
    fake = FakePostmark((500, {"ErrorCode": 101, "Message": "Oops"}), (200, example("stats-spam")))

    series = client_for(fake).spam_per_day(since=JAN_1, until=JAN_5)

    assert len(fake.requests) == 2
    assert series.total("spam_complaints") == 10


# --- Against the sandbox -------------------------------------------------------------------------


def seed(http: httpx.Client, token: str, stream: str, day: str, **counts) -> None:
    answer = http.post("/_sandbox/stats", json={"token": token, "stream": stream, "date": day, "counts": counts})
    assert answer.status_code == 200, answer.text


def test_the_client_reads_seeded_figures_from_the_in_process_sandbox_with_zeros_filled(
    sandbox, sandbox_http, sandbox_token
):
    today = postmark_today(sandbox.now())
    since = date.fromordinal(today.toordinal() - 2)
    seed(sandbox_http, sandbox_token, "outbound", since.isoformat(), Sent=20, HardBounce=2)
    seed(sandbox_http, sandbox_token, "broadcast", today.isoformat(), Sent=100, SpamComplaint=1)
    client = PostmarkClient(sandbox_token, base_url=BASE_URL, transport=httpx.WSGITransport(app=sandbox))

    bounces = client.bounces_per_day(since=since, until=today, stream_id="outbound")
    sends = client.sends_per_day(since=since, until=today)
    overview = client.outbound_overview(since=since, until=today)

    assert [(day.hard_bounce, day.soft_bounce) for day in bounces.days] == [(2, 0), (0, 0), (0, 0)]
    assert [day.sent for day in sends.days] == [20, 0, 100]
    assert (overview.sent, overview.bounced, overview.spam_complaints) == (120, 2, 1)
    with pytest.raises(StreamNotFound):
        client.spam_per_day(since=since, until=today, stream_id="no-such-stream")


SDK_TOKEN = "6b1f0c3e-0000-4000-8000-made-up-sdk-token"


@pytest.fixture
def sandbox_over_http(tmp_path):
    """`manage.py sandbox --port 0 --token SDK_TOKEN` as an operator runs it; its base URL."""
    log = tmp_path / "sandbox.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "sandbox", "--port", "0", "--token", SDK_TOKEN],
            cwd=REPO, env={**os.environ, "DEBUG": "1"}, stdout=subprocess.PIPE, stderr=log_file, text=True,
        )
    try:
        line = read_first_line(process, log)
        yield "http://127.0.0.1:" + re.search(r"http://127\.0\.0\.1:(\d+)", line).group(1)
    finally:
        stop(process)
        process.stdout.close()


@pytest.mark.socket
def test_postmarks_official_sdk_breaks_on_documented_omissions_where_our_client_fills_zeros(sandbox_over_http):
    import pydantic
    from postmark.sync import ServerClient

    with httpx.Client(base_url=sandbox_over_http, trust_env=False) as http:
        today = date.fromisoformat(http.get("/_sandbox/clock").json()["Now"][:10])
        since = date.fromordinal(today.toordinal() - 2)
        seed(http, SDK_TOKEN, "outbound", since.isoformat(), Sent=10, HardBounce=2, Opens=3)
        seed(http, SDK_TOKEN, "outbound", today.isoformat(), Sent=5, SoftBounce=1)
        days = {"from_date": since, "to_date": today, "message_stream": "outbound"}

        with ServerClient(SDK_TOKEN, base_url=sandbox_over_http, retries=0) as sdk:
            overview = sdk.stats.overview(**days)
            sent = sdk.stats.sent_counts(**days)
            with pytest.raises(pydantic.ValidationError, match="SMTPApiError"):
                sdk.stats.bounce_counts(**days)  # its BounceDay needs all four keys on every day
            with pytest.raises(pydantic.ValidationError, match="Unique"):
                sdk.stats.open_counts(**days)  # a day with opens but no unique opens leaves "Unique" out
        ours = PostmarkClient(SDK_TOKEN, base_url=sandbox_over_http, transport=httpx.HTTPTransport(), retries=0)
        bounces = ours.bounces_per_day(since=since, until=today, stream_id="outbound")
        opens = ours.opens_per_day(since=since, until=today, stream_id="outbound")
        ours.close()

    assert (overview.sent, overview.bounced) == (15, 3)
    assert [(day.date, day.sent) for day in sent.days] == [(since.isoformat(), 10), (today.isoformat(), 5)]
    assert [(day.hard_bounce, day.soft_bounce, day.transient) for day in bounces.days] == [
        (2, 0, 0), (0, 0, 0), (0, 1, 0),
    ]
    assert [(day.opens, day.unique) for day in opens.days] == [(3, 0), (0, 0), (0, 0)]
