"""The worker's watch over every connected server, so changes made outside the dashboard and Postmark's purges
reach the audit log even when nobody opens a page.

It owns `WatchRound` (one per period of WATCH_EVERY_MINUTES: which instance opened it, how many server tasks it
enqueued and how many have finished) and `ServerWatch` (how the last look at each server went, and the pause
after Postmark's 429). Refreshing a server's copy is `streams.services.stream_list(refresh=True)`, which records
the outside changes; this module decides only which servers to watch and what a failure means for the next round.
When the last task of a round finishes it sends `round_completed`, for work that needs every server watched.

Never: decrypt a token for use (the stream services do), call Postmark itself, or log a token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone

from dashboard import audit
from dashboard.models import Server
from dashboard.services.servers import server_token_is_readable
from streams.models import ServerWatch, WatchRound
from streams.services import PostmarkTrouble, stream_list

logger = logging.getLogger(__name__)
Outcome = ServerWatch.Outcome

# Sent with `watch_round=` once every server task of a round has finished, well or not (exactly once per round).
round_completed = Signal()

# The longest pause after Postmark's 429s in a row: a server is never left unwatched for longer.
BACK_OFF_LONGEST = timedelta(hours=4)
_OUTCOMES = {"token_rejected": Outcome.TOKEN_REJECTED, "token_unreadable": Outcome.TOKEN_UNREADABLE,
             "unavailable": Outcome.UNAVAILABLE, "rate_limited": Outcome.RATE_LIMITED}


def watch_period() -> timedelta:
    return timedelta(minutes=settings.WATCH_EVERY_MINUTES)


def period_start(moment: datetime) -> datetime:
    """The start of the period `moment` falls in: periods are counted from the epoch, the same on every machine."""
    seconds = watch_period().total_seconds()
    return datetime.fromtimestamp(moment.timestamp() // seconds * seconds, tz=UTC)


@dataclass
class RoundPlan:
    watch_round: WatchRound
    servers: list[Server]
    skipped: dict[Server, str] = field(default_factory=dict)  # server: an Outcome value saying why


def watch_round_start(*, now: datetime | None = None) -> RoundPlan | None:
    """Open this period's round and choose its servers; None when another run (here or elsewhere) already did."""
    now = now or timezone.now()
    servers, skipped = _servers_to_watch(now)
    try:
        with transaction.atomic():
            watch_round = WatchRound.objects.create(
                period_start=period_start(now), started_at=now, expected=len(servers), skipped=len(skipped),
                completed_at=None if servers else now)
    except IntegrityError:  # the unique period: another instance opened this round first
        return None
    for server, outcome in skipped.items():
        ServerWatch.objects.update_or_create(server=server, defaults={"last_tried_at": now, "last_outcome": outcome})
    if not servers:
        round_completed.send(sender=WatchRound, watch_round=watch_round)
    return RoundPlan(watch_round, servers, skipped)


def _servers_to_watch(now: datetime) -> tuple[list[Server], dict[Server, str]]:
    """Every connected server, but for those whose token is rejected or unreadable (until an admin fixes it)
    and those Postmark asked us to leave alone for a while."""
    backing_off = set(ServerWatch.objects.filter(back_off_until__gt=now).values_list("server_id", flat=True))
    servers, skipped = [], {}
    for server in Server.objects.select_related("team").order_by("team_id", "name", "pk"):
        if server.token_rejected_at is not None:
            skipped[server] = Outcome.TOKEN_REJECTED
        elif not server_token_is_readable(server):
            skipped[server] = Outcome.TOKEN_UNREADABLE
        elif server.pk in backing_off:
            skipped[server] = Outcome.RATE_LIMITED
        else:
            servers.append(server)
    return servers, skipped


def server_watch(*, server_id: str, round_id: int | None = None) -> str:
    """Refresh one server's copy from Postmark (recording what changed outside); the outcome's value.

    Whatever happens, the server counts as done in its round, so one failing server never holds a round open."""
    try:
        server = Server.objects.select_related("team").filter(pk=server_id).first()
        if server is None:
            return "removed"  # removed from the dashboard after the round was planned
        with audit.context(user_agent="watch worker"):
            return _watch(server)
    finally:
        if round_id is not None:
            _finish_one(round_id)


def _watch(server: Server) -> str:
    now = timezone.now()
    try:
        trouble = stream_list(server=server, include_archived=True, refresh=True).trouble
    except PostmarkTrouble as no_copy:  # Postmark failed and there was no copy to fall back on
        trouble = no_copy
    outcome = Outcome.WATCHED if trouble is None else _OUTCOMES.get(trouble.kind, Outcome.UNAVAILABLE)
    watch, _ = ServerWatch.objects.get_or_create(server=server)
    watch.last_tried_at, watch.last_outcome = now, outcome
    if outcome == Outcome.WATCHED:
        watch.last_watched_at, watch.back_off_until, watch.rate_limited_in_a_row = now, None, 0
    elif outcome == Outcome.RATE_LIMITED:
        watch.rate_limited_in_a_row += 1
        pause = min(watch_period() * 2 ** (watch.rate_limited_in_a_row - 1), BACK_OFF_LONGEST)
        watch.back_off_until = now + pause
    watch.save()
    if outcome != Outcome.WATCHED:
        logger.warning("Watching server %s (team %s) failed: %s", server.pk, server.team_id, outcome.label)
    return outcome.value


def _finish_one(round_id: int) -> None:
    WatchRound.objects.filter(pk=round_id).update(done=F("done") + 1)
    # Only one finishing task sees the round still open and full: it alone completes it.
    if WatchRound.objects.filter(pk=round_id, completed_at=None, done__gte=F("expected")).update(
            completed_at=timezone.now()):
        round_completed.send(sender=WatchRound, watch_round=WatchRound.objects.get(pk=round_id))


@dataclass
class WatchStatus:
    last_completed: WatchRound | None
    latest: WatchRound | None
    troubled: list[ServerWatch]  # servers whose last look did not go well, with why

    def overdue(self, now: datetime | None = None) -> bool:
        """No round completed within three periods: the periodic trigger or the worker is not running."""
        now = now or timezone.now()
        return self.last_completed is None or now - self.last_completed.completed_at > 3 * watch_period()


def watch_status() -> WatchStatus:
    completed = WatchRound.objects.exclude(completed_at=None).order_by("-completed_at").first()
    troubled = (ServerWatch.objects.select_related("server", "server__team").exclude(last_outcome=Outcome.WATCHED)
                .exclude(last_outcome="").order_by("server__team__name", "server__name"))
    return WatchStatus(completed, WatchRound.objects.order_by("-period_start").first(), list(troubled))
