"""Sign-in that resists guessing: lockouts after repeated failures (ours and the admin's), limited reset requests,
password rules, and sessions that end after idle time and at an absolute maximum."""

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from dashboard.forms import NewAccountForm
from dashboard.management.commands.demo_seed import DEMO_PASSWORD
from dashboard.models import AuditEvent, Invitation, Role, User
from dashboard.services.invitations import invitation_create
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOCKOUT = "Too many sign-in attempts. Try again in 15 minutes, or reset your password."


def sign_in(client, email, password, *, address="192.0.2.10", path=None, **headers):
    return client.post(path or reverse("login"), {"username": email, "password": password},
                       REMOTE_ADDR=address, **headers)


def fail(client, times, email="dana@example.com", **kwargs):
    for _ in range(times):
        response = sign_in(client, email, "wrong password", **kwargs)
        assert response.status_code in (200, 429)


def test_four_wrong_passwords_still_let_the_right_one_in(client, user):
    fail(client, 4)
    response = sign_in(client, "dana@example.com", PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_after_five_wrong_passwords_even_the_right_one_is_refused_with_a_plain_message(client, user):
    fail(client, 5)

    response = sign_in(client, "DANA@example.com", PASSWORD)

    page = response.content.decode()
    assert response.status_code == 429
    assert LOCKOUT in page
    assert "<h1>Sign in</h1>" in page, "the lockout is shown on the sign-in page, not as a bare error"
    assert "_auth_user_id" not in client.session


def test_an_account_is_locked_when_the_guesses_come_from_many_addresses(client, user):
    for number in range(5):
        sign_in(client, "dana@example.com", "wrong password", address=f"198.51.100.{number + 1}")

    response = sign_in(Client(), "dana@example.com", PASSWORD, address="198.51.100.99")

    assert response.status_code == 429
    assert LOCKOUT in response.content.decode()


def test_an_address_is_locked_when_it_guesses_at_many_accounts_at_the_addresss_own_limit(client, user, settings):
    settings.SIGN_IN_ADDRESS_FAILURE_LIMIT = 8
    for number in range(8):
        sign_in(client, f"someone{number}@example.com", "wrong password", address="192.0.2.66")

    locked = sign_in(Client(), "dana@example.com", PASSWORD, address="192.0.2.66")
    elsewhere = sign_in(Client(), "dana@example.com", PASSWORD, address="192.0.2.67")

    assert locked.status_code == 429
    assert LOCKOUT in locked.content.decode()
    assert elsewhere.status_code == 302, "the same person from another network still signs in"
    entry = AuditEvent.objects.get(action="auth.login.locked")
    assert (entry.actor_label, entry.ip) == ("someone7@example.com", "192.0.2.66")
    assert entry.detail == "8 failed sign-ins from this address; sign-in refused for 15 minutes."


def test_colleagues_who_share_an_office_address_are_not_locked_out_by_each_others_typos(client, user, settings):
    settings.SIGN_IN_ADDRESS_FAILURE_LIMIT = 8
    for number in range(7):  # more than an account's 5, fewer than the address's 8
        sign_in(Client(), f"colleague{number}@example.com", "wrong password", address="192.0.2.80")

    response = sign_in(client, "dana@example.com", PASSWORD, address="192.0.2.80")

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    assert not AuditEvent.objects.filter(action="auth.login.locked").exists()


def test_the_address_limit_is_30_unless_set():
    from dashboard import settings as project_settings

    assert (project_settings.SIGN_IN_FAILURE_LIMIT, project_settings.SIGN_IN_ADDRESS_FAILURE_LIMIT) == (5, 30)


def test_the_lockout_reads_the_same_whether_or_not_the_account_exists(client, user):
    fail(client, 5, email="dana@example.com", address="192.0.2.1")
    fail(client, 5, email="nobody@example.com", address="192.0.2.2")

    known = sign_in(Client(), "dana@example.com", "anything", address="192.0.2.3")
    unknown = sign_in(Client(), "nobody@example.com", "anything", address="192.0.2.4")

    assert known.status_code == unknown.status_code == 429
    assert LOCKOUT in known.content.decode()
    assert _without_csrf(known, "dana@example.com") == _without_csrf(unknown, "nobody@example.com")


def _without_csrf(response, typed: str) -> str:
    # Each page carries its own CSRF token; apart from that and the typed address the pages must be the same.
    return re.sub(r"[A-Za-z0-9]{64}", "TOKEN", response.content.decode().replace(typed, "TYPED"))


def test_the_lockout_is_recorded_once_and_every_refused_attempt_still_is(client, user):
    fail(client, 6)

    locked = AuditEvent.objects.get(action="auth.login.locked")
    assert (locked.outcome, locked.actor_label, locked.target_id, locked.ip) == (
        "refused", "dana@example.com", str(user.pk), "192.0.2.10")
    assert locked.detail == "5 failed sign-ins for this account; sign-in refused for 15 minutes."
    failures = list(AuditEvent.objects.filter(action="auth.login.failure").order_by("chain_seq"))
    assert [event.detail for event in failures] == ["Wrong e-mail address or password."] * 5 + [
        "Refused unchecked: too many sign-in attempts."]


def test_the_audit_log_tells_the_lockout_as_a_sentence(client, user, owner):
    from dashboard.audit_log import sentence

    fail(client, 5)

    assert sentence(AuditEvent.objects.get(action="auth.login.locked")) == (
        "Someone tried to sign in as dana@example.com — refused: 5 failed sign-ins for this account; sign-in "
        "refused for 15 minutes")


def test_after_the_cool_off_the_right_password_works_again(client, user):
    fail(client, 5)
    assert sign_in(client, "dana@example.com", PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))

    response = sign_in(client, "dana@example.com", PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_the_admin_sign_in_is_locked_too(client, django_user_model):
    django_user_model.objects.create_superuser(email="ops@example.com", password=PASSWORD)
    admin_login = reverse("admin:login")
    for _ in range(5):
        sign_in(client, "ops@example.com", "wrong password", path=admin_login)

    response = sign_in(client, "ops@example.com", PASSWORD, path=admin_login)

    assert response.status_code == 429
    assert LOCKOUT in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_lockout_counts_the_address_the_audit_log_records_behind_a_proxy(client, user, settings):
    settings.NUM_PROXIES = 1
    settings.SIGN_IN_ADDRESS_FAILURE_LIMIT = 3
    proxy = "10.0.0.1"
    for number in range(3):
        sign_in(client, f"someone{number}@example.com", "wrong password", address=proxy,
                HTTP_X_FORWARDED_FOR="203.0.113.50")

    neighbour = sign_in(Client(), "dana@example.com", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.51")
    guesser = sign_in(Client(), "dana@example.com", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.50")

    assert neighbour.status_code == 302, "another visitor behind the same proxy is not locked out"
    assert guesser.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.50"}
    assert set(AuditEvent.objects.filter(action="auth.login.failure").values_list("ip", flat=True)) == {
        "203.0.113.50"}


def test_password_reset_requests_from_one_address_are_limited(client, user):
    for _ in range(5):
        assert client.post(reverse("password_reset"), {"email": "dana@example.com"},
                           REMOTE_ADDR="192.0.2.20").status_code == 302

    response = client.post(reverse("password_reset"), {"email": "dana@example.com"}, REMOTE_ADDR="192.0.2.20")
    other = client.post(reverse("password_reset"), {"email": "dana@example.com"}, REMOTE_ADDR="192.0.2.21")

    assert response.status_code == 429
    assert "Too many reset requests from your network. Try again in 15 minutes." in response.content.decode()
    assert other.status_code == 302
    assert len(mail.outbox) == 6, "the refused request sent no e-mail"


# --- Invitation and reset links that don't work --------------------------------------------------

LINKS_REFUSED = ("Too many invitation or password reset links that don&#x27;t work were opened from your network. "
                 "Try again in 15 minutes.")
GUESSER, NEIGHBOUR = "192.0.2.30", "192.0.2.31"


@pytest.fixture
def invitation_link(admin, team_a):
    links = []
    invitation_create(actor=admin, team=team_a, email="newcomer@example.com", role=Role.EDITOR,
                      link_for=lambda token: links.append(token) or f"/invitations/{token}/")
    return reverse("invitation_accept", args=[links[0]])


def made_up_invitations(client, times, address=GUESSER):
    for number in range(times):
        response = client.get(reverse("invitation_accept", args=[f"made-up-{number}"]), REMOTE_ADDR=address)
        assert response.status_code == 404


def test_made_up_invitation_links_up_to_the_limit_leave_a_real_one_working(client, settings, invitation_link):
    settings.SIGN_IN_ADDRESS_FAILURE_LIMIT = 3
    made_up_invitations(client, 2)

    response = client.get(invitation_link, REMOTE_ADDR=GUESSER)

    assert response.status_code == 200
    assert "Join Acme" in response.content.decode()


def test_an_address_that_made_up_too_many_invitation_links_waits_even_with_a_real_one(client, settings,
                                                                                      invitation_link):
    settings.SIGN_IN_ADDRESS_FAILURE_LIMIT = 3
    made_up_invitations(client, 3)

    refused = client.get(invitation_link, REMOTE_ADDR=GUESSER)
    posted = client.post(invitation_link, {"name": "Nia", "password1": PASSWORD, "password2": PASSWORD},
                         REMOTE_ADDR=GUESSER)
    elsewhere = Client().get(invitation_link, REMOTE_ADDR=NEIGHBOUR)

    for response in (refused, posted):
        page = response.content.decode()
        assert response.status_code == 429
        assert LINKS_REFUSED in page
        assert "Join Acme" not in page and "newcomer@example.com" not in page, "nothing about the link tried"
    assert not User.objects.filter(email="newcomer@example.com").exists()
    assert elsewhere.status_code == 200 and "Join Acme" in elsewhere.content.decode()
    [entry] = AuditEvent.objects.filter(outcome=AuditEvent.Outcome.REFUSED)
    assert (entry.action, entry.actor_id, entry.team_id, entry.ip) == ("invitation.accept", None, None, GUESSER)
    assert entry.detail == ("3 invitation or reset links that don't work were opened from this address; its links "
                            "are refused for 15 minutes.")
    assert "made-up" not in f"{entry.target_label} {entry.detail} {entry.changes}"


def test_links_to_used_revoked_or_expired_invitations_are_not_counted(client, settings, admin, team_a,
                                                                      invitation_link):
    settings.SIGN_IN_ADDRESS_FAILURE_LIMIT = 2
    old = []
    revoked = invitation_create(actor=admin, team=team_a, email="old@example.com", role=Role.VIEWER,
                                link_for=lambda token: old.append(token) or token)
    Invitation.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    for _ in range(3):
        assert client.get(reverse("invitation_accept", args=[old[0]]), REMOTE_ADDR=GUESSER).status_code == 200

    assert client.get(invitation_link, REMOTE_ADDR=GUESSER).status_code == 200


def made_up_reset_links(client, user, times, address=GUESSER):
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    for number in range(times):
        response = client.get(reverse("password_reset_confirm", args=[uid, f"made-up-{number}"]), REMOTE_ADDR=address)
        assert response.status_code == 200
        assert "This reset link does not work" in response.content.decode()


def test_an_address_that_made_up_too_many_reset_links_waits_even_with_a_real_one(client, settings, user):
    settings.SIGN_IN_ADDRESS_FAILURE_LIMIT = 3
    real = reverse("password_reset_confirm", args=[urlsafe_base64_encode(force_bytes(user.pk)),
                                                   default_token_generator.make_token(user)])
    made_up_reset_links(client, user, 3)

    refused = client.get(real, REMOTE_ADDR=GUESSER)
    elsewhere = Client().get(real, REMOTE_ADDR=NEIGHBOUR)

    assert refused.status_code == 429
    assert LINKS_REFUSED in refused.content.decode()
    assert "<h1>Choose a new password</h1>" not in refused.content.decode()
    assert elsewhere.status_code == 302, "another address still follows a real link to the new password form"
    [entry] = AuditEvent.objects.filter(outcome=AuditEvent.Outcome.REFUSED)
    assert (entry.action, entry.actor_id, entry.ip) == ("auth.password.reset", None, GUESSER)
    assert "made-up" not in f"{entry.target_label} {entry.detail}"


def test_invitation_and_reset_links_share_one_count(client, settings, user, invitation_link):
    settings.SIGN_IN_ADDRESS_FAILURE_LIMIT = 2
    made_up_reset_links(client, user, 1)
    made_up_invitations(client, 1)

    assert client.get(invitation_link, REMOTE_ADDR=GUESSER).status_code == 429


# --- Password rules ------------------------------------------------------------------------------


@pytest.mark.parametrize("candidate", ["eleven-char", "password1234", "123456789012"])
def test_short_or_common_passwords_are_refused(candidate):
    with pytest.raises(ValidationError):
        validate_password(candidate)


def test_the_demo_and_test_passwords_meet_the_rules():
    validate_password(DEMO_PASSWORD)
    validate_password(PASSWORD)


def test_the_new_account_form_tells_people_the_rule_before_they_choose():
    assert NewAccountForm().fields["password1"].help_text.startswith("At least 12 characters")


# --- Sessions ------------------------------------------------------------------------------------


def _age_session(client, **ago):
    session = client.session
    for name, delta in ago.items():
        session[name] = (timezone.now() - delta).isoformat()
    session.save()


def test_a_session_idle_for_twelve_hours_ends_and_the_sign_in_page_says_why(signed_in_client):
    _age_session(signed_in_client, seen_at=timedelta(hours=12, minutes=1))

    response = signed_in_client.get(reverse("team_list"), follow=True)

    assert response.redirect_chain[-1][0].startswith(reverse("login"))
    assert "You were signed out after 12 hours without activity; sign in again." in response.content.decode()
    assert "_auth_user_id" not in signed_in_client.session


def test_a_session_used_within_twelve_hours_goes_on_and_is_refreshed(signed_in_client):
    _age_session(signed_in_client, seen_at=timedelta(hours=11))

    assert signed_in_client.get(reverse("team_list")).status_code == 200

    seen = timezone.datetime.fromisoformat(signed_in_client.session["seen_at"])
    assert timezone.now() - seen < timedelta(minutes=1)


def test_a_session_ends_fourteen_days_after_signing_in_however_active(signed_in_client):
    _age_session(signed_in_client, signed_in_at=timedelta(days=14, minutes=1), seen_at=timedelta(minutes=1))

    response = signed_in_client.get(reverse("team_list"), follow=True)

    assert response.redirect_chain[-1][0].startswith(reverse("login"))
    assert "You were signed out 14 days after signing in; sign in again." in response.content.decode()
    assert "_auth_user_id" not in signed_in_client.session


def test_a_recent_visit_does_not_write_the_session_again(signed_in_client):
    _age_session(signed_in_client, seen_at=timedelta(minutes=2))
    before = signed_in_client.session["seen_at"]

    response = signed_in_client.get(reverse("team_list"))

    assert response.status_code == 200
    assert signed_in_client.session["seen_at"] == before
    assert "sessionid" not in response.cookies, "no session write, so no new cookie"
