"""Postmark servers of a team: connecting one, its page, replacing its token, renaming and removing it,
and what a team sees when a stored token can no longer be read."""

import contextlib
import html
import re

import pytest
from django.conf import settings
from django.test.utils import override_settings
from django.urls import reverse

from dashboard.models import AuditEvent, Server
from dashboard.postmark.client import SANDBOX_URL, PostmarkClient
from dashboard.postmark.sandbox import Sandbox, install
from dashboard.services.servers import TOKEN_UNREADABLE, server_connect, server_token_is_readable
from tests.conftest import SPARE_TOKEN, TOKEN_A

pytestmark = pytest.mark.django_db

NEW_TOKEN = "dddddddd-0000-4000-8000-00000000d4d4"
# The test ring without 'test2' (the key that encrypts by default): 'test1' alone.
RING_WITHOUT_TEST2 = next(entry for entry in settings.TOKEN_ENCRYPTION_KEYS.split(",") if entry.startswith("test1:"))


def page(response) -> str:
    return html.unescape(response.content.decode())


def field_errors(response, field: str) -> str:
    found = re.search(rf'<ul class="field__errors" id="id_{field}_errors">(.*?)</ul>', response.content.decode(), re.S)
    return " ".join(html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", found.group(1))) if found else ""


def messages_on(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def url(name, team, server=None):
    return reverse(name, args=[team.slug] if server is None else [team.slug, server.pk])


@pytest.fixture
def token_renewed_in_postmark(sandbox, server_a):
    """Postmark after someone made a new token for server_a's server there (NEW_TOKEN) and deleted the old one.

    The sandbox has one token per server, so this is a fresh sandbox whose first server gets the same ServerID.
    """
    renewed = Sandbox()
    previous = install(renewed)
    assert renewed.add_server(NEW_TOKEN, name="Acme Production") == server_a.postmark_server_id
    yield renewed
    install(previous)


# --- Connecting a server --------------------------------------------------------------------------


def test_the_connect_page_says_where_the_token_is_and_how_it_is_kept(admin, team_a, client_as):
    response = client_as(admin).get(url("server_connect", team_a))

    text = page(response)
    assert response.status_code == 200
    assert "API Tokens" in text and "Server API token" in text
    assert "check the token with Postmark" in text
    assert "stored encrypted" in text and "last four characters" in text
    assert re.search(r'<input type="password" name="token"[^>]*>', response.content.decode())


def test_an_admin_connects_a_sandbox_server_and_postmarks_server_id_is_recorded(admin, team_a, sandbox, client_as):
    postmark_id = sandbox.add_server(SPARE_TOKEN, name="Acme Marketing")

    response = client_as(admin).post(url("server_connect", team_a),
                                     {"name": " Acme  Marketing ", "token": f" {SPARE_TOKEN} ", "sandbox": "on"},
                                     follow=True)

    server = Server.objects.get(team=team_a)
    assert (server.name, server.postmark_server_id, server.is_sandbox) == ("Acme Marketing", postmark_id, True)
    assert (server.masked_token, server.token_key_id, server.connected_by) == ("••••c3c3", "test2", admin)
    assert server.token_checked_at is not None
    assert response.redirect_chain == [(url("server_detail", team_a, server), 302)]
    assert messages_on(response) == ["Acme Marketing is connected. Postmark accepted its token, which is now stored "
                                     "encrypted and shown only as ••••c3c3."]
    assert str(postmark_id) in page(response)
    event = AuditEvent.objects.get(action="server.connect")
    assert (event.outcome, event.actor_id, event.actor_role, event.team_id) == ("success", admin.pk, "admin",
                                                                                team_a.pk)
    assert (event.target_type, event.target_id, event.target_label) == ("server", str(server.pk), "Acme Marketing")
    assert event.changes == {"name": [None, "Acme Marketing"], "Postmark server ID": [None, postmark_id],
                             "token": [None, "••••c3c3"]}
    assert event.detail == ""


def test_a_token_postmark_does_not_know_is_refused_on_the_token_field(admin, team_a, sandbox, client_as):
    response = client_as(admin).post(url("server_connect", team_a),
                                     {"name": "Acme Marketing", "token": SPARE_TOKEN, "sandbox": "on"})

    assert response.status_code == 200
    assert "Postmark did not accept this token. Copy the Server API token again" in field_errors(response, "token")
    assert not Server.objects.exists()
    event = AuditEvent.objects.get(action="server.connect")
    assert (event.outcome, event.actor_id, event.team_id, event.target_id) == ("refused", admin.pk, team_a.pk, "")
    assert event.target_label == "Acme Marketing"
    assert event.changes == {"token": [None, "••••c3c3"]}
    assert event.detail.startswith("Postmark did not accept this token.")


def test_when_postmark_cannot_be_reached_nothing_is_saved_and_the_attempt_is_recorded_as_failed(
    admin, team_a, sandbox, client_as
):
    sandbox.add_server(SPARE_TOKEN, name="Acme Marketing")
    sandbox.set_faults(status=503, times=5)

    response = client_as(admin).post(url("server_connect", team_a),
                                     {"name": "Acme Marketing", "token": SPARE_TOKEN, "sandbox": "on"})

    assert response.status_code == 200
    assert ("Postmark could not be reached to check the token. Nothing was saved; try again in a few minutes."
            in page(response))
    assert not Server.objects.exists()
    event = AuditEvent.objects.get(action="server.connect")
    assert (event.outcome, event.changes) == ("failed", {"token": [None, "••••c3c3"]})
    assert event.detail.startswith("Postmark could not be reached")


def test_the_same_token_cannot_be_connected_twice(admin, team_a, server_a, client_as):
    response = client_as(admin).post(url("server_connect", team_a),
                                     {"name": "Acme again", "token": TOKEN_A, "sandbox": "on"})

    assert response.status_code == 200
    assert field_errors(response, "token") == "This token is already connected to Acme as “Acme Production”."
    assert list(Server.objects.filter(team=team_a)) == [server_a]
    event = AuditEvent.objects.get(action="server.connect", outcome="refused")
    assert (event.actor_id, event.target_label, event.changes) == (admin.pk, "Acme again",
                                                                   {"token": [None, "••••a1a1"]})


def test_the_same_postmark_server_cannot_be_connected_twice_with_another_token(admin, team_a, server_a, sandbox,
                                                                               client_as):
    # Postmark lets a server have several tokens; the sandbox has one per server, so the team's existing
    # row is pointed at the Postmark server that SPARE_TOKEN belongs to.
    postmark_id = sandbox.add_server(SPARE_TOKEN, name="Acme Production")
    Server.objects.filter(pk=server_a.pk).update(postmark_server_id=postmark_id)

    response = client_as(admin).post(url("server_connect", team_a),
                                     {"name": "Acme Production 2", "token": SPARE_TOKEN, "sandbox": "on"})

    assert response.status_code == 200
    assert field_errors(response, "token") == (f"This token belongs to Postmark server {postmark_id}, which Acme has "
                                               "already connected as “Acme Production”.")
    assert Server.objects.filter(team=team_a).count() == 1
    assert AuditEvent.objects.get(action="server.connect", outcome="refused").changes == {"token": [None, "••••c3c3"]}


def test_a_token_pasted_into_the_name_field_is_refused_and_not_shown_back(admin, team_a, sandbox, client_as):
    sandbox.add_server(SPARE_TOKEN)

    response = client_as(admin).post(url("server_connect", team_a),
                                     {"name": SPARE_TOKEN, "token": SPARE_TOKEN, "sandbox": "on"})

    assert response.status_code == 200
    assert "That looks like a server token, not a name." in field_errors(response, "name")
    assert SPARE_TOKEN not in response.content.decode()
    assert not Server.objects.exists()


def test_a_server_connected_in_another_team_does_not_block_this_one(admin, team_a, server_b, sandbox, client_as):
    # Each team stores its own copy, encrypted for that team only.
    response = client_as(admin).post(url("server_connect", team_a),
                                     {"name": "Globex shared", "token": "bbbbbbbb-0000-4000-8000-00000000b2b2",
                                      "sandbox": "on"})

    assert response.status_code == 302
    assert Server.objects.get(team=team_a).postmark_server_id == server_b.postmark_server_id


# --- The server's page ----------------------------------------------------------------------------


def test_the_server_page_shows_what_the_team_knows_about_the_server(admin, team_a, server_a, client_as):
    response = client_as(admin).get(url("server_detail", team_a, server_a))

    text = page(response)
    assert response.status_code == 200
    assert "Acme Production" in text
    assert str(server_a.postmark_server_id) in text
    assert "••••a1a1" in text
    assert "Token last checked with Postmark" in text
    assert "by Olivia Owner" in text
    assert "The built-in sandbox" in text
    assert TOKEN_UNREADABLE not in text
    for action in ("Replace token…", "Remove server…", "Save the name"):
        assert action in text


@pytest.mark.parametrize("persona", ["viewer", "editor"])
def test_viewers_and_editors_see_the_server_but_no_admin_actions(persona, cast, team_a, server_a, client_as):
    response = client_as(cast[persona]).get(url("server_detail", team_a, server_a))

    text = page(response)
    assert response.status_code == 200
    assert "Acme Production" in text and "••••a1a1" in text
    for action in ("Replace token…", "Remove server…", "Save the name", url("server_token", team_a, server_a),
                   url("server_remove", team_a, server_a), url("server_rename", team_a, server_a)):
        assert action not in text


@pytest.mark.parametrize("persona", ["viewer", "editor"])
@pytest.mark.parametrize(("name", "method"), [("server_connect", "get"), ("server_connect", "post"),
                                              ("server_token", "get"), ("server_token", "post"),
                                              ("server_rename", "post"), ("server_remove", "get"),
                                              ("server_remove", "post")])
def test_viewers_and_editors_cannot_use_the_admin_pages(persona, name, method, cast, team_a, server_a, sandbox,
                                                        client_as):
    sandbox.add_server(SPARE_TOKEN)
    target = url(name, team_a) if name == "server_connect" else url(name, team_a, server_a)
    data = {"name": "Taken over", "token": SPARE_TOKEN, "sandbox": "on"} if method == "post" else None

    response = getattr(client_as(cast[persona]), method)(target, data)

    assert response.status_code == 403
    server = Server.objects.get(team=team_a)
    assert (server.name, server.masked_token) == ("Acme Production", "••••a1a1")
    assert not AuditEvent.objects.filter(action__startswith="server.", actor_id=cast[persona].pk).exists()


def test_an_outsider_cannot_open_another_teams_server(outsider, team_a, server_a, client_as):
    assert client_as(outsider).get(url("server_detail", team_a, server_a)).status_code == 404


# --- Replacing the token --------------------------------------------------------------------------


def test_an_admin_replaces_the_token_with_a_new_one_of_the_same_postmark_server(
    admin, team_a, server_a, token_renewed_in_postmark, client_as
):
    checked_before = server_a.token_checked_at

    response = client_as(admin).post(url("server_token", team_a, server_a), {"token": NEW_TOKEN}, follow=True)

    server_a.refresh_from_db()
    assert response.redirect_chain == [(url("server_detail", team_a, server_a), 302)]
    assert messages_on(response) == ["Postmark accepted the new token for Acme Production; it is stored encrypted and "
                                     "shown only as ••••d4d4."]
    assert server_a.masked_token == "••••d4d4"
    assert server_a.token_checked_at > checked_before
    assert len(PostmarkClient(NEW_TOKEN, base_url=SANDBOX_URL).list_streams()) > 0  # the stored token works
    event = AuditEvent.objects.get(action="server.token.replace")
    assert (event.outcome, event.actor_id, event.team_id) == ("success", admin.pk, team_a.pk)
    assert (event.target_type, event.target_id, event.target_label) == ("server", str(server_a.pk), "Acme Production")
    assert event.changes == {"token": ["••••a1a1", "••••d4d4"]}


def test_the_replace_page_says_what_happens_to_the_old_token(admin, team_a, server_a, client_as):
    response = client_as(admin).get(url("server_token", team_a, server_a))

    text = page(response)
    assert response.status_code == 200
    assert "The token stored now ends in ••••a1a1." in text
    assert "if Postmark does not accept it, nothing changes" in text


def test_a_token_of_a_different_postmark_server_does_not_replace_the_token(admin, team_a, server_a, sandbox,
                                                                            client_as):
    other_id = sandbox.add_server(SPARE_TOKEN, name="Somewhere else")
    ciphertext = server_a.token_ciphertext

    response = client_as(admin).post(url("server_token", team_a, server_a), {"token": SPARE_TOKEN})

    assert response.status_code == 200
    assert field_errors(response, "token") == (
        f"This token belongs to another Postmark server ({other_id}), not to “Acme Production” "
        f"({server_a.postmark_server_id}). Connect it as a new server instead.")
    server_a.refresh_from_db()
    assert (server_a.token_ciphertext, server_a.masked_token) == (ciphertext, "••••a1a1")
    event = AuditEvent.objects.get(action="server.token.replace")
    assert (event.outcome, event.changes) == ("refused", {"token": ["••••a1a1", "••••c3c3"]})


def test_a_replacement_token_is_checked_with_postmark_again(admin, team_a, server_a, sandbox, client_as):
    response = client_as(admin).post(url("server_token", team_a, server_a), {"token": SPARE_TOKEN})

    assert response.status_code == 200
    assert "Postmark did not accept this token." in field_errors(response, "token")
    server_a.refresh_from_db()
    assert server_a.masked_token == "••••a1a1"
    assert AuditEvent.objects.get(action="server.token.replace").outcome == "refused"


def test_a_token_already_used_by_another_server_of_the_team_does_not_replace_the_token(
    admin, team_a, server_a, sandbox, client_as
):
    sandbox.add_server(SPARE_TOKEN)
    other = server_connect(actor=admin, team=team_a, name="Acme Marketing", token=SPARE_TOKEN, sandbox=True)

    response = client_as(admin).post(url("server_token", team_a, other), {"token": TOKEN_A})

    assert response.status_code == 200
    assert field_errors(response, "token") == "This token is already connected to Acme as “Acme Production”."
    other.refresh_from_db()
    assert other.masked_token == "••••c3c3"


# --- Renaming and removing ------------------------------------------------------------------------


def test_an_admin_renames_a_server(admin, team_a, server_a, client_as):
    response = client_as(admin).post(url("server_rename", team_a, server_a), {"name": "  Acme   Live "}, follow=True)

    server_a.refresh_from_db()
    assert server_a.name == "Acme Live"
    assert response.redirect_chain == [(url("server_detail", team_a, server_a), 302)]
    assert messages_on(response) == ["“Acme Production” is now called “Acme Live”."]
    event = AuditEvent.objects.get(action="server.rename")
    assert (event.outcome, event.actor_id, event.team_id, event.target_id) == ("success", admin.pk, team_a.pk,
                                                                               str(server_a.pk))
    assert (event.target_label, event.changes) == ("Acme Live", {"name": ["Acme Production", "Acme Live"]})


@pytest.mark.parametrize(("name", "says"), [
    ("   ", "Give the server a name your team will recognise."),
    ("x" * 81, "Keep the name to 80 characters or fewer."),
    (TOKEN_A, "That looks like a server token, not a name."),
], ids=["blank", "too long", "a token"])
def test_a_server_keeps_its_name_when_the_new_one_is_refused(name, says, admin, team_a, server_a, client_as):
    response = client_as(admin).post(url("server_rename", team_a, server_a), {"name": name}, follow=True)

    server_a.refresh_from_db()
    assert server_a.name == "Acme Production"
    assert says in messages_on(response)[0]
    event = AuditEvent.objects.get(action="server.rename")  # the attempt, with the form's reason
    assert (event.outcome, event.target_label, event.changes) == ("refused", "Acme Production", {})
    assert says in event.detail and TOKEN_A not in event.detail


def test_the_remove_page_says_nothing_changes_in_postmark(admin, team_a, server_a, client_as):
    response = client_as(admin).get(url("server_remove", team_a, server_a))

    text = page(response)
    assert response.status_code == 200
    assert "Nothing changes in Postmark." in text
    assert "deletes its stored copy of the token (••••a1a1)" in text


def test_an_admin_removes_a_server_from_the_team_only(admin, team_a, server_a, client_as):
    response = client_as(admin).post(url("server_remove", team_a, server_a), follow=True)

    assert response.redirect_chain == [(url("team_home", team_a), 302)]
    assert messages_on(response) == ["Acme Production was removed from Acme. Nothing changed in Postmark."]
    assert not Server.objects.exists()
    assert len(PostmarkClient(TOKEN_A, base_url=SANDBOX_URL).list_streams()) > 0  # still there in Postmark
    event = AuditEvent.objects.get(action="server.remove")
    assert (event.outcome, event.actor_id, event.team_id) == ("success", admin.pk, team_a.pk)
    assert (event.target_type, event.target_id, event.target_label) == ("server", str(server_a.pk), "Acme Production")
    assert event.changes == {"name": ["Acme Production", None], "token": ["••••a1a1", None]}
    assert event.detail == "Removed from the dashboard only; the server and its streams stay in Postmark."


# --- A token that can no longer be read -----------------------------------------------------------


@pytest.fixture
def two_servers(admin, team_a, server_a, sandbox):
    sandbox.add_server(SPARE_TOKEN, name="Acme Marketing")
    marketing = server_connect(actor=admin, team=team_a, name="Acme Marketing", token=SPARE_TOKEN, sandbox=True)
    return server_a, marketing


def _copy_the_other_servers_ciphertext(broken, other):
    Server.objects.filter(pk=broken.pk).update(token_ciphertext=other.token_ciphertext, token_key_id=other.token_key_id)
    return contextlib.nullcontext()


def _encrypt_the_other_under_test1_and_drop_test2(broken, other):
    with override_settings(TOKEN_ENCRYPTION_KEYS=RING_WITHOUT_TEST2):
        other.delete()
        server_connect(actor=other.connected_by, team=other.team, name=other.name, token=SPARE_TOKEN, sandbox=True)
    return override_settings(TOKEN_ENCRYPTION_KEYS=RING_WITHOUT_TEST2)


@pytest.mark.parametrize("break_token", [_copy_the_other_servers_ciphertext,
                                         _encrypt_the_other_under_test1_and_drop_test2],
                         ids=["another server's ciphertext copied in", "its key left the key ring"])
def test_an_unreadable_token_is_flagged_while_the_rest_of_the_team_works_until_it_is_re_entered(
    break_token, two_servers, admin, viewer, team_a, client_as
):
    broken, other = two_servers
    browser = client_as(admin)
    with break_token(broken, other):
        other = Server.objects.get(name="Acme Marketing")
        assert not server_token_is_readable(Server.objects.get(pk=broken.pk))
        assert server_token_is_readable(other)

        home = browser.get(url("team_home", team_a))
        assert home.status_code == 200
        assert TOKEN_UNREADABLE in page(home)
        assert "Acme Production" in page(home) and "Acme Marketing" in page(home)
        assert browser.get(url("member_list", team_a)).status_code == 200
        healthy = browser.get(url("server_detail", team_a, other))
        assert healthy.status_code == 200 and TOKEN_UNREADABLE not in page(healthy)

        detail = browser.get(url("server_detail", team_a, broken))
        assert detail.status_code == 200
        assert f"{TOKEN_UNREADABLE}." in page(detail)
        assert "cannot reach this server in Postmark" in page(detail)
        assert f'href="{url("server_token", team_a, broken)}"' in detail.content.decode()
        as_viewer = client_as(viewer).get(url("server_detail", team_a, broken))
        assert TOKEN_UNREADABLE in page(as_viewer) and "Ask an admin or owner" in page(as_viewer)
        assert url("server_token", team_a, broken) not in as_viewer.content.decode()

        replace_page = browser.get(url("server_token", team_a, broken))
        assert "can no longer read the token" in page(replace_page)
        fixed = browser.post(url("server_token", team_a, broken), {"token": TOKEN_A}, follow=True)

        assert fixed.redirect_chain == [(url("server_detail", team_a, broken), 302)]
        assert TOKEN_UNREADABLE not in page(fixed)
        assert TOKEN_UNREADABLE not in page(browser.get(url("team_home", team_a)))
        assert AuditEvent.objects.get(action="server.token.replace").changes == {"token": ["••••a1a1", "••••a1a1"]}


def test_an_admin_sets_the_stream_limit_postmark_support_granted(admin, team_a, server_a, client_as):
    browser = client_as(admin)
    page = browser.post(url("server_stream_limit", team_a, server_a), {"stream_limit": "25"}, follow=True)
    assert "Acme Production may now have 25 streams." in html.unescape(page.content.decode())
    server_a.refresh_from_db()
    assert server_a.stream_limit == 25
    event = AuditEvent.objects.get(action="server.stream_limit")
    assert (event.outcome, event.changes) == ("success", {"stream_limit": [10, 25]})


def test_a_stream_limit_that_is_not_a_sensible_number_changes_nothing(admin, team_a, server_a, client_as):
    page = client_as(admin).post(url("server_stream_limit", team_a, server_a), {"stream_limit": "0"}, follow=True)
    assert "whole number between 1 and 1000" in page.content.decode()
    server_a.refresh_from_db()
    assert server_a.stream_limit == 10
    event = AuditEvent.objects.get(action="server.stream_limit")
    assert (event.outcome, event.changes) == ("refused", {})
    assert event.detail == ("Refused by the form. Streams this server may have: Ensure this value is greater than "
                            "or equal to 1.")


def test_an_editor_sees_the_stream_limit_but_no_form_to_change_it(editor, team_a, server_a, client_as):
    page = client_as(editor).get(url("server_detail", team_a, server_a)).content.decode()
    assert "10 streams, archived ones included" in page
    assert "Save the limit" not in page


def test_a_server_whose_token_postmark_rejected_says_so_and_admins_get_the_fix(admin, viewer, team_a, server_a,
                                                                               client_as):
    Server.objects.filter(pk=server_a.pk).update(token_rejected_at="2026-11-20T10:00:00Z")
    admin_page = client_as(admin).get(url("server_detail", team_a, server_a)).content.decode()
    assert "Token rejected." in admin_page
    assert "Replace the token" in admin_page
    viewer_page = client_as(viewer).get(url("server_detail", team_a, server_a)).content.decode()
    assert "Token rejected." in viewer_page
    assert "Ask an admin or owner of Acme to replace the token" in viewer_page


def test_replacing_a_rejected_token_clears_the_mark(admin, team_a, server_a, client_as):
    Server.objects.filter(pk=server_a.pk).update(token_rejected_at="2026-11-20T10:00:00Z")
    page = client_as(admin).post(url("server_token", team_a, server_a), {"token": TOKEN_A}, follow=True)
    assert "Postmark accepted the new token" in page.content.decode()
    server_a.refresh_from_db()
    assert server_a.token_rejected_at is None
