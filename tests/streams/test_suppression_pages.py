"""The suppression pages and the recipient lookup, through the test client against the in-process sandbox:
what each role sees and may do, addresses kept out of URLs, every kind of Postmark trouble, bad input."""

import html
import logging
import re
import threading

import pytest
from django.urls import reverse

from dashboard.models import AuditEvent
from dashboard.postmark import sandbox_suppressions
from dashboard.postmark.client import SANDBOX_URL, PostmarkClient
from dashboard.postmark.sandbox import Sandbox, install
from dashboard.services.servers import server_connect
from tests.conftest import SPARE_TOKEN, TOKEN_A

pytestmark = pytest.mark.django_db

FAULTS = {"429": {"status": 429}, "500": {"status": 500}, "503 html": {"status": 503, "body": "html"},
          "hang": {"hang": True}}


@pytest.fixture
def fast_timeout(settings):
    settings.POSTMARK_READ_TIMEOUT = 0.3


def url(name, team, server, stream="outbound"):
    return reverse(name, args=[team.slug, server.pk, stream])


def text_of(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def suppressed(server_token, sandbox):
    return sorted(item.email_address for item in
                  PostmarkClient(server_token, base_url=SANDBOX_URL).list_suppressions("outbound"))


# --- The list ------------------------------------------------------------------------------------


def test_a_viewer_sees_every_suppression_in_words_but_no_way_to_change_them(seeded, viewer, team_a, client_as):
    response = client_as(viewer).get(url("suppression_list", team_a, seeded))

    text = text_of(response)
    assert response.status_code == 200
    assert "Spam complaint: can never be removed" in text
    assert "Unsubscribed by the recipient" in text
    assert "Hard bounce: the address does not exist" in text
    assert "All (5)" in text and "Hard bounces (1)" in text and "Unsubscribes and manual (3)" in text
    assert 'name="email"' not in response.content.decode()
    assert "Suppress addresses" not in text
    assert "lets you look but not change suppressions" in text


def test_an_editor_may_tick_only_the_suppressions_postmark_lets_us_remove(seeded, editor, team_a, client_as):
    content = client_as(editor).get(url("suppression_list", team_a, seeded)).content.decode()

    assert sorted(re.findall(r'name="email" value="([^"]+)"', content)) == ["gone@example.com", "ours@example.com"]


def test_the_reason_filter_swaps_only_the_table_and_keeps_its_state_in_the_url(seeded, viewer, team_a, client_as):
    response = client_as(viewer).get(url("suppression_list", team_a, seeded) + "?reason=SpamComplaint&origin=all",
                                     HTTP_HX_REQUEST="true")

    assert "<html" not in response.content.decode()
    assert "angry@example.com" in response.content.decode() and "gone@example.com" not in response.content.decode()
    assert response["HX-Push-Url"] == url("suppression_list", team_a, seeded) + "?reason=SpamComplaint"


def test_a_search_is_sent_by_post_and_never_lands_in_an_address(seeded, viewer, team_a, client_as):
    browser = client_as(viewer)

    posted = browser.post(url("suppression_search", team_a, seeded), {"search": "GONE", "filters": "?reason=all"})
    shown = browser.get(posted["Location"])

    assert "gone" not in posted["Location"].lower()
    assert "gone@example.com" in shown.content.decode() and "ours@example.com" not in shown.content.decode()
    assert "with “GONE” in the address" in text_of(shown)


def test_bad_filters_are_explained_and_the_list_still_shows(seeded, viewer, team_a, client_as):
    response = client_as(viewer).get(url("suppression_list", team_a, seeded)
                                     + "?since=2026-05-01&until=2026-01-01&reason=<script>")

    assert response.status_code == 200
    assert "“To” must be on or after “From”." in text_of(response)


def test_the_csv_download_is_streamed_and_recorded(seeded, viewer, team_a, client_as):
    response = client_as(viewer).get(url("suppression_export", team_a, seeded) + "?reason=HardBounce")

    body = b"".join(response.streaming_content).decode()
    assert response["Content-Type"].startswith("text/csv")
    assert body.splitlines()[1].startswith("gone@example.com,HardBounce,Recipient,")
    assert len(body.splitlines()) == 2
    assert AuditEvent.objects.filter(action="suppression.export", outcome="success").count() == 1


def test_the_stream_page_links_to_its_suppressions(server_a, viewer, team_a, client_as):
    response = client_as(viewer).get(url("stream_detail", team_a, server_a))

    assert f'href="{url("suppression_list", team_a, server_a)}"' in response.content.decode()


@pytest.mark.parametrize("fault", FAULTS)
def test_postmark_s_trouble_shows_a_banner_on_the_list(seeded, viewer, team_a, client_as, sandbox, fault,
                                                       fast_timeout):
    sandbox.set_faults(**FAULTS[fault])

    response = client_as(viewer).get(url("suppression_list", team_a, seeded))

    assert response.status_code == 200
    assert re.findall(r'data-trouble="([a-z_]+)"', response.content.decode()) == [
        "rate_limited" if fault == "429" else "unavailable"]
    assert "Postmark sends to every address" not in text_of(response)


# --- Adding --------------------------------------------------------------------------------------


def test_an_editor_adds_addresses_and_sees_what_happened_to_each(seeded, editor, team_a, client_as, sandbox):
    response = client_as(editor).post(url("suppression_add", team_a, seeded),
                                      {"addresses": "new1@example.com, new2@example.com\nNEW1@example.com"})

    text = text_of(response)
    assert response.status_code == 200
    assert "2 suppressed, 0 not" in text
    assert suppressed(TOKEN_A, sandbox) == ["angry@example.com", "bye@example.com", "gone@example.com",
                                            "new1@example.com", "new2@example.com", "ours@example.com",
                                            "staff@example.com"]


@pytest.mark.parametrize("typed, words", [
    ("josé@example.com", "contains “é”"),
    ("<img src=x onerror=alert(1)>@example.com", "is not an e-mail address Postmark accepts"),
    ("'; DROP TABLE users; --", "has no “@”"),
])
def test_bad_input_is_refused_in_words_and_nothing_reaches_postmark(seeded, editor, team_a, client_as, sandbox,
                                                                    typed, words):
    sandbox.received.clear()

    response = client_as(editor).post(url("suppression_add", team_a, seeded), {"addresses": typed})

    assert response.status_code == 200
    assert words in text_of(response)
    assert "<img src=x" not in response.content.decode()
    assert not [line for line in sandbox.received if line.startswith("POST")]


def test_the_addresses_are_checked_as_they_are_typed(seeded, editor, team_a, client_as):
    response = client_as(editor).post(url("suppression_add_check", team_a, seeded),
                                      {"addresses": "a@example.com\nA@example.com\nnope"}, HTTP_HX_REQUEST="true")

    assert "1 address ready, 1 duplicate left out." in text_of(response)
    assert "“nope” has no “@”" in text_of(response)


@pytest.mark.parametrize("fault", FAULTS)
def test_postmark_s_trouble_while_adding_shows_a_banner_and_reports_nothing_as_done(seeded, editor, team_a,
                                                                                   client_as, sandbox, fault,
                                                                                   fast_timeout):
    sandbox.set_faults(**FAULTS[fault])

    response = client_as(editor).post(url("suppression_add", team_a, seeded), {"addresses": "x@example.com"})

    sandbox.clear_faults()
    assert response.status_code == 200
    assert "data-trouble=" in response.content.decode()
    assert "0 suppressed, 1 not" in text_of(response)
    if fault == "hang":  # the request may still reach Postmark after we stopped waiting: the page says so
        assert "Postmark stopped answering before saying whether this was done" in text_of(response)
    else:
        assert "x@example.com" not in suppressed(TOKEN_A, sandbox)


# --- Removing ------------------------------------------------------------------------------------


def test_removing_first_says_what_it_means_and_what_cannot_be_removed(seeded, editor, team_a, client_as):
    response = client_as(editor).post(url("suppression_remove", team_a, seeded),
                                      {"email": ["gone@example.com", "angry@example.com"]})

    text = text_of(response)
    assert "Postmark send to the address again" in text
    assert "1 can't be removed" in text and "never lets anyone remove a spam complaint" in text
    assert re.findall(r'name="email" value="([^"]+)"', response.content.decode()) == ["gone@example.com"]


def test_confirming_removes_and_reports_each_address(seeded, editor, team_a, client_as, sandbox):
    response = client_as(editor).post(url("suppression_remove_confirm", team_a, seeded),
                                      {"email": ["gone@example.com"]})

    assert "1 removed, 0 not" in text_of(response)
    assert "gone@example.com" not in suppressed(TOKEN_A, sandbox)


def test_removing_nothing_ticked_says_so(seeded, editor, team_a, client_as):
    response = client_as(editor).post(url("suppression_remove", team_a, seeded), {}, follow=True)

    assert "Tick at least one address to remove." in text_of(response)


# --- Why didn't this person get our e-mail? --------------------------------------------------------


@pytest.fixture
def two_servers(sandbox, server_a, owner, team_a):
    sandbox.add_server(SPARE_TOKEN, name="Acme Staging")
    staging = server_connect(actor=owner, team=team_a, name="Acme Staging", token=SPARE_TOKEN, sandbox=True)
    sandbox_suppressions.add_bounce(sandbox, TOKEN_A, stream="outbound", email="pat@example.com")
    sandbox_suppressions.add_suppression(sandbox, SPARE_TOKEN, stream="broadcast", email="pat@example.com",
                                         reason="SpamComplaint")
    return server_a, staging


def lookup(browser, team, email="pat@example.com"):
    posted = browser.post(reverse("recipient_lookup", args=[team.slug]), {"email": email})
    return posted, browser.get(posted["Location"])


def test_the_lookup_shows_every_server_side_by_side_without_the_address_in_any_url(two_servers, viewer, team_a,
                                                                                  client_as):
    posted, shown = lookup(client_as(viewer), team_a)

    text = text_of(shown)
    assert "pat" not in posted["Location"]
    assert "Acme Production" in text and "Acme Staging" in text
    assert "Hard bounce: the address does not exist" in text and "Spam complaint: can never be removed" in text
    assert "It can be removed: ask an editor" in text and "An editor can reactivate it." in text
    assert "Remove the suppression" not in text
    assert len(re.findall(r"data-suppressed", shown.content.decode())) == 2


def test_an_editor_removes_a_suppression_from_the_lookup(two_servers, editor, team_a, client_as, sandbox):
    production, _ = two_servers
    browser = client_as(editor)
    lookup(browser, team_a)

    response = browser.post(reverse("recipient_lookup_remove", args=[team_a.slug]),
                            {"server": production.pk, "stream": "outbound"}, follow=True)

    assert "Removed: Postmark may send to it again on this stream." in text_of(response)
    assert "pat@example.com" not in suppressed(TOKEN_A, sandbox)


def test_an_editor_reactivates_a_bounce_from_the_lookup(two_servers, editor, team_a, client_as):
    production, _ = two_servers
    browser = client_as(editor)
    _, shown = lookup(browser, team_a)
    bounce = re.search(r'name="bounce" value="(\d+)"', shown.content.decode()).group(1)

    response = browser.post(reverse("recipient_lookup_reactivate", args=[team_a.slug]),
                            {"server": production.pk, "bounce": bounce}, follow=True)

    assert "Postmark may send to pat@example.com again on Acme Production." in text_of(response)
    assert AuditEvent.objects.get(action="bounce.activate").outcome == "success"


def test_an_action_without_a_looked_up_address_changes_nothing(two_servers, editor, team_a, client_as):
    production, _ = two_servers

    response = client_as(editor).post(reverse("recipient_lookup_remove", args=[team_a.slug]),
                                      {"server": production.pk, "stream": "outbound"}, follow=True)

    assert "Look the address up again" in text_of(response)
    [refused] = AuditEvent.objects.filter(action="suppression.remove")
    assert (refused.outcome, refused.actor_id, refused.target_id) == ("refused", editor.pk, str(production.pk))
    assert refused.detail == ("Nothing was sent to Postmark: the address looked up is no longer kept (looked up over "
                              "an hour ago, or in another team).")


@pytest.mark.parametrize("typed", ["pat", "josé@example.com", "<script>@x.com"])
def test_the_lookup_refuses_what_is_not_an_address_in_words(two_servers, viewer, team_a, client_as, typed):
    response = client_as(viewer).post(reverse("recipient_lookup", args=[team_a.slug]), {"email": typed})

    assert response.status_code == 200
    assert "<script>@x.com</" not in response.content.decode()
    assert 'class="field__errors"' in response.content.decode()


@pytest.mark.parametrize("fault", FAULTS)
def test_postmark_s_trouble_in_the_lookup_is_a_banner_per_server(two_servers, viewer, team_a, client_as, sandbox,
                                                                 fault, fast_timeout):
    browser = client_as(viewer)
    browser.get(reverse("team_home", args=[team_a.slug]))  # the streams of both servers are now known
    sandbox.set_faults(**FAULTS[fault])

    _, shown = lookup(browser, team_a)

    assert shown.status_code == 200
    assert len(re.findall(r'data-trouble="', shown.content.decode())) >= 1
    assert "Not suppressed on any stream" not in text_of(shown)


def test_the_team_navigation_leads_to_the_lookup(server_a, viewer, team_a, client_as):
    response = client_as(viewer).get(reverse("team_home", args=[team_a.slug]))

    assert f'href="{reverse("recipient_lookup", args=[team_a.slug])}"' in response.content.decode()


# --- Streams Postmark deleted, history, queries, and asking every server at once ------------------


def test_a_purged_stream_s_suppressions_lead_back_to_the_server_s_streams_in_words(server_a, editor, team_a,
                                                                                 client_as, sandbox):
    client = PostmarkClient(TOKEN_A, base_url=SANDBOX_URL)
    client.create_stream(id="spring-sale", name="Spring sale", stream_type="Broadcasts")
    client.archive_stream("spring-sale")
    sandbox.advance_clock(days=46)

    response = client_as(editor).get(url("suppression_list", team_a, server_a, "spring-sale"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("stream_list", args=[team_a.slug, server_a.pk])
    assert "Postmark has no stream “spring-sale” on Acme Production any more." in text_of(response)


def test_suppressing_shows_in_the_stream_s_history_with_the_addresses(seeded, editor, team_a, client_as):
    browser = client_as(editor)
    browser.post(url("suppression_add", team_a, seeded), {"addresses": "new1@example.com"})

    history = text_of(browser.get(url("stream_detail", team_a, seeded))).split("History", 1)[1]

    assert "suppressed addresses on the stream" in history
    assert "Suppressed: new1@example.com" in history


def test_the_pages_make_a_bounded_number_of_queries(two_servers, editor, team_a, client_as,
                                                    django_assert_max_num_queries):
    production, _ = two_servers
    browser = client_as(editor)
    lookup(browser, team_a)

    with django_assert_max_num_queries(8):
        browser.get(url("suppression_list", team_a, production))
    with django_assert_max_num_queries(12):
        browser.get(reverse("recipient_lookup", args=[team_a.slug]))


def test_the_lookup_asks_every_stream_of_every_server_at_once(two_servers, viewer, team_a, client_as, sandbox):
    browser = client_as(viewer)
    browser.get(reverse("team_home", args=[team_a.slug]))  # both servers' streams are now known
    # Each server has two streams that send (outbound, broadcast): the four lists must all be asked at once,
    # or the barrier breaks (after 10 s, a safety net, not a measurement) and the servers show trouble.
    barrier = threading.Barrier(4)

    def all_at_once(environ, start_response):
        if environ["PATH_INFO"].endswith("/suppressions/dump"):
            barrier.wait(timeout=10)
        return sandbox(environ, start_response)

    install(all_at_once)
    _, shown = lookup(browser, team_a)

    assert not barrier.broken
    assert "data-trouble" not in shown.content.decode()
    assert len(re.findall(r"data-suppressed", shown.content.decode())) == 2


def test_a_search_sent_by_htmx_keeps_the_filters_chosen_since_the_page_came(seeded, viewer, team_a, client_as):
    response = client_as(viewer).post(url("suppression_search", team_a, seeded),
                                      {"search": "example", "filters": "", "reason": "SpamComplaint"},
                                      HTTP_HX_REQUEST="true")

    assert "<html" not in response.content.decode()
    assert re.findall(r"<td class=\"mono suppression-table__address\">([^<]+)<", response.content.decode()) == [
        "angry@example.com"]


def test_a_mistyped_address_sent_by_htmx_is_explained_on_the_form(two_servers, viewer, team_a, client_as):
    response = client_as(viewer).post(reverse("recipient_lookup", args=[team_a.slug]), {"email": "pat"},
                                      HTTP_HX_REQUEST="true")

    assert response["HX-Retarget"] == "#lookup-form"
    assert 'id="lookup-form"' in response.content.decode()
    assert "“pat” has no “@”" in text_of(response)


def test_no_log_line_but_the_audit_s_own_copy_ever_holds_an_address(two_servers, editor, team_a, client_as, caplog):
    caplog.set_level(logging.DEBUG)
    production, _ = two_servers
    browser = client_as(editor)

    lookup(browser, team_a)
    browser.post(reverse("recipient_lookup_remove", args=[team_a.slug]), {"server": production.pk,
                                                                         "stream": "outbound"})
    browser.post(url("suppression_search", team_a, production), {"search": "pat@example"})
    browser.get(url("suppression_list", team_a, production))
    browser.post(url("suppression_add", team_a, production), {"addresses": "pat@example.com"})
    browser.get(url("suppression_export", team_a, production))

    logged = [record.getMessage() for record in caplog.records if record.name != "dashboard.audit.ship"]
    assert logged  # the client's lines about each call to Postmark are there
    assert not [line for line in logged if "pat@" in line]


def test_a_looked_up_address_is_forgotten_after_an_hour(two_servers, viewer, team_a, client_as):
    browser = client_as(viewer)
    lookup(browser, team_a)
    session = browser.session
    session["recipient_lookup"] = {**session["recipient_lookup"], "at": session["recipient_lookup"]["at"] - 3601}
    session.save()

    response = browser.get(reverse("recipient_lookup", args=[team_a.slug]))

    assert "pat@example.com" not in response.content.decode()
    assert "recipient_lookup" not in browser.session


def test_the_audit_log_files_suppressions_under_their_own_group(seeded, editor, admin, team_a, client_as):
    client_as(editor).post(url("suppression_add", team_a, seeded), {"addresses": "new1@example.com"})

    shown = text_of(client_as(admin).get(reverse("audit_log", args=[team_a.slug]) + "?group=suppressions"))
    others = text_of(client_as(admin).get(reverse("audit_log", args=[team_a.slug]) + "?group=streams"))

    assert "Suppressions and bounces" in shown
    assert "suppressed addresses on stream outbound on Acme Production" in shown
    assert "new1@example.com" in shown
    assert "suppressed addresses" not in others


@pytest.mark.parametrize("persona, may_replace", [("admin", True), ("viewer", False)])
def test_a_rejected_token_in_the_lookup_names_the_server_and_who_can_fix_it(two_servers, cast, team_a, client_as,
                                                                           sandbox, persona, may_replace):
    production, staging = two_servers
    browser = client_as(cast[persona])
    browser.get(reverse("team_home", args=[team_a.slug]))  # both servers' streams are now known
    install(Sandbox())  # a Postmark that knows neither token any more

    _, shown = lookup(browser, team_a)

    text = text_of(shown)
    assert "Postmark rejected the token of Acme Production" in text
    assert (reverse("server_token", args=[team_a.slug, production.pk]) in shown.content.decode()) == may_replace
    assert TOKEN_A not in shown.content.decode()
