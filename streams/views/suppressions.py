"""A stream's suppressions: the list (viewers and up), its CSV download, adding and removing (editors and up).

The filters live in the URL; the address search never does: it is sent by POST and kept in the session for
this stream, so an address is not in an address bar, a shared link or a server's access log.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods
from django_htmx.http import push_url

from dashboard.access import team_required
from dashboard.forms import apply_service_error
from dashboard.models import Role, Server
from dashboard.services import ServiceError
from streams.forms_suppressions import (
    AddressesForm,
    SelectedAddressesForm,
    SuppressionFilterForm,
    SuppressionSearchForm,
)
from streams.services import PostmarkTrouble, StreamGone
from streams.services_suppressions import (
    REASON_LABELS,
    REMOVING_MEANS,
    ChangeReport,
    parse_addresses,
    suppression_add,
    suppression_export,
    suppression_list,
    suppression_removal_check,
    suppression_remove,
)
from streams.views import can_edit, record_stream_refusal, server_of, trouble_context

FILTER_KEYS = ("reason", "origin", "since", "until")


def _search_key(server: Server, stream_id: str) -> str:
    return f"suppression_search:{server.pk}/{stream_id}"


def _list_url(request: HttpRequest, server: Server, stream_id: str) -> str:
    return reverse("suppression_list", args=[request.team.slug, server.pk, stream_id])


def _query(query: QueryDict, **changes: object) -> str:
    """The filters of this view (never the search), with some changed; empty and default values left out."""
    kept = QueryDict(mutable=True)
    for key in (*FILTER_KEYS, "page"):
        value = changes[key] if key in changes else query.get(key, "")
        if value not in ("", None, "all") and not (key == "page" and str(value) == "1"):
            kept[key] = str(value)
    return f"?{kept.urlencode()}" if kept else ""


def _with_vary(response: HttpResponse) -> HttpResponse:
    patch_vary_headers(response, ("HX-Request",))
    return response


def _list_response(request: HttpRequest, server: Server, stream_id: str, query: QueryDict) -> HttpResponse:
    form = SuppressionFilterForm(query)
    form.is_valid()
    search = request.session.get(_search_key(server, stream_id), "")
    filters = form.filters(search)
    listing, trouble = None, None
    try:
        listing = suppression_list(server=server, stream_id=stream_id, filters=filters,
                                   page=form.cleaned_data.get("page") or 1)
    except StreamGone as gone:
        messages.error(request, gone.message)
        return redirect("stream_list", team_slug=request.team.slug, server_id=server.pk)
    except PostmarkTrouble as error:
        trouble = error
    counts = listing.counts if listing else {}
    page = listing.page if listing else 1
    context = {
        "server": server, "stream_id": stream_id, "listing": listing, "form": form, "filters": filters,
        "search_form": SuppressionSearchForm(initial={"search": search}), "search": search,
        "reason_tabs": [(key, label, sum(counts.values()) if key == "all" else counts.get(key, 0))
                        for key, label in (("all", "All"), *REASON_LABELS.items())],
        "can_edit": can_edit(request), "filter_query": _query(query, page=""),
        "previous_query": _query(query, page=page - 1) if listing and page > 1 else None,
        "next_query": _query(query, page=page + 1) if listing and page < listing.pages else None,
        "export_url": reverse("suppression_export", args=[request.team.slug, server.pk, stream_id])
                      + _query(query, page=""),
        **trouble_context(request, trouble, server),
    }
    partial = request.htmx and not request.htmx.history_restore_request
    template = "streams/suppressions.html#suppression-table" if partial else "streams/suppressions.html"
    response = render(request, template, context)
    if partial and request.method == "GET":
        push_url(response, request.path + _query(query))
    return _with_vary(response)


@team_required(role=Role.VIEWER)
@require_http_methods(["GET"])
def suppression_list_view(request: HttpRequest, server_id, stream_id: str) -> HttpResponse:
    return _list_response(request, server_of(request, server_id), stream_id, request.GET)


@team_required(role=Role.VIEWER)
@require_http_methods(["POST"])
def suppression_search_view(request: HttpRequest, server_id, stream_id: str) -> HttpResponse:
    """Keep the search for this stream in the session, then show the list (the filters come along in `filters`)."""
    server = server_of(request, server_id)
    form = SuppressionSearchForm(request.POST)
    search = " ".join(form.cleaned_data["search"].split()) if form.is_valid() else ""
    key = _search_key(server, stream_id)
    if search:
        request.session[key] = search
    else:
        request.session.pop(key, None)
    filters = QueryDict(request.POST.get("filters", "").lstrip("?"), mutable=True)
    for key in FILTER_KEYS:  # htmx sends the filter form's fields along: they may have changed since the page came
        if key in request.POST:
            filters[key] = request.POST[key]
    if request.htmx:
        return _list_response(request, server, stream_id, filters)
    return redirect(_list_url(request, server, stream_id) + _query(filters, page=""))


class _Echo:
    def write(self, value: str) -> str:
        return value


@team_required(role=Role.VIEWER)
@require_http_methods(["GET"])
def suppression_export_view(request: HttpRequest, server_id, stream_id: str) -> HttpResponse:
    """The filtered list as CSV, written row by row as it is sent; the download is in the audit log."""
    server = server_of(request, server_id)
    form = SuppressionFilterForm(request.GET)
    form.is_valid()
    filters = form.filters(request.session.get(_search_key(server, stream_id), ""))
    try:
        rows = suppression_export(actor=request.user, team=request.team, server=server, stream_id=stream_id,
                                  filters=filters)
    except (StreamGone, PostmarkTrouble) as trouble:
        messages.error(request, f"Nothing was downloaded. {trouble.message}")
        return redirect(_list_url(request, server, stream_id) + _query(request.GET, page=""))
    writer = csv.writer(_Echo())
    lines: Iterator[str] = (writer.writerow(row) for row in rows)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    name = f"suppressions-{slugify(server.name)}-{stream_id}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- Adding --------------------------------------------------------------------------------------


def _add_page(request: HttpRequest, server: Server, stream_id: str, form: AddressesForm, *,
              report: ChangeReport | None = None) -> HttpResponse:
    template = "streams/suppression_add.html#add-region" if request.htmx else "streams/suppression_add.html"
    return _with_vary(render(request, template, {
        "server": server, "stream_id": stream_id, "form": form, "report": report,
        "list_url": _list_url(request, server, stream_id),
        **trouble_context(request, report.trouble if report else None, server),
    }))


@team_required(role=Role.EDITOR, denied_action="suppression.add")
@require_http_methods(["GET", "POST"])
def suppression_add_view(request: HttpRequest, server_id, stream_id: str) -> HttpResponse:
    server = server_of(request, server_id)
    if request.method != "POST":
        return _add_page(request, server, stream_id, AddressesForm())
    form = AddressesForm(request.POST)
    if not form.is_valid():
        record_stream_refusal(request, form, action="suppression.add", server=server, stream_id=stream_id)
        return _add_page(request, server, stream_id, form)
    try:
        report = suppression_add(actor=request.user, team=request.team, server=server, stream_id=stream_id,
                                 emails=form.cleaned_data["addresses"])
    except ServiceError as error:
        apply_service_error(form, error)
        return _add_page(request, server, stream_id, form)
    return _add_page(request, server, stream_id, AddressesForm(), report=report)


@team_required(role=Role.EDITOR)
@require_http_methods(["GET", "POST"])
def suppression_add_check(request: HttpRequest, server_id, stream_id: str) -> HttpResponse:
    """As the person types: how many addresses are ready, folded duplicates, and each bad one. Changes nothing."""
    server = server_of(request, server_id)
    if not request.htmx or request.method != "POST":
        return redirect("suppression_add", team_slug=request.team.slug, server_id=server.pk, stream_id=stream_id)
    parsed = parse_addresses(request.POST.get("addresses", "")[:300_000])
    return _with_vary(render(request, "streams/suppression_add.html#add-check", {"parsed": parsed}))


# --- Removing ------------------------------------------------------------------------------------


@team_required(role=Role.EDITOR, denied_action="suppression.remove")
@require_http_methods(["POST"])
def suppression_remove_view(request: HttpRequest, server_id, stream_id: str) -> HttpResponse:
    """Before removing: what it means, and which of the ticked addresses cannot be removed, and why."""
    server = server_of(request, server_id)
    form = SelectedAddressesForm(request.POST)
    if not form.is_valid():
        for error in form.non_field_errors():
            messages.error(request, error)
        return redirect(_list_url(request, server, stream_id))
    checks, trouble = [], None
    try:
        checks = suppression_removal_check(server=server, stream_id=stream_id, emails=form.emails)
    except StreamGone as gone:
        messages.error(request, gone.message)
        return redirect("stream_list", team_slug=request.team.slug, server_id=server.pk)
    except PostmarkTrouble as error:
        trouble = error
    return render(request, "streams/suppression_remove.html", {
        "server": server, "stream_id": stream_id, "checks": checks, "removing_means": REMOVING_MEANS,
        "removable": [check for check in checks if not check.why_not],
        "kept": [check for check in checks if check.why_not], "list_url": _list_url(request, server, stream_id),
        **trouble_context(request, trouble, server),
    })


@team_required(role=Role.EDITOR, denied_action="suppression.remove")
@require_http_methods(["POST"])
def suppression_remove_confirm(request: HttpRequest, server_id, stream_id: str) -> HttpResponse:
    server = server_of(request, server_id)
    form = SelectedAddressesForm(request.POST)
    list_url = _list_url(request, server, stream_id)
    if not form.is_valid():
        record_stream_refusal(request, form, action="suppression.remove", server=server, stream_id=stream_id)
        for error in form.non_field_errors():
            messages.error(request, error)
        return redirect(list_url)
    try:
        report = suppression_remove(actor=request.user, team=request.team, server=server, stream_id=stream_id,
                                    emails=form.emails)
    except (StreamGone, PostmarkTrouble, ServiceError) as error:
        messages.error(request, f"Nothing was removed. {error.message}")
        return redirect(list_url)
    return render(request, "streams/suppression_remove.html", {
        "server": server, "stream_id": stream_id, "report": report, "list_url": list_url,
        **trouble_context(request, report.trouble, server),
    })

