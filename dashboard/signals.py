"""Django's sign-in signals, turned into audit events through the accounts service."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from dashboard.services import accounts


@receiver(user_logged_in, dispatch_uid="audit_sign_in")
def on_sign_in(sender, request, user, **kwargs):
    accounts.account_record_sign_in(actor=user)


@receiver(user_login_failed, dispatch_uid="audit_failed_sign_in")
def on_failed_sign_in(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in `credentials`; only the address is used.
    accounts.account_record_failed_sign_in(email=str(credentials.get("username") or credentials.get("email") or ""))


@receiver(user_logged_out, dispatch_uid="audit_sign_out")
def on_sign_out(sender, request, user, **kwargs):
    if user is not None:
        accounts.account_record_sign_out(actor=user)
