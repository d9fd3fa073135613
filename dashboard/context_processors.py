"""What every page's header needs: the signed-in person's teams and the one being looked at."""

from django.http import HttpRequest

from dashboard.models import Membership


def teams(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def memberships():
        return list(Membership.objects.filter(user=user).select_related("team").order_by("team__name"))

    # Lazy: pages that do not show the team menu (error pages, fragments) run no query.
    return {
        "my_memberships": memberships,
        "current_team": getattr(request, "team", None),
        "current_membership": getattr(request, "membership", None),
    }
