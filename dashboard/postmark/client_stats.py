"""Postmark's outbound Stats API, for the client: the overview and the daily series of one stream or server.

It owns the typed answers (frozen; dates are Postmark's US Eastern dates as `datetime.date`), their
parsing, and `StatsCalls`, the methods `PostmarkClient` inherits to ask for them through its own request,
retry and error machinery. Postmark leaves out of `Days` a day without data and leaves out of a day a key
whose value is 0; every series here holds every day of the asked range, zeros filled, so a picture never
has a hole and nothing breaks on an omission (Postmark's official Python SDK does). The totals Postmark
sends beside `Days` are not read: a series' totals are the sums of its days. docs/postmark-stats-api.md is
the contract.

It must never import httpx or send a request itself (client.py does both), and never guess a figure: a
count that is not a whole number of 0 or more makes the answer unreadable (PostmarkUnavailable).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar
from zoneinfo import ZoneInfo

__all__ = [
    "BouncesDay",
    "ClicksDay",
    "DailySeries",
    "OpensDay",
    "OutboundOverview",
    "SendsDay",
    "SpamDay",
    "StatsCalls",
    "postmark_today",
]

POSTMARK_ZONE = ZoneInfo("America/New_York")
_DATE = re.compile(r"\s*(\d{4}-\d{2}-\d{2})(?:[T ][^\s]*)?\s*")


def postmark_today(now: datetime | None = None) -> date:
    """Today as Postmark's statistics count it: the date in US Eastern time."""
    return (now or datetime.now(POSTMARK_ZONE)).astimezone(POSTMARK_ZONE).date()


# --- Types -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboundOverview:
    """`GET /stats/outbound`: totals of the asked dates; rates are percentages of `sent`."""

    since: date
    until: date
    stream_id: str | None  # None: every stream of the server
    sent: int
    bounced: int
    smtp_api_errors: int
    bounce_rate: float
    spam_complaints: int
    spam_complaints_rate: float
    opens: int
    unique_opens: int
    tracked: int
    with_link_tracking: int
    with_open_tracking: int
    total_tracked_links_sent: int
    unique_links_clicked: int
    total_clicks: int
    with_client_recorded: int
    with_platform_recorded: int

    _RATES: ClassVar[frozenset[str]] = frozenset({"bounce_rate", "spam_complaints_rate"})
    # field -> Postmark's key, lowercased (keys are read without regard to case)
    _WIRE: ClassVar[dict[str, str]] = {
        "sent": "sent", "bounced": "bounced", "smtp_api_errors": "smtpapierrors", "bounce_rate": "bouncerate",
        "spam_complaints": "spamcomplaints", "spam_complaints_rate": "spamcomplaintsrate", "opens": "opens",
        "unique_opens": "uniqueopens", "tracked": "tracked", "with_link_tracking": "withlinktracking",
        "with_open_tracking": "withopentracking", "total_tracked_links_sent": "totaltrackedlinkssent",
        "unique_links_clicked": "uniquelinksclicked", "total_clicks": "totalclicks",
        "with_client_recorded": "withclientrecorded", "with_platform_recorded": "withplatformrecorded",
    }


@dataclass(frozen=True, slots=True)
class SendsDay:
    """One day of `GET /stats/outbound/sends`."""

    date: date
    sent: int

    _WIRE: ClassVar[dict[str, str]] = {"sent": "sent"}


@dataclass(frozen=True, slots=True)
class BouncesDay:
    """One day of `GET /stats/outbound/bounces`; `transient` counts delays, not bounces."""

    date: date
    hard_bounce: int
    soft_bounce: int
    smtp_api_error: int
    transient: int

    _WIRE: ClassVar[dict[str, str]] = {
        "hard_bounce": "hardbounce", "soft_bounce": "softbounce", "smtp_api_error": "smtpapierror",
        "transient": "transient",
    }


@dataclass(frozen=True, slots=True)
class SpamDay:
    """One day of `GET /stats/outbound/spam`."""

    date: date
    spam_complaints: int

    _WIRE: ClassVar[dict[str, str]] = {"spam_complaints": "spamcomplaint"}


@dataclass(frozen=True, slots=True)
class OpensDay:
    """One day of `GET /stats/outbound/opens`."""

    date: date
    opens: int
    unique: int

    _WIRE: ClassVar[dict[str, str]] = {"opens": "opens", "unique": "unique"}


@dataclass(frozen=True, slots=True)
class ClicksDay:
    """One day of `GET /stats/outbound/clicks`."""

    date: date
    clicks: int
    unique: int

    _WIRE: ClassVar[dict[str, str]] = {"clicks": "clicks", "unique": "unique"}


DayT = TypeVar("DayT", SendsDay, BouncesDay, SpamDay, OpensDay, ClicksDay)


@dataclass(frozen=True, slots=True)
class DailySeries(Generic[DayT]):
    """Every day from `since` to `until` (inclusive, Eastern dates), in order, zeros filled."""

    since: date
    until: date
    stream_id: str | None  # None: every stream of the server
    days: tuple[DayT, ...]

    def total(self, field: str) -> int:
        """The sum of one field over the days, e.g. `series.total("hard_bounce")`."""
        return sum(getattr(day, field) for day in self.days)


# --- Parsing -----------------------------------------------------------------------------------


def _folded(data: object, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be a JSON object")
    return {str(key).lower(): value for key, value in data.items()}


def _count(data: Mapping[str, Any], key: str) -> int:
    """A count; left out or null is 0 (Postmark leaves zeros out)."""
    value = data.get(key)
    if value is None:
        return 0
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be a whole number, 0 or more, got {value!r}")
    return value


def _rate(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    if value is None:
        return 0.0
    if isinstance(value, str):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{key} must be a percentage, got {value!r}")
    return float(value)


def _day_of(value: object) -> date:
    """A day's Date: `2014-01-01`, also with a time after it (the date part is Postmark's Eastern date)."""
    match = _DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"Date must be a date such as 2014-01-01, got {value!r}")
    return date.fromisoformat(match.group(1))


def _parse_overview(data: object, since: date, until: date, stream_id: str | None) -> OutboundOverview:
    folded = _folded(data, "the overview")
    figures = {
        name: (_rate if name in OutboundOverview._RATES else _count)(folded, key)
        for name, key in OutboundOverview._WIRE.items()
    }
    return OutboundOverview(since=since, until=until, stream_id=stream_id, **figures)


def _parse_series(
    data: object, day_type: type[DayT], since: date, until: date, stream_id: str | None
) -> DailySeries[DayT]:
    days = _folded(data, "a daily series").get("days")
    if not isinstance(days, list):
        raise ValueError("a daily series must have a Days array")
    counted: dict[date, dict[str, int]] = {}
    for item in days:
        folded = _folded(item, "a day")
        day = _day_of(folded.get("date"))
        if not since <= day <= until:
            continue  # not asked for: a picture of the asked dates must not grow
        totals = counted.setdefault(day, dict.fromkeys(day_type._WIRE, 0))
        for name, key in day_type._WIRE.items():
            totals[name] += _count(folded, key)
    every_day = (since + timedelta(days=offset) for offset in range((until - since).days + 1))
    filled = tuple(
        day_type(date=day, **counted.get(day, dict.fromkeys(day_type._WIRE, 0))) for day in every_day
    )
    return DailySeries(since=since, until=until, stream_id=stream_id, days=filled)


# --- The calls ---------------------------------------------------------------------------------


def _checked_range(since: object, until: object) -> tuple[date, date]:
    for name, value in (("since", since), ("until", until)):
        # A datetime is a date too, but which day it is depends on a time zone: ask for Eastern dates.
        if isinstance(value, datetime) or not isinstance(value, date):
            raise TypeError(f"{name} must be a datetime.date (Postmark's US Eastern date), got {value!r}")
    if since > until:
        raise ValueError(f"since ({since}) is after until ({until}); Postmark would refuse it (ErrorCode 1502).")
    return since, until


def _stats_params(since: date, until: date, stream_id: str | None) -> dict[str, str]:
    params = {"fromdate": since.isoformat(), "todate": until.isoformat()}
    if stream_id is not None:
        if not isinstance(stream_id, str) or not stream_id.strip():
            raise ValueError("stream_id must be a stream's ID, or None for every stream of the server.")
        params["messagestream"] = stream_id
    return params


class StatsCalls:
    """The outbound Stats API, mixed into PostmarkClient: reads, so retried like every GET.

    `since` and `until` are inclusive Eastern dates; `stream_id=None` asks for the whole server, every stream
    included. Refusals are the client's errors: 1226 is StreamNotFound; 614 (plan without statistics), 900,
    1500 (`since` more than a year ago) and 1502 are ValidationRefused with that `error_code`.
    """

    _call: Callable[..., Any]  # PostmarkClient's one conversation with Postmark

    def outbound_overview(self, *, since: date, until: date, stream_id: str | None = None) -> OutboundOverview:
        return self._stats("", since, until, stream_id, _parse_overview)

    def sends_per_day(self, *, since: date, until: date, stream_id: str | None = None) -> DailySeries[SendsDay]:
        return self._series("sends", SendsDay, since, until, stream_id)

    def bounces_per_day(
        self, *, since: date, until: date, stream_id: str | None = None
    ) -> DailySeries[BouncesDay]:
        return self._series("bounces", BouncesDay, since, until, stream_id)

    def spam_per_day(self, *, since: date, until: date, stream_id: str | None = None) -> DailySeries[SpamDay]:
        return self._series("spam", SpamDay, since, until, stream_id)

    def opens_per_day(self, *, since: date, until: date, stream_id: str | None = None) -> DailySeries[OpensDay]:
        return self._series("opens", OpensDay, since, until, stream_id)

    def clicks_per_day(self, *, since: date, until: date, stream_id: str | None = None) -> DailySeries[ClicksDay]:
        return self._series("clicks", ClicksDay, since, until, stream_id)

    def _series(
        self, report: str, day_type: type[DayT], since: date, until: date, stream_id: str | None
    ) -> DailySeries[DayT]:
        def parse(data: object, since: date, until: date, stream_id: str | None) -> DailySeries[DayT]:
            return _parse_series(data, day_type, since, until, stream_id)

        return self._stats(report, since, until, stream_id, parse)

    def _stats(self, report: str, since: object, until: object, stream_id: str | None, parse: Callable) -> Any:
        # Imported here: client.py imports this module to inherit StatsCalls, and `_path` checks every segment.
        from dashboard.postmark.client import _path

        since, until = _checked_range(since, until)
        params = _stats_params(since, until, stream_id)
        path = _path("stats", "outbound", *([report] if report else []))
        return self._call("GET", path, lambda data: parse(data, since, until, stream_id), params=params)
