"""A server token someone types where it doesn't belong (the sign-in address, a team's name, an invitation's
address) is refused in words or masked, never stored in full, and never a 500."""

import pytest

from dashboard.models import AuditEvent, Team
from tests.conftest import PASSWORD, TOKEN_A

pytestmark = pytest.mark.django_db


def test_a_token_typed_as_the_sign_in_address_is_a_failed_sign_in_recorded_with_the_token_masked(client, server_a):
    answer = client.post("/accounts/login/", {"username": f"{TOKEN_A}@example.com", "password": PASSWORD})

    assert answer.status_code == 200 and "Sign in" in answer.content.decode()  # the person's own typing comes back
    failure = AuditEvent.objects.get(action="auth.login.failure")
    assert failure.actor_label == f"••••{TOKEN_A[-4:]}@example.com"
    assert TOKEN_A not in failure.target_label


def test_a_token_as_a_teams_name_is_refused_in_words(client_as, owner, server_a):
    answer = client_as(owner).post("/teams/", {"name": f"Team {TOKEN_A}"})

    assert answer.status_code in (200, 422)
    assert "looks like a Postmark server token" in answer.content.decode()
    assert not Team.objects.filter(name__contains=TOKEN_A).exists()
    assert not AuditEvent.objects.filter(target_label__contains=TOKEN_A).exists()


def test_a_token_as_an_invitations_address_is_refused_in_words(client_as, owner, team_a, server_a):
    answer = client_as(owner).post(f"/t/{team_a.slug}/members/invite/",
                                   {"email": f"{TOKEN_A}@example.com", "role": "viewer"})

    assert answer.status_code in (200, 422)
    assert "looks like a Postmark server token" in answer.content.decode()
    assert not AuditEvent.objects.filter(target_label__contains=TOKEN_A).exists()
