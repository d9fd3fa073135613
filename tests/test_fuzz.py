"""No 500 for anything a person or Postmark sends (issue 15): every URL of the URLConf, with generated input.

Each URL gets its path filled with team A's real objects or made-up ones, then a GET with a generated query
string and a POST with generated form data, built from the field names the view's forms and the page declare
plus junk, as a persona Hypothesis picks, while the sandbox plays Postmark well or in trouble. Any 5xx fails,
and so does a marker sent in the input coming back unescaped in a page. Hypothesis is derandomized and keeps no
example database, so every CI run sends the same requests; the budget per URL is small on purpose (the role
matrix in tests/dashboard/test_access.py already sends every persona to every team URL), and a list of values
that are hard for a form is always in the draw.
"""

import inspect
import os
import re
import sys
import uuid
from html.parser import HTMLParser

import pytest
from django import forms
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.test import Client, override_settings
from django.urls import get_resolver, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dashboard.models import Membership, Role
from dashboard.postmark.sandbox import FAULT_BODIES, FAULT_STATUSES
from dashboard.services.invitations import invitation_create
from tests.conftest import SPARE_TOKEN, TOKEN_A
from tests.dashboard.test_access import _walk

pytestmark = pytest.mark.django_db

MARKER = "<x-fuzz>"
# Generated requests per URL; `FUZZ_EXAMPLES=200 pytest tests/test_fuzz.py` digs deeper by hand.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
ROUTES = sorted(((route, pattern) for route, pattern in _walk(get_resolver().url_patterns)), key=lambda r: r[0])
PERSONAS = ["anonymous", "outsider", "viewer", "editor", "admin", "owner"]
# Values that have broken or nearly broken a page before, or that sit at a field's edges.
HARD_VALUES = [
    "", " ", "0", "-1", "1", "31", "100000", "99999999999999999999", "1e309", "NaN", "true", "on",
    "owner", "admin", "editor", "viewer", "Owner", "broadcast", "outbound", "inbound", "Broadcasts", "None",
    "..", "../", "%", "%00", "/", "?next=/", "//evil.example/", "https://evil.example/",
    TOKEN_A, SPARE_TOKEN, f"token {SPARE_TOKEN.upper()}", "d35b732e-0000-4000-8000-000000000000@example.com",
    "a@b.c", "olivia@acme.example", "victor@acme.example", "someone@example.com, other@example.com",
    "2026-02-30", "9999-12-31", "0001-01-01", "2026-12-03", "Europe/Berlin", "Not/AZone",
    "x" * 5000, "é" * 300, "\u202eevil", "a\x00b", MARKER, f'"><{MARKER[1:]}', f"'{MARKER}", f"{MARKER}@example.com",
]
JUNK_FIELDS = ["junk", "csrfmiddlewaretoken", "__proto__", "id", "team", "role[]", ""]


class _FieldNames(HTMLParser):
    """The names of a page's inputs, selects and textareas, and of its links' query parameters."""

    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in {"input", "select", "textarea", "button"} and attrs.get("name"):
            self.names.add(attrs["name"])
        for key in ("href", "hx-get", "action"):
            self.names.update(re.findall(r"[?&]([A-Za-z_][\w-]*)=", attrs.get(key) or ""))


def _declared_field_names(view) -> set[str]:
    """The fields of every Form the view's module uses, and the keys it reads from request.GET/POST itself."""
    module = sys.modules[inspect.unwrap(view).__module__]
    names: set[str] = set()
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, forms.BaseForm):
            names.update(value.base_fields)
    source = inspect.getsource(module)
    names.update(re.findall(r"request\.(?:GET|POST)\.get(?:list)?\([\"'](\w+)", source))
    return names


@pytest.fixture
def world(cast, team_a, team_b, server_a, server_b, owner, viewer, sandbox):
    """Real path arguments of team A, and made-up ones of the same shapes."""
    links = []
    invitation = invitation_create(actor=owner, team=team_a, email="new-a@example.com", role=Role.VIEWER,
                                   link_for=lambda token: links.append(token) or token)
    real = {
        "team_slug": team_a.slug, "member_id": Membership.objects.get(team=team_a, user=viewer).pk,
        "invitation_id": invitation.pk, "server_id": server_a.pk, "stream_id": "broadcast", "token": links[0],
        "uidb64": urlsafe_base64_encode(force_bytes(owner.pk)), "password_reset_token": default_token_generator
        .make_token(owner),
    }
    # Two of each: an ordinary one, and one at an edge (too big for the database, team B's, the longest allowed).
    made_up = {"team_slug": ["no-such-team", team_b.slug], "member_id": [987654, 10**20],
               "invitation_id": [987654, 10**20], "server_id": [uuid.uuid4(), server_b.pk],
               "stream_id": ["no-such-stream", "A" + "b" * 99], "token": ["not-a-real-token", "x" * 300],
               "uidb64": ["MTIzNDU2", "A" * 40], "password_reset_token": ["set-password", "0-0"]}
    return {"cast": cast, "real": real, "made_up": made_up, "sandbox": sandbox}


def _path_args(route: str) -> list[str]:
    return re.findall(r"<(?:\w+:)?(\w+)>", route)


def _fill(name: str, route: str, choices: list[int], world) -> str:
    """Choice 0 is team A's real object for that argument, 1 and 2 the made-up ones."""
    kwargs = {}
    for arg, choice in zip(_path_args(route), choices, strict=True):
        key = "password_reset_token" if arg == "token" and "uidb64" in route else arg
        kwargs[arg] = world["real"][key] if choice == 0 else world["made_up"][key][choice - 1]
    return reverse(name, kwargs=kwargs)


def _field_names(pattern, url: str, owner_browser: Client) -> list[str]:
    names = _declared_field_names(pattern.callback)
    page = owner_browser.get(url)
    if page.status_code == 200 and page["Content-Type"].startswith("text/html"):
        parser = _FieldNames()
        parser.feed(page.content.decode())
        names |= parser.names
    names.discard("csrfmiddlewaretoken")
    return sorted(names) + JUNK_FIELDS


# Postmark's trouble, as the sandbox plays it: none most of the time, else an error status with each kind of body.
postmark_trouble = st.one_of(st.none(), st.none(), st.fixed_dictionaries(
    {"status": st.sampled_from(FAULT_STATUSES), "body": st.sampled_from(FAULT_BODIES)}))

values = st.one_of(
    st.sampled_from(HARD_VALUES),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12).map(lambda s: f"{s}{MARKER}"),
)


def _form(names: list[str]):
    return st.dictionaries(st.sampled_from(names), st.one_of(values, st.lists(values, min_size=1, max_size=3)),
                           max_size=len(names))


def _problem(persona: str, method: str, url: str, response) -> str | None:
    if response.status_code >= 500:
        return f"{persona} {method} {url} answered {response.status_code}"
    html = response.get("Content-Type", "").startswith("text/html")
    if html and MARKER.encode() in response.content:
        return f"{persona} {method} {url} shows {MARKER} unescaped"
    return None


def _send(browser: Client, method: str, url: str, data: dict, htmx: bool):
    headers = {"HX-Request": "true"} if htmx else {}
    if method == "get":
        return browser.get(url, data, headers=headers)
    return browser.post(url, data, headers=headers)


@pytest.mark.parametrize(("route", "pattern"), ROUTES, ids=[r for r, _ in ROUTES])
def test_no_page_answers_a_person_with_a_server_error_or_shows_their_input_unescaped(route, pattern, world,
                                                                                     client_as):
    owner_browser = client_as(world["cast"]["owner"])
    args = len(_path_args(route))
    real_names = _field_names(pattern, _fill(pattern.name, route, [0] * args, world), owner_browser)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(persona=st.sampled_from(PERSONAS), path=st.lists(st.integers(0, 2), min_size=args, max_size=args),
           query=_form(real_names), data=_form(real_names), htmx=st.booleans(), trouble=postmark_trouble)
    @example(persona="owner", path=[0] * args, query={}, data={}, htmx=False, trouble=None)  # always sent
    def a_person_sends(persona, path, query, data, htmx, trouble):
        url = _fill(pattern.name, route, path, world)
        browser = client_as(world["cast"][persona])
        world["sandbox"].set_faults(**(trouble or {}))
        try:
            with transaction.atomic():  # what one example changes (a removed member, a renamed server) is undone
                problems = [_problem(persona, method, url, _send(browser, method, url, sent, htmx))
                            for method, sent in (("get", query), ("post", data))]
                transaction.set_rollback(True)
        finally:
            world["sandbox"].clear_faults()
        assert [p for p in problems if p] == [], f"Postmark's trouble: {trouble}"

    a_person_sends()


class _Answer(dict):
    def __init__(self, status_code, content_type, content):
        super().__init__({"Content-Type": content_type})
        self.status_code, self.content = status_code, content


def test_the_fuzzer_notices_a_server_error_and_a_marker_shown_unescaped_but_not_an_escaped_one():
    assert _problem("owner", "post", "/x/", _Answer(500, "text/html", b"")) == "owner post /x/ answered 500"
    assert _problem("viewer", "get", "/x/", _Answer(200, "text/html; charset=utf-8", b"<p><x-fuzz></p>")) == (
        "viewer get /x/ shows <x-fuzz> unescaped")
    assert _problem("viewer", "get", "/x/", _Answer(200, "text/html", b"<p>&lt;x-fuzz&gt;</p>")) is None
    assert _problem("viewer", "get", "/x.csv", _Answer(200, "text/csv", b"<x-fuzz>")) is None


# --- Headers and the time-zone cookie --------------------------------------------------------------------
# What a browser or a proxy sends besides the form: the request id a proxy passes on, the Host, the languages,
# the browser's name (kept in the audit log, shown on its page), the visitor's address (read with one proxy
# trusted) and the zone the page's script reports in the `tz` cookie.

HEADER_PAGES = [("login", False), ("home", False), ("team_home", True), ("member_list", True),
                ("preferences", False), ("stream_list", True), ("audit_log", True)]
HOSTS = ["testserver", "TESTSERVER", "testserver:80", "testserver.", "testserver:99999", "evil.example",
         "testserver@evil.example", "[::1]", "", "a" * 300, MARKER, f"testserver/{MARKER}"]
HARD_HEADER_VALUES = [
    "", " ", "-", "a" * 65, "a" * 5000, "0", "../..", "%00", "é" * 40, "\t", MARKER, f'"><{MARKER[1:]}',
    "0123456789abcdef0123456789abcdef", "req-1.2_3", "en-US,en;q=0.9", "*", "de-DE;q=abc", "x" * 300 + ";q=1",
    "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0", "203.0.113.7", "203.0.113.7, 10.0.0.1", "::1", "unknown",
    "999.999.999.999", "[::1]:80", TOKEN_A,
]
ZONES = ["Europe/Berlin", "Europe%2FBerlin", "America/New_York", "UTC", "Etc/GMT+14", "Etc/GMT+99", "Not/AZone",
         "../../etc/passwd", "%ZZ", "%", "US/Eastern", "localtime", "posixrules", "Europe/Berlin\x00", MARKER,
         "x" * 4000, ""]
# Header values as a server hands them over: one line of Latin-1 text.
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_categories=("Cc",)),
                      max_size=40)
header_values = st.one_of(st.sampled_from(HARD_HEADER_VALUES), header_text, header_text.map(lambda s: s + MARKER))


@pytest.mark.parametrize(("name", "in_team"), HEADER_PAGES, ids=[name for name, _ in HEADER_PAGES])
def test_odd_headers_and_time_zone_cookies_never_break_a_page_or_come_back_unescaped(name, in_team, world,
                                                                                     client_as):
    kwargs = {"team_slug": world["real"]["team_slug"]} if in_team else {}
    if name == "stream_list":
        kwargs["server_id"] = world["real"]["server_id"]
    url = reverse(name, kwargs=kwargs)
    audit_url = reverse("audit_log", args=[world["real"]["team_slug"]])

    @settings(max_examples=max(EXAMPLES, 10), deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(persona=st.sampled_from(PERSONAS), host=st.sampled_from(HOSTS), request_id=header_values,
           language=header_values, user_agent=header_values, forwarded_for=header_values,
           zone=st.one_of(st.sampled_from(ZONES), header_text), htmx=st.booleans())
    # Always sent: a marker in every place at once, by a member and by an outsider (whose visit to a team page is
    # recorded in that team's log, with the browser's name and request id the owner's audit log page shows).
    @example(persona="owner", host="testserver", request_id=MARKER, language=MARKER, user_agent=MARKER,
             forwarded_for=MARKER, zone=MARKER, htmx=False)
    @example(persona="outsider", host="testserver", request_id=MARKER, language=MARKER, user_agent=MARKER,
             forwarded_for=MARKER, zone=MARKER, htmx=False)
    def a_browser_sends(persona, host, request_id, language, user_agent, forwarded_for, zone, htmx):
        browser = client_as(world["cast"][persona])
        browser.cookies["tz"] = zone
        headers = {"X-Request-ID": request_id, "Accept-Language": language, "User-Agent": user_agent,
                   "X-Forwarded-For": forwarded_for}
        if htmx:
            headers["HX-Request"] = "true"
        with transaction.atomic(), override_settings(NUM_PROXIES=1):
            response = browser.get(url, headers=headers, HTTP_HOST=host)
            # What the request left in the audit log (a denied page, its browser and request id) is shown escaped.
            log = client_as(world["cast"]["owner"]).get(audit_url)
            transaction.set_rollback(True)
        problems = [_problem(persona, "get", f"{url} (Host {host!r})", response),
                    _problem("owner", "get", f"{audit_url} after {persona}'s request", log)]
        assert [problem for problem in problems if problem] == []
        if request_id and "X-Request-ID" in response:
            assert response["X-Request-ID"] != request_id, "the request id is ours, never the one sent"

    a_browser_sends()
