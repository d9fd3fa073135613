"""The worker's watch when one server's Postmark hangs: the other servers' tasks go on without it.

The hanging task runs in a thread of its own, which sees only committed data, so Django empties every table
after this module's tests (see `tests.conftest.audit_log_can_be_emptied`).
"""

import socket
import threading

import pytest
from django.db import connection as db_connection

from dashboard.models import Server
from dashboard.services.servers import server_connect
from streams import watching
from streams.models import StreamCopy, WatchRound
from streams.tasks import watch_server
from tests.conftest import SPARE_TOKEN

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("audit_log_can_be_emptied")]


@pytest.fixture
def server_two(sandbox, team_a, owner):
    sandbox.add_server(SPARE_TOKEN, name="Acme Staging")
    return server_connect(actor=owner, team=team_a, name="Acme Staging", token=SPARE_TOKEN, sandbox=True)


class HangingPostmark:
    """A Postmark on loopback that takes every connection and never answers, until released."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connected = threading.Event()
        self.held: list[socket.socket] = []
        self.accepting = threading.Thread(target=self._accept, daemon=True)
        self.accepting.start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # released
            self.held.append(connection)
            self.connected.set()

    def release(self):
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (close alone would not, on Linux)
        self.listener.close()
        for connection in self.held:
            connection.close()
        self.accepting.join(timeout=10)


def test_one_hanging_server_never_delays_the_others(server_a, server_two, settings):
    hanging = HangingPostmark()
    settings.POSTMARK_API_URL = hanging.url
    Server.objects.filter(pk=server_two.pk).update(is_sandbox=False)  # its Postmark is the hanging one
    plan = watching.watch_round_start()
    outcomes = {}

    def watch_the_hanging_one():
        try:
            outcomes["hanging"] = watch_server.call(str(server_two.pk), plan.watch_round.pk)
        finally:
            db_connection.close()

    worker = threading.Thread(target=watch_the_hanging_one)
    worker.start()
    try:
        assert hanging.connected.wait(timeout=10)
        assert watch_server.call(str(server_a.pk), plan.watch_round.pk) == "watched"
        assert StreamCopy.objects.filter(server=server_a).exists() and "hanging" not in outcomes
    finally:
        hanging.release()
        worker.join(timeout=60)

    assert outcomes["hanging"] == "unavailable"
    watch_round = WatchRound.objects.get()
    assert watch_round.done == 2 and watch_round.completed_at is not None
