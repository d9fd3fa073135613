"""Every error answer carries the same protective headers as a page: a page that says "not found" can be framed
or sniffed as easily as any other."""

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def assert_protected(response):
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("redirect_to_https", [False, True], ids=["plain", "redirecting-to-https"])
def test_a_request_for_a_foreign_host_is_refused_with_the_protective_headers(settings, redirect_to_https):
    settings.SECURE_SSL_REDIRECT = redirect_to_https
    response = Client().get("/accounts/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert "That request could not be read" in response.content.decode()
    assert_protected(response)


def test_a_member_refused_for_their_role_gets_the_protective_headers(client_as, viewer, team_a):
    response = client_as(viewer).get(reverse("audit_log", kwargs={"team_slug": team_a.slug}))
    assert response.status_code == 403
    assert "You don't have access to do that" in response.content.decode()
    assert_protected(response)


def test_a_refused_form_gets_the_protective_headers(owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    response = browser.post(reverse("team_list"), {"name": "Initech"})
    assert response.status_code == 403
    assert_protected(response)


@pytest.mark.parametrize("signed_in", [False, True])
def test_an_unknown_address_gets_the_protective_headers(client_as, owner, signed_in):
    response = client_as(owner if signed_in else None).get("/no-such-page/")
    assert response.status_code == 404 if signed_in else 302  # signed out: to the sign-in page first
    assert_protected(response)


def test_a_missing_team_gets_the_protective_headers(client_as, outsider, team_a):
    response = client_as(outsider).get(reverse("member_list", kwargs={"team_slug": team_a.slug}))
    assert response.status_code == 404
    assert "We can't find that page" in response.content.decode()
    assert "Signed in as <strong>oscar@globex.example</strong>" in response.content.decode()  # with the site header
    assert_protected(response)


@pytest.mark.urls("tests.dashboard.error_urls")
def test_a_fault_on_our_side_is_answered_with_the_protective_headers():
    response = Client(raise_request_exception=False).get("/broken/")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()
    assert_protected(response)
