"""Middleware of the dashboard's own."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string


class HtmxMessagesMiddleware:
    """Delivers Django messages to htmx requests as toasts, so views just call `messages.success()`.

    A full page shows messages through base.html; an htmx swap does not render base.html, so the
    pending messages are appended to its answer as an out-of-band swap into the toast region.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not self._wants_toasts(request, response):
            return response
        pending = messages.get_messages(request)
        if len(pending):
            response.write(render_to_string("components/toasts.html", {"messages": pending, "oob": True}))
        return response

    @staticmethod
    def _wants_toasts(request: HttpRequest, response: HttpResponse) -> bool:
        if not getattr(request, "htmx", False) or getattr(response, "streaming", False):
            return False
        # A redirect (plain or htmx's own) keeps the messages for the page it leads to.
        if 300 <= response.status_code < 400 or "HX-Redirect" in response or "HX-Location" in response:
            return False
        return response.get("Content-Type", "").startswith("text/html")
