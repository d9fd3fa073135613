"""The stream pages' views: thin, one URL per action. Shared here: finding the server, and Postmark trouble."""

from dataclasses import replace
from datetime import datetime

from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.template.loader import render_to_string

from dashboard.forms import record_refusal
from dashboard.models import Role, Server
from streams import last_known
from streams.services import PostmarkTrouble, stream_audit_target


def server_of(request: HttpRequest, server_id) -> Server:
    """The team's server from the URL; another team's server is as unknown as a made-up one (404). Its last-known
    copy comes in the same query, for the page's first read of its streams."""
    try:
        return last_known.read_with_its_copy(request.team.servers.filter(pk=server_id))
    except Server.DoesNotExist:
        raise Http404("No such server.") from None


def record_stream_refusal(request: HttpRequest, form: Form, *, action: str, server: Server, stream_id: str) -> None:
    """A stream's form refused an attempt: on record under `action`, naming the stream as its other entries do."""
    record_refusal(request, form, action=action, **stream_audit_target(server, stream_id))


def can_edit(request: HttpRequest) -> bool:
    return request.membership.role_enum.at_least(Role.EDITOR)


def can_admin(request: HttpRequest) -> bool:
    return request.membership.role_enum.at_least(Role.ADMIN)


def trouble_context(request: HttpRequest, trouble: PostmarkTrouble | None, server: Server | None = None, *,
                    as_of: datetime | None = None) -> dict:
    """What `components/postmark_trouble.html` and `components/as_of.html` need: the banner, who can fix it,
    and how old the streams shown are (`as_of`), with a link that asks Postmark now."""
    return {"trouble": trouble, "trouble_server": server, "can_admin": can_admin(request),
            "as_of": as_of, "stale": trouble is not None and as_of is not None,
            "stale_as_of": as_of if trouble is not None else None, "refresh_url": refresh_url(request)}


def refresh_url(request: HttpRequest) -> str:
    """This page's address with `refresh=1`, which asks Postmark instead of using the last-known copy."""
    query = request.GET.copy()
    query["refresh"] = "1"
    return f"{request.path}?{query.urlencode()}"


def wants_refresh(request: HttpRequest) -> bool:
    return request.GET.get("refresh") == "1"


AS_OF_TEMPLATE = "components/as_of.html"


class Draft:
    """A page drawn from the last-known copy while Postmark was asked for the same streams.

    When Postmark's answer holds what the copy held (the usual case), the page is already drawn: only its
    "as of" line (`components/as_of.html`) changes to the answer's time, which `redated` puts in. Any other
    answer, or trouble, and the page is drawn again from the answer.
    """

    def __init__(self):
        self.made_from, self.response, self.as_of_line = None, None, ""

    def keep(self, made_from, response: HttpResponse, as_of_context: dict) -> None:
        """`response` was drawn from `made_from` (a value with an `as_of`), its "as of" line from `as_of_context`."""
        self.made_from, self.response = made_from, response
        self.as_of_line = render_to_string(AS_OF_TEMPLATE, as_of_context)

    def redated(self, answer, as_of_context: dict) -> HttpResponse | None:
        """The drafted page for `answer`, when it differs from what the page was drawn from only in its time;
        None when it differs otherwise, or the line can't be found exactly once (the page is then drawn again)."""
        if self.response is None or replace(answer, as_of=self.made_from.as_of) != self.made_from:
            return None
        content = self.response.content.decode()
        if not self.as_of_line.strip() or content.count(self.as_of_line) != 1:
            return None
        self.response.content = content.replace(self.as_of_line, render_to_string(AS_OF_TEMPLATE, as_of_context))
        return self.response
