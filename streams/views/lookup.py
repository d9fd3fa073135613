""""Why didn't this person get our e-mail?": one address, every stream of every server of the team.

The address is sent by POST and kept in the session (for this team), then the page is shown by GET: it never
appears in a URL, a shared link or an access log, and a reload does not send the form again. The actions
(remove a suppression, reactivate a bounce) take the address from the session too, never from the form.
"""

from __future__ import annotations

import re
import time
import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods
from django_htmx.http import reswap, retarget

from dashboard.access import team_required
from dashboard.forms import record_request_refusal
from dashboard.models import Role, Server
from dashboard.services import ServiceError
from streams.forms_suppressions import LookupForm
from streams.services import PostmarkTrouble, StreamGone
from streams.services_suppressions import REMOVING_MEANS, bounce_activate, recipient_lookup, suppression_remove
from streams.views import can_admin, can_edit

SESSION_KEY = "recipient_lookup"
KEPT_SECONDS = 3600
_STREAM_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,99}")  # as streams.urls.StreamIdConverter


def _looked_up(request: HttpRequest) -> str:
    """The address this person looked up in this team, for an hour; after that it is forgotten."""
    kept = request.session.get(SESSION_KEY) or {}
    fresh = time.time() - float(kept.get("at", 0)) < KEPT_SECONDS
    if kept and not fresh:
        request.session.pop(SESSION_KEY, None)
    return kept.get("email", "") if fresh and kept.get("team") == request.team.slug else ""


def _page(request: HttpRequest, form: LookupForm, email: str, *, form_oob: bool = False) -> HttpResponse:
    answers = []
    if email:
        try:
            answers = recipient_lookup(team=request.team, email=email)
        except ServiceError as error:
            form.add_error("email", error.message)
    partial = request.htmx and not request.htmx.history_restore_request
    template = "streams/lookup.html#lookup-results" if partial else "streams/lookup.html"
    response = render(request, template, {
        "form": form, "email": email, "answers": answers, "can_edit": can_edit(request),
        "can_admin": can_admin(request), "removing_means": REMOVING_MEANS,
        "no_servers": not request.team.servers.exists(), "form_oob": form_oob and partial,
    })
    patch_vary_headers(response, ("HX-Request",))
    return response


@team_required(role=Role.VIEWER)
@require_http_methods(["GET", "POST"])
def recipient_lookup_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        email = _looked_up(request)
        return _page(request, LookupForm(initial={"email": email}), email)
    form = LookupForm(request.POST)
    if not form.is_valid():
        if request.htmx:  # the mistake is shown on the form, which sits outside the results htmx swaps
            response = render(request, "streams/lookup.html#lookup-form", {"form": form})
            patch_vary_headers(response, ("HX-Request",))
            return reswap(retarget(response, "#lookup-form"), "outerHTML")
        return _page(request, form, "")
    email = form.cleaned_data["email"]
    request.session[SESSION_KEY] = {"team": request.team.slug, "email": email, "at": time.time()}
    if request.htmx:  # the form comes along out of band, so a mistake shown before is gone
        return _page(request, form, email, form_oob=True)
    return redirect("recipient_lookup", team_slug=request.team.slug)


@team_required(role=Role.VIEWER)
@require_http_methods(["POST"])
def recipient_lookup_clear(request: HttpRequest) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    return redirect("recipient_lookup", team_slug=request.team.slug)


def _server_from_form(request: HttpRequest) -> Server | None:
    try:
        server_id = uuid.UUID(request.POST.get("server", ""))
    except ValueError:
        return None
    return get_object_or_404(request.team.servers, pk=server_id)


def _record_stale(request: HttpRequest, *, action: str, email: str, server: Server | None) -> None:
    """A remove or reactivate refused before it reached a service: on record, saying which part was missing."""
    if not email:
        why = "the address looked up is no longer kept (looked up over an hour ago, or in another team)"
    elif server is None:
        why = "the form named no server"
    else:
        why = "the form named no stream" if action == "suppression.remove" else "the form named no bounce"
    record_request_refusal(request, action=action, target_type="server" if server else "",
                           target_id=server.pk if server else "", target_label=server.name if server else "",
                           detail=f"Nothing was sent to Postmark: {why}.")


@team_required(role=Role.EDITOR, denied_action="suppression.remove")
@require_http_methods(["POST"])
def recipient_lookup_remove(request: HttpRequest) -> HttpResponse:
    """Remove the looked-up address's suppression on one stream."""
    email, server = _looked_up(request), _server_from_form(request)
    stream_id = request.POST.get("stream", "")
    if not email or server is None or not _STREAM_ID.fullmatch(stream_id):
        _record_stale(request, action="suppression.remove", email=email, server=server)
        messages.error(request, "Look the address up again: this page was open too long, so nothing was changed.")
        return redirect("recipient_lookup", team_slug=request.team.slug)
    try:
        report = suppression_remove(actor=request.user, team=request.team, server=server, stream_id=stream_id,
                                    emails=[email])
    except (StreamGone, PostmarkTrouble, ServiceError) as error:
        messages.error(request, f"Nothing was removed. {error.message}")
        return redirect("recipient_lookup", team_slug=request.team.slug)
    for outcome in report.outcomes:
        if outcome.done:
            messages.success(request, f"{outcome.email} on {stream_id} of {server.name}: {outcome.words}")
        else:
            messages.error(request, f"{outcome.email} on {stream_id} of {server.name}: {outcome.words}")
    return redirect("recipient_lookup", team_slug=request.team.slug)


@team_required(role=Role.EDITOR, denied_action="bounce.activate")
@require_http_methods(["POST"])
def recipient_lookup_reactivate(request: HttpRequest) -> HttpResponse:
    """Reactivate one bounce of the looked-up address, where Postmark allows it."""
    email, server = _looked_up(request), _server_from_form(request)
    bounce_id = request.POST.get("bounce", "")
    if not email or server is None or not bounce_id.isdigit() or len(bounce_id) > 18:
        _record_stale(request, action="bounce.activate", email=email, server=server)
        messages.error(request, "Look the address up again: this page was open too long, so nothing was changed.")
        return redirect("recipient_lookup", team_slug=request.team.slug)
    try:
        bounce_activate(actor=request.user, team=request.team, server=server, bounce_id=int(bounce_id), email=email)
    except (PostmarkTrouble, ServiceError) as error:
        messages.error(request, f"Nothing was reactivated. {error.message}")
    else:
        messages.success(request, f"Postmark may send to {email} again on {server.name}.")
    return redirect("recipient_lookup", team_slug=request.team.slug)
