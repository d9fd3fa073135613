"""Two-factor sign-in required of owners and admins of a team with servers (TWO_FACTOR_REQUIRED), and the
members page telling owners who has it."""

import os
import subprocess
import sys

import pytest
from django.urls import reverse

from dashboard.models import AuditEvent
from tests.dashboard.test_settings import CONFIG_VARIABLES, PRODUCTION, REPO
from tests.dashboard.test_two_factor import app_code, turn_on, verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def required(settings):
    settings.TWO_FACTOR_REQUIRED = True


def _required_under(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in (*CONFIG_VARIABLES, "TWO_FACTOR_REQUIRED")}
    probe = "import django; django.setup(); from django.conf import settings; print(settings.TWO_FACTOR_REQUIRED)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={**clean, "DJANGO_SETTINGS_MODULE": "dashboard.settings", **PRODUCTION, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_requirement_is_on_in_production_off_in_the_demo_and_a_setting_either_way():
    assert _required_under() == "True"
    assert _required_under(DEMO="1") == "False"
    assert _required_under(DEMO="1", TWO_FACTOR_REQUIRED="1") == "True"
    assert _required_under(TWO_FACTOR_REQUIRED="0") == "False"


@pytest.mark.parametrize("persona", ["owner", "admin"])
def test_an_owner_or_admin_of_a_team_with_servers_is_sent_to_set_up_before_anything_else(
    persona, cast, server_a, required, client, password
):
    person = cast[persona]
    client.post(reverse("login"), {"username": person.email, "password": password})
    for name, kwargs in [("home", {}), ("team_list", {}), ("preferences", {}),
                         ("member_list", {"team_slug": server_a.team.slug})]:
        response = client.get(reverse(name, kwargs=kwargs))
        assert response.status_code == 302 and response["Location"] == reverse("two_factor"), name
    page = client.get(reverse("two_factor")).content.decode()
    assert "your account needs two-factor sign-in" in page
    assert "Cancel" not in page
    assert client.post(reverse("logout"))["Location"] == reverse("login")


@pytest.mark.parametrize("persona", ["editor", "viewer", "outsider"])
def test_editors_viewers_and_people_of_other_teams_are_not_asked(persona, cast, server_a, required, client_as):
    assert client_as(cast[persona]).get(reverse("team_list")).status_code == 200


def test_an_owner_of_a_team_without_servers_is_not_asked(owner, team_a, required, client_as):
    assert client_as(owner).get(reverse("team_list")).status_code == 200


def test_nobody_is_asked_while_the_setting_is_off(owner, server_a, client_as):
    assert client_as(owner).get(reverse("team_list")).status_code == 200


def test_setting_it_up_lets_the_owner_carry_on(owner, server_a, required, client_as):
    browser = client_as(owner)
    browser.get(reverse("two_factor"))
    device = owner.totpdevice_set.get()
    response = browser.post(reverse("two_factor_confirm"), {"code": app_code(device)})
    assert response.status_code == 200
    assert browser.get(reverse("team_list")).status_code == 200


def test_an_owner_who_must_use_it_cannot_turn_it_off_and_the_attempt_is_audited(owner, server_a, required, client):
    device, _ = turn_on(owner)
    verified(client, owner)
    page = client.get(reverse("two_factor")).content.decode()
    assert "two-factor sign-in stays on" in page
    response = client.post(reverse("two_factor_turn_off"), {"code": app_code(device, steps_ahead=1)})
    assert response.status_code == 200
    assert "It stays on." in response.content.decode()
    assert owner.totpdevice_set.filter(confirmed=True).exists()
    event = AuditEvent.objects.filter(action="auth.otp.disable").get()
    assert event.outcome == AuditEvent.Outcome.REFUSED


def test_the_owner_sees_who_in_the_team_has_two_factor_sign_in(owner, admin, editor, team_a, client_as):
    turn_on(editor)
    page = client_as(owner).get(reverse("member_list", kwargs={"team_slug": team_a.slug})).content.decode()
    assert "<th scope=\"col\">Two-factor sign-in</th>" in page
    rows = {row.split("</td>")[1].strip().removeprefix("<td>"): row for row in page.split("<tr>")[2:]}
    assert 'badge--calm">On<' in rows[editor.email]
    assert 'badge--warning">Off<' in rows[admin.email]
    assert 'badge--warning">Off<' in rows[owner.email]


@pytest.mark.parametrize("persona", ["admin", "editor", "viewer"])
def test_only_owners_see_the_two_factor_column(persona, cast, team_a, client_as):
    page = client_as(cast[persona]).get(reverse("member_list", kwargs={"team_slug": team_a.slug})).content.decode()
    assert "Two-factor sign-in</th>" not in page
