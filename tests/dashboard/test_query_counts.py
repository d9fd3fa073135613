"""The team pages run the same number of queries however many servers and members a team has."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dashboard.models import Membership, Role, User
from dashboard.services.servers import server_connect

pytestmark = pytest.mark.django_db


def _grow(team, owner, sandbox, start, stop):
    for i in range(start, stop):
        token = str(uuid.uuid4())
        sandbox.add_server(token, name=f"Server {i}")
        server_connect(actor=owner, team=team, name=f"Server {i}", token=token, sandbox=True)
        user = User.objects.create_user(email=f"member{i}@{team.slug}.example", password="x")
        Membership.objects.create(team=team, user=user, role=Role.EDITOR)


def _queries(browser, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert browser.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("name", ["team_home", "member_list"])
def test_a_team_page_costs_the_same_queries_for_two_or_twelve_servers_and_members(
    name, owner, team_a, sandbox, client_as, settings
):
    settings.STREAMS_FRESH_SECONDS = 0  # the team's home asks Postmark for every server, every time
    browser = client_as(owner)
    url = reverse(name, kwargs={"team_slug": team_a.slug})
    _grow(team_a, owner, sandbox, 0, 2)
    browser.get(url)  # the session settles on this team first
    small = _queries(browser, url)
    _grow(team_a, owner, sandbox, 2, 12)
    browser.get(url)  # the new servers' first copies
    assert _queries(browser, url) == small
    assert small <= 12
