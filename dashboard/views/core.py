"""The start page, the health check, and the page for a form the CSRF check refused."""

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from dashboard.access import SESSION_TEAM, not_team_scoped
from dashboard.middleware import client_ip
from dashboard.models import Membership
from dashboard.services.accounts import account_record_signed_out_csrf_failure
from dashboard.services.teams import access_record_csrf_failure


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


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: says in plain words what to do, and puts the refusal on record (for someone not signed in,
    up to a limit per address).

    The team is the one in the address when the person is its member; otherwise the entry belongs to no team,
    so nobody learns of a team from its log. An htmx request gets the words as a toast (HX-Retarget)."""
    user = request.user
    if user.is_authenticated:
        slug = (request.resolver_match.kwargs if request.resolver_match else {}).get("team_slug")
        membership = (Membership.objects.select_related("team").filter(team__slug=slug, user=user).first()
                      if slug else None)
        access_record_csrf_failure(actor=user, team=membership.team if membership else None,
                                   role=membership.role if membership else None, path=request.path)
    else:
        account_record_signed_out_csrf_failure(path=request.path, address=client_ip(request),
                                               typed_email=str(request.POST.get("username", "")))
    if request.htmx:
        response = render(request, "403_csrf.html#csrf-toast", status=403)
        response["HX-Retarget"] = "#toasts"
        response["HX-Reswap"] = "beforeend"
    else:
        response = render(request, "403_csrf.html", status=403)
    patch_vary_headers(response, ["HX-Request"])
    return response
