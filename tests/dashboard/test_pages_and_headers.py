import re

import pytest
from django.urls import reverse

from tests.csp import csp_violations

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: " ".join(part.split()[1:]) for part in header.split(";") if part.strip()}


def test_every_page_carries_a_policy_that_forbids_inline_script_and_eval(client):
    policy = directives(client.get(reverse("login")))
    assert policy["script-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in " ".join(policy.values())
    assert "unsafe-eval" not in " ".join(policy.values())


@pytest.mark.parametrize("url", ["/teams/", "/accounts/login/", "/accounts/password/", "/no-such-page/"])
def test_pages_hold_nothing_the_policy_would_block(signed_in_client, url):
    page = signed_in_client.get(url).content.decode()
    assert csp_violations(page) == []


TEAM_PAGES = ["team_home", "team_leave", "team_delete", "member_list", "server_connect", "server_detail",
              "server_token", "server_remove", "member_remove"]


@pytest.mark.parametrize("name", TEAM_PAGES)
def test_team_pages_hold_nothing_the_policy_would_block(name, owner, viewer, team_a, server_a, client_as):
    kwargs = {"team_slug": team_a.slug}
    if name.startswith("server_") and name != "server_connect":
        kwargs["server_id"] = server_a.pk
    if name == "member_remove":
        kwargs["member_id"] = viewer.memberships.get().pk
    response = client_as(owner).get(reverse(name, kwargs=kwargs))
    assert response.status_code == 200
    assert csp_violations(response.content.decode()) == []


def test_the_policy_checker_itself_spots_inline_script_and_handlers():
    page = '<script>alert(1)</script><a href="#" onclick="x()">x</a><p style="color:red">'
    assert len(csp_violations(page)) == 3


def test_htmx_is_vendored_and_configured_without_eval_or_injected_styles(client):
    page = client.get(reverse("login")).content.decode()
    config = re.search(r'<meta name="htmx-config" content=\'([^\']*)\'', page).group(1)
    assert '"allowEval": false' in config
    assert '"includeIndicatorStyles": false' in config
    # htmx would otherwise copy an element's style attribute across a swap, which the CSP blocks.
    assert '"attributesToSettle": ["class", "width", "height"]' in config
    script = re.search(r'<script src="(/static/js/htmx\.min\.[0-9a-f]{12}\.js)"', page)
    assert script, "htmx is served from our own static files under a hashed name"
    body = client.get(script.group(1))
    assert body.status_code == 200
    assert b'version:"2.' in b"".join(body.streaming_content)


def test_static_files_are_served_compressed_with_long_cache_lifetimes(client):
    page = client.get(reverse("login")).content.decode()
    css = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page).group(1)
    response = client.get(css, headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "immutable" in response["Cache-Control"]


def test_csrf_token_is_sent_once_for_every_htmx_request(signed_in_client):
    page = signed_in_client.get(reverse("team_list")).content.decode()
    assert re.search(r'<body hx-headers=\'\{"X-CSRFToken": "[A-Za-z0-9]+"\}\'>', page)


def test_an_unknown_address_shows_a_plain_not_found_page(signed_in_client):
    response = signed_in_client.get("/no-such-page/")
    assert response.status_code == 404
    assert "We can't find that page" in response.content.decode()


def test_pages_refuse_to_be_framed_and_sniffed(client):
    response = client.get(reverse("login"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_production_sends_plain_http_to_https_but_not_the_health_check(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get(reverse("login"))["Location"].startswith("https://")
    assert client.get(reverse("healthz")).status_code == 200
    assert client.get(reverse("login"), headers={"x-forwarded-proto": "https"}).status_code == 200
