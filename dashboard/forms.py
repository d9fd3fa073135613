"""Forms of the dashboard's core pages."""

import re

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from dashboard.models import Role
from dashboard.services import ServiceError
from dashboard.services.refusals import form_refusal_record, refusal_record
from dashboard.services.servers import NAME_LOOKS_LIKE_TOKEN, name_looks_like_token
from dashboard.time_zones import zone_select_choices


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


class TeamForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=80, help_text="For example, your company or department.")


def _role_choices(highest: Role) -> list[tuple[str, str]]:
    return [(role.value, f"{role.label} — {role.description}") for role in Role.up_to(highest)]


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail address", max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(label="Role", choices=())

    def __init__(self, *args, highest_role: Role, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(highest_role)
        self.fields["role"].initial = Role.VIEWER.value
        self.fields["role"].help_text = f"You can give a role up to your own ({highest_role.label})."


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=())

    def __init__(self, *args, highest_role: Role, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(role.value, role.label) for role in Role.up_to(highest_role)]


class ConfirmTeamDeleteForm(forms.Form):
    confirmation = forms.CharField(label="Type the team's name to confirm", max_length=80,
                                   widget=forms.TextInput(attrs={"autocomplete": "off"}))


class NewAccountForm(forms.Form):
    """For a person accepting an invitation who has no account yet."""

    name = forms.CharField(label="Your name", max_length=150)
    password1 = forms.CharField(label="Choose a password", strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                                help_text="At least 12 characters, not only numbers, and not a common password.")
    password2 = forms.CharField(label="Type the password again", strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password2") and cleaned["password1"] != cleaned["password2"]:
            self.add_error("password2", "The two passwords are different. Type the same password twice.")
        return cleaned


class TokenField(forms.CharField):
    """A server token: never rendered back into the page, not even after a mistake."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Server API token")
        kwargs.setdefault("max_length", 200)
        kwargs.setdefault("help_text", "In Postmark, open the server, then API Tokens, and copy the Server API token. "
                                       "Once saved, it is stored encrypted and never shown again.")
        kwargs.setdefault("error_messages", {
            "required": "Paste the server's API token.",
            "max_length": "That is too long for a Postmark server token. Copy it again from the server's "
                          "API Tokens page in Postmark.",
        })
        kwargs["widget"] = forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"})
        super().__init__(**kwargs)


class ServerNameField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Display name")
        kwargs.setdefault("max_length", 80)
        kwargs.setdefault("error_messages", {
            "required": "Give the server a name your team will recognise.",
            "max_length": "Keep the name to 80 characters or fewer.",
        })
        super().__init__(**kwargs)


class _ServerNameForm(forms.Form):
    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if name_looks_like_token(name):
            # A token pasted into the name field must not be rendered back into the page either.
            self.data = self.data.copy()
            self.data[self.add_prefix("name")] = ""
            raise forms.ValidationError(NAME_LOOKS_LIKE_TOKEN)
        return name


class ServerConnectForm(_ServerNameForm):
    name = ServerNameField(help_text="What your team calls this server, for example “Acme Production”.")
    token = TokenField()
    sandbox = forms.BooleanField(
        label="This is a server in the built-in sandbox (for trying the dashboard out)", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not settings.POSTMARK_SANDBOX_ENABLED:
            del self.fields["sandbox"]


class ServerTokenForm(forms.Form):
    token = TokenField(label="New server API token")


class ServerRenameForm(_ServerNameForm):
    name = ServerNameField()


class ServerStreamLimitForm(forms.Form):
    stream_limit = forms.IntegerField(
        label="Streams this server may have", min_value=1, max_value=1000,
        help_text="Postmark allows 10 streams per server, archived streams included, unless Postmark support raised "
                  "the limit for you. Change it here only if they did; Postmark still has the last word.",
    )


def apply_service_error(form: forms.Form, error: ServiceError) -> None:
    """Show a service's refusal on the field it concerns, or above the form."""
    form.add_error(error.field if error.field in form.fields else None, error.message)


# What was typed into a field of this name never goes on record, not even inside a message that repeats it.
_SECRET_FIELD = re.compile(r"token|password|secret", re.IGNORECASE)


def _said(error: forms.ValidationError, *, secret: bool) -> str:
    """A message as the page shows it, with a long typed value cut short and a secret one left out."""
    params = dict(error.params or {})
    if "value" in params and (secret or len(str(params["value"])) > 40):
        params["value"] = "…" if secret else f"{str(params['value'])[:40]}…"
    return str(error.message % params if params else error.message)


def record_refusal(request: HttpRequest, form: forms.Form, *, action: str, target_type: str = "",
                   target_id: object = "", target_label: str = "", team=None, role: str | None = None,
                   actor_label: str = "") -> None:
    """A form's refusal is an attempt too: put it on record under `action`, by field and reason. The person, team
    and role are the request's; a page outside any team may name the `team` and `role` the attempt was for, and
    someone not signed in who they claim to be (`actor_label`)."""
    reasons = {}
    for name, errors in form.errors.as_data().items():
        field = form.fields.get(name)
        secret = bool(_SECRET_FIELD.search(name))
        reasons[name] = (str(field.label or name) if field else "", [_said(e, secret=secret) for e in errors])
    membership = getattr(request, "membership", None)
    form_refusal_record(actor=request.user if request.user.is_authenticated else None, actor_label=actor_label,
                        team=team or getattr(request, "team", None),
                        role=role or (membership.role if membership else None), action=action, reasons=reasons,
                        target_type=target_type, target_id=target_id, target_label=target_label)


def record_request_refusal(request: HttpRequest, *, action: str, detail: str, actor_label: str = "",
                           target_type: str = "", target_id: object = "", target_label: str = "") -> None:
    """A request a view turned away itself, with no form to say why (a stale page, a number naming nothing in
    the team): on record under `action`, as the person, team and role of the request."""
    membership = getattr(request, "membership", None)
    user = request.user if request.user.is_authenticated else None
    refusal_record(actor=user, team=getattr(request, "team", None), role=membership.role if membership else None,
                   action=action, detail=detail, actor_label=actor_label, target_type=target_type,
                   target_id=target_id, target_label=target_label)


def _attributes(attrs: dict) -> SafeString:
    """A widget's attributes as django/forms/widgets/attrs.html writes them: in their order, True as a bare name,
    False left out."""
    return mark_safe("".join(
        format_html(" {}", name) if value is True else format_html(' {}="{}"', name, str(value))
        for name, value in attrs.items() if value is not False))


class ManyOptionsSelect(forms.Select):
    """A select of hundreds of options, written here rather than by Django's widget templates, which render each
    option through two includes: the time zone page's 600 places took 60 ms that way. The same markup
    (tests/dashboard/test_time_zone.py compares the two)."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        parts = [format_html('<select name="{}"{}>', widget["name"], _attributes(widget["attrs"]))]
        for group_name, options, _index in widget["optgroups"]:
            if group_name:
                parts.append(format_html('\n  <optgroup label="{}">', group_name))
            parts.extend(format_html('\n  <option value="{}"{}>{}</option>\n', str(option["value"]),
                                     _attributes(option["attrs"]), option["label"]) for option in options)
            if group_name:
                parts.append("\n  </optgroup>")
        parts.append("\n</select>")
        return mark_safe("".join(parts))  # every part above is escaped by format_html or fixed text


class TimeZoneForm(forms.Form):
    """A person's time zone. Any text is let through: `account_set_time_zone` refuses unknown names."""

    time_zone = forms.CharField(label="Time zone", required=False, max_length=64, widget=ManyOptionsSelect(
        attrs={"autocomplete": "off"}))

    def __init__(self, *args, browser_zone: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        browser = f"Use my browser's time zone ({browser_zone})" if browser_zone else "Use my browser's time zone"
        current = self.initial.get("time_zone") or ""
        self.fields["time_zone"].widget.choices = [("", browser), *zone_select_choices(also=current)]
        self.fields["time_zone"].help_text = "Pick the place nearest you that keeps the same time as you."

