"""Postmark servers of a team: connecting one, its page, renaming, replacing its token, removing it."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from dashboard.access import team_required
from dashboard.audit_log import server_history
from dashboard.forms import (
    ServerConnectForm,
    ServerRenameForm,
    ServerStreamLimitForm,
    ServerTokenForm,
    apply_service_error,
    record_refusal,
)
from dashboard.models import Role, Server
from dashboard.services import ServiceError
from dashboard.services.servers import (
    TOKEN_UNREADABLE,
    server_connect,
    server_remove,
    server_rename,
    server_replace_token,
    server_set_stream_limit,
    server_token_is_readable,
)


def _server(request: HttpRequest, server_id) -> Server:
    return get_object_or_404(Server, pk=server_id, team=request.team)


def _target(server: Server) -> dict:
    return {"target_type": "server", "target_id": server.pk, "target_label": server.name}


@team_required(role=Role.ADMIN)
@sensitive_post_parameters("token")
@require_http_methods(["GET", "POST"])
def server_connect_view(request: HttpRequest) -> HttpResponse:
    form = ServerConnectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            server = server_connect(actor=request.user, team=request.team, name=form.cleaned_data["name"],
                                    token=form.cleaned_data["token"], sandbox=form.cleaned_data.get("sandbox", False))
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, f"{server.name} is connected. Postmark accepted its token, which is now "
                                      f"stored encrypted and shown only as {server.masked_token}.")
            return redirect("server_detail", team_slug=request.team.slug, server_id=server.pk)
    elif request.method == "POST":
        record_refusal(request, form, action="server.connect", target_type="server")
    return render(request, "dashboard/server_connect.html", {"form": form})


@team_required(role=Role.VIEWER)
@require_http_methods(["GET"])
def server_detail(request: HttpRequest, server_id) -> HttpResponse:
    server = _server(request, server_id)
    return render(request, "dashboard/server_detail.html", {
        "server": server,
        "token_readable": server_token_is_readable(server),
        "token_unreadable": TOKEN_UNREADABLE,
        "can_admin": request.membership.role_enum.at_least(Role.ADMIN),
        "rename_form": ServerRenameForm(initial={"name": server.name}),
        "limit_form": ServerStreamLimitForm(initial={"stream_limit": server.stream_limit}),
        "history": server_history(team=request.team, server=server),
    })


@team_required(role=Role.ADMIN, action="server.stream_limit")
@require_POST
def server_stream_limit_view(request: HttpRequest, server_id) -> HttpResponse:
    server = _server(request, server_id)
    form = ServerStreamLimitForm(request.POST)
    if form.is_valid():
        old = server.stream_limit
        try:
            server_set_stream_limit(actor=request.user, team=request.team, server=server,
                                    limit=form.cleaned_data["stream_limit"])
        except ServiceError as error:
            messages.error(request, error.message)
        else:
            if server.stream_limit != old:
                messages.success(request, f"{server.name} may now have {server.stream_limit} streams.")
    else:
        record_refusal(request, form, action="server.stream_limit", **_target(server))
        messages.error(request, "The stream limit must be a whole number between 1 and 1000.")
    return redirect("server_detail", team_slug=request.team.slug, server_id=server.pk)


@team_required(role=Role.ADMIN, action="server.rename")
@require_POST
def server_rename_view(request: HttpRequest, server_id) -> HttpResponse:
    server = _server(request, server_id)
    form = ServerRenameForm(request.POST)
    if form.is_valid():
        old = server.name
        try:
            server_rename(actor=request.user, team=request.team, server=server, name=form.cleaned_data["name"])
        except ServiceError as error:
            messages.error(request, error.message)
        else:
            if server.name != old:
                messages.success(request, f"“{old}” is now called “{server.name}”.")
    else:
        record_refusal(request, form, action="server.rename", **_target(server))
        messages.error(request, " ".join(form.errors["name"]))
    return redirect("server_detail", team_slug=request.team.slug, server_id=server.pk)


@team_required(role=Role.ADMIN, action="server.token.replace")
@sensitive_post_parameters("token")
@require_http_methods(["GET", "POST"])
def server_token_view(request: HttpRequest, server_id) -> HttpResponse:
    server = _server(request, server_id)
    form = ServerTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            server_replace_token(actor=request.user, team=request.team, server=server, token=form.cleaned_data["token"])
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, f"Postmark accepted the new token for {server.name}; it is stored encrypted "
                                      f"and shown only as {server.masked_token}.")
            return redirect("server_detail", team_slug=request.team.slug, server_id=server.pk)
    elif request.method == "POST":
        record_refusal(request, form, action="server.token.replace", **_target(server))
    return render(request, "dashboard/server_token.html", {
        "server": server, "form": form, "token_readable": server_token_is_readable(server),
    })


@team_required(role=Role.ADMIN, action="server.remove")
@require_http_methods(["GET", "POST"])
def server_remove_view(request: HttpRequest, server_id) -> HttpResponse:
    server = _server(request, server_id)
    if request.method == "POST":
        try:
            server_remove(actor=request.user, team=request.team, server=server)
        except ServiceError as error:
            messages.error(request, error.message)
            return redirect("server_detail", team_slug=request.team.slug, server_id=server_id)
        messages.success(request, f"{server.name} was removed from {request.team.name}. Nothing changed in Postmark.")
        return redirect("team_home", team_slug=request.team.slug)
    return render(request, "dashboard/server_remove.html", {"server": server})
