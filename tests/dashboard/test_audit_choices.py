"""What the audit log's filters offer: members then former members, servers then removed servers
(`audit_choices`), in three small queries however long the log."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard.audit_log import audit_choices
from dashboard.models import Membership
from dashboard.services.servers import server_connect, server_remove
from dashboard.services.teams import member_remove
from tests.conftest import SPARE_TOKEN

pytestmark = pytest.mark.django_db


@pytest.fixture
def staging(sandbox, team_a, owner):
    sandbox.add_server(SPARE_TOKEN, name="Acme Staging")
    return server_connect(actor=owner, team=team_a, name="Acme Staging", token=SPARE_TOKEN, sandbox=True)


def test_former_members_and_removed_servers_are_offered_after_the_current_ones(
    owner, admin, editor, viewer, team_a, server_a, staging
):
    member_remove(actor=owner, team=team_a, membership=Membership.objects.get(user=editor, team=team_a))
    member_remove(actor=owner, team=team_a, membership=Membership.objects.get(user=viewer, team=team_a))
    staging_id = str(staging.pk)
    server_remove(actor=owner, team=team_a, server=staging)
    with CaptureQueriesContext(connection) as captured:
        choices = audit_choices(team=team_a)
    assert len(captured) == 3
    assert choices.people == [
        (admin.pk, "Adam Admin (adam@acme.example)"), (owner.pk, "Olivia Owner (olivia@acme.example)"),
        (editor.pk, "edith@acme.example (former member)"), (viewer.pk, "victor@acme.example (former member)"),
    ]
    assert choices.servers == [(str(server_a.pk), "Acme Production"), (staging_id, "Acme Staging (removed)")]
    assert [m.user_id for m in choices.members] == [admin.pk, owner.pk]
