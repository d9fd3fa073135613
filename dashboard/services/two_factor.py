"""Two-factor sign-in: a person's authenticator app (django-otp's TOTP device) and their recovery codes
(its static-token device), set up, checked at sign-in, renewed and turned off, each audited.

Wrong codes have their own throttle, django-otp's, kept on the device in the database so every instance sees
it: after a wrong code the next one is checked only after 1 s, then 2, 4, 8 ... seconds; a right code resets
it. This module never sees a request: marking a session as verified is the view's part.
"""

import re
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp import verify_token
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from dashboard import audit
from dashboard.models import AuditEvent, Membership, Role, User
from dashboard.services import ServiceError
from dashboard.services.refusals import refusal_record

APP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
RECOVERY_CODE_COUNT = 10
_APP_CODE = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class Checked:
    device: Device
    by_recovery_code: bool
    recovery_codes_left: int


def two_factor_is_on(*, user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def two_factor_required(*, user: User) -> bool:
    """Owners and admins of a team with a server hold the keys to Postmark: they must use two-factor sign-in
    when TWO_FACTOR_REQUIRED is on."""
    if not settings.TWO_FACTOR_REQUIRED:
        return False
    return Membership.objects.filter(user=user, role__in=[Role.OWNER, Role.ADMIN],
                                     team__servers__isnull=False).exists()


def two_factor_users(*, user_ids: list[int]) -> set[int]:
    """Which of these people sign in with two factors: one query, for the members page."""
    return set(TOTPDevice.objects.filter(user_id__in=user_ids, confirmed=True).values_list("user_id", flat=True))


def two_factor_start(*, actor: User) -> TOTPDevice:
    """The app key being set up: the same one until it is confirmed, so a reloaded page shows the code scanned."""
    if two_factor_is_on(user=actor):
        raise ServiceError("Two-factor sign-in is already on for your account.")
    device = TOTPDevice.objects.filter(user=actor, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=actor, name=APP_DEVICE_NAME, confirmed=False)


def _refuse(*, actor: User, action: str, message: str) -> ServiceError:
    """A two-factor request that asked for what is already so (on, off), or for what needs it first."""
    refusal_record(actor=actor, team=None, role=None, action=action, target_type="user", target_id=actor.pk,
                   target_label=actor.email, detail=message)
    return ServiceError(message)


def _record_wrong_code(*, actor: User, detail: str) -> None:
    audit.record(action="auth.otp.failure", actor=actor, team=None, outcome=AuditEvent.Outcome.REFUSED,
                 target_type="user", target_id=actor.pk, target_label=actor.email, detail=detail)


def _throttled(device: Device) -> str:
    allowed, data = device.verify_is_allowed()
    if allowed:
        return ""
    wait = max(1, int(((data or {}).get("locked_until", timezone.now()) - timezone.now()).total_seconds()) + 1)
    return f"Too many wrong codes. Wait {wait} second{'s' if wait != 1 else ''}, then type the newest code."


def _check_app_code(*, actor: User, device: TOTPDevice, code: str, during: str) -> None:
    """Outside any transaction of the caller's: a wrong code's count must stay when the refusal is raised."""
    code = (code or "").replace(" ", "").strip()
    throttled = _throttled(device)
    if throttled:
        _record_wrong_code(actor=actor, detail=f"Code not checked {during}: too many wrong codes.")
        raise ServiceError(throttled, field="code")
    # django-otp's verify_token locks the device's row, so a code is accepted once however many requests race.
    if not _APP_CODE.match(code) or verify_token(actor, device.persistent_id, code) is None:
        _record_wrong_code(actor=actor, detail=f"Wrong code from the authenticator app {during}.")
        raise ServiceError("That code is not right. Type the 6 digits your app shows now; a code works "
                           "for about 30 seconds.", field="code")


def _new_recovery_codes(actor: User) -> list[str]:
    StaticDevice.objects.filter(user=actor).delete()
    device = StaticDevice.objects.create(user=actor, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def two_factor_confirm(*, actor: User, code: str) -> tuple[TOTPDevice, list[str]]:
    """Turns two-factor sign-in on once the app shows a right code; returns the device and new recovery codes."""
    if two_factor_is_on(user=actor):
        raise _refuse(actor=actor, action="auth.otp.setup", message="Two-factor sign-in is already on for your "
                                                                    "account.")
    device = two_factor_start(actor=actor)
    _check_app_code(actor=actor, device=device, code=code, during="while setting up")
    with transaction.atomic():
        device.refresh_from_db()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=actor, confirmed=False).delete()
        codes = _new_recovery_codes(actor)
        audit.record(action="auth.otp.setup", actor=actor, team=None, target_type="user", target_id=actor.pk,
                     target_label=actor.email, detail=f"Authenticator app set up, with {len(codes)} recovery codes.")
    return device, codes


def two_factor_check(*, actor: User, code: str) -> Checked:
    """A code at sign-in: 6 digits from the app, or one of the recovery codes (each works once)."""
    code = (code or "").replace(" ", "").replace("-", "").strip().lower()
    app = TOTPDevice.objects.filter(user=actor, confirmed=True).first()
    if app is None:
        raise _refuse(actor=actor, action="auth.otp.failure", message="Two-factor sign-in is not on for your account.")
    if _APP_CODE.match(code):
        _check_app_code(actor=actor, device=app, code=code, during="at sign-in")
        audit.record(action="auth.otp.verify", actor=actor, team=None, target_type="user", target_id=actor.pk,
                     target_label=actor.email)
        return Checked(device=app, by_recovery_code=False, recovery_codes_left=recovery_codes_left(user=actor))
    recovery = StaticDevice.objects.filter(user=actor).first()
    if recovery is None:
        _record_wrong_code(actor=actor, detail="Recovery code typed, but none is left.")
        raise ServiceError("Your account has no recovery codes left. Type the code from your app.", field="code")
    throttled = _throttled(recovery)
    if throttled:
        _record_wrong_code(actor=actor, detail="Recovery code not checked: too many wrong codes.")
        raise ServiceError(throttled, field="code")
    if verify_token(actor, recovery.persistent_id, code) is None:  # a right one is used up at once
        _record_wrong_code(actor=actor, detail="Wrong recovery code at sign-in.")
        raise ServiceError("That is neither the 6-digit code from your app nor one of your recovery codes. "
                           "Check it and try again.", field="code")
    left = recovery.token_set.count()
    audit.record(action="auth.otp.recovery", actor=actor, team=None, target_type="user", target_id=actor.pk,
                 target_label=actor.email, detail=f"Signed in with a recovery code; {left} left.")
    return Checked(device=recovery, by_recovery_code=True, recovery_codes_left=left)


def recovery_codes_left(*, user: User) -> int:
    return StaticToken.objects.filter(device__user=user).count()


def two_factor_new_recovery_codes(*, actor: User) -> list[str]:
    """Replaces every recovery code with new ones, shown once; the old ones stop working."""
    if not two_factor_is_on(user=actor):
        raise _refuse(actor=actor, action="auth.otp.recovery_codes",
                      message="Turn on two-factor sign-in first; recovery codes come with it.")
    with transaction.atomic():
        codes = _new_recovery_codes(actor)
        audit.record(action="auth.otp.recovery_codes", actor=actor, team=None, target_type="user",
                     target_id=actor.pk, target_label=actor.email,
                     detail=f"{len(codes)} new recovery codes; the old ones no longer work.")
    return codes


def two_factor_turn_off(*, actor: User, code: str) -> None:
    """Turns two-factor sign-in off, after a right code from the app; refused while it is required."""
    if two_factor_required(user=actor):
        audit.record(action="auth.otp.disable", actor=actor, team=None, outcome=AuditEvent.Outcome.REFUSED,
                     target_type="user", target_id=actor.pk, target_label=actor.email,
                     detail="Refused: required for owners and admins of a team with servers.")
        raise ServiceError("You are an owner or admin of a team with servers, so your account needs two-factor "
                           "sign-in. It stays on.")
    app = TOTPDevice.objects.filter(user=actor, confirmed=True).first()
    if app is None:
        raise _refuse(actor=actor, action="auth.otp.disable", message="Two-factor sign-in is already off for your "
                                                                      "account.")
    _check_app_code(actor=actor, device=app, code=code, during="while turning it off")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=actor).delete()
        StaticDevice.objects.filter(user=actor).delete()
        audit.record(action="auth.otp.disable", actor=actor, team=None, target_type="user", target_id=actor.pk,
                     target_label=actor.email, detail="Authenticator app and recovery codes removed.")
