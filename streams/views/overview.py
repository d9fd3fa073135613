"""The team's home: every server with its streams' counts and slots, and the archived streams Postmark purges next."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from dashboard.access import team_required
from dashboard.models import Role
from dashboard.services.servers import TOKEN_UNREADABLE
from streams.services import team_overview as overview_of
from streams.views import can_admin, can_edit


@team_required(role=Role.VIEWER)
@require_http_methods(["GET"])
def team_overview(request: HttpRequest) -> HttpResponse:
    # One Postmark call per server, side by side; a server Postmark won't answer for carries its trouble.
    overview = overview_of(team=request.team)
    for summary in overview.servers:
        # The overview already tried the token: no second decryption just to say it can't be read.
        summary.token_unreadable = summary.trouble is not None and summary.trouble.kind == "token_unreadable"
    return render(request, "streams/overview.html", {
        "overview": overview,
        # Their archived streams are unknown, so the purging panel must not claim there are none.
        "unanswered": [summary.server for summary in overview.servers if summary.trouble],
        "member_count": request.team.memberships.count(),
        "token_unreadable": TOKEN_UNREADABLE,
        "can_admin": can_admin(request),
        "can_edit": can_edit(request),
    })
