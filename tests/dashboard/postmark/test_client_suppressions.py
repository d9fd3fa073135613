"""The client's Suppressions and Bounce API calls against canned answers at the transport (httpx.MockTransport),
against the in-process sandbox, and Postmark's official Python SDK against `manage.py sandbox` over HTTP.

What Postmark sends comes from its examples in tests/postmark_examples; what we send is asserted as sent.
"""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from dashboard.postmark import sandbox_suppressions
from dashboard.postmark.client import (
    SANDBOX_URL,
    ErrorCode,
    PostmarkClient,
    PostmarkUnavailable,
    StreamNotFound,
    UnsafePathSegment,
    ValidationRefused,
    close_pools,
)
from dashboard.postmark.client_suppressions import (
    Bounce,
    BounceType,
    Suppression,
    SuppressionOrigin,
    SuppressionReason,
    SuppressionStatus,
    TooManyAddresses,
)
from tests.dashboard.postmark.test_client import FakePostmark, client_for, postmark_error, reply
from tests.dashboard.postmark.test_sandbox_command import TOKEN as COMMAND_TOKEN
from tests.dashboard.postmark.test_sandbox_command import start_sandbox  # noqa: F401 (a fixture)
from tests.postmark_examples import example

EASTERN_WINTER = timezone(timedelta(hours=-5))


@pytest.fixture(autouse=True)
def no_pools_left_open():
    yield
    close_pools()


def sent_query(fake: FakePostmark) -> dict[str, str]:
    return dict(fake.requests[-1].url.params)


# --- Postmark's examples -------------------------------------------------------------------------


def test_the_dump_example_parses_into_typed_suppressions():
    fake = FakePostmark(reply(200, example("suppressions-dump")))

    suppressions = client_for(fake).list_suppressions("outbound")

    assert suppressions[0] == Suppression(
        "address@wildbit.com", SuppressionReason.MANUAL_SUPPRESSION, SuppressionOrigin.RECIPIENT,
        datetime(2019, 12, 10, 8, 58, 33, tzinfo=EASTERN_WINTER),
    )
    assert [s.removable for s in suppressions] == [False, True, False]
    assert (fake.requests[-1].method, fake.requests[-1].url.path) == (
        "GET", "/message-streams/outbound/suppressions/dump",
    )


def test_a_failed_item_in_a_200_is_a_failure_never_a_success():
    fake = FakePostmark(reply(200, example("suppressions-create")))
    addresses = ["good.address@wildbit.com", "spammy.address@wildbit.com", "invalid-email-address"]

    batch = client_for(fake).suppress("outbound", addresses)

    assert not batch.all_succeeded
    assert [r.email_address for r in batch.succeeded] == ["good.address@wildbit.com"]
    assert [(r.email_address, r.status, r.message) for r in batch.failed] == [
        ("spammy.address@wildbit.com", SuppressionStatus.FAILED,
         "You do not have the required authority to change this suppression."),
        ("invalid-email-address", SuppressionStatus.FAILED, "An invalid email address was provided."),
    ]
    assert fake.last_body == {"Suppressions": [{"EmailAddress": address} for address in addresses]}


def test_the_delete_example_counts_deleted_as_success_only_for_an_unsuppress():
    fake = FakePostmark(reply(200, example("suppressions-delete")))
    addresses = ["good.address@wildbit.com", "not.suppressed@wildbit.com", "spammy.address@wildbit.com"]

    batch = client_for(fake).unsuppress("outbound", addresses)

    assert [r.succeeded for r in batch.results] == [True, True, False]
    assert fake.requests[-1].url.path == "/message-streams/outbound/suppressions/delete"
    wrong_way = client_for(FakePostmark(reply(200, example("suppressions-delete")))).suppress("outbound", addresses)
    assert wrong_way.succeeded == ()


def test_an_address_left_out_of_postmarks_answer_is_reported_as_failed():
    answer = {"Suppressions": [{"EmailAddress": "A@Example.com", "Status": "Suppressed", "Message": None}]}

    batch = client_for(FakePostmark(reply(200, answer))).suppress("outbound", ["a@example.com", "b@example.com"])

    assert [r.succeeded for r in batch.results] == [True, False]
    assert batch.failed[0].status is None and "did not mention" in batch.failed[0].message


def test_the_bounce_list_example_parses_with_its_seven_digit_fractions_and_two_offsets():
    fake = FakePostmark(reply(200, example("bounces")))

    page = client_for(fake).list_bounces(count=2, offset=0, stream_id="outbound")

    assert page.total_count == 253 and len(page.bounces) == 2
    first, second = page.bounces
    assert (first.id, first.type, first.type_code, first.stream_id, first.inactive, first.can_activate) == (
        692560173, BounceType.HARD_BOUNCE, 1, "outbound", False, True,
    )
    assert first.bounced_at == datetime(2014, 1, 15, 16, 9, 19, 642111, tzinfo=EASTERN_WINTER)
    assert second.bounced_at.utcoffset() == timedelta(hours=-4)
    assert sent_query(fake) == {"count": "2", "offset": "0", "messagestream": "outbound"}


def test_the_activate_example_parses_into_the_bounce_with_its_content():
    fake = FakePostmark(reply(200, example("bounce-activate")))

    bounce = client_for(fake).activate_bounce(692560173)

    assert isinstance(bounce, Bounce) and bounce.content == "Return-Path:....\r\n" and not bounce.inactive
    assert (fake.requests[-1].method, fake.requests[-1].url.path, fake.requests[-1].content) == (
        "PUT", "/bounces/692560173/activate", b"",
    )


def test_keys_and_values_in_any_case_and_unknown_fields_are_tolerated():
    dump = {"suppressions": [{"emailAddress": "a@example.com", "suppressionreason": "hardbounce",
                              "ORIGIN": "recipient", "CreatedAt": "2024-03-01T10:00:00-05:00", "Extra": [1]}],
            "Next": None}
    bounce = {**example("bounces")["Bounces"][0], "Type": "SomethingNew", "TypeCode": "1", "Tag": None, "New": {}}
    page = {"totalCount": 1, "bounces": [{key.lower(): value for key, value in bounce.items()}]}

    [suppression] = client_for(FakePostmark(reply(200, dump))).list_suppressions("outbound")
    [parsed] = client_for(FakePostmark(reply(200, page))).list_bounces(count=1, offset=0).bounces

    assert (suppression.reason, suppression.origin) == (SuppressionReason.HARD_BOUNCE, SuppressionOrigin.RECIPIENT)
    assert (parsed.type, parsed.type_code, parsed.tag) == ("SomethingNew", 1, None)


def test_an_answer_we_cannot_read_is_postmark_unavailable():
    with pytest.raises(PostmarkUnavailable, match="cannot read"):
        client_for(FakePostmark(reply(200, {"Suppressions": [{"Status": "Suppressed"}]}))).suppress(
            "outbound", ["a@example.com"])


# --- What we send --------------------------------------------------------------------------------


def test_dump_filters_go_as_postmark_documents_them():
    fake = FakePostmark(reply(200, {"Suppressions": []}))

    client_for(fake).list_suppressions(
        "outbound", reason="hardbounce", origin=SuppressionOrigin.CUSTOMER, since=date(2024, 3, 1),
        until=datetime(2024, 3, 2, 3, 0, tzinfo=UTC), email="kim@example.com",
    )

    assert sent_query(fake) == {
        "SuppressionReason": "HardBounce", "Origin": "Customer", "fromdate": "2024-03-01",
        "todate": "2024-03-01", "EmailAddress": "kim@example.com",
    }


def test_bounce_filters_go_as_postmark_documents_them():
    fake = FakePostmark(reply(200, {"TotalCount": 0, "Bounces": []}))

    client_for(fake).list_bounces(
        count=25, offset=50, email_filter="kim", bounce_type="softbounce", inactive=True, tag="receipt",
        message_id="abc", since=datetime(2024, 3, 1, 15, 0, tzinfo=UTC), until=date(2024, 3, 2),
    )

    assert sent_query(fake) == {
        "count": "25", "offset": "50", "emailFilter": "kim", "type": "SoftBounce", "inactive": "true",
        "tag": "receipt", "messageID": "abc", "fromdate": "2024-03-01T10:00:00", "todate": "2024-03-02",
    }


def test_more_than_fifty_addresses_are_refused_before_anything_is_sent():
    fake = FakePostmark(reply(200, {"Suppressions": []}))
    client = client_for(fake)
    fifty_one = [f"p{n}@example.com" for n in range(51)]

    with pytest.raises(TooManyAddresses, match="at most 50"):
        client.suppress("outbound", fifty_one)
    with pytest.raises(TooManyAddresses):
        client.unsuppress("outbound", iter(fifty_one))
    with pytest.raises(TypeError):
        client.suppress("outbound", "one@example.com")
    assert fake.requests == []


@pytest.mark.parametrize(
    ("count", "offset"), [(0, 0), (501, 0), (10, -1), (500, 9501)],
)
def test_bounce_paging_outside_postmarks_limits_is_refused_before_sending(count, offset):
    fake = FakePostmark(reply(200, {"TotalCount": 0, "Bounces": []}))

    with pytest.raises(ValueError, match="Nothing was sent"):
        client_for(fake).list_bounces(count=count, offset=offset)
    assert fake.requests == []


def test_every_path_segment_is_checked_before_sending():
    fake = FakePostmark(reply(200, {"Suppressions": []}))
    client = client_for(fake)

    with pytest.raises(UnsafePathSegment):
        client.list_suppressions("..")
    with pytest.raises(UnsafePathSegment):
        client.suppress("a/b", ["a@example.com"])
    with pytest.raises(ValueError):
        client.activate_bounce("1/../2")
    assert fake.requests == []


def test_reads_are_retried_and_writes_never():
    busy = reply(503, postmark_error(100, "Maintenance"))
    dump_fake = FakePostmark(busy, busy, reply(200, {"Suppressions": []}))
    write_fake = FakePostmark(busy)
    activate_fake = FakePostmark(busy)

    assert client_for(dump_fake).list_suppressions("outbound") == []
    with pytest.raises(PostmarkUnavailable):
        client_for(write_fake).suppress("outbound", ["a@example.com"])
    with pytest.raises(PostmarkUnavailable):
        client_for(activate_fake).activate_bounce(1)
    assert (len(dump_fake.requests), len(write_fake.requests), len(activate_fake.requests)) == (3, 1, 1)


# --- Postmark's refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (1226, StreamNotFound), (1404, ValidationRefused), (1405, ValidationRefused), (1407, PostmarkUnavailable),
        (1409, ValidationRefused), (1410, ValidationRefused), (1411, ValidationRefused),
    ],
)
def test_each_suppression_refusal_becomes_its_error_with_the_code(code, error):
    fake = FakePostmark(reply(422, postmark_error(code, "Postmark's words")))

    with pytest.raises(error) as raised:
        client_for(fake).suppress("outbound", ["a@example.com"])

    assert raised.value.error_code == code and raised.value.message == "Postmark's words"


@pytest.mark.parametrize(
    ("code", "member"),
    [(1000, ErrorCode.BOUNCE_QUERY_INVALID), (1001, ErrorCode.BOUNCE_NOT_FOUND),
     (1003, ErrorCode.BOUNCE_CANNOT_BE_ACTIVATED)],
)
def test_each_bounce_refusal_is_validation_refused_with_its_named_code(code, member):
    fake = FakePostmark(reply(422, postmark_error(code, "No.")))

    with pytest.raises(ValidationRefused) as raised:
        client_for(fake).activate_bounce(5)

    assert raised.value.error_code is member


# --- Against the sandbox -------------------------------------------------------------------------


def test_the_client_and_the_sandbox_agree_on_every_call(sandbox, sandbox_token):
    sandbox_suppressions.configure(sandbox, sandbox_token, delay_seconds=0)
    sandbox_suppressions.add_suppression(sandbox, sandbox_token, stream="outbound", email="spam@example.com",
                                         reason="SpamComplaint")
    bounce_id = sandbox_suppressions.add_bounce(sandbox, sandbox_token, stream="outbound", email="gone@example.com")
    client = PostmarkClient(sandbox_token, base_url=SANDBOX_URL)

    added = client.suppress("outbound", ["new@example.com", "bad address"])
    removed = client.unsuppress("outbound", ["spam@example.com"])
    reasons = {s.email_address: s.reason for s in client.list_suppressions("outbound")}
    page = client.list_bounces(count=10, offset=0, stream_id="outbound", inactive=True)
    activated = client.activate_bounce(bounce_id)

    assert [r.succeeded for r in added.results] == [True, False] and not removed.all_succeeded
    assert reasons == {"spam@example.com": SuppressionReason.SPAM_COMPLAINT,
                       "gone@example.com": SuppressionReason.HARD_BOUNCE,
                       "new@example.com": SuppressionReason.MANUAL_SUPPRESSION}
    assert [b.id for b in page.bounces] == [bounce_id] and not activated.inactive
    assert "gone@example.com" not in {s.email_address for s in client.list_suppressions("outbound")}
    with pytest.raises(StreamNotFound):
        client.list_suppressions("nope")


@pytest.mark.socket
def test_postmarks_official_python_sdk_works_against_the_sandbox_command(start_sandbox):  # noqa: F811
    from postmark.models.bounces import BounceType as SdkBounceType
    from postmark.models.suppressions import SuppressionReason as SdkReason
    from postmark.sync import ServerClient

    running = start_sandbox("--token", COMMAND_TOKEN)
    with running.client() as control:
        for path, body in (
            ("/_sandbox/suppressions/settings", {"delay_seconds": 0}),
            ("/_sandbox/bounces", {"email": "gone@example.com", "type": "HardBounce"}),
            ("/_sandbox/suppressions", {"email": "spam@example.com", "reason": "SpamComplaint"}),
        ):
            assert control.post(path, json={"token": COMMAND_TOKEN, **body}).status_code in (200, 201)

    with ServerClient(COMMAND_TOKEN, base_url=running.base_url) as sdk:
        created = sdk.suppressions.create("outbound", ["new@example.com"])
        deleted = sdk.suppressions.delete("outbound", ["spam@example.com"])
        dumped = sdk.suppressions.dump("outbound", suppression_reason=SdkReason.HARD_BOUNCE)
        page = sdk.bounces.list(count=10, offset=0, type=SdkBounceType.HARD_BOUNCE, inactive=True,
                                message_stream="outbound")
        activated = sdk.bounces.activate(page.items[0].id)
        all_suppressions = sdk.suppressions.dump("outbound")

    assert [(r.email_address, r.status) for r in created] == [("new@example.com", "Suppressed")]
    assert [(r.status, r.message) for r in deleted] == [
        ("Failed", "You do not have the required authority to change this suppression.")]
    assert [s.email_address for s in dumped] == ["gone@example.com"]
    assert page.total == 1 and page.items[0].email == "gone@example.com"
    assert activated.message == "OK" and activated.bounce.inactive is False
    assert {s.email_address for s in all_suppressions} == {"spam@example.com", "new@example.com"}
