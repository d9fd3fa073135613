"""The start page and the health check."""

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from dashboard.access import SESSION_TEAM, not_team_scoped
from dashboard.models import Membership


@not_team_scoped
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Straight to the team last looked at, or the first one; with no team, to the team list."""
    memberships = Membership.objects.filter(user=request.user).select_related("team").order_by("team__name")
    slugs = [membership.team.slug for membership in memberships]
    if not slugs:
        return redirect("team_list")
    last = request.session.get(SESSION_TEAM)
    return redirect("team_home", team_slug=last if last in slugs else slugs[0])


@not_team_scoped
@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """For the proxy or load balancer: 200 when this instance can reach its database."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any database failure means this instance should not get traffic
        return HttpResponse("database unavailable\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")
