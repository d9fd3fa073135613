"""Members: the members page, the rules of roles, changing a role and removing a member."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from dashboard.models import AuditEvent, Membership, Role
from dashboard.services import ServiceError
from dashboard.services.teams import member_remove, member_set_role
from tests.csp import csp_violations

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def membership(user) -> Membership:
    return Membership.objects.get(user=user)


def role_url(user) -> str:
    return reverse("member_role", args=["acme", membership(user).pk])


def remove_url(user) -> str:
    return reverse("member_remove", args=["acme", membership(user).pk])


# --- The page --------------------------------------------------------------------------------------


def test_the_members_page_lists_everyone_with_their_role_and_explains_the_roles(client_as, cast):
    response = client_as(cast["viewer"]).get(reverse("member_list", args=["acme"]))
    page = response.content.decode()
    assert response.status_code == 200
    for name, email in [("Olivia Owner", "olivia@acme.example"), ("Adam Admin", "adam@acme.example"),
                        ("Edith Editor", "edith@acme.example"), ("Victor Viewer", "victor@acme.example")]:
        assert f"<td>{name}" in page and f"<td>{email}</td>" in page
    assert "oscar@globex.example" not in page
    for role in Role:
        assert f"<dt>{role.label}</dt>\n          <dd>{escape(role.description)}</dd>" in page
    assert 'href="/t/acme/leave/">Leave team</a>' in page
    assert csp_violations(page) == []


def test_a_viewer_sees_members_but_no_way_to_manage_them(client_as, cast):
    page = client_as(cast["viewer"]).get(reverse("member_list", args=["acme"])).content.decode()
    assert "Change role" not in page
    assert "Remove…" not in page
    assert "Invite someone" not in page
    assert "Delete team…" not in page
    assert "Only admins and owners can invite people or change roles." in page


def test_an_admin_can_manage_members_up_to_admin_but_not_the_owner(client_as, cast):
    page = client_as(cast["admin"]).get(reverse("member_list", args=["acme"])).content.decode()
    assert f'action="{role_url(cast["editor"])}"' in page
    assert f'hx-post="{role_url(cast["viewer"])}" hx-target="#members-body" hx-swap="outerHTML"' in page
    assert f'href="{remove_url(cast["viewer"])}">Remove…' in page
    assert role_url(cast["owner"]) not in page
    assert remove_url(cast["owner"]) not in page
    assert role_url(cast["admin"]) not in page, "nobody changes their own role from the table"
    assert "Only an owner can change this member" in page
    assert 'value="owner"' not in page, "an admin is never offered the owner role"
    assert "Delete team…" not in page


def test_an_owner_can_manage_everyone_else_and_sees_delete_team(client_as, cast):
    page = client_as(cast["owner"]).get(reverse("member_list", args=["acme"])).content.decode()
    assert role_url(cast["admin"]) in page
    assert 'value="owner"' in page
    assert 'href="/t/acme/delete/">Delete team…</a>' in page


# --- Role rules (service) --------------------------------------------------------------------------

ALLOWED = [
    ("admin", "viewer", Role.EDITOR),
    ("admin", "editor", Role.ADMIN),
    ("admin", "editor", Role.VIEWER),
    ("owner", "admin", Role.OWNER),
    ("owner", "admin", Role.VIEWER),
]


@pytest.mark.parametrize("actor,target,new", ALLOWED)
def test_a_role_change_within_your_own_role_succeeds_and_is_recorded(cast, team_a, actor, target, new):
    old = membership(cast[target]).role_enum
    member_set_role(actor=cast[actor], team=team_a, membership=membership(cast[target]), role=new)

    assert membership(cast[target]).role == new
    event = AuditEvent.objects.get(action="member.role_change")
    assert (event.outcome, event.actor_id, event.actor_role, event.team_id) == ("success", cast[actor].pk, actor,
                                                                                team_a.pk)
    assert (event.target_type, event.target_id, event.target_label) == ("member", str(cast[target].pk),
                                                                        cast[target].email)
    assert event.changes == {"role": [old.label, new.label]}
    assert event.detail == ""


REFUSED = [
    ("admin", "viewer", Role.OWNER,
     "You cannot make someone an owner: that is more access than your own role (Admin)."),
    ("admin", "owner", Role.ADMIN, "Olivia Owner has more access than you (Owner), so you cannot change their role."),
    ("editor", "viewer", Role.EDITOR, "Only admins and owners can change roles."),
    ("viewer", "editor", Role.VIEWER, "Only admins and owners can change roles."),
]


@pytest.mark.parametrize("actor,target,new,message", REFUSED)
def test_nobody_grants_above_their_own_role_or_changes_someone_with_more(cast, team_a, actor, target, new, message):
    old = membership(cast[target]).role_enum
    with pytest.raises(ServiceError) as refusal:
        member_set_role(actor=cast[actor], team=team_a, membership=membership(cast[target]), role=new)

    assert refusal.value.message == message
    assert membership(cast[target]).role == old
    event = AuditEvent.objects.get(action="member.role_change")
    assert (event.outcome, event.actor_id, event.actor_role) == ("refused", cast[actor].pk, actor)
    assert (event.target_id, event.target_label) == (str(cast[target].pk), cast[target].email)
    assert event.changes == {"role": [old.label, new.label]}
    assert event.detail == message


@pytest.mark.parametrize("actor,target", [("admin", "viewer"), ("admin", "editor"), ("admin", "admin_two"),
                                          ("owner", "admin")])
def test_an_admin_or_owner_removes_a_member_with_no_more_access_than_theirs(cast, team_a, make_user, actor, target):
    cast["admin_two"] = make_user("ada@acme.example", "Ada Second")
    Membership.objects.create(team=team_a, user=cast["admin_two"], role=Role.ADMIN)
    old = membership(cast[target]).get_role_display()

    member_remove(actor=cast[actor], team=team_a, membership=membership(cast[target]))

    assert not Membership.objects.filter(user=cast[target]).exists()
    event = AuditEvent.objects.get(action="member.remove")
    assert (event.outcome, event.actor_id, event.actor_role, event.team_id) == ("success", cast[actor].pk, actor,
                                                                                team_a.pk)
    assert (event.target_type, event.target_id, event.target_label) == ("member", str(cast[target].pk),
                                                                        cast[target].email)
    assert event.changes == {"role": [old, None]}


@pytest.mark.parametrize("actor,target,message", [
    ("admin", "owner", "Olivia Owner has more access than you (Owner), so you cannot remove them."),
    ("editor", "viewer", "Only admins and owners can remove members."),
])
def test_removing_someone_beyond_your_role_is_refused_and_recorded(cast, team_a, actor, target, message):
    with pytest.raises(ServiceError) as refusal:
        member_remove(actor=cast[actor], team=team_a, membership=membership(cast[target]))

    assert refusal.value.message == message
    assert Membership.objects.filter(user=cast[target]).exists()
    event = AuditEvent.objects.get(action="member.remove")
    assert (event.outcome, event.actor_id, event.target_id) == ("refused", cast[actor].pk, str(cast[target].pk))
    assert event.changes == {"role": [membership(cast[target]).get_role_display(), None]}
    assert event.detail == message


# --- Role change and removal through the pages -----------------------------------------------------


def test_a_role_change_without_javascript_redirects_to_the_members_page_with_a_message(client_as, cast):
    response = client_as(cast["admin"]).post(role_url(cast["viewer"]), {"role": "editor"}, follow=True)
    assert response.redirect_chain == [(reverse("member_list", args=["acme"]), 302)]
    assert "Victor Viewer is now Editor." in response.content.decode()
    assert membership(cast["viewer"]).role == Role.EDITOR


def test_an_htmx_role_change_answers_with_the_members_region_and_a_toast(client_as, cast):
    response = client_as(cast["admin"]).post(role_url(cast["editor"]), {"role": "admin"}, **HTMX)
    body = response.content.decode()

    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    assert body.lstrip().startswith('<div id="members-body"')
    assert "<html" not in body
    assert 'id="toasts"' in body and 'hx-swap-oob="beforeend"' in body
    assert "Edith Editor is now Admin." in body
    assert membership(cast["editor"]).role == Role.ADMIN


def test_an_htmx_refusal_comes_back_as_an_error_toast_and_changes_nothing(client_as, cast):
    # The only owner, demoting themselves through the page.
    response = client_as(cast["owner"]).post(role_url(cast["owner"]), {"role": "viewer"}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "toast--error" in body
    assert "Olivia Owner is the only owner of Acme." in body
    assert membership(cast["owner"]).role == Role.OWNER


def test_a_forged_role_above_the_admins_own_is_not_accepted(client_as, cast):
    response = client_as(cast["admin"]).post(role_url(cast["viewer"]), {"role": "owner"}, follow=True)
    assert "Choose one of the roles listed; you can give a role up to your own." in response.content.decode()
    assert membership(cast["viewer"]).role == Role.VIEWER


def test_a_new_role_takes_effect_on_the_very_next_request(client_as, cast):
    demoted = client_as(cast["admin"])
    assert demoted.get(reverse("member_list", args=["acme"])).content.decode().count("Change role") == 2

    client_as(cast["owner"]).post(role_url(cast["admin"]), {"role": "editor"})

    response = demoted.post(reverse("member_invite", args=["acme"]), {"email": "new@example.com", "role": "viewer"})
    assert response.status_code == 403
    assert "Change role" not in demoted.get(reverse("member_list", args=["acme"])).content.decode()
    denial = AuditEvent.objects.get(action="access.denied")
    assert (denial.actor_id, denial.actor_role, denial.outcome) == (cast["admin"].pk, "editor", "denied")


def test_demoting_yourself_returns_a_members_region_without_the_admin_controls(client_as, cast, team_a):
    member_set_role(actor=cast["owner"], team=team_a, membership=membership(cast["admin"]), role=Role.OWNER)
    response = client_as(cast["admin"]).post(role_url(cast["admin"]), {"role": "viewer"}, **HTMX)
    body = response.content.decode()
    assert "Adam Admin is now Viewer." in body
    assert "Invite someone" not in body
    assert "Change role" not in body


def test_the_remove_page_asks_for_confirmation_and_the_post_removes(client_as, cast):
    browser = client_as(cast["admin"])
    page = browser.get(remove_url(cast["editor"])).content.decode()
    assert "Remove Edith Editor from Acme?" in page
    assert f'<form method="post" action="{remove_url(cast["editor"])}"' in page
    assert membership(cast["editor"]).role == Role.EDITOR

    response = browser.post(remove_url(cast["editor"]), follow=True)

    assert response.redirect_chain == [(reverse("member_list", args=["acme"]), 302)]
    assert "Edith Editor no longer has access to Acme." in response.content.decode()
    assert client_as(cast["editor"]).get(reverse("team_home", args=["acme"])).status_code == 404


def test_an_admin_removing_the_owner_through_the_page_is_told_why_not(client_as, cast):
    response = client_as(cast["admin"]).post(remove_url(cast["owner"]), follow=True)
    assert "Olivia Owner has more access than you (Owner), so you cannot remove them." in response.content.decode()
    assert membership(cast["owner"]).role == Role.OWNER
    assert AuditEvent.objects.get(action="member.remove").outcome == "refused"


@pytest.mark.parametrize("persona", ["viewer", "editor"])
def test_below_admin_the_role_and_remove_urls_are_refused(client_as, cast, persona):
    browser = client_as(cast[persona])
    assert browser.post(role_url(cast["viewer"]), {"role": "editor"}).status_code == 403
    assert browser.get(remove_url(cast["viewer"])).status_code == 403
    assert browser.post(remove_url(cast["viewer"])).status_code == 403
    assert membership(cast["viewer"]).role == Role.VIEWER


def test_a_member_of_another_team_cannot_be_changed_through_this_one(client_as, cast, team_b):
    globex_owner = Membership.objects.get(team=team_b)
    response = client_as(cast["owner"]).post(reverse("member_role", args=["acme", globex_owner.pk]),
                                             {"role": "viewer"})
    assert response.status_code == 404
    assert Membership.objects.get(pk=globex_owner.pk).role == Role.OWNER


@pytest.mark.parametrize("change", ["role", "remove"])
def test_a_member_removed_meanwhile_is_a_refusal_on_record_not_an_error(cast, team_a, change):
    """Two admins on the members page at once: one removes a member, the other then changes or removes them."""
    stale = membership(cast["editor"])
    Membership.objects.filter(pk=stale.pk).delete()

    with pytest.raises(ServiceError, match="no longer a member of Acme"):
        if change == "role":
            member_set_role(actor=cast["owner"], team=team_a, membership=stale, role=Role.VIEWER)
        else:
            member_remove(actor=cast["owner"], team=team_a, membership=stale)

    event = AuditEvent.objects.get(action="member.role_change" if change == "role" else "member.remove")
    assert (event.outcome, event.target_label) == ("refused", cast["editor"].email)
