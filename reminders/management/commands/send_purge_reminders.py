"""`manage.py send_purge_reminders`: note and e-mail the purge reminders due now, from each server's last-known
copy, as the worker does after every watch round. Safe to run at any time, on any number of machines at once."""

from django.core.management.base import BaseCommand

from dashboard import audit
from reminders import services


class Command(BaseCommand):
    help = "E-mail the purge reminders that are due now (the worker does this after every watch round)."

    def handle(self, *args, **options) -> None:
        with audit.context(user_agent="send_purge_reminders"):
            services.reminders_note()
            sent = services.reminders_send()
        self.stdout.write(f"Sent {sent} purge reminder e-mail(s).")
