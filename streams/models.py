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
