"""What a stream has been doing: mail sent, bounces and spam complaints per day, from Postmark's Stats API.

It owns the activity of one stream over the last 7, 30 or 90 days (Postmark's US Eastern days, today
included), its totals and rates, the health verdict against our thresholds (settings
STREAM_BOUNCE_RATE_WARNING and STREAM_SPAM_RATE_WARNING; Postmark's own are not public), and its cache:
statistics change slowly, so an answer is kept in the shared cache for STREAM_ACTIVITY_CACHE_SECONDS and a
page can ask for it without calling Postmark (`stream_activity_cached`).

The three daily series are asked side by side, so a page waits at most as long as one call may take (the
client's timeouts and retries), never three. Never: decrypt a token (only `postmark_client_for` does), see a
request, log a token, or ask Postmark about a list's streams one after another (`server_activity` asks for
them all at once, lazily, after the list has rendered).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from dashboard.models import Server
from dashboard.postmark.client import (
    ErrorCode,
    PostmarkClient,
    PostmarkUnavailable,
    RateLimited,
    Stream,
    StreamNotFound,
    TokenRejected,
    ValidationRefused,
)
from dashboard.postmark.client_stats import postmark_today
from dashboard.services import ServiceError
from dashboard.services.servers import postmark_client_for, server_note_token_accepted
from dashboard.token_crypto import TokenUnreadable

# The streams' fan-out pool: one cap (POSTMARK_CONCURRENCY) on the calls to Postmark a process makes at once.
from streams.services import PostmarkTrouble, StreamGone, _fanout, _trouble, stream_list

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
# Days that make the archive dialog's "sent in the last 7 days": the 7-day chart's answer, from the same cache.
RECENT_DAYS = 7


class StatsUnavailable(ServiceError):
    """Postmark answered, but gives no statistics for this request.

    `kind` is "not_in_plan" (614: the account's plan has no Stats API), "too_old" (1500) or "refused" (any
    other refusal, such as 900 or 1502: a fault on our side).
    """

    def __init__(self, message: str, *, kind: str):
        super().__init__(message)
        self.kind = kind


class _Rates:
    """Bounce and spam complaint rates, in percent of the mail sent; None when nothing was sent (no rate)."""

    sent: int
    bounced: int
    spam_complaints: int

    @property
    def bounce_rate(self) -> float | None:
        return self.bounced * 100 / self.sent if self.sent else None

    @property
    def spam_rate(self) -> float | None:
        return self.spam_complaints * 100 / self.sent if self.sent else None


@dataclass(frozen=True)
class ActivityDay(_Rates):
    day: date  # Postmark's US Eastern date
    sent: int
    bounced: int  # hard and soft bounces; delays (transient) and API errors are not bounces
    spam_complaints: int


@dataclass(frozen=True)
class Health:
    """The period's verdict against our thresholds: what is too high, in words a non-engineer can act on."""

    bounce_too_high: bool
    spam_too_high: bool
    bounce_threshold: float
    spam_threshold: float

    @property
    def healthy(self) -> bool:
        return not (self.bounce_too_high or self.spam_too_high)


@dataclass(frozen=True)
class StreamActivity(_Rates):
    stream_id: str
    since: date
    until: date  # today in US Eastern time: not over yet, its figures still grow
    days: tuple[ActivityDay, ...]
    fetched_at: datetime  # when Postmark answered

    @property
    def period(self) -> int:
        return len(self.days)

    @property
    def sent(self) -> int:
        return sum(day.sent for day in self.days)

    @property
    def bounced(self) -> int:
        return sum(day.bounced for day in self.days)

    @property
    def spam_complaints(self) -> int:
        return sum(day.spam_complaints for day in self.days)

    @property
    def health(self) -> Health:
        bounce, spam = bounce_rate_warning(), spam_rate_warning()
        return Health(
            bounce_too_high=self.bounce_rate is not None and self.bounce_rate > bounce,
            spam_too_high=self.spam_rate is not None and self.spam_rate > spam,
            bounce_threshold=bounce,
            spam_threshold=spam,
        )


def bounce_rate_warning() -> float:
    return float(settings.STREAM_BOUNCE_RATE_WARNING)


def spam_rate_warning() -> float:
    return float(settings.STREAM_SPAM_RATE_WARNING)


def period_from(text: str | None) -> int:
    """The period asked for in an address (`?days=7`); anything else is the default, never an error."""
    try:
        days = int(text or "")
    except ValueError:
        return DEFAULT_PERIOD
    return days if days in PERIODS else DEFAULT_PERIOD


# --- Asking Postmark -----------------------------------------------------------------------------


def _cache_key(server: Server, stream_id: str, days: int, today: date) -> str:
    # Today's date is part of the key: at Eastern midnight every period moves on by itself.
    return f"stream-activity:{server.pk}:{stream_id}:{days}:{today.isoformat()}"


def _cache_seconds() -> float:
    return float(settings.STREAM_ACTIVITY_CACHE_SECONDS)


def _refusal(error: ValidationRefused, server: Server) -> StatsUnavailable:
    if error.error_code == ErrorCode.STATS_NOT_IN_PLAN:
        return StatsUnavailable(
            f"Postmark says the plan of the account that holds {server.name} doesn't include statistics, so this "
            "stream's activity can't be shown. Whoever manages the Postmark account can check its plan.",
            kind="not_in_plan",
        )
    if error.error_code == ErrorCode.FROM_DATE_TOO_OLD:
        return StatsUnavailable(
            "Postmark keeps statistics for about a year and refused this period. Choose a shorter one.", kind="too_old"
        )
    code = f" (code {int(error.error_code)})" if error.error_code is not None else ""
    return StatsUnavailable(
        f"Postmark refused to give statistics for this period{code}. This is a fault in the "
        "dashboard, not something you did: try another period.",
        kind="refused",
    )


def _submitted(client: PostmarkClient, stream_id: str, since: date, until: date) -> list[Future]:
    """The stream's three daily series, asked side by side on the pool."""
    calls = (client.sends_per_day, client.bounces_per_day, client.spam_per_day)
    return [_fanout().submit(call, since=since, until=until, stream_id=stream_id) for call in calls]


def _collected(server: Server, stream_id: str, futures: list[Future]) -> tuple[ActivityDay, ...]:
    """The answers of `_submitted`, each bounded by the client's timeouts, as days; Postmark's failures in words."""
    try:
        sends, bounces, spam = (future.result() for future in futures)
    except (TokenRejected, RateLimited, PostmarkUnavailable) as error:
        raise _trouble(error, server) from None
    except StreamNotFound:
        raise StreamGone(f"Postmark has no stream “{stream_id}” on {server.name} any more.") from None
    except ValidationRefused as error:
        raise _refusal(error, server) from None
    return tuple(
        ActivityDay(
            day=sent.date,
            sent=sent.sent,
            bounced=bounced.hard_bounce + bounced.soft_bounce,
            spam_complaints=complaints.spam_complaints,
        )
        for sent, bounced, complaints in zip(sends.days, bounces.days, spam.days, strict=True)
    )


def _client(server: Server) -> PostmarkClient:
    try:
        return postmark_client_for(server)
    except TokenUnreadable as error:
        raise _trouble(error, server) from None


def _cached(key: str) -> StreamActivity | None:
    """The cached answer; a remembered refusal is raised again, as Postmark would answer it."""
    cached = cache.get(key)
    if isinstance(cached, tuple):  # (kind, message)
        raise StatsUnavailable(cached[1], kind=cached[0])
    return cached if isinstance(cached, StreamActivity) else None


def _stored(key: str, stream_id: str, since: date, until: date, answer: Callable[[], tuple[ActivityDay, ...]]):
    """The activity from `answer()`, kept in the cache; a plan without statistics is kept too."""
    try:
        activity = StreamActivity(
            stream_id=stream_id, since=since, until=until, days=answer(), fetched_at=timezone.now()
        )
    except StatsUnavailable as refused:
        if refused.kind == "not_in_plan":
            cache.set(key, (refused.kind, refused.message), timeout=_cache_seconds())
        raise
    cache.set(key, activity, timeout=_cache_seconds())
    return activity


def stream_activity(
    *, server: Server, stream_id: str, days: int = DEFAULT_PERIOD, refresh: bool = False, today: date | None = None
) -> StreamActivity:
    """The stream's last `days` days (today, Eastern, included): from the cache, else from Postmark.

    Raises PostmarkTrouble (Postmark down, busy, or the token refused), StatsUnavailable (Postmark gives no
    statistics: 614 is remembered like an answer, so a plan without them costs one call per cache period)
    and StreamGone.
    """
    if days not in PERIODS:
        raise ValueError(f"days must be one of {PERIODS}, got {days!r}")
    today = today or postmark_today(timezone.now())
    key = _cache_key(server, stream_id, days, today)
    cached = None if refresh else _cached(key)
    if cached is not None:
        return cached
    since = today - timedelta(days=days - 1)
    client = _client(server)
    activity = _stored(
        key, stream_id, since, today, lambda: _collected(server, stream_id, _submitted(client, stream_id, since, today))
    )
    server_note_token_accepted(server=server)
    return activity


@dataclass(frozen=True)
class ServerActivity:
    """The active outbound streams of a server with their activity (None: Postmark has none for the stream)."""

    streams: list[tuple[Stream, StreamActivity | None]]
    days: int
    trouble: PostmarkTrouble | None = None
    unavailable: str = ""  # Postmark gives no statistics for this server (its plan)


def server_activity(*, server: Server, days: int = DEFAULT_PERIOD, today: date | None = None) -> ServerActivity:
    """Every active outbound stream's last `days` days, for the lists' sparklines: what the cache has costs
    nothing, the rest is asked all at once (three calls a stream, side by side), never one stream after another."""
    today = today or postmark_today(timezone.now())
    since = today - timedelta(days=days - 1)
    try:
        listing = stream_list(server=server)
        outbound = [stream for stream in listing.streams if stream.stream_type.value != "Inbound"]
        found = {stream.id: _cached(_cache_key(server, stream.id, days, today)) for stream in outbound}
        missing = [stream.id for stream in outbound if found[stream.id] is None]
        if missing:
            client = _client(server)
            asked = {stream_id: _submitted(client, stream_id, since, today) for stream_id in missing}
            for stream_id, futures in asked.items():
                try:
                    found[stream_id] = _stored(
                        _cache_key(server, stream_id, days, today),
                        stream_id,
                        since,
                        today,
                        lambda stream_id=stream_id, futures=futures: _collected(server, stream_id, futures),
                    )
                except StreamGone:
                    found[stream_id] = None
            server_note_token_accepted(server=server)
    except PostmarkTrouble as trouble:
        return ServerActivity([], days, trouble=trouble)
    except StatsUnavailable as refused:
        return ServerActivity([], days, unavailable=refused.message)
    return ServerActivity([(stream, found[stream.id]) for stream in outbound], days)


def stream_activity_cached(
    *, server: Server, stream_id: str, days: int = DEFAULT_PERIOD, today: date | None = None
) -> StreamActivity | None:
    """The activity if the cache has it, without asking Postmark: a page uses it to show the charts at once."""
    today = today or postmark_today(timezone.now())
    cached = cache.get(_cache_key(server, stream_id, days, today))
    return cached if isinstance(cached, StreamActivity) else None


def stream_sent_recently(*, server: Server, stream_id: str, today: date | None = None) -> int | None:
    """How many messages the stream sent in the last RECENT_DAYS days; None when Postmark can't say."""
    try:
        return stream_activity(server=server, stream_id=stream_id, days=RECENT_DAYS, today=today).sent
    except (PostmarkTrouble, StatsUnavailable, StreamGone):
        return None
