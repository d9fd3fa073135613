from django.apps import AppConfig


class RemindersConfig(AppConfig):
    name = "reminders"
    verbose_name = "Purge reminders"

    def ready(self):
        from reminders import signals  # noqa: F401  (sends the reminders once a watch round has seen every server)
