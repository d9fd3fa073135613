"""A server's streams: one table, filtered, searched and sorted from the query string alone.

Everything the person chose lives in the URL (`?type=broadcasts&archived=1&q=news&sort=created`), so the
back button, a reload and a shared link show the same view; htmx swaps only the table region.
"""

from django.http import HttpRequest, HttpResponse, QueryDict
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods
from django_htmx.http import push_url

from dashboard.access import team_required
from dashboard.models import Role
from streams.services import SORTS, TYPE_FILTERS, PostmarkTrouble, ServerStreams, stream_list
from streams.views import Draft, can_edit, server_of, trouble_context, wants_refresh
from streams.views.rows import list_table_rows, stream_rows

TYPE_LABELS = {"all": "All", "transactional": "Transactional", "broadcasts": "Broadcasts", "inbound": "Inbound"}
SORT_LABELS = {"name": "Name", "type": "Type", "created": "Created"}


def _wanted(query: QueryDict) -> dict:
    """The view asked for; anything unknown falls back to the default instead of an error."""
    stream_type = query.get("type", "all")
    sort = query.get("sort", "name")
    return {
        "stream_type": stream_type if stream_type in TYPE_FILTERS else "all",
        "include_archived": query.get("archived") == "1",
        "search": " ".join(query.get("q", "").split())[:100],
        "sort": sort if sort in SORTS else "name",
    }


def _query(wanted: dict, **changes) -> str:
    """The query string of this view with some choices changed; defaults are left out to keep links short."""
    chosen = {**wanted, **changes}
    query = QueryDict(mutable=True)
    if chosen["stream_type"] != "all":
        query["type"] = chosen["stream_type"]
    if chosen["include_archived"]:
        query["archived"] = "1"
    if chosen["search"]:
        query["q"] = chosen["search"]
    if chosen["sort"] != "name":
        query["sort"] = chosen["sort"]
    return f"?{query.urlencode()}" if query else ""


@team_required(role=Role.VIEWER)
@require_http_methods(["GET"])
def stream_list_view(request: HttpRequest, server_id) -> HttpResponse:
    server = server_of(request, server_id)
    wanted = _wanted(request.GET)
    draft = Draft()  # drawn from the last copy while Postmark is asked: kept when Postmark answers the same

    def draw(early: ServerStreams) -> None:
        page, as_of_context = _page(request, server, wanted, early, None)
        draft.keep(early, page, as_of_context)

    listing, trouble = None, None
    try:
        listing = stream_list(server=server, **wanted, refresh=wants_refresh(request), meanwhile=draw)
        trouble = listing.trouble  # Postmark failed just now: the rows are its last answer
    except PostmarkTrouble as error:
        trouble = error
    if trouble is None and (page := draft.redated(listing, _as_of_context(request, server, listing, None))):
        return page
    return _page(request, server, wanted, listing, trouble)[0]


def _as_of_context(request: HttpRequest, server, listing: ServerStreams | None, trouble) -> dict:
    return {"server": server, **trouble_context(request, trouble, server, as_of=listing.as_of if listing else None)}


def _page(request: HttpRequest, server, wanted: dict, listing: ServerStreams | None,
          trouble: PostmarkTrouble | None) -> tuple[HttpResponse, dict]:
    """The page (or, for htmx, its table) and what its "as of" line was drawn from."""
    counts = listing.counts if listing else {}
    editor = can_edit(request)
    rows = stream_rows(listing.streams, team_slug=request.team.slug, server_pk=server.pk) if listing else []
    restorable = editor and any(row.is_archived for row in rows)
    as_of_context = _as_of_context(request, server, listing, trouble)
    context = {
        "listing": listing,
        "rows_html": list_table_rows(rows, can_edit=editor, csrf_token=get_token(request) if restorable else "",
                                     next_path=request.get_full_path()),
        "wanted": wanted,
        "can_edit": editor,
        "type_tabs": [
            (key, label, (sum(counts.values()) if key == "all" else counts.get(key, 0)) if listing else None)
            for key, label in TYPE_LABELS.items()
        ],
        "type_label": TYPE_LABELS[wanted["stream_type"]],
        "sort_links": {key: _query(wanted, sort=key) for key in SORT_LABELS},
        "clear_search": _query(wanted, search=""),
        "show_archived": _query(wanted, include_archived=True),
        **as_of_context,
    }
    # htmx asks for the whole page when it restores a history entry it no longer holds.
    partial = request.htmx and not request.htmx.history_restore_request
    template = "streams/list.html#stream-table" if partial else "streams/list.html"
    response = render(request, template, context)
    if partial:  # the address bar gets the short form of the view, without the form's empty or default fields
        push_url(response, request.path + _query(wanted))
    patch_vary_headers(response, ["HX-Request"])
    return response, as_of_context
