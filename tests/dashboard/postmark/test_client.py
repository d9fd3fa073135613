"""The Postmark client against canned answers at the transport (httpx.MockTransport).

What Postmark sends is taken from its own examples in tests/postmark_examples and the "Tolerate"
list of docs/postmark-api.md; what we send is asserted byte for byte (path, query, JSON body, headers).
"""

import json
import logging
import traceback
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.views.debug import ExceptionReporter

from dashboard.postmark import client as client_module
from dashboard.postmark.client import (
    UNSET,
    USER_AGENT,
    ArchiveResult,
    ErrorCode,
    PostmarkClient,
    PostmarkError,
    PostmarkUnavailable,
    RateLimited,
    Stream,
    StreamNotFound,
    StreamType,
    TokenRejected,
    UnsafePathSegment,
    UnsubscribeHandling,
    ValidationRefused,
    close_pools,
)
from tests.postmark_examples import example

TOKEN = "5e2d41b7-token-that-must-never-show-93c1"
BASE_URL = "https://postmark.test"
EASTERN_SUMMER = timezone(timedelta(hours=-4))



def a_stream(**changes) -> dict:
    """Postmark's get example, with some fields replaced."""
    data = example("get")
    data.update(changes)
    return data


class FakePostmark:
    """Answers each request with the next canned answer (the last one repeats) and records it."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request)

    @property
    def last_body(self):
        return json.loads(self.requests[-1].content)


def reply(status: int, body=None, *, text: str | None = None, headers: dict | None = None):
    def answer(request):
        if text is not None:
            return httpx.Response(status, text=text, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return answer


def fail(error_class: type[httpx.HTTPError], message: str = "boom"):
    def answer(request):
        raise error_class(message, request=request)

    return answer


def postmark_error(code: int, message: str) -> dict:
    return {"ErrorCode": code, "Message": message}


def client_for(fake: FakePostmark, **options) -> PostmarkClient:
    options.setdefault("backoff", 0)
    return PostmarkClient(TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(fake), **options)


@pytest.fixture(autouse=True)
def no_pools_left_open():
    yield
    close_pools()


# --- Postmark's own examples -------------------------------------------------------------------


def test_the_documented_list_example_parses_into_four_streams_with_lowercase_none_handling():
    streams = client_for(FakePostmark(reply(200, example("list")))).list_streams()

    assert [stream.id for stream in streams] == ["broadcasts", "outbound", "inbound", "transactional-dev"]
    broadcasts, outbound, inbound, _ = streams
    assert broadcasts.is_archived
    assert broadcasts.archived_at == datetime(2020, 7, 3, tzinfo=EASTERN_SUMMER)
    assert broadcasts.expected_purge_date == datetime(2020, 8, 17, tzinfo=EASTERN_SUMMER)
    assert outbound.unsubscribe_handling is UnsubscribeHandling.NONE
    assert outbound.stream_type is StreamType.TRANSACTIONAL
    assert not outbound.is_archived
    assert inbound.stream_type is StreamType.INBOUND
    assert inbound.updated_at is None
    assert outbound.created_at.utcoffset() == timedelta(hours=-4)


def test_the_documented_get_example_parses_every_field():
    stream = client_for(FakePostmark(reply(200, example("get")))).get_stream("broadcasts")

    assert stream == Stream(
        id="broadcasts",
        server_id=123456,
        name="Broadcast Stream",
        description="This is my stream to send broadcast messages",
        stream_type=StreamType.BROADCASTS,
        unsubscribe_handling=UnsubscribeHandling.POSTMARK,
        created_at=datetime(2020, 7, 1, tzinfo=EASTERN_SUMMER),
        updated_at=datetime(2020, 7, 1, tzinfo=EASTERN_SUMMER),
        archived_at=None,
        expected_purge_date=None,
    )


def test_the_documented_create_example_keeps_its_non_null_archived_at():
    stream = client_for(FakePostmark(reply(200, example("create")))).create_stream(
        id="transactional-dev", name="My Dev Transactional Stream", stream_type=StreamType.TRANSACTIONAL
    )

    assert stream.archived_at == datetime(2020, 7, 2, tzinfo=EASTERN_SUMMER)
    assert stream.is_archived
    assert stream.description == "This is my second transactional stream"
    assert stream.unsubscribe_handling is UnsubscribeHandling.NONE


def test_the_documented_edit_example_parses_its_updated_at_and_lowercase_none():
    stream = client_for(FakePostmark(reply(200, example("edit")))).edit_stream(
        "transactional-dev", name="Updated Dev Stream"
    )

    assert stream.name == "Updated Dev Stream"
    assert stream.updated_at == datetime(2020, 7, 3, tzinfo=EASTERN_SUMMER)
    assert stream.unsubscribe_handling is UnsubscribeHandling.NONE
    assert stream.server_id == 123457


def test_the_documented_archive_example_gives_the_purge_date_with_its_offset():
    result = client_for(FakePostmark(reply(200, example("archive")))).archive_stream("transactional-dev")

    assert result == ArchiveResult(
        id="transactional-dev",
        server_id=123457,
        expected_purge_date=datetime(2020, 8, 30, 12, 30, tzinfo=EASTERN_SUMMER),
    )
    assert str(result.expected_purge_date.utcoffset()) == "-1 day, 20:00:00"


def test_the_documented_unarchive_example_without_expected_purge_date_is_a_live_stream():
    stream = client_for(FakePostmark(reply(200, example("unarchive")))).unarchive_stream("transactional-dev")

    assert stream.expected_purge_date is None
    assert stream.archived_at is None
    assert not stream.is_archived
    assert stream.updated_at == datetime(2020, 7, 4, tzinfo=EASTERN_SUMMER)


# --- Tolerate ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on_the_wire", "expected"),
    [
        ("None", UnsubscribeHandling.NONE),
        ("none", UnsubscribeHandling.NONE),
        ("NONE", UnsubscribeHandling.NONE),
        ("Postmark", UnsubscribeHandling.POSTMARK),
        ("postmark", UnsubscribeHandling.POSTMARK),
        ("custom", UnsubscribeHandling.CUSTOM),
    ],
)
def test_unsubscribe_handling_is_read_in_any_case(on_the_wire, expected):
    body = a_stream(SubscriptionManagementConfiguration={"UnsubscribeHandlingType": on_the_wire})

    stream = client_for(FakePostmark(reply(200, body))).get_stream("broadcasts")

    assert stream.unsubscribe_handling is expected


@pytest.mark.parametrize(
    ("stream_type", "expected"),
    [("Broadcasts", UnsubscribeHandling.POSTMARK), ("Transactional", UnsubscribeHandling.NONE)],
)
def test_a_stream_without_subscription_configuration_gets_its_types_default(stream_type, expected):
    body = a_stream(MessageStreamType=stream_type)
    del body["SubscriptionManagementConfiguration"]

    stream = client_for(FakePostmark(reply(200, body))).get_stream("broadcasts")

    assert stream.unsubscribe_handling is expected


def test_stream_types_and_handling_parse_case_insensitively_as_enums():
    assert StreamType("broadcasts") is StreamType.BROADCASTS
    assert StreamType("INBOUND") is StreamType.INBOUND
    assert UnsubscribeHandling("postmark") is UnsubscribeHandling.POSTMARK
    with pytest.raises(ValueError):
        StreamType("Marketing")


@pytest.mark.parametrize("server_id", [123457, "123457"])
def test_server_id_may_be_an_int_or_a_numeric_string(server_id):
    stream = client_for(FakePostmark(reply(200, a_stream(ServerID=server_id)))).get_stream("broadcasts")

    assert stream.server_id == 123457


@pytest.mark.parametrize(
    ("on_the_wire", "expected"),
    [
        ("2020-07-01T09:15:00-04:00", datetime(2020, 7, 1, 9, 15, tzinfo=EASTERN_SUMMER)),
        ("2020-07-01T09:15:00.00-04:00", datetime(2020, 7, 1, 9, 15, tzinfo=EASTERN_SUMMER)),
        (
            "2020-07-01T09:15:00.1234567-04:00",
            datetime(2020, 7, 1, 9, 15, 0, 123456, tzinfo=EASTERN_SUMMER),
        ),
        ("2020-07-01T09:15:00.5-04:00", datetime(2020, 7, 1, 9, 15, 0, 500000, tzinfo=EASTERN_SUMMER)),
        ("2020-12-01T09:15:00-05:00", datetime(2020, 12, 1, 9, 15, tzinfo=timezone(timedelta(hours=-5)))),
        ("2020-07-01T13:15:00Z", datetime(2020, 7, 1, 13, 15, tzinfo=UTC)),
        ("2020-07-01T15:15:00+02:00", datetime(2020, 7, 1, 15, 15, tzinfo=timezone(timedelta(hours=2)))),
    ],
)
def test_timestamps_keep_their_offset_whatever_the_precision(on_the_wire, expected):
    stream = client_for(FakePostmark(reply(200, a_stream(CreatedAt=on_the_wire)))).get_stream("x")

    assert stream.created_at == expected
    assert stream.created_at.utcoffset() == expected.utcoffset()


def test_a_timestamp_without_offset_is_taken_as_postmarks_eastern_time():
    body = a_stream(CreatedAt="2020-07-01T09:15:00", UpdatedAt="2020-12-01T09:15:00.25")

    stream = client_for(FakePostmark(reply(200, body))).get_stream("broadcasts")

    assert stream.created_at.tzinfo == ZoneInfo("America/New_York")
    assert stream.created_at.utcoffset() == timedelta(hours=-4)
    assert stream.updated_at.utcoffset() == timedelta(hours=-5)
    assert stream.updated_at.microsecond == 250000


def test_a_null_description_is_none():
    stream = client_for(FakePostmark(reply(200, a_stream(Description=None)))).get_stream("broadcasts")

    assert stream.description is None


def test_unknown_extra_fields_are_ignored_everywhere():
    stream = a_stream(Color="teal", SubscriptionManagementConfiguration={
        "UnsubscribeHandlingType": "Custom", "CustomUnsubscribeUrl": "https://example.com/u",
    })
    listing = {"MessageStreams": [stream], "TotalCount": 1, "NextPage": None}
    archived = {**example("archive"), "ArchivedAt": "2020-07-16T12:30:00-04:00", "Extra": [1]}
    fake = FakePostmark(reply(200, listing), reply(200, stream), reply(200, archived))
    client = client_for(fake)

    assert client.list_streams()[0].unsubscribe_handling is UnsubscribeHandling.CUSTOM
    assert client.get_stream("broadcasts").id == "broadcasts"
    assert client.archive_stream("transactional-dev").id == "transactional-dev"


# --- Refusals and failures ---------------------------------------------------------------------

HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
REFUSALS = [
    pytest.param(reply(401, postmark_error(10, "Request does not contain a valid Server token.")),
                 TokenRejected, 401, ErrorCode.INVALID_SERVER_TOKEN, id="401-code-10"),
    pytest.param(reply(401, text=""), TokenRejected, 401, None, id="401-empty"),
    pytest.param(reply(422, postmark_error(10, "Bad or missing server token.")),
                 TokenRejected, 422, 10, id="code-10-on-422"),
    pytest.param(reply(422, postmark_error(1226, "The message stream for the provided 'ID' was not found.")),
                 StreamNotFound, 422, ErrorCode.STREAM_NOT_FOUND, id="422-1226"),
    pytest.param(reply(404, text=""), StreamNotFound, 404, None, id="404-empty"),
    pytest.param(reply(404, text="<html>Not Found</html>"), StreamNotFound, 404, None, id="404-html"),
    pytest.param(reply(422, postmark_error(1230, "The 'ID' provided already exists for this server.")),
                 ValidationRefused, 422, ErrorCode.ID_ALREADY_EXISTS, id="422-1230"),
    pytest.param(reply(422, {"ErrorCode": "1225", "Message": "You have reached the maximum."}),
                 ValidationRefused, 422, ErrorCode.STREAM_LIMIT_REACHED, id="422-code-as-string"),
    pytest.param(reply(422, text="", headers={"X-PM-ApiErrorCode": "1232"}),
                 ValidationRefused, 422, ErrorCode.CANNOT_UNARCHIVE, id="422-code-in-header-only"),
    pytest.param(reply(400, postmark_error(402, "Received invalid JSON input.")),
                 ValidationRefused, 400, ErrorCode.INVALID_JSON, id="400-postmark-json"),
    pytest.param(reply(422, postmark_error(9999, "Something new.")),
                 ValidationRefused, 422, 9999, id="422-unknown-code"),
    pytest.param(reply(422, text="Unprocessable"), PostmarkUnavailable, 422, None, id="422-not-json"),
    pytest.param(reply(429, text=""), RateLimited, 429, None, id="429"),
    pytest.param(reply(500, postmark_error(101, "An internal error occurred.")),
                 PostmarkUnavailable, 500, ErrorCode.POSTMARK_FAILURE, id="500-101"),
    pytest.param(reply(500, text=""), PostmarkUnavailable, 500, None, id="500-empty"),
    pytest.param(reply(503, postmark_error(100, "Postmark is in maintenance.")),
                 PostmarkUnavailable, 503, ErrorCode.MAINTENANCE, id="503-maintenance"),
    pytest.param(reply(502, text=HTML_502, headers={"Content-Type": "text/html"}),
                 PostmarkUnavailable, 502, None, id="502-html"),
    pytest.param(reply(302, text="", headers={"Location": "https://example.com/"}),
                 PostmarkUnavailable, 302, None, id="302-redirect"),
    pytest.param(reply(200, text="<html>login</html>"), PostmarkUnavailable, 200, None, id="200-html"),
    pytest.param(reply(200, text=""), PostmarkUnavailable, 200, None, id="200-empty"),
    pytest.param(reply(200, [1, 2]), PostmarkUnavailable, 200, None, id="200-array"),
    pytest.param(reply(200, a_stream(MessageStreamType="Marketing")),
                 PostmarkUnavailable, 200, None, id="200-unknown-type"),
    pytest.param(reply(200, a_stream(CreatedAt="yesterday")),
                 PostmarkUnavailable, 200, None, id="200-bad-date"),
    pytest.param(reply(200, a_stream(CreatedAt=None)), PostmarkUnavailable, 200, None, id="200-no-created"),
    pytest.param(reply(200, a_stream(ServerID="abc")), PostmarkUnavailable, 200, None, id="200-bad-server"),
]


@pytest.mark.parametrize(("answer", "error_class", "status", "error_code"), REFUSALS)
def test_each_answer_maps_to_the_error_a_view_can_act_on(answer, error_class, status, error_code):
    with pytest.raises(error_class) as caught:
        client_for(FakePostmark(answer)).get_stream("billing")

    assert type(caught.value) is error_class
    assert caught.value.status == status
    assert caught.value.error_code == error_code
    if error_code is not None:
        assert type(caught.value.error_code) is (ErrorCode if error_code in set(ErrorCode) else int)
    assert caught.value.message


def test_a_validation_refusal_carries_postmarks_code_and_message():
    message = "The 'Name' is too long (100 characters)."
    fake = FakePostmark(reply(422, postmark_error(1224, message)))

    with pytest.raises(ValidationRefused) as caught:
        client_for(fake).create_stream(id="billing", name="x" * 101, stream_type="Transactional")

    assert caught.value.error_code is ErrorCode.NAME_TOO_LONG
    assert caught.value.message == message
    assert str(caught.value) == f"{message} (HTTP 422, ErrorCode 1224)"


@pytest.mark.parametrize("call", ["archive_stream", "unarchive_stream", "get_stream"])
def test_a_404_on_a_streams_path_is_stream_not_found(call):
    with pytest.raises(StreamNotFound):
        getattr(client_for(FakePostmark(reply(404, text="Not Found"))), call)("gone")


def test_a_404_on_the_list_path_means_a_wrong_base_url_not_a_missing_stream():
    with pytest.raises(PostmarkUnavailable) as caught:
        client_for(FakePostmark(reply(404, text="Not Found"))).list_streams()

    assert caught.value.status == 404


def test_a_list_without_message_streams_is_unavailable_not_empty():
    with pytest.raises(PostmarkUnavailable):
        client_for(FakePostmark(reply(200, {"TotalCount": 0}))).list_streams()


def test_an_archive_answer_without_purge_date_is_unavailable():
    with pytest.raises(PostmarkUnavailable):
        client_for(FakePostmark(reply(200, {"ID": "x", "ServerID": 1}))).archive_stream("x")


@pytest.mark.parametrize(
    "error_class",
    [
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.ReadTimeout,
        httpx.WriteTimeout,
        httpx.PoolTimeout,
        httpx.ReadError,
        httpx.RemoteProtocolError,
    ],
)
def test_timeouts_and_connection_failures_are_postmark_unavailable(error_class):
    with pytest.raises(PostmarkUnavailable) as caught:
        client_for(FakePostmark(fail(error_class, "the wire went quiet"))).get_stream("billing")

    assert caught.value.status is None
    assert caught.value.error_code is None
    assert error_class.__name__ in caught.value.message
    assert "the wire went quiet" in caught.value.message


def test_a_read_timeout_says_how_long_we_waited():
    fake = FakePostmark(fail(httpx.ReadTimeout, "timed out"))

    with pytest.raises(PostmarkUnavailable) as caught:
        client_for(fake, read_timeout=2.5).list_streams()

    assert caught.value.message.startswith("Postmark did not answer within 2.5 s")


def test_the_error_classes_form_one_hierarchy():
    for error_class in (TokenRejected, ValidationRefused, StreamNotFound, RateLimited, PostmarkUnavailable):
        assert issubclass(error_class, PostmarkError)


def test_the_error_code_enum_names_every_code_of_the_contract():
    expected = {10, 100, 101, 402, *range(1221, 1235), 1237, 1238, 1239, 1241}
    expected |= {1000, 1001, 1003, *range(1404, 1412)}  # docs/postmark-suppressions-api.md
    expected |= {614, 900, 1500, 1502}  # docs/postmark-stats-api.md

    assert {int(code) for code in ErrorCode} == expected
    assert ErrorCode(1226).name == "STREAM_NOT_FOUND"


# --- What we send ------------------------------------------------------------------------------


def test_listing_sends_the_documented_defaults_and_read_only_headers():
    fake = FakePostmark(reply(200, example("list")))

    client_for(fake).list_streams()

    request = fake.requests[0]
    assert request.method == "GET"
    query = "MessageStreamType=All&IncludeArchivedStreams=false"
    assert str(request.url) == f"{BASE_URL}/message-streams?{query}"
    assert request.headers["X-Postmark-Server-Token"] == TOKEN
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"] == USER_AGENT
    assert "postmark-streams-dashboard" in USER_AGENT
    assert "Content-Type" not in request.headers
    assert request.content == b""


@pytest.mark.parametrize(
    ("options", "query"),
    [
        ({"stream_type": StreamType.BROADCASTS}, "MessageStreamType=Broadcasts&IncludeArchivedStreams=false"),
        ({"stream_type": "inbound"}, "MessageStreamType=Inbound&IncludeArchivedStreams=false"),
        ({"stream_type": "all"}, "MessageStreamType=All&IncludeArchivedStreams=false"),
        ({"include_archived": True}, "MessageStreamType=All&IncludeArchivedStreams=true"),
        (
            {"stream_type": "Transactional", "include_archived": True},
            "MessageStreamType=Transactional&IncludeArchivedStreams=true",
        ),
    ],
)
def test_listing_sends_the_filters_exactly_as_documented(options, query):
    fake = FakePostmark(reply(200, {"MessageStreams": [], "TotalCount": 0}))

    assert client_for(fake).list_streams(**options) == []

    assert fake.requests[0].url.query.decode() == query


STREAM_CALLS = {
    "get": lambda client, stream_id: client.get_stream(stream_id),
    "edit": lambda client, stream_id: client.edit_stream(stream_id, name="Billing"),
    "archive": lambda client, stream_id: client.archive_stream(stream_id),
    "unarchive": lambda client, stream_id: client.unarchive_stream(stream_id),
}
OTHER_CHARACTER = "holds a character other than letters, digits, '-', '_', '.' and '~'."
UNSAFE_SEGMENTS = {
    "..": "is '..', which would take the request to another endpoint.",
    ".": "is '.', which would take the request to another endpoint.",
    "": "is empty.",
    "../archive": OTHER_CHARACTER,
    "billing/..": OTHER_CHARACTER,
    "%2E%2E": OTHER_CHARACTER,
    "odd id": OTHER_CHARACTER,
    "x?y": OTHER_CHARACTER,
    "x#y": OTHER_CHARACTER,
    "zürich": OTHER_CHARACTER,
}


@pytest.mark.parametrize("call", STREAM_CALLS, ids=list(STREAM_CALLS))
@pytest.mark.parametrize(("stream_id", "why"), UNSAFE_SEGMENTS.items(), ids=list(UNSAFE_SEGMENTS))
def test_a_stream_id_that_is_not_a_plain_path_segment_is_refused_before_anything_is_sent(call, stream_id, why):
    fake = FakePostmark(reply(200, example("get")))

    with pytest.raises(UnsafePathSegment) as refused:
        STREAM_CALLS[call](client_for(fake), stream_id)

    assert str(refused.value) == f"Nothing was sent to Postmark: segment 2 of the path {why}"
    assert fake.requests == []


@pytest.mark.parametrize(("call", "path"), [
    ("get", b"/message-streams/Legacy.Stream~2_b-1"),
    ("edit", b"/message-streams/Legacy.Stream~2_b-1"),
    ("archive", b"/message-streams/Legacy.Stream~2_b-1/archive"),
    ("unarchive", b"/message-streams/Legacy.Stream~2_b-1/unarchive"),
])
def test_a_plain_stream_id_goes_into_the_path_as_it_is(call, path):
    fake = FakePostmark(reply(200, {**example("get"), "ExpectedPurgeDate": "2020-08-30T12:00:00.000-04:00"}))

    STREAM_CALLS[call](client_for(fake), "Legacy.Stream~2_b-1")

    assert fake.requests[0].url.raw_path == path


@pytest.mark.parametrize(
    ("options", "body"),
    [
        (
            {"id": "billing", "name": "Billing", "stream_type": StreamType.TRANSACTIONAL},
            {"ID": "billing", "Name": "Billing", "MessageStreamType": "Transactional"},
        ),
        (
            {
                "id": "news",
                "name": "News",
                "stream_type": "broadcasts",
                "description": "Monthly letter",
                "unsubscribe_handling": "custom",
            },
            {
                "ID": "news",
                "Name": "News",
                "MessageStreamType": "Broadcasts",
                "Description": "Monthly letter",
                "SubscriptionManagementConfiguration": {"UnsubscribeHandlingType": "Custom"},
            },
        ),
        (
            {
                "id": "x",
                "name": "X",
                "stream_type": "Marketing",
                "unsubscribe_handling": UnsubscribeHandling.NONE,
            },
            {
                "ID": "x",
                "Name": "X",
                "MessageStreamType": "Marketing",
                "SubscriptionManagementConfiguration": {"UnsubscribeHandlingType": "None"},
            },
        ),
    ],
    ids=["minimal", "everything-normalised", "unknown-type-left-for-postmark-to-judge"],
)
def test_creating_posts_exactly_the_fields_given(options, body):
    fake = FakePostmark(reply(200, example("create")))

    client_for(fake).create_stream(**options)

    request = fake.requests[0]
    assert (request.method, request.url.path) == ("POST", "/message-streams")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Postmark-Server-Token"] == TOKEN
    assert fake.last_body == body


@pytest.mark.parametrize(
    ("options", "body"),
    [
        ({"name": "Renamed"}, {"Name": "Renamed"}),
        ({"description": "New words"}, {"Description": "New words"}),
        ({"description": None}, {"Description": None}),
        (
            {"unsubscribe_handling": UnsubscribeHandling.CUSTOM},
            {"SubscriptionManagementConfiguration": {"UnsubscribeHandlingType": "Custom"}},
        ),
        (
            {"name": "N", "description": None, "unsubscribe_handling": "postmark"},
            {
                "Name": "N",
                "Description": None,
                "SubscriptionManagementConfiguration": {"UnsubscribeHandlingType": "Postmark"},
            },
        ),
    ],
)
def test_editing_patches_only_the_fields_given(options, body):
    fake = FakePostmark(reply(200, example("edit")))

    client_for(fake).edit_stream("transactional-dev", **options)

    request = fake.requests[0]
    assert (request.method, request.url.path) == ("PATCH", "/message-streams/transactional-dev")
    assert request.headers["Content-Type"] == "application/json"
    assert fake.last_body == body


def test_editing_nothing_is_refused_before_any_request():
    fake = FakePostmark(reply(200, example("edit")))

    with pytest.raises(ValueError):
        client_for(fake).edit_stream("transactional-dev", name=UNSET)

    assert fake.requests == []


@pytest.mark.parametrize(
    ("call", "answer", "path"),
    [
        ("archive_stream", "archive", "/message-streams/transactional-dev/archive"),
        ("unarchive_stream", "unarchive", "/message-streams/transactional-dev/unarchive"),
    ],
)
def test_archiving_and_restoring_post_an_empty_object(call, answer, path):
    fake = FakePostmark(reply(200, example(answer)))

    getattr(client_for(fake), call)("transactional-dev")

    request = fake.requests[0]
    assert (request.method, request.url.path) == ("POST", path)
    assert request.headers["Content-Type"] == "application/json"
    assert fake.last_body == {}


def test_the_base_url_and_timeouts_come_from_settings_when_not_given(settings):
    settings.POSTMARK_API_URL = "https://postmark.example/"
    settings.POSTMARK_CONNECT_TIMEOUT = 1.5
    settings.POSTMARK_READ_TIMEOUT = 4
    fake = FakePostmark(reply(200, example("get")))

    PostmarkClient(TOKEN, transport=httpx.MockTransport(fake)).get_stream("broadcasts")

    request = fake.requests[0]
    assert str(request.url) == "https://postmark.example/message-streams/broadcasts"
    assert request.extensions["timeout"] == {"connect": 1.5, "read": 4.0, "write": 4.0, "pool": 1.5}


def test_timeouts_default_to_three_and_ten_seconds_when_settings_lack_them(settings):
    del settings.POSTMARK_CONNECT_TIMEOUT
    del settings.POSTMARK_READ_TIMEOUT
    fake = FakePostmark(reply(200, example("get")))

    client_for(fake).get_stream("broadcasts")

    expected = {"connect": 3.0, "read": 10.0, "write": 10.0, "pool": 3.0}
    assert fake.requests[0].extensions["timeout"] == expected


def test_constructor_timeouts_override_settings():
    fake = FakePostmark(reply(200, example("get")))

    client_for(fake, connect_timeout=0.5, read_timeout=0.25).get_stream("broadcasts")

    expected = {"connect": 0.5, "read": 0.25, "write": 0.25, "pool": 0.5}
    assert fake.requests[0].extensions["timeout"] == expected


def test_clients_of_different_servers_share_one_pool_that_holds_no_token(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    PostmarkClient(TOKEN, base_url="https://pool.test")
    PostmarkClient("another-server-token-0000", base_url="https://pool.test")

    pool = client_module._pool("https://pool.test")

    assert client_module._pool("https://pool.test") is pool
    assert client_module._pool("https://other.test") is not pool
    assert "X-Postmark-Server-Token" not in pool.client.headers
    assert pool.client.timeout == httpx.Timeout(connect=3.0, read=10.0, write=10.0, pool=3.0)
    assert isinstance(pool.direct, httpx.HTTPTransport)  # no proxy named: requests go straight to the transport
    close_pools()
    assert pool.client.is_closed
    assert client_module._pool("https://pool.test") is not pool


def test_a_proxy_named_by_the_environment_is_applied_by_httpx_client(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")

    pool = client_module._pool("https://pool.test")

    assert pool.direct is None  # the client sends, through the proxy its environment names
    request = pool.request("GET", "https://pool.test/message-streams", None, None, {"Accept": "application/json"},
                           httpx.Timeout(1.0))
    assert request.headers["Accept-Encoding"] == "gzip, deflate"


def the_shared_pool_on(monkeypatch, transport: httpx.MockTransport, *, direct: bool) -> None:
    """Put a pool over `transport` where the shared one for BASE_URL would be: sent straight or by the client."""
    pool = client_module._Pool.over(transport, straight=direct)
    monkeypatch.setitem(client_module._POOLS, BASE_URL, pool)


@pytest.mark.parametrize("direct", [True, False], ids=["sent-straight", "sent-by-httpx-client"])
def test_a_cookie_in_one_servers_answer_never_goes_out_with_another_servers_request(monkeypatch, direct):
    answers = FakePostmark(
        reply(200, {"TotalCount": 0, "MessageStreams": []}, headers={"Set-Cookie": "balancer=acme-node-3; Path=/"}),
        reply(200, {"TotalCount": 0, "MessageStreams": []}),
    )
    the_shared_pool_on(monkeypatch, httpx.MockTransport(answers), direct=direct)

    PostmarkClient(TOKEN, base_url=BASE_URL).list_streams()
    PostmarkClient("globex-server-token-0000", base_url=BASE_URL).list_streams()

    assert [request.headers.get("Cookie") for request in answers.requests] == [None, None]


@pytest.mark.parametrize("direct", [True, False], ids=["sent-straight", "sent-by-httpx-client"])
def test_both_ways_of_sending_put_the_same_request_on_the_wire(monkeypatch, direct):
    answers = FakePostmark(reply(200, {"TotalCount": 0, "MessageStreams": []}))
    the_shared_pool_on(monkeypatch, httpx.MockTransport(answers), direct=direct)

    PostmarkClient(TOKEN, base_url=BASE_URL, read_timeout=4).list_streams(include_archived=True)

    (request,) = answers.requests
    assert str(request.url) == f"{BASE_URL}/message-streams?MessageStreamType=All&IncludeArchivedStreams=true"
    assert dict(request.headers) == {
        "host": "postmark.test",
        "accept": "application/json",
        "accept-encoding": "gzip, deflate",
        "connection": "keep-alive",
        "user-agent": USER_AGENT,
        "x-postmark-server-token": TOKEN,
    }
    assert request.extensions["timeout"] == {"connect": 3.0, "read": 4.0, "write": 4.0, "pool": 3.0}


def test_a_body_that_breaks_off_is_a_failure_and_its_connection_is_closed(monkeypatch):
    closed = []

    class BrokenBody(httpx.SyncByteStream):
        def __iter__(self):
            yield b'{"TotalCount": 0, '
            raise httpx.ReadTimeout("the body stopped coming")

        def close(self):
            closed.append(True)

    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=BrokenBody()))
    the_shared_pool_on(monkeypatch, transport, direct=True)

    with pytest.raises(PostmarkUnavailable, match="did not answer within"):
        PostmarkClient(TOKEN, base_url=BASE_URL, retries=0).list_streams()
    assert closed == [True]


# --- Retries -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "first_answers",
    [
        [reply(429, text="")],
        [reply(503, text="")],
        [reply(500, postmark_error(101, "Oops")), reply(502, text=HTML_502)],
        [fail(httpx.ConnectError)],
        [fail(httpx.ConnectTimeout), fail(httpx.RemoteProtocolError)],
        [fail(httpx.PoolTimeout)],
    ],
    ids=["429", "503", "500-then-502", "connect-error", "connect-timeout-then-disconnect", "pool-timeout"],
)
def test_a_get_is_retried_on_transient_failures_until_it_succeeds(first_answers):
    fake = FakePostmark(*first_answers, reply(200, example("get")))

    stream = client_for(fake).get_stream("broadcasts")

    assert stream.id == "broadcasts"
    assert len(fake.requests) == len(first_answers) + 1


@pytest.mark.parametrize(
    ("answer", "error_class"),
    [
        (reply(503, text=""), PostmarkUnavailable),
        (reply(429, text=""), RateLimited),
        (fail(httpx.ConnectError), PostmarkUnavailable),
    ],
)
def test_a_get_gives_up_after_two_retries(answer, error_class):
    fake = FakePostmark(answer)

    with pytest.raises(error_class):
        client_for(fake).list_streams()

    assert len(fake.requests) == 3


@pytest.mark.parametrize(
    ("status", "error_class"), [(429, RateLimited), (503, PostmarkUnavailable)], ids=["429", "503"]
)
@pytest.mark.parametrize("retry_failure", [httpx.ReadTimeout, httpx.ConnectError])
def test_a_retry_that_gets_no_answer_leaves_postmarks_last_answer_standing(status, error_class, retry_failure):
    fake = FakePostmark(reply(status, text=""), fail(retry_failure), reply(200, example("get")))

    with pytest.raises(error_class) as raised:
        client_for(fake).get_stream("broadcasts")

    assert raised.value.status == status
    assert len(fake.requests) == 2  # the failed retry is the last: Postmark's answer before it is what we say


def test_a_client_with_no_retries_tries_once():
    fake = FakePostmark(reply(503, text=""), reply(200, example("get")))

    with pytest.raises(PostmarkUnavailable):
        client_for(fake, retries=0).get_stream("broadcasts")

    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [reply(422, postmark_error(1226, "Not found.")), reply(401, text=""), fail(httpx.ReadTimeout)],
    ids=["refusal", "token", "read-timeout"],
)
def test_a_get_is_not_retried_on_a_refusal_or_a_read_timeout(answer):
    fake = FakePostmark(answer, reply(200, example("get")))

    with pytest.raises(PostmarkError):
        client_for(fake).get_stream("broadcasts")

    assert len(fake.requests) == 1


WRITES = [
    pytest.param(
        lambda client: client.create_stream(id="b", name="B", stream_type="Transactional"), id="create"
    ),
    pytest.param(lambda client: client.edit_stream("b", name="B"), id="edit"),
    pytest.param(lambda client: client.archive_stream("b"), id="archive"),
    pytest.param(lambda client: client.unarchive_stream("b"), id="unarchive"),
]


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize(
    "answer",
    [reply(503, text=""), reply(429, text=""), fail(httpx.ConnectError), fail(httpx.RemoteProtocolError)],
    ids=["503", "429", "connect-error", "disconnect"],
)
def test_a_write_is_never_retried(write, answer):
    fake = FakePostmark(answer, reply(200, example("create")))

    with pytest.raises(PostmarkError):
        write(client_for(fake, retries=5))

    assert len(fake.requests) == 1


def test_retries_back_off_exponentially_with_a_little_jitter(monkeypatch):
    pauses = []
    monkeypatch.setattr(client_module.time, "sleep", pauses.append)
    fake = FakePostmark(reply(503, text=""), reply(503, text=""), reply(200, example("get")))

    client_for(fake, backoff=0.25).get_stream("broadcasts")

    assert len(pauses) == 2
    assert 0.25 <= pauses[0] <= 0.25 * 1.25
    assert 0.5 <= pauses[1] <= 0.5 * 1.25


# --- Logging and secrecy -----------------------------------------------------------------------


def test_each_call_logs_one_info_line_with_method_path_status_attempts_and_time(caplog):
    caplog.set_level(logging.INFO, logger="dashboard.postmark")
    fake = FakePostmark(reply(503, text=""), reply(200, example("get")))

    client_for(fake).get_stream("broadcasts")

    lines = [record for record in caplog.records if record.name == "dashboard.postmark"]
    assert len(lines) == 1
    assert lines[0].levelno == logging.INFO
    assert lines[0].getMessage().startswith("Postmark GET /message-streams/broadcasts -> 200, 2 attempt(s), ")
    assert lines[0].getMessage().endswith(" ms")


def test_the_log_line_shows_the_path_the_request_carried_not_the_one_we_built(caplog):
    caplog.set_level(logging.INFO, logger="dashboard.postmark")
    fake = FakePostmark(reply(200, {"ID": "b", "ServerID": 1, "ExpectedPurgeDate": "2020-08-30T12:00:00-04:00"}))

    client = PostmarkClient(TOKEN, base_url="https://postmark.test/edge/../v1", transport=httpx.MockTransport(fake))

    client.archive_stream("b")

    assert fake.requests[0].url.raw_path == b"/v1/message-streams/b/archive"
    assert "Postmark POST /v1/message-streams/b/archive -> 200, 1 attempt(s)" in caplog.text


def test_a_call_that_never_got_an_answer_logs_the_failure_class(caplog):
    caplog.set_level(logging.INFO, logger="dashboard.postmark")

    with pytest.raises(PostmarkUnavailable):
        client_for(FakePostmark(fail(httpx.ReadTimeout))).archive_stream("b")

    assert "Postmark POST /message-streams/b/archive -> ReadTimeout, 1 attempt(s)" in caplog.text


ECHOED = f"Token {TOKEN} is not a server token."
LEAKY_FAILURES = [
    pytest.param(reply(401, postmark_error(10, ECHOED)), TokenRejected, id="401"),
    pytest.param(reply(422, postmark_error(1230, ECHOED)), ValidationRefused, id="422"),
    pytest.param(reply(422, postmark_error(1226, ECHOED)), StreamNotFound, id="1226"),
    pytest.param(reply(404, text=ECHOED), StreamNotFound, id="404"),
    pytest.param(reply(429, postmark_error(0, ECHOED)), RateLimited, id="429"),
    pytest.param(reply(503, postmark_error(100, ECHOED)), PostmarkUnavailable, id="503"),
    pytest.param(reply(502, text=HTML_502 + ECHOED), PostmarkUnavailable, id="502"),
    pytest.param(reply(200, {"MessageStreamType": ECHOED}), PostmarkUnavailable, id="200-garbage"),
    pytest.param(fail(httpx.ConnectError, ECHOED), PostmarkUnavailable, id="connect"),
    pytest.param(fail(httpx.ReadTimeout, ECHOED), PostmarkUnavailable, id="read-timeout"),
]


def raised_by(answer) -> PostmarkError:
    """The error a call raises when Postmark (or the wire) echoes the token back at us."""
    with pytest.raises(PostmarkError) as caught:
        client_for(FakePostmark(answer)).get_stream("broadcasts")
    return caught.value


@pytest.mark.parametrize(("answer", "error_class"), LEAKY_FAILURES)
def test_the_token_is_absent_from_every_errors_text_and_traceback(answer, error_class):
    error = raised_by(answer)
    text = "".join(traceback.format_exception(error))

    assert type(error) is error_class
    assert TOKEN not in str(error)
    assert TOKEN not in repr(error)
    assert TOKEN not in error.message
    assert TOKEN not in text
    assert "X-Postmark-Server-Token" not in text
    assert error.__cause__ is None
    assert "During handling of the above exception" not in text


def test_a_postmark_message_that_echoes_the_token_is_kept_with_the_token_masked():
    error = raised_by(reply(422, postmark_error(1230, ECHOED)))

    assert error.message == "Token •••• is not a server token."


@pytest.mark.parametrize(
    "answer",
    [reply(401, postmark_error(10, ECHOED)), fail(httpx.ConnectError, ECHOED)],
    ids=["refusal", "transport-failure"],
)
def test_djangos_error_report_shows_no_token(answer, rf):
    error = raised_by(answer)
    report = ExceptionReporter(rf.get("/"), type(error), error, error.__traceback__)

    assert TOKEN not in report.get_traceback_text()
    assert TOKEN not in report.get_traceback_html()


def test_the_token_is_absent_from_every_log_line_including_httpx_debug(caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "dashboard.postmark"):
        caplog.set_level(logging.DEBUG, logger=name)
    fake = FakePostmark(reply(200, example("get")))
    the_shared_pool_on(monkeypatch, httpx.MockTransport(fake), direct=False)  # httpx.Client logs what it sends

    PostmarkClient(TOKEN, base_url=BASE_URL).get_stream("broadcasts")
    client_for(fake).get_stream("broadcasts")  # sent straight to the transport
    for answer, _ in (failure.values for failure in LEAKY_FAILURES):
        raised_by(answer)

    assert any(record.name == "httpx" for record in caplog.records)
    assert any(record.name == "dashboard.postmark" for record in caplog.records)
    assert TOKEN not in caplog.text
    assert all(TOKEN not in record.getMessage() for record in caplog.records)


def test_the_clients_repr_shows_the_base_url_and_only_the_tokens_last_four_characters():
    client = client_for(FakePostmark(reply(200, example("get"))))

    assert repr(client) == f"PostmarkClient(base_url='{BASE_URL}', token=••••93c1)"
    assert TOKEN not in str(client)


def test_a_short_tokens_repr_shows_none_of_it():
    client = PostmarkClient("abc123", base_url=BASE_URL)

    assert repr(client) == f"PostmarkClient(base_url='{BASE_URL}', token=••••)"


@pytest.mark.parametrize("bad_token", ["", "   ", None])
def test_a_missing_token_is_refused(bad_token):
    with pytest.raises(ValueError):
        PostmarkClient(bad_token, base_url=BASE_URL)


@pytest.mark.parametrize("bad_token", ["token\r\nX-Injected: 1", "jeton-clé-secret-4242"])
def test_an_unusable_token_is_refused_without_being_echoed(bad_token):
    with pytest.raises(ValueError) as caught:
        PostmarkClient(bad_token, base_url=BASE_URL)

    assert "4242" not in str(caught.value)
    assert "Injected" not in str(caught.value)
