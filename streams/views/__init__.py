"""The stream pages' views: thin, one URL per action. Shared here: finding the server, and Postmark trouble."""

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from dashboard.models import Role, Server
from streams.services import PostmarkTrouble


def server_of(request: HttpRequest, server_id) -> Server:
    """The team's server from the URL; another team's server is as unknown as a made-up one (404)."""
    return get_object_or_404(request.team.servers, pk=server_id)


def can_edit(request: HttpRequest) -> bool:
    return request.membership.role_enum.at_least(Role.EDITOR)


def can_admin(request: HttpRequest) -> bool:
    return request.membership.role_enum.at_least(Role.ADMIN)


def trouble_context(request: HttpRequest, trouble: PostmarkTrouble | None, server: Server | None = None) -> dict:
    """What `components/postmark_trouble.html` needs to show a banner and who can fix it."""
    return {"trouble": trouble, "trouble_server": server, "can_admin": can_admin(request)}
