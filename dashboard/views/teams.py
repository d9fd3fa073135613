"""Teams: the list and switcher, creating one, its home page, leaving it and deleting it."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from dashboard.access import not_team_scoped, team_required
from dashboard.forms import ConfirmTeamDeleteForm, TeamForm, apply_service_error, record_refusal
from dashboard.models import Invitation, Membership, Role
from dashboard.services import ServiceError
from dashboard.services.teams import member_leave, team_create, team_delete


@not_team_scoped
@require_http_methods(["GET", "POST"])
def team_list(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = team_create(actor=request.user, name=form.cleaned_data["name"])
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, f"{team.name} is ready. You are its owner: connect a server or invite people.")
            return redirect("team_home", team_slug=team.slug)
    elif request.method == "POST":
        record_refusal(request, form, action="team.create", target_type="team")
    memberships = Membership.objects.filter(user=request.user).select_related("team").order_by("team__name")
    invitations = [
        invitation
        for invitation in Invitation.objects.filter(email__iexact=request.user.email, accepted_at=None, revoked_at=None)
        .select_related("team")
        if invitation.is_pending
    ]
    # A form with mistakes comes back as a page (200), as Django's own forms do: the browser shows it without
    # logging a failed request, and the mistakes are on the page.
    return render(request, "dashboard/team_list.html",
                  {"form": form, "memberships": memberships, "invitations": invitations})


@team_required(role=Role.VIEWER)
@require_http_methods(["GET", "POST"])
def team_leave(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            member_leave(actor=request.user, team=request.team)
        except ServiceError as error:
            messages.error(request, error.message)
            return redirect("team_leave", team_slug=request.team.slug)
        messages.success(request, f"You have left {request.team.name}.")
        return redirect("home")
    return render(request, "dashboard/team_leave.html")


@team_required(role=Role.OWNER)
@require_http_methods(["GET", "POST"])
def team_delete_view(request: HttpRequest) -> HttpResponse:
    form = ConfirmTeamDeleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team_delete(actor=request.user, team=request.team, confirmation=form.cleaned_data["confirmation"])
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, f"{request.team.name} has been deleted. "
                                      "Its servers and streams stay in Postmark.")
            return redirect("home")
    elif request.method == "POST":
        record_refusal(request, form, action="team.delete", target_type="team", target_id=request.team.pk,
                       target_label=request.team.name)
    return render(request, "dashboard/team_delete.html", {
        "form": form,
        "server_count": request.team.servers.count(),
        "member_count": request.team.memberships.count(),
    })
