"""The client driven in-process against the sandbox, one test (or table row) per rule of the contract.

Requests go through the real pooled client for SANDBOX_URL: the in-process transport, the worker
thread and its read timeout, the retry policy, and the parsing of the sandbox's answers.
"""

import logging
import time
from datetime import timedelta

import pytest

from dashboard.postmark.client import (
    SANDBOX_URL,
    ErrorCode,
    PostmarkClient,
    PostmarkUnavailable,
    RateLimited,
    StreamNotFound,
    StreamType,
    TokenRejected,
    UnsafePathSegment,
    UnsubscribeHandling,
    ValidationRefused,
    close_pools,
)
from dashboard.postmark.sandbox import Sandbox, install

OTHER_TOKEN = "0b7e3f2a-0000-4000-8000-another-server"
EASTERN_OFFSETS = {timedelta(hours=-4), timedelta(hours=-5)}


@pytest.fixture
def postmark(sandbox_token):
    """The dashboard's client for the sandbox's test server, as production builds it (pooled)."""
    yield PostmarkClient(sandbox_token, base_url=SANDBOX_URL, backoff=0)
    close_pools()


def ids(streams) -> list[str]:
    return [stream.id for stream in streams]


# --- Defaults and listing ----------------------------------------------------------------------


def test_a_new_server_lists_its_three_default_streams(sandbox, postmark, sandbox_token):
    server_id = sandbox.add_server(sandbox_token)  # the same token again answers its server's ID

    streams = {stream.id: stream for stream in postmark.list_streams()}

    assert [(s.id, s.name, s.stream_type, s.unsubscribe_handling) for s in streams.values()] == [
        ("outbound", "Default Transactional Stream", StreamType.TRANSACTIONAL, UnsubscribeHandling.NONE),
        ("inbound", "Default Inbound Stream", StreamType.INBOUND, UnsubscribeHandling.NONE),
        ("broadcast", "Default Broadcast Stream", StreamType.BROADCASTS, UnsubscribeHandling.POSTMARK),
    ]
    assert {stream.server_id for stream in streams.values()} == {server_id}
    assert all(stream.created_at.utcoffset() in EASTERN_OFFSETS for stream in streams.values())
    assert not any(stream.is_archived for stream in streams.values())


def test_a_server_made_before_mid_2021_has_only_two_default_streams(sandbox):
    sandbox.add_server(OTHER_TOKEN, legacy=True)

    streams = PostmarkClient(OTHER_TOKEN, base_url=SANDBOX_URL, backoff=0).list_streams()

    assert ids(streams) == ["outbound", "inbound"]


@pytest.mark.parametrize(
    ("stream_type", "expected"),
    [
        (None, ["outbound", "inbound", "broadcast", "billing"]),
        ("all", ["outbound", "inbound", "broadcast", "billing"]),
        (StreamType.TRANSACTIONAL, ["outbound", "billing"]),
        ("broadcasts", ["broadcast"]),
        (StreamType.INBOUND, ["inbound"]),
    ],
)
def test_the_list_filters_by_stream_type(postmark, stream_type, expected):
    postmark.create_stream(id="billing", name="Billing", stream_type=StreamType.TRANSACTIONAL)

    assert ids(postmark.list_streams(stream_type=stream_type)) == expected


def test_an_archived_stream_is_listed_only_when_archived_streams_are_included(postmark):
    postmark.archive_stream("broadcast")

    assert ids(postmark.list_streams()) == ["outbound", "inbound"]
    listed = postmark.list_streams(include_archived=True)
    assert ids(listed) == ["outbound", "inbound", "broadcast"]
    assert listed[2].is_archived
    assert postmark.get_stream("broadcast").is_archived


# --- Round trips -------------------------------------------------------------------------------


def test_a_created_stream_reads_back_the_same(postmark, sandbox_token, sandbox):
    created = postmark.create_stream(
        id="billing", name="Billing", stream_type="transactional", description="Invoices and receipts"
    )

    assert created.server_id == sandbox.add_server(sandbox_token)
    assert (created.name, created.description) == ("Billing", "Invoices and receipts")
    assert created.stream_type is StreamType.TRANSACTIONAL
    assert created.unsubscribe_handling is UnsubscribeHandling.NONE
    assert (created.updated_at, created.archived_at, created.expected_purge_date) == (None, None, None)
    assert created.created_at.utcoffset() in EASTERN_OFFSETS
    assert postmark.get_stream("billing") == created


@pytest.mark.parametrize(
    ("stream_type", "handling"),
    [
        (StreamType.BROADCASTS, UnsubscribeHandling.POSTMARK),
        (StreamType.TRANSACTIONAL, UnsubscribeHandling.NONE),
    ],
)
def test_a_created_stream_gets_its_types_default_unsubscribe_handling(postmark, stream_type, handling):
    created = postmark.create_stream(id="news", name="News", stream_type=stream_type)

    assert created.unsubscribe_handling is handling


def test_an_edit_changes_only_the_fields_given_and_sets_updated_at(postmark):
    postmark.create_stream(id="billing", name="Billing", stream_type="Transactional", description="Old")

    renamed = postmark.edit_stream("billing", name="Billing EU")
    cleared = postmark.edit_stream("billing", description=None)

    assert (renamed.name, renamed.description) == ("Billing EU", "Old")
    assert renamed.updated_at is not None
    assert (cleared.name, cleared.description) == ("Billing EU", None)
    assert postmark.get_stream("billing") == cleared


def test_custom_unsubscribe_handling_works_once_postmark_support_enabled_it(postmark, sandbox, sandbox_token):
    with pytest.raises(ValidationRefused) as refused:
        postmark.edit_stream("broadcast", unsubscribe_handling=UnsubscribeHandling.CUSTOM)
    sandbox.grant_custom_unsubscribe(sandbox_token)

    edited = postmark.edit_stream("broadcast", unsubscribe_handling="custom")
    created = postmark.create_stream(
        id="news", name="News", stream_type="Broadcasts", unsubscribe_handling="Custom"
    )

    assert refused.value.error_code is ErrorCode.CUSTOM_UNSUBSCRIBE_NOT_ALLOWED
    assert edited.unsubscribe_handling is UnsubscribeHandling.CUSTOM
    assert created.unsubscribe_handling is UnsubscribeHandling.CUSTOM


def test_archiving_sets_a_purge_date_45_days_on_and_restoring_clears_it(postmark):
    postmark.create_stream(id="billing", name="Billing", stream_type="Transactional")

    result = postmark.archive_stream("billing")
    archived = postmark.get_stream("billing")
    restored = postmark.unarchive_stream("billing")

    assert (result.id, result.server_id) == ("billing", archived.server_id)
    assert result.expected_purge_date == archived.expected_purge_date
    assert result.expected_purge_date - archived.archived_at == timedelta(days=45)
    assert result.expected_purge_date.utcoffset() in EASTERN_OFFSETS
    assert not restored.is_archived
    assert restored.expected_purge_date is None
    assert ids(postmark.list_streams()) == ["outbound", "inbound", "broadcast", "billing"]


def test_an_archived_stream_can_be_restored_until_its_purge_date(postmark, sandbox):
    postmark.archive_stream("broadcast")
    sandbox.advance_clock(days=44)

    assert not postmark.unarchive_stream("broadcast").is_archived


def test_after_the_purge_date_the_stream_is_gone_and_cannot_be_restored(postmark, sandbox):
    postmark.archive_stream("broadcast")
    sandbox.advance_clock(days=46)

    with pytest.raises(StreamNotFound) as missing:
        postmark.get_stream("broadcast")
    with pytest.raises(ValidationRefused) as refused:
        postmark.unarchive_stream("broadcast")

    assert (missing.value.status, missing.value.error_code) == (422, ErrorCode.STREAM_NOT_FOUND)
    assert refused.value.error_code is ErrorCode.CANNOT_UNARCHIVE
    assert ids(postmark.list_streams(include_archived=True)) == ["outbound", "inbound"]


# --- Rules -------------------------------------------------------------------------------------

CREATE_REFUSALS = [
    pytest.param({"id": ""}, ErrorCode.ID_REQUIRED, id="1222-blank-id"),
    pytest.param({"id": "all"}, ErrorCode.ID_RESERVED, id="1237-all"),
    pytest.param({"id": "pm-billing"}, ErrorCode.ID_HAS_PM_PREFIX, id="1233-pm-prefix"),
    pytest.param({"id": "1billing"}, ErrorCode.INVALID_ID, id="1227-starts-with-digit"),
    pytest.param({"id": "Billing"}, ErrorCode.INVALID_ID, id="1227-uppercase"),
    pytest.param({"id": "bill ing"}, ErrorCode.INVALID_ID, id="1227-space"),
    pytest.param({"id": "b" * 31}, ErrorCode.INVALID_ID, id="1227-31-characters"),
    pytest.param({"id": "outbound"}, ErrorCode.ID_ALREADY_EXISTS, id="1230-taken"),
    pytest.param({"name": "  "}, ErrorCode.NAME_REQUIRED, id="1223-blank-name"),
    pytest.param({"name": "n" * 101}, ErrorCode.NAME_TOO_LONG, id="1224-long-name"),
    pytest.param({"description": "d" * 1001}, ErrorCode.DESCRIPTION_TOO_LONG, id="1231-long-description"),
    pytest.param({"description": "<b>Bills</b>"}, ErrorCode.DESCRIPTION_HAS_HTML, id="1234-html"),
    pytest.param({"stream_type": "Marketing"}, ErrorCode.INVALID_STREAM_TYPE, id="1221-unknown-type"),
    pytest.param({"stream_type": StreamType.INBOUND}, ErrorCode.ONLY_ONE_INBOUND_STREAM, id="1228-inbound"),
    pytest.param(
        {"stream_type": "Broadcasts", "unsubscribe_handling": UnsubscribeHandling.NONE},
        ErrorCode.UNSUBSCRIBE_HANDLING_NOT_SUPPORTED,
        id="1239-broadcasts-without-unsubscribe",
    ),
    pytest.param(
        {"unsubscribe_handling": UnsubscribeHandling.POSTMARK},
        ErrorCode.UNSUBSCRIBE_HANDLING_NOT_SUPPORTED,
        id="1239-transactional-with-unsubscribe",
    ),
    pytest.param(
        {"stream_type": "Broadcasts", "unsubscribe_handling": UnsubscribeHandling.CUSTOM},
        ErrorCode.CUSTOM_UNSUBSCRIBE_NOT_ALLOWED,
        id="1238-custom-not-enabled",
    ),
]


@pytest.mark.parametrize(("changes", "error_code"), CREATE_REFUSALS)
def test_postmark_refuses_a_create_that_breaks_a_rule(postmark, changes, error_code):
    fields = {"id": "billing", "name": "Billing", "stream_type": StreamType.TRANSACTIONAL, **changes}

    with pytest.raises(ValidationRefused) as refused:
        postmark.create_stream(**fields)

    assert (refused.value.status, refused.value.error_code) == (422, error_code)
    assert refused.value.message
    assert len(postmark.list_streams(include_archived=True)) == 3


@pytest.mark.parametrize(
    "changes",
    [
        {"id": "b"},
        {"id": "b" * 30},
        {"id": "billing_2-eu"},
        {"name": "n" * 100},
        {"description": "d" * 1000},
        {"description": "Bills & receipts: 'quoted'"},
    ],
    ids=["one-letter-id", "30-character-id", "underscore-dash-digit", "100-character-name",
         "1000-character-description", "punctuation"],
)
def test_postmark_accepts_a_create_at_the_edge_of_each_rule(postmark, changes):
    fields = {"id": "billing", "name": "Billing", "stream_type": StreamType.TRANSACTIONAL, **changes}

    created = postmark.create_stream(**fields)

    assert postmark.get_stream(created.id) == created


NOT_SUPPORTED = ErrorCode.UNSUBSCRIBE_HANDLING_NOT_SUPPORTED
EDIT_REFUSALS = [
    pytest.param("outbound", {"name": ""}, ErrorCode.NAME_REQUIRED, id="1223-blank-name"),
    pytest.param("outbound", {"name": "n" * 101}, ErrorCode.NAME_TOO_LONG, id="1224-long-name"),
    pytest.param("outbound", {"description": "d" * 1001}, ErrorCode.DESCRIPTION_TOO_LONG, id="1231"),
    pytest.param("outbound", {"description": "a <b> c"}, ErrorCode.DESCRIPTION_HAS_HTML, id="1234"),
    pytest.param("outbound", {"unsubscribe_handling": "Postmark"}, NOT_SUPPORTED, id="1239-transactional"),
    pytest.param("inbound", {"unsubscribe_handling": "Postmark"}, NOT_SUPPORTED, id="1239-inbound"),
    pytest.param("broadcast", {"unsubscribe_handling": "None"}, NOT_SUPPORTED, id="1239-broadcasts"),
    pytest.param("broadcast", {"unsubscribe_handling": "Custom"}, ErrorCode.CUSTOM_UNSUBSCRIBE_NOT_ALLOWED,
                 id="1238"),
]


@pytest.mark.parametrize(("stream_id", "changes", "error_code"), EDIT_REFUSALS)
def test_postmark_refuses_an_edit_that_breaks_a_rule(postmark, stream_id, changes, error_code):
    before = postmark.get_stream(stream_id)

    with pytest.raises(ValidationRefused) as refused:
        postmark.edit_stream(stream_id, **changes)

    assert (refused.value.status, refused.value.error_code) == (422, error_code)
    assert postmark.get_stream(stream_id) == before


@pytest.mark.parametrize("stream_id", ["outbound", "inbound"])
def test_the_default_transactional_and_inbound_streams_cannot_be_archived(postmark, stream_id):
    with pytest.raises(ValidationRefused) as refused:
        postmark.archive_stream(stream_id)

    assert refused.value.error_code is ErrorCode.CANNOT_ARCHIVE_DEFAULT_STREAM
    assert not postmark.get_stream(stream_id).is_archived


def test_a_stream_that_is_not_archived_cannot_be_restored(postmark):
    with pytest.raises(ValidationRefused) as refused:
        postmark.unarchive_stream("broadcast")

    assert refused.value.error_code is ErrorCode.CANNOT_UNARCHIVE


STREAM_CALLS = [
    pytest.param(lambda client: client.get_stream("nope"), id="get"),
    pytest.param(lambda client: client.edit_stream("nope", name="Nope"), id="edit"),
    pytest.param(lambda client: client.archive_stream("nope"), id="archive"),
    pytest.param(lambda client: client.unarchive_stream("nope"), id="unarchive"),
]


@pytest.mark.parametrize("call", STREAM_CALLS)
def test_a_missing_stream_is_stream_not_found_on_every_call(postmark, call):
    with pytest.raises(StreamNotFound) as missing:
        call(postmark)

    assert (missing.value.status, missing.value.error_code) == (422, ErrorCode.STREAM_NOT_FOUND)


def test_a_server_holds_at_most_its_stream_limit_archived_streams_included(sandbox):
    sandbox.add_server(OTHER_TOKEN, max_streams=4)
    client = PostmarkClient(OTHER_TOKEN, base_url=SANDBOX_URL, backoff=0)
    client.create_stream(id="billing", name="Billing", stream_type="Transactional")
    client.archive_stream("billing")

    with pytest.raises(ValidationRefused) as refused:
        client.create_stream(id="news", name="News", stream_type="Broadcasts")

    assert refused.value.error_code is ErrorCode.STREAM_LIMIT_REACHED
    assert ids(client.list_streams(include_archived=True)) == ["outbound", "inbound", "broadcast", "billing"]


def test_the_default_limit_is_ten_streams_defaults_included(postmark):
    for number in range(7):
        postmark.create_stream(id=f"stream-{number}", name=f"Stream {number}", stream_type="Transactional")

    with pytest.raises(ValidationRefused) as refused:
        postmark.create_stream(id="stream-7", name="Stream 7", stream_type="Transactional")

    assert refused.value.error_code is ErrorCode.STREAM_LIMIT_REACHED
    assert len(postmark.list_streams()) == 10


ALL_CALLS = [
    pytest.param(lambda client: client.list_streams(), id="list"),
    pytest.param(
        lambda client: client.create_stream(id="b", name="B", stream_type="Transactional"), id="create"
    ),
    *STREAM_CALLS,
]


@pytest.mark.parametrize("call", ALL_CALLS)
def test_a_token_postmark_does_not_know_is_rejected_on_every_call(sandbox_token, call):
    with pytest.raises(TokenRejected) as rejected:
        call(PostmarkClient("not-a-server-token-of-this-sandbox", base_url=SANDBOX_URL, backoff=0))

    assert (rejected.value.status, rejected.value.error_code) == (401, ErrorCode.INVALID_SERVER_TOKEN)


def test_servers_are_kept_apart_by_their_tokens(sandbox, postmark):
    sandbox.add_server(OTHER_TOKEN)
    other = PostmarkClient(OTHER_TOKEN, base_url=SANDBOX_URL, backoff=0)

    postmark.create_stream(id="billing", name="Billing", stream_type="Transactional")

    assert "billing" not in ids(other.list_streams())
    with pytest.raises(StreamNotFound):
        other.get_stream("billing")


def test_the_sandbox_is_looked_up_on_every_request(postmark, sandbox_token):
    assert len(postmark.list_streams()) == 3
    replacement = Sandbox()
    previous = install(replacement)
    try:
        with pytest.raises(TokenRejected):
            postmark.list_streams()
        replacement.add_server(sandbox_token, legacy=True)
        assert len(postmark.list_streams()) == 2
    finally:
        install(previous)


# --- Paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream_id", ["..", ".", "", "../archive", "%2E%2E"])
def test_a_stream_id_that_would_leave_the_stream_s_path_never_reaches_postmark(sandbox, postmark, stream_id):
    calls = [postmark.get_stream, postmark.archive_stream, postmark.unarchive_stream,
             lambda stream: postmark.edit_stream(stream, name="Billing")]
    for call in calls:
        with pytest.raises(UnsafePathSegment):
            call(stream_id)

    postmark.get_stream("outbound")
    assert sandbox.received == ["GET /message-streams/outbound"]


# --- Faults ------------------------------------------------------------------------------------

FAULTS = [
    pytest.param({"status": 429}, RateLimited, 429, None, id="429-json"),
    pytest.param({"status": 429, "body": "html"}, RateLimited, 429, None, id="429-html"),
    pytest.param({"status": 500}, PostmarkUnavailable, 500, ErrorCode.POSTMARK_FAILURE, id="500-json"),
    pytest.param({"status": 500, "body": "empty"}, PostmarkUnavailable, 500, None, id="500-empty"),
    pytest.param({"status": 502}, PostmarkUnavailable, 502, None, id="502-html"),
    pytest.param({"status": 503}, PostmarkUnavailable, 503, ErrorCode.MAINTENANCE, id="503-json"),
    pytest.param({"status": 503, "body": "html"}, PostmarkUnavailable, 503, None, id="503-html"),
]


@pytest.mark.parametrize(("faults", "error_class", "status", "error_code"), FAULTS)
def test_each_fault_becomes_the_error_a_view_can_act_on(
    sandbox, postmark, faults, error_class, status, error_code
):
    sandbox.set_faults(**faults)

    with pytest.raises(error_class) as caught:
        postmark.get_stream("outbound")

    assert type(caught.value) is error_class
    assert caught.value.status == status
    assert caught.value.error_code in (error_code, 0)  # the sandbox's 429 says ErrorCode 0


def test_a_transient_503_on_a_read_is_recovered_by_a_retry(sandbox, postmark, caplog):
    caplog.set_level(logging.INFO, logger="dashboard.postmark")
    sandbox.set_faults(status=503, times=1)

    assert postmark.get_stream("outbound").id == "outbound"
    assert "GET /message-streams/outbound -> 200, 2 attempt(s)" in caplog.text


def test_a_persistent_503_on_a_read_is_given_up_after_three_attempts(sandbox, postmark, caplog):
    caplog.set_level(logging.INFO, logger="dashboard.postmark")
    sandbox.set_faults(status=503)

    with pytest.raises(PostmarkUnavailable):
        postmark.list_streams()

    assert "GET /message-streams -> 503, 3 attempt(s)" in caplog.text


def test_a_transient_503_on_a_write_is_surfaced_not_retried(sandbox, postmark, caplog):
    caplog.set_level(logging.INFO, logger="dashboard.postmark")
    sandbox.set_faults(status=503, times=1)

    with pytest.raises(PostmarkUnavailable) as caught:
        postmark.create_stream(id="billing", name="Billing", stream_type="Transactional")

    assert caught.value.status == 503
    assert "POST /message-streams -> 503, 1 attempt(s)" in caplog.text
    assert "billing" not in ids(postmark.list_streams(include_archived=True))


@pytest.mark.parametrize("call", [lambda client: client.edit_stream("broadcast", name="B"),
                                  lambda client: client.archive_stream("broadcast")], ids=["edit", "archive"])
def test_a_transient_503_on_any_write_leaves_the_stream_untouched(sandbox, postmark, call):
    before = postmark.get_stream("broadcast")
    sandbox.set_faults(status=503, times=1)

    with pytest.raises(PostmarkUnavailable):
        call(postmark)

    assert postmark.get_stream("broadcast") == before


def test_a_slow_answer_within_the_read_timeout_succeeds(sandbox, sandbox_token):
    sandbox.set_faults(latency=0.05)
    client = PostmarkClient(sandbox_token, base_url=SANDBOX_URL, backoff=0, read_timeout=2)

    assert len(client.list_streams()) == 3


@pytest.mark.parametrize("faults", [{"hang": True}, {"latency": 5.0}], ids=["hang", "latency"])
def test_a_hung_postmark_is_unavailable_within_the_read_timeout_and_not_retried(
    sandbox, sandbox_token, caplog, faults
):
    caplog.set_level(logging.INFO, logger="dashboard.postmark")
    sandbox.set_faults(**faults)
    client = PostmarkClient(sandbox_token, base_url=SANDBOX_URL, backoff=0, read_timeout=0.2)
    started = time.monotonic()

    with pytest.raises(PostmarkUnavailable) as caught:
        client.get_stream("outbound")

    # Far below the 5 s latency or the 30 s hang; the log line proves there was no retry.
    assert time.monotonic() - started < 2.0
    assert caught.value.status is None
    assert caught.value.message.startswith("Postmark did not answer within 0.2 s (ReadTimeout")
    assert "-> ReadTimeout, 1 attempt(s)" in caplog.text
