import pytest
from django.urls import reverse

from dashboard.models import AuditEvent

pytestmark = pytest.mark.django_db

# An ordinary address that happens to hold a UUID, the shape of a Postmark server token.
UUID_ADDRESS = "d35b732e-0000-4000-8000-000000000000@example.com"


def test_the_home_page_sends_a_stranger_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_sign_in_page_asks_for_an_email_address_and_a_password(client):
    response = client.get(reverse("login"))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'type="email"' in page
    assert 'type="password"' in page
    assert "Sign in" in page


def test_signing_in_by_email_in_any_case_opens_the_home_page(client, user, password):
    response = client.post(reverse("login"), {"username": "DANA@example.com", "password": password}, follow=True)
    # Dana is in no team yet, so the start page leads on to the team list.
    assert response.redirect_chain == [(reverse("home"), 302), (reverse("team_list"), 302)]
    assert "Signed in as <strong>dana@example.com</strong>" in response.content.decode()


def test_a_wrong_password_is_explained_without_saying_which_part_was_wrong(client, user):
    response = client.post(reverse("login"), {"username": "dana@example.com", "password": "nope"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "do not match an account" in page
    assert "_auth_user_id" not in client.session


def test_a_wrong_password_for_an_address_holding_a_uuid_is_explained_and_recorded(client, make_user):
    person = make_user(UUID_ADDRESS)

    response = client.post(reverse("login"), {"username": UUID_ADDRESS, "password": "nope"})

    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()
    event = AuditEvent.objects.get(action="auth.login.failure")
    assert (event.outcome, event.actor_label, event.target_id, event.target_label) == (
        "refused", UUID_ADDRESS, str(person.pk), UUID_ADDRESS)


def test_an_account_whose_address_holds_a_uuid_signs_in_and_it_is_recorded(client, make_user, password):
    person = make_user(UUID_ADDRESS)

    response = client.post(reverse("login"), {"username": UUID_ADDRESS, "password": password})

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(person.pk)
    event = AuditEvent.objects.get(action="auth.login.success")
    assert (event.actor_id, event.target_label) == (person.pk, UUID_ADDRESS)


def test_signing_out_is_a_post_and_ends_the_session(signed_in_client):
    assert signed_in_client.get(reverse("logout")).status_code == 405
    response = signed_in_client.post(reverse("logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in signed_in_client.session


def test_the_health_check_answers_without_signing_in(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.content == b"ok\n"
