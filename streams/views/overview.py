"""The team's home: every server with its streams' counts and slots, and the archived streams Postmark purges next."""

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from dashboard.access import team_required
from dashboard.models import Role
from streams.services import team_overview as overview_of
from streams.views import can_admin, can_edit, refresh_url, wants_refresh
from streams.views.rows import purging_table_rows, server_stream_rows
from streams.views.server_cards import server_cards


@team_required(role=Role.VIEWER)
@require_http_methods(["GET"])
def team_overview(request: HttpRequest) -> HttpResponse:
    # Fresh copies cost nothing and every stale server is asked at once; a server Postmark won't answer for
    # carries its trouble, with its last copy when there is one.
    overview = overview_of(team=request.team, refresh=wants_refresh(request))
    slug = request.team.slug
    purging = server_stream_rows(((server.pk, stream) for server, stream in overview.purging), team_slug=slug,
                                 details=False)
    admin, editor = can_admin(request), can_edit(request)
    return render(request, "streams/overview.html", {
        "overview": overview,
        # Each server's card is written by streams.views.server_cards: no per-card template work.
        "server_cards": server_cards(request, overview.servers, can_admin=admin),
        # Each row of the purging table is written by streams.views.rows.purging_table_rows.
        "purging_rows": purging_table_rows(
            ((server, row) for (server, _stream), row in zip(overview.purging, purging, strict=True)),
            can_edit=editor, csrf_token=get_token(request) if editor and purging else "",
            next_path=request.get_full_path()),
        # Their archived streams are unknown, so the purging panel must not claim there are none.
        "unanswered": [summary.server for summary in overview.servers if summary.trouble],
        "member_count": request.team.memberships.count(),
        "can_admin": admin,
        "can_edit": editor,
        "refresh_url": refresh_url(request),
        # The oldest answer on the page: what "as of" means for the page as a whole.
        "as_of": min((summary.as_of for summary in overview.servers if summary.as_of), default=None),
        # Postmark failed for a server whose last copy is shown: the page's line must not read as current.
        "stale": any(summary.trouble and summary.as_of for summary in overview.servers),
    })
