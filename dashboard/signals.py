"""Django's and django-axes' sign-in signals, turned into audit events through the accounts service."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from dashboard.middleware import start_session_clock
from dashboard.services import accounts
from dashboard.two_factor import remember_step


@receiver(user_logged_in, dispatch_uid="audit_sign_in")
def on_sign_in(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        start_session_clock(request)
        remember_step(request, user)  # a new sign-in: does this person need a code, or a set-up, first?
    accounts.account_record_sign_in(actor=user)


@receiver(user_login_failed, dispatch_uid="audit_failed_sign_in")
def on_failed_sign_in(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in `credentials`; only the address is used.
    accounts.account_record_failed_sign_in(
        email=str(credentials.get("username") or credentials.get("email") or ""),
        while_locked_out=_refused_unchecked(request))


def _refused_unchecked(request) -> bool:
    # Axes marks a request it refused before the password was checked as locked out and does not count it; the
    # failure that reaches the limit is marked too, but counted (`axes_failures_since_start`), whichever runs first.
    return bool(getattr(request, "axes_locked_out", False)) and \
        getattr(request, "axes_failures_since_start", None) is None


@receiver(user_locked_out, dispatch_uid="audit_sign_in_locked")
def on_sign_in_locked(sender, request=None, username=None, **kwargs):
    # Axes also sends this for each attempt refused during the lockout; only the failure that reached the limit
    # (the one it counted, setting `axes_failures_since_start`) starts a lockout worth an entry of its own.
    if request is not None and getattr(request, "axes_failures_since_start", None) is not None:
        accounts.account_record_sign_in_locked(email=str(username or ""),
                                               by_address=getattr(request, "sign_in_limit_reached", "") == "address")


@receiver(user_logged_out, dispatch_uid="audit_sign_out")
def on_sign_out(sender, request, user, **kwargs):
    if user is not None:
        accounts.account_record_sign_out(actor=user)
