"""A stream's page: every field in plain words, its history, the actions each role may take, and trouble."""

import re
from datetime import UTC
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.models import Server
from dashboard.postmark.sandbox import Sandbox, install
from dashboard.services import ServiceError
from streams.services import read_snapshot, stream_archive, stream_create, stream_edit, stream_get, stream_snapshot
from tests.conftest import TOKEN_A
from tests.csp import csp_violations

pytestmark = pytest.mark.django_db


@pytest.fixture
def news(server_a, editor, team_a):
    """A Broadcasts stream an editor made through the dashboard."""
    return stream_create(actor=editor, team=team_a, server=server_a, stream_id="news", name="News",
                         stream_type="Broadcasts", description="Monthly product news for customers")


def url(server: Server, stream_id: str, name: str = "stream_detail") -> str:
    return reverse(name, args=["acme", server.pk, stream_id])


def page_of(client, server, stream_id="news"):
    response = client.get(url(server, stream_id))
    return response, response.content.decode()


def text_of(html: str) -> str:
    """The page as a person reads it: tags dropped, white space folded."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def archive(server, team, actor, stream_id="news"):
    return stream_archive(actor=actor, team=team, server=server, stream_id=stream_id, confirmation=stream_id)


# --- The fields --------------------------------------------------------------------------------------


def test_the_stream_page_shows_every_field_postmark_returns_in_plain_words(client_as, viewer, server_a, news):
    response, page = page_of(client_as(viewer), server_a)
    text = text_of(page)

    assert response.status_code == 200
    assert "<h1>News <span class=\"mono stream-id\">news</span></h1>" in page
    assert "Name News" in text
    assert "ID news — used by developers to send on this stream. It never changes." in text
    assert ("Type Broadcasts — Bulk e-mail sent to many people at once, such as newsletters and announcements, "
            "with an unsubscribe link in each message.") in text
    assert ("Unsubscribe handling Postmark — Postmark adds an unsubscribe link to each message and stops sending "
            "to people who used it.") in text
    assert "Description Monthly product news for customers" in text
    assert f"Created {news.created_at.astimezone(UTC).strftime('%-d %B %Y')}" in text
    assert "Last changed Never changed" in text
    assert "State Active Postmark sends e-mail on it." in text
    assert f"Postmark server ID {news.server_id}" in text
    assert csp_violations(page) == []


def test_the_breadcrumb_leads_back_to_the_team_and_the_servers_streams(client_as, viewer, server_a, news):
    _, page = page_of(client_as(viewer), server_a)

    assert '<a href="/t/acme/">Acme</a> › ' in page
    assert f'<a href="{reverse("stream_list", args=["acme", server_a.pk])}">Streams of Acme Production</a> › ' in page
    assert '<span aria-current="page">News</span>' in page


def test_a_transactional_stream_explains_why_it_has_no_unsubscribe_link(client_as, viewer, server_a):
    _, page = page_of(client_as(viewer), server_a, "outbound")
    text = text_of(page)

    assert ("Type Transactional — One-to-one e-mail that a person's action triggers, such as receipts and "
            "password resets.") in text
    assert "Unsubscribe handling None — No unsubscribe link is added. Transactional e-mail doesn't need one." in text
    assert "Description No description" in text


def test_the_inbound_stream_says_postmark_receives_for_you(client_as, viewer, server_a):
    _, page = page_of(client_as(viewer), server_a, "inbound")
    text = text_of(page)

    assert "Type Inbound — E-mail that Postmark receives for you and passes on to your app." in text
    assert "State Active Postmark receives e-mail on it." in text


def test_custom_unsubscribe_handling_says_you_handle_your_own_links(client_as, viewer, server_a, sandbox, editor,
                                                                     team_a):
    sandbox.grant_custom_unsubscribe(TOKEN_A)
    stream_create(actor=editor, team=team_a, server=server_a, stream_id="offers", name="Offers",
                  stream_type="Broadcasts", unsubscribe_handling="Custom")

    _, page = page_of(client_as(viewer), server_a, "offers")

    assert "Unsubscribe handling Custom — You add and handle your own unsubscribe links." in text_of(page)


def test_times_are_shown_in_the_persons_time_zone(client_as, viewer, server_a, news, editor, team_a):
    viewer.time_zone = "Europe/Berlin"
    viewer.save(update_fields=["time_zone"])
    archive(server_a, team_a, editor)
    archived = stream_get(server=server_a, stream_id="news")

    _, page = page_of(client_as(viewer), server_a)
    text = text_of(page)

    berlin = archived.archived_at.astimezone(ZoneInfo("Europe/Berlin"))
    label = berlin.tzname()
    assert f"Archived on {berlin.strftime('%-d %B %Y, %H:%M')} {label}" in text
    assert f"Created {news.created_at.astimezone(berlin.tzinfo).strftime('%-d %B %Y, %H:%M')} {label}" in text


def test_an_archived_stream_shows_when_and_its_full_purge_countdown(client_as, viewer, server_a, news, editor,
                                                                     team_a, sandbox):
    archive(server_a, team_a, editor)
    sandbox.backdate_archive(TOKEN_A, "news", days=40)

    _, page = page_of(client_as(viewer), server_a)
    text = text_of(page)

    assert "badge--warning\">Archived</span></h1>" in page
    assert "State Archived on " in text
    assert "Nothing is sent on it until it is restored." in text
    assert "Urgent: purging within 7 days" in text
    assert re.search(r"[45] days(, \d+ hours?)? left", text)
    assert "40 of 45 days passed" in text
    assert "Postmark deletes it on " in text


def test_a_stream_that_was_edited_says_when(client_as, viewer, server_a, news, editor, team_a):
    seen = read_snapshot(stream_snapshot(news), stream_id="news")
    stream_edit(actor=editor, team=team_a, server=server_a, stream_id="news", seen=seen, name="Newsletter",
                description="", unsubscribe_handling="Postmark")

    _, page = page_of(client_as(viewer), server_a)
    text = text_of(page)

    assert "Never changed" not in text
    assert "Description No description" in text
    assert "Name Newsletter" in text


# --- History -----------------------------------------------------------------------------------------


def test_the_history_lists_create_edit_and_archive_with_who_what_and_the_changes(client_as, viewer, server_a,
                                                                                  news, editor, team_a):
    seen = read_snapshot(stream_snapshot(news), stream_id="news")
    stream_edit(actor=editor, team=team_a, server=server_a, stream_id="news", seen=seen, name="Newsletter",
                description="Monthly product news for customers", unsubscribe_handling="Postmark")
    archive(server_a, team_a, editor)

    _, page = page_of(client_as(viewer), server_a)
    history = text_of(page.split('id="history-heading"')[1])

    rows = re.findall(r"Edith Editor \(editor\) (\w+ the stream) Done", history)
    assert rows == ["archived the stream", "edited the stream", "created the stream"], "newest first"
    assert "State: Active → Archived" in history
    assert "Date Postmark would delete it: " in history
    assert "Name: News → Newsletter" in history
    assert "Name: News Type: Broadcasts Description: Monthly product news for customers " \
           "Unsubscribe handling: Postmark" in history


def test_the_history_tells_refused_failed_and_denied_attempts_apart(client_as, viewer, server_a, news, editor,
                                                                     team_a, sandbox):
    seen = read_snapshot(stream_snapshot(news), stream_id="news")
    with pytest.raises(ServiceError):
        stream_edit(actor=editor, team=team_a, server=server_a, stream_id="news", seen=seen, name="News",
                    description="<b>bold</b>", unsubscribe_handling="Postmark")
    with pytest.raises(ServiceError):
        archive(server_a, team_a, viewer)
    sandbox.set_faults(status=503, times=1)
    with pytest.raises(ServiceError):
        archive(server_a, team_a, editor)

    _, page = page_of(client_as(viewer), server_a)
    history = text_of(page.split('id="history-heading"')[1])

    assert "Edith Editor (editor) archived the stream Failed" in history
    assert "Victor Viewer (viewer) archived the stream Not allowed" in history
    assert "Archiving a stream needs the Editor role or higher." in history
    assert "Edith Editor (editor) edited the stream Refused by Postmark" in history
    assert "Postmark code 1234" in history
    assert 'class="badge badge--danger">Failed<' in page
    assert 'class="badge badge--warning">Refused by Postmark<' in page


def test_a_stream_nobody_changed_here_says_so(client_as, viewer, server_a):
    _, page = page_of(client_as(viewer), server_a, "outbound")

    assert "Nobody has changed this stream through this dashboard yet." in page


def test_the_history_of_a_stream_on_another_server_stays_apart(client_as, viewer, server_a, news, sandbox, owner,
                                                               team_a):
    from dashboard.services.servers import server_connect
    from tests.conftest import SPARE_TOKEN

    sandbox.add_server(SPARE_TOKEN, name="Acme Staging")
    staging = server_connect(actor=owner, team=team_a, name="Acme Staging", token=SPARE_TOKEN, sandbox=True)
    stream_create(actor=owner, team=team_a, server=staging, stream_id="news", name="Staging news",
                  stream_type="Broadcasts")

    _, page = page_of(client_as(viewer), server_a)

    assert "olivia@acme.example" not in page
    assert "Edith Editor (editor)" in text_of(page)


# --- Actions by role ---------------------------------------------------------------------------------


def test_a_viewer_sees_no_buttons_and_a_note_about_their_role(client_as, viewer, server_a, news):
    _, page = page_of(client_as(viewer), server_a)

    assert "Your role (Viewer) lets you look but not change streams." in page
    assert url(server_a, "news", "stream_edit") not in page
    assert url(server_a, "news", "stream_archive") not in page
    assert url(server_a, "news", "stream_restore") not in page
    assert "Archive…" not in page and ">Edit<" not in page and "<dialog" not in page


def test_a_viewer_sees_no_restore_button_on_an_archived_stream(client_as, viewer, server_a, news, editor, team_a):
    archive(server_a, team_a, editor)

    _, page = page_of(client_as(viewer), server_a)

    assert url(server_a, "news", "stream_restore") not in page
    assert "Restore" not in page


@pytest.mark.parametrize("persona", ["editor", "admin", "owner"])
def test_editors_and_up_see_edit_and_archive(client_as, cast, persona, server_a, news):
    _, page = page_of(client_as(cast[persona]), server_a)
    archive_url = url(server_a, "news", "stream_archive")

    assert f'<a class="button" href="{url(server_a, "news", "stream_edit")}">Edit</a>' in page
    assert (f'<a class="button button--danger" href="{archive_url}" hx-get="{archive_url}" '
            'hx-target="#archive-dialog" hx-swap="innerHTML" data-opens-dialog="archive-dialog">Archive…</a>') in page
    assert '<dialog id="archive-dialog"' in page
    assert url(server_a, "news", "stream_restore") not in page, "only an archived stream offers Restore"
    assert "lets you look but not change" not in page


@pytest.mark.parametrize("persona", ["editor", "admin", "owner"])
def test_editors_and_up_see_restore_instead_of_archive_on_an_archived_stream(client_as, cast, persona, server_a,
                                                                            news, editor, team_a):
    archive(server_a, team_a, editor)

    _, page = page_of(client_as(cast[persona]), server_a)

    assert f'action="{url(server_a, "news", "stream_restore")}"' in page
    assert ">Restore</button>" in page
    assert "Archive…" not in page


@pytest.mark.parametrize(("stream_id", "reason"), [
    ("outbound", "This is the server's default transactional stream. Postmark never archives it"),
    ("inbound", "This is the server's inbound stream. Postmark never archives it"),
])
def test_default_streams_show_why_they_cannot_be_archived_instead_of_a_button(client_as, editor, server_a,
                                                                               stream_id, reason):
    _, page = page_of(client_as(editor), server_a, stream_id)

    assert reason in text_of(page)
    assert url(server_a, stream_id, "stream_archive") not in page
    assert "Archive…" not in page
    assert f'href="{url(server_a, stream_id, "stream_edit")}"' in page


def test_the_default_broadcast_stream_offers_archive_but_warns_postmark_may_refuse(client_as, editor, server_a):
    _, page = page_of(client_as(editor), server_a, "broadcast")

    assert "Postmark may refuse to archive it" in page
    assert url(server_a, "broadcast", "stream_archive") in page


# --- A stream that is gone, and other teams --------------------------------------------------------------


def test_a_stream_postmark_does_not_have_gets_a_clear_404(client_as, viewer, server_a):
    response, page = page_of(client_as(viewer), server_a, "ghost")

    assert response.status_code == 404
    assert ("Postmark has no stream “ghost” on Acme Production any more.</strong> It may have been deleted after "
            "its 45 days in the archive, or removed in Postmark.") in page
    assert f'href="{reverse("stream_list", args=["acme", server_a.pk])}">Back to the streams of Acme Production' in page
    assert "Nobody has changed this stream through this dashboard yet." in page


def test_a_purged_stream_says_so_and_still_shows_its_history(client_as, editor, server_a, news, team_a, sandbox):
    archive(server_a, team_a, editor)
    sandbox.advance_clock(days=46)

    response, page = page_of(client_as(editor), server_a)
    text = text_of(page)

    assert response.status_code == 404
    assert "Postmark has no stream “news” on Acme Production any more." in text
    assert "Edith Editor (editor) archived the stream Done" in text
    assert "Edith Editor (editor) created the stream Done" in text
    assert url(server_a, "news", "stream_restore") not in page


def test_a_server_of_another_team_is_not_found(client_as, viewer, server_a, server_b):
    response = client_as(viewer).get(url(server_b, "outbound"))

    assert response.status_code == 404


def test_an_outsider_cannot_see_a_stream_of_acme(client_as, outsider, server_a, team_b):
    response = client_as(outsider).get(url(server_a, "outbound"))

    assert response.status_code == 404


# --- Trouble with Postmark ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "body", "title"), [
    (503, "json", "Postmark isn't answering"),
    (500, "json", "Postmark isn't answering"),
    (502, "html", "Postmark isn't answering"),
    (429, "empty", "Postmark is busy"),
])
def test_postmark_trouble_shows_a_banner_and_keeps_the_history(client_as, editor, server_a, news, sandbox, status,
                                                                body, title):
    sandbox.set_faults(status=status, body=body)

    response, page = page_of(client_as(editor), server_a)

    assert response.status_code == 200
    assert f"<strong>{title}.</strong>" in page
    assert "Edith Editor (editor) created the stream Done" in text_of(page)
    assert "This stream's details will show here as soon as Postmark answers." in page
    assert f'href="{url(server_a, "news")}">Try again</a>' in page


def test_a_postmark_that_hangs_shows_the_banner_without_a_500(client_as, editor, server_a, news, sandbox, settings):
    settings.POSTMARK_READ_TIMEOUT = 0.3
    sandbox.set_faults(hang=True)

    response, page = page_of(client_as(editor), server_a)

    assert response.status_code == 200
    assert "Postmark isn't answering for Acme Production right now" in text_of(page)


def test_a_rejected_token_tells_a_viewer_to_ask_an_admin(client_as, viewer, server_a, sandbox):
    install(Sandbox())  # a Postmark that never heard of the token (the fixture puts the old one back)

    response, page = page_of(client_as(viewer), server_a, "outbound")

    assert response.status_code == 200
    assert "<strong>Token rejected.</strong>" in page
    assert "Only admins and owners can replace a token" in page


# --- Speed -------------------------------------------------------------------------------------------------


def test_the_stream_page_runs_a_bounded_number_of_queries(client_as, editor, server_a, news, team_a,
                                                         django_assert_max_num_queries):
    for _ in range(5):
        seen = read_snapshot(stream_snapshot(stream_get(server=server_a, stream_id="news")), stream_id="news")
        stream_edit(actor=editor, team=team_a, server=server_a, stream_id="news", seen=seen,
                    name=f"News {timezone.now().microsecond}", description="", unsubscribe_handling="Postmark")
    browser = client_as(editor)
    browser.get(url(server_a, "news"))

    with django_assert_max_num_queries(8):  # the last-known copy is one, the names of who did what one
        response = browser.get(url(server_a, "news"))

    assert response.status_code == 200
    assert len(re.findall(r"edited the stream", response.content.decode())) == 5


def test_the_page_answers_only_get(client_as, editor, server_a, news):
    response = client_as(editor).post(url(server_a, "news"))

    assert response.status_code == 405

