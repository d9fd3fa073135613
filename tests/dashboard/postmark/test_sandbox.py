"""The sandbox on the wire: every rule, error code, answer shape and fault of the Postmark contract.

Requests go through httpx's WSGI transport, exactly as a client would send them; expectations come from
docs/postmark-api.md and Postmark's own examples in tests/postmark_examples.
"""

import ast
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

import dashboard.postmark.sandbox as sandbox_module
from dashboard.postmark.sandbox import Sandbox, current, install
from tests.postmark_examples import CALLS, example

EASTERN = ZoneInfo("America/New_York")
TOKEN_HEADER = "X-Postmark-Server-Token"
TOKEN = "9d2b7c1e-0000-4000-8000-a-made-up-token"  # for sandboxes a test builds itself
OTHER_TOKEN = "0c7e11aa-0000-4000-8000-another-fake-token"
DROP = object()  # a key left out of the body, unlike one sent as null

# The contract's messages where it quotes Postmark verbatim.
CONTRACT_MESSAGES = {
    10: "Request does not contain a valid Server token.",
    402: "Received invalid JSON input.",
    1221: "The 'MessageStreamType' associated with this request was invalid.",
    1222: "A valid 'ID' must be provided.",
    1223: "A valid 'Name' must be provided.",
    1224: "The 'Name' is too long (100 characters).",
    1225: "You have reached the maximum number of message streams for this server.",
    1226: "The message stream for the provided 'ID' was not found.",
    1228: "A server can only have one inbound stream.",
    1229: "You cannot archive the default transactional and inbound streams.",
    1230: "The 'ID' provided already exists for this server.",
    1231: "The 'Description' is too long (1000 characters).",
    1233: "The 'ID' must not start with the 'pm-' prefix.",
    1234: "The 'Description' must not contain HTML tags.",
}


@pytest.fixture
def api(sandbox_http, sandbox_token):
    """The sandbox over HTTP, with the test server's token on every request."""
    sandbox_http.headers[TOKEN_HEADER] = sandbox_token
    return sandbox_http



def stream_body(**changes) -> dict:
    body = {"ID": "billing", "Name": "Billing", "MessageStreamType": "Transactional"}
    body.update(changes)
    return {key: value for key, value in body.items() if value is not DROP}


def create(client: httpx.Client, **changes) -> httpx.Response:
    return client.post("/message-streams", json=stream_body(**changes))


def handling(value: str) -> dict:
    return {"UnsubscribeHandlingType": value}


def ids(response: httpx.Response) -> list[str]:
    return [stream["ID"] for stream in response.json()["MessageStreams"]]


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def assert_refused(response: httpx.Response, code: int, status: int = 422) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json()["ErrorCode"] == code
    assert response.json()["Message"] == CONTRACT_MESSAGES.get(code, response.json()["Message"])
    assert response.json()["Message"]
    assert response.headers["X-PM-ApiErrorCode"] == str(code)


def wsgi_client(sandbox: Sandbox, token: str | None = None) -> httpx.Client:
    headers = {TOKEN_HEADER: token} if token else {}
    transport = httpx.WSGITransport(app=sandbox)
    return httpx.Client(base_url="http://sandbox.test", transport=transport, headers=headers)


# --- Tokens ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({TOKEN_HEADER: "not-a-server-token-we-know"}, id="unknown-token"),
        pytest.param({TOKEN_HEADER: ""}, id="empty-token"),
        pytest.param("account-token-header-only", id="account-token-header-only"),
    ],
)
def test_a_request_without_a_known_server_token_is_refused_with_401_and_code_10(
    sandbox_http, sandbox_token, headers
):
    if headers == "account-token-header-only":
        headers = {"X-Postmark-Account-Token": sandbox_token}
    assert_refused(sandbox_http.get("/message-streams", headers=headers), 10, status=401)


def test_each_token_sees_only_its_own_servers_streams(api, sandbox):
    sandbox.add_server(OTHER_TOKEN)
    create(api, ID="mine")

    theirs = api.get("/message-streams", headers={TOKEN_HEADER: OTHER_TOKEN})

    assert ids(theirs) == ["outbound", "inbound", "broadcast"]
    assert_refused(api.get("/message-streams/mine", headers={TOKEN_HEADER: OTHER_TOKEN}), 1226)


# --- Servers and their default streams ---------------------------------------------------------


def test_a_new_server_has_the_three_default_streams_in_creation_order(api, sandbox, sandbox_token):
    streams = api.get("/message-streams").json()["MessageStreams"]

    assert [(s["ID"], s["Name"], s["MessageStreamType"]) for s in streams] == [
        ("outbound", "Default Transactional Stream", "Transactional"),
        ("inbound", "Default Inbound Stream", "Inbound"),
        ("broadcast", "Default Broadcast Stream", "Broadcasts"),
    ]
    assert [s["SubscriptionManagementConfiguration"]["UnsubscribeHandlingType"] for s in streams] == [
        "None", "None", "Postmark",
    ]
    assert {s["ServerID"] for s in streams} == {sandbox.add_server(sandbox_token)}


def test_a_legacy_server_has_only_the_transactional_and_inbound_defaults(sandbox_http, sandbox):
    sandbox.add_server(OTHER_TOKEN, legacy=True)

    answer = sandbox_http.get("/message-streams", headers={TOKEN_HEADER: OTHER_TOKEN})

    assert ids(answer) == ["outbound", "inbound"]


def test_adding_the_same_token_again_returns_the_existing_server_unchanged(api, sandbox, sandbox_token):
    first = sandbox.add_server(sandbox_token)
    create(api, ID="kept")

    again = sandbox.add_server(sandbox_token, legacy=True, max_streams=3)

    assert again == first
    assert ids(api.get("/message-streams")) == ["outbound", "inbound", "broadcast", "kept"]
    assert sandbox.add_server(OTHER_TOKEN) != first


def test_the_sandbox_says_whether_it_has_a_server_for_a_token(sandbox, sandbox_token):
    assert sandbox.has_server(sandbox_token)
    assert not sandbox.has_server(OTHER_TOKEN)


# --- List --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["outbound", "inbound", "broadcast", "billing", "news"]),
        ("MessageStreamType=All", ["outbound", "inbound", "broadcast", "billing", "news"]),
        ("MessageStreamType=Transactional", ["outbound", "billing"]),
        ("messagestreamtype=transactional", ["outbound", "billing"]),
        ("MESSAGESTREAMTYPE=BROADCASTS", ["broadcast", "news"]),
        ("MessageStreamType=inbound", ["inbound"]),
        ("messageStreamType=Broadcasts&includeArchivedStreams=TRUE", ["broadcast", "news", "old"]),
        ("IncludeArchivedStreams=true", ["outbound", "inbound", "broadcast", "billing", "news", "old"]),
        ("IncludeArchivedStreams=false", ["outbound", "inbound", "broadcast", "billing", "news"]),
        ("includearchivedstreams=False&MessageStreamType=ALL",
         ["outbound", "inbound", "broadcast", "billing", "news"]),
    ],
)
def test_the_list_filters_by_type_and_archive_with_names_and_values_in_any_case(api, query, expected):
    create(api, ID="billing")
    create(api, ID="news", MessageStreamType="Broadcasts")
    create(api, ID="old", MessageStreamType="Broadcasts")
    api.post("/message-streams/old/archive")

    answer = api.get(f"/message-streams?{query}")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert ids(answer) == expected
    assert answer.json()["TotalCount"] == len(expected)


@pytest.mark.parametrize("value", ["Marketing", "Outbound", "broadcast"])
def test_an_unknown_list_type_filter_is_refused_with_1221(api, value):
    assert_refused(api.get("/message-streams", params={"MessageStreamType": value}), 1221)


# --- Create ------------------------------------------------------------------------------------


def test_creating_a_stream_answers_it_with_null_updated_at_and_archived_at(api, sandbox):
    answer = create(api, Description="Receipts and invoices")

    assert answer.status_code == 200
    stream = answer.json()
    assert stream["ID"] == "billing"
    assert stream["Name"] == "Billing"
    assert stream["Description"] == "Receipts and invoices"
    assert stream["MessageStreamType"] == "Transactional"
    assert stream["UpdatedAt"] is None
    assert stream["ArchivedAt"] is None
    assert stream["SubscriptionManagementConfiguration"] == handling("None")
    assert abs(moment(stream["CreatedAt"]) - sandbox.now()) < timedelta(seconds=5)
    assert api.get("/message-streams/billing").json()["Name"] == "Billing"


def test_body_keys_match_in_any_case_at_every_level_and_unknown_keys_are_ignored(api):
    body = {
        "id": "news",
        "NAME": "News",
        "messageStreamType": "bRoAdCaStS",
        "subscriptionmanagementconfiguration": {"unsubscribeHANDLINGtype": "postmark", "Extra": 1},
        "Color": "teal",
    }

    answer = api.post("/message-streams", json=body)

    assert answer.status_code == 200
    assert answer.json()["MessageStreamType"] == "Broadcasts"
    assert answer.json()["SubscriptionManagementConfiguration"] == handling("Postmark")
    assert "Color" not in answer.json()


CREATE_REFUSALS = [
    pytest.param({"ID": DROP}, 1222, id="id-missing"),
    pytest.param({"ID": None}, 1222, id="id-null"),
    pytest.param({"ID": "   "}, 1222, id="id-blank"),
    pytest.param({"ID": "all"}, 1237, id="id-all"),
    pytest.param({"ID": "ALL"}, 1237, id="id-all-uppercase"),
    pytest.param({"ID": "pm-billing"}, 1233, id="id-pm-prefix"),
    pytest.param({"ID": "PM-billing"}, 1233, id="id-pm-prefix-uppercase"),
    pytest.param({"ID": "Billing"}, 1227, id="id-uppercase"),
    pytest.param({"ID": "9lives"}, 1227, id="id-starts-with-digit"),
    pytest.param({"ID": "-billing"}, 1227, id="id-starts-with-dash"),
    pytest.param({"ID": "bill ing"}, 1227, id="id-space"),
    pytest.param({"ID": "bill.ing"}, 1227, id="id-dot"),
    pytest.param({"ID": "billé"}, 1227, id="id-accent"),
    pytest.param({"ID": "b" * 31}, 1227, id="id-31-characters"),
    pytest.param({"Name": DROP}, 1223, id="name-missing"),
    pytest.param({"Name": None}, 1223, id="name-null"),
    pytest.param({"Name": " \t"}, 1223, id="name-blank"),
    pytest.param({"Name": "n" * 101}, 1224, id="name-101-characters"),
    pytest.param({"Description": "d" * 1001}, 1231, id="description-1001-characters"),
    pytest.param({"Description": "<b>bold</b>"}, 1234, id="description-html"),
    pytest.param({"Description": "a > b"}, 1234, id="description-greater-than"),
    pytest.param({"MessageStreamType": DROP}, 1221, id="type-missing"),
    pytest.param({"MessageStreamType": None}, 1221, id="type-null"),
    pytest.param({"MessageStreamType": "Marketing"}, 1221, id="type-unknown"),
    pytest.param({"MessageStreamType": "All"}, 1221, id="type-all"),
    pytest.param({"MessageStreamType": "Inbound"}, 1228, id="type-inbound"),
    pytest.param({"MessageStreamType": "inbound"}, 1228, id="type-inbound-lowercase"),
    pytest.param(
        {"SubscriptionManagementConfiguration": handling("Postmark")}, 1239, id="transactional-postmark"
    ),
    pytest.param(
        {"SubscriptionManagementConfiguration": handling("Custom")}, 1239, id="transactional-custom"
    ),
    pytest.param(
        {"MessageStreamType": "Broadcasts", "SubscriptionManagementConfiguration": handling("None")},
        1239, id="broadcasts-none",
    ),
    pytest.param(
        {"MessageStreamType": "Broadcasts", "SubscriptionManagementConfiguration": handling("Sometimes")},
        1239, id="broadcasts-unknown-handling",
    ),
    pytest.param(
        {"MessageStreamType": "Broadcasts", "SubscriptionManagementConfiguration": handling("custom")},
        1238, id="broadcasts-custom-not-granted",
    ),
]


@pytest.mark.parametrize(("changes", "code"), CREATE_REFUSALS)
def test_create_refuses_a_stream_that_breaks_a_rule(api, changes, code):
    assert_refused(create(api, **changes), code)
    assert "billing" not in ids(api.get("/message-streams?IncludeArchivedStreams=true"))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({"ID": "a"}, {"ID": "a"}, id="id-one-letter"),
        pytest.param({"ID": "b" * 30}, {"ID": "b" * 30}, id="id-30-characters"),
        pytest.param({"ID": "a-b_c9"}, {"ID": "a-b_c9"}, id="id-dash-underscore-digit"),
        pytest.param({"ID": "allow"}, {"ID": "allow"}, id="id-starting-with-all"),
        pytest.param({"ID": "pmbilling"}, {"ID": "pmbilling"}, id="id-pm-without-dash"),
        pytest.param({"Name": "n" * 100}, {"Name": "n" * 100}, id="name-100-characters"),
        pytest.param({"Description": "d" * 1000}, {"Description": "d" * 1000}, id="description-1000"),
        pytest.param({"Description": None}, {"Description": None}, id="description-null"),
        pytest.param(
            {"MessageStreamType": "broadcasts"},
            {"MessageStreamType": "Broadcasts", "SubscriptionManagementConfiguration": handling("Postmark")},
            id="broadcasts-default-postmark",
        ),
        pytest.param(
            {"SubscriptionManagementConfiguration": handling("none")},
            {"SubscriptionManagementConfiguration": handling("None")},
            id="transactional-none-lowercase",
        ),
        pytest.param(
            {"SubscriptionManagementConfiguration": None},
            {"SubscriptionManagementConfiguration": handling("None")},
            id="configuration-null",
        ),
    ],
)
def test_create_accepts_values_on_the_edge_of_each_rule(api, changes, expected):
    answer = create(api, **changes)

    assert answer.status_code == 200, answer.text
    assert {key: answer.json()[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({}, 1222, id="everything-missing-id-first"),
        pytest.param({"ID": "billing", "MessageStreamType": "Marketing"}, 1223, id="name-before-type"),
        pytest.param({"ID": "billing", "Name": "B", "Description": "<i>"}, 1234,
                     id="description-before-type"),
        pytest.param(
            {"ID": "billing", "Name": "B", "SubscriptionManagementConfiguration": handling("Bogus")},
            1221, id="type-before-handling",
        ),
        pytest.param({"ID": "outbound", "Name": "B", "MessageStreamType": "Inbound"}, 1228,
                     id="rules-before-duplicate"),
    ],
)
def test_create_checks_its_rules_in_the_documented_order(api, body, code):
    assert_refused(api.post("/message-streams", json=body), code)


def test_a_duplicate_id_is_refused_with_1230_even_while_the_first_is_archived(api):
    create(api)
    api.post("/message-streams/billing/archive")

    assert_refused(create(api, Name="Another billing"), 1230)
    assert_refused(create(api, ID="outbound"), 1230)


def test_the_eleventh_stream_is_refused_with_1225_counting_archived_streams(api, sandbox):
    for number in range(7):
        assert create(api, ID=f"stream-{number}").status_code == 200
    api.post("/message-streams/stream-0/archive")

    assert_refused(create(api, ID="one-too-many"), 1225)
    assert_refused(create(api, ID="stream-1"), 1230)  # a duplicate is named before a full server

    sandbox.advance_clock(days=45, seconds=1)
    assert create(api, ID="one-too-many").status_code == 200  # the purge freed the slot


def test_a_server_with_a_raised_limit_takes_more_streams(sandbox_http, sandbox):
    sandbox.add_server(OTHER_TOKEN, max_streams=5, legacy=True)
    sandbox_http.headers[TOKEN_HEADER] = OTHER_TOKEN

    answers = [create(sandbox_http, ID=f"stream-{number}") for number in range(4)]

    assert [answer.status_code for answer in answers[:3]] == [200, 200, 200]
    assert_refused(answers[3], 1225)


def test_custom_unsubscribe_handling_is_accepted_once_granted_to_the_server(api, sandbox, sandbox_token):
    custom = {"MessageStreamType": "Broadcasts", "SubscriptionManagementConfiguration": handling("Custom")}
    assert_refused(create(api, **custom), 1238)

    sandbox.grant_custom_unsubscribe(sandbox_token)
    answer = create(api, **custom)

    assert answer.status_code == 200
    assert answer.json()["SubscriptionManagementConfiguration"] == handling("Custom")
    sandbox.grant_custom_unsubscribe(sandbox_token, allowed=False)
    assert_refused(create(api, ID="other", **custom), 1238)


INVALID_BODIES = [
    pytest.param(b"", id="empty"),
    pytest.param(b"{not json", id="not-json"),
    pytest.param(b"[1, 2]", id="array"),
    pytest.param(b'"billing"', id="string"),
    pytest.param(b"null", id="null"),
    pytest.param(b"\xff\xfe{}", id="not-utf8"),
    pytest.param(b'{"ID": 5, "Name": "B", "MessageStreamType": "Transactional"}', id="id-not-a-string"),
    pytest.param(b'{"ID": "b", "Name": ["B"], "MessageStreamType": "Transactional"}', id="name-not-a-string"),
    pytest.param(b'{"ID": "b", "Name": "B", "MessageStreamType": "Broadcasts", '
                 b'"SubscriptionManagementConfiguration": "Custom"}', id="configuration-not-an-object"),
]


@pytest.mark.parametrize("body", INVALID_BODIES)
@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/message-streams"), ("PATCH", "/message-streams/outbound")]
)
def test_a_body_that_is_not_a_json_object_of_the_right_types_is_refused_with_402(api, method, path, body):
    response = api.request(method, path, content=body, headers={"Content-Type": "application/json"})

    assert_refused(response, 402)


# --- Get and edit ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/message-streams/missing"),
        ("PATCH", "/message-streams/missing"),
        ("POST", "/message-streams/missing/archive"),
        ("POST", "/message-streams/missing/unarchive"),
    ],
)
def test_a_stream_that_does_not_exist_is_refused_with_1226_not_404(api, method, path):
    body = {"Name": "Renamed"} if method == "PATCH" else None
    assert_refused(api.request(method, path, json=body), 1226)


def test_editing_changes_name_description_and_handling_and_sets_updated_at(api, sandbox):
    create(api, ID="news", MessageStreamType="Broadcasts", Description="Old")
    sandbox.advance_clock(hours=2)

    answer = api.patch("/message-streams/news", json={
        "name": "Weekly news", "DESCRIPTION": "Every Monday",
        "SubscriptionManagementConfiguration": {"UnsubscribeHandlingType": "POSTMARK"},
    })

    stream = answer.json()
    assert answer.status_code == 200
    assert (stream["Name"], stream["Description"]) == ("Weekly news", "Every Monday")
    assert stream["SubscriptionManagementConfiguration"] == handling("Postmark")
    assert moment(stream["UpdatedAt"]) - moment(stream["CreatedAt"]) >= timedelta(hours=2)
    assert api.get("/message-streams/news").json() == stream


def test_editing_never_changes_a_streams_id_or_type(api):
    create(api)

    answer = api.patch("/message-streams/billing", json={"ID": "renamed", "MessageStreamType": "Broadcasts"})

    assert (answer.json()["ID"], answer.json()["MessageStreamType"]) == ("billing", "Transactional")
    assert ids(api.get("/message-streams")) == ["outbound", "inbound", "broadcast", "billing"]


def test_editing_leaves_unsent_fields_alone_and_a_null_description_clears_it(api):
    create(api, Description="Receipts")

    unchanged = api.patch("/message-streams/billing", json={}).json()
    cleared = api.patch("/message-streams/billing", json={"Description": None}).json()

    assert (unchanged["Name"], unchanged["Description"], unchanged["UpdatedAt"] is not None) == (
        "Billing", "Receipts", True,
    )
    assert (cleared["Name"], cleared["Description"]) == ("Billing", None)


@pytest.mark.parametrize(
    ("stream_id", "body", "code"),
    [
        pytest.param("outbound", {"Name": ""}, 1223, id="name-empty"),
        pytest.param("outbound", {"Name": None}, 1223, id="name-null"),
        pytest.param("outbound", {"Name": "n" * 101}, 1224, id="name-too-long"),
        pytest.param("outbound", {"Description": "d" * 1001}, 1231, id="description-too-long"),
        pytest.param("outbound", {"Description": "<script>"}, 1234, id="description-html"),
        pytest.param("outbound", {"SubscriptionManagementConfiguration": handling("Postmark")}, 1239,
                     id="transactional-postmark"),
        pytest.param("inbound", {"SubscriptionManagementConfiguration": handling("Custom")}, 1239,
                     id="inbound-custom"),
        pytest.param("broadcast", {"SubscriptionManagementConfiguration": handling("None")}, 1239,
                     id="broadcasts-none"),
        pytest.param("broadcast", {"SubscriptionManagementConfiguration": handling("Custom")}, 1238,
                     id="broadcasts-custom-not-granted"),
    ],
)
def test_edit_refuses_a_change_that_breaks_a_rule_and_changes_nothing(api, stream_id, body, code):
    before = api.get(f"/message-streams/{stream_id}").json()

    assert_refused(api.patch(f"/message-streams/{stream_id}", json=body), code)
    assert api.get(f"/message-streams/{stream_id}").json() == before


# --- Archive, unarchive, purge -----------------------------------------------------------------


def test_archiving_answers_id_server_and_a_purge_date_45_days_later(api, sandbox):
    create(api)

    answer = api.post("/message-streams/billing/archive")

    assert answer.status_code == 200
    assert list(answer.json()) == ["ID", "ServerID", "ExpectedPurgeDate"]
    purge_date = answer.json()["ExpectedPurgeDate"]
    assert purge_date[-9:-6] == ".00" and purge_date[-6:] in ("-04:00", "-05:00")
    stream = api.get("/message-streams/billing").json()
    assert moment(purge_date) - moment(stream["ArchivedAt"]) == timedelta(days=45)
    assert moment(stream["ExpectedPurgeDate"]) == moment(purge_date)
    assert abs(moment(stream["ArchivedAt"]) - sandbox.now()) < timedelta(seconds=5)
    assert "billing" not in ids(api.get("/message-streams"))


@pytest.mark.parametrize("stream_id", ["outbound", "inbound"])
def test_archiving_the_default_transactional_or_inbound_stream_is_refused_with_1229(api, stream_id):
    assert_refused(api.post(f"/message-streams/{stream_id}/archive"), 1229)
    assert api.get(f"/message-streams/{stream_id}").json()["ArchivedAt"] is None


def test_the_default_broadcast_stream_may_be_archived(api):
    assert api.post("/message-streams/broadcast/archive").status_code == 200


def test_archiving_an_archived_stream_answers_the_same_result_again(api, sandbox):
    create(api)
    first = api.post("/message-streams/billing/archive").json()
    sandbox.advance_clock(days=3)

    again = api.post("/message-streams/billing/archive", json={})

    assert again.status_code == 200
    assert again.json() == first


@pytest.mark.parametrize("body", [b"", b"{}", b'{"Reason": "ignored"}'])
def test_archive_and_unarchive_take_an_empty_body_or_an_object(api, body):
    create(api)

    assert api.post("/message-streams/billing/archive", content=body).status_code == 200
    assert api.post("/message-streams/billing/unarchive", content=body).status_code == 200


@pytest.mark.parametrize("action", ["archive", "unarchive"])
def test_archive_and_unarchive_refuse_a_body_that_is_not_an_object_with_402(api, action):
    create(api)

    assert_refused(api.post(f"/message-streams/billing/{action}", content=b"[]"), 402)


def test_unarchiving_restores_the_stream_to_the_list(api):
    create(api)
    api.post("/message-streams/billing/archive")

    answer = api.post("/message-streams/billing/unarchive")

    assert answer.status_code == 200
    assert answer.json()["ArchivedAt"] is None
    assert "ExpectedPurgeDate" not in answer.json()  # as in Postmark's unarchive example
    assert api.get("/message-streams/billing").json()["ExpectedPurgeDate"] is None
    assert "billing" in ids(api.get("/message-streams"))


def test_unarchiving_a_stream_that_is_not_archived_is_refused_with_1232(api):
    assert_refused(api.post("/message-streams/outbound/unarchive"), 1232)


def test_an_archived_stream_lives_until_just_before_its_purge_date(api, sandbox):
    create(api)
    api.post("/message-streams/billing/archive")

    sandbox.advance_clock(days=44, hours=23)

    assert api.get("/message-streams/billing").json()["ArchivedAt"] is not None
    assert api.post("/message-streams/billing/unarchive").status_code == 200


def test_once_the_clock_passes_the_purge_date_the_stream_is_gone_for_good(api, sandbox):
    create(api)
    api.post("/message-streams/billing/archive")

    sandbox.advance_clock(days=45, seconds=1)

    assert_refused(api.get("/message-streams/billing"), 1226)
    assert_refused(api.post("/message-streams/billing/unarchive"), 1232)
    assert_refused(api.post("/message-streams/billing/archive"), 1226)
    assert "billing" not in ids(api.get("/message-streams?IncludeArchivedStreams=true"))


def test_a_purged_id_may_be_created_again_and_then_archived_and_restored(api, sandbox):
    create(api)
    api.post("/message-streams/billing/archive")
    sandbox.advance_clock(days=46)

    again = create(api, Name="Billing again")

    assert again.status_code == 200
    assert api.post("/message-streams/billing/archive").status_code == 200
    assert api.post("/message-streams/billing/unarchive").json()["Name"] == "Billing again"


def test_backdating_an_archive_brings_its_purge_date_sooner_and_is_kept_in_the_state_file(tmp_path):
    state_file = tmp_path / "state.json"
    first = Sandbox(state_file=state_file)
    first.add_server(TOKEN)
    with wsgi_client(first, TOKEN) as client:
        create(client)
        purge_date = moment(client.post("/message-streams/billing/archive").json()["ExpectedPurgeDate"])

        first.backdate_archive(TOKEN, "billing", days=40)

        assert moment(client.get("/message-streams/billing").json()["ExpectedPurgeDate"]) == (
            purge_date - timedelta(days=40)
        )
    with wsgi_client(Sandbox(state_file=state_file), TOKEN) as client:
        reloaded = client.get("/message-streams/billing").json()
    assert moment(reloaded["ExpectedPurgeDate"]) == purge_date - timedelta(days=40)
    assert moment(reloaded["ExpectedPurgeDate"]) - moment(reloaded["ArchivedAt"]) == timedelta(days=45)


def test_backdating_an_archive_past_its_purge_date_purges_the_stream(api, sandbox, sandbox_token):
    create(api)
    api.post("/message-streams/billing/archive")

    sandbox.backdate_archive(sandbox_token, "billing", days=45.5)

    assert_refused(api.post("/message-streams/billing/unarchive"), 1232)


@pytest.mark.parametrize(
    ("token", "stream_id", "days", "error"),
    [
        pytest.param(TOKEN, "billing", 1, LookupError, id="unknown-token"),
        pytest.param(None, "nowhere", 1, LookupError, id="unknown-stream"),
        pytest.param(None, "outbound", 1, LookupError, id="not-archived"),
        pytest.param(None, "billing", -1, ValueError, id="forward"),
    ],
)
def test_backdating_refuses_what_is_not_an_archived_stream_and_changes_nothing(
    api, sandbox, sandbox_token, token, stream_id, days, error
):
    create(api)
    archived = api.post("/message-streams/billing/archive").json()

    with pytest.raises(error):
        sandbox.backdate_archive(token or sandbox_token, stream_id, days=days)

    assert api.get("/message-streams/billing").json()["ExpectedPurgeDate"][:19] == archived["ExpectedPurgeDate"][:19]
    assert api.get("/message-streams/outbound").json()["ArchivedAt"] is None


def test_the_clock_control_path_moves_time_and_purges(api, sandbox):
    create(api)
    api.post("/message-streams/billing/archive")
    before = sandbox.now()

    answer = api.post("/_sandbox/clock", json={"advance_days": 45, "advance_hours": 1, "advance_seconds": 30})

    assert answer.status_code == 200
    assert answer.json()["OffsetSeconds"] == 45 * 86400 + 3600 + 30
    assert moment(answer.json()["Now"]) - before >= timedelta(days=45, hours=1, seconds=30)
    assert moment(api.get("/_sandbox/clock").json()["Now"]) >= moment(answer.json()["Now"])
    assert_refused(api.get("/message-streams/billing"), 1226)


@pytest.mark.parametrize(
    "body",
    [{"advance_days": -1}, {"advance_days": "1"}, {"advance_day": 1}, {"advance_hours": True}, [1]],
)
def test_the_clock_control_path_refuses_bad_input_with_400(sandbox_http, body):
    answer = sandbox_http.post("/_sandbox/clock", json=body)

    assert answer.status_code == 400
    assert answer.json()["Message"]
    assert sandbox_http.get("/_sandbox/clock").json()["OffsetSeconds"] == 0


def test_timestamps_are_us_eastern_time_with_their_offset(api, sandbox):
    created = create(api).json()["CreatedAt"]

    stamp = moment(created)
    assert stamp.utcoffset() == stamp.astimezone(EASTERN).utcoffset()
    assert created == stamp.astimezone(EASTERN).isoformat(timespec="seconds")


# --- Routing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/email", "/message-streams/billing/delete", "/servers/1/message-streams"]
)
def test_an_unknown_path_is_404_with_a_json_body(api, path):
    answer = api.get(path)

    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert path in answer.json()["Message"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/message-streams", "GET, POST"),
        ("PUT", "/message-streams/outbound", "GET, PATCH"),
        ("DELETE", "/message-streams/outbound", "GET, PATCH"),
        ("GET", "/message-streams/outbound/archive", "POST"),
        ("PATCH", "/message-streams/outbound/unarchive", "POST"),
    ],
)
def test_a_wrong_method_on_a_known_path_is_405(api, method, path, allowed):
    answer = api.request(method, path)

    assert answer.status_code == 405
    assert answer.headers["Allow"] == allowed
    assert method in answer.json()["Message"]


def test_paths_match_in_any_case_and_with_a_trailing_slash(api):
    assert api.get("/Message-Streams/").status_code == 200
    assert api.get("/message-streams/outbound/").json()["ID"] == "outbound"


# --- Postmark's answer shapes ------------------------------------------------------------------


def call_like_postmarks_example(api: httpx.Client, name: str) -> dict:
    create(api, ID="transactional-dev", Description="Second transactional stream")
    if name == "create":
        return create(api, ID="another").json()
    if name == "get":
        return api.get("/message-streams/broadcast").json()
    if name == "edit":
        return api.patch("/message-streams/transactional-dev", json={"Name": "Updated Dev Stream"}).json()
    if name == "list":
        api.post("/message-streams/broadcast/archive")
        return api.get("/message-streams?IncludeArchivedStreams=true").json()
    archived = api.post("/message-streams/transactional-dev/archive").json()
    return archived if name == "archive" else api.post("/message-streams/transactional-dev/unarchive").json()


@pytest.mark.parametrize("name", CALLS)
def test_each_answer_has_the_keys_of_postmarks_example_in_its_order(api, name):
    answer, postmarks = call_like_postmarks_example(api, name), example(name)

    assert list(answer) == list(postmarks)
    streams = answer["MessageStreams"] if name == "list" else [answer]
    examples = postmarks["MessageStreams"] if name == "list" else [postmarks]
    for stream in streams:
        assert list(stream) == list(examples[0])
        if "SubscriptionManagementConfiguration" in stream:
            assert list(stream["SubscriptionManagementConfiguration"]) == ["UnsubscribeHandlingType"]


# --- Faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "content_type", "error_code"),
    [
        (429, "application/json; charset=utf-8", 0),
        (500, "application/json; charset=utf-8", 101),
        (503, "application/json; charset=utf-8", 100),
        (502, "text/html; charset=utf-8", None),
    ],
)
def test_a_fault_status_answers_in_place_of_postmark(api, sandbox, status, content_type, error_code):
    sandbox.set_faults(status=status)

    answer = api.get("/message-streams")

    assert answer.status_code == status
    assert answer.headers["content-type"] == content_type
    if error_code is None:
        assert answer.text.startswith("<html>") and "502 Bad Gateway" in answer.text
    else:
        assert answer.json()["ErrorCode"] == error_code
        assert answer.json()["Message"]
        assert answer.headers.get("X-PM-ApiErrorCode") == (str(error_code) if error_code else None)


@pytest.mark.parametrize(
    ("status", "body", "check"),
    [
        (502, "json", lambda answer: answer.json()["Message"]),
        (503, "html", lambda answer: "503 Service Unavailable" in answer.text),
        (500, "empty", lambda answer: answer.content == b"" and "content-type" not in answer.headers),
        (429, "empty", lambda answer: answer.content == b""),
    ],
)
def test_a_fault_body_can_be_json_html_or_empty(sandbox_http, sandbox, status, body, check):
    sandbox_http.post("/_sandbox/faults", json={"status": status, "body": body})

    answer = sandbox_http.get("/message-streams/outbound")

    assert answer.status_code == status
    assert check(answer)


def test_a_fault_with_times_applies_to_that_many_requests_then_clears_itself(api, sandbox):
    sandbox.set_faults(status=503, times=2)

    statuses = [api.get("/message-streams").status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert api.get("/_sandbox/faults").json()["Active"] is False


def test_faults_last_until_cleared_and_never_touch_the_control_paths(api):
    assert api.post("/_sandbox/faults", json={"status": 500}).json()["Active"] is True

    assert [api.get("/message-streams").status_code for _ in range(3)] == [500, 500, 500]
    assert api.get("/_sandbox/clock").status_code == 200
    assert api.post("/_sandbox/faults", json={}).json()["Active"] is False
    assert api.get("/message-streams").status_code == 200


def test_latency_delays_the_answer_then_postmark_answers(api, sandbox):
    sandbox.set_faults(latency=1.0, times=1)

    started = time.monotonic()
    delayed = api.get("/message-streams")
    delayed_seconds = time.monotonic() - started

    assert delayed.status_code == 200
    assert delayed_seconds >= 1.0
    started = time.monotonic()
    api.get("/message-streams")
    # Wide margin: a loaded CI machine must not turn "not delayed" into a failure.
    assert time.monotonic() - started < 0.9


@pytest.mark.parametrize("faults", [{"hang": True}, {"latency": 30}], ids=["hang", "latency"])
def test_a_waiting_request_is_released_when_the_faults_are_cleared(api, sandbox, sandbox_token, faults):
    sandbox.set_faults(**faults)
    answers = []
    with wsgi_client(sandbox, sandbox_token) as other:
        waiting = threading.Thread(target=lambda: answers.append(other.get("/message-streams")))
        waiting.start()
        time.sleep(0.2)
        assert waiting.is_alive()

        assert api.delete("/_sandbox/faults").status_code == 200
        waiting.join(timeout=5)

    assert not waiting.is_alive()
    assert answers[0].status_code == 200


def test_a_hang_ends_by_itself_after_hang_seconds():
    sandbox = Sandbox(hang_seconds=0.2)
    sandbox.add_server(TOKEN)
    sandbox.set_faults(hang=True, status=503)

    started = time.monotonic()
    with wsgi_client(sandbox, TOKEN) as client:
        answer = client.get("/message-streams")

    assert 0.2 <= time.monotonic() - started < 2
    assert answer.status_code == 503


@pytest.mark.parametrize(
    "body",
    [
        {"status": 404},
        {"status": "503"},
        {"body": "html"},
        {"status": 502, "body": "xml"},
        {"latency": -1},
        {"latency": "slow"},
        {"times": 0},
        {"times": 1.5},
        {"hang": "yes"},
        {"explode": True},
    ],
)
def test_bad_fault_settings_are_refused_with_400_and_change_nothing(sandbox_http, body):
    answer = sandbox_http.post("/_sandbox/faults", json=body)

    assert answer.status_code == 400
    assert answer.json()["Message"]
    assert sandbox_http.get("/_sandbox/faults").json()["Active"] is False


# --- Servers and reset through the control paths -----------------------------------------------


def test_a_server_can_be_added_through_the_control_path(sandbox_http):
    body = {
        "token": OTHER_TOKEN, "name": "Demo", "custom_unsubscribe": True, "max_streams": 3, "legacy": True,
    }

    added = sandbox_http.post("/_sandbox/servers", json=body)
    again = sandbox_http.post("/_sandbox/servers", json={"token": OTHER_TOKEN})

    assert added.status_code == 201
    assert (again.status_code, again.json()) == (200, added.json())
    sandbox_http.headers[TOKEN_HEADER] = OTHER_TOKEN
    streams = sandbox_http.get("/message-streams").json()["MessageStreams"]
    assert {stream["ServerID"] for stream in streams} == {added.json()["ServerID"]}
    custom = {"MessageStreamType": "Broadcasts", "SubscriptionManagementConfiguration": handling("Custom")}
    assert create(sandbox_http, **custom).status_code == 200
    assert_refused(create(sandbox_http, ID="fourth"), 1225)  # two defaults, billing, then full


def test_posting_a_known_server_again_grants_or_takes_back_custom_unsubscribe_handling(sandbox_http):
    sandbox_http.post("/_sandbox/servers", json={"token": OTHER_TOKEN})
    sandbox_http.headers[TOKEN_HEADER] = OTHER_TOKEN
    custom = {"MessageStreamType": "Broadcasts", "SubscriptionManagementConfiguration": handling("Custom")}
    assert_refused(create(sandbox_http, **custom), 1238)

    granted = sandbox_http.post("/_sandbox/servers", json={"token": OTHER_TOKEN, "custom_unsubscribe": True})
    assert granted.status_code == 200
    assert create(sandbox_http, **custom).status_code == 200

    sandbox_http.post("/_sandbox/servers", json={"token": OTHER_TOKEN, "custom_unsubscribe": False})
    assert_refused(create(sandbox_http, ID="another", **custom), 1238)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"token": ""},
        {"token": 5},
        {"token": "t" * 20, "max_streams": 0},
        {"token": "t" * 20, "legacy": "no"},
        {"token": "t" * 20, "tokn": "typo"},
    ],
)
def test_bad_server_input_is_refused_with_400(sandbox_http, body):
    answer = sandbox_http.post("/_sandbox/servers", json=body)

    assert answer.status_code == 400
    assert answer.json()["Message"]


def test_reset_forgets_servers_faults_and_the_clock(api, sandbox):
    sandbox.advance_clock(days=3)
    sandbox.set_faults(latency=5)

    assert api.post("/_sandbox/reset").status_code == 200

    assert api.get("/_sandbox/faults").json()["Active"] is False
    assert api.get("/_sandbox/clock").json()["OffsetSeconds"] == 0
    assert_refused(api.get("/message-streams"), 10, status=401)


@pytest.mark.parametrize(
    ("method", "path", "status"), [("GET", "/_sandbox/nothing", 404), ("GET", "/_sandbox/reset", 405)]
)
def test_unknown_control_paths_and_methods_are_refused(sandbox_http, method, path, status):
    assert sandbox_http.request(method, path).status_code == status


# --- State file --------------------------------------------------------------------------------


def test_the_state_file_keeps_servers_streams_purged_ids_and_the_clock(tmp_path):
    state_file = tmp_path / "sandbox" / "state.json"
    first = Sandbox(state_file=state_file)
    first.add_server(TOKEN, custom_unsubscribe=True, max_streams=12)
    with wsgi_client(first, TOKEN) as client:
        create(client, ID="gone")
        client.post("/message-streams/gone/archive")
        first.advance_clock(days=46)
        create(client, ID="news", MessageStreamType="Broadcasts", Description="Weekly",
               SubscriptionManagementConfiguration=handling("Custom"))
        create(client, ID="later")
        client.post("/message-streams/later/archive")
        listed = client.get("/message-streams?IncludeArchivedStreams=true").json()
    first.set_faults(status=503)

    second = Sandbox(state_file=state_file)

    with wsgi_client(second, TOKEN) as client:
        assert client.get("/message-streams?IncludeArchivedStreams=true").json() == listed
        assert_refused(client.post("/message-streams/gone/unarchive"), 1232)
        assert create(client, ID="custom-too", MessageStreamType="Broadcasts",
                      SubscriptionManagementConfiguration=handling("Custom")).status_code == 200
    assert second.now() - datetime.now(EASTERN) > timedelta(days=45)
    assert [path.name for path in state_file.parent.iterdir()] == ["state.json"]
    assert TOKEN not in state_file.read_text()


def test_without_a_state_file_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Sandbox().add_server(TOKEN)

    assert list(tmp_path.iterdir()) == []


# --- The process-wide sandbox, threads and imports ---------------------------------------------


def test_install_replaces_the_process_wide_sandbox_and_returns_the_previous(sandbox):
    replacement = Sandbox()

    assert install(replacement) is sandbox
    assert current() is replacement
    assert install(sandbox) is replacement
    assert current() is sandbox


def test_current_creates_the_sandbox_lazily_with_the_configured_state_file(settings, tmp_path, sandbox):
    settings.POSTMARK_SANDBOX_STATE = str(tmp_path / "state.json")
    install(None)

    made = current()
    made.add_server(TOKEN)

    assert current() is made and made is not sandbox
    assert (tmp_path / "state.json").exists()


def test_concurrent_creates_of_one_id_succeed_exactly_once(sandbox, sandbox_token):
    start = threading.Barrier(8)
    statuses = []

    def create_billing():
        with wsgi_client(sandbox, sandbox_token) as client:
            start.wait(timeout=2)
            answer = create(client)
            statuses.append(answer.json().get("ErrorCode", answer.status_code))

    threads = [threading.Thread(target=create_billing) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)

    assert sorted(statuses) == [200] + [1230] * 7


def test_the_sandbox_imports_neither_httpx_nor_the_client():
    tree = ast.parse(Path(sandbox_module.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}

    assert not {name for name in imported if name.startswith("httpx") or "client" in name}
    assert imported <= {
        "__future__", "contextlib", "hashlib", "json", "os", "re", "tempfile", "threading", "time",
        "collections.abc", "dataclasses", "datetime", "http", "typing", "urllib.parse", "zoneinfo",
        "django.conf", "django.core.exceptions", "dashboard.postmark.sandbox_stats",
        "dashboard.postmark",  # its sibling sandbox_suppressions, at call time (see that module's own test)
    }

