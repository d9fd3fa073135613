"""A person's own purge reminder settings (`accounts/reminders/`), where each e-mail's List-Unsubscribe points."""

from django.urls import path

from reminders import views

urlpatterns = [
    path("", views.reminder_settings, name="reminder_settings"),
    path("change/", views.reminder_settings_change, name="reminder_settings_change"),
]
