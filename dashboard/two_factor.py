"""The two-factor gate: after the password, a session is not verified until a code passes.

A person with two-factor sign-in on is sent to the code page; an owner or admin of a team with servers who has
not set it up (while TWO_FACTOR_REQUIRED is on) is sent to set it up. Both pages, and signing out, stay open.
Which of the two applies is kept in the session and asked of the database again after
SESSION_ACTIVITY_RESOLUTION, so a signed-in page costs no extra query most of the time. It never writes a
device or an audit entry: the two-factor service does.
"""

from datetime import datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django_htmx.http import HttpResponseClientRedirect

from dashboard.services.two_factor import two_factor_is_on, two_factor_required

STEP = "two_factor_step"
STEP_CHECKED_AT = "two_factor_step_checked_at"
CODE, SET_UP = "code", "set-up"
# The pages each step leaves open; everything else waits for it.
_OPEN = {CODE: {"two_factor_code", "logout"}, SET_UP: {"two_factor", "two_factor_confirm", "logout"}}


def remember_step(request: HttpRequest, user) -> str:
    """Asks the database what `user` must do first and keeps the answer in the session: called at sign-in, when
    the person changes their set-up, and when the kept answer is older than SESSION_ACTIVITY_RESOLUTION."""
    step = CODE if two_factor_is_on(user=user) else SET_UP if two_factor_required(user=user) else ""
    request.session[STEP] = step
    request.session[STEP_CHECKED_AT] = timezone.now().isoformat()
    return step


def pending_step(request: HttpRequest) -> str:
    """What the signed-in person must do before anything else: CODE, SET_UP or nothing ("")."""
    if request.user.is_verified():
        return ""
    try:
        checked_at = datetime.fromisoformat(request.session[STEP_CHECKED_AT])
    except (KeyError, TypeError, ValueError):
        checked_at = None
    if checked_at is not None and timezone.now() - checked_at <= settings.SESSION_ACTIVITY_RESOLUTION:
        return request.session.get(STEP, "")
    return remember_step(request, request.user)


class TwoFactorMiddleware:
    """Sends an unverified session to its code page, or to set-up when two-factor sign-in is required of it.
    Must come after OTPMiddleware (which says whether the session is verified) and HtmxMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        if not request.user.is_authenticated:
            return None
        step = pending_step(request)
        if not step or request.resolver_match.url_name in _OPEN[step]:
            return None
        target = reverse("two_factor_code" if step == CODE else "two_factor")
        if step == CODE and request.method == "GET":
            target += "?" + urlencode({"next": request.get_full_path()})
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(target)
        return redirect(target)
