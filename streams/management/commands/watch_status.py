"""`manage.py watch_status`: when the worker last completed a watch round, and which servers it could not watch.
Exits 1 when no round completed within three periods, so a monitor can run it."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from streams import watching


class Command(BaseCommand):
    help = "Say when the worker last completed a watch round of every server; exit 1 when it is overdue."

    def handle(self, *args, **options) -> None:
        status = watching.watch_status()
        done = status.last_completed
        if done is None:
            self.stdout.write("No watch round has completed yet.")
        else:
            minutes = int((timezone.now() - done.completed_at).total_seconds() // 60)
            self.stdout.write(f"Last watch round completed at {done.completed_at:%Y-%m-%d %H:%M:%S} UTC "
                              f"({minutes} minute(s) ago): {done.expected} server(s) watched, {done.skipped} skipped.")
        latest = status.latest
        if latest is not None and latest.completed_at is None:
            self.stdout.write(f"The round of {latest.period_start:%Y-%m-%d %H:%M} UTC is running: "
                              f"{latest.done} of {latest.expected} server(s) done.")
        for watch in status.troubled:
            self.stdout.write(f"{watch.server.team.name} / {watch.server.name}: {watch.get_last_outcome_display()}.")
        if status.overdue():
            raise CommandError(f"No watch round completed in the last {3 * watching.watch_period()}: is "
                               "`manage.py watch_servers` run every WATCH_EVERY_MINUTES, and a worker running?")
