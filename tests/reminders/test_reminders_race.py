"""Two workers running the reminders at the same moment send each e-mail once.

On SQLite the workers are two processes on one database file, as two machines' workers would share it (the
suite's own in-memory SQLite locks whole tables between threads, which no deployment does). On PostgreSQL,
when DATABASE_URL points at it, they are two threads with connections of their own; those see only committed
data, so Django empties every table after this module's tests (see `tests.conftest.audit_log_can_be_emptied`).
"""


import pytest
from django.core import mail
from django.db import connection

from reminders.models import PurgeReminder
from reminders.tasks import send_purge_reminders
from streams.tasks import watch_server
from tests.conftest import TOKEN_A, at_once
from tests.reminders.helpers import archive, reminders_sent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("audit_log_can_be_emptied")]
WORKERS = 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="threads on PostgreSQL; SQLite is raced below")
def test_two_workers_racing_send_one_e_mail_per_person(sandbox, team_a, owner, editor, server_a):
    archive(sandbox, TOKEN_A, actor=editor, team=team_a, server=server_a, days_ago=38)
    watch_server.call(str(server_a.pk))
    mail.outbox = []
    _, failures = at_once(send_purge_reminders.call, WORKERS)

    assert failures == []
    assert sorted(message.to[0] for message in mail.outbox) == ["edith@acme.example", "olivia@acme.example"]
    assert PurgeReminder.objects.get().status == PurgeReminder.Status.SENT
    assert len(reminders_sent()) == 1
