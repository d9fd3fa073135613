"""Two-factor sign-in: set-up, the code after the password, recovery codes, turning it off, each audited."""

import base64
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from dashboard.models import AuditEvent
from dashboard.services.two_factor import two_factor_confirm, two_factor_start

pytestmark = pytest.mark.django_db


def app_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code the person's app shows now (or a step later: a code is accepted once per 30-second step)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():06d}"


def turn_on(user) -> tuple[TOTPDevice, list[str]]:
    device = two_factor_start(actor=user)
    return two_factor_confirm(actor=user, code=app_code(device))


def sign_in_with_password(client, user, password):
    return client.post(reverse("login"), {"username": user.email, "password": password})


def verified(client, user):
    """A session that has passed the code page (the way `django_otp.login` marks it)."""
    client.force_login(user)
    session = client.session
    session["otp_device_id"] = TOTPDevice.objects.get(user=user, confirmed=True).persistent_id
    session.save()
    return client


def last_event(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).order_by("-pk").first()


def test_the_set_up_page_shows_a_qr_code_and_the_key_to_type(signed_in_client, user):
    response = signed_in_client.get(reverse("two_factor"))
    page = response.content.decode()
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert response.status_code == 200
    assert "<svg" in page and 'aria-label="QR code for your authenticator app"' in page
    assert page.count("style=") == 0  # the CSP forbids style attributes
    key = page.split('data-testid="two-factor-key">')[1].split("<")[0]
    assert key.replace(" ", "") == base64.b32encode(device.bin_key).decode()
    # A reload shows the same key, so the one already scanned still works.
    assert signed_in_client.get(reverse("two_factor")).content.decode().count(key) == 1


def test_a_right_code_turns_it_on_shows_ten_recovery_codes_once_and_is_audited(signed_in_client, user):
    signed_in_client.get(reverse("two_factor"))
    device = TOTPDevice.objects.get(user=user)
    response = signed_in_client.post(reverse("two_factor_confirm"), {"code": app_code(device)})
    page = response.content.decode()
    codes = list(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert response.status_code == 200
    assert len(codes) == 10 and all(code in page for code in codes)
    assert "only time we show them" in page
    assert response["Cache-Control"] == "no-store, private"
    assert TOTPDevice.objects.get(user=user).confirmed
    event = last_event("auth.otp.setup")
    assert (event.actor_id, event.outcome) == (user.pk, AuditEvent.Outcome.SUCCESS)
    assert not any(code in f"{event.detail}{event.changes}" for code in codes)
    # The session that set it up counts as verified: pages open without a code.
    assert signed_in_client.get(reverse("team_list")).status_code == 200


def test_a_wrong_code_at_set_up_changes_nothing_and_is_audited(signed_in_client, user):
    signed_in_client.get(reverse("two_factor"))
    response = signed_in_client.post(reverse("two_factor_confirm"), {"code": "000000"})
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    event = last_event("auth.otp.failure")
    assert (event.actor_id, event.outcome) == (user.pk, AuditEvent.Outcome.REFUSED)
    assert "while setting up" in event.detail


def test_after_the_password_every_page_waits_for_the_code(client, user, password):
    turn_on(user)
    response = sign_in_with_password(client, user, password)
    assert response.status_code == 302
    wanted = client.get(reverse("team_list"))
    assert wanted.status_code == 302
    assert wanted["Location"] == reverse("two_factor_code") + "?next=%2Fteams%2F"
    assert client.get(reverse("preferences"))["Location"].startswith(reverse("two_factor_code"))
    assert client.get(reverse("two_factor"))["Location"].startswith(reverse("two_factor_code"))
    page = client.get(wanted["Location"]).content.decode()
    assert "Type your code" in page and 'autocomplete="one-time-code"' in page


def test_an_htmx_request_waiting_for_the_code_is_sent_to_the_code_page_whole(client, user, password):
    turn_on(user)
    sign_in_with_password(client, user, password)
    response = client.get(reverse("team_list"), headers={"HX-Request": "true"})
    assert response["HX-Redirect"].startswith(reverse("two_factor_code"))


def test_the_right_code_opens_the_page_asked_for_and_is_audited(client, user, password):
    device, _ = turn_on(user)
    sign_in_with_password(client, user, password)
    response = client.post(reverse("two_factor_code"), {"code": app_code(device, steps_ahead=1), "next": "/teams/"})
    assert response.status_code == 302 and response["Location"] == "/teams/"
    assert client.get(reverse("team_list")).status_code == 200
    assert last_event("auth.otp.verify").actor_id == user.pk


def test_the_code_page_never_sends_a_person_to_another_site(client, user, password):
    device, _ = turn_on(user)
    sign_in_with_password(client, user, password)
    response = client.post(reverse("two_factor_code"), {"code": app_code(device, steps_ahead=1),
                                                        "next": "https://evil.example/"})
    assert response["Location"] == reverse("home")


def test_a_wrong_code_is_refused_audited_and_the_next_one_waits_a_moment(client, user, password):
    device, _ = turn_on(user)
    sign_in_with_password(client, user, password)
    response = client.post(reverse("two_factor_code"), {"code": "123456" if app_code(device) != "123456" else "654321"})
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert last_event("auth.otp.failure").detail == "Wrong code from the authenticator app at sign-in."
    # django-otp's throttle: right after a wrong code, even the right one is not checked.
    right = app_code(device, steps_ahead=1)
    response = client.post(reverse("two_factor_code"), {"code": right})
    assert "Too many wrong codes. Wait 1 second" in response.content.decode()
    assert last_event("auth.otp.failure").detail == "Code not checked at sign-in: too many wrong codes."
    assert client.get(reverse("team_list")).status_code == 302
    # A second later (the clock moved back instead of waiting) the right code works.
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=TOTPDevice.objects.get(pk=device.pk).throttling_failure_timestamp
        - timedelta(seconds=2))
    assert client.post(reverse("two_factor_code"), {"code": right}).status_code == 302
    assert client.get(reverse("team_list")).status_code == 200


def test_a_recovery_code_signs_in_once_and_says_how_many_are_left(client, user, password):
    _, codes = turn_on(user)
    sign_in_with_password(client, user, password)
    response = client.post(reverse("two_factor_code"), {"code": codes[0].upper()}, follow=True)
    assert "You signed in with a recovery code; it will not work again. 9 left." in response.content.decode()
    assert last_event("auth.otp.recovery").detail == "Signed in with a recovery code; 9 left."
    client.post(reverse("logout"))
    sign_in_with_password(client, user, password)
    response = client.post(reverse("two_factor_code"), {"code": codes[0]})
    assert response.status_code == 200
    assert "neither the 6-digit code from your app nor one of your recovery codes" in response.content.decode()
    assert last_event("auth.otp.failure").detail == "Wrong recovery code at sign-in."


def test_new_recovery_codes_replace_the_old_ones(signed_in_client, user):
    _, old = turn_on(user)
    verified(signed_in_client, user)
    response = signed_in_client.post(reverse("two_factor_recovery_codes"))
    new = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert response.status_code == 200 and len(new) == 10 and not new & set(old)
    assert all(code in response.content.decode() for code in new)
    assert last_event("auth.otp.recovery_codes").actor_id == user.pk


def test_turning_it_off_needs_a_right_code_and_then_the_password_alone_signs_in(client, user, password):
    device, _ = turn_on(user)
    verified(client, user)
    response = client.post(reverse("two_factor_turn_off"), {"code": "12345"})
    assert response.status_code == 200 and TOTPDevice.objects.filter(user=user).exists()
    assert "while turning it off" in last_event("auth.otp.failure").detail
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0, throttling_failure_timestamp=None)
    response = client.post(reverse("two_factor_turn_off"), {"code": app_code(device, steps_ahead=1)}, follow=True)
    assert "Two-factor sign-in is off" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    assert not StaticToken.objects.filter(device__user=user).exists()
    assert last_event("auth.otp.disable").outcome == AuditEvent.Outcome.SUCCESS
    client.post(reverse("logout"))
    sign_in_with_password(client, user, password)
    assert client.get(reverse("team_list")).status_code == 200


def test_without_two_factor_the_code_page_just_moves_on(signed_in_client):
    assert signed_in_client.get(reverse("two_factor_code"))["Location"] == reverse("home")


def test_signing_out_stays_open_while_the_code_is_awaited(client, user, password):
    turn_on(user)
    sign_in_with_password(client, user, password)
    response = client.post(reverse("logout"))
    assert response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session


def test_the_admin_site_waits_for_the_code_too(client, user, password):
    user.is_staff = user.is_superuser = True
    user.save()
    turn_on(user)
    sign_in_with_password(client, user, password)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two_factor_code"))


def test_turned_off_in_another_browser_the_code_page_lets_this_one_through(client, user, password):
    turn_on(user)
    sign_in_with_password(client, user, password)
    assert client.get(reverse("team_list")).status_code == 302
    TOTPDevice.objects.filter(user=user).delete()  # as turning it off elsewhere does
    response = client.get(reverse("two_factor_code") + "?next=/teams/")
    assert response["Location"] == "/teams/"
    assert client.get(reverse("team_list")).status_code == 200
