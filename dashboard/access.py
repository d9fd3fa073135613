"""Who may open a team's pages: `@team_required(role=...)` on every team view, and nothing else.

A person who is not a member of the team in the URL gets 404, so nobody learns that another team,
or its servers, exists. A member below the role gets 403, and the denial is audited.
"""

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from dashboard.models import Membership, Role
from dashboard.services.teams import access_record_denial, access_record_nothing_there, access_record_outsider

View = Callable[..., HttpResponse]
SESSION_TEAM = "current_team"


def team_required(role: Role = Role.VIEWER, *, denied_action: str = "access.denied",
                  action: str = "") -> Callable[[View], View]:
    """`denied_action` records a refused attempt under the action it tried (`stream.archive`), not as a page visit.

    A POST that names nothing in the team (a made-up number, another team's, one removed meanwhile) is answered
    404 by the view and recorded here as a refused attempt, under `action`, or `denied_action` when that names
    one: those views' own refusals are the services', which such a request never reaches."""
    role = Role(role)

    def decorator(view: View) -> View:
        @wraps(view)
        def guarded(request: HttpRequest, team_slug: str, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                raise Http404  # LoginRequiredMiddleware sends anonymous people to sign in first
            # All the person's memberships in one query: the page header lists them, and one is this team's.
            memberships = my_memberships(request)
            membership = next((each for each in memberships if each.team.slug == team_slug), None)
            if membership is None:
                access_record_outsider(actor=request.user, team_slug=team_slug, path=request.path)
                raise Http404("No such team.")
            # Set before the role check: the 403 page shows the team's navigation too.
            request.team = membership.team
            request.membership = membership
            if not membership.role_enum.at_least(role):
                access_record_denial(actor=request.user, team=membership.team, role=membership.role,
                                     needed=role, path=request.path,
                                     action=denied_action if request.method == "POST" else "access.denied")
                raise PermissionDenied(f"This needs the {role.label} role; yours is {membership.get_role_display()}.")
            if request.session.get(SESSION_TEAM) != membership.team.slug:
                request.session[SESSION_TEAM] = membership.team.slug
            try:
                return view(request, *args, **kwargs)
            except Http404:
                attempted = action or (denied_action if denied_action != "access.denied" else "")
                if request.method == "POST" and attempted:
                    access_record_nothing_there(actor=request.user, team=membership.team, role=membership.role,
                                                path=request.path, action=attempted)
                raise

        guarded.team_required_role = role
        return guarded

    return decorator


def my_memberships(request: HttpRequest) -> list[Membership]:
    """The signed-in person's memberships with their teams, by team name: read once per request."""
    if not hasattr(request, "_my_memberships"):
        request._my_memberships = list(
            Membership.objects.filter(user=request.user).select_related("team").order_by("team__name")
        )
    return request._my_memberships


def not_team_scoped(view: View) -> View:
    """Marks a view that deliberately belongs to no team (sign-in, the team list, accepting invitations)."""
    view.not_team_scoped = True
    return view
