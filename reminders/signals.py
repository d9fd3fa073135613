"""Reminders are sent once a watch round has refreshed every server's copy, so a digest sees all of a team's
servers at once (and a purge the round just noticed)."""

from django.dispatch import receiver

from streams.watching import round_completed


@receiver(round_completed, dispatch_uid="reminders.send_after_watch_round")
def send_after_watch_round(sender, watch_round, **kwargs) -> None:
    from reminders.tasks import send_purge_reminders

    send_purge_reminders.enqueue()
