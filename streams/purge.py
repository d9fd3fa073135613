"""The purge countdown of an archived stream: how long until Postmark deletes it, in words and as a share.

Postmark deletes an archived stream 45 days after archiving (its `ExpectedPurgeDate`). This module only
reads a `Stream` and a clock; it never calls Postmark and never stores anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from dashboard.postmark.client import Stream
from streams.services import PURGE_AFTER, purge_moment

WARNING_UNDER = timedelta(days=14)
# Seven days or less left is urgent: a week is about the least in which a team notices and acts.
URGENT_WITHIN = timedelta(days=7)

URGENCY_TEXT = {
    "calm": "Can be restored",
    "warning": "Purging within 2 weeks",
    "danger": "Urgent: purging within 7 days",
    "past": "Deleted by Postmark",
}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def duration_text(span: timedelta) -> str:
    """`12 days, 4 hours`, `5 hours, 3 minutes`, `4 minutes`, `less than a minute`: two units, rounded down."""
    if span <= timedelta(0):
        return ""
    minutes_total = int(span.total_seconds() // 60)
    days, rest = divmod(minutes_total, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return _plural(days, "day") + (f", {_plural(hours, 'hour')}" if hours else "")
    if hours:
        return _plural(hours, "hour") + (f", {_plural(minutes, 'minute')}" if minutes else "")
    if minutes:
        return _plural(minutes, "minute")
    return "less than a minute"


@dataclass(frozen=True)
class PurgeCountdown:
    archived_at: datetime
    purge_at: datetime
    now: datetime

    @property
    def period(self) -> timedelta:
        """From archiving to purging: 45 days, unless Postmark's own dates say otherwise."""
        period = self.purge_at - self.archived_at
        return period if period > timedelta(0) else PURGE_AFTER

    @property
    def time_left(self) -> timedelta:
        return max(self.purge_at - self.now, timedelta(0))

    @property
    def is_past(self) -> bool:
        return self.now >= self.purge_at

    @property
    def time_left_text(self) -> str:
        return duration_text(self.time_left)

    @property
    def percent_passed(self) -> int:
        passed = (self.now - self.archived_at) / self.period
        return max(0, min(100, int(passed * 100)))

    @property
    def days_passed(self) -> int:
        return max(0, min(self.period_days, (self.now - self.archived_at).days))

    @property
    def period_days(self) -> int:
        return round(self.period / timedelta(days=1))

    @property
    def urgency(self) -> str:
        """`calm` (14 days or more left), `warning` (under 14 days), `danger` (7 days or less) or `past`."""
        if self.is_past:
            return "past"
        if self.time_left <= URGENT_WITHIN:
            return "danger"
        if self.time_left < WARNING_UNDER:
            return "warning"
        return "calm"

    @property
    def urgency_text(self) -> str:
        return URGENCY_TEXT[self.urgency]


def countdown_for(stream: Stream, now: datetime | None = None) -> PurgeCountdown | None:
    """The countdown of an archived stream; None for a stream that is not archived."""
    purge_at = purge_moment(stream)
    if purge_at is None:
        return None
    archived_at = stream.archived_at or purge_at - PURGE_AFTER
    return PurgeCountdown(archived_at=archived_at, purge_at=purge_at, now=now or timezone.now())


def purge_date_if_archived_now(now: datetime | None = None) -> datetime:
    """When Postmark would delete a stream archived at this moment (for the archive dialog)."""
    return (now or timezone.now()) + PURGE_AFTER
