"""The sandbox's Suppressions API and Bounce API on the wire: every rule, error code and answer shape.

Requests go through httpx's WSGI transport as a client sends them; expectations come from
docs/postmark-suppressions-api.md and Postmark's examples in tests/postmark_examples. Time passes only by the
sandbox's clock control, never by sleeping.
"""

import ast
import json
from pathlib import Path

import httpx
import pytest

import dashboard.postmark.sandbox_suppressions as area
from dashboard.postmark.sandbox import Sandbox
from tests.postmark_examples import example

TOKEN_HEADER = "X-Postmark-Server-Token"
NO_AUTHORITY = "You do not have the required authority to change this suppression."
INVALID_ADDRESS = "An invalid email address was provided."


@pytest.fixture
def api(sandbox_http, sandbox_token):
    sandbox_http.headers[TOKEN_HEADER] = sandbox_token
    return sandbox_http


@pytest.fixture
def instant(api, sandbox_token):
    """Suppressions made through the API show in the dump at once."""
    settings(api, sandbox_token, delay_seconds=0)
    return api


def control(api: httpx.Client, path: str, **body) -> httpx.Response:
    return api.post(f"/_sandbox/{path}", json=body, headers={TOKEN_HEADER: ""})


def settings(api: httpx.Client, token: str, **changes) -> dict:
    answer = control(api, "suppressions/settings", token=token, **changes)
    assert answer.status_code == 200, answer.text
    return answer.json()["Settings"]


def seed_suppression(api, token, email, reason="ManualSuppression", origin=None, stream="outbound") -> int:
    answer = control(api, "suppressions", token=token, stream=stream, email=email, reason=reason, origin=origin)
    assert answer.status_code == 201, answer.text
    return answer.json()["ID"]


def seed_bounce(api, token, email, type="HardBounce", stream="outbound", **more) -> int:
    answer = control(api, "bounces", token=token, stream=stream, email=email, type=type, **more)
    assert answer.status_code == 201, answer.text
    return answer.json()["ID"]


def dump(api: httpx.Client, stream: str = "outbound", **query) -> list[str]:
    answer = api.get(f"/message-streams/{stream}/suppressions/dump", params=query)
    assert answer.status_code == 200, answer.text
    return [item["EmailAddress"] for item in answer.json()["Suppressions"]]


def change(api: httpx.Client, addresses, *, stream="outbound", delete=False) -> httpx.Response:
    path = f"/message-streams/{stream}/suppressions" + ("/delete" if delete else "")
    return api.post(path, json={"Suppressions": [{"EmailAddress": address} for address in addresses]})


def statuses(answer: httpx.Response) -> list[tuple[str, str, str | None]]:
    assert answer.status_code == 200, answer.text
    return [(item["EmailAddress"], item["Status"], item["Message"]) for item in answer.json()["Suppressions"]]


def bounces(api: httpx.Client, **query) -> dict:
    answer = api.get("/bounces", params={"count": 50, "offset": 0, **query})
    assert answer.status_code == 200, answer.text
    return answer.json()


def advance(api: httpx.Client, **units) -> None:
    body = {f"advance_{unit}": amount for unit, amount in units.items()}
    assert api.post("/_sandbox/clock", json=body).status_code == 200


def wsgi_client(app: Sandbox, token: str) -> httpx.Client:
    return httpx.Client(base_url="http://sandbox.test", transport=httpx.WSGITransport(app=app),
                        headers={TOKEN_HEADER: token})


def assert_refused(answer: httpx.Response, code: int, status: int = 422) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["ErrorCode"] == code
    assert answer.headers["X-PM-ApiErrorCode"] == str(code)


# --- A new server, seeding, shapes ---------------------------------------------------------------


def test_a_new_server_has_no_suppressions_and_no_bounces(api):
    assert dump(api) == [] and dump(api, "broadcast") == []
    assert bounces(api) == {"TotalCount": 0, "Bounces": []}


def test_a_seeded_suppression_shows_at_once_in_the_shape_of_postmarks_example(api, sandbox_token):
    seed_suppression(api, sandbox_token, "kim@example.com", reason="SpamComplaint")

    [item] = api.get("/message-streams/outbound/suppressions/dump").json()["Suppressions"]

    assert list(item) == list(example("suppressions-dump")["Suppressions"][0])
    assert (item["EmailAddress"], item["SuppressionReason"], item["Origin"]) == (
        "kim@example.com", "SpamComplaint", "Recipient",
    )


def test_a_seeded_bounce_has_the_keys_of_postmarks_example_and_an_inactive_hard_bounce_suppresses(api, sandbox_token):
    bounce_id = seed_bounce(api, sandbox_token, "gone@example.com", tag="receipt")

    [bounce] = bounces(api)["Bounces"]

    assert list(bounce) == list(example("bounces")["Bounces"][0])
    assert (bounce["ID"], bounce["Type"], bounce["TypeCode"], bounce["Inactive"], bounce["CanActivate"]) == (
        bounce_id, "HardBounce", 1, True, True,
    )
    assert dump(api, SuppressionReason="HardBounce", Origin="Recipient") == ["gone@example.com"]


def test_the_seeding_paths_refuse_what_they_cannot_make(api, sandbox_token):
    cases = [
        ("suppressions", {"token": "unknown-token", "email": "a@example.com"}, "token"),
        ("suppressions", {"token": sandbox_token, "stream": "nope", "email": "a@example.com"}, "stream"),
        ("suppressions", {"token": sandbox_token, "email": "a@example.com", "reason": "Bored"}, "reason"),
        ("suppressions", {"token": sandbox_token, "email": "not an address"}, "email"),
        ("bounces", {"token": sandbox_token, "email": "a@example.com", "type": "Boing"}, "type"),
        ("bounces", {"token": sandbox_token, "email": "a@example.com", "colour": "red"}, "colour"),
    ]
    for path, body, named in cases:
        answer = api.post(f"/_sandbox/{path}", json=body)
        assert answer.status_code == 400 and named in answer.json()["Message"], (path, body, answer.text)


# --- The delay before a change shows -------------------------------------------------------------


def test_a_suppression_made_through_the_api_shows_only_after_the_delay_of_the_sandbox_clock(api):
    answer = change(api, ["late@example.com"])

    assert statuses(answer) == [("late@example.com", "Suppressed", None)]
    assert dump(api) == []
    advance(api, seconds=area.DEFAULT_DELAY_SECONDS - 1)
    assert dump(api) == []
    advance(api, seconds=1)
    [item] = api.get("/message-streams/outbound/suppressions/dump").json()["Suppressions"]
    assert (item["EmailAddress"], item["SuppressionReason"], item["Origin"]) == (
        "late@example.com", "ManualSuppression", "Customer",
    )


def test_the_delay_is_a_setting_and_zero_shows_a_suppression_at_once(api, sandbox_token):
    assert settings(api, sandbox_token)["delay_seconds"] == area.DEFAULT_DELAY_SECONDS

    settings(api, sandbox_token, delay_seconds=0)
    change(api, ["now@example.com"])

    assert dump(api) == ["now@example.com"]


def test_settings_refuse_values_outside_their_choices(api, sandbox_token):
    for changes in ({"delay_seconds": -1}, {"email_match": "fuzzy"}, {"archived_stream_writes": "maybe"},
                    {"internal_failures": 1.5}, {"unsubscribes_removable": "yes"}):
        answer = control(api, "suppressions/settings", token=sandbox_token, **changes)
        assert answer.status_code == 400, changes


# --- Per stream, filters, case -------------------------------------------------------------------


def test_each_stream_has_its_own_suppression_list(instant):
    change(instant, ["a@example.com"], stream="broadcast")

    assert dump(instant, "broadcast") == ["a@example.com"]
    assert dump(instant) == []


def test_the_dump_filters_by_reason_and_origin_in_any_case_of_names_and_values(api, sandbox_token):
    seed_suppression(api, sandbox_token, "hard@example.com", reason="HardBounce")
    seed_suppression(api, sandbox_token, "spam@example.com", reason="SpamComplaint")
    seed_suppression(api, sandbox_token, "manual@example.com")
    seed_suppression(api, sandbox_token, "unsub@example.com", origin="Recipient")

    assert dump(api, suppressionreason="hardbounce") == ["hard@example.com"]
    assert dump(api, SUPPRESSIONREASON="SpamComplaint") == ["spam@example.com"]
    assert dump(api, Origin="customer") == ["manual@example.com"]
    assert dump(api, SuppressionReason="ManualSuppression", origin="RECIPIENT") == ["unsub@example.com"]


def test_the_dump_matches_an_address_exactly_in_any_case_or_by_part_when_set_so(api, sandbox_token):
    seed_suppression(api, sandbox_token, "Kim.Lee@Example.com")
    seed_suppression(api, sandbox_token, "kim@example.org")

    assert dump(api, EmailAddress="kim.lee@example.COM") == ["Kim.Lee@Example.com"]
    assert dump(api, emailaddress="kim") == []
    settings(api, sandbox_token, email_match="substring")
    assert dump(api, EmailAddress="KIM") == ["Kim.Lee@Example.com", "kim@example.org"]


def test_the_dump_dates_are_inclusive_days(api, sandbox_token):
    seed_suppression(api, sandbox_token, "first@example.com")
    first_day = api.get("/message-streams/outbound/suppressions/dump").json()["Suppressions"][0]["CreatedAt"][:10]
    advance(api, days=2)
    seed_suppression(api, sandbox_token, "second@example.com")

    assert dump(api, fromdate=first_day, todate=first_day) == ["first@example.com"]
    assert dump(api, FromDate=first_day) == ["first@example.com", "second@example.com"]
    assert dump(api, todate="2001-01-01") == []


@pytest.mark.parametrize(
    ("query", "code"),
    [({"SuppressionReason": "Unsubscribe"}, 1404), ({"Origin": "Robot"}, 1405), ({"fromdate": "yesterday"}, 1409)],
)
def test_the_dump_refuses_an_unknown_reason_origin_or_date(api, query, code):
    assert_refused(api.get("/message-streams/outbound/suppressions/dump", params=query), code)


# --- Suppress and delete: the body, the 50 limit, per-item Failed --------------------------------


def test_fifty_addresses_pass_and_fifty_one_are_refused_with_nothing_changed(instant):
    fifty = [f"person{n}@example.com" for n in range(50)]

    assert_refused(change(instant, [*fifty, "one.more@example.com"]), 1410)
    assert dump(instant) == []
    assert [status for _, status, _ in statuses(change(instant, fifty))] == ["Suppressed"] * 50
    assert_refused(change(instant, [*fifty, "one.more@example.com"], delete=True), 1410)
    assert len(dump(instant)) == 50


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", 1409),
        (b"not json", 1409),
        (b"[]", 1409),
        (b'{"Emails": []}', 1409),
        (b'{"Suppressions": ["a@example.com"]}', 1409),
        (b'{"Suppressions": [{"EmailAddress": 5}]}', 1409),
        (b'{"Suppressions": [{}]}', 1411),
        (b'{"Suppressions": [{"EmailAddress": "  "}]}', 1411),
    ],
)
def test_a_body_that_is_not_a_list_of_addresses_is_refused(api, body, code):
    for path in ("suppressions", "suppressions/delete"):
        assert_refused(api.post(f"/message-streams/outbound/{path}", content=body), code)


def test_body_keys_are_read_in_any_case(instant):
    body = {"suppressions": [{"emailaddress": "x@example.com"}]}
    answer = instant.post("/message-streams/outbound/suppressions", json=body)

    assert statuses(answer) == [("x@example.com", "Suppressed", None)]


def test_an_invalid_address_fails_alone_inside_a_200(instant):
    answer = change(instant, ["ok@example.com", "invalid-email-address"])

    assert statuses(answer) == [
        ("ok@example.com", "Suppressed", None),
        ("invalid-email-address", "Failed", INVALID_ADDRESS),
    ]
    assert statuses(change(instant, ["invalid-email-address"], delete=True)) == [
        ("invalid-email-address", "Failed", INVALID_ADDRESS),
    ]


def test_suppressing_an_address_already_suppressed_keeps_its_reason(api, sandbox_token):
    seed_suppression(api, sandbox_token, "spam@example.com", reason="SpamComplaint")

    assert statuses(change(api, ["SPAM@example.com"])) == [("SPAM@example.com", "Suppressed", None)]
    assert dump(api, SuppressionReason="SpamComplaint") == ["spam@example.com"]


def test_only_customer_manual_suppressions_and_hard_bounces_can_be_deleted(api, sandbox_token):
    for email, reason, origin in [
        ("manual@example.com", "ManualSuppression", "Customer"),
        ("hard@example.com", "HardBounce", "Recipient"),
        ("spam@example.com", "SpamComplaint", "Recipient"),
        ("admin@example.com", "ManualSuppression", "Admin"),
        ("unsub@example.com", "ManualSuppression", "Recipient"),
    ]:
        seed_suppression(api, sandbox_token, email, reason=reason, origin=origin)

    addresses = ["manual@example.com", "hard@example.com", "spam@example.com", "admin@example.com",
                 "unsub@example.com", "never@example.com"]
    assert statuses(change(api, addresses, delete=True)) == [
        ("manual@example.com", "Deleted", None),
        ("hard@example.com", "Deleted", None),
        ("spam@example.com", "Failed", NO_AUTHORITY),
        ("admin@example.com", "Failed", NO_AUTHORITY),
        ("unsub@example.com", "Failed", NO_AUTHORITY),
        ("never@example.com", "Deleted", None),
    ]
    assert dump(api) == ["spam@example.com", "admin@example.com", "unsub@example.com"]


def test_an_unsubscribe_can_be_deleted_when_the_setting_allows_it_but_a_spam_complaint_never(api, sandbox_token):
    settings(api, sandbox_token, unsubscribes_removable=True)
    seed_suppression(api, sandbox_token, "unsub@example.com", origin="Recipient")
    seed_suppression(api, sandbox_token, "spam@example.com", reason="SpamComplaint")

    answer = change(api, ["unsub@example.com", "spam@example.com"], delete=True)

    assert [status for _, status, _ in statuses(answer)] == ["Deleted", "Failed"]


def test_deleting_a_hard_bounce_suppression_reactivates_its_bounce(api, sandbox_token):
    seed_bounce(api, sandbox_token, "gone@example.com")

    assert statuses(change(api, ["gone@example.com"], delete=True))[0][1] == "Deleted"

    [bounce] = bounces(api)["Bounces"]
    assert (bounce["Inactive"], bounce["CanActivate"]) == (False, False)
    assert dump(api) == []


# --- Streams: unknown, archived, purged; tokens; failures; routes --------------------------------


def test_a_stream_that_does_not_exist_is_1226_for_every_suppression_call(api):
    assert_refused(api.get("/message-streams/nope/suppressions/dump"), 1226)
    assert_refused(change(api, ["a@example.com"], stream="nope"), 1226)
    assert_refused(change(api, ["a@example.com"], stream="nope", delete=True), 1226)


def test_an_archived_stream_keeps_its_list_and_takes_changes_unless_the_setting_refuses_them(instant, sandbox_token):
    instant.post("/message-streams", json={"ID": "news", "Name": "News", "MessageStreamType": "Broadcasts"})
    change(instant, ["kept@example.com"], stream="news")
    assert instant.post("/message-streams/news/archive").status_code == 200

    assert dump(instant, "news") == ["kept@example.com"]
    assert statuses(change(instant, ["more@example.com"], stream="news"))[0][1] == "Suppressed"
    settings(instant, sandbox_token, archived_stream_writes="refused")
    assert_refused(change(instant, ["other@example.com"], stream="news"), 1226)
    assert_refused(change(instant, ["kept@example.com"], stream="news", delete=True), 1226)
    assert dump(instant, "news") == ["kept@example.com", "more@example.com"]


def test_a_purged_stream_takes_its_suppressions_and_bounces_and_a_new_stream_with_its_id_starts_empty(
    instant, sandbox_token
):
    instant.post("/message-streams", json={"ID": "news", "Name": "News", "MessageStreamType": "Broadcasts"})
    change(instant, ["kept@example.com"], stream="news")
    seed_bounce(instant, sandbox_token, "gone@example.com", stream="news")
    instant.post("/message-streams/news/archive")
    advance(instant, days=46)

    assert_refused(instant.get("/message-streams/news/suppressions/dump"), 1226)
    assert bounces(instant, messagestream="news")["TotalCount"] == 0
    instant.post("/message-streams", json={"ID": "news", "Name": "News", "MessageStreamType": "Broadcasts"})
    assert dump(instant, "news") == []


def test_the_calls_need_a_server_token(sandbox_http, sandbox_token):
    assert_refused(sandbox_http.get("/message-streams/outbound/suppressions/dump"), 10, status=401)
    assert_refused(sandbox_http.get("/bounces", params={"count": 1, "offset": 0}), 10, status=401)


def test_an_injected_internal_failure_answers_1407_for_as_many_calls_as_set(api, sandbox_token):
    settings(api, sandbox_token, internal_failures=2)

    assert_refused(api.get("/message-streams/outbound/suppressions/dump"), 1407)
    assert_refused(change(api, ["a@example.com"]), 1407)
    assert statuses(change(api, ["a@example.com"]))[0][1] == "Suppressed"


def test_a_wrong_method_is_405_with_the_allowed_one(api):
    answer = api.get("/message-streams/outbound/suppressions")

    assert answer.status_code == 405 and answer.headers["Allow"] == "POST"
    assert api.delete("/bounces/1/activate").headers["Allow"] == "PUT"


# --- Bounces -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [{}, {"count": 10}, {"offset": 0}, {"count": 0, "offset": 0}, {"count": 501, "offset": 0},
     {"count": 10, "offset": -1}, {"count": 500, "offset": 9501}, {"count": "ten", "offset": 0}],
)
def test_bounce_paging_outside_postmarks_limits_is_1000(api, query):
    assert_refused(api.get("/bounces", params=query), 1000)


def test_bounce_paging_at_postmarks_limits_answers(api):
    assert api.get("/bounces", params={"count": 500, "offset": 9500}).status_code == 200


def test_bounces_without_a_stream_are_outbounds_only_and_the_filters_apply_in_any_case(api, sandbox_token):
    seed_bounce(api, sandbox_token, "Hard@Example.com", tag="Receipt")
    seed_bounce(api, sandbox_token, "soft@example.com", type="SoftBounce")
    seed_bounce(api, sandbox_token, "news@example.com", stream="broadcast")

    def emails(**query):
        return [bounce["Email"] for bounce in bounces(api, **query)["Bounces"]]

    assert emails() == ["soft@example.com", "Hard@Example.com"]  # newest first
    assert emails(MessageStream="broadcast") == ["news@example.com"]
    assert emails(emailFilter="HARD@") == ["Hard@Example.com"]
    assert emails(type="softbounce") == ["soft@example.com"]
    assert emails(inactive="TRUE") == ["Hard@Example.com"]
    assert emails(inactive="false") == ["soft@example.com"]
    assert emails(tag="receipt") == ["Hard@Example.com"]
    assert emails(type="NoSuchType") == []


def test_a_bounce_page_counts_every_match_and_pages_by_offset(api, sandbox_token):
    for n in range(5):
        seed_bounce(api, sandbox_token, f"p{n}@example.com", type="Transient")

    page = api.get("/bounces", params={"count": 2, "offset": 2}).json()

    assert page["TotalCount"] == 5
    assert [bounce["Email"] for bounce in page["Bounces"]] == ["p2@example.com", "p1@example.com"]


def test_activating_a_bounce_reactivates_the_address_once(api, sandbox_token):
    bounce_id = seed_bounce(api, sandbox_token, "gone@example.com")

    answer = api.put(f"/bounces/{bounce_id}/activate")

    assert answer.status_code == 200
    assert answer.json()["Message"] == "OK"
    assert list(answer.json()["Bounce"]) == list(example("bounce-activate")["Bounce"])
    assert (answer.json()["Bounce"]["Inactive"], answer.json()["Bounce"]["CanActivate"]) == (False, False)
    assert dump(api) == []
    assert_refused(api.put(f"/bounces/{bounce_id}/activate"), 1003)


def test_a_spam_complaint_bounce_cannot_be_activated_and_an_unknown_one_is_1001(api, sandbox_token):
    bounce_id = seed_bounce(api, sandbox_token, "spam@example.com", type="SpamComplaint")

    assert_refused(api.put(f"/bounces/{bounce_id}/activate"), 1003)
    assert_refused(api.put("/bounces/999/activate"), 1001)
    assert_refused(api.put("/bounces/abc/activate"), 1001)
    assert dump(api, SuppressionReason="SpamComplaint") == ["spam@example.com"]


def test_another_servers_bounce_is_unknown(api, sandbox, sandbox_token):
    other = "0c7e11aa-0000-4000-8000-another-fake-token"
    sandbox.add_server(other)
    bounce_id = seed_bounce(api, other, "theirs@example.com")

    assert_refused(api.put(f"/bounces/{bounce_id}/activate"), 1001)


# --- Persistence and the module's imports ----------------------------------------------------------


def test_suppressions_bounces_and_settings_survive_a_restart_and_an_older_state_file_still_loads(tmp_path):
    state_file = tmp_path / "state.json"
    token = "9d2b7c1e-0000-4000-8000-a-made-up-token"
    first = Sandbox(state_file=state_file)
    first.add_server(token)
    area.add_suppression(first, token, stream="outbound", email="kept@example.com")
    area.add_bounce(first, token, stream="outbound", email="gone@example.com")
    area.configure(first, token, delay_seconds=0)

    with wsgi_client(Sandbox(state_file=state_file), token) as again:
        assert dump(again) == ["kept@example.com", "gone@example.com"]
        assert bounces(again)["TotalCount"] == 1
        change(again, ["new@example.com"])
        assert "new@example.com" in dump(again)

    older = json.loads(state_file.read_text())
    for server in older["servers"]:
        del server["recipients"]
    state_file.write_text(json.dumps(older))
    with wsgi_client(Sandbox(state_file=state_file), token) as old:
        assert dump(old) == [] and old.get("/message-streams/outbound").status_code == 200


def test_the_seeded_demo_mix_has_every_kind_of_suppression(sandbox, api, sandbox_token):
    area.seed_demo(sandbox, sandbox_token)

    found = api.get("/message-streams/outbound/suppressions/dump").json()["Suppressions"]
    kinds = {(item["SuppressionReason"], item["Origin"]) for item in found}
    assert kinds == {("HardBounce", "Recipient"), ("SpamComplaint", "Recipient"), ("ManualSuppression", "Customer"),
                     ("ManualSuppression", "Recipient"), ("ManualSuppression", "Admin")}
    assert bounces(api)["TotalCount"] == 4


def test_the_module_imports_only_the_standard_library_and_the_sandbox():
    tree = ast.parse(Path(area.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}

    assert imported <= {"__future__", "re", "uuid", "collections.abc", "dataclasses", "datetime", "typing",
                        "dashboard.postmark.sandbox"}
