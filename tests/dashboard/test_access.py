"""Access control in one place: the URL guard, the role matrix and cross-team isolation."""

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, include, path, reverse

from dashboard.access import not_team_scoped, team_required
from dashboard.models import AuditEvent, Invitation, Membership, Role
from dashboard.services.invitations import invitation_create

pytestmark = pytest.mark.django_db

# Views of Django's own that belong to no team and guard themselves (sign-in pages, the admin site).
DJANGO_OWN_VIEWS = {"login", "logout", "password_change_done", "password_reset", "password_reset_done",
                    "password_reset_complete"}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue  # the admin site checks staff status itself
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def unguarded_views(patterns) -> list[str]:
    problems = []
    for route, pattern in _walk(patterns):
        view = pattern.callback
        if "<slug:team_slug>" in route:
            if not hasattr(view, "team_required_role"):
                problems.append(f"{route} ({pattern.name}) is a team page without @team_required")
        elif not getattr(view, "not_team_scoped", False) and pattern.name not in DJANGO_OWN_VIEWS:
            problems.append(f"{route} ({pattern.name}) has neither @team_required nor @not_team_scoped")
    return problems


def test_every_view_is_guarded_by_team_required_or_explicitly_exempt():
    assert unguarded_views(get_resolver().url_patterns) == []


def test_the_url_guard_notices_a_view_without_the_decorator_or_an_exemption():
    def naked(request, team_slug=None):
        raise AssertionError("never called")

    patterns = [
        path("t/<slug:team_slug>/", include([path("naked/", naked, name="naked_team_page")])),
        path("elsewhere/", naked, name="naked_page"),
        path("t/<slug:team_slug>/fine/", team_required(role=Role.VIEWER)(naked), name="fine"),
        path("exempt/", not_team_scoped(lambda request: None), name="exempt"),
    ]
    assert unguarded_views(patterns) == [
        "t/<slug:team_slug>/naked/ (naked_team_page) is a team page without @team_required",
        "elsewhere/ (naked_page) has neither @team_required nor @not_team_scoped",
    ]


# --- The role matrix ----------------------------------------------------------------------------

# (URL name, method, the lowest role allowed, which of team A's objects the URL names)
TEAM_URLS = [
    ("team_home", "get", Role.VIEWER, None),
    ("team_leave", "get", Role.VIEWER, None),
    ("team_delete", "get", Role.OWNER, None),
    ("member_list", "get", Role.VIEWER, None),
    ("member_invite", "post", Role.ADMIN, None),
    ("member_role", "post", Role.ADMIN, "member"),
    ("member_remove", "get", Role.ADMIN, "member"),
    ("invitation_revoke", "post", Role.ADMIN, "invitation"),
    ("server_connect", "get", Role.ADMIN, None),
    ("server_detail", "get", Role.VIEWER, "server"),
    ("server_rename", "post", Role.ADMIN, "server"),
    ("server_token", "get", Role.ADMIN, "server"),
    ("server_stream_limit", "post", Role.ADMIN, "server"),
    ("server_remove", "get", Role.ADMIN, "server"),
    ("stream_list", "get", Role.VIEWER, "server"),
    ("stream_create", "get", Role.EDITOR, "server"),
    ("stream_create_check", "post", Role.EDITOR, "server"),
    ("stream_detail", "get", Role.VIEWER, "stream"),
    ("stream_activity", "get", Role.VIEWER, "stream"),
    ("server_sparklines", "get", Role.VIEWER, "server"),
    ("stream_edit", "get", Role.EDITOR, "stream"),
    ("stream_archive", "get", Role.EDITOR, "stream"),
    ("stream_restore", "get", Role.EDITOR, "stream"),
    ("suppression_list", "get", Role.VIEWER, "stream"),
    ("suppression_search", "post", Role.VIEWER, "stream"),
    ("suppression_export", "get", Role.VIEWER, "stream"),
    ("suppression_add", "get", Role.EDITOR, "stream"),
    ("suppression_add_check", "post", Role.EDITOR, "stream"),
    ("suppression_remove", "post", Role.EDITOR, "stream"),
    ("suppression_remove_confirm", "post", Role.EDITOR, "stream"),
    ("recipient_lookup", "get", Role.VIEWER, None),
    ("recipient_lookup_clear", "post", Role.VIEWER, None),
    ("recipient_lookup_remove", "post", Role.EDITOR, None),
    ("recipient_lookup_reactivate", "post", Role.EDITOR, None),
    ("audit_log", "get", Role.ADMIN, None),
    ("audit_export_csv", "get", Role.ADMIN, None),
    ("audit_export_jsonl", "get", Role.ADMIN, None),
    ("team_reminders", "get", Role.OWNER, None),
]
PERSONAS = ["anonymous", "outsider", "viewer", "editor", "admin", "owner"]
KWARG = {"member": "member_id", "invitation": "invitation_id", "server": "server_id"}


def test_the_role_matrix_covers_every_team_url():
    team_routes = {p.name for route, p in _walk(get_resolver().url_patterns) if "<slug:team_slug>" in route}
    assert team_routes == {name for name, *_ in TEAM_URLS}


@pytest.fixture
def objects_of(cast, team_a, team_b, server_a, server_b, viewer, owner, outsider, make_user):
    """For each team, one object of each kind a nested URL can name."""
    def invite(actor, team, email):
        return invitation_create(actor=actor, team=team, email=email, role=Role.VIEWER, link_for=lambda t: t)

    return {
        team_a: {"member": Membership.objects.get(team=team_a, user=viewer).pk,
                 "invitation": invite(owner, team_a, "new-a@example.com").pk, "server": server_a.pk},
        team_b: {"member": Membership.objects.get(team=team_b, user=outsider).pk,
                 "invitation": invite(outsider, team_b, "new-b@example.com").pk, "server": server_b.pk},
    }


def _url(name, team, obj_kind, objects_of, owner_team=None):
    kwargs = {"team_slug": team.slug}
    if obj_kind == "stream":
        kwargs.update(server_id=objects_of[owner_team or team]["server"], stream_id="broadcast")
    elif obj_kind:
        kwargs[KWARG[obj_kind]] = objects_of[owner_team or team][obj_kind]
    return reverse(name, kwargs=kwargs)


def _made_up_kwargs(obj_kind):
    if obj_kind == "stream":
        return {"server_id": uuid.uuid4(), "stream_id": "broadcast"}
    return {KWARG[obj_kind]: uuid.uuid4() if obj_kind == "server" else 987654}


def _expected(persona: str, needs: Role) -> str:
    if persona == "anonymous":
        return "sign-in"
    if persona == "outsider":
        return "not found"
    return "allowed" if Role(persona).at_least(needs) else "forbidden"


def _outcome(response) -> str:
    if response.status_code == 302 and response["Location"].startswith(reverse("login")):
        return "sign-in"
    return {404: "not found", 403: "forbidden"}.get(response.status_code, "allowed")


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("name", "method", "needs", "obj_kind"), TEAM_URLS, ids=[u[0] for u in TEAM_URLS])
def test_each_persona_gets_what_their_role_allows_on_every_team_url(
    persona, name, method, needs, obj_kind, cast, team_a, objects_of, client_as
):
    browser = client_as(cast[persona])
    response = getattr(browser, method)(_url(name, team_a, obj_kind, objects_of))
    assert _outcome(response) == _expected(persona, needs)
    if _outcome(response) == "allowed":
        assert response.status_code in {200, 302}


def _without_csrf_token(content: bytes) -> bytes:
    """A page as a person reads it: the header's CSRF tokens are masked afresh for every answer."""
    content = re.sub(rb'"X-CSRFToken": "[^"]*"', b'"X-CSRFToken": ""', content)
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b'name="csrfmiddlewaretoken" value=""', content)


NESTED_URLS = [(name, method, needs, kind) for name, method, needs, kind in TEAM_URLS if kind]


@pytest.mark.parametrize("persona", ["viewer", "editor", "admin", "owner", "outsider"])
@pytest.mark.parametrize(("name", "method", "needs", "obj_kind"), NESTED_URLS, ids=[name for name, *_ in NESTED_URLS])
def test_team_a_urls_never_reach_team_b_objects(persona, name, method, needs, obj_kind, cast, team_a, team_b,
                                                objects_of, client_as):
    """Team B's object through team A's URL answers exactly as a made-up object would: no trace of it."""
    browser = client_as(cast[persona])
    theirs = getattr(browser, method)(_url(name, team_a, obj_kind, objects_of, owner_team=team_b))
    made_up = getattr(browser, method)(
        reverse(name, kwargs={"team_slug": team_a.slug, **_made_up_kwargs(obj_kind)}))
    expected = 403 if persona != "outsider" and not Role(persona).at_least(needs) else 404
    assert theirs.status_code == made_up.status_code == expected
    assert _without_csrf_token(theirs.content) == _without_csrf_token(made_up.content)


def test_an_outsider_cannot_tell_a_real_server_of_another_team_from_a_made_up_one(
    outsider, team_a, server_a, client_as
):
    browser = client_as(outsider)
    real = browser.get(reverse("server_detail", kwargs={"team_slug": team_a.slug, "server_id": server_a.pk}))
    made_up = browser.get(reverse("server_detail", kwargs={"team_slug": team_a.slug, "server_id": uuid.uuid4()}))
    no_team = browser.get(reverse("server_detail", kwargs={"team_slug": "no-such-team", "server_id": server_a.pk}))
    assert real.status_code == made_up.status_code == no_team.status_code == 404
    assert _without_csrf_token(real.content) == _without_csrf_token(made_up.content) == _without_csrf_token(
        no_team.content)
    assert b"Acme" not in real.content


def test_a_member_below_the_role_gets_a_plain_refusal_and_the_denial_is_audited(viewer, team_a, client_as):
    response = client_as(viewer).get(reverse("server_connect", kwargs={"team_slug": team_a.slug}))
    assert response.status_code == 403
    assert "You don't have access to do that" in response.content.decode()
    page = response.content.decode()
    assert "This needs the Admin role; yours is Viewer." in page  # the role needed, and theirs
    assert f"Signed in as <strong>{viewer.email}</strong>" in page  # the site's header, to go on from here
    assert 'aria-label="Acme"' in page and "Your role: <strong>Viewer</strong>" in page
    event = AuditEvent.objects.get(action="access.denied")
    assert (event.actor_id, event.actor_label, event.actor_role) == (viewer.pk, viewer.email, "viewer")
    assert (event.team_id, event.team_label, event.outcome) == (team_a.pk, "Acme", "denied")
    assert event.target_id == f"/t/{team_a.slug}/servers/connect/"
    assert event.detail == "Needs the Admin role or higher."
    assert (event.ip, event.user_agent) == ("127.0.0.1", "")


def test_an_outsider_probing_a_team_is_audited_in_that_team_and_told_nothing(outsider, team_a, client_as):
    response = client_as(outsider).get(reverse("member_list", kwargs={"team_slug": team_a.slug}))

    assert response.status_code == 404
    assert b"Acme" not in response.content
    event = AuditEvent.objects.get(action="access.denied")
    assert (event.team_id, event.actor_id, event.actor_role, event.outcome) == (team_a.pk, outsider.pk, "", "denied")
    assert event.target_id == f"/t/{team_a.slug}/members/"
    assert event.detail == "Not a member of this team."


def test_a_made_up_team_leaves_an_entry_in_no_teams_log_only_in_the_persons_own_trail(outsider, team_a, team_b,
                                                                                        client_as):
    response = client_as(outsider).get(reverse("member_list", kwargs={"team_slug": "no-such-team"}))

    assert response.status_code == 404
    event = AuditEvent.objects.get(action="access.denied")
    assert (event.team_id, event.actor_id, event.target_id) == (None, outsider.pk, "/t/no-such-team/members/")


def test_a_role_change_takes_effect_on_the_next_request(editor, team_a, client_as):
    browser = client_as(editor)
    url = reverse("server_connect", kwargs={"team_slug": team_a.slug})
    assert browser.get(url).status_code == 403
    Membership.objects.filter(user=editor, team=team_a).update(role=Role.ADMIN)
    assert browser.get(url).status_code == 200
    Membership.objects.filter(user=editor, team=team_a).delete()
    assert browser.get(url).status_code == 404


def test_an_invitation_link_opens_without_signing_in(client, objects_of):
    assert Invitation.objects.count() == 2
    response = client.get(reverse("invitation_accept", args=["not-a-real-invitation-token"]))
    assert response.status_code == 404
    assert "not valid" in response.content.decode().lower()
