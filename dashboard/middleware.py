"""Middleware of the dashboard's own."""

import ipaddress
import zoneinfo
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone

from dashboard import audit
from dashboard.postmark.client import deadline
from dashboard.time_zones import zone_for


class SecurityHeadersMiddleware:
    """Outermost but for `AfterResponseMiddleware`: sees every answer, including the 400 SecurityMiddleware gives
    for a foreign Host while redirecting to HTTPS, which then skips its own headers. Adds them where they are
    missing."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.SECURE_CONTENT_TYPE_NOSNIFF:
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if settings.SECURE_REFERRER_POLICY:
            response.headers.setdefault("Referrer-Policy", settings.SECURE_REFERRER_POLICY)
        if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
            response.headers.setdefault("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY)
        return response


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


def client_ip(request: HttpRequest) -> str | None:
    """The visitor's address: REMOTE_ADDR, or the entry the nearest trusted proxy added."""
    address = request.META.get("REMOTE_ADDR", "")
    if settings.NUM_PROXIES > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= settings.NUM_PROXIES:
            address = forwarded[-settings.NUM_PROXIES]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


class AuditContextMiddleware:
    """Gives every request our own id (sent back as X-Request-ID) and tells the audit log where events come from.

    A client can send any X-Request-ID, so it never becomes the id: a sane one is kept beside ours, for finding
    the request in the proxy's logs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = audit.new_request_id()
        with audit.context(
            ip=client_ip(request), user_agent=request.headers.get("User-Agent", ""), request_id=request_id,
            forwarded_request_id=audit.forwarded_request_id(request.headers.get("X-Request-ID")),
        ):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class PrivatePagesMiddleware:
    """Marks every answer to a signed-in person `Cache-Control: no-store, private`.

    Their pages hold member lists, e-mails and audit entries: no shared proxy may keep them, and the
    browser's back button must ask again after signing out. An answer that set its own Cache-Control keeps it.
    Must come after AuthenticationMiddleware, which gives it the person.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if "Cache-Control" not in response and user is not None and user.is_authenticated:
            response["Cache-Control"] = "no-store, private"
        return response


class PostmarkDeadlineMiddleware:
    """A request waits for Postmark at most POSTMARK_READ_TIMEOUT in all, however many calls it makes (the create
    form checks the ID, then creates): see `dashboard.postmark.client.deadline`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with deadline(float(settings.POSTMARK_READ_TIMEOUT)):
            return self.get_response(request)


class TimeZoneMiddleware:
    """Shows the request's times in the person's zone: their choice, else their browser's, else UTC.

    Sets `request.time_zone` (the zone's name) and `request.time_zone_source` ("chosen", "browser" or
    "default"). Must come after AuthenticationMiddleware, which gives it the person.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.time_zone, request.time_zone_source = zone_for(request)
        timezone.activate(zoneinfo.ZoneInfo(request.time_zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


SIGNED_IN_AT = "signed_in_at"
SEEN_AT = "seen_at"


def start_session_clock(request: HttpRequest) -> None:
    """Notes when a session began and was last used; called at sign-in."""
    now = timezone.now().isoformat()
    request.session[SIGNED_IN_AT] = now
    request.session[SEEN_AT] = now


def _stamp(request: HttpRequest, name: str) -> datetime | None:
    try:
        return datetime.fromisoformat(request.session[name])
    except (KeyError, TypeError, ValueError):
        return None


def _hours(value: float) -> str:
    return f"{value:g} hour" if value == 1 else f"{value:g} hours"


def _days(value: float) -> str:
    return f"{value:g} day" if value == 1 else f"{value:g} days"


class SessionLimitsMiddleware:
    """Signs a person out after SESSION_IDLE_HOURS without a request or SESSION_MAX_DAYS after signing in, and
    says which on the sign-in page. Must come after AuthenticationMiddleware and MessageMiddleware.

    The last-seen time is written only when it is older than SESSION_ACTIVITY_RESOLUTION, so an active person
    costs a session write every few minutes rather than on every request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            self._check(request)
        return self.get_response(request)

    @staticmethod
    def _check(request: HttpRequest) -> None:
        now = timezone.now()
        signed_in_at, seen_at = _stamp(request, SIGNED_IN_AT), _stamp(request, SEEN_AT)
        if signed_in_at is None or seen_at is None:  # a session from before the clock existed starts it now
            start_session_clock(request)
            return
        if now - signed_in_at > timedelta(days=settings.SESSION_MAX_DAYS):
            why = f"You were signed out {_days(settings.SESSION_MAX_DAYS)} after signing in; sign in again."
        elif now - seen_at > timedelta(hours=settings.SESSION_IDLE_HOURS):
            why = f"You were signed out after {_hours(settings.SESSION_IDLE_HOURS)} without activity; sign in again."
        else:
            if now - seen_at > settings.SESSION_ACTIVITY_RESOLUTION:
                request.session[SEEN_AT] = now.isoformat()
            return
        logout(request)
        messages.info(request, why)
