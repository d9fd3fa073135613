"""The sandbox's outbound statistics: Postmark's Stats API as the local Postmark answers it.

It owns the synthetic traffic of the servers that ask for it (deterministic per server token and stream:
a weekly rhythm, bursty broadcasts, a bounce spike every four weeks, nothing on inbound streams), the exact
counts tests add to a day (`POST /_sandbox/stats`), and the answers of `GET /stats/outbound` and of its daily
series (`sends`, `bounces`, `spam`, `opens`, `clicks`) with Postmark's omissions: a day without data is left
out of `Days`, and a key whose value is 0 is left out of its day. docs/postmark-stats-api.md is the contract.

It must never speak HTTP, read the wall clock or hold a lock: sandbox.py routes requests here with the
server, the query and the sandbox's own clock, and turns a `StatsRefused` into Postmark's error answer. Like
sandbox.py, it imports the standard library only.

Checks, in order (Postmark's reference is silent; the first failing rule answers): the plan (614), the dates'
form (900), `fromdate` after `todate` (1502), `fromdate` more than a year before today (1500), the stream
(1226). Dates are Postmark's US Eastern dates; "today" is the sandbox clock's date in Eastern time.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")

STATS_MESSAGES: dict[int, str] = {
    614: "Your current plan does not include access to the Stats API.",
    900: "The date provided is not valid. Use the format YYYY-MM-DD.",
    1500: "The 'FromDate' cannot be more than one year in the past.",
    1502: "The 'FromDate' must be before the 'ToDate'.",
}

# What the sandbox counts per stream and day. Seeding takes these names; the answers rename some of them.
COUNTERS = (
    "Sent", "HardBounce", "SoftBounce", "Transient", "SMTPApiError", "SpamComplaint",
    "Opens", "UniqueOpens", "Clicks", "UniqueClicks",
    "Tracked", "WithOpenTracking", "WithLinkTracking", "TotalTrackedLinksSent",
    "WithClientRecorded", "WithPlatformRecorded",
)
_COUNTER_NAMES = {name.lower(): name for name in COUNTERS}

# Each daily series: (key on the wire, counter), in the key order of Postmark's examples.
SERIES: dict[str, tuple[tuple[str, str], ...]] = {
    "sends": (("Sent", "Sent"),),
    "bounces": (
        ("HardBounce", "HardBounce"), ("SMTPApiError", "SMTPApiError"),
        ("SoftBounce", "SoftBounce"), ("Transient", "Transient"),
    ),
    "spam": (("SpamComplaint", "SpamComplaint"),),
    "opens": (("Opens", "Opens"), ("Unique", "UniqueOpens")),
    "clicks": (("Clicks", "Clicks"), ("Unique", "UniqueClicks")),
}
REPORTS = ("", *SERIES)  # "" is the overview, GET /stats/outbound

DATE_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}")
HISTORY = timedelta(days=365)  # synthetic traffic starts this long before a stream was made
SPIKE_EVERY = 28  # days between a transactional stream's bounce spikes: any four weeks show one
OUTBOUND_TYPES = frozenset({"Transactional", "Broadcasts"})
# Monday first: business mail dips at the weekend.
WEEKLY_RHYTHM = (1.0, 1.06, 1.03, 0.98, 0.9, 0.55, 0.45)


class StatsRefused(Exception):
    """Postmark refuses a statistics request with this ErrorCode (HTTP 422)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class StreamLike(Protocol):
    id: str
    stream_type: str
    created_at: datetime
    archived_at: datetime | None


class ServerLike(Protocol):
    token_digest: str
    streams: dict[str, StreamLike]
    stats: ServerStats


# --- What a server remembers -------------------------------------------------------------------


@dataclass
class ServerStats:
    """A server's statistics settings and the counts tests added, kept in the state file with its streams."""

    traffic: bool = False  # synthetic traffic: the demo's servers and those made with "traffic": true
    api_enabled: bool = True  # False: the server's plan has no Stats API, every call answers 614
    seeded: dict[tuple[str, date], Counter[str]] = field(default_factory=dict)

    def seed(self, stream_id: str, day: date, counts: Mapping[str, int]) -> dict[str, int]:
        """Add `counts` (checked by `seed_counts`) to the day; the day's seeded counts after."""
        total = self.seeded.setdefault((stream_id, day), Counter())
        total.update(counts)
        return {name: total[name] for name in COUNTERS if total[name]}

    def to_json(self) -> dict[str, Any]:
        return {
            "traffic": self.traffic,
            "api_enabled": self.api_enabled,
            "seeded": [
                {"stream": stream_id, "date": day.isoformat(), "counts": dict(counts)}
                for (stream_id, day), counts in sorted(self.seeded.items())
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ServerStats:
        """A server's statistics from the state file; a file written before statistics existed has none."""
        if data is None:
            return cls()
        stats = cls(traffic=bool(data["traffic"]), api_enabled=bool(data["api_enabled"]))
        for item in data["seeded"]:
            stats.seeded[(item["stream"], date.fromisoformat(item["date"]))] = Counter(item["counts"])
        return stats


def seed_day(text: Any) -> date:
    """A control body's `date`: YYYY-MM-DD, else ValueError."""
    if not isinstance(text, str) or not DATE_FORMAT.fullmatch(text):
        raise ValueError("'date' must be a date written YYYY-MM-DD.")
    return date.fromisoformat(text)


def seed_counts(counts: Any) -> dict[str, int]:
    """A control body's `counts`: known counter names (any case) with whole numbers, 0 or more."""
    if not isinstance(counts, dict) or not counts:
        raise ValueError(f"'counts' must be an object such as {{\"Sent\": 10}}; known: {', '.join(COUNTERS)}.")
    checked: dict[str, int] = {}
    for name, value in counts.items():
        counter = _COUNTER_NAMES.get(str(name).lower())
        if counter is None:
            raise ValueError(f"Unknown count '{name}'; known: {', '.join(COUNTERS)}.")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"'{name}' must be a whole number, 0 or more.")
        checked[counter] = checked.get(counter, 0) + value
    return checked


# --- Synthetic traffic -------------------------------------------------------------------------


def _random(*parts: str) -> random.Random:
    """A generator seeded by the parts alone: the same server, stream and day give the same figures anywhere."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def synthetic_day(token_digest: str, stream_id: str, stream_type: str, day: date) -> Counter[str]:
    """One day of made-up traffic of one stream, shaped like real mail; none for inbound streams."""
    if stream_type not in OUTBOUND_TYPES:
        return Counter()
    profile = _random(token_digest, stream_id)
    today = _random(token_digest, stream_id, day.isoformat())
    if stream_type == "Broadcasts":
        return _broadcast_day(profile, today, day)
    return _transactional_day(profile, today, day)


def _transactional_day(profile: random.Random, today: random.Random, day: date) -> Counter[str]:
    volume = 300 + profile.random() * 2700
    spike_phase = int(profile.random() * SPIKE_EVERY)
    sent = round(volume * WEEKLY_RHYTHM[day.weekday()] * (0.85 + 0.3 * today.random()))
    spike = day.toordinal() % SPIKE_EVERY == spike_phase  # a bad list import: hard bounces jump for a day
    rates = {"HardBounce": 0.07 if spike else 0.004, "SoftBounce": 0.006, "Transient": 0.003, "SMTPApiError": 0.001,
             "SpamComplaint": 0.0003}
    return _with_engagement(today, sent, rates, tracked=0.7, opened=0.3, clicked=0.05)


def _broadcast_day(profile: random.Random, today: random.Random, day: date) -> Counter[str]:
    campaign_weekday = int(profile.random() * 5)
    audience = 2000 + profile.random() * 18000
    if day.weekday() == campaign_weekday:
        sent = round(audience * (0.9 + 0.2 * today.random()))
    elif today.random() < 0.08:  # now and then a smaller extra send
        sent = round(audience * 0.3 * (0.8 + 0.4 * today.random()))
    else:
        return Counter()
    rates = {"HardBounce": 0.008, "SoftBounce": 0.012, "Transient": 0.005, "SMTPApiError": 0.0005,
             "SpamComplaint": 0.0008}
    return _with_engagement(today, sent, rates, tracked=0.97, opened=0.45, clicked=0.1)


def _with_engagement(
    today: random.Random, sent: int, rates: dict[str, float], *, tracked: float, opened: float, clicked: float
) -> Counter[str]:
    def share(base: int, rate: float) -> int:
        return int(base * rate * (0.5 + today.random()))

    counts = Counter({name: share(sent, rate) for name, rate in rates.items()})
    counts["Sent"] = sent
    counts["Tracked"] = round(sent * tracked)
    counts["WithOpenTracking"] = round(sent * tracked * 0.9)
    counts["WithLinkTracking"] = round(sent * tracked * 0.7)
    counts["TotalTrackedLinksSent"] = counts["WithLinkTracking"] * 3
    counts["Opens"] = share(counts["WithOpenTracking"], opened * 1.6)
    counts["UniqueOpens"] = round(counts["Opens"] * 0.65)
    counts["WithClientRecorded"] = round(counts["UniqueOpens"] * 0.9)
    counts["WithPlatformRecorded"] = round(counts["UniqueOpens"] * 0.85)
    counts["Clicks"] = share(counts["WithLinkTracking"], clicked * 1.5)
    counts["UniqueClicks"] = round(counts["Clicks"] * 0.7)
    return +counts  # without the zeros


def _eastern_date(moment: datetime) -> date:
    return moment.astimezone(EASTERN).date()


def _traffic_days(stream: StreamLike, today: date) -> tuple[date, date]:
    """The first and last day a stream has synthetic traffic: a year of history, until archived or today."""
    first = _eastern_date(stream.created_at) - HISTORY
    last = today if stream.archived_at is None else _eastern_date(stream.archived_at) - timedelta(days=1)
    return first, min(last, today)


def stream_day(server: ServerLike, stream: StreamLike, day: date, today: date) -> Counter[str]:
    """Everything one stream counted on one day: its synthetic traffic (if any) plus what tests added."""
    counts = Counter(server.stats.seeded.get((stream.id, day), Counter()))
    if server.stats.traffic:
        first, last = _traffic_days(stream, today)
        if first <= day <= last:
            counts.update(synthetic_day(server.token_digest, stream.id, stream.stream_type, day))
    return counts


# --- Answers -------------------------------------------------------------------------------------


def answer_outbound_stats(report: str, query: Mapping[str, str], server: ServerLike, now: datetime) -> dict:
    """The JSON body of `GET /stats/outbound` (report "") or of one daily series; raises StatsRefused."""
    if not server.stats.api_enabled:
        raise StatsRefused(614)
    today = _eastern_date(now)
    since, until = _asked_dates(query)
    if since is not None and until is not None and since > until:
        raise StatsRefused(1502)
    if since is not None and since < _one_year_before(today):
        raise StatsRefused(1500)
    streams = _asked_streams(query.get("messagestream", ""), server)
    if query.get("tag"):
        streams = []  # no mail in the sandbox carries a tag
    since = since or _first_day_with_data(server, streams, today)
    until = until or today
    days = [(day, _day_total(server, streams, day, today)) for day in _each_day(since, until)]
    if not report:
        return _overview(sum((counts for _, counts in days), Counter()))
    return _series(SERIES[report], days)


def _asked_dates(query: Mapping[str, str]) -> tuple[date | None, date | None]:
    bounds = []
    for name in ("fromdate", "todate"):
        text = query.get(name, "").strip()
        if not text:
            bounds.append(None)  # absent or empty: all time on that side
            continue
        try:
            if not DATE_FORMAT.fullmatch(text):
                raise ValueError(text)
            bounds.append(date.fromisoformat(text))
        except ValueError:
            raise StatsRefused(900) from None
    return bounds[0], bounds[1]


def _one_year_before(today: date) -> date:
    try:
        return today.replace(year=today.year - 1)
    except ValueError:  # 29 February
        return today.replace(year=today.year - 1, day=28)


def _asked_streams(stream_id: str, server: ServerLike) -> list[StreamLike]:
    """The stream asked for, or every stream of the server (archived ones too) when none is."""
    if not stream_id:
        return list(server.streams.values())
    stream = server.streams.get(stream_id)
    if stream is None:
        raise StatsRefused(1226)
    return [stream]


def _first_day_with_data(server: ServerLike, streams: Iterable[StreamLike], today: date) -> date:
    """Where "all time" begins: the earliest seeded day or start of synthetic history; today when none."""
    firsts = [today]
    for stream in streams:
        firsts += [day for stream_id, day in server.stats.seeded if stream_id == stream.id]
        if server.stats.traffic:
            firsts.append(_traffic_days(stream, today)[0])
    return min(firsts)


def _each_day(since: date, until: date) -> Iterable[date]:
    day = since
    while day <= until:
        yield day
        day += timedelta(days=1)


def _day_total(server: ServerLike, streams: Iterable[StreamLike], day: date, today: date) -> Counter[str]:
    total: Counter[str] = Counter()
    for stream in streams:
        total.update(stream_day(server, stream, day, today))
    return total


def _series(keys: tuple[tuple[str, str], ...], days: list[tuple[date, Counter[str]]]) -> dict:
    """`{"Days": [...], <totals>}`: days without data left out, and zero keys left out of a day."""
    listed = []
    for day, counts in days:
        values = {wire: counts[counter] for wire, counter in keys if counts[counter]}
        if values:
            listed.append({"Date": day.isoformat(), **values})
    totals = {wire: sum(counts[counter] for _, counts in days) for wire, counter in keys}
    return {"Days": listed, **totals}


def _rate(part: int, sent: int) -> float:
    return round(part * 100 / sent, 3) if sent else 0.0


def _overview(counts: Counter[str]) -> dict:
    """Every key of Postmark's overview, zeros included (only the daily series leave keys out)."""
    bounced = counts["HardBounce"] + counts["SoftBounce"] + counts["Transient"]
    return {
        "Sent": counts["Sent"],
        "Bounced": bounced,
        "SMTPApiErrors": counts["SMTPApiError"],
        "BounceRate": _rate(bounced, counts["Sent"]),
        "SpamComplaints": counts["SpamComplaint"],
        "SpamComplaintsRate": _rate(counts["SpamComplaint"], counts["Sent"]),
        "Opens": counts["Opens"],
        "UniqueOpens": counts["UniqueOpens"],
        "Tracked": counts["Tracked"],
        "WithLinkTracking": counts["WithLinkTracking"],
        "WithOpenTracking": counts["WithOpenTracking"],
        "TotalTrackedLinksSent": counts["TotalTrackedLinksSent"],
        "UniqueLinksClicked": counts["UniqueClicks"],
        "TotalClicks": counts["Clicks"],
        "WithClientRecorded": counts["WithClientRecorded"],
        "WithPlatformRecorded": counts["WithPlatformRecorded"],
    }
