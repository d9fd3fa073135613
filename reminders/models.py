"""Purge reminders: which e-mail each archive of a stream is owed, whether it went out, and who turned them off.

Written only by `reminders.services`.
"""

from django.db import models
from django.utils import timezone


class PurgeReminder(models.Model):
    """One reminder about one archive of one stream at one threshold, sent at most once (the unique constraint)
    to every member of the team with the Editor role or higher who has not turned reminders off."""

    class Threshold(models.TextChoices):
        SEVEN_DAYS = "7d", "7 days before Postmark deletes it"
        ONE_DAY = "1d", "1 day before Postmark deletes it"
        PURGED = "purged", "after Postmark deleted it"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENDING = "sending", "Being sent"  # claimed by one run; another takes it only after the run's lease ended
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled: restored, deleted or superseded before it was sent"

    team = models.ForeignKey("dashboard.Team", on_delete=models.CASCADE, related_name="+")
    server = models.ForeignKey("dashboard.Server", on_delete=models.CASCADE, related_name="+")
    stream_id = models.CharField(max_length=100)
    stream_name = models.CharField(max_length=100)
    # Which archive: a stream restored and archived again is a new archive with reminders of its own.
    archived_at = models.DateTimeField()
    purge_at = models.DateTimeField()
    threshold = models.CharField(max_length=10, choices=Threshold.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    claim = models.CharField(max_length=32, blank=True)  # the sending run that took it
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Ids of the people it was e-mailed to so far: a run that fails half-way leaves the rest to the next one.
    sent_to = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["server", "stream_id", "archived_at", "threshold"],
                                    name="purge_reminder_once_per_archive_and_threshold"),
        ]
        indexes = [models.Index(fields=["status", "team"], name="purge_reminder_status_team")]

    def __str__(self) -> str:
        return f"Reminder {self.get_threshold_display()} for {self.stream_id} ({self.get_status_display()})"


class ReminderOptOut(models.Model):
    """A person who turned purge reminders off for one team."""

    team = models.ForeignKey("dashboard.Team", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey("dashboard.User", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="reminder_opt_out_once")]

    def __str__(self) -> str:
        return f"{self.user} gets no purge reminders for {self.team}"
