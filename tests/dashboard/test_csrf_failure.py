"""A form the CSRF check refuses: the person reads what to do, and the refusal is on record (for someone not
signed in, up to a limit per address)."""

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.audit_log import describe
from dashboard.models import AuditEvent
from tests.csp import csp_violations

pytestmark = pytest.mark.django_db

WORDS = "This form was open too long or came from another site. Go back, reload the page and try again."


def strict_browser(user=None) -> Client:
    browser = Client(enforce_csrf_checks=True)
    if user is not None:
        browser.force_login(user)
    return browser


def test_a_member_whose_form_has_no_valid_token_reads_what_to_do_on_the_sites_own_page(owner, team_a):
    response = strict_browser(owner).post(reverse("member_invite", kwargs={"team_slug": team_a.slug}),
                                          {"email": "new@acme.example", "role": "viewer"})
    assert response.status_code == 403
    page = response.content.decode()
    assert WORDS in page
    assert "Signed in as <strong>olivia@acme.example</strong>" in page  # base.html, not a bare error page
    assert response["Cache-Control"] == "no-store, private"


def test_the_refused_form_of_a_member_is_recorded_in_their_teams_log(owner, team_a):
    path = reverse("member_invite", kwargs={"team_slug": team_a.slug})
    strict_browser(owner).post(path, {"email": "new@acme.example", "role": "viewer"})
    event = AuditEvent.objects.get(action="access.csrf")
    assert (event.team_id, event.actor_id, event.actor_role, event.outcome) == (team_a.pk, owner.pk, "owner", "denied")
    assert (event.target_type, event.target_id) == ("page", path)
    assert event.detail == "The form was open too long or came from another site."
    assert not AuditEvent.objects.filter(action="member.invite").exists()


def test_the_refused_form_of_someone_outside_the_team_is_recorded_under_no_team(outsider, team_a):
    strict_browser(outsider).post(reverse("member_invite", kwargs={"team_slug": team_a.slug}), {})
    event = AuditEvent.objects.get(action="access.csrf")
    assert (event.team_id, event.team_label, event.actor_id, event.actor_role) == (None, "", outsider.pk, "")


def test_a_refused_form_outside_any_team_is_recorded_under_no_team(owner):
    response = strict_browser(owner).post(reverse("team_list"), {"name": "Initech"})
    assert response.status_code == 403
    assert AuditEvent.objects.get(action="access.csrf").team_id is None


def test_the_audit_log_reads_the_refusal_as_a_sentence(client_as, owner, team_a):
    strict_browser(owner).post(reverse("member_invite", kwargs={"team_slug": team_a.slug}), {})
    page = client_as(owner).get(reverse("audit_log", kwargs={"team_slug": team_a.slug})).content.decode()
    assert "tried to send a form (on the page /t/acme/members/invite/) — not allowed: " \
           "The form was open too long or came from another site" in page


def test_a_signed_out_visitors_stale_sign_in_form_gets_the_same_words_and_is_on_the_accounts_record(user, password):
    response = strict_browser().post(reverse("login"), {"username": user.email, "password": password},
                                     REMOTE_ADDR="192.0.2.40")
    assert response.status_code == 403
    assert WORDS in response.content.decode()
    event = AuditEvent.objects.get(action="access.csrf")
    assert (event.actor_id, event.team_id, event.outcome, event.ip) == (None, None, "denied", "192.0.2.40")
    assert (event.target_type, event.target_id, event.account_id) == ("user", str(user.pk), user.pk)
    assert password not in f"{event.detail} {event.changes} {event.target_label} {event.actor_label}"
    assert describe(event, {}).sentence == (
        "Someone tried to send a form — not allowed: The sign-in form for dana@example.com was open too long or came "
        "from another site")


def test_a_signed_out_visitors_other_stale_form_is_on_record_under_the_page(db):
    path = reverse("password_reset")
    strict_browser().post(path, {"email": "nobody@example.com"})
    event = AuditEvent.objects.get(action="access.csrf")
    assert (event.actor_id, event.actor_label, event.target_type, event.target_id) == (None, "", "page", path)


def test_signed_out_refusals_from_one_address_stop_being_recorded_at_the_limit(settings, user, password):
    settings.SIGN_IN_ADDRESS_FAILURE_LIMIT = 3
    for _ in range(5):
        response = strict_browser().post(reverse("login"), {"username": user.email, "password": password},
                                         REMOTE_ADDR="192.0.2.41")
        assert response.status_code == 403 and WORDS in response.content.decode()
    strict_browser().post(reverse("login"), {"username": user.email}, REMOTE_ADDR="192.0.2.42")

    events = list(AuditEvent.objects.filter(action="access.csrf").order_by("chain_seq"))
    assert [event.ip for event in events] == ["192.0.2.41"] * 3 + ["192.0.2.42"]
    assert events[2].detail.endswith("3 such forms from this address: more in the next 15 minutes are refused "
                                     "without an entry.")


def test_an_htmx_form_gets_the_words_as_a_toast_in_the_pages_message_region(owner, team_a):
    response = strict_browser(owner).post(reverse("member_invite", kwargs={"team_slug": team_a.slug}), {},
                                          headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert response["HX-Retarget"] == "#toasts"
    assert response["HX-Reswap"] == "beforeend"
    fragment = response.content.decode()
    assert WORDS in fragment
    assert 'role="alert"' in fragment and "data-toast" in fragment
    assert "<html" not in fragment
    assert AuditEvent.objects.filter(action="access.csrf").count() == 1


def test_a_form_with_its_token_still_goes_through(owner, team_a):
    browser = strict_browser(owner)
    page = browser.get(reverse("team_list")).content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    response = browser.post(reverse("team_list"), {"name": "Initech", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action="access.csrf").exists()


def test_the_refusal_page_holds_nothing_the_policy_would_block(owner, team_a):
    response = strict_browser(owner).post(reverse("team_list"), {"name": "Initech"})
    assert csp_violations(response.content.decode()) == []
