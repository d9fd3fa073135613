"""Background work for purge reminders. A task only names what to do; the logic is in `reminders.services`."""

from django_tasks import task

from dashboard import audit
from reminders import services


@task()
def send_purge_reminders() -> int:
    """Note the reminders every server's copy makes due, then e-mail them; how many e-mails went out."""
    with audit.context(user_agent="reminders worker"):
        services.reminders_note()
        return services.reminders_send()
