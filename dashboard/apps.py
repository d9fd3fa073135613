from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Streams Dashboard"

    def ready(self):
        from dashboard import checks, signals  # noqa: F401  (registers the system check and the signal receivers)
