"""The stream services against the sandbox: what each returns or refuses, and the exact audit event it writes."""

import json
import logging
import time
from datetime import timedelta

import pytest

from dashboard.models import AuditEvent, Server
from dashboard.postmark.client import SANDBOX_URL, PostmarkClient, StreamType, UnsubscribeHandling
from dashboard.postmark.sandbox import MESSAGES, Sandbox, install
from dashboard.services import ServiceError
from dashboard.services.servers import server_connect
from streams.services import (
    PostmarkTrouble,
    StreamChanged,
    StreamGone,
    read_snapshot,
    stream_archive,
    stream_create,
    stream_edit,
    stream_get,
    stream_ids_on_server,
    stream_list,
    stream_restore,
    stream_snapshot,
    team_overview,
)
from tests.conftest import SPARE_TOKEN, TOKEN_A

pytestmark = pytest.mark.django_db

STAGING_TOKEN = "eeeeeeee-0000-4000-8000-00000000e5e5"


# --- Helpers --------------------------------------------------------------------------------------


@pytest.fixture
def postmark_log(caplog):
    """The client's one log line per conversation with Postmark ("Postmark GET /message-streams -> 200 ...")."""
    caplog.set_level(logging.INFO, logger="dashboard.postmark")

    def calls(method: str = "") -> list[str]:
        return [record.getMessage() for record in caplog.records
                if record.name == "dashboard.postmark" and record.getMessage().startswith(f"Postmark {method}")]

    calls.clear = caplog.clear
    return calls


@pytest.fixture
def postmark(sandbox, server_a):
    """Postmark as someone else sees it (its own UI, a script): changes made behind the dashboard's back."""
    return PostmarkClient(TOKEN_A, base_url=SANDBOX_URL)


@pytest.fixture
def streams_of_a(sandbox, server_a, postmark):
    """Acme Production's three default streams plus two of its own and an archived one, a second apart."""
    sandbox.advance_clock(seconds=10)
    postmark.create_stream(id="billing-news", name="Billing news", stream_type="Broadcasts",
                           description="Monthly invoices and payment reminders for customers")
    sandbox.advance_clock(seconds=10)
    postmark.create_stream(id="password-resets", name="Password resets", stream_type="Transactional",
                           description="Reset links")
    sandbox.advance_clock(seconds=10)
    postmark.create_stream(id="newsletter", name="Newsletter", stream_type="Broadcasts")
    postmark.archive_stream("newsletter")
    return server_a


def ids(streams) -> list[str]:
    return [stream.id for stream in streams]


def the_event(action: str) -> AuditEvent:
    return AuditEvent.objects.get(action=action)


def event_fields(event: AuditEvent) -> dict:
    return {"action": event.action, "outcome": event.outcome, "actor_id": event.actor_id, "role": event.actor_role,
            "team_id": event.team_id, "target_type": event.target_type, "target_id": event.target_id,
            "target_label": event.target_label, "changes": event.changes, "detail": event.detail}


def expected_event(action, outcome, actor, team, server, stream_id, *, changes=None, detail="", role=None):
    return {"action": action, "outcome": outcome, "actor_id": actor.pk, "role": role or actor_role(actor, team),
            "team_id": team.pk, "target_type": "stream", "target_id": f"{server.pk}/{stream_id}",
            "target_label": f"{stream_id} on {server.name}", "changes": changes or {}, "detail": detail}


def actor_role(actor, team) -> str:
    return team.memberships.get(user=actor).role


@pytest.fixture
def postmark_fails_when(sandbox):
    """The sandbox, except that the requests matching `when(environ)` get `status` with `body` and do nothing."""

    def fail(when, status: int, body: bytes, content_type: str = "application/json"):
        def app(environ, start_response):
            if when(environ):
                start_response(f"{status} Failed", [("Content-Type", content_type)])
                return [body]
            return sandbox(environ, start_response)

        install(app)

    return fail


@pytest.fixture
def one_server_down(postmark_fails_when):
    """Postmark down for maintenance (503, ErrorCode 100) for one token's server only."""
    maintenance = json.dumps({"ErrorCode": 100, "Message": MESSAGES[100]}).encode()
    return lambda token: postmark_fails_when(lambda environ: environ.get("HTTP_X_POSTMARK_SERVER_TOKEN") == token,
                                             503, maintenance)


@pytest.fixture
def postmark_forgets_token_a(sandbox):
    """Postmark after the token of Acme Production was deleted there (a sandbox that never heard of it)."""
    installed = []

    def forget():
        installed.append(install(Sandbox()))

    yield forget
    if installed:
        install(installed[0])


def break_the_token(server: Server) -> Server:
    Server.objects.filter(pk=server.pk).update(token_ciphertext="v1.test2.bm90LWEtdG9rZW4")
    return Server.objects.get(pk=server.pk)


# --- stream_list ----------------------------------------------------------------------------------


def test_a_server_s_streams_are_listed_by_name_without_the_archived_ones(streams_of_a):
    listing = stream_list(server=streams_of_a)

    assert ids(listing.streams) == ["billing-news", "broadcast", "inbound", "outbound", "password-resets"]
    assert (listing.stream_type, listing.include_archived, listing.search, listing.sort) == ("all", False, "", "name")
    assert not listing.is_filtered


@pytest.mark.parametrize("stream_type, expected", [
    ("transactional", ["outbound", "password-resets"]),
    ("broadcasts", ["billing-news", "broadcast"]),
    ("inbound", ["inbound"]),
    ("all", ["billing-news", "broadcast", "inbound", "outbound", "password-resets"]),
])
def test_the_list_shows_only_the_type_asked_for(streams_of_a, stream_type, expected):
    listing = stream_list(server=streams_of_a, stream_type=stream_type)

    assert ids(listing.streams) == expected
    assert listing.stream_type == stream_type
    assert listing.is_filtered == (stream_type != "all")


def test_archived_streams_are_listed_when_asked_for_and_keep_their_purge_date(streams_of_a, sandbox):
    listing = stream_list(server=streams_of_a, stream_type="broadcasts", include_archived=True)

    assert ids(listing.streams) == ["billing-news", "broadcast", "newsletter"]
    newsletter = listing.streams[-1]
    assert newsletter.is_archived
    assert newsletter.expected_purge_date - newsletter.archived_at == timedelta(days=45)


@pytest.mark.parametrize("search, expected", [
    ("password-res", ["password-resets"]),                        # part of an ID
    ("billing NEWS", ["billing-news"]),                           # the name, in any case
    ("reminders monthly", ["billing-news"]),                      # description words, in any order
    ("default stream", ["broadcast", "inbound", "outbound"]),     # every word must match somewhere
    ("default billing", []),
    ("  reset    links  ", ["password-resets"]),                  # spaces do not matter
])
def test_the_search_looks_at_id_name_and_description_and_needs_every_word(streams_of_a, search, expected):
    listing = stream_list(server=streams_of_a, search=search)

    assert ids(listing.streams) == expected
    assert listing.search == " ".join(search.split())
    assert listing.is_filtered


def test_the_search_finds_archived_streams_only_when_archived_ones_are_included(streams_of_a):
    assert ids(stream_list(server=streams_of_a, search="newsletter").streams) == []
    assert ids(stream_list(server=streams_of_a, search="newsletter", include_archived=True).streams) == ["newsletter"]


@pytest.mark.parametrize("sort, expected", [
    ("name", ["billing-news", "broadcast", "inbound", "outbound", "newsletter", "password-resets"]),
    ("type", ["billing-news", "broadcast", "newsletter", "inbound", "outbound", "password-resets"]),
    ("created", ["broadcast", "inbound", "outbound", "billing-news", "password-resets", "newsletter"]),
])
def test_the_list_sorts_by_name_type_or_creation(streams_of_a, sort, expected):
    listing = stream_list(server=streams_of_a, include_archived=True, sort=sort)

    assert ids(listing.streams) == expected
    assert listing.sort == sort


def test_unknown_filter_and_sort_values_fall_back_to_everything_by_name(streams_of_a):
    listing = stream_list(server=streams_of_a, stream_type="'; drop table", sort="price", search=None)

    assert (listing.stream_type, listing.sort, listing.search) == ("all", "name", "")
    assert ids(listing.streams) == ["billing-news", "broadcast", "inbound", "outbound", "password-resets"]


def test_a_search_is_cut_at_a_hundred_characters(streams_of_a):
    assert stream_list(server=streams_of_a, search="x" * 500).search == "x" * 100


def test_counts_and_slots_cover_the_whole_server_whatever_the_filter(streams_of_a):
    listing = stream_list(server=streams_of_a, stream_type="inbound", search="inbound")

    assert ids(listing.streams) == ["inbound"]
    assert dict(listing.counts) == {"transactional": 2, "broadcasts": 2, "inbound": 1}
    assert (listing.archived_count, listing.slots_used, listing.total, listing.slots_left) == (1, 6, 6, 4)


def test_slots_left_follow_the_limit_postmark_support_raised(streams_of_a):
    Server.objects.filter(pk=streams_of_a.pk).update(stream_limit=25)
    streams_of_a.refresh_from_db()

    assert stream_list(server=streams_of_a).slots_left == 19


def test_listing_makes_one_postmark_call_however_it_is_filtered(streams_of_a, postmark_log):
    stream_list(server=streams_of_a, stream_type="broadcasts", include_archived=True, search="news", sort="type")

    assert len(postmark_log()) == 1
    assert "IncludeArchivedStreams" not in postmark_log()[0]  # the query string is not logged, only the path
    assert postmark_log()[0].startswith("Postmark GET /message-streams -> 200")


# --- stream_get -----------------------------------------------------------------------------------


def test_a_stream_is_read_with_every_field_postmark_gives(streams_of_a):
    stream = stream_get(server=streams_of_a, stream_id="billing-news")

    assert (stream.id, stream.name, stream.stream_type) == ("billing-news", "Billing news", StreamType.BROADCASTS)
    assert stream.description == "Monthly invoices and payment reminders for customers"
    assert stream.unsubscribe_handling == UnsubscribeHandling.POSTMARK
    assert stream.server_id == streams_of_a.postmark_server_id
    assert (stream.archived_at, stream.expected_purge_date, stream.updated_at) == (None, None, None)


def test_an_archived_stream_is_still_read(streams_of_a):
    stream = stream_get(server=streams_of_a, stream_id="newsletter")

    assert stream.is_archived and stream.expected_purge_date is not None


def test_a_stream_postmark_does_not_have_is_gone(server_a):
    with pytest.raises(StreamGone) as gone:
        stream_get(server=server_a, stream_id="no-such-stream")

    assert gone.value.message == ("Postmark has no stream with this ID on this server any more. It may have been "
                                  "deleted after its archive period, or removed in Postmark.")
    assert not AuditEvent.objects.filter(target_type="stream").exists()


# --- team_overview --------------------------------------------------------------------------------


@pytest.fixture
def three_servers(admin, team_a, streams_of_a, sandbox):
    sandbox.add_server(SPARE_TOKEN, name="Acme Marketing")
    marketing = server_connect(actor=admin, team=team_a, name="Acme Marketing", token=SPARE_TOKEN, sandbox=True)
    sandbox.add_server(STAGING_TOKEN, name="Acme Staging", legacy=True)
    staging = server_connect(actor=admin, team=team_a, name="Acme Staging", token=STAGING_TOKEN, sandbox=True)
    return streams_of_a, marketing, staging


def test_the_overview_counts_every_server_s_streams(three_servers, team_a, postmark_log):
    production, marketing, staging = three_servers
    postmark_log.clear()

    overview = team_overview(team=team_a)

    assert [summary.server for summary in overview.servers] == [marketing, production, staging]
    assert all(summary.trouble is None for summary in overview.servers)
    counts = {summary.server.name: (dict(summary.streams.counts), summary.streams.archived_count,
                                    summary.streams.slots_used) for summary in overview.servers}
    assert counts == {
        "Acme Marketing": ({"transactional": 1, "broadcasts": 1, "inbound": 1}, 0, 3),
        "Acme Production": ({"transactional": 2, "broadcasts": 2, "inbound": 1}, 1, 6),
        "Acme Staging": ({"transactional": 1, "inbound": 1}, 0, 2),
    }
    assert len(postmark_log("GET")) == 3
    assert len(postmark_log()) == 3


def test_one_server_s_trouble_leaves_the_others_on_the_overview(three_servers, team_a, one_server_down):
    production, marketing, staging = three_servers
    one_server_down(SPARE_TOKEN)

    overview = team_overview(team=team_a)

    by_name = {summary.server.name: summary for summary in overview.servers}
    assert by_name["Acme Marketing"].streams is None
    assert by_name["Acme Marketing"].trouble.kind == "unavailable"
    assert by_name["Acme Marketing"].trouble.message == (
        "Postmark isn't answering for Acme Marketing right now (it may be slow or down). Try again in a minute; "
        "nothing was changed.")
    assert by_name["Acme Production"].trouble is None and by_name["Acme Production"].streams.total == 6
    assert by_name["Acme Staging"].trouble is None and by_name["Acme Staging"].streams.total == 2
    assert [(server.name, stream.id) for server, stream in overview.purging] == [("Acme Production", "newsletter")]


def test_the_overview_lists_archived_streams_of_every_server_soonest_purge_first(three_servers, team_a, sandbox):
    production, marketing, staging = three_servers
    spare = PostmarkClient(SPARE_TOKEN, base_url=SANDBOX_URL)
    spare.create_stream(id="spring-sale", name="Spring sale", stream_type="Broadcasts")
    spare.archive_stream("spring-sale")
    spare.archive_stream("broadcast")
    sandbox.backdate_archive(SPARE_TOKEN, "spring-sale", days=40)
    sandbox.backdate_archive(TOKEN_A, "newsletter", days=10)

    overview = team_overview(team=team_a)

    assert [(server.name, stream.id) for server, stream in overview.purging] == [
        ("Acme Marketing", "spring-sale"), ("Acme Production", "newsletter"), ("Acme Marketing", "broadcast")]
    purge_dates = [stream.expected_purge_date for _, stream in overview.purging]
    assert purge_dates == sorted(purge_dates)


def test_the_overview_of_a_team_without_servers_is_empty(team_a, sandbox, postmark_log):
    overview = team_overview(team=team_a)

    assert (overview.servers, overview.purging) == ([], [])
    assert postmark_log() == []


def test_the_overview_notes_a_rejected_token_and_an_unreadable_one(three_servers, team_a, sandbox):
    production, marketing, staging = three_servers
    break_the_token(staging)
    sandbox.reset()
    sandbox.add_server(TOKEN_A, name="Acme Production")

    overview = team_overview(team=team_a)

    kinds = {summary.server.name: summary.trouble and summary.trouble.kind for summary in overview.servers}
    assert kinds == {"Acme Marketing": "token_rejected", "Acme Production": None, "Acme Staging": "token_unreadable"}
    assert Server.objects.get(pk=marketing.pk).token_rejected_at is not None
    assert Server.objects.get(pk=production.pk).token_rejected_at is None


# --- stream_ids_on_server -------------------------------------------------------------------------


def test_the_ids_in_use_are_asked_of_postmark_once_then_kept(streams_of_a, postmark_log):
    postmark_log.clear()

    first = stream_ids_on_server(server=streams_of_a)
    second = stream_ids_on_server(server=streams_of_a)

    assert first == second == ["billing-news", "broadcast", "inbound", "newsletter", "outbound", "password-resets"]
    assert len(postmark_log("GET")) == 1


def test_a_list_page_leaves_the_ids_ready_for_the_create_check(streams_of_a, postmark_log):
    stream_list(server=streams_of_a)
    postmark_log.clear()

    assert "newsletter" in stream_ids_on_server(server=streams_of_a)
    assert postmark_log() == []


def test_a_new_stream_is_among_the_ids_in_use_at_once_without_asking_postmark(streams_of_a, editor, team_a,
                                                                              postmark_log):
    stream_ids_on_server(server=streams_of_a)
    stream_create(actor=editor, team=team_a, server=streams_of_a, stream_id="receipts", name="Receipts",
                  stream_type="Transactional")
    postmark_log.clear()

    assert "receipts" in stream_ids_on_server(server=streams_of_a)
    assert postmark_log("GET") == []


def test_the_ids_in_use_are_unknown_while_postmark_is_down(server_a, sandbox):
    sandbox.set_faults(status=503)

    assert stream_ids_on_server(server=server_a) is None


# --- stream_create --------------------------------------------------------------------------------


def test_an_editor_creates_a_broadcasts_stream_and_it_is_recorded(server_a, editor, team_a, postmark):
    stream = stream_create(actor=editor, team=team_a, server=server_a, stream_id="billing-news", name="Billing news",
                           stream_type="Broadcasts", description="Invoices and reminders")

    assert (stream.id, stream.name, stream.stream_type) == ("billing-news", "Billing news", StreamType.BROADCASTS)
    assert stream.unsubscribe_handling == UnsubscribeHandling.POSTMARK
    assert postmark.get_stream("billing-news").description == "Invoices and reminders"
    assert event_fields(the_event("stream.create")) == expected_event(
        "stream.create", "success", editor, team_a, server_a, "billing-news",
        changes={"name": [None, "Billing news"], "type": [None, "Broadcasts"],
                 "description": [None, "Invoices and reminders"], "unsubscribe_handling": [None, "Postmark"]})


def test_a_transactional_stream_gets_no_unsubscribe_handling_and_an_empty_description(server_a, admin, team_a,
                                                                                       postmark):
    stream = stream_create(actor=admin, team=team_a, server=server_a, stream_id="receipts", name="Receipts",
                           stream_type="Transactional")

    assert stream.unsubscribe_handling == UnsubscribeHandling.NONE
    assert postmark.get_stream("receipts").description is None
    assert the_event("stream.create").changes == {
        "name": [None, "Receipts"], "type": [None, "Transactional"], "description": [None, ""],
        "unsubscribe_handling": [None, "None"]}


def test_custom_unsubscribe_handling_works_once_postmark_support_allowed_it(server_a, owner, team_a, sandbox):
    sandbox.grant_custom_unsubscribe(TOKEN_A)

    stream = stream_create(actor=owner, team=team_a, server=server_a, stream_id="offers", name="Offers",
                           stream_type="Broadcasts", unsubscribe_handling="Custom")

    assert stream.unsubscribe_handling == UnsubscribeHandling.CUSTOM
    assert the_event("stream.create").outcome == "success"


LONG_NAME = "n" * 101
LONG_DESCRIPTION = "Long. " * 167


# (code, what is sent, the field the refusal belongs on, words the person reads there)
CREATE_REFUSALS = [
    (1222, {"stream_id": ""}, "stream_id", "Give the stream an ID"),
    (1237, {"stream_id": "all"}, "stream_id", "“all” is a word Postmark keeps for itself"),
    (1233, {"stream_id": "pm-billing"}, "stream_id", "IDs starting with “pm-” are kept for Postmark"),
    (1227, {"stream_id": "Billing News!"}, "stream_id", "An ID starts with a letter"),
    (1227, {"stream_id": "9-lives"}, "stream_id", "An ID starts with a letter"),
    (1227, {"stream_id": "a" * 31}, "stream_id", "up to 30 characters"),
    (1230, {"stream_id": "outbound"}, "stream_id", "already has a stream with this ID"),
    (1223, {"name": "   "}, "name", "Give the stream a name"),
    (1224, {"name": LONG_NAME}, "name", "at most 100 characters"),
    (1231, {"description": LONG_DESCRIPTION}, "description", "at most 1000 characters"),
    (1234, {"description": "<b>Big</b> news"}, "description", "cannot contain “<” or “>”"),
    (1221, {"stream_type": "Marketing"}, "stream_type", "Choose Transactional or Broadcasts"),
    (1228, {"stream_type": "Inbound"}, "stream_type", "exactly one inbound stream"),
    (1239, {"unsubscribe_handling": "Postmark"}, "unsubscribe_handling", "Only Broadcasts streams handle"),
    (1238, {"stream_type": "Broadcasts", "unsubscribe_handling": "Custom"}, "unsubscribe_handling",
     "must first be turned on for your Postmark account"),
]


@pytest.mark.parametrize("code, sent, field, words", CREATE_REFUSALS,
                         ids=[f"{code}-{next(iter(sent))}" for code, sent, _, _ in CREATE_REFUSALS])
def test_each_refusal_of_a_new_stream_is_explained_on_its_field_and_recorded_with_postmark_s_code(
    server_a, editor, team_a, postmark, postmark_log, code, sent, field, words
):
    wanted = {"stream_id": "receipts", "name": "Receipts", "stream_type": "Transactional", "description": "",
              **sent}
    postmark_log.clear()

    with pytest.raises(ServiceError) as refused:
        stream_create(actor=editor, team=team_a, server=server_a, **wanted)

    assert (refused.value.field, type(refused.value)) == (field, ServiceError)
    assert words in refused.value.message
    assert len(postmark_log("POST")) == 1
    handling = sent.get("unsubscribe_handling") or ("Postmark" if wanted["stream_type"] == "Broadcasts" else "None")
    assert event_fields(the_event("stream.create")) == expected_event(
        "stream.create", "refused", editor, team_a, server_a, wanted["stream_id"],
        changes={"name": [None, wanted["name"]], "type": [None, wanted["stream_type"]],
                 "description": [None, wanted["description"]], "unsubscribe_handling": [None, handling]},
        detail=f"Postmark code {code}: {MESSAGES[code]}")
    assert sorted(ids(postmark.list_streams(include_archived=True))) == ["broadcast", "inbound", "outbound"]


def test_a_server_without_free_slots_refuses_a_new_stream_for_the_whole_form(sandbox, admin, team_a, postmark_log):
    sandbox.add_server(SPARE_TOKEN, name="Acme Small", max_streams=4)
    small = server_connect(actor=admin, team=team_a, name="Acme Small", token=SPARE_TOKEN, sandbox=True)
    stream_create(actor=admin, team=team_a, server=small, stream_id="receipts", name="Receipts",
                  stream_type="Transactional")

    with pytest.raises(ServiceError) as refused:
        stream_create(actor=admin, team=team_a, server=small, stream_id="offers", name="Offers",
                      stream_type="Broadcasts")

    assert refused.value.field is None
    assert refused.value.message.startswith("This server has no free stream slots: every one is used, archived "
                                            "streams included.")
    event = AuditEvent.objects.filter(action="stream.create").first()
    assert (event.outcome, event.target_id, event.detail) == (
        "refused", f"{small.pk}/offers", f"Postmark code 1225: {MESSAGES[1225]}")


def test_a_viewer_cannot_create_a_stream_and_the_attempt_is_recorded(server_a, viewer, team_a, postmark,
                                                                      postmark_log):
    postmark_log.clear()

    with pytest.raises(ServiceError) as denied:
        stream_create(actor=viewer, team=team_a, server=server_a, stream_id="receipts", name="Receipts",
                      stream_type="Transactional")

    assert denied.value.message == ("Creating a stream needs the Editor role or higher. Ask an admin of your team "
                                    "if you need it.")
    assert postmark_log() == []
    assert "receipts" not in ids(postmark.list_streams())
    assert event_fields(the_event("stream.create")) == expected_event(
        "stream.create", "denied", viewer, team_a, server_a, "receipts",
        changes={"name": [None, "Receipts"], "type": [None, "Transactional"], "description": [None, ""],
                 "unsubscribe_handling": [None, "None"]},
        detail="Creating a stream needs the Editor role or higher.")


def test_someone_who_left_the_team_cannot_create_a_stream(server_a, outsider, team_a, postmark_log):
    postmark_log.clear()

    with pytest.raises(ServiceError) as refused:
        stream_create(actor=outsider, team=team_a, server=server_a, stream_id="receipts", name="Receipts",
                      stream_type="Transactional")

    assert refused.value.message == "You are no longer a member of this team."
    assert postmark_log() == []


# --- stream_edit ----------------------------------------------------------------------------------


def seen_now(server, stream_id):
    """What the edit form saw when it was opened now, through its signed snapshot."""
    return read_snapshot(stream_snapshot(stream_get(server=server, stream_id=stream_id)), stream_id=stream_id)


def test_an_edit_saves_and_records_only_the_fields_that_changed(streams_of_a, editor, team_a, postmark):
    seen = seen_now(streams_of_a, "billing-news")

    stream = stream_edit(actor=editor, team=team_a, server=streams_of_a, stream_id="billing-news", seen=seen,
                         name="Billing and payments", description=seen["description"],
                         unsubscribe_handling="Postmark")

    assert stream.name == "Billing and payments" and stream.updated_at is not None
    assert postmark.get_stream("billing-news").name == "Billing and payments"
    assert event_fields(the_event("stream.edit")) == expected_event(
        "stream.edit", "success", editor, team_a, streams_of_a, "billing-news",
        changes={"name": ["Billing news", "Billing and payments"]})


def test_an_edit_can_set_and_clear_a_description_and_change_the_handling(streams_of_a, editor, team_a, postmark,
                                                                         sandbox):
    sandbox.grant_custom_unsubscribe(TOKEN_A)
    seen = seen_now(streams_of_a, "broadcast")

    stream_edit(actor=editor, team=team_a, server=streams_of_a, stream_id="broadcast", seen=seen,
                name="Default Broadcast Stream", description="Product news", unsubscribe_handling="Custom")
    stream_edit(actor=editor, team=team_a, server=streams_of_a, stream_id="broadcast",
                seen=seen_now(streams_of_a, "broadcast"), name="Default Broadcast Stream", description="",
                unsubscribe_handling="Custom")

    stream = postmark.get_stream("broadcast")
    assert (stream.description or "", stream.unsubscribe_handling) == ("", UnsubscribeHandling.CUSTOM)
    assert [event.changes for event in AuditEvent.objects.filter(action="stream.edit").order_by("id")] == [
        {"description": ["", "Product news"], "unsubscribe_handling": ["Postmark", "Custom"]},
        {"description": ["Product news", ""]},
    ]


def test_an_edit_that_changes_nothing_asks_postmark_nothing_and_records_nothing(streams_of_a, editor, team_a,
                                                                                postmark_log):
    seen = seen_now(streams_of_a, "billing-news")
    postmark_log.clear()

    stream = stream_edit(actor=editor, team=team_a, server=streams_of_a, stream_id="billing-news", seen=seen,
                         name="Billing news", description=seen["description"], unsubscribe_handling="Postmark")

    assert stream.name == "Billing news" and stream.updated_at is None
    assert postmark_log("PATCH") == []
    assert not AuditEvent.objects.filter(action="stream.edit").exists()


def test_an_edit_is_refused_when_the_stream_changed_in_postmark_since_the_form_was_opened(
    streams_of_a, editor, team_a, postmark, postmark_log
):
    seen = seen_now(streams_of_a, "billing-news")
    postmark.edit_stream("billing-news", name="Invoices", description=None)
    postmark_log.clear()

    with pytest.raises(StreamChanged) as conflict:
        stream_edit(actor=editor, team=team_a, server=streams_of_a, stream_id="billing-news", seen=seen,
                    name="Billing and payments", description=seen["description"], unsubscribe_handling="Postmark")

    assert conflict.value.message.startswith("Someone changed this stream in Postmark after you opened the form, "
                                             "so nothing was saved.")
    assert conflict.value.changes == {"name": ("Billing news", "Invoices"),
                                      "description": ("Monthly invoices and payment reminders for customers", "")}
    assert conflict.value.current.name == "Invoices"
    assert postmark_log("PATCH") == []
    assert postmark.get_stream("billing-news").name == "Invoices"
    assert event_fields(the_event("stream.edit")) == expected_event(
        "stream.edit", "refused", editor, team_a, streams_of_a, "billing-news",
        detail="The stream changed in Postmark after the form was opened (name, description); nothing was saved.")


def test_an_edit_without_a_readable_snapshot_is_treated_as_a_conflict(streams_of_a, editor, team_a, postmark):
    assert read_snapshot("forged", stream_id="billing-news") is None
    assert read_snapshot(stream_snapshot(postmark.get_stream("broadcast")), stream_id="billing-news") is None

    with pytest.raises(StreamChanged) as conflict:
        stream_edit(actor=editor, team=team_a, server=streams_of_a, stream_id="billing-news", seen=None,
                    name="Billing and payments", description="", unsubscribe_handling="Postmark")

    assert conflict.value.changes == {
        "name": (None, "Billing news"),
        "description": (None, "Monthly invoices and payment reminders for customers"),
        "unsubscribe_handling": (None, "Postmark"),
    }
    assert postmark.get_stream("billing-news").name == "Billing news"
    assert the_event("stream.edit").outcome == "refused"


EDIT_REFUSALS = [
    (1223, {"name": ""}, "name", "Give the stream a name"),
    (1224, {"name": LONG_NAME}, "name", "at most 100 characters"),
    (1231, {"description": LONG_DESCRIPTION}, "description", "at most 1000 characters"),
    (1234, {"description": "a <script>"}, "description", "cannot contain “<” or “>”"),
    (1238, {"unsubscribe_handling": "Custom"}, "unsubscribe_handling", "must first be turned on"),
    (1239, {"unsubscribe_handling": "None"}, "unsubscribe_handling", "Only Broadcasts streams handle"),
]


@pytest.mark.parametrize("code, sent, field, words", EDIT_REFUSALS, ids=[str(row[0]) for row in EDIT_REFUSALS])
def test_each_refusal_of_an_edit_is_explained_on_its_field_and_recorded(streams_of_a, editor, team_a, postmark,
                                                                         code, sent, field, words):
    seen = seen_now(streams_of_a, "billing-news")
    wanted = {**seen, **sent}

    with pytest.raises(ServiceError) as refused:
        stream_edit(actor=editor, team=team_a, server=streams_of_a, stream_id="billing-news", seen=seen, **wanted)

    assert refused.value.field == field and words in refused.value.message
    assert postmark.get_stream("billing-news").name == "Billing news"
    (key, value), = sent.items()
    assert event_fields(the_event("stream.edit")) == expected_event(
        "stream.edit", "refused", editor, team_a, streams_of_a, "billing-news", changes={key: [seen[key], value]},
        detail=f"Postmark code {code}: {MESSAGES[code]}")


def test_editing_a_stream_postmark_no_longer_has_says_it_is_gone(server_a, editor, team_a):
    with pytest.raises(StreamGone) as gone:
        stream_edit(actor=editor, team=team_a, server=server_a, stream_id="purged", seen=None, name="Purged",
                    description="", unsubscribe_handling="None")

    assert "may have been deleted after its archive period" in gone.value.message
    assert event_fields(the_event("stream.edit")) == expected_event(
        "stream.edit", "refused", editor, team_a, server_a, "purged",
        detail=f"Postmark code 1226: {MESSAGES[1226]}")


def test_a_viewer_cannot_edit_a_stream(streams_of_a, viewer, team_a, postmark, postmark_log):
    seen = seen_now(streams_of_a, "billing-news")
    postmark_log.clear()

    with pytest.raises(ServiceError) as denied:
        stream_edit(actor=viewer, team=team_a, server=streams_of_a, stream_id="billing-news", seen=seen,
                    name="Mine now", description="", unsubscribe_handling="Postmark")

    assert denied.value.message.startswith("Editing a stream needs the Editor role or higher.")
    assert postmark_log() == []
    assert postmark.get_stream("billing-news").name == "Billing news"
    assert event_fields(the_event("stream.edit")) == expected_event(
        "stream.edit", "denied", viewer, team_a, streams_of_a, "billing-news",
        detail="Editing a stream needs the Editor role or higher.")


# --- stream_archive -------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["", "billing", "Billing-News", "newsletter"])
def test_archiving_needs_the_stream_s_id_typed_exactly(streams_of_a, editor, team_a, postmark, postmark_log, typed):
    postmark_log.clear()

    with pytest.raises(ServiceError) as refused:
        stream_archive(actor=editor, team=team_a, server=streams_of_a, stream_id="billing-news", confirmation=typed)

    assert refused.value.field == "confirmation"
    assert refused.value.message == "Type the stream's ID, billing-news, exactly as shown, to confirm."
    assert postmark_log() == []
    assert not postmark.get_stream("billing-news").is_archived


@pytest.mark.parametrize("stream_id, words", [
    ("outbound", "This is the server's default transactional stream. Postmark never archives it"),
    ("inbound", "This is the server's inbound stream. Postmark never archives it"),
])
def test_the_default_transactional_and_inbound_streams_are_never_archived(server_a, editor, team_a, postmark,
                                                                          postmark_log, stream_id, words):
    postmark_log.clear()

    with pytest.raises(ServiceError) as refused:
        stream_archive(actor=editor, team=team_a, server=server_a, stream_id=stream_id, confirmation=stream_id)

    assert refused.value.message.startswith(words) and refused.value.field is None
    assert postmark_log() == []
    assert not postmark.get_stream(stream_id).is_archived
    assert event_fields(the_event("stream.archive")) == expected_event(
        "stream.archive", "refused", editor, team_a, server_a, stream_id,
        changes={"state": ["active", "archived"]}, detail="A default stream that Postmark never archives.")


def test_archiving_a_stream_records_when_postmark_will_delete_it(streams_of_a, editor, team_a, postmark, sandbox):
    before = sandbox.now()

    result = stream_archive(actor=editor, team=team_a, server=streams_of_a, stream_id="billing-news",
                            confirmation=" billing-news ")

    assert result.id == "billing-news"
    assert abs(result.expected_purge_date - before - timedelta(days=45)) <= timedelta(seconds=2)
    assert postmark.get_stream("billing-news").is_archived
    assert event_fields(the_event("stream.archive")) == expected_event(
        "stream.archive", "success", editor, team_a, streams_of_a, "billing-news",
        changes={"state": ["active", "archived"], "purge_date": [None, result.expected_purge_date.isoformat()]})


def test_archiving_a_stream_postmark_no_longer_has_says_it_is_gone(server_a, editor, team_a):
    with pytest.raises(StreamGone):
        stream_archive(actor=editor, team=team_a, server=server_a, stream_id="purged", confirmation="purged")

    assert the_event("stream.archive").detail == f"Postmark code 1226: {MESSAGES[1226]}"


def test_a_viewer_cannot_archive_a_stream(streams_of_a, viewer, team_a, postmark, postmark_log):
    postmark_log.clear()

    with pytest.raises(ServiceError) as denied:
        stream_archive(actor=viewer, team=team_a, server=streams_of_a, stream_id="billing-news",
                       confirmation="billing-news")

    assert denied.value.message.startswith("Archiving a stream needs the Editor role or higher.")
    assert postmark_log() == [] and not postmark.get_stream("billing-news").is_archived
    assert event_fields(the_event("stream.archive")) == expected_event(
        "stream.archive", "denied", viewer, team_a, streams_of_a, "billing-news",
        changes={"state": ["active", "archived"]}, detail="Archiving a stream needs the Editor role or higher.")


# --- stream_restore -------------------------------------------------------------------------------


def test_an_archived_stream_is_restored_before_its_purge_date(streams_of_a, editor, team_a, postmark, sandbox):
    sandbox.advance_clock(days=44)

    stream = stream_restore(actor=editor, team=team_a, server=streams_of_a, stream_id="newsletter")

    assert not stream.is_archived and stream.expected_purge_date is None
    assert "newsletter" in ids(postmark.list_streams())
    assert event_fields(the_event("stream.restore")) == expected_event(
        "stream.restore", "success", editor, team_a, streams_of_a, "newsletter",
        changes={"state": ["archived", "active"]})


def test_after_the_purge_date_restoring_says_postmark_has_deleted_the_stream(streams_of_a, editor, team_a, sandbox):
    sandbox.advance_clock(days=46)

    with pytest.raises(StreamGone) as gone:
        stream_restore(actor=editor, team=team_a, server=streams_of_a, stream_id="newsletter")

    assert gone.value.message == ("Postmark has deleted the stream newsletter: its 45 days in the archive are over, "
                                  "so it can no longer be restored. Create a new stream if you need one.")
    assert event_fields(the_event("stream.restore")) == expected_event(
        "stream.restore", "refused", editor, team_a, streams_of_a, "newsletter",
        changes={"state": ["archived", "active"]}, detail=f"Postmark code 1232: {MESSAGES[1232]}")


def test_restoring_a_stream_that_is_not_archived_says_so(streams_of_a, editor, team_a):
    with pytest.raises(ServiceError) as refused:
        stream_restore(actor=editor, team=team_a, server=streams_of_a, stream_id="billing-news")

    assert type(refused.value) is ServiceError
    assert refused.value.message == "Billing news is not archived, so there is nothing to restore."
    assert the_event("stream.restore").outcome == "refused"


def test_a_viewer_cannot_restore_a_stream(streams_of_a, viewer, team_a, postmark, postmark_log):
    postmark_log.clear()

    with pytest.raises(ServiceError) as denied:
        stream_restore(actor=viewer, team=team_a, server=streams_of_a, stream_id="newsletter")

    assert denied.value.message.startswith("Restoring a stream needs the Editor role or higher.")
    assert postmark_log() == [] and postmark.get_stream("newsletter").is_archived
    assert event_fields(the_event("stream.restore")) == expected_event(
        "stream.restore", "denied", viewer, team_a, streams_of_a, "newsletter",
        changes={"state": ["archived", "active"]}, detail="Restoring a stream needs the Editor role or higher.")


# --- Trouble with Postmark ------------------------------------------------------------------------

UNAVAILABLE_FOR_A = ("Postmark isn't answering for Acme Production right now (it may be slow or down). Try again in "
                     "a minute; nothing was changed.")
RATE_LIMITED = "Postmark asked us to slow down. Wait a few seconds and try again."

MAYBE_DONE_ON_A = ("Postmark stopped answering for Acme Production before saying whether this went through. Check "
                   "the server's streams before trying again.")

# fault -> (sandbox faults, kind, what a read says, what a write says)
FAULTS = {
    "429": ({"status": 429}, "rate_limited", RATE_LIMITED, RATE_LIMITED),
    # Postmark's own words (ErrorCode 101 / 100): it did not do it.
    "500": ({"status": 500}, "unavailable", UNAVAILABLE_FOR_A, UNAVAILABLE_FOR_A),
    "503": ({"status": 503}, "unavailable", UNAVAILABLE_FOR_A, UNAVAILABLE_FOR_A),
    # No answer from Postmark itself: a write may have been done.
    "502 html": ({"status": 502, "body": "html"}, "unavailable", UNAVAILABLE_FOR_A, MAYBE_DONE_ON_A),
    "503 empty": ({"status": 503, "body": "empty"}, "unavailable", UNAVAILABLE_FOR_A, MAYBE_DONE_ON_A),
    "hang": ({"hang": True}, "unavailable", UNAVAILABLE_FOR_A, MAYBE_DONE_ON_A),
}


@pytest.fixture
def fast_timeout(settings):
    settings.POSTMARK_READ_TIMEOUT = 0.3


@pytest.mark.parametrize("fault", FAULTS)
def test_each_failure_to_read_is_postmark_trouble_of_its_kind(streams_of_a, sandbox, fast_timeout, fault):
    faults, kind, message, _ = FAULTS[fault]
    sandbox.set_faults(**faults)

    with pytest.raises(PostmarkTrouble) as listing_trouble:
        stream_list(server=streams_of_a)
    with pytest.raises(PostmarkTrouble) as stream_trouble:
        stream_get(server=streams_of_a, stream_id="inbound")

    assert (listing_trouble.value.kind, listing_trouble.value.message) == (kind, message)
    assert (stream_trouble.value.kind, stream_trouble.value.message) == (kind, message)
    assert not AuditEvent.objects.filter(target_type="stream").exists()


@pytest.mark.parametrize("fault", FAULTS)
def test_each_failure_to_write_is_postmark_trouble_and_recorded_as_failed(streams_of_a, editor, team_a, sandbox,
                                                                          fast_timeout, fault):
    faults, kind, _, message = FAULTS[fault]
    sandbox.set_faults(**faults)

    with pytest.raises(PostmarkTrouble) as trouble:
        stream_restore(actor=editor, team=team_a, server=streams_of_a, stream_id="newsletter")

    assert (trouble.value.kind, trouble.value.message) == (kind, message)
    assert event_fields(the_event("stream.restore")) == expected_event(
        "stream.restore", "failed", editor, team_a, streams_of_a, "newsletter",
        changes={"state": ["archived", "active"]}, detail=message)


def test_a_write_postmark_refused_for_maintenance_did_not_go_through(streams_of_a, editor, team_a, sandbox, postmark):
    sandbox.set_faults(status=503, times=1)

    with pytest.raises(PostmarkTrouble) as trouble:
        stream_archive(actor=editor, team=team_a, server=streams_of_a, stream_id="billing-news",
                       confirmation="billing-news")

    assert trouble.value.message == UNAVAILABLE_FOR_A
    assert not postmark.get_stream("billing-news").is_archived


def test_a_write_that_got_no_answer_says_it_may_have_gone_through(streams_of_a, editor, team_a, sandbox,
                                                                   fast_timeout, postmark):
    sandbox.set_faults(hang=True)

    with pytest.raises(PostmarkTrouble) as trouble:
        stream_create(actor=editor, team=team_a, server=streams_of_a, stream_id="receipts", name="Receipts",
                      stream_type="Transactional")

    assert (trouble.value.kind, trouble.value.message) == ("unavailable", MAYBE_DONE_ON_A)
    event = the_event("stream.create")
    assert (event.outcome, event.detail) == ("failed", MAYBE_DONE_ON_A)
    sandbox.clear_faults()  # the hanging request now reaches Postmark: it did go through after all
    for _ in range(50):
        if "receipts" in ids(postmark.list_streams()):
            break
        time.sleep(0.02)
    assert "receipts" in ids(postmark.list_streams())


def test_an_edit_whose_saving_got_no_answer_says_it_may_have_gone_through(streams_of_a, editor, team_a,
                                                                           postmark_fails_when):
    seen = seen_now(streams_of_a, "billing-news")
    postmark_fails_when(lambda environ: environ["REQUEST_METHOD"] == "PATCH", 502, b"")

    with pytest.raises(PostmarkTrouble) as trouble:
        stream_edit(actor=editor, team=team_a, server=streams_of_a, stream_id="billing-news", seen=seen,
                    name="Billing and payments", description=seen["description"], unsubscribe_handling="Postmark")

    assert (trouble.value.kind, trouble.value.message) == ("unavailable", MAYBE_DONE_ON_A)
    assert event_fields(the_event("stream.edit")) == expected_event(
        "stream.edit", "failed", editor, team_a, streams_of_a, "billing-news",
        changes={"name": ["Billing news", "Billing and payments"]}, detail=MAYBE_DONE_ON_A)


def test_an_edit_whose_reading_fails_changed_nothing(streams_of_a, editor, team_a, sandbox):
    seen = seen_now(streams_of_a, "billing-news")
    sandbox.set_faults(status=500)

    with pytest.raises(PostmarkTrouble) as trouble:
        stream_edit(actor=editor, team=team_a, server=streams_of_a, stream_id="billing-news", seen=seen,
                    name="Billing and payments", description="", unsubscribe_handling="Postmark")

    assert trouble.value.message == UNAVAILABLE_FOR_A
    assert (the_event("stream.edit").outcome, the_event("stream.edit").detail) == ("failed", UNAVAILABLE_FOR_A)


def test_a_rejected_token_marks_the_server_until_postmark_accepts_it_again(streams_of_a, editor, team_a,
                                                                          postmark_forgets_token_a, sandbox):
    postmark_forgets_token_a()

    with pytest.raises(PostmarkTrouble) as trouble:
        stream_list(server=streams_of_a)
    with pytest.raises(PostmarkTrouble) as write_trouble:
        stream_archive(actor=editor, team=team_a, server=streams_of_a, stream_id="billing-news",
                       confirmation="billing-news")

    assert trouble.value.kind == write_trouble.value.kind == "token_rejected"
    assert trouble.value.message == (
        "Postmark rejected the token of Acme Production: it may have been reset or deleted in Postmark. An admin "
        "can paste the current Server API token on the server's page.")
    assert Server.objects.get(pk=streams_of_a.pk).token_rejected_at is not None
    assert (the_event("stream.archive").outcome, the_event("stream.archive").detail) == ("failed",
                                                                                       trouble.value.message)
    install(sandbox)

    stream_get(server=Server.objects.get(pk=streams_of_a.pk), stream_id="billing-news")

    assert Server.objects.get(pk=streams_of_a.pk).token_rejected_at is None


def test_an_unreadable_token_is_trouble_no_one_but_an_admin_can_fix(server_a, editor, team_a, postmark_log):
    broken = break_the_token(server_a)
    postmark_log.clear()

    with pytest.raises(PostmarkTrouble) as trouble:
        stream_list(server=broken)
    with pytest.raises(PostmarkTrouble) as write_trouble:
        stream_create(actor=editor, team=team_a, server=broken, stream_id="receipts", name="Receipts",
                      stream_type="Transactional")

    assert trouble.value.kind == write_trouble.value.kind == "token_unreadable"
    assert trouble.value.message == ("The token of Acme Production can't be read with this installation's keys, so "
                                     "Postmark can't be asked. An admin can re-enter it on the server's page.")
    assert postmark_log() == []
    assert stream_ids_on_server(server=broken) is None
    assert the_event("stream.create").outcome == "failed"


def test_no_event_message_or_log_line_ever_holds_the_token(streams_of_a, editor, team_a, sandbox, fast_timeout,
                                                            postmark_forgets_token_a, caplog):
    caplog.set_level(logging.DEBUG)
    said = []

    def attempt(call, **kwargs):
        try:
            call(actor=editor, team=team_a, server=streams_of_a, **kwargs)
        except ServiceError as error:
            said.append(error.message)
            said.append(str(error))

    attempt(stream_create, stream_id="receipts", name=TOKEN_A, stream_type="Transactional", description=TOKEN_A)
    attempt(stream_edit, stream_id="billing-news", seen=None, name="Billing", description=f"token {TOKEN_A}",
            unsubscribe_handling="Postmark")
    attempt(stream_create, stream_id="receipts", name="Receipts", stream_type="Transactional")
    attempt(stream_archive, stream_id="outbound", confirmation="outbound")
    for faults in ({"status": 429}, {"status": 502, "body": "html"}, {"hang": True}):
        sandbox.set_faults(**faults)
        attempt(stream_archive, stream_id="billing-news", confirmation="billing-news")
        attempt(stream_restore, stream_id="newsletter")
        sandbox.clear_faults()
    postmark_forgets_token_a()
    attempt(stream_restore, stream_id="newsletter")

    assert AuditEvent.objects.filter(target_type="stream").count() >= 8
    for event in AuditEvent.objects.all():
        assert TOKEN_A not in json.dumps(event_fields(event)) + event.user_agent
    assert not any(TOKEN_A in text for text in said)
    assert TOKEN_A not in caplog.text


@pytest.mark.parametrize("field", ["stream_id", "name", "description"])
def test_a_token_pasted_into_a_new_stream_s_details_never_reaches_postmark(server_a, editor, team_a, postmark,
                                                                         postmark_log, field):
    wanted = {"stream_id": "receipts", "name": "Receipts", "description": "", field: f"  {TOKEN_A} "}
    postmark_log.clear()

    with pytest.raises(ServiceError) as refused:
        stream_create(actor=editor, team=team_a, server=server_a, stream_type="Transactional", **wanted)

    assert refused.value.field == field
    assert refused.value.message == ("That looks like a Postmark server token. A token never belongs in a stream's "
                                     "details: remove it and try again.")
    assert postmark_log() == []
    assert not AuditEvent.objects.filter(target_type="stream").exists()


@pytest.mark.parametrize("field", ["name", "description"])
def test_a_token_pasted_into_an_edit_never_reaches_postmark(streams_of_a, editor, team_a, postmark, field):
    seen = seen_now(streams_of_a, "billing-news")

    with pytest.raises(ServiceError) as refused:
        stream_edit(actor=editor, team=team_a, server=streams_of_a, stream_id="billing-news", seen=seen,
                    **{**seen, field: f"Use {TOKEN_A}"})

    assert refused.value.field == field
    assert TOKEN_A not in json.dumps([postmark.get_stream("billing-news").name,
                                      postmark.get_stream("billing-news").description])


def test_a_long_hexadecimal_reference_in_a_description_is_not_taken_for_a_token(server_a, editor, team_a):
    stream = stream_create(actor=editor, team=team_a, server=server_a, stream_id="releases", name="Releases",
                           stream_type="Transactional", description="Build 3f2a9c1e0b7d4e6f8a1b2c3d4e5f6a7b")

    assert stream.description == "Build 3f2a9c1e0b7d4e6f8a1b2c3d4e5f6a7b"
