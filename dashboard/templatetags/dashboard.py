"""Template filters for times: every moment shown in the person's time zone, with the zone's name beside it.

The zone is the one `dashboard.middleware.TimeZoneMiddleware` activated for the request (the person's
choice, else their browser's, else UTC). `local_time` and `local_date` return plain text, so they also
work inside messages and attributes; `local_time_tag` wraps the text in a `<time>` element.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, tzinfo

from django import template
from django.utils import timezone
from django.utils.dates import MONTHS
from django.utils.html import format_html
from django.utils.translation import get_language

from dashboard.user_agents import browser_summary

register = template.Library()


def zone_label(moment: datetime) -> str:
    """The zone's abbreviation at that moment ("CET", "EDT"), or "UTC+03:00" where the zone has only an offset."""
    name = moment.tzname() or ""
    if name and name[0] not in "+-" and not name[0].isdigit():
        return name
    offset = moment.utcoffset()
    if offset is None:
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def _local(value: datetime, zone: tzinfo | None = None) -> datetime:
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return timezone.localtime(value, zone)


@functools.cache
def _month_names(language: str | None) -> tuple[str, ...]:
    return ("", *(str(MONTHS[number]) for number in range(1, 13)))


# Written out rather than through `django.utils.dateformat`, which parses its format on every call: a list of
# 50 streams shows 200 of these. Month names still come from Django's (translatable) calendar, looked up once
# per language rather than once per date.
def day_text(day: date) -> str:
    """`23 November 2026`."""
    return f"{day.day} {_month_names(get_language())[day.month]} {day.year}"


def moment_text(moment: datetime) -> str:
    """`23 November 2026, 17:53 CET` for a moment already in the zone it is shown in."""
    clock = f"{moment.hour:02d}:{moment.minute:02d}"
    return f"{moment.day} {_month_names(get_language())[moment.month]} {moment.year}, {clock} {zone_label(moment)}"


def utc_stamp(moment: datetime) -> str:
    """`2026-11-23T16:53:08Z`: the machine-readable moment for a `<time datetime>`."""
    return _local(moment, UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@register.filter
def local_time(value: datetime | date | None) -> str:
    """`23 November 2026, 17:53 CET`: the moment in the active time zone, with the zone's label."""
    if value is None or value == "":
        return ""
    if not isinstance(value, datetime):
        return local_date(value)
    return moment_text(_local(value))


@register.filter
def local_date(value: datetime | date | None) -> str:
    """`23 November 2026`: the day of the moment in the active time zone."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        value = _local(value)
    return day_text(value)


@register.filter
def clock_time(value: datetime | None) -> str:
    """`17:53:08 CET`: the time of day of a recent moment, to the second, in the active time zone."""
    if not isinstance(value, datetime):
        return ""
    moment = _local(value)
    return f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} {zone_label(moment)}"


@register.filter
def age_in_words(value: datetime | None) -> str:
    """`20 seconds ago`, `7 minutes ago`, `3 hours ago`: how long ago a recent moment was."""
    if not isinstance(value, datetime):
        return ""
    seconds = max(0, int((timezone.now() - value).total_seconds()))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now" if seconds < 2 else f"{seconds} seconds ago"


@register.filter
def local_time_tag(value: datetime | None) -> str:
    """`local_time` inside `<time datetime="…Z">`, the machine-readable moment in UTC."""
    if value is None or value == "":
        return ""
    if not isinstance(value, datetime):
        return format_html('<time datetime="{}">{}</time>', value.isoformat(), local_date(value))
    return format_html('<time datetime="{}">{}</time>', utc_stamp(value), local_time(value))


@register.simple_tag
def current_zone_label() -> str:
    """The active zone's label right now ("CET"), for the account menu."""
    return zone_label(timezone.localtime())


@register.simple_tag
def current_zone_name() -> str:
    """The active zone's full name ("Europe/Berlin")."""
    return timezone.get_current_timezone_name()


@register.filter
def browser(user_agent: str | None) -> str:
    """A user-agent string in a few words: "Chrome 131 on Linux" (dashboard/user_agents.py)."""
    return browser_summary(user_agent)
