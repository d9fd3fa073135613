"""Accounts: sign-in events in the audit log, changing a password, and resetting a forgotten one."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from dashboard.models import AuditEvent

pytestmark = pytest.mark.django_db

BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0 (test browser)"}
NEW_PASSWORD = "a fresh and long passphrase"
RESET_LINK = re.compile(r"http://testserver(/accounts/password/reset/[^/\s]+/[^/\s]+/)")


def every_value_in_the_audit_log() -> str:
    return " ".join(str(value) for row in AuditEvent.objects.values() for value in row.values())


# --- Signing in ------------------------------------------------------------------------------------


def test_signing_in_records_who_from_where_and_with_which_browser(client, user, password):
    client.post(reverse("login"), {"username": "Dana@Example.com", "password": password}, **BROWSER)

    event = AuditEvent.objects.get(action="auth.login.success")
    assert (event.outcome, event.actor_id, event.actor_label, event.team_id) == ("success", user.pk,
                                                                                "dana@example.com", None)
    assert (event.target_type, event.target_id, event.target_label) == ("user", str(user.pk), "dana@example.com")
    assert (event.ip, event.user_agent) == ("127.0.0.1", "Mozilla/5.0 (test browser)")


def test_a_failed_sign_in_records_the_typed_address_from_where_and_with_which_browser(client, user):
    response = client.post(reverse("login"), {"username": " dana@example.com", "password": "wrong guess"}, **BROWSER)

    assert "do not match an account" in response.content.decode()
    event = AuditEvent.objects.get(action="auth.login.failure")
    assert (event.outcome, event.actor_id, event.actor_label) == ("refused", None, "dana@example.com")
    assert (event.target_type, event.target_id, event.target_label) == ("user", str(user.pk), "dana@example.com")
    assert (event.ip, event.user_agent) == ("127.0.0.1", "Mozilla/5.0 (test browser)")
    assert event.detail == "Wrong e-mail address or password."


def test_a_failed_sign_in_for_an_unknown_address_names_no_account(client, user):
    client.post(reverse("login"), {"username": "nobody@example.com", "password": "wrong guess"}, **BROWSER)
    event = AuditEvent.objects.get(action="auth.login.failure")
    assert (event.actor_id, event.actor_label, event.target_id) == (None, "nobody@example.com", "")


def test_signing_out_is_recorded(client, user, password):
    client.post(reverse("login"), {"username": user.email, "password": password})
    client.post(reverse("logout"))
    event = AuditEvent.objects.get(action="auth.logout")
    assert (event.outcome, event.actor_id, event.ip) == ("success", user.pk, "127.0.0.1")


def test_no_password_ever_reaches_the_audit_log(client, user, password):
    client.post(reverse("login"), {"username": user.email, "password": "my wrong guess"})
    client.post(reverse("login"), {"username": user.email, "password": password})
    client.post(reverse("password_change"), {"old_password": password, "new_password1": NEW_PASSWORD,
                                             "new_password2": NEW_PASSWORD})
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert actions == {"auth.login.failure", "auth.login.success", "auth.password.change"}
    logged = every_value_in_the_audit_log()
    for secret in ("my wrong guess", password, NEW_PASSWORD):
        assert secret not in logged


# --- Changing a password ---------------------------------------------------------------------------


def test_changing_the_password_works_keeps_you_signed_in_and_is_recorded(client_as, user, password):
    browser = client_as(user)
    assert "Change your password" in browser.get(reverse("password_change")).content.decode()

    response = browser.post(reverse("password_change"), {"old_password": password, "new_password1": NEW_PASSWORD,
                                                         "new_password2": NEW_PASSWORD}, follow=True, **BROWSER)

    assert response.redirect_chain == [(reverse("password_change_done"), 302)]
    assert "Your password has been changed" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert browser.get(reverse("team_list")).status_code == 200
    event = AuditEvent.objects.get(action="auth.password.change")
    assert (event.outcome, event.actor_id, event.target_id, event.target_label) == ("success", user.pk, str(user.pk),
                                                                                   "dana@example.com")
    assert (event.ip, event.user_agent) == ("127.0.0.1", "Mozilla/5.0 (test browser)")


def test_a_wrong_current_password_changes_nothing(client_as, user, password):
    response = client_as(user).post(reverse("password_change"), {
        "old_password": "not it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 200
    assert "Your old password was entered incorrectly." in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(password)
    event = AuditEvent.objects.get(action="auth.password.change")  # the attempt is on record, no password in it
    assert (event.outcome, event.detail) == ("refused", "Refused by the form. Old password: Your old password was "
                                                        "entered incorrectly. Please enter it again.")


def test_changing_a_password_needs_signing_in(client):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={reverse('password_change')}"


# --- Resetting a forgotten password ----------------------------------------------------------------


def test_the_sign_in_page_offers_a_password_reset(client):
    page = client.get(reverse("login")).content.decode()
    assert f'<a href="{reverse("password_reset")}">Forgot your password?</a>' in page


def test_a_reset_link_by_e_mail_sets_a_new_password_and_is_recorded(client, user, password):
    response = client.post(reverse("password_reset"), {"email": "DANA@example.com"}, follow=True)
    assert response.redirect_chain == [(reverse("password_reset_done"), 302)]
    assert "Check your e-mail" in response.content.decode()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["dana@example.com"]
    assert message.subject == "Reset your Streams Dashboard password"
    assert "Hello Dana," in message.body

    link = RESET_LINK.search(message.body).group(1)
    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    set_password_url = form_page.redirect_chain[-1][0]
    response = client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
                           follow=True, **BROWSER)

    assert response.redirect_chain == [(reverse("password_reset_complete"), 302)]
    assert "Your new password is set" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    event = AuditEvent.objects.get(action="auth.password.reset")
    assert (event.outcome, event.actor_id, event.target_label) == ("success", user.pk, "dana@example.com")
    assert (event.ip, event.user_agent) == ("127.0.0.1", "Mozilla/5.0 (test browser)")
    assert not AuditEvent.objects.filter(action="auth.password.change").exists()
    assert "does not work" in client.get(link, follow=True).content.decode(), "a reset link works once"


def test_a_reset_for_an_unknown_address_looks_the_same_but_sends_nothing(client, user):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_a_broken_reset_link_says_so_and_offers_a_new_one(client, user):
    page = client.get(reverse("password_reset_confirm", args=["MQ", "not-a-token"])).content.decode()
    assert "This reset link does not work" in page
    assert f'href="{reverse("password_reset")}"' in page
    assert "new_password1" not in page


@pytest.mark.parametrize("name", ["login", "password_reset", "password_reset_done", "password_reset_complete"])
def test_sign_in_and_password_reset_pages_open_without_signing_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 200
    assert "Signed in as" not in response.content.decode()
