"""The worker's watch: one task per connected server, once per period, and what each kind of trouble does to it."""

import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from dashboard.models import AuditEvent, Server
from dashboard.postmark.client import SANDBOX_URL, PostmarkClient
from dashboard.postmark.sandbox import Sandbox, install
from dashboard.services.servers import server_connect, server_replace_token
from streams import watching
from streams.models import ServerWatch, StreamCopy, WatchRound
from streams.tasks import watch_server
from tests.conftest import SPARE_TOKEN, TOKEN_A

pytestmark = pytest.mark.django_db
IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def server_two(sandbox, team_a, owner):
    sandbox.add_server(SPARE_TOKEN, name="Acme Staging")
    return server_connect(actor=owner, team=team_a, name="Acme Staging", token=SPARE_TOKEN, sandbox=True)


def run(command: str, *args) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def status() -> str:
    """What `watch_status` prints, whether or not it then says the watch is overdue."""
    out = StringIO()
    try:
        call_command("watch_status", stdout=out)
    except CommandError as overdue:
        out.write(str(overdue))
    return out.getvalue()


def test_the_trigger_enqueues_one_task_per_connected_server_once_per_period(server_a, server_two, server_b):
    first = run("watch_servers")
    second = run("watch_servers")

    queued = DBTaskResult.objects.all()
    assert sorted(task.args_kwargs["args"][0] for task in queued) == sorted(
        str(server.pk) for server in (server_a, server_two, server_b))
    assert {task.task_path for task in queued} == {"streams.tasks.watch_server"}
    assert "Enqueued 3 server(s)" in first
    assert "already started" in second
    assert WatchRound.objects.count() == 1


def test_two_instances_in_the_same_period_open_one_round():
    start = watching.period_start(timezone.now())

    assert watching.watch_round_start(now=start) is not None
    assert watching.watch_round_start(now=start + timedelta(seconds=30)) is None
    assert watching.watch_round_start(now=start + watching.watch_period()) is not None


def test_the_database_worker_watches_every_server_and_the_round_completes(server_a, server_two, monkeypatch):
    # Between tasks the worker closes stale connections; here that would end the test's own transaction.
    monkeypatch.setattr("django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None)
    run("watch_servers")
    run("db_worker", "--batch", "--no-startup-delay", "--verbosity", "0")

    assert StreamCopy.objects.filter(server__in=[server_a, server_two]).count() == 2
    assert all(result.status == "SUCCESSFUL" for result in DBTaskResult.objects.all())
    watch_round = WatchRound.objects.get()
    assert (watch_round.expected, watch_round.done) == (2, 2) and watch_round.completed_at is not None
    assert "Last watch round completed at" in run("watch_status")


def test_a_change_made_in_postmark_reaches_the_audit_log_with_nobody_looking(server_a):
    watch_server.call(str(server_a.pk))  # the first copy records nothing
    PostmarkClient(TOKEN_A, base_url=SANDBOX_URL).create_stream(id="news", name="News", stream_type="Broadcasts")

    assert watch_server.call(str(server_a.pk)) == "watched"

    event = AuditEvent.objects.get(action="stream.outside.create")
    assert event.target_id == f"{server_a.pk}/news" and event.request_id
    assert ServerWatch.objects.get(server=server_a).last_watched_at is not None


def test_a_server_whose_token_postmark_rejects_is_marked_and_skipped_until_an_admin_replaces_it(
        server_a, server_two, sandbox, owner, team_a):
    forgetful = Sandbox()  # a Postmark where Acme Production's token was deleted
    forgetful.add_server(SPARE_TOKEN, name="Acme Staging")
    install(forgetful)
    try:
        assert watch_server.call(str(server_a.pk)) == "token_rejected"
    finally:
        install(sandbox)
    server_a.refresh_from_db()
    assert server_a.token_rejected_at is not None

    plan = watching.watch_round_start()
    assert plan.servers == [server_two] and plan.skipped == {server_a: ServerWatch.Outcome.TOKEN_REJECTED}
    assert "Acme Production: Postmark rejects the token" in status()

    server_replace_token(actor=owner, team=team_a, server=server_a, token=TOKEN_A)
    plan = watching.watch_round_start(now=timezone.now() + watching.watch_period())
    assert server_a in plan.servers


def test_a_server_whose_token_cannot_be_read_is_skipped_without_asking_postmark(server_a, sandbox):
    Server.objects.filter(pk=server_a.pk).update(token_ciphertext="v1.test2.bm90LWEtdG9rZW4")
    sandbox.received.clear()

    plan = watching.watch_round_start()

    assert plan.servers == [] and plan.skipped == {server_a: ServerWatch.Outcome.TOKEN_UNREADABLE}
    assert plan.watch_round.completed_at is not None  # nothing to wait for
    assert watch_server.call(str(server_a.pk)) == "token_unreadable"
    assert sandbox.received == []


def test_postmark_s_429_backs_the_server_off_for_a_period_then_twice_as_long(server_a, server_two, sandbox):
    sandbox.set_faults(status=429, times=3)  # the client's first try and both retries
    before = timezone.now()

    assert watch_server.call(str(server_a.pk)) == "rate_limited"

    watch = ServerWatch.objects.get(server=server_a)
    assert watch.back_off_until - before >= watching.watch_period()
    plan = watching.watch_round_start()
    assert plan.servers == [server_two] and plan.skipped == {server_a: ServerWatch.Outcome.RATE_LIMITED}

    sandbox.set_faults(status=429, times=3)
    watch_server.call(str(server_a.pk))
    watch.refresh_from_db()
    assert watch.back_off_until - timezone.now() > watching.watch_period() * 1.9
    assert watch_server.call(str(server_a.pk)) == "watched"
    watch.refresh_from_db()
    assert watch.back_off_until is None and watch.rate_limited_in_a_row == 0


def test_when_postmark_is_down_the_round_still_completes_and_the_next_one_tries_again(
        server_a, server_two, sandbox, settings):
    settings.TASKS = IMMEDIATE
    sandbox.set_faults(status=503, times=3)  # Acme Production is watched first: it gets all three 503s

    run("watch_servers")

    watch_round = WatchRound.objects.get()
    assert watch_round.completed_at is not None and watch_round.done == 2
    assert ServerWatch.objects.get(server=server_a).last_outcome == "unavailable"
    assert ServerWatch.objects.get(server=server_two).last_outcome == "watched"
    assert "Acme Production: Postmark didn't answer" in status()
    assert server_a in watching.watch_round_start(now=timezone.now() + watching.watch_period()).servers


def test_watch_status_fails_when_no_round_completed_lately(server_a):
    with pytest.raises(CommandError, match="No watch round completed"):
        run("watch_status")
    WatchRound.objects.create(period_start=timezone.now() - timedelta(hours=2), started_at=timezone.now(),
                              completed_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(CommandError):
        run("watch_status")


def test_another_task_backend_is_chosen_by_setting_only(server_a, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    from django_tasks import default_task_backend

    run("watch_servers")

    assert [result.args for result in default_task_backend.results] == [[str(server_a.pk), WatchRound.objects.get().pk]]
    assert not DBTaskResult.objects.exists()
    chosen = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django_tasks import task_backends; "
                               "print(type(task_backends['default']).__module__)"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "dashboard.settings",
             "TASKS_BACKEND": "django_tasks.backends.dummy.DummyBackend"},
        capture_output=True, text=True, check=True)
    assert chosen.stdout.strip() == "django_tasks.backends.dummy"

