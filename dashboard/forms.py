"""Forms of the dashboard's core pages."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm


class SignInForm(AuthenticationForm):
    """Django's sign-in form, worded for people who sign in with an e-mail address."""

    username = forms.EmailField(
        label="E-mail address",
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
    error_messages = {
        "invalid_login": "That e-mail address and password do not match an account. "
        "Check both and try again; passwords are case-sensitive.",
        "inactive": "This account has been switched off. Ask your team's admin for help.",
    }
