"""Every attempt on record (issue 15), for the refusals no form makes: a number naming nothing in the team, a
change to what already is so, a page left open too long, a made-up invitation link, two-factor asked for
twice. Each refused request leaves exactly one audit entry, from `audit.record` through the refusal helpers."""

import time
import uuid

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from dashboard.models import AuditEvent, Invitation, Membership, Role
from dashboard.services import ServiceError
from dashboard.services.invitations import invitation_create
from dashboard.services.teams import member_leave
from tests.conftest import PASSWORD, SPARE_TOKEN, TOKEN_A, TOKEN_B

pytestmark = pytest.mark.django_db

MADE_UP_SERVER = uuid.UUID("d35b732e-0000-4000-8000-000000000000")


def refused() -> list[AuditEvent]:
    return list(AuditEvent.objects.exclude(outcome=AuditEvent.Outcome.SUCCESS).order_by("chain_seq"))


def everything_in(event: AuditEvent) -> str:
    return " ".join(str(value) for value in (event.actor_label, event.target_id, event.target_label, event.detail,
                                             event.changes))


# --- A number that names nothing in the team ------------------------------------------------------------


@pytest.fixture
def globex_member(team_b, make_user):
    """A membership of the other team: its number is real, but not Acme's."""
    return Membership.objects.create(team=team_b, user=make_user("gina@globex.example"), role=Role.VIEWER)


@pytest.mark.parametrize(("name", "action", "data"), [
    ("member_role", "member.role_change", {"role": "viewer"}),
    ("member_remove", "member.remove", {}),
])
def test_a_change_to_another_teams_member_is_refused_and_on_record(client_as, admin, team_a, globex_member, name,
                                                                   action, data):
    path = reverse(name, args=["acme", globex_member.pk])

    response = client_as(admin).post(path, data)

    assert response.status_code == 404
    [event] = refused()
    assert (event.action, event.outcome, event.actor_id, event.actor_role, event.team_id) == (
        action, "refused", admin.pk, "admin", team_a.pk)
    assert (event.target_type, event.target_id) == ("page", path)
    assert event.detail == ("Nothing in Acme has this address: a made-up number, another team's, or one removed "
                            "meanwhile. Nothing was changed.")
    assert "gina@globex.example" not in everything_in(event), "nothing about the other team's member"
    assert Membership.objects.filter(pk=globex_member.pk, role=Role.VIEWER).exists()


def test_revoking_an_invitation_that_is_not_the_teams_is_on_record(client_as, admin, team_a):
    response = client_as(admin).post(reverse("invitation_revoke", args=["acme", 999999]))

    assert response.status_code == 404
    [event] = refused()
    assert (event.action, event.outcome, event.target_id) == ("invitation.revoke", "refused",
                                                              "/t/acme/invitations/999999/revoke/")


@pytest.mark.parametrize(("name", "action", "data"), [
    ("server_rename", "server.rename", {"name": "Renamed"}),
    ("server_stream_limit", "server.stream_limit", {"stream_limit": "20"}),
    ("server_token", "server.token.replace", {"token": SPARE_TOKEN}),
    ("server_remove", "server.remove", {}),
])
def test_a_change_to_a_server_not_in_the_team_is_on_record(client_as, admin, team_a, server_a, server_b, name,
                                                           action, data):
    path = reverse(name, args=["acme", server_b.pk])

    response = client_as(admin).post(path, data)

    assert response.status_code == 404
    [event] = refused()
    assert (event.action, event.outcome, event.team_id, event.target_id) == (action, "refused", team_a.pk, path)
    assert "Globex" not in everything_in(event), "nothing about the other team's server"
    assert "a server no longer in the team" in event.target_label
    assert SPARE_TOKEN not in everything_in(event) and TOKEN_B not in everything_in(event)


@pytest.mark.parametrize(("name", "action"), [("stream_restore", "stream.restore"),
                                              ("stream_archive", "stream.archive")])
def test_a_stream_change_on_a_made_up_server_is_on_record(client_as, editor, team_a, server_a, name, action):
    path = reverse(name, args=["acme", MADE_UP_SERVER, "news"])

    response = client_as(editor).post(path, {"confirmation": "news"})

    assert response.status_code == 404
    [event] = refused()
    assert (event.action, event.outcome, event.actor_id, event.target_id) == (action, "refused", editor.pk, path)


def test_looking_at_a_made_up_number_is_a_page_visit_not_an_attempt(client_as, admin, team_a, globex_member):
    assert client_as(admin).get(reverse("member_remove", args=["acme", globex_member.pk])).status_code == 404
    assert refused() == []


# --- Changes to what already is so ------------------------------------------------------------------------


def test_removing_yourself_from_the_members_page_is_refused_and_on_record(client_as, admin, team_a):
    mine = Membership.objects.get(team=team_a, user=admin)

    response = client_as(admin).post(reverse("member_remove", args=["acme", mine.pk]), follow=True)

    assert "To take yourself out of the team, use “Leave team”." in response.content.decode()
    [event] = refused()
    assert (event.action, event.outcome, event.actor_id, event.actor_role, event.target_id) == (
        "member.remove", "refused", admin.pk, "admin", str(admin.pk))
    assert Membership.objects.filter(pk=mine.pk).exists()


def test_giving_someone_the_role_they_have_is_refused_and_on_record(client_as, owner, editor, team_a):
    theirs = Membership.objects.get(team=team_a, user=editor)

    response = client_as(owner).post(reverse("member_role", args=["acme", theirs.pk]), {"role": "editor"},
                                     follow=True)

    assert "Edith Editor is already an editor." in response.content.decode()
    [event] = refused()
    assert (event.action, event.actor_id, event.target_id, event.detail) == (
        "member.role_change", owner.pk, str(editor.pk), "Edith Editor is already an editor.")


def test_leaving_a_team_one_was_just_removed_from_is_on_record(viewer, team_a):
    Membership.objects.filter(team=team_a, user=viewer).delete()

    with pytest.raises(ServiceError):
        member_leave(actor=viewer, team=team_a)

    [event] = refused()
    assert (event.action, event.actor_id, event.team_id, event.detail) == (
        "member.leave", viewer.pk, team_a.pk, "You are not a member of this team.")


# --- The recipient lookup's actions, from a page open too long ------------------------------------------


def _remember_lookup(browser, team, email="pat@example.com"):
    session = browser.session
    session["recipient_lookup"] = {"email": email, "team": team.slug, "at": time.time()}
    session.save()


@pytest.mark.parametrize(("name", "action", "data", "why"), [
    ("recipient_lookup_remove", "suppression.remove", {"stream": "outbound"}, "the form named no server"),
    ("recipient_lookup_reactivate", "bounce.activate", {"bounce": "12"}, "the form named no server"),
    ("recipient_lookup_remove", "suppression.remove", {"stream": "../x"}, "the form named no stream"),
    ("recipient_lookup_reactivate", "bounce.activate", {"bounce": "twelve"}, "the form named no bounce"),
])
def test_a_lookup_action_missing_its_server_stream_or_bounce_is_on_record(client_as, editor, team_a, server_a, name,
                                                                          action, data, why):
    browser = client_as(editor)
    _remember_lookup(browser, team_a)
    if why != "the form named no server":
        data = {**data, "server": str(server_a.pk)}

    response = browser.post(reverse(name, args=["acme"]), data, follow=True)

    assert "Look the address up again" in response.content.decode()
    [event] = refused()
    assert (event.action, event.outcome, event.actor_id) == (action, "refused", editor.pk)
    assert event.detail == f"Nothing was sent to Postmark: {why}."


def test_a_lookup_action_on_another_teams_server_is_on_record(client_as, editor, team_a, server_a, server_b):
    browser = client_as(editor)
    _remember_lookup(browser, team_a)

    response = browser.post(reverse("recipient_lookup_reactivate", args=["acme"]),
                            {"server": str(server_b.pk), "bounce": "12"})

    assert response.status_code == 404
    [event] = refused()
    assert (event.action, event.team_id) == ("bounce.activate", team_a.pk)


# --- Invitation links ---------------------------------------------------------------------------------------


def test_a_made_up_invitation_link_is_on_record_without_the_link(client, team_a):
    made_up = "x" * 43

    response = client.post(reverse("invitation_accept", args=[made_up]),
                           {"name": "Mallory", "password1": PASSWORD, "password2": PASSWORD})

    assert response.status_code == 404
    [event] = refused()
    assert (event.action, event.actor_id, event.team_id, event.target_type) == (
        "invitation.accept", None, None, "invitation")
    assert made_up not in everything_in(event)


@pytest.fixture
def invitation(admin, team_a):
    links = []
    created = invitation_create(actor=admin, team=team_a, email="newcomer@example.com", role=Role.EDITOR,
                                link_for=lambda token: links.append(token) or f"/invitations/{token}/")
    return created, reverse("invitation_accept", args=[links[0]])


def test_a_new_persons_form_refused_is_on_the_teams_record_without_the_passwords(client, team_a, invitation):
    created, path = invitation

    response = client.post(path, {"name": "Nia", "password1": PASSWORD, "password2": PASSWORD + "!"})

    assert response.status_code == 200
    [event] = refused()
    assert (event.action, event.actor_id, event.actor_label, event.team_id, event.target_id) == (
        "invitation.accept", None, "newcomer@example.com", team_a.pk, str(created.pk))
    assert event.detail == ("Refused by the form. Type the password again: The two passwords are different. Type the "
                            "same password twice.")
    assert PASSWORD not in everything_in(event)


def test_a_password_the_service_refuses_is_on_the_teams_record(client, team_a, invitation):
    created, path = invitation

    response = client.post(path, {"name": "Nia", "password1": "newcomer@example.com",
                                  "password2": "newcomer@example.com"})

    assert response.status_code == 200
    [event] = refused()
    assert (event.action, event.actor_label, event.team_id) == ("invitation.accept", "newcomer@example.com",
                                                                team_a.pk)
    assert "password" in event.detail.lower()


def test_a_revoked_invitation_accepted_by_a_new_person_is_on_record(client, team_a, invitation):
    created, path = invitation
    Invitation.objects.filter(pk=created.pk).update(revoked_at=created.created_at)

    client.post(path, {"name": "Nia", "password1": PASSWORD, "password2": PASSWORD})

    [event] = refused()
    assert (event.action, event.actor_label, event.detail) == (
        "invitation.accept", "newcomer@example.com", "This invitation was revoked. Ask an admin of Acme for a new one.")


# --- Two-factor sign-in asked for what already is so ------------------------------------------------------


def test_recovery_codes_without_two_factor_sign_in_are_refused_and_on_record(client_as, user):
    response = client_as(user).post(reverse("two_factor_recovery_codes"), follow=True)

    assert "Turn on two-factor sign-in first" in response.content.decode()
    [event] = refused()
    assert (event.action, event.actor_id, event.target_id) == ("auth.otp.recovery_codes", user.pk, str(user.pk))


def test_turning_off_what_is_off_is_refused_and_on_record(client_as, user):
    client_as(user).post(reverse("two_factor_turn_off"), {"code": "123456"})

    [event] = refused()
    assert (event.action, event.detail) == ("auth.otp.disable",
                                            "Two-factor sign-in is already off for your account.")


def test_an_empty_set_up_code_is_on_record(client_as, user):
    client_as(user).post(reverse("two_factor_confirm"), {"code": ""})

    [event] = refused()
    assert (event.action, event.detail) == ("auth.otp.setup", "Refused by the form. Code from your app: This field "
                                                              "is required.")


def test_tokens_never_reach_a_refusal_entry(client_as, admin, team_a, server_a):
    browser = client_as(admin)
    _remember_lookup(browser, team_a)

    browser.post(reverse("recipient_lookup_remove", args=["acme"]), {"server": TOKEN_A, "stream": TOKEN_A})

    [event] = refused()
    assert TOKEN_A not in everything_in(event)


# --- The entries read as sentences on the team's audit log ------------------------------------------------


def test_the_new_refusals_read_as_sentences_in_the_audit_log(client_as, owner, admin, editor, team_a, server_a,
                                                               server_b, globex_member, invitation, client):
    from dashboard.audit_log import sentence

    _, path = invitation
    client.post(path, {"name": "Nia", "password1": PASSWORD, "password2": PASSWORD + "!"})
    client.post(reverse("invitation_accept", args=["y" * 43]), {})
    browser = client_as(admin)
    browser.post(reverse("member_role", args=["acme", globex_member.pk]), {"role": "viewer"})
    browser.post(reverse("server_rename", args=["acme", server_b.pk]), {"name": "Renamed"})
    browser.post(reverse("member_remove", args=["acme", Membership.objects.get(user=admin).pk]))
    _remember_lookup(browser, team_a)
    browser.post(reverse("recipient_lookup_remove", args=["acme"]), {"stream": "outbound"})
    client_as(editor).post(reverse("stream_restore", args=["acme", MADE_UP_SERVER, "news"]))
    client_as(owner).post(reverse("two_factor_recovery_codes"))
    events = refused()
    assert len(events) == 8

    page = client_as(owner).get(reverse("audit_log", args=["acme"]))
    export = client_as(owner).get(reverse("audit_export_csv", args=["acme"]))

    assert page.status_code == export.status_code == 200
    text = page.content.decode()
    sentences = [sentence(event) for event in events]
    assert ("Someone tried to accept an invitation — refused: No invitation has this link: mistyped, made up, or "
            "from another site") in sentences
    assert ("olivia@acme.example tried to make new recovery codes — refused: Turn on two-factor sign-in first; "
            "recovery codes come with it") in sentences
    assert "Nia" not in text and PASSWORD not in text
    assert text.count("refused") >= 6


# --- Password reset links ----------------------------------------------------------------------------------


def test_a_made_up_reset_link_posted_to_is_on_record_without_the_link(client, user):
    response = client.post(reverse("password_reset_confirm", args=[urlsafe_base64_encode(force_bytes(user.pk)),
                                                                   "made-up-token"]),
                           {"new_password1": PASSWORD, "new_password2": PASSWORD})

    assert "This reset link does not work" in response.content.decode()
    [event] = refused()
    assert (event.action, event.actor_id, event.target_id) == ("auth.password.reset", None, str(user.pk))
    assert event.detail == "The reset link is not valid: used already, expired, or made up."
    assert "made-up-token" not in everything_in(event)


def test_a_new_password_refused_on_the_reset_page_is_on_record_without_it(client, user):
    link = reverse("password_reset_confirm", args=[urlsafe_base64_encode(force_bytes(user.pk)),
                                                   default_token_generator.make_token(user)])
    form_page = client.get(link)
    assert form_page.status_code == 302 and refused() == [], "opening a good link is no refusal"

    client.post(form_page["Location"], {"new_password1": PASSWORD, "new_password2": PASSWORD + "!"})

    [event] = refused()
    assert (event.action, event.actor_id, event.actor_label, event.target_id) == (
        "auth.password.reset", None, "dana@example.com", str(user.pk))
    assert event.detail.startswith("Refused by the form.")
    assert PASSWORD not in everything_in(event)
