"""Every attempt on record, including those a form refuses before any service sees them (issue 15)."""

import pytest
from django import forms
from django.test import RequestFactory
from django.urls import reverse

from dashboard.forms import record_refusal
from dashboard.models import AuditEvent, Membership
from dashboard.services.servers import NAME_LOOKS_LIKE_TOKEN
from tests.conftest import SPARE_TOKEN, TOKEN_A

pytestmark = pytest.mark.django_db


def _refusals():
    return list(AuditEvent.objects.filter(outcome=AuditEvent.Outcome.REFUSED))


def _everything_in(event: AuditEvent) -> str:
    return " ".join(str(value) for value in (event.actor_label, event.target_id, event.target_label, event.detail,
                                             event.changes))


def test_an_admin_inviting_someone_as_owner_is_on_record_with_the_reason(admin, team_a, client_as):
    response = client_as(admin).post(reverse("member_invite", args=[team_a.slug]),
                                     {"email": "newcomer@example.com", "role": "owner"})

    assert response.status_code == 200
    [event] = _refusals()
    assert (event.action, event.actor_id, event.actor_role, event.team_id) == ("member.invite", admin.pk, "admin",
                                                                               team_a.pk)
    assert (event.target_type, event.target_label) == ("invitation", "")
    assert event.detail == ("Refused by the form. Role: Select a valid choice. owner is not one of the available "
                            "choices.")


def test_a_token_pasted_into_a_servers_name_is_on_record_without_the_token(admin, team_a, server_a, client_as):
    client_as(admin).post(reverse("server_rename", args=[team_a.slug, server_a.pk]), {"name": TOKEN_A})

    [event] = _refusals()
    assert (event.action, event.target_type, event.target_id, event.target_label) == (
        "server.rename", "server", str(server_a.pk), "Acme Production")
    assert event.detail == f"Refused by the form. Display name: {NAME_LOOKS_LIKE_TOKEN}"
    assert TOKEN_A not in _everything_in(event)


def test_a_refused_token_field_is_named_but_never_what_was_typed_in_it(admin, team_a, client_as):
    client_as(admin).post(reverse("server_connect", args=[team_a.slug]),
                          {"name": "Acme Staging", "token": SPARE_TOKEN + "x" * 200})

    [event] = _refusals()
    assert event.action == "server.connect"
    assert event.detail == ("Refused by the form. Server API token: That is too long for a Postmark server token. "
                            "Copy it again from the server's API Tokens page in Postmark.")
    assert SPARE_TOKEN not in _everything_in(event)


def test_a_kept_token_typed_into_a_choice_is_masked_to_its_last_four_characters(admin, team_a, server_a, viewer,
                                                                                 client_as):
    member = Membership.objects.get(team=team_a, user=viewer)
    client_as(admin).post(reverse("member_role", args=[team_a.slug, member.pk]), {"role": TOKEN_A})

    [event] = _refusals()
    assert (event.action, event.target_type, event.target_label) == ("member.role_change", "member", viewer.email)
    assert event.detail == ("Refused by the form. Role: Select a valid choice. ••••a1a1 is not one of the available "
                            "choices.")


def test_a_stream_form_refusal_names_the_stream_as_its_other_entries_do(editor, team_a, server_a, client_as):
    client_as(editor).post(reverse("stream_archive", args=[team_a.slug, server_a.pk, "broadcast"]), {})

    [event] = _refusals()
    assert (event.action, event.actor_role, event.target_type, event.target_label) == (
        "stream.archive", "editor", "stream", "broadcast on Acme Production")
    assert event.detail == "Refused by the form. Type the stream's ID to confirm: This field is required."


def test_a_message_that_repeats_what_was_typed_leaves_it_out_for_a_field_named_for_a_secret(owner, team_a):
    class Form(forms.Form):
        secret_word = forms.ChoiceField(label="Secret word", choices=[("swordfish", "Swordfish")])
        colour = forms.ChoiceField(label="Colour", choices=[("red", "Red")])

    form = Form({"secret_word": SPARE_TOKEN, "colour": "y" * 60})
    request = RequestFactory().post("/")
    request.user, request.team, request.membership = owner, team_a, team_a.memberships.get(user=owner)
    assert not form.is_valid()

    record_refusal(request, form, action="team.delete")

    [event] = _refusals()
    assert event.detail == ("Refused by the form. Secret word: Select a valid choice. … is not one of the available "
                            f"choices. Colour: Select a valid choice. {'y' * 40}… is not one of the available choices.")


def test_a_wrong_current_password_is_on_record_without_any_password(owner, client_as):
    client_as(owner).post(reverse("password_change"), {"old_password": "guess-one-two", "new_password1": "x",
                                                       "new_password2": "y"})

    [event] = _refusals()
    assert (event.action, event.actor_id, event.team_id, event.target_label) == (
        "auth.password.change", owner.pk, None, owner.email)
    assert event.detail.startswith("Refused by the form. Old password: Your old password was entered incorrectly.")
    assert "guess-one-two" not in _everything_in(event)


# (URL name, who sends it, what the URL names, the form sent, the action on record)
MUTATING_FORMS = [
    ("team_list", "owner", None, {"name": ""}, "team.create"),
    ("team_delete", "owner", None, {"confirmation": ""}, "team.delete"),
    ("member_invite", "admin", None, {"email": "not an address", "role": "viewer"}, "member.invite"),
    ("member_role", "admin", "member", {"role": "emperor"}, "member.role_change"),
    ("server_connect", "admin", None, {"name": "", "token": ""}, "server.connect"),
    ("server_rename", "admin", "server", {"name": ""}, "server.rename"),
    ("server_token", "admin", "server", {"token": ""}, "server.token.replace"),
    ("server_stream_limit", "admin", "server", {"stream_limit": "many"}, "server.stream_limit"),
    ("stream_create", "editor", "server", {"name": "News", "stream_id": "Not an ID!", "stream_type": "Broadcasts"},
     "stream.create"),
    ("stream_edit", "editor", "stream", {"name": "<b>", "stream_type": "Broadcasts"}, "stream.edit"),
    ("stream_archive", "editor", "stream", {"confirmation": ""}, "stream.archive"),
    ("suppression_add", "editor", "stream", {"addresses": "not an address"}, "suppression.add"),
    ("suppression_remove_confirm", "editor", "stream", {}, "suppression.remove"),
    ("preferences", "owner", "account", {"time_zone": "Z" * 65}, "account.time_zone"),
]


def _url(name, kind, team, server, viewer):
    if kind == "account":
        return reverse(name)
    if kind is None:
        return reverse(name, args=[team.slug]) if name != "team_list" else reverse(name)
    if kind == "member":
        return reverse(name, args=[team.slug, Membership.objects.get(team=team, user=viewer).pk])
    if kind == "server":
        return reverse(name, args=[team.slug, server.pk])
    return reverse(name, args=[team.slug, server.pk, "broadcast"])


@pytest.mark.parametrize(("name", "persona", "kind", "data", "action"), MUTATING_FORMS,
                         ids=[row[0] for row in MUTATING_FORMS])
def test_each_mutating_form_puts_one_refused_entry_on_record(name, persona, kind, data, action, cast, team_a,
                                                             server_a, viewer, client_as):
    response = client_as(cast[persona]).post(_url(name, kind, team_a, server_a, viewer), data)

    assert response.status_code < 500
    [event] = _refusals()
    assert (event.action, event.actor_id) == (action, cast[persona].pk)
    assert event.detail.startswith("Refused by the form. ")
    assert event.team_id == (None if kind == "account" or name == "team_list" else team_a.pk)
