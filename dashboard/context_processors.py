"""What every page's header needs: the signed-in person's teams and the one being looked at."""

from django.http import HttpRequest

from dashboard.access import my_memberships


def teams(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Lazy: pages that do not show the team menu (error pages, fragments) run no query; a team page already
    # read them in `team_required`.
    return {
        "my_memberships": lambda: my_memberships(request),
        "current_team": getattr(request, "team", None),
        "current_membership": getattr(request, "membership", None),
    }
