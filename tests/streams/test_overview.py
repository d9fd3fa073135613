"""The team's home: each server's streams counted by type, its stream slots, its token, and the archived
streams of every server in the order Postmark will delete them; one Postmark call per server, side by side."""

import html
import logging
import re
import time
import uuid

import pytest
from django.urls import reverse

from dashboard.models import Server
from dashboard.postmark.client import SANDBOX_URL, PostmarkClient
from dashboard.postmark.sandbox import Sandbox, install
from dashboard.services.servers import server_connect
from tests.conftest import TOKEN_A
from tests.csp import csp_violations

pytestmark = pytest.mark.django_db

STAGING_TOKEN = "eeeeeeee-0000-4000-8000-00000000e5e5"
HOME = reverse("team_home", args=["acme"])


def text(response_or_html) -> str:
    markup = response_or_html if isinstance(response_or_html, str) else response_or_html.content.decode()
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def card(response, server) -> str:
    """The server's card on the overview, as markup."""
    found = re.search(rf'<article class="card server-card"[^>]*data-server="{server.pk}">.*?</article>',
                      response.content.decode(), re.S)
    assert found, f"no card for {server.name}"
    return found.group(0)


def purging(response) -> str:
    found = re.search(r"<section [^>]*data-purging>.*?</section>", response.content.decode(), re.S)
    assert found, "no purging panel"
    return found.group(0)


def purging_rows(response) -> list[str]:
    return re.findall(r'<tr data-stream="([^"]+)"', purging(response))


def postmark(token: str = TOKEN_A) -> PostmarkClient:
    return PostmarkClient(token, base_url=SANDBOX_URL)


@pytest.fixture
def staging(sandbox, team_a, owner):
    sandbox.add_server(STAGING_TOKEN, name="Acme Staging")
    return server_connect(actor=owner, team=team_a, name="Acme Staging", token=STAGING_TOKEN, sandbox=True)


@pytest.fixture
def archived(sandbox, server_a, staging):
    """Streams archived on both servers, each at a different point of its 45 days."""
    production, stage = postmark(TOKEN_A), postmark(STAGING_TOKEN)
    for client, stream_id, name in [(production, "spring-sale", "Spring sale"),
                                    (production, "old-receipts", "Old receipts"),
                                    (stage, "test-news", "Test newsletter")]:
        client.create_stream(id=stream_id, name=name, stream_type="Broadcasts")
        client.archive_stream(stream_id)
    production.create_stream(id="welcome", name="Welcome mails", stream_type="Transactional")
    sandbox.backdate_archive(TOKEN_A, "spring-sale", days=10.52)      # 34 days, 11 hours left
    sandbox.backdate_archive(TOKEN_A, "old-receipts", days=43.52)     # 1 day, 11 hours left
    sandbox.backdate_archive(STAGING_TOKEN, "test-news", days=35.52)  # 9 days, 11 hours left


# --- Each server ------------------------------------------------------------------------------------


def test_each_server_shows_its_streams_by_type_and_its_slots(client_as, viewer, server_a, staging, archived):
    response = client_as(viewer).get(HOME)
    production, stage = text(card(response, server_a)), text(card(response, staging))

    assert response.status_code == 200
    assert "Transactional 2 Broadcasts 1 Inbound 1 Archived 2" in production
    assert "6 of 10 stream slots used" in production
    assert "Transactional 1 Broadcasts 1 Inbound 1 Archived 1" in stage
    assert "4 of 10 stream slots used" in stage
    assert ("Archived streams keep their slot until Postmark deletes them. 10 is Postmark's usual limit per server; "
            "Postmark support can raise it.") in production
    assert csp_violations(response.content.decode()) == []


def test_each_server_links_to_its_streams_and_its_settings(client_as, viewer, server_a):
    markup = card(client_as(viewer).get(HOME), server_a)
    assert f'href="{reverse("stream_list", args=["acme", server_a.pk])}">See its streams</a>' in markup
    assert f'href="{reverse("server_detail", args=["acme", server_a.pk])}">Server settings</a>' in markup
    assert f'<span class="mono">{server_a.postmark_server_id}</span>' in markup
    assert '<span class="mono">••••a1a1</span>' in markup
    assert '<span class="badge">Sandbox</span>' in markup


def test_a_raised_limit_is_shown_without_calling_it_postmarks_usual_one(client_as, viewer, server_a):
    Server.objects.filter(pk=server_a.pk).update(stream_limit=25)
    markup = text(card(client_as(viewer).get(HOME), server_a))
    assert "3 of 25 stream slots used" in markup
    assert "usual limit" not in markup


def test_a_full_server_says_it_has_no_free_slots(client_as, viewer, server_a):
    Server.objects.filter(pk=server_a.pk).update(stream_limit=3)
    assert "3 of 3 stream slots used No free slots" in text(card(client_as(viewer).get(HOME), server_a))


def test_the_page_keeps_the_team_facts_of_the_old_home(client_as, admin, viewer, server_a):
    admin_page = client_as(admin).get(HOME).content.decode()
    assert "3 members · " in text(admin_page)  # owner, admin and viewer
    assert f'href="{reverse("member_list", args=["acme"])}">See members</a>' in admin_page
    assert f'href="{reverse("server_connect", args=["acme"])}">Connect a server</a>' in admin_page
    assert "Connect a server" not in client_as(viewer).get(HOME).content.decode()


# --- Purging soon ----------------------------------------------------------------------------------


def test_purging_soon_lists_archived_streams_of_every_server_soonest_first(client_as, viewer, server_a, staging,
                                                                         archived):
    response = client_as(viewer).get(HOME)
    panel = purging(response)

    assert purging_rows(response) == ["old-receipts", "test-news", "spring-sale"]
    rows = [text(found) for found in re.findall(r"<tr data-stream=.*?</tr>", panel, re.S)]
    assert rows[0].startswith(
        "Old receipts old-receipts Acme Production Urgent: purging within 7 days 1 day, 11 hours left")
    assert rows[1].startswith("Test newsletter test-news Acme Staging Purging within 2 weeks 9 days, 11 hours left")
    assert rows[2].startswith("Spring sale spring-sale Acme Production Can be restored 34 days, 11 hours left")
    assert "Postmark deletes it on" in rows[0]
    detail = reverse("stream_detail", args=["acme", staging.pk, "test-news"])
    assert f'<a href="{detail}">Test newsletter</a>' in panel
    assert "welcome" not in purging_rows(response)


def test_purging_soon_says_what_it_is_for_when_nothing_is_archived(client_as, viewer, server_a):
    assert ("No archived streams. When someone archives a stream, it appears here with the time left before "
            "Postmark deletes it.") in text(purging(client_as(viewer).get(HOME)))


@pytest.mark.parametrize("persona,offered", [("viewer", False), ("editor", True), ("owner", True)])
def test_only_editors_and_up_are_offered_restore(client_as, cast, server_a, staging, archived, persona, offered):
    panel = purging(client_as(cast[persona]).get(HOME))
    restore = reverse("stream_restore", args=["acme", server_a.pk, "spring-sale"])
    assert (f'<form method="post" action="{restore}"' in panel) is offered
    assert ("Restore" in text(panel)) is offered


def test_the_restore_form_works_without_javascript_and_comes_back_here(client_as, editor, server_a, staging,
                                                                       archived):
    panel = purging(client_as(editor).get(HOME))
    form = re.search(r'<form method="post" action="[^"]+/test-news/restore/".*?</form>', panel, re.S).group(0)
    assert 'name="csrfmiddlewaretoken"' in form
    assert '<input type="hidden" name="next" value="/t/acme/">' in form


# --- Tokens and trouble --------------------------------------------------------------------------------


@pytest.mark.parametrize("persona,fix", [("admin", "Replace the token"),
                                         ("viewer", "Postmark no longer accepts it: ask an admin to replace it.")])
def test_a_rejected_token_is_marked_on_its_server_while_the_others_still_show(client_as, cast, server_a, staging,
                                                                              persona, fix):
    forgetful = Sandbox()  # Postmark still knows Acme Staging's token, but not Acme Production's any more
    forgetful.add_server(STAGING_TOKEN, name="Acme Staging")
    previous = install(forgetful)
    try:
        response = client_as(cast[persona]).get(HOME)
    finally:
        install(previous)
    broken, healthy = card(response, server_a), card(response, staging)

    assert response.status_code == 200
    assert 'data-trouble="token_rejected"' in broken
    assert "Token rejected. Postmark rejected the token of Acme Production" in text(broken)
    assert '<span class="badge badge--danger">Token rejected</span>' in broken
    assert fix in text(broken)
    token_page = reverse("server_token", args=["acme", server_a.pk])
    assert (f'href="{token_page}">Replace the token</a>' in broken) is (persona == "admin")
    assert "stream slots used" not in text(broken)
    assert "3 of 10 stream slots used" in text(healthy) and "data-trouble" not in healthy
    assert Server.objects.get(pk=server_a.pk).token_rejected_at is not None
    assert "Archived streams of Acme Production can't be listed until Postmark answers for it" in text(
        purging(response))
    assert "No archived streams on the other servers." in text(purging(response))


def test_a_token_that_works_again_loses_its_rejected_mark(client_as, viewer, server_a):
    Server.objects.filter(pk=server_a.pk).update(token_rejected_at="2026-01-01T00:00:00Z")
    response = client_as(viewer).get(HOME)
    assert "Token rejected" not in text(card(response, server_a))
    assert Server.objects.get(pk=server_a.pk).token_rejected_at is None


TROUBLE = {
    "429": ({"status": 429}, "rate_limited", "Postmark is busy. Postmark asked us to slow down."),
    "500": ({"status": 500}, "unavailable", "Postmark isn't answering. Postmark isn't answering for Acme Production"),
    "503": ({"status": 503}, "unavailable", "Postmark isn't answering. Postmark isn't answering for Acme Production"),
    "502 html": ({"status": 502, "body": "html"}, "unavailable", "Postmark isn't answering for Acme Production"),
    "hang": ({"hang": True}, "unavailable", "Postmark isn't answering for Acme Production right now"),
}


@pytest.mark.parametrize("fault", TROUBLE, ids=list(TROUBLE))
def test_postmark_trouble_shows_in_each_servers_card_and_the_page_stays_usable(client_as, viewer, server_a, staging,
                                                                               sandbox, settings, fault):
    settings.POSTMARK_READ_TIMEOUT = 0.3
    faults, kind, words = TROUBLE[fault]
    sandbox.set_faults(**faults)
    response = client_as(viewer).get(HOME)

    assert response.status_code == 200
    for server in (server_a, staging):
        markup = card(response, server)
        assert f'data-trouble="{kind}"' in markup
        assert '<a href="/t/acme/">Try again</a>' in markup
        assert f'href="{reverse("stream_list", args=["acme", server.pk])}">See its streams</a>' in markup
    assert words in text(card(response, server_a))
    panel = text(purging(response))
    assert "Archived streams of Acme Production and Acme Staging can't be listed until Postmark answers" in panel
    assert "No archived streams" not in panel


def test_an_unreadable_token_shows_on_its_server_only(client_as, viewer, server_a, staging):
    Server.objects.filter(pk=staging.pk).update(token_ciphertext=server_a.token_ciphertext)
    response = client_as(viewer).get(HOME)
    broken = card(response, staging)
    assert '<span class="badge badge--danger">Token unreadable, re-enter it</span>' in broken
    assert 'data-trouble="token_unreadable"' in broken
    assert "Ask an admin to re-enter it." in text(broken)
    assert "3 of 10 stream slots used" in text(card(response, server_a))


# --- Speed ----------------------------------------------------------------------------------------------


def _more_servers(sandbox, team, owner, count):
    for i in range(count):
        token = str(uuid.uuid4())
        sandbox.add_server(token, name=f"Server {i}")
        server_connect(actor=owner, team=team, name=f"Server {i}", token=token, sandbox=True)


def test_the_page_asks_postmark_once_per_server(client_as, viewer, owner, team_a, server_a, sandbox, caplog):
    _more_servers(sandbox, team_a, owner, 2)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="dashboard.postmark"):
        assert client_as(viewer).get(HOME).status_code == 200
    calls = [record for record in caplog.records
             if record.name == "dashboard.postmark" and "Postmark GET" in record.getMessage()]
    assert len(calls) == 3


def test_servers_are_asked_side_by_side(client_as, viewer, owner, team_a, server_a, sandbox):
    _more_servers(sandbox, team_a, owner, 3)
    browser = client_as(viewer)
    browser.get(HOME)
    sandbox.set_faults(latency=0.5)
    started = time.monotonic()
    response = browser.get(HOME)
    elapsed = time.monotonic() - started
    assert text(response).count("stream slots used") == 4
    assert elapsed < 1.5  # one after the other would take 2 seconds


def test_the_page_costs_the_same_queries_for_one_or_five_servers(client_as, viewer, owner, team_a, server_a,
                                                                 sandbox, django_assert_max_num_queries, settings):
    settings.STREAMS_FRESH_SECONDS = 0  # every visit asks Postmark for every server and updates their copies
    browser = client_as(viewer)
    browser.get(HOME)
    with django_assert_max_num_queries(12) as one:
        assert text(browser.get(HOME)).count("stream slots used") == 1
    _more_servers(sandbox, team_a, owner, 4)
    browser.get(HOME)  # the new servers' first copies
    with django_assert_max_num_queries(12) as five:
        assert text(browser.get(HOME)).count("stream slots used") == 5
    assert len(five.captured_queries) == len(one.captured_queries)
