"""Editing a stream: name, description and unsubscribe handling; ID and type fixed, with why; nothing silently
overwritten when the stream changed in Postmark meanwhile; Postmark's refusals on the right field; roles,
the audit, and trouble."""

import html
import re

import pytest
from django.urls import reverse

from dashboard.forms import apply_service_error
from dashboard.models import AuditEvent
from dashboard.postmark.client import SANDBOX_URL, ErrorCode, PostmarkClient
from dashboard.services import ServiceError
from streams.forms import StreamEditForm
from streams.services import REFUSALS, read_snapshot, stream_create, stream_edit, stream_get, stream_snapshot
from tests.conftest import TOKEN_A
from tests.csp import csp_violations

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def says(code: ErrorCode) -> str:
    return REFUSALS[code][1]


def url(team, server, stream_id, name="stream_edit") -> str:
    return reverse(name, args=[team.slug, server.pk, stream_id])


def text_of(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def field_errors(response, field: str) -> str:
    found = re.search(rf'<ul class="field__errors" id="id_{field}_errors">(.*?)</ul>', response.content.decode(), re.S)
    return " ".join(html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", found.group(1))) if found else ""


def form_errors(response) -> str:
    found = re.search(r'<div class="alert alert--danger" role="alert">(.*?)</div>', response.content.decode(), re.S)
    return html.unescape(found.group(1)) if found else ""


def seen_in(response) -> str:
    return re.search(r'<input type="hidden" name="seen" value="([^"]*)"', response.content.decode()).group(1)


def messages_on(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def postmark() -> PostmarkClient:
    return PostmarkClient(TOKEN_A, base_url=SANDBOX_URL)


def edit_events():
    return list(AuditEvent.objects.filter(action="stream.edit"))


@pytest.fixture
def news(server_a, editor, team_a):
    return stream_create(actor=editor, team=team_a, server=server_a, stream_id="news", name="News",
                         stream_type="Broadcasts", description="Monthly product news")


@pytest.fixture
def browser(client_as, editor):
    return client_as(editor)


@pytest.fixture
def opened(browser, team_a, server_a, news):
    """The edit form as the editor opened it: the values to post back, with its signed note of what it showed."""
    response = browser.get(url(team_a, server_a, "news"))
    return {"name": "News", "description": "Monthly product news", "unsubscribe_handling": "Postmark",
            "stream_type": "Broadcasts", "seen": seen_in(response)}


# --- The page -------------------------------------------------------------------------------------------


def test_the_edit_page_fills_in_the_stream_and_shows_id_and_type_as_fixed_with_why(browser, team_a, server_a, news):
    response = browser.get(url(team_a, server_a, "news"))

    text, content = text_of(response), response.content.decode()
    assert response.status_code == 200
    assert 'name="name" value="News"' in content
    assert "Monthly product news</textarea>" in content
    assert re.search(r'<input type="radio" name="unsubscribe_handling" value="Postmark" id="[^"]+" checked>', content)
    assert "ID news Type Broadcasts" in text
    assert ("Postmark never changes a stream's ID or type after it is created. To use another, create a new stream."
            in text)
    assert 'name="stream_id"' not in content and 'type="radio" name="stream_type"' not in content
    assert read_snapshot(seen_in(response), stream_id="news") == {
        "name": "News", "description": "Monthly product news", "unsubscribe_handling": "Postmark"}
    assert csp_violations(content) == []
    assert "HX-Request" in response["Vary"]


def test_a_transactional_stream_says_it_has_no_unsubscribe_handling(browser, team_a, server_a):
    response = browser.get(url(team_a, server_a, "outbound"))

    assert "None — transactional streams don't have unsubscribe handling." in text_of(response)
    assert 'type="radio"' not in response.content.decode()


def test_the_inbound_stream_says_it_has_no_unsubscribe_handling(browser, team_a, server_a):
    response = browser.get(url(team_a, server_a, "inbound"))

    assert "ID inbound Type Inbound" in text_of(response)
    assert "None — inbound streams don't have unsubscribe handling." in text_of(response)


def test_an_archived_stream_can_still_be_edited_and_the_page_says_so(browser, team_a, server_a, news):
    postmark().archive_stream("news")

    response = browser.get(url(team_a, server_a, "news"))

    assert "This stream is archived. You can still change its name, description and unsubscribe handling" in (
        text_of(response))
    assert "Postmark deletes it on" in text_of(response)

    data = {"name": "Old news", "description": "", "unsubscribe_handling": "Postmark", "stream_type": "Broadcasts",
            "seen": seen_in(response)}
    browser.post(url(team_a, server_a, "news"), data)
    stream = postmark().get_stream("news")
    assert (stream.name, stream.is_archived) == ("Old news", True)


def test_a_stream_postmark_no_longer_has_sends_back_to_the_list_with_why(browser, team_a, server_a, news, sandbox):
    postmark().archive_stream("news")
    sandbox.advance_clock(days=46)

    response = browser.get(url(team_a, server_a, "news"), follow=True)

    assert response.redirect_chain[-1] == (reverse("stream_list", args=[team_a.slug, server_a.pk]), 302)
    assert any("may have been purged or removed in Postmark" in message for message in messages_on(response))


# --- Saving ------------------------------------------------------------------------------------------------


def test_an_editor_saves_changes_without_javascript_and_the_audit_keeps_old_and_new(browser, editor, team_a, server_a,
                                                                                    opened):
    response = browser.post(url(team_a, server_a, "news"),
                            {**opened, "name": "Product news", "description": "", "unsubscribe_handling": "postmark"},
                            follow=True)

    assert response.redirect_chain[-1] == (url(team_a, server_a, "news", "stream_detail"), 302)
    assert "Your changes to “Product news” (news) were saved in Postmark." in messages_on(response)
    stream = postmark().get_stream("news")
    assert (stream.name, stream.description) == ("Product news", None) or (stream.name, stream.description) == (
        "Product news", "")
    [event] = edit_events()
    assert (event.outcome, event.actor_id, event.target_id) == ("success", editor.pk, f"{server_a.pk}/news")
    assert event.changes == {"name": ["News", "Product news"], "description": ["Monthly product news", ""]}


def test_an_editor_saves_with_htmx_and_is_sent_to_the_streams_page(browser, team_a, server_a, opened, sandbox):
    sandbox.grant_custom_unsubscribe(TOKEN_A)

    response = browser.post(url(team_a, server_a, "news"), {**opened, "unsubscribe_handling": "Custom"}, **HX)

    assert response.status_code == 200
    assert response["HX-Redirect"] == url(team_a, server_a, "news", "stream_detail")
    assert postmark().get_stream("news").unsubscribe_handling.value == "Custom"
    [event] = edit_events()
    assert event.changes == {"unsubscribe_handling": ["Postmark", "Custom"]}


def test_saving_without_changing_anything_says_so_and_changes_nothing(browser, team_a, server_a, opened):
    response = browser.post(url(team_a, server_a, "news"), opened, follow=True)

    assert response.redirect_chain[-1] == (url(team_a, server_a, "news", "stream_detail"), 302)
    assert "Nothing to save: “News” already has these values." in messages_on(response)
    assert postmark().get_stream("news").updated_at is None
    assert edit_events() == []


def test_a_transactional_stream_is_renamed_and_keeps_no_handling(browser, team_a, server_a):
    seen = seen_in(browser.get(url(team_a, server_a, "outbound")))

    browser.post(url(team_a, server_a, "outbound"), {"name": "Receipts", "description": "",
                                                      "unsubscribe_handling": "None", "stream_type": "Transactional",
                                                      "seen": seen})

    stream = postmark().get_stream("outbound")
    assert (stream.name, stream.unsubscribe_handling.value) == ("Receipts", "None")


EDIT_RULES = [
    ({"name": ""}, "name", ErrorCode.NAME_REQUIRED),
    ({"name": "   "}, "name", ErrorCode.NAME_REQUIRED),
    ({"name": "x" * 101}, "name", ErrorCode.NAME_TOO_LONG),
    ({"description": "x" * 1001}, "description", ErrorCode.DESCRIPTION_TOO_LONG),
    ({"description": "Sale <today>"}, "description", ErrorCode.DESCRIPTION_HAS_HTML),
    ({"unsubscribe_handling": "None"}, "unsubscribe_handling", ErrorCode.UNSUBSCRIBE_HANDLING_NOT_SUPPORTED),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("changes,field,code", EDIT_RULES)
def test_each_rule_is_shown_on_its_field_and_nothing_is_saved(browser, team_a, server_a, opened, changes, field, code,
                                                              htmx):
    response = browser.post(url(team_a, server_a, "news"), {**opened, **changes}, **(HX if htmx else {}))

    assert response.status_code == 200
    assert says(code) in field_errors(response, field)
    assert ("<html" in response.content.decode()) is not htmx
    assert postmark().get_stream("news").name == "News"
    [attempt] = edit_events()  # refused by the form, and on record with its reason
    assert attempt.outcome == "refused" and says(code) in attempt.detail


def test_handling_on_a_transactional_stream_is_refused_on_its_field(browser, team_a, server_a):
    seen = seen_in(browser.get(url(team_a, server_a, "outbound")))

    response = browser.post(url(team_a, server_a, "outbound"), {
        "name": "Receipts", "unsubscribe_handling": "Postmark", "stream_type": "Transactional", "seen": seen})

    assert field_errors(response, "unsubscribe_handling") == says(ErrorCode.UNSUBSCRIBE_HANDLING_NOT_SUPPORTED)
    assert postmark().get_stream("outbound").name == "Default Transactional Stream"


# --- Postmark's own refusals -----------------------------------------------------------------------------


def test_custom_handling_postmark_support_has_not_allowed_is_refused_on_its_field(browser, team_a, server_a, opened):
    response = browser.post(url(team_a, server_a, "news"), {**opened, "unsubscribe_handling": "Custom"})

    assert response.status_code == 200
    assert field_errors(response, "unsubscribe_handling") == says(ErrorCode.CUSTOM_UNSUBSCRIBE_NOT_ALLOWED)
    assert postmark().get_stream("news").unsubscribe_handling.value == "Postmark"
    [event] = edit_events()
    assert (event.outcome, event.detail.split(":")[0]) == ("refused", "Postmark code 1238")
    assert event.changes == {"unsubscribe_handling": ["Postmark", "Custom"]}


def test_postmark_refuses_handling_on_a_transactional_stream_when_the_form_was_tampered_with(browser, team_a,
                                                                                            server_a):
    seen = seen_in(browser.get(url(team_a, server_a, "outbound")))

    response = browser.post(url(team_a, server_a, "outbound"), {
        "name": "Default Transactional Stream", "unsubscribe_handling": "Postmark", "stream_type": "Broadcasts",
        "seen": seen})

    assert field_errors(response, "unsubscribe_handling") == says(ErrorCode.UNSUBSCRIBE_HANDLING_NOT_SUPPORTED)
    [event] = edit_events()
    assert (event.outcome, event.detail.split(":")[0]) == ("refused", "Postmark code 1239")
    assert "Type Transactional" in text_of(response)  # the page shows the stream as Postmark has it


# The form never lets these through; here Postmark itself refuses them (the service is called directly),
# and each refusal lands on the edit form's field, in the same words.
EDIT_REFUSED_BY_POSTMARK = [
    ({"name": ""}, ErrorCode.NAME_REQUIRED),
    ({"name": "x" * 101}, ErrorCode.NAME_TOO_LONG),
    ({"description": "x" * 1001}, ErrorCode.DESCRIPTION_TOO_LONG),
    ({"description": "<b>news</b>"}, ErrorCode.DESCRIPTION_HAS_HTML),
    ({"unsubscribe_handling": "Custom"}, ErrorCode.CUSTOM_UNSUBSCRIBE_NOT_ALLOWED),
    ({"unsubscribe_handling": "None"}, ErrorCode.UNSUBSCRIBE_HANDLING_NOT_SUPPORTED),
]


@pytest.mark.parametrize("changes,code", EDIT_REFUSED_BY_POSTMARK)
def test_each_postmark_refusal_of_an_edit_lands_on_its_field(editor, team_a, server_a, news, changes, code):
    wanted = {"name": "News", "description": "Monthly product news", "unsubscribe_handling": "Postmark", **changes}

    with pytest.raises(ServiceError) as refused:
        stream_edit(actor=editor, team=team_a, server=server_a, stream_id="news",
                    seen=read_snapshot(stream_snapshot(news), stream_id="news"), **wanted)

    field, message = REFUSALS[code]
    assert (refused.value.field, refused.value.message) == (field, message)
    form = StreamEditForm(wanted, stream_type="Broadcasts")
    form.is_valid()
    apply_service_error(form, refused.value)
    assert message in form.errors[field]
    [event] = edit_events()
    assert (event.outcome, event.detail.split(":")[0]) == ("refused", f"Postmark code {int(code)}")


def test_saving_a_stream_postmark_has_purged_says_so_and_is_audited(browser, team_a, server_a, opened, sandbox):
    postmark().archive_stream("news")
    sandbox.advance_clock(days=46)

    response = browser.post(url(team_a, server_a, "news"), {**opened, "name": "Old news"}, follow=True)

    assert response.redirect_chain[-1] == (reverse("stream_list", args=[team_a.slug, server_a.pk]), 302)
    assert any("may have been purged or removed in Postmark" in message for message in messages_on(response))
    [event] = edit_events()
    assert (event.outcome, event.detail.split(":")[0]) == ("refused", "Postmark code 1226")


def test_saving_a_purged_stream_with_htmx_sends_the_browser_to_the_list(browser, team_a, server_a, opened, sandbox):
    postmark().archive_stream("news")
    sandbox.advance_clock(days=46)

    response = browser.post(url(team_a, server_a, "news"), {**opened, "name": "Old news"}, **HX)

    assert response["HX-Redirect"] == reverse("stream_list", args=[team_a.slug, server_a.pk])


# --- Nothing silently overwritten -----------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_stream_changed_in_postmark_meanwhile_is_not_overwritten_and_the_page_says_what_changed(
        browser, team_a, server_a, opened, htmx):
    postmark().edit_stream("news", name="Company news", description="Changed in Postmark")

    response = browser.post(url(team_a, server_a, "news"), {**opened, "name": "My news"}, **(HX if htmx else {}))

    text, content = text_of(response), response.content.decode()
    assert response.status_code == 200
    assert "Changed in Postmark since you opened this form" in text
    assert "Name: you saw “News” — now “Company news”" in text
    assert "Description: you saw “Monthly product news” — now “Changed in Postmark”" in text
    assert "Unsubscribe handling:" not in text
    assert 'name="name" value="My news"' in content  # the person's own values stay
    assert f'href="{url(team_a, server_a, "news")}">discard my changes and reload</a>' in content
    assert postmark().get_stream("news").name == "Company news"
    assert read_snapshot(seen_in(response), stream_id="news")["name"] == "Company news"
    [event] = edit_events()
    assert event.outcome == "refused" and "changed in Postmark" in event.detail


def test_saving_again_after_seeing_the_changes_applies_the_persons_values(browser, team_a, server_a, opened):
    postmark().edit_stream("news", name="Company news")
    conflict = browser.post(url(team_a, server_a, "news"), {**opened, "name": "My news"})

    response = browser.post(url(team_a, server_a, "news"), {**opened, "name": "My news", "seen": seen_in(conflict)},
                            follow=True)

    assert "Your changes to “My news” (news) were saved in Postmark." in messages_on(response)
    assert postmark().get_stream("news").name == "My news"
    assert [event.outcome for event in edit_events()] == ["success", "refused"]
    assert edit_events()[0].changes == {"name": ["Company news", "My news"]}


def test_a_form_whose_note_was_tampered_with_saves_nothing(browser, team_a, server_a, opened):
    response = browser.post(url(team_a, server_a, "news"), {**opened, "name": "My news", "seen": "made-up"})

    assert "Changed in Postmark since you opened this form" in text_of(response)
    assert "Name: now “News”" in text_of(response)
    assert postmark().get_stream("news").name == "News"


# --- Who may edit ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["editor", "admin", "owner"])
def test_editors_and_up_may_open_the_edit_page_and_see_edit_on_the_stream(persona, cast, client_as, team_a,
                                                                         server_a, news):
    browser = client_as(cast[persona])

    assert browser.get(url(team_a, server_a, "news")).status_code == 200
    detail = browser.get(url(team_a, server_a, "news", "stream_detail")).content.decode()
    assert f'href="{url(team_a, server_a, "news")}"' in detail


def test_a_viewer_sees_no_edit_cannot_edit_and_the_attempt_is_audited(viewer, client_as, team_a, server_a, news):
    browser = client_as(viewer)

    detail = browser.get(url(team_a, server_a, "news", "stream_detail"))
    assert detail.status_code == 200
    assert url(team_a, server_a, "news") not in detail.content.decode()
    assert browser.get(url(team_a, server_a, "news")).status_code == 403
    seen = stream_snapshot(news)
    response = browser.post(url(team_a, server_a, "news"), {"name": "Mine", "unsubscribe_handling": "Postmark",
                                                            "stream_type": "Broadcasts", "seen": seen})

    assert response.status_code == 403
    assert postmark().get_stream("news").name == "News"
    [event] = edit_events()
    assert (event.outcome, event.actor_id) == ("denied", viewer.pk)


def test_another_teams_stream_is_not_found(outsider, client_as, team_a, server_a, news):
    assert client_as(outsider).get(url(team_a, server_a, "news")).status_code == 404


# --- Trouble with Postmark ------------------------------------------------------------------------------


@pytest.mark.parametrize("status,banner", [
    (503, "Postmark isn't answering"),
    (502, "Postmark isn't answering"),
    (429, "Postmark asked us to slow down. Wait a few seconds and try again."),
])
def test_the_edit_page_shows_a_banner_when_postmark_is_in_trouble(browser, team_a, server_a, news, sandbox, status,
                                                                  banner):
    sandbox.set_faults(status=status)

    response = browser.get(url(team_a, server_a, "news"))

    assert response.status_code == 200
    assert banner in text_of(response)
    assert "Back to the stream" in text_of(response)


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_saving_while_postmark_is_down_keeps_the_values_and_changes_nothing(browser, team_a, server_a, opened, sandbox,
                                                                           htmx):
    sandbox.set_faults(status=503)

    response = browser.post(url(team_a, server_a, "news"), {**opened, "name": "My news"}, **(HX if htmx else {}))

    assert response.status_code == 200
    assert "Postmark isn't answering for Acme Production right now" in text_of(response)
    assert 'name="name" value="My news"' in response.content.decode()
    sandbox.clear_faults()
    assert postmark().get_stream("news").name == "News"
    [event] = edit_events()
    assert event.outcome == "failed"


def test_saving_while_postmark_hangs_shows_a_banner(browser, team_a, server_a, opened, sandbox, settings):
    settings.POSTMARK_READ_TIMEOUT = 0.3
    sandbox.set_faults(hang=True)

    response = browser.post(url(team_a, server_a, "news"), {**opened, "name": "My news"})

    assert response.status_code == 200
    assert "Postmark isn't answering" in text_of(response)
    assert 'name="name" value="My news"' in response.content.decode()
    assert edit_events()[0].outcome == "failed"


# --- Speed ------------------------------------------------------------------------------------------------


def test_the_edit_page_makes_a_bounded_number_of_queries(browser, team_a, server_a, news, opened,
                                                       django_assert_max_num_queries):
    with django_assert_max_num_queries(10):
        browser.get(url(team_a, server_a, "news"))
    with django_assert_max_num_queries(14):  # the stream's state before and after reach the last-known copy
        browser.post(url(team_a, server_a, "news"), {**opened, "name": "Product news"})


def test_the_edit_page_is_titled_with_the_name_postmark_has_now(browser, team_a, server_a, news):
    stream = stream_get(server=server_a, stream_id="news")

    assert f"Edit “{stream.name}”" in text_of(browser.get(url(team_a, server_a, "news")))
