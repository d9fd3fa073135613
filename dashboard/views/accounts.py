"""A person's own account: sign-in refused after too many failures (django-axes calls `sign_in_locked_out`),
password change and reset (Django's views, with the change written to the audit log, reset requests limited
per address), and the time zone the dashboard shows times in."""

import zoneinfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_http_methods

from dashboard.access import not_team_scoped
from dashboard.forms import SignInForm, TimeZoneForm, apply_service_error, record_refusal, record_request_refusal
from dashboard.middleware import client_ip
from dashboard.services import ServiceError
from dashboard.services.accounts import (
    account_count_broken_link,
    account_links_refused,
    account_password_reset_request_allowed,
    account_record_password_change,
    account_set_time_zone,
)
from dashboard.templatetags.dashboard import zone_label
from dashboard.time_zones import DEFAULT_ZONE, browser_zone


def lockout_message() -> str:
    # The same words whether or not the account exists, so a lockout tells a guesser nothing.
    return (f"Too many sign-in attempts. Try again in {settings.SIGN_IN_COOLOFF_MINUTES} minutes, "
            "or reset your password.")


def links_refused_message() -> str:
    # Said for every link while it lasts, good or not, so it tells a guesser nothing about the one they tried.
    return (f"Too many invitation or password reset links that don't work were opened from your network. "
            f"Try again in {settings.SIGN_IN_COOLOFF_MINUTES} minutes.")


def sign_in_address(request: HttpRequest, credentials: dict | None) -> str:
    """The address a sign-in is for, as django-axes counts it: "DANA@…" and "dana@…" are one account."""
    typed = (credentials or {}).get("username") or request.POST.get("username") or ""
    return str(typed).strip().lower()


def sign_in_locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """What django-axes answers a locked-out sign-in with (ours or the admin's): the sign-in page, saying why."""
    form = SignInForm(request, initial={"username": sign_in_address(request, credentials)})
    return render(request, "registration/login.html", {
        "form": form, "lockout": lockout_message(), "next": request.POST.get("next", ""),
    }, status=429)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset form, refused for a while after too many requests from one address."""

    def form_valid(self, form):
        if not account_password_reset_request_allowed(address=client_ip(self.request)):
            form.add_error(None, f"Too many reset requests from your network. Try again in "
                                 f"{settings.SIGN_IN_COOLOFF_MINUTES} minutes.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().form_valid(form)


class PasswordChangeView(auth_views.PasswordChangeView):
    def form_valid(self, form):
        response = super().form_valid(form)
        account_record_password_change(actor=form.user, by_reset_link=False)
        return response

    def form_invalid(self, form):
        record_refusal(self.request, form, action="auth.password.change", target_type="user",
                       target_id=self.request.user.pk, target_label=self.request.user.email)
        return super().form_invalid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    @method_decorator(login_not_required)  # as Django's own dispatch, which this one wraps, is marked
    def dispatch(self, *args, **kwargs):
        address = client_ip(self.request)
        if account_links_refused(address=address):
            return render(self.request, self.template_name, {"links_refused": links_refused_message()}, status=429)
        response = super().dispatch(*args, **kwargs)
        if not self.validlink:
            account_count_broken_link(address=address, action="auth.password.reset")
        # The "link not valid" page answered a POST (a valid link redirects first): never the link on record.
        if self.request.method == "POST" and not self.validlink and response.status_code == 200:
            record_request_refusal(self.request, action="auth.password.reset", target_type="user",
                                   target_id=self.user.pk if self.user else "",
                                   actor_label=self.user.email if self.user else "",
                                   target_label=self.user.email if self.user else "",
                                   detail="The reset link is not valid: used already, expired, or made up.")
        return response

    def form_valid(self, form):
        response = super().form_valid(form)
        account_record_password_change(actor=form.user, by_reset_link=True)
        return response

    def form_invalid(self, form):
        record_refusal(self.request, form, action="auth.password.reset", actor_label=form.user.email,
                       target_type="user", target_id=form.user.pk, target_label=form.user.email)
        return super().form_invalid(form)


password_change = not_team_scoped(PasswordChangeView.as_view())
password_reset_confirm = not_team_scoped(PasswordResetConfirmView.as_view())
password_reset = not_team_scoped(PasswordResetView.as_view())


def _zone_words(name: str) -> str:
    label = zone_label(timezone.localtime(timezone=zoneinfo.ZoneInfo(name)))
    return name if label == name else f"{name} ({label})"


@not_team_scoped
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    reported = browser_zone(request)
    form = TimeZoneForm(request.POST or None, initial={"time_zone": request.user.time_zone}, browser_zone=reported)
    if request.method == "POST" and form.is_valid():
        try:
            user = account_set_time_zone(actor=request.user, time_zone=form.cleaned_data["time_zone"])
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            if user.time_zone:
                messages.success(request, f"Saved. Times are now shown in {_zone_words(user.time_zone)}.")
            elif reported:
                messages.success(request, "Saved. Times now follow your browser's time zone, "
                                          f"{_zone_words(reported)}.")
            else:
                messages.success(request, "Saved. Times will follow your browser's time zone once it tells us; "
                                          f"until then they are shown in {DEFAULT_ZONE}.")
            return redirect("preferences")
    elif request.method == "POST":
        record_refusal(request, form, action="account.time_zone", target_type="user", target_id=request.user.pk,
                       target_label=request.user.email)
    return render(request, "dashboard/preferences.html", {
        "form": form,
        "browser_zone": reported,
        "shown_zone": _zone_words(request.time_zone),
        "shown_source": request.time_zone_source,
    })
