"""The audit log names a refused page as people know it, not by its address."""

import pytest
from django.urls import reverse

from dashboard.audit_log import sentence
from dashboard.models import AuditEvent
from dashboard.page_names import page_name


@pytest.mark.parametrize(
    ("name", "args", "words"),
    [
        ("stream_create", ["{server}"], "New stream on Acme Production"),
        ("stream_archive", ["{server}", "billing"], "the page to archive stream billing on Acme Production"),
        ("server_token", ["{server}"], "the page to replace the token of Acme Production"),
        ("server_connect", [], "the page to connect a server"),
        ("audit_log", [], "the audit log"),
    ],
)
def test_a_page_is_named_by_what_it_is_for_and_the_server_it_belongs_to(team_a, server_a, name, args, words):
    path = reverse(name, args=["acme", *[server_a.pk if arg == "{server}" else arg for arg in args]])

    assert page_name(path, team=team_a) == words


def test_a_server_of_another_team_is_not_named_and_an_unknown_address_keeps_its_path_without_ids(
    team_a, team_b, server_b
):
    other = reverse("stream_create", args=["acme", server_b.pk])

    assert page_name(other, team=team_a) == "New stream on a server no longer in the team"
    assert page_name(f"/t/acme/servers/{server_b.pk}/nowhere/", team=team_a) == "/t/acme/servers/…/nowhere/"


def test_a_viewer_refused_a_new_stream_page_reads_as_that_page_in_the_audit_log(client_as, viewer, team_a, server_a):
    path = reverse("stream_create", args=["acme", server_a.pk])
    assert client_as(viewer).get(path).status_code == 403
    event = AuditEvent.objects.get(action="access.denied")

    assert event.target_id == path
    assert sentence(event, {viewer.pk: "Victor Viewer"}) == (
        "Victor Viewer (viewer) tried to open New stream on Acme Production — not allowed: Needs the Editor role "
        "or higher"
    )
