"""The suppression services: reading a stream's list, adding and removing in batches of 50 (every Failed item
reported, never as done), the audited CSV download, reactivating a bounce, and the lookup of one address
across every stream of every server, against the in-process sandbox."""

import json
import logging

import pytest

from dashboard.models import AuditEvent
from dashboard.postmark import sandbox_suppressions
from dashboard.postmark.sandbox import install
from dashboard.services import ServiceError
from dashboard.services.servers import server_connect
from streams.services import PostmarkTrouble
from streams.services_suppressions import (
    SuppressionFilters,
    address_problem,
    bounce_activate,
    parse_addresses,
    recipient_lookup,
    suppression_add,
    suppression_export,
    suppression_list,
    suppression_remove,
)
from tests.conftest import SPARE_TOKEN, TOKEN_A

pytestmark = pytest.mark.django_db


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("chain_seq"))


def addresses(count, start=0):
    return [f"person{number}@example.com" for number in range(start, start + count)]


# --- Reading -------------------------------------------------------------------------------------


def test_the_list_says_each_suppression_in_words_with_counts_by_reason(seeded):
    listing = suppression_list(server=seeded, stream_id="outbound", filters=SuppressionFilters())

    meanings = {row.email: (row.meaning, row.removable) for row in listing.rows}
    assert meanings == {
        "gone@example.com": ("Hard bounce: the address does not exist, or its mail server refuses it", True),
        "angry@example.com": ("Spam complaint: can never be removed", False),
        "bye@example.com": ("Unsubscribed by the recipient", False),
        "ours@example.com": ("Suppressed by your team (by hand or through Postmark's API)", True),
        "staff@example.com": ("Suppressed by Postmark's staff", False),
    }
    assert listing.counts == {"HardBounce": 1, "SpamComplaint": 1, "ManualSuppression": 3}
    assert listing.matching == 5


def test_the_list_filters_by_reason_origin_and_part_of_an_address(seeded):
    by_reason = suppression_list(server=seeded, stream_id="outbound",
                                 filters=SuppressionFilters(reason="ManualSuppression", origin="Customer"))
    by_search = suppression_list(server=seeded, stream_id="outbound", filters=SuppressionFilters(search="GONE"))

    assert [row.email for row in by_reason.rows] == ["ours@example.com"]
    assert [row.email for row in by_search.rows] == ["gone@example.com"]


def test_a_long_list_is_shown_a_page_at_a_time(sandbox, server_a):
    for email in addresses(12):
        sandbox_suppressions.add_suppression(sandbox, TOKEN_A, stream="outbound", email=email)

    listing = suppression_list(server=server_a, stream_id="outbound", filters=SuppressionFilters(), page=3,
                               per_page=5)

    assert (len(listing.rows), listing.matching, listing.page, listing.pages) == (2, 12, 3, 3)


@pytest.mark.parametrize("fault", [{"status": 429}, {"status": 503}, {"hang": True}])
def test_postmark_s_trouble_while_listing_is_trouble_not_an_empty_list(seeded, sandbox, settings, fault):
    settings.POSTMARK_READ_TIMEOUT = 0.3
    sandbox.set_faults(**fault)

    with pytest.raises(PostmarkTrouble):
        suppression_list(server=seeded, stream_id="outbound", filters=SuppressionFilters())


# --- Addresses as typed --------------------------------------------------------------------------


def test_pasted_addresses_are_split_on_lines_commas_and_spaces_with_duplicates_folded():
    parsed = parse_addresses("a@example.com, B@example.com\nb@example.com;  c@example.com\r\n\r\nA@EXAMPLE.COM")

    assert parsed.valid == ["a@example.com", "B@example.com", "c@example.com"]
    assert (parsed.invalid, parsed.duplicates) == ([], 2)


@pytest.mark.parametrize("typed, words", [
    ("josé@example.com", "contains “é”"),
    ("a@exämple.com", "contains “ä”"),
    ("<script>alert(1)</script>@example.com", "is not an e-mail address Postmark accepts"),
    ("x@example.com'--", "is not an e-mail address Postmark accepts"),
    ("no-at-sign.example.com", "has no “@”"),
    ("a" * 250 + "@example.com", "longer than 254 characters"),
    ("a@example.com\u200b", "contains “U+200B”"),
])
def test_addresses_postmark_would_not_take_are_explained(typed, words):
    assert words in address_problem(typed)


def test_an_injection_attempt_split_over_lines_is_refused_piece_by_piece():
    parsed = parse_addresses("ok@example.com\r\nBcc: evil@example.com")

    assert parsed.valid == ["ok@example.com", "evil@example.com"]
    assert parsed.invalid == [("Bcc:", "has no “@”, so it is not an e-mail address.")]


# --- Adding --------------------------------------------------------------------------------------


def test_two_hundred_addresses_go_in_four_batches_and_a_failed_item_is_never_reported_as_done(
        seeded, sandbox, editor, team_a):
    calls = []

    def third_batch_fails_one(environ, start_response):
        if environ["PATH_INFO"].endswith("/suppressions") and environ["REQUEST_METHOD"] == "POST":
            calls.append(environ["PATH_INFO"])
            if len(calls) == 3:
                body = json.loads(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
                items = [{"EmailAddress": item["EmailAddress"], "Status": "Suppressed", "Message": None}
                         for item in body["Suppressions"]]
                items[0] = {**items[0], "Status": "Failed", "Message": "An invalid email address was provided."}
                start_response("200 OK", [("Content-Type", "application/json")])
                return [json.dumps({"Suppressions": items}).encode()]
        return sandbox(environ, start_response)

    install(third_batch_fails_one)
    report = suppression_add(actor=editor, team=team_a, server=seeded, stream_id="outbound", emails=addresses(200))

    assert len(calls) == 4
    assert len(report.done) == 199
    assert [(item.email, item.words) for item in report.not_done] == [
        ("person100@example.com", "Postmark says this is not a valid e-mail address.")]
    outcomes = [(event.outcome, len(next(iter(event.changes.values()))[1].split(", ")))
                for event in events("suppression.add")]
    assert outcomes == [("success", 50), ("success", 50), ("success", 49), ("refused", 1), ("success", 50)]
    refused = events("suppression.add")[3]
    assert refused.changes == {"not_suppressed": [None, "person100@example.com"]}
    assert "An invalid email address was provided." in refused.detail


def test_when_postmark_stops_answering_midway_the_rest_is_not_sent_and_the_report_says_so(
        seeded, sandbox, editor, team_a, settings):
    settings.POSTMARK_READ_TIMEOUT = 0.3
    sent = []

    def second_batch_hits_a_503(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            sent.append(1)
            if len(sent) == 2:
                start_response("503 Service Unavailable", [("Content-Type", "text/html")])
                return [b"<html>down</html>"]
        return sandbox(environ, start_response)

    install(second_batch_hits_a_503)
    report = suppression_add(actor=editor, team=team_a, server=seeded, stream_id="outbound", emails=addresses(120))

    assert (len(report.done), len(report.not_done)) == (50, 70)
    assert report.trouble is not None
    assert report.not_done[0].words.startswith("Postmark stopped answering before saying whether this was done")
    assert report.not_done[-1].words.startswith("Not sent:")
    assert [event.outcome for event in events("suppression.add")] == ["success", "failed"]


def test_a_viewer_cannot_suppress_and_the_attempt_is_recorded(seeded, viewer, team_a, sandbox):
    with pytest.raises(ServiceError, match="needs the Editor role"):
        suppression_add(actor=viewer, team=team_a, server=seeded, stream_id="outbound", emails=["x@example.com"])

    assert [event.outcome for event in events("suppression.add")] == ["denied"]


def test_bad_addresses_are_refused_in_words_and_nothing_reaches_postmark(seeded, editor, team_a, sandbox):
    sandbox.received.clear()

    with pytest.raises(ServiceError) as refused:
        suppression_add(actor=editor, team=team_a, server=seeded, stream_id="outbound",
                        emails=["fine@example.com", "josé@example.com"])

    assert "Nothing was sent to Postmark." in refused.value.message
    assert "“josé@example.com” contains “é”" in refused.value.message
    assert not any("suppressions" in line for line in sandbox.received)
    assert [event.outcome for event in events("suppression.add")] == ["refused"]


def test_fifty_one_addresses_are_sent_as_two_batches_not_refused(seeded, editor, team_a, sandbox):
    sandbox.received.clear()

    report = suppression_add(actor=editor, team=team_a, server=seeded, stream_id="outbound", emails=addresses(51))

    assert len(report.done) == 51
    assert sum(line.endswith("/suppressions") for line in sandbox.received) == 2


def test_more_addresses_than_a_paste_may_hold_are_refused(seeded, editor, team_a):
    with pytest.raises(ServiceError, match="at most 1000 can be sent at once"):
        suppression_add(actor=editor, team=team_a, server=seeded, stream_id="outbound", emails=addresses(1001))


# --- Removing ------------------------------------------------------------------------------------


def test_removing_sends_only_what_postmark_allows_and_says_why_for_the_rest(seeded, editor, team_a, sandbox):
    report = suppression_remove(actor=editor, team=team_a, server=seeded, stream_id="outbound",
                                emails=["gone@example.com", "angry@example.com", "ours@example.com",
                                        "bye@example.com"])

    said = {item.email: (item.done, item.words) for item in report.outcomes}
    assert said["gone@example.com"] == (True, "Removed: Postmark may send to it again on this stream.")
    assert said["ours@example.com"][0] is True
    assert said["angry@example.com"] == (False, "Not removed: The recipient marked your e-mail as spam. Postmark "
                                                "never lets anyone remove a spam complaint.")
    assert said["bye@example.com"][0] is False and "unsubscribed" in said["bye@example.com"][1]
    left = suppression_list(server=seeded, stream_id="outbound", filters=SuppressionFilters())
    assert sorted(row.email for row in left.rows) == ["angry@example.com", "bye@example.com", "staff@example.com"]
    recorded = {event.outcome: event.changes for event in events("suppression.remove")}
    assert recorded == {"refused": {"not_removed": [None, "angry@example.com, bye@example.com"]},
                        "success": {"removed": [None, "gone@example.com, ours@example.com"]}}


def test_a_failed_removal_inside_a_200_is_reported_with_postmark_s_reason(seeded, editor, team_a, sandbox):
    def delete_answers_failed(environ, start_response):
        if environ["PATH_INFO"].endswith("/suppressions/delete"):
            start_response("200 OK", [("Content-Type", "application/json")])
            item = {"EmailAddress": "gone@example.com", "Status": "Failed",
                    "Message": "You do not have the required authority to change this suppression."}
            return [json.dumps({"Suppressions": [item]}).encode()]
        return sandbox(environ, start_response)

    install(delete_answers_failed)
    report = suppression_remove(actor=editor, team=team_a, server=seeded, stream_id="outbound",
                                emails=["gone@example.com"])

    assert report.done == []
    assert report.not_done[0].words.startswith("Postmark does not allow removing this suppression")
    (event,) = events("suppression.remove")
    assert (event.outcome, event.changes) == ("refused", {"not_removed": [None, "gone@example.com"]})
    assert "required authority" in event.detail


@pytest.mark.parametrize("fault", [{"status": 429}, {"status": 500}, {"hang": True}])
def test_postmark_s_trouble_while_removing_changes_nothing_and_is_recorded(seeded, editor, team_a, sandbox, settings,
                                                                          fault):
    settings.POSTMARK_READ_TIMEOUT = 0.3
    sandbox.set_faults(**fault)

    with pytest.raises(PostmarkTrouble):
        suppression_remove(actor=editor, team=team_a, server=seeded, stream_id="outbound",
                           emails=["gone@example.com"])

    sandbox.clear_faults()
    left = suppression_list(server=seeded, stream_id="outbound", filters=SuppressionFilters())
    assert "gone@example.com" in [row.email for row in left.rows]
    assert [event.outcome for event in events("suppression.remove")] == ["failed"]


# --- Downloading ---------------------------------------------------------------------------------


def test_the_download_is_recorded_and_keeps_formulas_as_text(sandbox, server_a, viewer, team_a):
    sandbox_suppressions.add_suppression(sandbox, TOKEN_A, stream="outbound", email="=cmd@example.com")

    rows = list(suppression_export(actor=viewer, team=team_a, server=server_a, stream_id="outbound",
                                   filters=SuppressionFilters()))

    assert rows[0][0] == "Email address"
    assert rows[1][0] == "'=cmd@example.com"
    assert [(event.outcome, event.detail) for event in events("suppression.export")] == [
        ("success", "1 suppressions downloaded as CSV.")]


# --- Bounces -------------------------------------------------------------------------------------


def test_an_editor_reactivates_a_bounce_and_a_spam_complaint_is_refused_in_words(sandbox, server_a, editor, team_a):
    hard = sandbox_suppressions.add_bounce(sandbox, TOKEN_A, stream="outbound", email="x@example.com")
    spam = sandbox_suppressions.add_bounce(sandbox, TOKEN_A, stream="outbound", email="y@example.com",
                                           type="SpamComplaint")

    bounce = bounce_activate(actor=editor, team=team_a, server=server_a, bounce_id=hard, email="x@example.com")
    with pytest.raises(ServiceError, match="can't reactivate this bounce"):
        bounce_activate(actor=editor, team=team_a, server=server_a, bounce_id=spam, email="y@example.com")

    assert bounce.inactive is False
    assert [event.outcome for event in events("bounce.activate")] == ["success", "refused"]


# --- Why didn't this person get our e-mail? --------------------------------------------------------


def test_the_lookup_asks_every_stream_of_every_server_and_names_each_answer(sandbox, server_a, owner, team_a):
    sandbox.add_server(SPARE_TOKEN, name="Acme Staging")
    staging = server_connect(actor=owner, team=team_a, name="Acme Staging", token=SPARE_TOKEN, sandbox=True)
    sandbox_suppressions.add_bounce(sandbox, TOKEN_A, stream="outbound", email="Pat@Example.com")
    sandbox_suppressions.add_suppression(sandbox, SPARE_TOKEN, stream="broadcast", email="pat@example.com",
                                         reason="ManualSuppression", origin="Recipient")

    answers = recipient_lookup(team=team_a, email="pat@example.com")

    assert [answer.server for answer in answers] == [server_a, staging]
    production, staged = answers
    assert [stream.stream_id for stream in production.streams] == ["outbound", "broadcast"]
    assert [(s.stream_id, s.suppression.meaning) for s in production.suppressed_on] == [
        ("outbound", "Hard bounce: the address does not exist, or its mail server refuses it")]
    assert [bounce.can_activate for bounce in production.streams[0].bounces] == [True]
    assert [(s.stream_id, s.suppression.meaning) for s in staged.suppressed_on] == [
        ("broadcast", "Unsubscribed by the recipient")]


def test_the_lookup_shows_a_server_in_trouble_without_claiming_the_address_is_fine(sandbox, server_a, team_a,
                                                                                  settings, caplog):
    settings.POSTMARK_READ_TIMEOUT = 0.3
    caplog.set_level(logging.DEBUG)
    sandbox.set_faults(status=503)

    (answer,) = recipient_lookup(team=team_a, email="pat@example.com")

    assert answer.trouble is not None and answer.streams == []
    assert "pat@example.com" not in caplog.text


def test_the_lookup_refuses_what_is_not_an_address(team_a):
    with pytest.raises(ServiceError, match="has no “@”"):
        recipient_lookup(team=team_a, email="pat")
