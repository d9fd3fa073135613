"""The purge reminder page of a team (`t/<team_slug>/reminders/`): who receives them. Owners only."""

from django.urls import path

from reminders import views

urlpatterns = [
    path("", views.team_reminders, name="team_reminders"),
]
