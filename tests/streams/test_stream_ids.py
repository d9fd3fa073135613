"""Stream IDs in a stream's addresses: only what Postmark allows for an ID reaches a page (and Postmark);
anything else is an ordinary 404, and an ID that merely looks like a token gets an ordinary answer."""

import pytest
from django.urls import reverse

from dashboard.models import AuditEvent

pytestmark = pytest.mark.django_db

# Shaped like a Postmark server token, and allowed in an address (it starts with a letter), but no stream's ID.
UUID_ID = "d35b732e-0000-4000-8000-000000000000"
EDIT_FORM = {"name": "Receipts", "description": "", "unsubscribe_handling": "None", "stream_type": "Transactional",
             "seen": ""}
ACTIONS = [
    ("stream_archive", "stream.archive", {"confirmation": UUID_ID}, "Postmark has no stream with this ID"),
    ("stream_restore", "stream.restore", {}, f"Postmark has deleted the stream {UUID_ID}"),
    ("stream_edit", "stream.edit", EDIT_FORM, f"Postmark no longer has the stream “{UUID_ID}”"),
]


PERSONAS = ["anonymous", "outsider", "viewer", "editor", "admin", "owner"]
# Each would have reached Postmark somewhere else than the stream: `..` arrived as GET /, POST /archive, ...
BAD_IDS = ["..", ".", "%2E%2E", "%2e", "..%2F..", "bill%2Fing", "a.b", "9lives", "-x", "_x", "x" * 101, "zürich"]
PAGES = ["", "edit/", "archive/", "restore/"]


def messages_on(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.mark.parametrize(("name", "action", "data", "said"), ACTIONS, ids=[name for name, *_ in ACTIONS])
def test_an_action_on_a_stream_id_shaped_like_a_uuid_says_the_stream_is_not_there(client_as, editor, team_a, server_a,
                                                                                   name, action, data, said):
    response = client_as(editor).post(reverse(name, args=[team_a.slug, server_a.pk, UUID_ID]), data, follow=True)

    assert response.redirect_chain == [(reverse("stream_list", args=[team_a.slug, server_a.pk]), 302)]
    assert response.status_code == 200
    assert any(message.startswith(said) for message in messages_on(response)), messages_on(response)
    event = AuditEvent.objects.get(action=action)
    assert (event.outcome, event.actor_id, event.target_label) == ("refused", editor.pk,
                                                                   f"{UUID_ID} on Acme Production")
    assert event.detail.startswith("Postmark code 1226")


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("stream_id", BAD_IDS)
def test_a_stream_address_with_an_id_postmark_does_not_allow_is_an_ordinary_404_for_everyone(
    client_as, cast, team_a, server_a, sandbox, persona, stream_id
):
    browser = client_as(cast[persona])
    heard_before = list(sandbox.received)
    for page in PAGES:
        address = f"/t/{team_a.slug}/servers/{server_a.pk}/streams/{stream_id}/{page}"
        for method in ("get", "post"):
            response = getattr(browser, method)(address, {"confirmation": stream_id, "name": "Billing"})
            assert response.status_code == 404, (method, address)
            assert "We can't find that page" in response.content.decode()
    assert sandbox.received == heard_before
    assert not AuditEvent.objects.filter(action__startswith="stream.").exists()


@pytest.mark.parametrize("stream_id", ["outbound", "inbound", "broadcast", "billing-news_2", "Legacy_Stream",
                                       "x" * 100])
def test_every_id_postmark_may_have_made_has_its_stream_addresses(stream_id, team_a, server_a):
    for name in ("stream_detail", "stream_edit", "stream_archive", "stream_restore"):
        address = reverse(name, args=[team_a.slug, server_a.pk, stream_id])
        assert f"/streams/{stream_id}/" in address


def test_an_editor_archiving_stream_dot_dot_reaches_no_postmark_endpoint(client_as, editor, team_a, server_a,
                                                                         sandbox):
    browser = client_as(editor)
    streams = f"/t/{team_a.slug}/servers/{server_a.pk}/streams/"
    sandbox.received.clear()

    answers = [browser.get(streams + "../"), browser.post(streams + "%2E%2E/archive/", {"confirmation": ".."}),
               browser.post(streams + "%2E%2E/restore/")]

    assert [answer.status_code for answer in answers] == [404, 404, 404]
    assert sandbox.received == []
    browser.get(streams + "outbound/")  # a real stream's page does reach Postmark (its server's list)
    assert sandbox.received == ["GET /message-streams"]
