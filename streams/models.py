"""The last-known copy of each server's streams: what Postmark last answered, and when.

Postmark stays the source of truth; this copy lets a page answer at once while it is fresh, and show
what Postmark said (with its age) when Postmark is down. Only `streams.last_known` writes it.
"""

from django.db import models


class StreamCopy(models.Model):
    server = models.OneToOneField("dashboard.Server", on_delete=models.CASCADE, primary_key=True,
                                  related_name="stream_copy")
    # Every stream of the server, archived included, as `streams.last_known.stream_to_json` writes them.
    streams = models.JSONField(default=list)
    # When Postmark answered the list this copy holds (a write of ours since then changes `streams`, not this).
    fetched_at = models.DateTimeField()
    # {stream ID: [ISO moment, "answered" | "lost"]} for our own writes, so a list Postmark sent before one
    # of them finished, or the result of a write whose answer was lost, is never taken for an outside change.
    our_writes = models.JSONField(default=dict)

    class Meta:
        verbose_name = "last-known copy of a server's streams"

    def __str__(self) -> str:
        return f"Streams of server {self.server_id} as of {self.fetched_at:%Y-%m-%d %H:%M:%S}"


class WatchRound(models.Model):
    """One period of the worker's watch: `manage.py watch_servers` enqueues a task per server once per period,
    whichever instance runs it first (the unique `period_start` makes the others stand down)."""

    period_start = models.DateTimeField(unique=True)
    started_at = models.DateTimeField()
    # How many server tasks were enqueued, and how many have finished (well or not).
    expected = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)  # servers left out: token rejected or unreadable, backing off
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start"]

    def __str__(self) -> str:
        return f"Watch round of {self.period_start:%Y-%m-%d %H:%M} ({self.done}/{self.expected} servers)"


class ServerWatch(models.Model):
    """How the worker's last look at a server went, and when it may look again after Postmark's 429."""

    class Outcome(models.TextChoices):
        WATCHED = "watched", "Watched"
        TOKEN_REJECTED = "token_rejected", "Postmark rejects the token; an admin can replace it"
        TOKEN_UNREADABLE = "token_unreadable", "The token can't be read with this installation's keys; re-enter it"
        UNAVAILABLE = "unavailable", "Postmark didn't answer"
        RATE_LIMITED = "rate_limited", "Postmark asked us to slow down"

    server = models.OneToOneField("dashboard.Server", on_delete=models.CASCADE, primary_key=True,
                                  related_name="watch")
    last_watched_at = models.DateTimeField(null=True, blank=True)  # the last time Postmark answered the worker
    last_tried_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    # After a 429 the server is left out until then; the pause doubles with each 429 in a row.
    back_off_until = models.DateTimeField(null=True, blank=True)
    rate_limited_in_a_row = models.PositiveSmallIntegerField(default=0)

    def __str__(self) -> str:
        return f"Watch of server {self.server_id}: {self.get_last_outcome_display() or 'not yet'}"
