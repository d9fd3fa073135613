"""Two-factor sign-in in a real browser: set-up, the code after the password, a recovery code, the keyboard,
a phone's width and JavaScript off. Codes are computed here from the device's key, as the person's app would."""

import base64
from datetime import timedelta

from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.browser.test_suppressions import fits_a_phone
from tests.dashboard.test_two_factor import app_code, turn_on


def set_up_in_the_page(page, axe, user, *, javascript=True):
    page.goto("/accounts/two-factor/")
    expect(page.get_by_role("heading", name="Two-factor sign-in")).to_be_visible()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    if javascript:
        axe(page)
    typed_key = page.get_by_test_id("two-factor-key").inner_text().replace(" ", "")
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert base64.b32decode(typed_key) == device.bin_key  # the key shown is the one the app needs
    page.get_by_label("Code from your app").fill(app_code(device))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.get_by_test_id("recovery-codes").locator("code").all_inner_texts()
    assert len(codes) == 10
    if javascript:
        axe(page)
    return codes


def test_a_person_sets_up_two_factor_sign_in_from_their_account_page(open_page, axe, editor, team_a):
    page = open_page(editor)
    page.goto("/accounts/preferences/")
    axe(page)
    page.get_by_role("link", name="Set up or change two-factor sign-in").click()
    set_up_in_the_page(page, axe, editor)
    page.get_by_role("link", name="Back to two-factor sign-in").click()
    expect(page.get_by_text("10 recovery codes")).to_be_visible()
    axe(page)


def test_signing_in_asks_for_the_code_after_the_password_and_explains_a_wrong_one(sign_in_page, axe, editor, team_a):
    device, _ = turn_on(editor)
    page = sign_in_page(editor)
    expect(page.get_by_role("heading", name="Type your code")).to_be_visible()
    axe(page)
    page.goto("/teams/")  # nothing opens before the code
    expect(page.get_by_role("heading", name="Type your code")).to_be_visible()
    wrong = "000000" if app_code(device, steps_ahead=1) != "000000" else "111111"
    page.get_by_label("Code").fill(wrong)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("That code is not right.")).to_be_visible()
    axe(page)
    # The throttle's second passes on the device's clock, not by waiting.
    device.refresh_from_db()
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=device.throttling_failure_timestamp - timedelta(seconds=2))
    page.get_by_label("Code").fill(app_code(device, steps_ahead=1))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your teams")).to_be_visible()
    axe(page)


def test_a_recovery_code_signs_in_when_the_phone_is_lost(sign_in_page, axe, viewer, team_a):
    _, codes = turn_on(viewer)
    page = sign_in_page(viewer)
    expect(page.get_by_text("Lost your phone? Type one of your recovery codes in the same box.")).to_be_visible()
    axe(page)
    page.get_by_label("Code").fill(codes[3])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("You signed in with a recovery code; it will not work again. 9 left.")).to_be_visible()
    axe(page)


def test_the_code_page_works_from_the_keyboard(sign_in_page, axe, admin, team_a):
    device, _ = turn_on(admin)
    page = sign_in_page(admin)
    expect(page.get_by_label("Code")).to_be_focused()
    axe(page)
    page.keyboard.type(app_code(device, steps_ahead=1))
    page.keyboard.press("Enter")
    expect(page.get_by_text(f"Signed in as {admin.email}")).to_be_visible()
    axe(page)


def test_set_up_and_the_code_page_fit_a_phone(open_page, sign_in_page, axe, outsider, team_b):
    page = open_page(outsider, viewport=PHONE)
    page.goto("/accounts/two-factor/")
    fits_a_phone(page)
    codes = set_up_in_the_page(page, axe, outsider)
    fits_a_phone(page)
    phone = sign_in_page(outsider, viewport=PHONE)
    expect(phone.get_by_role("heading", name="Type your code")).to_be_visible()
    fits_a_phone(phone)
    axe(phone)
    phone.get_by_label("Code").fill(codes[0])
    phone.get_by_role("button", name="Sign in").click()
    expect(phone.get_by_text("9 left")).to_be_visible()
    axe(phone)


def test_set_up_and_signing_in_with_a_code_work_without_javascript(open_page, sign_in_page, owner, team_a):
    page = open_page(owner, javascript=False)
    set_up_in_the_page(page, None, owner, javascript=False)
    page.get_by_role("link", name="I have kept them, carry on").click()
    expect(page.get_by_text(f"Signed in as {owner.email}")).to_be_visible()
    device = TOTPDevice.objects.get(user=owner, confirmed=True)
    fresh = sign_in_page(owner, javascript=False)
    expect(fresh.get_by_role("heading", name="Type your code")).to_be_visible()
    fresh.get_by_label("Code").fill(app_code(device, steps_ahead=1))
    fresh.get_by_role("button", name="Sign in").click()
    expect(fresh.get_by_text(f"Signed in as {owner.email}")).to_be_visible()
