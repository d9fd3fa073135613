"""Teams: creating one, the team list and switcher, the start page, leaving, and deleting a team."""

import pytest
from django.urls import reverse

from dashboard.models import AuditEvent, Membership, Role, Server, Team
from dashboard.services import ServiceError
from dashboard.services.teams import member_remove, member_set_role, team_create
from tests.conftest import TOKEN_A
from tests.csp import csp_violations

pytestmark = pytest.mark.django_db


def messages_on(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- Creating a team -------------------------------------------------------------------------------


def test_creating_a_team_makes_the_creator_its_owner_and_records_it(client_as, user):
    response = client_as(user).post(reverse("team_list"), {"name": "  Initech   Support "},
                                    HTTP_USER_AGENT="Firefox on a laptop")

    team = Team.objects.get(name="Initech Support")
    assert response.status_code == 302
    assert response["Location"] == reverse("team_home", args=["initech-support"])
    assert Membership.objects.get(team=team).user == user
    assert Membership.objects.get(team=team).role == Role.OWNER
    event = AuditEvent.objects.get(action="team.create")
    assert (event.outcome, event.actor_id, event.actor_label, event.actor_role) == ("success", user.pk,
                                                                                    "dana@example.com", "owner")
    assert (event.team_id, event.team_label) == (team.pk, "Initech Support")
    assert (event.target_type, event.target_id, event.target_label) == ("team", str(team.pk), "Initech Support")
    assert event.changes == {"name": [None, "Initech Support"]}
    assert (event.ip, event.user_agent) == ("127.0.0.1", "Firefox on a laptop")


def test_a_team_named_with_a_uuid_is_created_and_recorded(client_as, user):
    name = "Ops d35b732e-0000-4000-8000-000000000000"

    response = client_as(user).post(reverse("team_list"), {"name": name})

    team = Team.objects.get(name=name)
    assert response.status_code == 302
    assert response["Location"] == reverse("team_home", args=[team.slug])
    event = AuditEvent.objects.get(action="team.create")
    assert (event.team_label, event.target_label, event.changes) == (name, name, {"name": [None, name]})


def test_the_new_team_greets_its_owner_with_what_to_do_next(client_as, user):
    response = client_as(user).post(reverse("team_list"), {"name": "Initech"}, follow=True)
    page = response.content.decode()
    assert "Initech is ready. You are its owner" in messages_on(response)[0]
    assert "Initech has no Postmark servers yet." in page
    assert 'href="/t/initech/servers/connect/"' in page


def test_a_team_without_a_name_is_not_created(client_as, user):
    response = client_as(user).post(reverse("team_list"), {"name": "   "})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Team.objects.exists()
    event = AuditEvent.objects.get(action="team.create")
    assert (event.outcome, event.team_id, event.detail) == ("refused", None,
                                                            "Refused by the form. Team name: This field is required.")


def test_teams_with_the_same_name_get_different_addresses(user, outsider):
    first = team_create(actor=user, name="Acme")
    second = team_create(actor=outsider, name="ACME")
    reserved = team_create(actor=user, name="Admin")
    assert (first.slug, second.slug, reserved.slug) == ("acme", "acme-2", "admin-team")


def test_a_person_who_owns_as_many_teams_as_allowed_is_told_why_the_next_is_refused(client_as, user, settings):
    settings.TEAMS_PER_PERSON = 2
    team_create(actor=user, name="First")
    team_create(actor=user, name="Second")
    response = client_as(user).post(reverse("team_list"), {"name": "Third"})
    assert response.status_code == 200
    assert ("You already own 2 teams, the most one person may own here. Delete a team you no longer need, or make "
            "someone else its owner and leave it, then try again.") in response.content.decode()
    assert not Team.objects.filter(name="Third").exists()


def test_a_refused_new_team_is_on_record_under_no_team(user, settings):
    settings.TEAMS_PER_PERSON = 1
    team_create(actor=user, name="First")
    with pytest.raises(ServiceError) as refused:
        team_create(actor=user, name="Second")
    assert refused.value.field == "name"
    event = AuditEvent.objects.get(action="team.create", outcome="refused")
    assert (event.actor_id, event.team_id, event.target_label) == (user.pk, None, "Second")
    assert event.changes == {"name": [None, "Second"]}
    assert event.detail.startswith("You already own 1 team, the most one person may own here.")


def test_teams_a_person_joined_but_does_not_own_do_not_count_toward_the_limit(owner, team_a, admin, settings):
    settings.TEAMS_PER_PERSON = 1
    assert team_create(actor=admin, name="Admin's own").name == "Admin's own"


def test_giving_up_a_team_makes_room_for_a_new_one(client_as, owner, team_a, settings):
    settings.TEAMS_PER_PERSON = 1
    client_as(owner).post(reverse("team_delete", kwargs={"team_slug": team_a.slug}), {"confirmation": "Acme"})
    assert team_create(actor=owner, name="Acme Again").name == "Acme Again"


# --- The team list, the switcher and the start page ------------------------------------------------


def test_the_team_switcher_lists_all_my_teams_and_no_others(client_as, owner, team_a, team_b):
    team_create(actor=owner, name="Initech")
    page = client_as(owner).get(reverse("team_home", args=[team_a.slug])).content.decode()
    switcher = page.split('aria-label="Switch team"')[1].split("</ul>")[0]
    assert 'href="/t/acme/" aria-current="true">Acme <span class="muted">(Owner)</span>' in switcher
    assert 'href="/t/initech/">Initech <span class="muted">(Owner)</span>' in switcher
    assert "Globex" not in page


def test_the_team_list_shows_my_teams_with_my_role(client_as, viewer, team_a):
    page = client_as(viewer).get(reverse("team_list")).content.decode()
    assert '<td><a href="/t/acme/">Acme</a></td>' in page
    assert "<td>Viewer</td>" in page
    assert "Create a team" in page


def test_home_opens_the_team_looked_at_last(client_as, owner, team_a):
    initech = team_create(actor=owner, name="Initech")
    browser = client_as(owner)
    assert browser.get(reverse("home"))["Location"] == reverse("team_home", args=["acme"])
    browser.get(reverse("team_home", args=[initech.slug]))
    assert browser.get(reverse("home"))["Location"] == reverse("team_home", args=["initech"])


def test_home_sends_someone_without_a_team_to_the_team_list(client_as, user):
    response = client_as(user).get(reverse("home"), follow=True)
    assert response.redirect_chain == [(reverse("team_list"), 302)]
    assert "You are not in any team yet." in response.content.decode()


# --- Leaving ---------------------------------------------------------------------------------------


def test_a_member_who_leaves_loses_access_and_it_is_recorded(client_as, viewer, team_a):
    browser = client_as(viewer)
    assert "Leave Acme?" in browser.get(reverse("team_leave", args=["acme"])).content.decode()

    response = browser.post(reverse("team_leave", args=["acme"]))

    assert response["Location"] == reverse("home")
    assert not Membership.objects.filter(team=team_a, user=viewer).exists()
    assert browser.get(reverse("team_home", args=["acme"])).status_code == 404
    event = AuditEvent.objects.get(action="member.leave")
    assert (event.outcome, event.actor_id, event.team_id, event.actor_role) == ("success", viewer.pk, team_a.pk,
                                                                                "viewer")
    assert (event.target_type, event.target_id, event.target_label) == ("member", str(viewer.pk),
                                                                        "victor@acme.example")
    assert event.changes == {"role": ["Viewer", None]}


def test_the_only_owner_cannot_leave_and_is_told_what_to_do(client_as, owner, team_a):
    response = client_as(owner).post(reverse("team_leave", args=["acme"]), follow=True)

    assert response.redirect_chain == [(reverse("team_leave", args=["acme"]), 302)]
    assert messages_on(response) == [
        "You are the only owner of Acme. Make someone else an owner first, or delete the team."]
    assert Membership.objects.get(team=team_a, user=owner).role == Role.OWNER
    event = AuditEvent.objects.get(action="member.leave")
    assert (event.outcome, event.actor_id, event.team_id) == ("refused", owner.pk, team_a.pk)
    assert event.detail == "You are the only owner of Acme. Make someone else an owner first, or delete the team."


def test_an_owner_can_leave_once_someone_else_is_an_owner(client_as, owner, admin, team_a):
    member_set_role(actor=owner, team=team_a, membership=Membership.objects.get(user=admin), role=Role.OWNER)
    response = client_as(owner).post(reverse("team_leave", args=["acme"]))
    assert response["Location"] == reverse("home")
    assert list(team_a.memberships.values_list("user__email", "role")) == [("adam@acme.example", "owner")]


def test_the_only_owner_cannot_be_demoted(owner, admin, team_a):
    own = Membership.objects.get(team=team_a, user=owner)
    with pytest.raises(ServiceError) as refusal:
        member_set_role(actor=owner, team=team_a, membership=own, role=Role.ADMIN)

    assert refusal.value.message == ("Olivia Owner is the only owner of Acme. Make someone else an owner first, "
                                     "so the team always has one.")
    own.refresh_from_db()
    assert own.role == Role.OWNER
    event = AuditEvent.objects.get(action="member.role_change")
    assert (event.outcome, event.actor_id, event.target_id) == ("refused", owner.pk, str(owner.pk))
    assert event.changes == {"role": ["Owner", "Admin"]}
    assert event.detail == refusal.value.message


def test_a_second_owner_can_be_demoted_but_then_the_last_one_cannot(owner, admin, team_a):
    adams = Membership.objects.get(team=team_a, user=admin)
    member_set_role(actor=owner, team=team_a, membership=adams, role=Role.OWNER)
    member_set_role(actor=admin, team=team_a, membership=Membership.objects.get(user=owner), role=Role.ADMIN)
    with pytest.raises(ServiceError, match="Adam Admin is the only owner of Acme"):
        member_set_role(actor=admin, team=team_a, membership=adams, role=Role.ADMIN)
    assert list(team_a.memberships.filter(role=Role.OWNER).values_list("user__email", flat=True)) == [
        "adam@acme.example"]


def test_an_owner_cannot_remove_themselves_and_is_pointed_to_leave_team(owner, team_a):
    with pytest.raises(ServiceError, match="use “Leave team”"):
        member_remove(actor=owner, team=team_a, membership=Membership.objects.get(user=owner))
    assert Membership.objects.filter(team=team_a, user=owner).exists()


# --- Deleting --------------------------------------------------------------------------------------


def test_the_delete_page_explains_what_is_kept(client_as, owner, admin, team_a, server_a):
    page = client_as(owner).get(reverse("team_delete", args=["acme"])).content.decode()
    assert "all 2 members, together with its 1 connected server " in page
    assert "stay in Postmark" in page
    assert "audit log entries are kept" in page


def test_an_owner_deletes_the_team_by_typing_its_name(client_as, owner, admin, team_a, server_a, sandbox):
    team_id = team_a.pk
    response = client_as(owner).post(reverse("team_delete", args=["acme"]), {"confirmation": " Acme "}, follow=True)

    assert response.redirect_chain == [(reverse("home"), 302), (reverse("team_list"), 302)]
    assert "Acme has been deleted. Its servers and streams stay in Postmark." in messages_on(response)
    assert not Team.objects.filter(pk=team_id).exists()
    assert not Server.objects.exists()
    assert not Membership.objects.filter(user=admin).exists()
    assert sandbox.has_server(TOKEN_A), "nothing is deleted in Postmark"
    event = AuditEvent.objects.get(action="team.delete")
    assert (event.outcome, event.actor_id, event.actor_role, event.team_id, event.team_label) == (
        "success", owner.pk, "owner", team_id, "Acme")
    assert (event.target_type, event.target_id, event.target_label) == ("team", str(team_id), "Acme")
    assert event.detail == "With 1 server and 2 members."


def test_a_wrong_confirmation_keeps_the_team(client_as, owner, team_a):
    response = client_as(owner).post(reverse("team_delete", args=["acme"]), {"confirmation": "acme"})
    assert response.status_code == 200
    assert "Type the team&#x27;s name, Acme, exactly to confirm." in response.content.decode()
    assert Team.objects.filter(pk=team_a.pk).exists()
    [refused] = AuditEvent.objects.filter(action="team.delete")
    assert (refused.outcome, refused.actor_id, refused.target_label) == ("refused", owner.pk, "Acme")
    assert refused.detail == "Type the team's name, Acme, exactly to confirm."


def test_an_admin_cannot_delete_the_team(client_as, admin, team_a):
    browser = client_as(admin)
    assert browser.get(reverse("team_delete", args=["acme"])).status_code == 403
    assert browser.post(reverse("team_delete", args=["acme"]), {"confirmation": "Acme"}).status_code == 403
    assert Team.objects.filter(pk=team_a.pk).exists()
    assert "Delete team…" not in browser.get(reverse("member_list", args=["acme"])).content.decode()


def test_a_deleted_teams_audit_events_remain(client_as, owner, viewer, team_a):
    team_id = team_a.pk
    client_as(viewer).post(reverse("team_leave", args=["acme"]))
    client_as(owner).post(reverse("team_delete", args=["acme"]), {"confirmation": "Acme"})

    kept = AuditEvent.objects.filter(team_id=team_id).order_by("id")
    assert list(kept.values_list("action", "team_label")) == [
        ("team.create", "Acme"), ("member.leave", "Acme"), ("team.delete", "Acme")]


# --- The team's home page --------------------------------------------------------------------------


def test_the_home_page_lists_servers_with_only_the_last_four_of_the_token(client_as, viewer, server_a):
    page = client_as(viewer).get(reverse("team_home", args=["acme"])).content.decode()
    assert f'<a href="{reverse("server_detail", args=["acme", server_a.pk])}">Acme Production</a>' in page
    assert f'<span class="mono">{server_a.postmark_server_id}</span>' in page
    assert '<span class="mono">••••a1a1</span>' in page
    assert TOKEN_A not in page
    assert "Token unreadable" not in page
    assert "Connect a server" not in page
    assert csp_violations(page) == []


@pytest.mark.parametrize("persona,sees_link", [("admin", True), ("viewer", False)])
def test_an_unreadable_token_is_flagged_and_admins_are_shown_where_to_re_enter_it(client_as, cast, server_a, settings,
                                                                                    persona, sees_link):
    # The key that encrypted the token ('test2', the first) was taken out of the ring.
    settings.TOKEN_ENCRYPTION_KEYS = settings.TOKEN_ENCRYPTION_KEYS.split(",", 1)[1]
    page = client_as(cast[persona]).get(reverse("team_home", args=["acme"])).content.decode()
    assert '<span class="badge badge--danger">Token unreadable, re-enter it</span>' in page
    token_link = f'href="{reverse("server_token", args=["acme", server_a.pk])}"'
    assert (token_link in page) is sees_link
    assert ("Ask an admin to re-enter it." in page) is not sees_link


@pytest.mark.parametrize("persona,next_step", [
    ("admin", 'href="/t/acme/servers/connect/">Connect a server</a>'),
    ("editor", "Ask an admin of Acme to connect one"),
])
def test_a_team_without_servers_says_so_and_what_to_do_next(client_as, cast, persona, next_step):
    page = client_as(cast[persona]).get(reverse("team_home", args=["acme"])).content.decode()
    assert "Acme has no Postmark servers yet." in page
    assert next_step in page


def test_a_denied_server_page_is_recorded_though_its_address_holds_a_uuid(client_as, viewer, team_a, server_a):
    path = reverse("server_token", args=["acme", server_a.pk])
    assert client_as(viewer).get(path).status_code == 403
    event = AuditEvent.objects.get(action="access.denied")
    assert (event.outcome, event.actor_id, event.team_id, event.target_id) == ("denied", viewer.pk, team_a.pk, path)
    assert event.target_label == "the page to replace the token of Acme Production"


def test_the_first_person_of_a_deployment_comes_from_createsuperuser_and_starts_a_team(client, password):
    from django.core.management import call_command

    from dashboard.models import User

    call_command("createsuperuser", interactive=False, email="First@Example.com", verbosity=0)
    first = User.objects.get()
    first.set_password(password)
    first.save()
    assert first.email == "first@example.com"
    response = client.post(reverse("login"), {"username": "first@example.com", "password": password}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("team_list")
    created = client.post(reverse("team_list"), {"name": "Initech"}, follow=True)
    assert "Initech" in created.content.decode()
    assert first.memberships.get().role == "owner"


def test_there_is_no_way_to_sign_up_without_an_invitation(client):
    for address in ["/accounts/signup/", "/accounts/register/", "/signup/"]:
        assert client.get(address).status_code == 404
    assert "sign up" not in client.get(reverse("login")).content.decode().lower()
