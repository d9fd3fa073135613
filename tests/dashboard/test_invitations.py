"""Invitations: sending one by e-mail, its token, limits, revoking, expiry, and accepting it."""

import base64
import hashlib
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from dashboard.models import AuditEvent, Invitation, Membership, Role, User
from dashboard.services import ServiceError
from dashboard.services.invitations import invitation_create

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://testserver(/invitations/([A-Za-z0-9_-]+)/)")


@pytest.fixture
def invite(client_as, django_capture_on_commit_callbacks):
    """Sends an invitation through the members page as `by`; returns the path of the link in the e-mail."""

    def send(by, email="newcomer@example.com", role="editor"):
        sent = len(mail.outbox)
        with django_capture_on_commit_callbacks(execute=True):
            response = client_as(by).post(reverse("member_invite", args=["acme"]), {"email": email, "role": role})
        assert response.status_code == 302, response.content.decode()
        assert len(mail.outbox) == sent + 1
        return LINK.search(mail.outbox[-1].body).group(1)

    return send


def token_of(path: str) -> str:
    return path.strip("/").split("/")[-1]


def make_expired(invitation: Invitation) -> None:
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))


# --- Sending ---------------------------------------------------------------------------------------


def test_an_invitation_is_e_mailed_with_a_link_and_recorded(admin, team_a, invite):
    path = invite(admin, email=" NewComer@Example.com ", role="editor")

    message = mail.outbox[0]
    assert message.to == ["newcomer@example.com"]
    assert message.subject == "You're invited to Acme on Streams Dashboard"
    assert "Adam Admin (adam@acme.example) has invited you to join Acme on Streams Dashboard as Editor." in message.body
    assert f"http://testserver{path}" in message.body
    assert "expires in 7 days" in message.body
    assert "If you did not expect this invitation, you can ignore this e-mail" in message.body
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.invited_by) == ("newcomer@example.com", "editor", admin)
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)
    event = AuditEvent.objects.get(action="member.invite")
    assert (event.outcome, event.actor_id, event.actor_role, event.team_id) == ("success", admin.pk, "admin",
                                                                                team_a.pk)
    assert (event.target_type, event.target_id, event.target_label) == ("invitation", str(invitation.pk),
                                                                        "newcomer@example.com")
    assert event.changes == {"role": [None, "Editor"]}


def test_an_address_holding_a_uuid_is_invited_and_recorded_like_any_other(admin, team_a, invite):
    address = "d35b732e-0000-4000-8000-000000000000@example.com"

    invite(admin, email=address, role="viewer")

    assert mail.outbox[0].to == [address]
    event = AuditEvent.objects.get(action="member.invite")
    assert (event.outcome, event.target_label) == ("success", address)


def test_the_token_has_at_least_128_random_bits_and_only_its_digest_is_stored(admin, team_a, invite):
    token = token_of(invite(admin))

    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) * 8 >= 128
    invitation = Invitation.objects.get()
    assert invitation.token_digest == hashlib.sha256(token.encode()).hexdigest()
    stored = [str(value) for value in Invitation.objects.values().get().values()]
    stored += [str(value) for row in AuditEvent.objects.values() for value in row.values()]
    assert not [value for value in stored if token in value]


def test_two_invitations_get_different_tokens(admin, team_a, invite):
    assert token_of(invite(admin, email="one@example.com")) != token_of(invite(admin, email="two@example.com"))


def test_an_htmx_invitation_refreshes_the_members_region_with_the_new_invitation(client_as, admin, team_a):
    response = client_as(admin).post(reverse("member_invite", args=["acme"]),
                                     {"email": "newcomer@example.com", "role": "viewer"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="members-body"')
    assert "<td>newcomer@example.com</td>" in body
    assert "Waiting for an answer" in body
    assert "Invitation sent to newcomer@example.com as Viewer. The link works for 7 days." in body


def test_an_admin_cannot_invite_someone_as_owner(client_as, admin, team_a):
    response = client_as(admin).post(reverse("member_invite", args=["acme"]),
                                     {"email": "boss@example.com", "role": "owner"})
    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    assert not Invitation.objects.exists()

    with pytest.raises(ServiceError) as refusal:
        invitation_create(actor=admin, team=team_a, email="boss@example.com", role=Role.OWNER, link_for=str)
    assert refusal.value.message == "You can invite people as Admin at most, not Owner."
    assert refusal.value.field == "role"
    # Two refusals: the form's (the page offers no Owner), then the service's (asked directly).
    form_refusal, event = AuditEvent.objects.filter(action="member.invite").order_by("id")
    assert form_refusal.outcome == "refused" and "Role" in form_refusal.detail
    assert (event.outcome, event.actor_id, event.target_label) == ("refused", admin.pk, "boss@example.com")
    assert event.changes == {"role": [None, "Owner"]}
    assert event.detail == "You can invite people as Admin at most, not Owner."
    assert not Invitation.objects.exists()


def test_an_owner_can_invite_another_owner(owner, team_a, invite):
    invite(owner, email="partner@example.com", role="owner")
    assert Invitation.objects.get().role == Role.OWNER


@pytest.mark.parametrize("persona", ["viewer", "editor"])
def test_below_admin_nobody_can_invite(client_as, cast, persona):
    response = client_as(cast[persona]).post(reverse("member_invite", args=["acme"]),
                                             {"email": "newcomer@example.com", "role": "viewer"})
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_a_member_or_a_waiting_invitation_is_not_invited_twice(client_as, admin, editor, team_a, invite):
    browser = client_as(admin)
    response = browser.post(reverse("member_invite", args=["acme"]), {"email": editor.email, "role": "viewer"})
    assert "edith@acme.example is already a member of Acme." in response.content.decode()
    invite(admin, email="newcomer@example.com")
    response = browser.post(reverse("member_invite", args=["acme"]),
                            {"email": "newcomer@example.com", "role": "viewer"})
    assert response.status_code == 200
    assert "newcomer@example.com already has an invitation waiting." in response.content.decode()
    assert Invitation.objects.count() == 1


def test_a_team_may_send_only_so_many_invitations_an_hour(client_as, admin, team_a, invite, settings):
    settings.INVITATIONS_PER_HOUR = 2
    invite(admin, email="one@example.com")
    invite(admin, email="two@example.com")

    response = client_as(admin).post(reverse("member_invite", args=["acme"]),
                                     {"email": "three@example.com", "role": "viewer"})

    message = "Acme has sent 2 invitations in the last hour, the most allowed. Try again later."
    assert response.status_code == 200
    assert message in response.content.decode()
    assert len(mail.outbox) == 2
    assert not Invitation.objects.filter(email="three@example.com").exists()
    refused = AuditEvent.objects.get(action="member.invite", outcome="refused")
    assert (refused.actor_id, refused.target_label, refused.detail) == (admin.pk, "three@example.com", message)


# --- Revoking and expiry ---------------------------------------------------------------------------


def test_an_admin_revokes_an_invitation_and_its_link_stops_working(client_as, admin, team_a, invite):
    path = invite(admin)
    invitation = Invitation.objects.get()

    response = client_as(admin).post(reverse("invitation_revoke", args=["acme", invitation.pk]), follow=True)

    page = response.content.decode()
    assert "The invitation for newcomer@example.com was revoked; its link no longer works." in page
    assert '<span class="badge badge--danger">Revoked</span>' in page
    invitation.refresh_from_db()
    assert invitation.revoked_by == admin
    event = AuditEvent.objects.get(action="invitation.revoke")
    assert (event.outcome, event.actor_id, event.team_id, event.target_id, event.target_label) == (
        "success", admin.pk, team_a.pk, str(invitation.pk), "newcomer@example.com")
    assert event.changes == {"status": ["Waiting for an answer", "Revoked"]}
    accept_page = client_as(None).get(path).content.decode()
    assert "This invitation was withdrawn" in accept_page
    assert "Create my account and join" not in accept_page


def test_revoking_twice_is_refused_and_recorded(client_as, admin, team_a, invite):
    invite(admin)
    invitation = Invitation.objects.get()
    browser = client_as(admin)
    browser.post(reverse("invitation_revoke", args=["acme", invitation.pk]))

    response = browser.post(reverse("invitation_revoke", args=["acme", invitation.pk]), follow=True)

    assert "This invitation is already revoked; there is nothing to revoke." in response.content.decode()
    refused = AuditEvent.objects.get(action="invitation.revoke", outcome="refused")
    assert refused.detail == "This invitation is already revoked; there is nothing to revoke."


def test_an_editor_cannot_revoke(client_as, admin, editor, team_a, invite):
    invite(admin)
    invitation = Invitation.objects.get()
    assert client_as(editor).post(reverse("invitation_revoke", args=["acme", invitation.pk])).status_code == 403
    assert Invitation.objects.get().is_pending


def test_an_expired_invitation_shows_as_expired_and_cannot_be_accepted(client_as, admin, make_user, team_a, invite):
    path = invite(admin)
    invitation = Invitation.objects.get()
    make_expired(invitation)
    newcomer = make_user("newcomer@example.com", "Nina Newcomer")

    members_page = client_as(admin).get(reverse("member_list", args=["acme"])).content.decode()
    assert '<span class="badge badge--warning">Expired</span>' in members_page
    assert "Revoke</button>" not in members_page
    browser = client_as(newcomer)
    assert "This invitation has expired" in browser.get(path).content.decode()

    response = browser.post(path)

    assert "This invitation has expired" in response.content.decode()
    assert not Membership.objects.filter(user=newcomer).exists()
    refused = AuditEvent.objects.get(action="invitation.accept")
    assert (refused.outcome, refused.actor_id, refused.team_id) == ("refused", newcomer.pk, team_a.pk)
    assert refused.detail.startswith("This invitation expired on ")


# --- Accepting -------------------------------------------------------------------------------------


def test_the_invited_person_signed_in_joins_with_the_invited_role(client_as, admin, make_user, team_a, invite):
    path = invite(admin, role="editor")
    newcomer = make_user("newcomer@example.com", "Nina Newcomer")
    browser = client_as(newcomer)
    page = browser.get(path).content.decode()
    assert "Adam Admin invited" in page
    assert "Join Acme as Editor</button>" in page

    response = browser.post(path, follow=True)

    assert response.redirect_chain == [(reverse("team_home", args=["acme"]), 302)]
    assert "Welcome to Acme! You joined as Editor." in response.content.decode()
    assert Membership.objects.get(user=newcomer, team=team_a).role == Role.EDITOR
    invitation = Invitation.objects.get()
    assert invitation.accepted_by == newcomer
    event = AuditEvent.objects.get(action="invitation.accept")
    assert (event.outcome, event.actor_id, event.actor_role, event.team_id) == ("success", newcomer.pk, "editor",
                                                                                team_a.pk)
    assert (event.target_type, event.target_id, event.target_label) == ("invitation", str(invitation.pk),
                                                                        "newcomer@example.com")
    assert event.changes == {"role": [None, "Editor"]}
    assert event.detail == ""


def test_someone_signed_in_as_another_address_is_refused(client_as, admin, outsider, team_a, invite):
    path = invite(admin)
    browser = client_as(outsider)
    page = browser.get(path).content.decode()
    assert "You are signed in as <strong>oscar@globex.example</strong>, but this invitation is for" in page
    assert "Join Acme as" not in page

    response = browser.post(path)

    message = ("This invitation is for newcomer@example.com, but you are signed in as oscar@globex.example. "
               "Sign out, then open the link again and sign in as newcomer@example.com.")
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Membership.objects.filter(user=outsider, team=team_a).exists()
    assert Invitation.objects.get().is_pending
    refused = AuditEvent.objects.get(action="invitation.accept")
    assert (refused.outcome, refused.actor_id, refused.detail) == ("refused", outsider.pk, message)


def test_a_new_address_sets_a_password_joins_and_is_signed_in(client, admin, team_a, invite):
    path = invite(admin, role="viewer")
    page = client.get(path).content.decode()
    assert "Set up your account for <strong>newcomer@example.com</strong>" in page

    response = client.post(path, {"name": " Nina  Newcomer ", "password1": "a long new passphrase",
                                  "password2": "a long new passphrase"})

    assert response["Location"] == reverse("team_home", args=["acme"])
    newcomer = User.objects.get(email="newcomer@example.com")
    assert newcomer.name == "Nina Newcomer"
    assert newcomer.check_password("a long new passphrase")
    assert client.session["_auth_user_id"] == str(newcomer.pk)
    assert Membership.objects.get(user=newcomer, team=team_a).role == Role.VIEWER
    assert client.get(reverse("team_home", args=["acme"])).status_code == 200
    accepted = AuditEvent.objects.get(action="invitation.accept")
    assert (accepted.outcome, accepted.actor_id, accepted.changes) == ("success", newcomer.pk,
                                                                       {"role": [None, "Viewer"]})
    signed_in = AuditEvent.objects.filter(action="auth.login.success").latest("id")
    assert (signed_in.actor_id, signed_in.ip) == (newcomer.pk, "127.0.0.1")


@pytest.mark.parametrize("password1,password2,message", [
    ("a long new passphrase", "a different one", "The two passwords are different."),
    ("12345678", "12345678", "This password is too common."),
    ("eleven-char", "eleven-char", "This password is too short. It must contain at least 12 characters."),
])
def test_a_new_address_with_an_unusable_password_is_asked_again(client, admin, team_a, invite, password1, password2,
                                                                 message):
    path = invite(admin)
    response = client.post(path, {"name": "Nina", "password1": password1, "password2": password2})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(email="newcomer@example.com").exists()
    assert Invitation.objects.get().is_pending


def test_an_address_with_an_account_is_asked_to_sign_in_first(client, admin, make_user, team_a, invite):
    path = invite(admin)
    make_user("newcomer@example.com")
    page = client.get(path).content.decode()
    assert f'href="/accounts/login/?next={path}"' in page
    assert "Create my account" not in page
    assert client.post(path, {"name": "x", "password1": "a long new passphrase",
                              "password2": "a long new passphrase"}).status_code == 200
    assert not AuditEvent.objects.filter(action="invitation.accept").exists()


def test_an_invitation_works_only_once(client_as, admin, make_user, team_a, invite):
    path = invite(admin)
    newcomer = make_user("newcomer@example.com")
    browser = client_as(newcomer)
    browser.post(path)

    response = browser.post(path)

    assert "This invitation has already been used" in response.content.decode()
    assert Membership.objects.filter(user=newcomer).count() == 1
    refused = AuditEvent.objects.get(action="invitation.accept", outcome="refused")
    assert refused.detail == "This invitation has already been used. Sign in to see your teams."
    assert "has already been used" in client_as(None).get(path).content.decode()


def test_an_unknown_link_is_explained_without_revealing_anything(client):
    response = client.get(reverse("invitation_accept", args=["not-a-real-token"]))
    assert response.status_code == 404
    assert "This invitation link is not valid" in response.content.decode()


def test_the_team_list_mentions_an_invitation_waiting_for_me(client_as, admin, make_user, team_a, invite):
    invite(admin, role="editor")
    newcomer = make_user("newcomer@example.com")
    page = client_as(newcomer).get(reverse("team_list")).content.decode()
    assert "You have an invitation to <strong>Acme</strong> (as Editor) waiting: open the link in your e-mail" in page


def test_an_htmx_invitation_with_a_mistake_swaps_in_the_form_with_its_error(client_as, admin, team_a):
    response = client_as(admin).post(reverse("member_invite", args=["acme"]),
                                     {"email": "not-an-address", "role": "viewer"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="members-body"')
    assert "Enter a valid email address." in body
    assert not Invitation.objects.exists()
