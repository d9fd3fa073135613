"""Creating a stream (with its check as the person types) and editing one.

Thin views: the form checks Postmark's rules in Postmark's words (`streams.rules`), one service call
changes Postmark and writes the audit, and its refusals land on the field they concern. Everything
works with JavaScript off: a plain POST re-renders the page or redirects; with htmx the same views
answer partials (`Vary: HX-Request`).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from dashboard.access import team_required
from dashboard.forms import apply_service_error
from dashboard.models import Role, Server
from dashboard.postmark.client import Stream
from dashboard.services import ServiceError
from streams.forms import FIXED_ID_AND_TYPE, StreamCreateForm, StreamEditForm
from streams.rules import suggest_id
from streams.services import (
    PostmarkTrouble,
    StreamChanged,
    StreamGone,
    read_snapshot,
    stream_create,
    stream_edit,
    stream_get,
    stream_ids_on_server,
    stream_list,
    stream_snapshot,
)
from streams.views import record_stream_refusal, server_of, trouble_context

SUGGESTED_NOTE = "We suggested an ID from the name. Check it, then press Create stream."
FIELD_WORDS = {"name": "Name", "description": "Description", "unsubscribe_handling": "Unsubscribe handling"}


def _go(request: HttpRequest, url: str) -> HttpResponse:
    """After a change: htmx follows with a full page load, a plain form with a redirect."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _render(request: HttpRequest, template: str, partial: str, context: dict) -> HttpResponse:
    response = render(request, f"{template}#{partial}" if request.htmx else template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _gone(request: HttpRequest, server: Server, stream_id: str) -> HttpResponse:
    messages.error(request, f"Postmark no longer has the stream “{stream_id}” on {server.name}. It may have been "
                            "purged or removed in Postmark: Postmark deletes an archived stream 45 days after it "
                            "was archived.")
    return _go(request, reverse("stream_list", args=[request.team.slug, server.pk]))


# --- Creating ------------------------------------------------------------------------------------


def _slots(server: Server, taken_ids: list[str] | None) -> dict:
    used = None if taken_ids is None else len(taken_ids)
    left = None if used is None else max(0, server.stream_limit - used)
    return {"slots_used": used, "slots_left": left, "no_slots": left == 0}


def _create_page(request: HttpRequest, server: Server, form: StreamCreateForm, *, trouble=None,
                 suggested: bool = False) -> HttpResponse:
    context = {"server": server, "form": form, "suggested_note": SUGGESTED_NOTE if suggested else "",
               **_slots(server, form.taken_ids), **trouble_context(request, trouble, server)}
    return _render(request, "streams/create.html", "create-form", context)


@team_required(role=Role.EDITOR, denied_action="stream.create")
@require_http_methods(["GET", "POST"])
def stream_create_view(request: HttpRequest, server_id) -> HttpResponse:
    server = server_of(request, server_id)
    if request.method == "GET":
        try:
            taken_ids, trouble = [s.id for s in stream_list(server=server, include_archived=True).streams], None
        except PostmarkTrouble as error:
            taken_ids, trouble = None, error
        form = StreamCreateForm(server=server, taken_ids=taken_ids, slots_used=_slots(server, taken_ids)["slots_used"])
        return _create_page(request, server, form, trouble=trouble)

    taken_ids = stream_ids_on_server(server=server)  # a minute old at most; Postmark still has the last word
    used = None if taken_ids is None else len(taken_ids)
    form = StreamCreateForm(request.POST, server=server, taken_ids=taken_ids, slots_used=used)
    name, stream_id = request.POST.get("name", "").strip(), request.POST.get("stream_id", "").strip()
    if name and not stream_id:
        # Never create silently with an ID the person has not seen: show the suggestion and let them press again.
        data = request.POST.copy()
        data["stream_id"] = suggest_id(name, taken_ids or ())
        form = StreamCreateForm(data, server=server, taken_ids=taken_ids, slots_used=used)
        form.is_valid()
        return _create_page(request, server, form, suggested=True)
    if not form.is_valid():
        record_stream_refusal(request, form, action="stream.create", server=server, stream_id=stream_id)
        return _create_page(request, server, form)
    data = form.cleaned_data
    try:
        stream = stream_create(actor=request.user, team=request.team, server=server, stream_id=data["stream_id"],
                               name=data["name"], stream_type=data["stream_type"], description=data["description"],
                               unsubscribe_handling=data["unsubscribe_handling"])
    except PostmarkTrouble as trouble:
        return _create_page(request, server, form, trouble=trouble)
    except ServiceError as error:
        apply_service_error(form, error)
        return _create_page(request, server, form)
    messages.success(request, f"The stream “{stream.name}” ({stream.id}) was created on {server.name}.")
    return _go(request, reverse("stream_detail", args=[request.team.slug, server.pk, stream.id]))


@team_required(role=Role.EDITOR)
@require_http_methods(["GET", "POST"])
def stream_create_check(request: HttpRequest, server_id) -> HttpResponse:
    """As the person types: each touched field's errors, and an ID suggested from the name. Changes nothing."""
    server = server_of(request, server_id)
    if not request.htmx or request.method != "POST":
        return redirect("stream_create", team_slug=request.team.slug, server_id=server.pk)
    taken_ids = stream_ids_on_server(server=server)  # None: Postmark can't be asked, so that rule waits for submit
    form = StreamCreateForm(request.POST, server=server, taken_ids=taken_ids,
                            slots_used=None if taken_ids is None else len(taken_ids))
    form.is_valid()
    id_touched = "stream_id" in form.touched_fields
    suggestion = suggest_id(request.POST.get("name", ""), taken_ids or ())
    context = {"server": server, "form": form, "feedback": form.feedback(), "suggestion": suggestion,
               # Until the person types an ID, app.js fills in the suggestion; after, it is only offered.
               "suggestion_fills": not id_touched,
               "offer_suggestion": id_touched and bool(form.errors.get("stream_id")) and bool(suggestion)}
    response = render(request, "streams/create.html#check-answer", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- Editing -------------------------------------------------------------------------------------


def _edit_page(request: HttpRequest, server: Server, stream_id: str, form: StreamEditForm | None, *,
               stream: Stream | None = None, trouble=None, conflict: StreamChanged | None = None) -> HttpResponse:
    changes = []
    if conflict is not None:
        changes = [{"label": FIELD_WORDS[field], "seen": seen, "now": now}
                   for field, (seen, now) in conflict.changes.items()]
    context = {"server": server, "stream_id": stream_id, "stream": stream, "form": form, "changes": changes,
               "conflict": conflict, "fixed_why": FIXED_ID_AND_TYPE,
               "stream_type": stream.stream_type.value if stream else (form.stream_type if form else ""),
               **trouble_context(request, trouble, server)}
    return _render(request, "streams/edit.html", "edit-form", context)


def _shown(server: Server, stream_id: str) -> Stream | None:
    """The stream for showing around a form that is re-shown; None when Postmark can't say."""
    try:
        return stream_get(server=server, stream_id=stream_id)
    except ServiceError:
        return None


@team_required(role=Role.EDITOR, denied_action="stream.edit")
@require_http_methods(["GET", "POST"])
def stream_edit_view(request: HttpRequest, server_id, stream_id: str) -> HttpResponse:
    server = server_of(request, server_id)
    if request.method == "GET":
        try:
            stream = stream_get(server=server, stream_id=stream_id)
        except StreamGone:
            return _gone(request, server, stream_id)
        except PostmarkTrouble as trouble:
            return _edit_page(request, server, stream_id, None, trouble=trouble)
        form = StreamEditForm(stream_type=stream.stream_type.value, initial={
            "name": stream.name, "description": stream.description or "",
            "unsubscribe_handling": stream.unsubscribe_handling.value, "seen": stream_snapshot(stream)})
        return _edit_page(request, server, stream_id, form, stream=stream)

    form = StreamEditForm(request.POST, stream_type=request.POST.get("stream_type", ""))
    if not form.is_valid():
        record_stream_refusal(request, form, action="stream.edit", server=server, stream_id=stream_id)
        return _edit_page(request, server, stream_id, form, stream=_shown(server, stream_id))
    seen = read_snapshot(form.cleaned_data["seen"], stream_id=stream_id)
    wanted = {field: form.cleaned_data[field] for field in ("name", "description", "unsubscribe_handling")}
    try:
        stream = stream_edit(actor=request.user, team=request.team, server=server, stream_id=stream_id, seen=seen,
                             **wanted)
    except StreamGone:
        return _gone(request, server, stream_id)
    except StreamChanged as conflict:
        # Their own values stay in the fields; the fresh note lets them save again knowing what changed.
        data = request.POST.copy()
        data["seen"] = stream_snapshot(conflict.current)
        form = StreamEditForm(data, stream_type=conflict.current.stream_type.value)
        form.is_valid()
        return _edit_page(request, server, stream_id, form, stream=conflict.current, conflict=conflict)
    except PostmarkTrouble as trouble:
        return _edit_page(request, server, stream_id, form, trouble=trouble)
    except ServiceError as error:
        apply_service_error(form, error)
        return _edit_page(request, server, stream_id, form, stream=_shown(server, stream_id))
    if seen == wanted:
        messages.info(request, f"Nothing to save: “{stream.name}” already has these values.")
    else:
        messages.success(request, f"Your changes to “{stream.name}” ({stream.id}) were saved in Postmark.")
    return _go(request, reverse("stream_detail", args=[request.team.slug, server.pk, stream.id]))
