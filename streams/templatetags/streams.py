"""Template tags of the stream pages: the purge countdown of an archived stream.

`{% purge_countdown stream %}` renders the full countdown (urgency badge, time left, purge date in the
person's time zone, a bar of the 45 days); `{% purge_countdown stream compact=True %}` fits a table cell.
A stream that is not archived renders nothing.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

from dashboard.postmark.client import Stream
from streams.purge import PurgeCountdown, countdown_for
from streams.purge import purge_date_if_archived_now as _purge_date_if_archived_now
from streams.views.rows import countdown_shown

register = template.Library()


@register.inclusion_tag("components/purge_countdown.html")
def purge_countdown(stream: Stream | PurgeCountdown | None, compact: bool = False, now: datetime | None = None):
    if isinstance(stream, PurgeCountdown):
        countdown = stream
    else:
        countdown = countdown_for(stream, now) if stream is not None else None
    return {"countdown": countdown_shown(countdown, timezone.get_current_timezone()), "compact": compact}


@register.simple_tag
def purge_date_if_archived_now() -> datetime:
    """`{% purge_date_if_archived_now as purge_at %}`: when Postmark would delete a stream archived now."""
    return _purge_date_if_archived_now()
