"""`manage.py watch_servers`: the periodic trigger. Run it every WATCH_EVERY_MINUTES (cron, or the container's
scheduler) on as many machines as you like: the first run in a period enqueues one task per connected server, the
others in the same period say so and enqueue nothing."""

from django.core.management.base import BaseCommand

from streams import watching
from streams.tasks import watch_server


class Command(BaseCommand):
    help = "Enqueue one watch task per connected server, once per WATCH_EVERY_MINUTES period."

    def handle(self, *args, **options) -> None:
        plan = watching.watch_round_start()
        if plan is None:
            self.stdout.write("This period's watch round was already started (by this or another machine); "
                              "nothing enqueued.")
            return
        for server in plan.servers:
            watch_server.enqueue(str(server.pk), plan.watch_round.pk)
        self.stdout.write(f"Enqueued {len(plan.servers)} server(s) to watch for the round of "
                          f"{plan.watch_round.period_start:%Y-%m-%d %H:%M} UTC.")
        for server, outcome in plan.skipped.items():
            self.stdout.write(f"Skipped {server.team.name} / {server.name}: {outcome.label}.")
