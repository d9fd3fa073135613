"""Many readers of one stale server at the same moment, in threads of their own: one Postmark call between them.

Threads need committed data, so Django empties every table after this module's tests (see
`tests.conftest.audit_log_can_be_emptied`).
"""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.services.servers import server_connect
from streams.models import StreamCopy
from streams.services import stream_list, team_overview
from tests.conftest import TOKEN_A, at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("audit_log_can_be_emptied")]
READERS = 8


def test_many_readers_of_one_stale_server_make_one_postmark_call(sandbox, team_a, owner, caplog):
    sandbox.add_server(TOKEN_A, name="Acme Production")
    server = server_connect(actor=owner, team=team_a, name="Acme Production", token=TOKEN_A, sandbox=True)
    stream_list(server=server)
    StreamCopy.objects.filter(server=server).update(fetched_at=timezone.now() - timedelta(hours=1))
    sandbox.set_faults(latency=0.3)  # the first reader's call is still out when the others arrive
    caplog.set_level(logging.INFO, logger="dashboard.postmark")
    caplog.clear()
    answers, errors = at_once(lambda: stream_list(server=server), READERS, timeout=20)

    calls = [record for record in caplog.records
             if record.name == "dashboard.postmark" and record.getMessage().startswith("Postmark GET")]
    assert errors == [] and len(answers) == READERS and all(answer.trouble is None for answer in answers)
    assert all(timezone.now() - answer.as_of < timedelta(seconds=10) for answer in answers)
    assert len(calls) == 1


def test_many_overviews_of_stale_servers_make_one_postmark_call_per_server(sandbox, team_a, owner, caplog):
    # Each overview takes the locks of all its stale servers at once (on Redis in one round trip).
    tokens = [TOKEN_A, "aaaaaaaa-0000-4000-8000-00000000b2b2", "aaaaaaaa-0000-4000-8000-00000000c3c3"]
    for number, token in enumerate(tokens):
        sandbox.add_server(token, name=f"Acme {number}")
        server_connect(actor=owner, team=team_a, name=f"Acme {number}", token=token, sandbox=True)
    team_overview(team=team_a)
    StreamCopy.objects.update(fetched_at=timezone.now() - timedelta(hours=1))
    sandbox.set_faults(latency=0.3)
    caplog.set_level(logging.INFO, logger="dashboard.postmark")
    caplog.clear()
    overviews, errors = at_once(lambda: team_overview(team=team_a), READERS, timeout=20)

    calls = [record for record in caplog.records
             if record.name == "dashboard.postmark" and record.getMessage().startswith("Postmark GET")]
    assert errors == [] and len(overviews) == READERS
    assert all(summary.trouble is None and timezone.now() - summary.as_of < timedelta(seconds=10)
               for overview in overviews for summary in overview.servers)
    assert len(calls) == len(tokens)
