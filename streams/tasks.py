"""Background work on the streams, run by the tasks framework's worker (`manage.py db_worker` on the embedded
default). A task only names what to do; the logic is in the services it calls."""

from django_tasks import task

from streams import watching


@task()
def watch_server(server_id: str, round_id: int | None = None) -> str:
    """Refresh one server's last-known copy from Postmark, so outside changes and purges reach the audit log."""
    return watching.server_watch(server_id=server_id, round_id=round_id)
