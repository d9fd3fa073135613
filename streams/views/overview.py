"""The team's home: every server with its streams' counts and slots, and the archived streams Postmark purges next."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from dashboard.access import team_required
from dashboard.models import Role
from dashboard.services.servers import TOKEN_UNREADABLE
from streams.services import team_overview as overview_of
from streams.views import can_admin, can_edit, refresh_url, wants_refresh
from streams.views.rows import server_address, server_stream_rows


@team_required(role=Role.VIEWER)
@require_http_methods(["GET"])
def team_overview(request: HttpRequest) -> HttpResponse:
    # Fresh copies cost nothing and every stale server is asked at once; a server Postmark won't answer for
    # carries its trouble, with its last copy when there is one.
    overview = overview_of(team=request.team, refresh=wants_refresh(request))
    slug = request.team.slug
    # One reversal per page for each kind of link on the server cards, not one per card.
    detail_url, streams_url, token_url, sparklines_url = (
        server_address(slug, name) for name in ("server_detail", "stream_list", "server_token", "server_sparklines"))
    for summary in overview.servers:
        # The overview already tried the token: no second decryption just to say it can't be read.
        summary.token_unreadable = summary.trouble is not None and summary.trouble.kind == "token_unreadable"
        pk = summary.server.pk
        summary.detail_url, summary.streams_url, summary.token_url = detail_url(pk), streams_url(pk), token_url(pk)
        summary.sparklines_url = sparklines_url(pk)
    purging = server_stream_rows(((server.pk, stream) for server, stream in overview.purging), team_slug=slug,
                                 details=False)
    return render(request, "streams/overview.html", {
        "overview": overview,
        "purging": [(server, row) for (server, _stream), row in zip(overview.purging, purging, strict=True)],
        # Their archived streams are unknown, so the purging panel must not claim there are none.
        "unanswered": [summary.server for summary in overview.servers if summary.trouble],
        "member_count": request.team.memberships.count(),
        "token_unreadable": TOKEN_UNREADABLE,
        "can_admin": can_admin(request),
        "can_edit": can_edit(request),
        "refresh_url": refresh_url(request),
        # The oldest answer on the page: what "as of" means for the page as a whole.
        "as_of": min((summary.as_of for summary in overview.servers if summary.as_of), default=None),
        # Postmark failed for a server whose last copy is shown: the page's line must not read as current.
        "stale": any(summary.trouble and summary.as_of for summary in overview.servers),
    })
