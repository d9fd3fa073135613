"""A stream's page, archiving it (with its confirmation dialog) and restoring it.

Every page here reads the stream from Postmark and survives Postmark's trouble with a banner; the
changes go through `stream_archive` and `stream_restore`, which check the role and write the audit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from dashboard.access import team_required
from dashboard.audit import ACTIONS
from dashboard.audit_log import FIELD_WORDS, OUTCOMES, people_named, person_and_role
from dashboard.forms import apply_service_error
from dashboard.models import AuditEvent, Role, Server
from dashboard.services import ServiceError
from dashboard.templatetags.dashboard import local_time
from streams.forms import ArchiveForm
from streams.services import (
    STREAMS_THAT_CANNOT_BE_ARCHIVED,
    PostmarkTrouble,
    StreamGone,
    stream_archive,
    stream_can_be_archived,
    stream_get,
    stream_history,
    stream_read,
    stream_restore,
)
from streams.services_activity import RECENT_DAYS, period_from, stream_sent_recently
from streams.views import can_edit, record_stream_refusal, server_of, trouble_context, wants_refresh
from streams.views.activity import activity_context

Outcome = AuditEvent.Outcome

TYPE_MEANINGS = {
    "Transactional": "One-to-one e-mail that a person's action triggers, such as receipts and password resets.",
    "Broadcasts": "Bulk e-mail sent to many people at once, such as newsletters and announcements, with an "
                  "unsubscribe link in each message.",
    "Inbound": "E-mail that Postmark receives for you and passes on to your app.",
}
HANDLING_MEANINGS = {
    "None": "No unsubscribe link is added. Transactional e-mail doesn't need one.",
    "Postmark": "Postmark adds an unsubscribe link to each message and stops sending to people who used it.",
    "Custom": "You add and handle your own unsubscribe links.",
}
# Postmark may refuse to archive the default broadcast stream (sources disagree; see the contract).
MAY_BE_REFUSED = {
    "broadcast": "This is the server's default broadcast stream: Postmark may refuse to archive it. If it does, "
                 "nothing changes.",
}
# The audit log page's words for outcomes, except that a refusal Postmark itself made says so here.
REFUSED_BY_POSTMARK = "Refused by Postmark"


# --- The stream's history -----------------------------------------------------------------------


@dataclass
class Change:
    label: str
    old: Any
    new: Any
    is_moment: bool = False  # old and new are datetimes, shown with `local_time`


@dataclass
class HistoryEntry:
    event: AuditEvent
    what: str
    who: str  # "Edith Editor (editor)", as the audit log names people
    outcome_text: str
    outcome_class: str
    changes: list[Change]


def _shown(field_name: str, value: Any) -> Any:
    """A recorded value as a person reads it; a moment stays a datetime for `local_time` in the template."""
    if value is None:
        return None
    if field_name == "purge_date":
        try:
            return datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return value
    if value == "":
        return "(empty)"
    return value.capitalize() if field_name == "state" else value


def _change(name: str, values: list) -> Change:
    old, new = _shown(name, values[0]), _shown(name, values[1])
    moments = all(value is None or isinstance(value, datetime) for value in (old, new))
    return Change(FIELD_WORDS.get(name, name.replace("_", " ").capitalize()), old, new, is_moment=moments)


def _history(request: HttpRequest, server: Server, stream_id: str) -> list[HistoryEntry]:
    entries = []
    events = list(stream_history(team=request.team, server=server, stream_id=stream_id))
    names = people_named(events)
    for event in events:
        text, css = OUTCOMES.get(event.outcome, (event.get_outcome_display(), ""))
        if event.outcome == Outcome.REFUSED and event.detail.startswith(("Postmark code", "HTTP")):
            text = REFUSED_BY_POSTMARK  # other refusals came from here, before Postmark was asked
        changes = [_change(name, values) for name, values in (event.changes or {}).items()
                   if isinstance(values, list) and len(values) == 2]
        entries.append(HistoryEntry(
            event=event, what=ACTIONS.get(event.action, event.action).replace(" a stream", " the stream"),
            who=person_and_role(event, names),
            outcome_text=text, outcome_class=css, changes=changes,
        ))
    return entries


# --- Pages ---------------------------------------------------------------------------------------


def _with_vary(response: HttpResponse) -> HttpResponse:
    patch_vary_headers(response, ("HX-Request",))
    return response


def _gone_page(request: HttpRequest, server: Server, stream_id: str, *, status: int = 404) -> HttpResponse:
    """The stream is not in Postmark (any more): say so, with what the audit log still remembers."""
    return render(request, "streams/detail.html", {
        "server": server, "stream_id": stream_id, "gone": True,
        "history": _history(request, server, stream_id),
    }, status=status)


@team_required(role=Role.VIEWER)
@require_http_methods(["GET"])
def stream_detail(request: HttpRequest, server_id, stream_id: str) -> HttpResponse:
    server = server_of(request, server_id)
    stream, trouble, as_of = None, None, None
    try:
        known = stream_read(server=server, stream_id=stream_id, refresh=wants_refresh(request))
        stream, trouble, as_of = known.stream, known.trouble, known.as_of
    except StreamGone:
        return _gone_page(request, server, stream_id)
    except PostmarkTrouble as error:
        trouble = error
    can_archive, cannot_archive_reason = stream_can_be_archived(stream) if stream else (False, "")
    # The statistics only if the cache has them: otherwise htmx fetches them once the page is shown.
    activity = activity_context(request, server, stream, days=period_from(request.GET.get("days")), embedded=True,
                                ask=False) if stream else {}
    return render(request, "streams/detail.html", {
        **activity,
        "server": server, "stream_id": stream_id, "stream": stream,
        "type_meaning": TYPE_MEANINGS.get(stream.stream_type.value, "") if stream else "",
        "handling_meaning": HANDLING_MEANINGS.get(stream.unsubscribe_handling.value, "") if stream else "",
        "can_edit": can_edit(request), "can_archive": can_archive, "cannot_archive_reason": cannot_archive_reason,
        "may_be_refused": MAY_BE_REFUSED.get(stream_id, ""),
        "history": _history(request, server, stream_id),
        **trouble_context(request, trouble, server, as_of=as_of),
    })


# --- Archive -------------------------------------------------------------------------------------


def _archive_page(request: HttpRequest, server: Server, stream_id: str, form: ArchiveForm, *,
                  trouble: PostmarkTrouble | None = None) -> HttpResponse:
    stream, gone = None, False
    if trouble is None:
        try:
            stream = stream_get(server=server, stream_id=stream_id)
        except StreamGone:
            if not request.htmx:
                return _with_vary(_gone_page(request, server, stream_id))
            gone = True  # in the dialog the words must show, so they come with a 200
        except PostmarkTrouble as error:
            trouble = error
    sent_recently = None
    if stream is not None:
        can_archive, reason = stream_can_be_archived(stream)
        if can_archive and not stream.is_archived:
            sent_recently = _sent_recently_words(server, stream)
    else:  # Postmark did not answer: the ID alone still tells the two default streams
        reason = STREAMS_THAT_CANNOT_BE_ARCHIVED.get(stream_id, "")
        can_archive = not reason
    template = "streams/archive.html#archive-dialog" if request.htmx else "streams/archive.html"
    return _with_vary(render(request, template, {
        "server": server, "stream_id": stream_id, "stream": stream, "form": form, "gone": gone,
        "can_archive": can_archive, "cannot_archive_reason": reason,
        "may_be_refused": MAY_BE_REFUSED.get(stream_id, ""), "sent_recently": sent_recently,
        **trouble_context(request, trouble, server),
    }))


def _sent_recently_words(server: Server, stream) -> str:
    """The archive dialog's reminder of how busy the stream is, so nobody archives a busy stream by mistake."""
    sent = stream_sent_recently(server=server, stream_id=stream.id)
    if sent is None:
        return ("Postmark's statistics can't say right now how many messages this stream sent lately: make sure "
                "nobody still sends on it.")
    if sent == 0:
        return f"This stream sent no messages in the last {RECENT_DAYS} days."
    return f"This stream sent {sent:,} message{'' if sent == 1 else 's'} in the last {RECENT_DAYS} days."


def _restore_offer(request: HttpRequest, server: Server, stream_id: str, purge_at: datetime) -> str:
    """The message after archiving, with a Restore button at once (a plain form: it works without JavaScript)."""
    detail_url = reverse("stream_detail", args=[request.team.slug, server.pk, stream_id])
    return format_html(
        '<span class="toast__message">The stream “{id}” is archived: nothing is sent on it any more. Postmark '
        "deletes it on {purge} unless it is restored before then.</span>"
        '<form method="post" action="{action}" class="toast__action">'
        '<input type="hidden" name="csrfmiddlewaretoken" value="{csrf}">'
        '<input type="hidden" name="next" value="{next}">'
        '<button type="submit" class="button">Restore “{id}”</button></form>',
        id=stream_id, purge=local_time(purge_at), csrf=get_token(request), next=detail_url,
        action=reverse("stream_restore", args=[request.team.slug, server.pk, stream_id]),
    )


@team_required(role=Role.EDITOR, denied_action="stream.archive")
@require_http_methods(["GET", "POST"])
def stream_archive_view(request: HttpRequest, server_id, stream_id: str) -> HttpResponse:
    server = server_of(request, server_id)
    if request.method != "POST":
        return _archive_page(request, server, stream_id, ArchiveForm())
    form = ArchiveForm(request.POST)
    if not form.is_valid():
        record_stream_refusal(request, form, action="stream.archive", server=server, stream_id=stream_id)
        return _archive_page(request, server, stream_id, form)
    try:
        result = stream_archive(actor=request.user, team=request.team, server=server, stream_id=stream_id,
                                confirmation=form.cleaned_data["confirmation"])
    except StreamGone as gone:
        messages.error(request, gone.message)
        return _go(request, reverse("stream_list", args=[request.team.slug, server.pk]))
    except PostmarkTrouble as trouble:
        return _archive_page(request, server, stream_id, form, trouble=trouble)
    except ServiceError as error:
        apply_service_error(form, error)
        return _archive_page(request, server, stream_id, form)
    # A warning stays until dismissed (a success toast fades), so the Restore button can't vanish unseen.
    messages.warning(request, _restore_offer(request, server, stream_id, result.expected_purge_date))
    return _go(request, reverse("stream_detail", args=[request.team.slug, server.pk, stream_id]))


# --- Restore -------------------------------------------------------------------------------------


def _go(request: HttpRequest, url: str) -> HttpResponse:
    """After a change: a redirect, or for htmx a full page load (its messages wait for that page)."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _safe_next(request: HttpRequest) -> str | None:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return wanted
    return None


@team_required(role=Role.EDITOR, denied_action="stream.restore")
@require_http_methods(["GET", "POST"])
def stream_restore_view(request: HttpRequest, server_id, stream_id: str) -> HttpResponse:
    server = server_of(request, server_id)
    detail_url = reverse("stream_detail", args=[request.team.slug, server.pk, stream_id])
    if request.method != "POST":
        return _restore_page(request, server, stream_id, detail_url)
    try:
        stream = stream_restore(actor=request.user, team=request.team, server=server, stream_id=stream_id)
    except StreamGone as gone:
        messages.error(request, gone.message)
        return _go(request, reverse("stream_list", args=[request.team.slug, server.pk]))
    except PostmarkTrouble as trouble:
        messages.error(request, trouble.message)
        return _go(request, _safe_next(request) or detail_url)
    except ServiceError as error:
        messages.error(request, error.message)
        return _go(request, detail_url)
    messages.success(request, f"“{stream.name}” ({stream.id}) is restored; Postmark sends on it again.")
    return _go(request, _safe_next(request) or detail_url)


def _restore_page(request: HttpRequest, server: Server, stream_id: str, detail_url: str) -> HttpResponse:
    """The Restore button on a page of its own, for links and for browsers without JavaScript."""
    stream, trouble = None, None
    try:
        stream = stream_get(server=server, stream_id=stream_id)
    except StreamGone:
        return redirect(detail_url)  # the stream's page says it is gone, with its history
    except PostmarkTrouble as error:
        trouble = error
    if stream is not None and not stream.is_archived:
        messages.info(request, f"“{stream.name}” ({stream.id}) is not archived, so there is nothing to restore.")
        return redirect(detail_url)
    return render(request, "streams/restore.html", {
        "server": server, "stream_id": stream_id, "stream": stream, "next": _safe_next(request) or "",
        **trouble_context(request, trouble, server),
    })
