"""Two-factor sign-in pages on the person's account: set it up, type a code after the password, make new
recovery codes, turn it off. Each is one call to the two-factor service; marking the session verified
(django-otp's `login`) is the only thing done here."""

import base64

import qrcode
import qrcode.image.svg
from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from dashboard.access import not_team_scoped
from dashboard.forms import apply_service_error, record_refusal
from dashboard.services import ServiceError
from dashboard.services.two_factor import (
    recovery_codes_left,
    two_factor_check,
    two_factor_confirm,
    two_factor_is_on,
    two_factor_new_recovery_codes,
    two_factor_required,
    two_factor_start,
    two_factor_turn_off,
)
from dashboard.two_factor import CODE, remember_step


class CodeForm(forms.Form):
    code = forms.CharField(label="Code", max_length=32, strip=True,
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "none",
                                                         "spellcheck": "false"}))

    def __init__(self, *args, label: str = "Code", help_text: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].label = label
        self.fields["code"].help_text = help_text


def _app_code_form(data=None) -> CodeForm:
    return CodeForm(data, label="Code from your app", help_text="The 6 digits your authenticator app shows now.")


def _qr_svg(url: str) -> str:
    # An SVG of paths and presentation attributes only (no style attribute or script), so the CSP allows it inline.
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    return mark_safe(image.to_string(encoding="unicode"))  # built by qrcode from our own otpauth URL


def _spaced_key(device: TOTPDevice) -> str:
    key = base64.b32encode(device.bin_key).decode()
    return " ".join(key[i:i + 4] for i in range(0, len(key), 4))


def _page(request: HttpRequest, *, form: CodeForm | None = None, off_form: CodeForm | None = None) -> HttpResponse:
    user = request.user
    context = {"required": two_factor_required(user=user)}
    if two_factor_is_on(user=user):
        context.update(on=True, codes_left=recovery_codes_left(user=user), off_form=off_form or _app_code_form())
    else:
        device = two_factor_start(actor=user)
        context.update(on=False, qr_svg=_qr_svg(device.config_url), key=_spaced_key(device),
                       form=form or _app_code_form())
    return render(request, "dashboard/two_factor.html", context)


def _codes_page(request: HttpRequest, codes: list[str]) -> HttpResponse:
    response = render(request, "dashboard/two_factor_codes.html", {"codes": codes})
    response["Cache-Control"] = "no-store, private"
    return response


@not_team_scoped
@require_http_methods(["GET"])
def two_factor(request: HttpRequest) -> HttpResponse:
    return _page(request)


@not_team_scoped
@require_POST
def two_factor_confirm_view(request: HttpRequest) -> HttpResponse:
    form = _app_code_form(request.POST)
    if form.is_valid():
        try:
            device, codes = two_factor_confirm(actor=request.user, code=form.cleaned_data["code"])
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            otp_login(request, device)
            remember_step(request, request.user)
            messages.success(request, "Two-factor sign-in is on. Keep your recovery codes somewhere safe.")
            return _codes_page(request, codes)
    else:
        _record_refused_code(request, form, action="auth.otp.setup")
    return _page(request, form=form)


@not_team_scoped
@require_POST
def two_factor_recovery_codes_view(request: HttpRequest) -> HttpResponse:
    try:
        codes = two_factor_new_recovery_codes(actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect("two_factor")
    messages.success(request, "New recovery codes made. The old ones no longer work.")
    return _codes_page(request, codes)


@not_team_scoped
@require_POST
def two_factor_turn_off_view(request: HttpRequest) -> HttpResponse:
    form = _app_code_form(request.POST)
    if form.is_valid():
        try:
            two_factor_turn_off(actor=request.user, code=form.cleaned_data["code"])
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            remember_step(request, request.user)
            messages.success(request, "Two-factor sign-in is off. You now sign in with your password alone.")
            return redirect("two_factor")
    else:
        _record_refused_code(request, form, action="auth.otp.disable")
    return _page(request, off_form=form)


def _record_refused_code(request: HttpRequest, form: CodeForm, *, action: str) -> None:
    record_refusal(request, form, action=action, target_type="user", target_id=request.user.pk,
                   target_label=request.user.email)


def _next_address(request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    # Only a path on this site: anything else ("0", a name) would be taken by redirect() for a view's name.
    if wanted.startswith("/") and url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()},
                                                                  require_https=request.is_secure()):
        return wanted
    return ""


@not_team_scoped
@require_http_methods(["GET", "POST"])
def two_factor_code(request: HttpRequest) -> HttpResponse:
    """The second step of signing in, for a person with two-factor sign-in on."""
    # Asked afresh here, not from the session: it may have been turned off in another browser meanwhile.
    if request.user.is_verified() or remember_step(request, request.user) != CODE:
        return redirect(_next_address(request) or "home")
    form = CodeForm(request.POST or None, label="Code",
                    help_text="The 6 digits your authenticator app shows now, or one of your recovery codes.")
    form.fields["code"].widget.attrs["autofocus"] = True  # the page's one task, as the sign-in page's e-mail field
    if request.method == "POST" and form.is_valid():
        try:
            checked = two_factor_check(actor=request.user, code=form.cleaned_data["code"])
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            otp_login(request, checked.device)
            remember_step(request, request.user)
            if checked.by_recovery_code:
                messages.warning(request, f"You signed in with a recovery code; it will not work again. "
                                          f"{checked.recovery_codes_left} left. Make new ones on your "
                                          "two-factor sign-in page if you are running low.")
            return redirect(_next_address(request) or "home")
    elif request.method == "POST":
        _record_refused_code(request, form, action="auth.otp.failure")
    # A wrong code re-renders the page with its reason, as the sign-in page does for a wrong password (200).
    return render(request, "registration/two_factor_code.html", {"form": form, "next": _next_address(request)})
