"""Purge reminder pages: a person's own on/off switch per team, and, for a team's owners, who receives them."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard.access import not_team_scoped, team_required
from dashboard.models import Membership, Role
from dashboard.services import ServiceError
from reminders.services import (
    RECEIVING_ROLES,
    reminder_audience,
    reminder_receives,
    reminder_set_receiving,
    reminders_recent,
)


@not_team_scoped
@require_GET
def reminder_settings(request: HttpRequest) -> HttpResponse:
    memberships = list(Membership.objects.filter(user=request.user).select_related("team").order_by("team__name"))
    receives = reminder_receives(user=request.user, teams=[membership.team for membership in memberships])
    rows = [{"membership": membership, "eligible": membership.role in RECEIVING_ROLES,
             "receives": receives[membership.team_id], "is_owner": membership.role == Role.OWNER}
            for membership in memberships]
    return render(request, "reminders/settings.html", {"rows": rows})


@not_team_scoped
@require_POST
def reminder_settings_change(request: HttpRequest) -> HttpResponse:
    """One team's switch. A team the person is not in gets the same words as one that does not exist."""
    membership = (Membership.objects.select_related("team")
                  .filter(user=request.user, team__slug=request.POST.get("team", "")).first())
    receive = request.POST.get("receive") == "on"
    if membership is None:
        messages.error(request, "You are not a member of that team, so there is nothing to change.")
        return redirect("reminder_settings")
    team = membership.team
    try:
        reminder_set_receiving(actor=request.user, team=team, receive=receive)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Purge reminders for {team.name} are on: you will get an e-mail 7 days and 1 day "
                                  "before Postmark deletes an archived stream, and when it has." if receive else
                                  f"Purge reminders for {team.name} are off. Turn them on here at any time.")
    return redirect("reminder_settings")


@team_required(role=Role.OWNER)
@require_http_methods(["GET"])
def team_reminders(request: HttpRequest) -> HttpResponse:
    return render(request, "reminders/team.html", {
        "audience": reminder_audience(team=request.team), "recent": reminders_recent(team=request.team),
    })
