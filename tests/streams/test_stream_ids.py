"""Stream IDs in a stream's addresses: an ID that merely looks like a token gets an ordinary answer."""

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
