"""The team's audit log: the page with its filters (state in the URL) and its exports as CSV and JSON Lines.

Admins and owners only. The page reads through `dashboard.audit_log`; an export is recorded by
`audit_export_record` before the first row is sent, then streamed in chunks, never held in memory.
"""

import csv
import json
from collections.abc import Iterator

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods
from django_htmx.http import push_url

from dashboard.access import team_required
from dashboard.audit_log import EXPORT_FIELDS, GROUPS, OUTCOMES, audit_choices, audit_page, export_rows, parse_filters
from dashboard.models import Role
from dashboard.services import ServiceError
from dashboard.services.audit import audit_export_record
from dashboard.views.audit_rows import entries_html, entry_rows

CSV_HEADINGS = ["entry id", "time (UTC)", "team", "person", "role", "action", "sentence", "target type", "target id",
                "target", "outcome", "detail", "changes", "ip", "user agent", "request id",
                "proxy's request id"]
# A cell starting with one of these is a formula to a spreadsheet; a leading ' makes it text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _filters(request: HttpRequest):
    choices = audit_choices(team=request.team)
    return choices, parse_filters(request.GET, team=request.team, choices=choices,
                                  zone=timezone.get_current_timezone())


@team_required(role=Role.ADMIN)
@require_http_methods(["GET"])
def audit_log(request: HttpRequest) -> HttpResponse:
    choices, filters = _filters(request)
    page = audit_page(team=request.team, filters=filters, after=request.GET.get("after"), choices=choices)
    rows = entry_rows(page.entries, path=request.path)
    context = {
        "choices": choices,
        "filters": filters,
        "page": page,
        "rows": rows,
        "entries_html": entries_html(rows),
        "groups": [(key, label) for key, (label, _) in GROUPS.items()],
        "outcomes": [(key, text) for key, (text, _) in OUTCOMES.items()],
        "filter_query": filters.query_string(),
        "older_query": filters.query_string(after=page.older) if page.older else "",
        "retention_days": getattr(settings, "AUDIT_RETENTION_DAYS", None),
    }
    # htmx asks for the whole page when it restores a history entry it no longer holds.
    partial = request.htmx and not request.htmx.history_restore_request
    response = render(request, "dashboard/audit_log.html#audit-results" if partial else "dashboard/audit_log.html",
                      context)
    if partial:  # the address bar gets the short form of the filters, without the form's empty fields
        push_url(response, request.path + filters.query_string(after=page.after))
    patch_vary_headers(response, ["HX-Request"])
    return response


class _Line:
    """A file-like object csv.writer writes one row into, handing the row back."""

    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True) if isinstance(value, dict) else str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def _csv(rows: Iterator[dict]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield "\ufeff" + writer.writerow(CSV_HEADINGS)  # the mark tells spreadsheets the file is UTF-8
    for row in rows:
        yield writer.writerow([_cell(row[name]) for name in EXPORT_FIELDS])


def _jsonl(rows: Iterator[dict]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"


def _export(request: HttpRequest, fmt: str) -> HttpResponse:
    choices, filters = _filters(request)
    try:
        audit_export_record(actor=request.user, team=request.team, fmt=fmt, filters=filters)
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect("audit_log", team_slug=request.team.slug)
    rows = export_rows(team=request.team, filters=filters, choices=choices)
    body, content_type = (_csv(rows), "text/csv; charset=utf-8") if fmt == "csv" else (
        _jsonl(rows), "application/jsonl; charset=utf-8")
    response = StreamingHttpResponse(body, content_type=content_type)
    filename = f"{request.team.slug}-audit-{timezone.localdate():%Y-%m-%d}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store, private"  # as every signed-in answer, said here for the file itself
    return response


@team_required(role=Role.ADMIN)
@require_http_methods(["GET"])
def audit_export_csv(request: HttpRequest) -> HttpResponse:
    return _export(request, "csv")


@team_required(role=Role.ADMIN)
@require_http_methods(["GET"])
def audit_export_jsonl(request: HttpRequest) -> HttpResponse:
    return _export(request, "jsonl")
