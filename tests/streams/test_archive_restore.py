"""Archiving a stream (confirmed by typing its ID) and restoring it before Postmark deletes it."""

import re
from datetime import timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as format_date

from dashboard.models import AuditEvent
from dashboard.postmark.sandbox import Sandbox, install
from streams.services import stream_archive, stream_create, stream_get
from tests.conftest import TOKEN_A
from tests.csp import csp_violations

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def news(server_a, editor, team_a):
    return stream_create(actor=editor, team=team_a, server=server_a, stream_id="news", name="News",
                         stream_type="Broadcasts")


@pytest.fixture
def archived_news(news, server_a, editor, team_a):
    stream_archive(actor=editor, team=team_a, server=server_a, stream_id="news", confirmation="news")
    return stream_get(server=server_a, stream_id="news")


def url(server, stream_id="news", name="stream_archive") -> str:
    return reverse(name, args=["acme", server.pk, stream_id])


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def is_archived(server, stream_id="news") -> bool:
    return stream_get(server=server, stream_id=stream_id).is_archived


def toasts_of(html: str) -> str:
    return html.split('id="toasts"')[1]


# --- The confirmation page -------------------------------------------------------------------------------


def test_the_archive_page_says_what_happens_and_when_postmark_deletes_it_in_the_persons_zone(client_as, editor,
                                                                                             server_a, news):
    editor.time_zone = "Europe/Berlin"
    editor.save(update_fields=["time_zone"])
    before = timezone.now() + timedelta(days=45)

    response = client_as(editor).get(url(server_a))
    after = timezone.now() + timedelta(days=45)
    text = text_of(response.content.decode())

    assert response.status_code == 200
    assert "Archive “News” (news)?" in text
    assert "Sending on this stream stops at once." in text
    shown = {f"{format_date(moment.astimezone(ZoneInfo('Europe/Berlin')), 'j F Y, H:i')} "
             f"{moment.astimezone(ZoneInfo('Europe/Berlin')).tzname()}" for moment in (before, after)}
    assert any(f"Postmark deletes the stream and everything it holds on {date} , 45 days from now." in text
               for date in shown), shown
    assert "Until then, anyone with the Editor role can restore it from this dashboard" in text
    assert "Type the stream's ID, news , to confirm" in text
    assert csp_violations(response.content.decode()) == []


def test_the_archive_page_is_the_dialogs_content_for_htmx(client_as, editor, server_a, news):
    response = client_as(editor).get(url(server_a), **HTMX)
    page = response.content.decode()

    assert response.status_code == 200
    assert "<html" not in page
    assert 'id="archive-dialog-heading"' in page
    # A plain form underneath (the same flow without JavaScript); in the dialog a mistyped ID is answered there.
    assert f'<form method="post" action="{url(server_a)}" class="form" novalidate hx-post="{url(server_a)}"' in page
    assert "data-dialog-focus" in page
    assert f'href="{url(server_a, name="stream_detail")}" data-close-dialog>Cancel</a>' in page
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize(("stream_id", "reason"), [
    ("outbound", "This is the server's default transactional stream. Postmark never archives it"),
    ("inbound", "This is the server's inbound stream. Postmark never archives it"),
])
def test_default_streams_get_the_reason_instead_of_a_form(client_as, editor, server_a, stream_id, reason):
    page = client_as(editor).get(url(server_a, stream_id)).content.decode()

    assert reason in text_of(page)
    assert "<form method=\"post\" action=\"" + url(server_a, stream_id) not in page
    assert "Type the stream's ID" not in page


def test_the_default_broadcast_stream_can_be_tried_but_postmark_may_refuse(client_as, editor, server_a):
    page = client_as(editor).get(url(server_a, "broadcast")).content.decode()

    assert "Postmark may refuse to archive it" in page
    assert f'action="{url(server_a, "broadcast")}"' in page


def test_the_archive_page_of_an_archived_stream_offers_restore(client_as, editor, server_a, archived_news):
    page = client_as(editor).get(url(server_a)).content.decode()

    assert "This stream is already archived." in page
    assert f'href="{url(server_a, name="stream_restore")}">Restore it…' in page
    assert "Type the stream's ID" not in page


def test_the_archive_page_of_a_stream_postmark_does_not_have_is_a_404(client_as, editor, server_a):
    response = client_as(editor).get(url(server_a, "ghost"))

    assert response.status_code == 404
    assert "Postmark has no stream “ghost” on Acme Production any more." in text_of(response.content.decode())


def test_the_dialog_of_a_stream_postmark_does_not_have_says_so_inside_the_dialog(client_as, editor, server_a):
    response = client_as(editor).get(url(server_a, "ghost"), **HTMX)

    assert response.status_code == 200, "htmx swaps only a 200 into the dialog"
    assert "<html" not in response.content.decode()
    assert "Postmark has no stream “ghost” on Acme Production any more." in text_of(response.content.decode())


def test_the_archive_page_runs_a_bounded_number_of_queries(client_as, editor, server_a, news,
                                                          django_assert_max_num_queries):
    browser = client_as(editor)
    browser.get(url(server_a))

    # The page asks Postmark for the stream as it is now, and the copy learns the answer (3 of these).
    with django_assert_max_num_queries(8):
        assert browser.get(url(server_a)).status_code == 200


# --- Archiving ---------------------------------------------------------------------------------------------


def test_a_wrong_id_is_refused_on_the_field_and_nothing_is_archived(client_as, editor, server_a, news):
    response = client_as(editor).post(url(server_a), {"confirmation": "News"})
    page = response.content.decode()

    assert response.status_code == 200
    assert re.search(r'<ul class="field__errors" id="id_confirmation_errors">\s*<li>Type the stream&#x27;s ID, '
                     r"news, exactly as shown, to confirm.</li>", page)
    assert 'value="News"' in page
    assert not is_archived(server_a)
    [refused] = events("stream.archive")
    assert (refused.outcome, refused.actor_id) == ("refused", editor.pk)
    assert refused.detail == "Not confirmed: Type the stream's ID, news, exactly as shown, to confirm."


def test_a_wrong_id_in_the_dialog_answers_the_dialog_with_the_error(client_as, editor, server_a, news):
    response = client_as(editor).post(url(server_a), {"confirmation": ""}, **HTMX)
    page = response.content.decode()

    assert response.status_code == 200
    assert "<html" not in page
    assert "field--invalid" in page
    assert not is_archived(server_a)


def test_the_dialogs_form_answers_in_the_dialog_and_the_page_of_its_own_keeps_the_team_in_its_breadcrumb(
        client_as, editor, server_a, news):
    browser = client_as(editor)
    in_dialog = browser.get(url(server_a), **HTMX).content.decode()
    own_page = browser.get(url(server_a)).content.decode()

    assert f'hx-post="{url(server_a)}" hx-target="#archive-dialog"' in in_dialog
    assert "hx-post" not in own_page.split("<main")[1]
    assert "Acme › Streams of Acme Production › News Archive “News” (news)?" in text_of(own_page.split("<main")[1])


def test_archiving_lands_on_the_stream_page_with_its_countdown_and_a_restore_button(client_as, editor, server_a,
                                                                                     news):
    response = client_as(editor).post(url(server_a), {"confirmation": " news "}, follow=True)
    page = response.content.decode()
    text = text_of(page)

    assert response.redirect_chain == [(url(server_a, name="stream_detail"), 302)]
    assert is_archived(server_a)
    toast = text_of(toasts_of(page))
    assert "The stream “news” is archived: nothing is sent on it any more. Postmark deletes it on " in toast
    assert "unless it is restored before then. Restore “news”" in toast
    assert f'<form method="post" action="{url(server_a, name="stream_restore")}" class="toast__action">' in page
    assert "toast--warning" in page, "a toast with a button stays until dismissed"
    assert "State Archived on " in text
    assert "0 of 45 days passed" in text
    assert "44 days, 23 hours left" in text
    [event] = events("stream.archive")
    assert (event.outcome, event.actor_id) == ("success", editor.pk)
    assert csp_violations(page) == []


def test_the_toasts_restore_button_restores_the_stream(client_as, editor, server_a, news):
    browser = client_as(editor)
    page = browser.post(url(server_a), {"confirmation": "news"}, follow=True).content.decode()
    form = re.search(r'<form method="post" action="([^"]+)" class="toast__action">(.*?)</form>', toasts_of(page))
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(2)))

    response = browser.post(form.group(1), fields, follow=True)

    assert response.redirect_chain == [(url(server_a, name="stream_detail"), 302)]
    assert not is_archived(server_a)
    assert "“News” (news) is restored; Postmark sends on it again." in text_of(toasts_of(response.content.decode()))


def test_archiving_with_htmx_loads_the_stream_page(client_as, editor, server_a, news):
    response = client_as(editor).post(url(server_a), {"confirmation": "news"}, **HTMX)

    assert response["HX-Redirect"] == url(server_a, name="stream_detail")
    assert is_archived(server_a)


def test_postmark_refusing_a_default_stream_changes_nothing_and_says_why(client_as, editor, server_a):
    response = client_as(editor).post(url(server_a, "outbound"), {"confirmation": "outbound"})

    assert response.status_code == 200
    assert "This is the server's default transactional stream. Postmark never archives it" in text_of(
        response.content.decode())
    assert not is_archived(server_a, "outbound")
    [event] = events("stream.archive")
    assert event.outcome == "refused"


def test_archiving_a_stream_postmark_no_longer_has_says_so_on_the_list(client_as, editor, server_a):
    response = client_as(editor).post(url(server_a, "ghost"), {"confirmation": "ghost"})

    assert response.status_code == 302
    assert response["Location"] == reverse("stream_list", args=["acme", server_a.pk])
    [event] = events("stream.archive")
    assert event.outcome == "refused"


@pytest.mark.parametrize(("status", "body"), [(503, "json"), (502, "html"), (500, "empty")])
def test_postmark_trouble_while_archiving_shows_the_banner_and_records_the_failure(client_as, editor, server_a,
                                                                                   news, sandbox, status, body):
    sandbox.set_faults(status=status, body=body, times=1)

    response = client_as(editor).post(url(server_a), {"confirmation": "news"})
    text = text_of(response.content.decode())

    assert response.status_code == 200
    assert "Postmark isn't answering." in text
    assert "Acme Production" in text.split("Postmark isn't answering.")[1].split("Try again")[0]
    assert 'data-trouble="unavailable"' in response.content.decode()
    assert 'value="news"' in response.content.decode(), "the typed ID stays, to try again"
    assert not is_archived(server_a)
    [event] = events("stream.archive")
    assert event.outcome == "failed"


def test_a_postmark_that_hangs_while_archiving_warns_it_may_have_gone_through(client_as, editor, server_a, news,
                                                                              sandbox, settings):
    settings.POSTMARK_READ_TIMEOUT = 0.3
    sandbox.set_faults(hang=True, times=1)

    response = client_as(editor).post(url(server_a), {"confirmation": "news"})

    assert response.status_code == 200
    assert "data-trouble=\"unavailable\"" in response.content.decode()
    assert events("stream.archive")[0].outcome == "failed"


def test_the_archive_page_survives_postmark_trouble(client_as, editor, server_a, news, sandbox):
    sandbox.set_faults(status=503, body="html")

    response = client_as(editor).get(url(server_a))
    page = response.content.decode()

    assert response.status_code == 200
    assert "<strong>Postmark isn't answering.</strong>" in unescape(page)
    assert f'action="{url(server_a)}"' in page, "the form still works once Postmark answers again"


# --- Restoring ---------------------------------------------------------------------------------------------


def test_restoring_from_the_stream_page_makes_it_active_again(client_as, editor, server_a, archived_news):
    browser = client_as(editor)
    page = browser.get(url(server_a, name="stream_detail")).content.decode()
    assert f'<form method="post" action="{url(server_a, name="stream_restore")}">' in page

    response = browser.post(url(server_a, name="stream_restore"), follow=True)
    page = response.content.decode()

    assert response.redirect_chain == [(url(server_a, name="stream_detail"), 302)]
    assert "“News” (news) is restored; Postmark sends on it again." in text_of(toasts_of(page))
    assert "State Active" in text_of(page)
    assert not is_archived(server_a)
    [event] = events("stream.restore")
    assert (event.outcome, event.actor_id) == ("success", editor.pk)


def test_restoring_goes_back_to_a_safe_next(client_as, editor, server_a, archived_news):
    listing = reverse("stream_list", args=["acme", server_a.pk]) + "?archived=1"

    response = client_as(editor).post(url(server_a, name="stream_restore"), {"next": listing})

    assert response.status_code == 302
    assert response["Location"] == listing
    assert not is_archived(server_a)


@pytest.mark.parametrize("elsewhere", ["https://evil.example/", "//evil.example/t/acme/", "javascript:alert(1)"])
def test_restoring_ignores_a_next_that_leads_off_the_site(client_as, editor, server_a, archived_news, elsewhere):
    response = client_as(editor).post(url(server_a, name="stream_restore"), {"next": elsewhere})

    assert response["Location"] == url(server_a, name="stream_detail")


def test_restoring_with_htmx_loads_the_next_page(client_as, editor, server_a, archived_news):
    listing = reverse("stream_list", args=["acme", server_a.pk])

    response = client_as(editor).post(url(server_a, name="stream_restore"), {"next": listing}, **HTMX)

    assert response["HX-Redirect"] == listing
    assert not is_archived(server_a)


def test_the_restore_page_offers_the_button_without_javascript(client_as, editor, server_a, archived_news):
    response = client_as(editor).get(url(server_a, name="stream_restore"))
    page = response.content.decode()

    assert response.status_code == 200
    assert "Restore “News” (news)?" in text_of(page)
    assert "Postmark sends on it again at once, and it will no longer be deleted." in text_of(page)
    assert "44 days, 23 hours left" in text_of(page)
    assert f'<form method="post" action="{url(server_a, name="stream_restore")}" class="actions">' in page
    assert csp_violations(page) == []


def test_the_restore_page_of_an_active_stream_leads_to_the_stream(client_as, editor, server_a, news):
    response = client_as(editor).get(url(server_a, name="stream_restore"), follow=True)

    assert response.redirect_chain == [(url(server_a, name="stream_detail"), 302)]
    assert "“News” (news) is not archived, so there is nothing to restore." in text_of(response.content.decode())


def test_restoring_an_active_stream_says_there_is_nothing_to_restore(client_as, editor, server_a, news):
    response = client_as(editor).post(url(server_a, name="stream_restore"), follow=True)

    assert response.redirect_chain == [(url(server_a, name="stream_detail"), 302)]
    assert "News is not archived, so there is nothing to restore." in text_of(toasts_of(response.content.decode()))


def test_after_the_purge_restoring_says_postmark_has_deleted_the_stream(client_as, editor, server_a, archived_news,
                                                                        sandbox):
    sandbox.advance_clock(days=46)

    response = client_as(editor).post(url(server_a, name="stream_restore"), follow=True)
    toast = text_of(toasts_of(response.content.decode()))

    assert response.redirect_chain == [(reverse("stream_list", args=["acme", server_a.pk]), 302)]
    assert "Postmark has deleted the stream news" in toast
    assert "can no longer be restored" in toast
    assert events("stream.restore")[-1].outcome == "refused"


def test_after_the_purge_the_restore_page_leads_to_the_stream_page_that_says_it_is_gone(client_as, editor, server_a,
                                                                                         archived_news, sandbox):
    sandbox.advance_clock(days=46)

    response = client_as(editor).get(url(server_a, name="stream_restore"), follow=True)

    assert response.status_code == 404
    assert "Postmark has no stream “news” on Acme Production any more." in text_of(response.content.decode())


def test_postmark_trouble_while_restoring_says_so_and_changes_nothing(client_as, editor, server_a, archived_news,
                                                                      sandbox):
    sandbox.set_faults(status=503, times=1)

    response = client_as(editor).post(url(server_a, name="stream_restore"), follow=True)
    toast = text_of(toasts_of(response.content.decode()))

    assert response.redirect_chain == [(url(server_a, name="stream_detail"), 302)]
    assert "Postmark isn't answering for Acme Production right now" in toast
    assert is_archived(server_a)
    assert events("stream.restore")[-1].outcome == "failed"


def test_a_rejected_token_while_restoring_says_who_can_fix_it(client_as, editor, server_a, archived_news, sandbox):
    install(Sandbox())  # Postmark no longer knows the token; the fixture puts the old sandbox back

    response = client_as(editor).post(url(server_a, name="stream_restore"), follow=True)

    assert "Postmark rejected the token of Acme Production" in text_of(toasts_of(response.content.decode()))


# --- Who may ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "action"), [("stream_archive", "stream.archive"),
                                              ("stream_restore", "stream.restore")])
def test_a_viewer_who_posts_anyway_gets_403_and_the_attempt_is_recorded(client_as, viewer, server_a, archived_news,
                                                                        name, action):
    response = client_as(viewer).post(url(server_a, name=name), {"confirmation": "news"})

    assert response.status_code == 403
    assert is_archived(server_a), "nothing changed"
    [event] = [event for event in events(action) if event.actor_id == viewer.pk]
    assert event.outcome == "denied"


@pytest.mark.parametrize("name", ["stream_archive", "stream_restore"])
def test_a_viewer_cannot_open_the_archive_or_restore_page(client_as, viewer, server_a, news, name):
    assert client_as(viewer).get(url(server_a, name=name)).status_code == 403


@pytest.mark.parametrize("persona", ["editor", "admin", "owner"])
def test_editors_and_up_can_open_both_pages(client_as, cast, persona, server_a, news):
    browser = client_as(cast[persona])

    assert browser.get(url(server_a)).status_code == 200
    assert browser.get(url(server_a, name="stream_restore")).status_code in (200, 302)


def test_an_outsider_cannot_archive_a_stream_of_acme(client_as, outsider, server_a, news, team_b):
    response = client_as(outsider).post(url(server_a), {"confirmation": "news"})

    assert response.status_code == 404
    assert not is_archived(server_a)


def test_the_whole_round_trip_with_a_stream_purging_soon(client_as, editor, server_a, archived_news, sandbox):
    sandbox.backdate_archive(TOKEN_A, "news", days=44)

    page = client_as(editor).get(url(server_a, name="stream_detail")).content.decode()

    assert "Urgent: purging within 7 days" in text_of(page)
    assert f'action="{url(server_a, name="stream_restore")}"' in page
