"""Every stream page while Postmark is in trouble: a banner that says what happened, never a 500, and a page
that still leads somewhere (the team's navigation and the way back to the server's streams)."""

import html
import re

import pytest
from django.urls import reverse

from dashboard.models import Server
from dashboard.postmark.sandbox import Sandbox, install
from tests.conftest import TOKEN_A

pytestmark = pytest.mark.django_db

STREAM = "broadcast"
# page -> (URL name, whether it is about one server, whether it is about one stream)
PAGES = {
    "team_home": (False, False),
    "stream_list": (True, False),
    "stream_detail": (True, True),
    "stream_create": (True, False),
    "stream_edit": (True, True),
    "stream_archive": (True, True),
}
BUSY = ("Postmark is busy.", "Postmark asked us to slow down. Wait a few seconds and try again.")
NOT_ANSWERING = ("Postmark isn't answering.", "Postmark isn't answering for Acme Production right now")
# fault -> (sandbox faults, what the banner says)
FAULTS = {
    "429": ({"status": 429}, BUSY),
    "500": ({"status": 500}, NOT_ANSWERING),
    "503": ({"status": 503}, NOT_ANSWERING),
    "502 html": ({"status": 502, "body": "html"}, NOT_ANSWERING),
    "503 empty": ({"status": 503, "body": "empty"}, NOT_ANSWERING),
    "hang": ({"hang": True}, NOT_ANSWERING),
}


def url_of(name, team, server):
    about_server, about_stream = PAGES[name]
    args = [team.slug] + ([server.pk] if about_server else []) + ([STREAM] if about_stream else [])
    return reverse(name, args=args)


def text_of(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def banners(response) -> list[str]:
    return re.findall(r'data-trouble="([a-z_]+)"', response.content.decode())


def assert_navigation(response, name, team, server):
    """The team's navigation, and from a server's page the way back to its streams (or from there, home)."""
    content = response.content.decode()
    assert re.search(r'<nav class="team-nav" aria-label="Acme">', content)
    assert f'href="{reverse("member_list", args=[team.slug])}"' in content
    if name == "stream_list":
        assert f'href="{reverse("team_home", args=[team.slug])}"' in content
    elif PAGES[name][0]:
        assert f'href="{reverse("stream_list", args=[team.slug, server.pk])}' in content


@pytest.fixture
def slow_postmark_times_out(settings):
    settings.POSTMARK_READ_TIMEOUT = 0.3


@pytest.fixture
def postmark_forgets_the_token(sandbox):
    """Postmark after the token of Acme Production was deleted there: a Postmark that never heard of it."""
    previous = install(Sandbox())
    yield
    install(previous)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", PAGES)
def test_each_page_explains_postmark_s_trouble_and_stays_usable(name, fault, editor, team_a, server_a, sandbox,
                                                                 client_as, slow_postmark_times_out):
    faults, (heading, words) = FAULTS[fault]
    browser = client_as(editor)
    sandbox.set_faults(**faults)

    response = browser.get(url_of(name, team_a, server_a))

    assert response.status_code == 200
    text = text_of(response)
    assert heading in text and words in text
    assert banners(response) == ["rate_limited" if fault == "429" else "unavailable"]
    assert_navigation(response, name, team_a, server_a)
    assert "Token rejected" not in text
    assert TOKEN_A not in response.content.decode()


@pytest.mark.parametrize("fault", ["429", "503", "hang"])
def test_the_filtered_table_explains_postmark_s_trouble_when_htmx_swaps_it(fault, viewer, team_a, server_a, sandbox,
                                                                           client_as, slow_postmark_times_out):
    faults, (heading, words) = FAULTS[fault]
    sandbox.set_faults(**faults)

    response = client_as(viewer).get(url_of("stream_list", team_a, server_a) + "?type=broadcasts&q=news",
                                     HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert heading in text_of(response) and words in text_of(response)


@pytest.mark.parametrize("name", PAGES)
def test_when_postmark_answers_again_the_banner_is_gone(name, editor, team_a, server_a, sandbox, client_as):
    sandbox.set_faults(status=503, times=3)  # one GET and its two retries
    browser = client_as(editor)
    assert banners(browser.get(url_of(name, team_a, server_a))) == ["unavailable"]

    response = browser.get(url_of(name, team_a, server_a))

    assert response.status_code == 200
    assert banners(response) == []


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("persona, may_replace", [("owner", True), ("admin", True), ("editor", False)])
def test_a_rejected_token_is_named_and_only_admins_are_offered_to_replace_it(name, persona, may_replace, cast, team_a,
                                                                            server_a, client_as,
                                                                            postmark_forgets_the_token):
    response = client_as(cast[persona]).get(url_of(name, team_a, server_a))

    assert response.status_code == 200
    text = text_of(response)
    assert "Token rejected" in text
    assert "Postmark rejected the token of Acme Production" in text
    replace_url = reverse("server_token", args=[team_a.slug, server_a.pk])
    assert (f'href="{replace_url}"' in response.content.decode()) == may_replace
    if not may_replace:
        assert "admin" in text.split("Token rejected", 1)[1]  # who can fix it
    assert_navigation(response, name, team_a, server_a)
    assert Server.objects.get(pk=server_a.pk).token_rejected_at is not None
    assert TOKEN_A not in response.content.decode()


@pytest.mark.parametrize("name", ["team_home", "stream_list", "stream_detail"])
def test_a_viewer_sees_a_rejected_token_and_who_can_fix_it(name, viewer, team_a, server_a, client_as,
                                                          postmark_forgets_the_token):
    response = client_as(viewer).get(url_of(name, team_a, server_a))

    assert response.status_code == 200
    assert "Token rejected" in text_of(response)
    assert reverse("server_token", args=[team_a.slug, server_a.pk]) not in response.content.decode()


@pytest.mark.parametrize("name", PAGES)
def test_an_unreadable_token_is_named_on_every_page(name, admin, team_a, server_a, client_as):
    Server.objects.filter(pk=server_a.pk).update(token_ciphertext="v1.test2.bm90LWEtdG9rZW4")

    response = client_as(admin).get(url_of(name, team_a, server_a))

    assert response.status_code == 200
    assert "can't be read with this installation's keys" in text_of(response)
    assert f'href="{reverse("server_token", args=[team_a.slug, server_a.pk])}"' in response.content.decode()
    assert_navigation(response, name, team_a, server_a)
