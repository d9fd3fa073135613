"""What a page of the dashboard is called in words, for the audit log: "tried to open New stream on Acme
Production" rather than its address. Reads the URLConf and the team's servers; never writes anything."""

import re

from django.urls import Resolver404, resolve

from dashboard.models import Server, Team

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

# By URL name; {server} and {stream} come from the address. A page missing here is named by its address.
PAGE_NAMES = {
    "team_home": "the team's servers",
    "team_leave": "the page to leave the team",
    "team_delete": "the page to delete the team",
    "member_list": "the members page",
    "member_invite": "the page to invite a member",
    "member_role": "the page to change a member's role",
    "member_remove": "the page to remove a member",
    "invitation_revoke": "the page to revoke an invitation",
    "server_connect": "the page to connect a server",
    "server_detail": "the page of {server}",
    "server_rename": "the page to rename {server}",
    "server_token": "the page to replace the token of {server}",
    "server_stream_limit": "the page to change the stream limit of {server}",
    "server_remove": "the page to remove {server}",
    "audit_log": "the audit log",
    "audit_export_csv": "the audit log's export",
    "audit_export_jsonl": "the audit log's export",
    "stream_list": "Streams of {server}",
    "stream_create": "New stream on {server}",
    "stream_create_check": "New stream on {server}",
    "stream_detail": "stream {stream} on {server}",
    "stream_edit": "the page to edit stream {stream} on {server}",
    "stream_archive": "the page to archive stream {stream} on {server}",
    "stream_restore": "the page to restore stream {stream} on {server}",
}


def masked_path(path: str) -> str:
    """The address with each server's id left out: it means nothing to a reader."""
    return _UUID.sub("…", path)[:200]


def page_name(path: str, *, team: Team) -> str:
    """`New stream on Acme Production` for that page's address; the masked address for a page without a name."""
    try:
        match = resolve(path)
    except Resolver404:
        return masked_path(path)
    words = PAGE_NAMES.get(match.url_name or "")
    if words is None:
        return masked_path(path)
    server = ""
    if "{server}" in words:
        found = Server.objects.filter(team=team, pk=match.kwargs.get("server_id")).values_list("name", flat=True)
        server = found.first() or "a server no longer in the team"
    return words.format(server=server, stream=match.kwargs.get("stream_id", ""))[:200]
