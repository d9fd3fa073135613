"""A server token never comes back out: not in a page, a header, a URL, a log line, an audit entry, a
session, a stored row or an SQL statement, whatever path a person takes through the server pages.

Each test drives real requests through the test client, with every logger at DEBUG and SQL captured,
then searches everything an operator or a visitor could see for each token, with and without hyphens.
"""

import json
import logging
import re

import pytest
from django.contrib.sessions.models import Session
from django.core import serializers
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dashboard.models import AuditEvent, Server
from dashboard.postmark.sandbox import Sandbox, install
from dashboard.services.servers import server_connect
from tests.conftest import SPARE_TOKEN, TOKEN_A, TOKEN_B

pytestmark = pytest.mark.django_db

NEW_TOKEN = "dddddddd-0000-4000-8000-00000000d4d4"
TOKENS = (TOKEN_A, TOKEN_B, SPARE_TOKEN, NEW_TOKEN)
NEEDLES = tuple(form.lower() for token in TOKENS for form in (token, token.replace("-", "")))
HTMX = {"HTTP_HX_REQUEST": "true"}


class Witness:
    """Sends requests like a browser (following redirects) and keeps every answer to search later."""

    def __init__(self, caplog):
        self.caplog = caplog
        self.exchanges: list[tuple[str, object]] = []
        self.queries = None

    def send(self, browser, method: str, url: str, data: dict | None = None, *, htmx: bool = False):
        headers = HTMX if htmx else {}
        response = getattr(browser, method)(url, data or {}, **headers)
        self.exchanges.append((f"{method.upper()} {url}", response))
        for _ in range(5):
            if response.status_code not in (301, 302, 303):
                break
            location = response["Location"]
            response = browser.get(location, **headers)
            self.exchanges.append((f"GET {location}", response))
        return response

    def log_records(self) -> list[logging.LogRecord]:
        # caplog.records holds only the current phase's; the witness is read in its fixture's teardown.
        return [record for when in ("setup", "call", "teardown") for record in self.caplog.get_records(when)]

    def places_holding_a_token(self) -> list[str]:
        found: list[str] = []

        def look(where: str, text: str) -> None:
            lowered = text.lower()
            if any(needle in lowered for needle in NEEDLES):
                found.append(where)

        for label, response in self.exchanges:
            look(f"{label}: its URL", label)
            look(f"{label}: the page", response.content.decode(errors="replace"))
            for header, value in response.items():
                look(f"{label}: header {header}", f"{header}: {value}")
            look(f"{label}: cookies", response.cookies.output())
        for record in self.log_records():
            look(f"a log line of {record.name}", self.caplog.handler.format(record))
        look("the audit log", serializers.serialize("json", AuditEvent.objects.all()))
        look("the stored servers", serializers.serialize("json", Server.objects.all()))
        for session in Session.objects.all():
            look("a session", json.dumps(session.get_decoded(), default=str))
        for query in self.queries or []:
            look("an SQL statement", query["sql"])
        return found


@pytest.fixture
def witness(caplog):
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    seen = Witness(caplog)
    with CaptureQueriesContext(connection) as queries:
        seen.queries = queries.captured_queries
        yield seen
    assert seen.exchanges, "the test sent no request"
    assert seen.places_holding_a_token() == []


def url(name, team, server=None):
    return reverse(name, args=[team.slug] if server is None else [team.slug, server.pk])


def token_inputs(response) -> list[str]:
    return re.findall(r"<input[^>]*name=\"token\"[^>]*>", response.content.decode())


def assert_form_came_back_without_the_token(response):
    assert response.status_code == 200
    inputs = token_inputs(response)
    assert len(inputs) == 1
    assert 'type="password"' in inputs[0]
    assert "value=" not in inputs[0]


@pytest.fixture
def token_renewed_in_postmark(sandbox, server_a):
    """Postmark after a new token (NEW_TOKEN) was made for server_a's server and the old one deleted."""
    renewed = Sandbox()
    previous = install(renewed)
    assert renewed.add_server(NEW_TOKEN, name="Acme Production") == server_a.postmark_server_id
    yield renewed
    install(previous)


# --- The witness itself ---------------------------------------------------------------------------


def test_the_witness_finds_a_token_wherever_it_leaks(caplog, admin, team_a, client_as):
    caplog.set_level(logging.DEBUG)
    witness = Witness(caplog)
    witness.send(client_as(admin), "get", url("team_home", team_a) + f"?q={TOKEN_A.replace('-', '')}")
    logging.getLogger("dashboard.anything").debug("token %s", SPARE_TOKEN.upper())

    found = witness.places_holding_a_token()

    assert any(place.endswith("its URL") for place in found)
    assert "a log line of dashboard.anything" in found


# --- Connecting -----------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_connecting_a_server_never_shows_its_token(htmx, witness, admin, team_a, server_b, sandbox, client_as):
    sandbox.add_server(SPARE_TOKEN, name="Acme Marketing")
    browser = client_as(admin)

    witness.send(browser, "get", url("server_connect", team_a), htmx=htmx)
    landed = witness.send(browser, "post", url("server_connect", team_a),
                          {"name": "Acme Marketing", "token": SPARE_TOKEN, "sandbox": "on"}, htmx=htmx)

    assert landed.status_code == 200
    assert "••••c3c3" in landed.content.decode()
    assert Server.objects.filter(team=team_a, name="Acme Marketing").exists()


def _unknown_to_postmark(sandbox, server_a):
    return {"name": "Acme Marketing", "token": SPARE_TOKEN}


def _postmark_unavailable(sandbox, server_a):
    sandbox.add_server(SPARE_TOKEN)
    sandbox.set_faults(status=503, times=5)
    return {"name": "Acme Marketing", "token": SPARE_TOKEN}


def _postmark_slowing_us_down(sandbox, server_a):
    sandbox.add_server(SPARE_TOKEN)
    sandbox.set_faults(status=429, times=5)
    return {"name": "Acme Marketing", "token": SPARE_TOKEN}


def _already_connected(sandbox, server_a):
    return {"name": "Acme again", "token": TOKEN_A}


def _same_postmark_server(sandbox, server_a):
    Server.objects.filter(pk=server_a.pk).update(postmark_server_id=sandbox.add_server(SPARE_TOKEN))
    return {"name": "Acme Production 2", "token": SPARE_TOKEN}


def _token_as_the_name(sandbox, server_a):
    sandbox.add_server(SPARE_TOKEN)
    return {"name": SPARE_TOKEN, "token": SPARE_TOKEN}


def _token_without_hyphens_as_the_name(sandbox, server_a):
    sandbox.add_server(SPARE_TOKEN)
    return {"name": f"Server {SPARE_TOKEN.replace('-', '').upper()}", "token": SPARE_TOKEN}


def _no_name(sandbox, server_a):
    sandbox.add_server(SPARE_TOKEN)
    return {"name": "  ", "token": SPARE_TOKEN}


def _too_long(sandbox, server_a):
    return {"name": "Acme Marketing", "token": SPARE_TOKEN * 6}


def _not_token_shaped(sandbox, server_a):
    return {"name": "Acme Marketing", "token": f"{SPARE_TOKEN} {TOKEN_B}"}


REFUSALS = [_unknown_to_postmark, _postmark_unavailable, _postmark_slowing_us_down, _already_connected,
            _same_postmark_server, _token_as_the_name, _token_without_hyphens_as_the_name, _no_name, _too_long,
            _not_token_shaped]


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("refusal", REFUSALS, ids=[refusal.__name__.strip("_") for refusal in REFUSALS])
def test_a_refused_connection_never_shows_the_token_not_even_in_the_form(refusal, htmx, witness, admin, team_a,
                                                                        server_a, sandbox, client_as):
    data = {**refusal(sandbox, server_a), "sandbox": "on"}

    response = witness.send(client_as(admin), "post", url("server_connect", team_a), data, htmx=htmx)

    assert_form_came_back_without_the_token(response)
    assert list(Server.objects.filter(team=team_a)) == [server_a]


@pytest.mark.parametrize("persona", ["viewer", "editor"])
def test_a_member_without_the_role_who_posts_a_token_sees_no_token(persona, witness, cast, team_a, sandbox, client_as):
    sandbox.add_server(SPARE_TOKEN)

    response = witness.send(client_as(cast[persona]), "post", url("server_connect", team_a),
                            {"name": "Acme Marketing", "token": SPARE_TOKEN, "sandbox": "on"})

    assert response.status_code == 403
    assert not Server.objects.exists()


# --- Looking at servers ---------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_no_page_about_servers_shows_a_token(htmx, witness, cast, team_a, team_b, server_a, server_b, sandbox,
                                            client_as):
    sandbox.add_server(SPARE_TOKEN)
    unreadable = server_connect(actor=cast["owner"], team=team_a, name="Acme Broken", token=SPARE_TOKEN, sandbox=True)
    Server.objects.filter(pk=unreadable.pk).update(token_ciphertext=server_a.token_ciphertext)

    for persona in ("viewer", "editor", "admin", "owner"):
        browser = client_as(cast[persona])
        for page in (url("team_home", team_a), url("server_detail", team_a, server_a),
                     url("server_detail", team_a, unreadable)):
            assert witness.send(browser, "get", page, htmx=htmx).status_code == 200
    admin = client_as(cast["admin"])
    for name in ("server_token", "server_remove"):
        for server in (server_a, unreadable):
            assert witness.send(admin, "get", url(name, team_a, server), htmx=htmx).status_code == 200
    assert witness.send(client_as(cast["outsider"]), "get", url("team_home", team_b),
                        htmx=htmx).status_code == 200
    assert witness.send(client_as(cast["outsider"]), "get", url("server_detail", team_b, server_b),
                        htmx=htmx).status_code == 200


# --- Replacing a token ----------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_replacing_a_token_never_shows_the_old_or_the_new_one(htmx, witness, admin, team_a, server_a,
                                                              token_renewed_in_postmark, client_as):
    browser = client_as(admin)

    witness.send(browser, "get", url("server_token", team_a, server_a), htmx=htmx)
    landed = witness.send(browser, "post", url("server_token", team_a, server_a), {"token": NEW_TOKEN}, htmx=htmx)

    assert landed.status_code == 200
    server_a.refresh_from_db()
    assert server_a.masked_token == "••••d4d4"


def _another_servers_token(sandbox, team_a, admin):
    sandbox.add_server(SPARE_TOKEN)
    return SPARE_TOKEN


def _a_token_postmark_does_not_know(sandbox, team_a, admin):
    return SPARE_TOKEN


def _postmark_down_for_the_new_token(sandbox, team_a, admin):
    sandbox.set_faults(status=503, times=5)
    return TOKEN_A


def _a_token_another_server_of_the_team_uses(sandbox, team_a, admin):
    sandbox.add_server(SPARE_TOKEN)
    server_connect(actor=admin, team=team_a, name="Acme Marketing", token=SPARE_TOKEN, sandbox=True)
    return SPARE_TOKEN


def _a_pasted_paragraph(sandbox, team_a, admin):
    return f"token: {SPARE_TOKEN}"


REPLACE_REFUSALS = [_another_servers_token, _a_token_postmark_does_not_know, _postmark_down_for_the_new_token,
                    _a_token_another_server_of_the_team_uses, _a_pasted_paragraph]


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("refusal", REPLACE_REFUSALS, ids=[refusal.__name__.strip("_") for refusal in REPLACE_REFUSALS])
def test_a_refused_replacement_never_shows_either_token(refusal, htmx, witness, admin, team_a, server_a, sandbox,
                                                        client_as):
    token = refusal(sandbox, team_a, admin)

    response = witness.send(client_as(admin), "post", url("server_token", team_a, server_a), {"token": token},
                            htmx=htmx)

    assert_form_came_back_without_the_token(response)
    server_a.refresh_from_db()
    assert server_a.masked_token == "••••a1a1"


# --- Renaming and removing ------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_renaming_and_removing_a_server_never_show_its_token(htmx, witness, admin, team_a, server_a, client_as):
    browser = client_as(admin)

    witness.send(browser, "post", url("server_rename", team_a, server_a), {"name": "Acme Live"}, htmx=htmx)
    refused = witness.send(browser, "post", url("server_rename", team_a, server_a), {"name": TOKEN_A}, htmx=htmx)
    assert "That looks like a server token, not a name." in refused.content.decode()
    witness.send(browser, "get", url("server_remove", team_a, server_a), htmx=htmx)
    gone = witness.send(browser, "post", url("server_remove", team_a, server_a), htmx=htmx)

    assert gone.status_code == 200
    assert not Server.objects.exists()
    # The refused rename is on record too, without the token (the audit log refuses to hold one).
    assert AuditEvent.objects.filter(action__in=["server.rename", "server.remove"]).count() == 3
