"""A stream archived some days ago, the worker's watch and its reminders run, as the worker runs them."""

from dashboard.models import AuditEvent
from reminders.models import PurgeReminder
from reminders.tasks import send_purge_reminders
from streams.services import stream_archive, stream_create, stream_list
from streams.tasks import watch_server


def archive(sandbox, token, *, actor, team, server, stream_id="news", name="Monthly news", days_ago=0.0):
    """Create and archive a broadcast stream through the dashboard, then move its archive `days_ago` back."""
    stream_list(server=server)  # the server's first copy, which records nothing
    stream_create(actor=actor, team=team, server=server, stream_id=stream_id, name=name, stream_type="Broadcasts")
    stream_archive(actor=actor, team=team, server=server, stream_id=stream_id, confirmation=stream_id)
    if days_ago:
        sandbox.backdate_archive(token, stream_id, days=days_ago)


def watch_and_remind(*servers) -> None:
    """One watch round: each server's task, then the reminders task the round's completion enqueues."""
    for server in servers:
        watch_server.call(str(server.pk))
    send_purge_reminders.call()


def reminders_sent() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="stream.reminder").order_by("id"))


def reminder_rows(**filters) -> list[PurgeReminder]:
    return list(PurgeReminder.objects.filter(**filters).order_by("id"))
