"""The sandbox's outbound Stats API on the wire: every endpoint, omission, error code, the clock and the traffic.

Requests go through httpx's WSGI transport, as a client sends them; expectations come from
docs/postmark-stats-api.md and the shapes of Postmark's examples in tests/postmark_examples/stats-*.json.
"""

import ast
import json
from datetime import date, timedelta
from pathlib import Path
from statistics import mean

import httpx
import pytest

import dashboard.postmark.sandbox_stats as stats_module
from dashboard.postmark.sandbox import EASTERN, Sandbox
from tests.postmark_examples import example

TOKEN_HEADER = "X-Postmark-Server-Token"
TOKEN = "4e8d2a90-0000-4000-8000-a-made-up-stats-token"
OTHER_TOKEN = "b71c03f5-0000-4000-8000-another-fake-stats-token"
REPORTS = {"sends": "stats-sends", "bounces": "stats-bounces", "spam": "stats-spam", "opens": "stats-opens",
           "clicks": "stats-clicks"}
STATS_MESSAGES = {
    614: "Your current plan does not include access to the Stats API.",
    900: "The date provided is not valid. Use the format YYYY-MM-DD.",
    1226: "The message stream for the provided 'ID' was not found.",
    1500: "The 'FromDate' cannot be more than one year in the past.",
    1502: "The 'FromDate' must be before the 'ToDate'.",
}


def wsgi_client(sandbox: Sandbox, token: str | None = TOKEN) -> httpx.Client:
    headers = {TOKEN_HEADER: token} if token else {}
    return httpx.Client(base_url="http://sandbox.test", transport=httpx.WSGITransport(app=sandbox), headers=headers)


def today_in(sandbox: Sandbox) -> date:
    return sandbox.now().astimezone(EASTERN).date()


def days_before(day: date, count: int) -> date:
    return day - timedelta(days=count)


def seed(client: httpx.Client, day: date, stream: str = "outbound", token: str = TOKEN, **counts) -> httpx.Response:
    return client.post(
        "/_sandbox/stats", json={"token": token, "stream": stream, "date": day.isoformat(), "counts": counts}
    )


def dates(since: date, until: date, **more) -> dict:
    return {"fromdate": since.isoformat(), "todate": until.isoformat(), **more}


def assert_refused(answer: httpx.Response, code: int) -> None:
    assert answer.status_code == 422, answer.text
    assert answer.json() == {"ErrorCode": code, "Message": STATS_MESSAGES[code]}
    assert answer.headers["X-PM-ApiErrorCode"] == str(code)


@pytest.fixture
def quiet():
    """A sandbox with a server made as `--token` makes it: three streams, no traffic; and its client."""
    sandbox = Sandbox()
    sandbox.add_server(TOKEN)
    with wsgi_client(sandbox) as client:
        yield sandbox, client


@pytest.fixture
def busy():
    """A sandbox with a server that asked for synthetic traffic; and its client."""
    sandbox = Sandbox()
    sandbox.add_server(TOKEN, traffic=True)
    with wsgi_client(sandbox) as client:
        yield sandbox, client


# --- Shapes and omissions ------------------------------------------------------------------------


@pytest.mark.parametrize("report", REPORTS)
def test_each_daily_series_has_the_keys_of_postmarks_example_in_its_order(busy, report):
    sandbox, client = busy
    today = today_in(sandbox)

    answer = client.get(f"/stats/outbound/{report}", params=dates(days_before(today, 60), today))

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    postmarks = example(REPORTS[report])
    assert list(answer.json()) == list(postmarks)
    wire_keys = [key for key in postmarks if key != "Days"]
    for day in answer.json()["Days"]:
        assert list(day)[0] == "Date"
        assert list(day)[1:] == [key for key in wire_keys if key in day]  # the example's order, zeros left out


def test_the_overview_has_every_key_of_postmarks_example_even_with_no_mail(quiet):
    _, client = quiet
    postmarks = example("stats-overview")
    del postmarks["WithReadTimeRecorded"]  # a newer key the sandbox does not count

    answer = client.get("/stats/outbound")

    assert answer.status_code == 200
    assert list(answer.json()) == list(postmarks)
    assert set(answer.json().values()) == {0}


def test_days_without_data_and_zero_keys_are_left_out_as_postmark_does(quiet):
    sandbox, client = quiet
    today = today_in(sandbox)
    first, third = days_before(today, 4), days_before(today, 2)
    seed(client, first, Sent=5, HardBounce=2)
    seed(client, third, Sent=1, Transient=1, UniqueOpens=1)
    asked = dates(first, today)

    sends = client.get("/stats/outbound/sends", params=asked).json()
    bounces = client.get("/stats/outbound/bounces", params=asked).json()
    spam = client.get("/stats/outbound/spam", params=asked).json()
    opens = client.get("/stats/outbound/opens", params=asked).json()

    assert sends == {"Days": [{"Date": first.isoformat(), "Sent": 5}, {"Date": third.isoformat(), "Sent": 1}],
                     "Sent": 6}
    assert bounces == {
        "Days": [{"Date": first.isoformat(), "HardBounce": 2}, {"Date": third.isoformat(), "Transient": 1}],
        "HardBounce": 2, "SMTPApiError": 0, "SoftBounce": 0, "Transient": 1,
    }
    assert spam == {"Days": [], "SpamComplaint": 0}
    assert opens == {"Days": [{"Date": third.isoformat(), "Unique": 1}], "Opens": 0, "Unique": 1}


def test_seeding_adds_to_the_day_and_answers_what_the_day_now_holds(quiet):
    sandbox, client = quiet
    day = days_before(today_in(sandbox), 1)

    seed(client, day, Sent=3)
    answer = seed(client, day, sent=4, SpamComplaint=1)

    assert answer.status_code == 200
    assert answer.json() == {"Stream": "outbound", "Date": day.isoformat(), "Counts": {"Sent": 7, "SpamComplaint": 1}}
    days = client.get("/stats/outbound/sends", params=dates(day, day)).json()["Days"]
    assert days == [{"Date": day.isoformat(), "Sent": 7}]


def test_the_overview_sums_the_range_and_gives_rates_as_percentages_of_sent(quiet):
    sandbox, client = quiet
    today = today_in(sandbox)
    seed(client, days_before(today, 3), Sent=600, HardBounce=30, SoftBounce=20, SMTPApiError=25, SpamComplaint=6)
    seed(client, today, Sent=15, Transient=14, SpamComplaint=4, Opens=166, UniqueOpens=26, Clicks=72,
         UniqueClicks=30, Tracked=111)
    seed(client, days_before(today, 10), Sent=1000)  # before the range

    overview = client.get("/stats/outbound", params=dates(days_before(today, 3), today)).json()

    assert overview["Sent"] == 615
    assert (overview["Bounced"], overview["SMTPApiErrors"]) == (64, 25)
    assert (overview["BounceRate"], overview["SpamComplaints"], overview["SpamComplaintsRate"]) == (10.407, 10, 1.626)
    assert (overview["Opens"], overview["UniqueOpens"], overview["TotalClicks"]) == (166, 26, 72)
    assert (overview["UniqueLinksClicked"], overview["Tracked"]) == (30, 111)


# --- Streams -------------------------------------------------------------------------------------


def test_without_messagestream_the_figures_cover_every_stream_of_the_server(quiet):
    sandbox, client = quiet
    day = today_in(sandbox)
    client.post("/message-streams", json={"ID": "billing", "Name": "Billing", "MessageStreamType": "Transactional"})
    seed(client, day, "outbound", Sent=1)
    seed(client, day, "broadcast", Sent=10)
    seed(client, day, "billing", Sent=100)
    client.post("/message-streams/billing/archive")

    def sent(**stream):
        return client.get("/stats/outbound/sends", params=dates(day, day, **stream)).json()["Sent"]

    assert sent() == 111  # archived streams still count until Postmark purges them
    assert (sent(messagestream="outbound"), sent(messagestream="broadcast"), sent(messagestream="billing")) == (
        1, 10, 100,
    )
    assert sent(messagestream="") == 111  # an empty messagestream is no filter


def test_a_stream_the_server_does_not_have_is_refused_with_1226(quiet):
    sandbox, client = quiet
    seed(client, today_in(sandbox), Sent=1)

    for path in ("/stats/outbound", "/stats/outbound/bounces"):
        assert_refused(client.get(path, params={"messagestream": "Outbound"}), 1226)  # IDs match exactly
        assert_refused(client.get(path, params={"messagestream": "billing"}), 1226)


def test_a_purged_streams_figures_leave_with_it(quiet):
    sandbox, client = quiet
    client.post("/message-streams", json={"ID": "promo", "Name": "Promo", "MessageStreamType": "Broadcasts"})
    seed(client, today_in(sandbox), "promo", Sent=9)
    client.post("/message-streams/promo/archive")

    sandbox.advance_clock(days=46)

    assert_refused(client.get("/stats/outbound/sends", params={"messagestream": "promo"}), 1226)
    assert client.get("/stats/outbound").json()["Sent"] == 0


def test_a_tag_filter_finds_nothing_because_no_sandbox_mail_has_a_tag(busy):
    _, client = busy

    answer = client.get("/stats/outbound/sends", params={"tag": "welcome"}).json()

    assert answer == {"Days": [], "Sent": 0}


# --- Dates, the one-year rule and the clock ------------------------------------------------------


@pytest.mark.parametrize("bad", ["2024-13-01", "2024-02-30", "yesterday", "2024/01/02", "20240102", "2024-1-2",
                                 "2024-01-02T00:00:00"])
@pytest.mark.parametrize("name", ["fromdate", "todate"])
def test_a_date_that_is_not_yyyy_mm_dd_is_refused_with_900(quiet, name, bad):
    _, client = quiet

    assert_refused(client.get("/stats/outbound/spam", params={name: bad}), 900)


def test_fromdate_after_todate_is_refused_with_1502_and_the_same_day_is_fine(quiet):
    sandbox, client = quiet
    today = today_in(sandbox)

    assert_refused(client.get("/stats/outbound", params=dates(today, days_before(today, 1))), 1502)
    assert client.get("/stats/outbound", params=dates(today, today)).status_code == 200


def test_fromdate_more_than_a_year_before_today_is_refused_with_1500(quiet):
    sandbox, client = quiet
    today = today_in(sandbox)
    a_year_ago = date(today.year - 1, today.month, min(today.day, 28))

    assert client.get("/stats/outbound/sends", params={"fromdate": a_year_ago.isoformat()}).status_code == 200
    refused = client.get("/stats/outbound/sends", params={"fromdate": days_before(a_year_ago, 1).isoformat()})
    assert_refused(refused, 1500)


def test_the_one_year_rule_from_29_february_goes_back_to_28_february():
    assert stats_module._one_year_before(date(2028, 2, 29)) == date(2027, 2, 28)
    assert stats_module._one_year_before(date(2027, 3, 1)) == date(2026, 3, 1)


def test_without_dates_the_answer_covers_all_time_up_to_the_sandbox_clocks_today(quiet):
    sandbox, client = quiet
    today = today_in(sandbox)
    seed(client, days_before(today, 500), Sent=2)  # older than a year: only "all time" reaches it
    seed(client, today, Sent=3)
    seed(client, today + timedelta(days=1), Sent=4)  # tomorrow has not happened yet

    answer = client.get("/stats/outbound/sends").json()

    assert answer["Days"] == [
        {"Date": days_before(today, 500).isoformat(), "Sent": 2}, {"Date": today.isoformat(), "Sent": 3},
    ]
    assert client.get("/stats/outbound/sends", params={"todate": today.isoformat()}).json()["Sent"] == 5


def test_advancing_the_sandbox_clock_brings_new_days_of_traffic(busy):
    sandbox, client = busy
    today = today_in(sandbox)
    asked = dates(days_before(today, 3), today + timedelta(days=2))

    before = client.get("/stats/outbound/sends", params={**asked, "messagestream": "outbound"}).json()["Days"]
    sandbox.advance_clock(days=2)
    after = client.get("/stats/outbound/sends", params={**asked, "messagestream": "outbound"}).json()["Days"]

    assert before[-1]["Date"] == today.isoformat()
    assert after[-1]["Date"] == (today + timedelta(days=2)).isoformat()
    assert after[:len(before)] == before  # the past does not change


def test_the_sandbox_answers_query_names_and_paths_in_any_case(quiet):
    sandbox, client = quiet
    today = today_in(sandbox)
    seed(client, today, Sent=2)

    answer = client.get("/Stats/Outbound/Sends/", params={"FromDate": today.isoformat(), "MessageStream": "outbound"})

    assert answer.json()["Sent"] == 2


@pytest.mark.parametrize("path", ["/stats/outbound/tracked", "/stats/outbound/opens/platforms", "/stats/inbound"])
def test_the_stats_endpoints_the_sandbox_does_not_serve_answer_404(quiet, path):
    _, client = quiet

    assert client.get(path).status_code == 404


def test_a_stats_write_is_refused_with_405(quiet):
    _, client = quiet

    answer = client.post("/stats/outbound/sends")

    assert (answer.status_code, answer.headers["Allow"]) == (405, "GET")


# --- Tokens, plans and faults --------------------------------------------------------------------


def test_a_request_without_a_known_token_is_refused_with_401_and_code_10(quiet):
    sandbox, _ = quiet
    with wsgi_client(sandbox, token=None) as anonymous, wsgi_client(sandbox, OTHER_TOKEN) as stranger:
        for client in (anonymous, stranger):
            answer = client.get("/stats/outbound")
            assert (answer.status_code, answer.json()["ErrorCode"]) == (401, 10)


def test_a_server_whose_plan_has_no_stats_api_answers_614_on_every_call_until_allowed(quiet):
    sandbox, client = quiet

    flagged = client.post("/_sandbox/servers", json={"token": TOKEN, "stats_api": False})

    assert flagged.status_code == 200
    for path in ("/stats/outbound", *(f"/stats/outbound/{report}" for report in REPORTS)):
        assert_refused(client.get(path, params={"messagestream": "no-such-stream", "fromdate": "bad"}), 614)
    sandbox.allow_stats_api(TOKEN)
    assert client.get("/stats/outbound").status_code == 200


def test_a_new_server_can_start_without_the_stats_api(quiet):
    sandbox, client = quiet

    assert client.post("/_sandbox/servers", json={"token": OTHER_TOKEN, "stats_api": False}).status_code == 201

    with wsgi_client(sandbox, OTHER_TOKEN) as other:
        assert_refused(other.get("/stats/outbound/spam"), 614)


def test_faults_hit_the_stats_api_like_every_postmark_call(quiet):
    sandbox, client = quiet
    sandbox.set_faults(status=503, times=1)

    assert client.get("/stats/outbound").status_code == 503
    assert client.get("/stats/outbound").status_code == 200


# --- The seeding control path --------------------------------------------------------------------


@pytest.mark.parametrize(("body", "message"), [
    ({"stream": "outbound", "date": "2026-01-02", "counts": {"Sent": 1}}, "No sandbox server uses that token."),
    ({"token": TOKEN, "stream": "billing", "date": "2026-01-02", "counts": {"Sent": 1}}, "no stream 'billing'"),
    ({"token": TOKEN, "stream": "outbound", "date": "02/01/2026", "counts": {"Sent": 1}}, "YYYY-MM-DD"),
    ({"token": TOKEN, "stream": "outbound", "counts": {"Sent": 1}}, "YYYY-MM-DD"),
    ({"token": TOKEN, "stream": "outbound", "date": "2026-01-02", "counts": {"Delivered": 1}}, "Unknown count"),
    ({"token": TOKEN, "stream": "outbound", "date": "2026-01-02", "counts": {"Sent": -1}}, "0 or more"),
    ({"token": TOKEN, "stream": "outbound", "date": "2026-01-02", "counts": {"Sent": 1.5}}, "0 or more"),
    ({"token": TOKEN, "stream": "outbound", "date": "2026-01-02", "counts": {}}, "'counts' must be"),
    ({"token": TOKEN, "stream": "outbound", "date": "2026-01-02", "counts": {"Sent": 1}, "tag": "x"}, "Unknown"),
])
def test_seeding_refuses_with_400_what_it_cannot_add_and_adds_nothing(quiet, body, message):
    _, client = quiet

    answer = client.post("/_sandbox/stats", json=body)

    assert answer.status_code == 400
    assert message in answer.json()["Message"]
    assert client.get("/stats/outbound").json()["Sent"] == 0


# --- Synthetic traffic ---------------------------------------------------------------------------


def test_a_server_made_from_a_token_has_no_traffic_until_a_test_seeds_it(quiet):
    _, client = quiet

    assert client.get("/stats/outbound/sends").json() == {"Days": [], "Sent": 0}


def test_a_server_made_with_traffic_true_over_http_has_a_year_of_history(quiet):
    sandbox, client = quiet
    client.post("/_sandbox/servers", json={"token": OTHER_TOKEN, "traffic": True})
    today = today_in(sandbox)

    with wsgi_client(sandbox, OTHER_TOKEN) as other:
        days = other.get("/stats/outbound/sends", params={"messagestream": "outbound"}).json()["Days"]

    assert days[0]["Date"] == days_before(today, 365).isoformat()
    assert days[-1]["Date"] == today.isoformat()
    assert len(days) == 366  # transactional mail goes out every day


def test_the_same_server_and_stream_give_the_same_figures_in_any_sandbox(busy):
    sandbox, client = busy
    again = Sandbox()
    again.add_server(OTHER_TOKEN, traffic=True)  # another server first: the server ID differs, not the figures
    again.add_server(TOKEN, traffic=True)
    today = today_in(sandbox)
    asked = dates(days_before(today, 90), today)

    with wsgi_client(again) as other:
        for path in ("/stats/outbound", *(f"/stats/outbound/{report}" for report in REPORTS)):
            for stream in ("outbound", "broadcast"):
                mine = client.get(path, params={**asked, "messagestream": stream}).json()
                assert other.get(path, params={**asked, "messagestream": stream}).json() == mine
    outbound = client.get("/stats/outbound", params={**asked, "messagestream": "outbound"}).json()
    broadcast = client.get("/stats/outbound", params={**asked, "messagestream": "broadcast"}).json()
    with wsgi_client(again, OTHER_TOKEN) as other_server:
        elsewhere = other_server.get("/stats/outbound", params={**asked, "messagestream": "outbound"}).json()
    assert outbound["Sent"] != broadcast["Sent"]
    assert outbound["Sent"] != elsewhere["Sent"]


def per_day(client: httpx.Client, stream: str, since: date, until: date) -> dict[date, dict]:
    days: dict[date, dict] = {}
    for report in ("sends", "bounces"):
        for day in client.get(f"/stats/outbound/{report}", params=dates(since, until, messagestream=stream)).json()[
            "Days"
        ]:
            days.setdefault(date.fromisoformat(day["Date"]), {}).update(day)
    return days


def test_transactional_traffic_dips_at_the_weekend_and_shows_a_bounce_spike_in_any_four_weeks(busy):
    sandbox, client = busy
    today = today_in(sandbox)
    since = days_before(today, 27)

    days = per_day(client, "outbound", days_before(today, 83), today)

    weekdays = mean(day["Sent"] for when, day in days.items() if when.weekday() < 5)
    weekends = mean(day["Sent"] for when, day in days.items() if when.weekday() >= 5)
    assert weekends < 0.7 * weekdays
    rates = [day.get("HardBounce", 0) / day["Sent"] for when, day in days.items() if when >= since]
    assert max(rates) > 0.04 > 5 * sorted(rates)[len(rates) // 2]  # one day stands out from a typical one


def test_broadcast_traffic_comes_in_bursts_with_quiet_days_left_out(busy):
    sandbox, client = busy
    today = today_in(sandbox)

    days = per_day(client, "broadcast", days_before(today, 55), today)

    assert 8 <= len(days) <= 30  # a campaign a week, now and then an extra send; the other days are left out
    assert min(day["Sent"] for day in days.values()) > 300


def test_the_inbound_stream_sends_nothing(busy):
    _, client = busy

    assert client.get("/stats/outbound/sends", params={"messagestream": "inbound"}).json() == {"Days": [], "Sent": 0}


def test_an_archived_stream_stops_sending_from_the_day_it_was_archived(busy):
    sandbox, client = busy
    today = today_in(sandbox)
    client.post("/message-streams", json={"ID": "promo", "Name": "Promo", "MessageStreamType": "Transactional"})
    client.post("/message-streams/promo/archive")
    sandbox.advance_clock(days=3)

    days = client.get("/stats/outbound/sends", params={"messagestream": "promo"}).json()["Days"]

    assert days[-1]["Date"] == days_before(today, 1).isoformat()


# --- The state file ------------------------------------------------------------------------------


def test_the_state_file_keeps_seeded_counts_traffic_and_the_plan(tmp_path):
    state_file = tmp_path / "state.json"
    first = Sandbox(state_file=state_file)
    first.add_server(TOKEN, traffic=True)
    first.add_server(OTHER_TOKEN)
    today = today_in(first)
    first.seed_stats(OTHER_TOKEN, "broadcast", today, {"Sent": 4, "SpamComplaint": 1})
    first.allow_stats_api(TOKEN, False)

    second = Sandbox(state_file=state_file)

    with wsgi_client(second, OTHER_TOKEN) as client:
        assert client.get("/stats/outbound/spam").json() == {
            "Days": [{"Date": today.isoformat(), "SpamComplaint": 1}], "SpamComplaint": 1,
        }
    with wsgi_client(second) as client:
        assert_refused(client.get("/stats/outbound"), 614)
    second.allow_stats_api(TOKEN)
    with wsgi_client(second) as client:
        assert client.get("/stats/outbound/sends", params={"messagestream": "outbound"}).json()["Sent"] > 0
    assert TOKEN not in state_file.read_text()


def test_a_state_file_written_before_statistics_existed_still_loads_without_traffic(tmp_path):
    state_file = tmp_path / "state.json"
    Sandbox(state_file=state_file).add_server(TOKEN)
    data = json.loads(state_file.read_text())
    for server in data["servers"]:
        del server["stats"]
    state_file.write_text(json.dumps(data))

    with wsgi_client(Sandbox(state_file=state_file)) as client:
        assert client.get("/stats/outbound/sends").json() == {"Days": [], "Sent": 0}
        assert client.get("/message-streams").status_code == 200


def test_the_stats_module_imports_the_standard_library_only():
    tree = ast.parse(Path(stats_module.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}

    assert imported <= {
        "__future__", "hashlib", "random", "re", "collections", "collections.abc", "dataclasses", "datetime",
        "typing", "zoneinfo",
    }
