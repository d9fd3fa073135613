"""Message streams of a team's Postmark servers: reading them, and the four changes people make.

Postmark is the source of truth: nothing here stores a stream. Reads make one Postmark call per
server (the whole list, archived included, filtered and sorted here), so a page never calls Postmark
once per row. Writers (`stream_create`, `stream_edit`, `stream_archive`, `stream_restore`) check the
role, call Postmark, record exactly one audit event with its outcome, and turn every refusal into a
`ServiceError` whose words a non-engineer can act on, on the form field it concerns.

Never: decrypt a token (only `postmark_client_for` does), see a request, or log a token.
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.core import signing
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone

from dashboard import after_response, audit
from dashboard.models import AuditEvent, Role, Server, Team, User
from dashboard.postmark.client import (
    UNSET,
    ArchiveResult,
    ErrorCode,
    PostmarkError,
    PostmarkNotAsked,
    PostmarkUnavailable,
    RateLimited,
    Stream,
    StreamNotFound,
    StreamType,
    TokenRejected,
    UnsubscribeHandling,
)
from dashboard.services import ServiceError
from dashboard.services.servers import postmark_client_for, server_note_token_accepted, server_note_token_rejected
from dashboard.services.teams import role_of
from dashboard.token_crypto import TokenUnreadable
from streams import last_known
from streams.last_known import PURGE_AFTER, stream_target

Outcome = AuditEvent.Outcome
logger = logging.getLogger(__name__)
_T = TypeVar("_T")

# Postmark refuses to archive these two; the default broadcast stream "may be refused" (see the contract).
STREAMS_THAT_CANNOT_BE_ARCHIVED = {
    "outbound": "This is the server's default transactional stream. Postmark never archives it, because the "
                "server's ordinary e-mail is sent through it.",
    "inbound": "This is the server's inbound stream. Postmark never archives it, because the server receives "
               "e-mail through it.",
}
TYPE_FILTERS = ("all", "transactional", "broadcasts", "inbound")
SORTS = ("name", "type", "created")
# A Postmark server token is a UUID: one pasted into a stream's details would be shown to everyone in Postmark.
_TOKEN_SHAPE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)

# What each of Postmark's codes means to a person, and which form field it belongs to (None: the whole form).
REFUSALS: dict[int, tuple[str | None, str]] = {
    ErrorCode.INVALID_STREAM_TYPE: ("stream_type", "Choose Transactional or Broadcasts as the stream's type."),
    ErrorCode.ID_REQUIRED: ("stream_id", "Give the stream an ID, such as “billing-news”."),
    ErrorCode.NAME_REQUIRED: ("name", "Give the stream a name your team will recognise."),
    ErrorCode.NAME_TOO_LONG: ("name", "The name can be at most 100 characters long."),
    ErrorCode.STREAM_LIMIT_REACHED: (None, "This server has no free stream slots: every one is used, archived "
                                           "streams included. Archive a stream you no longer need and wait for "
                                           "Postmark to delete it, or ask Postmark support to raise the limit."),
    ErrorCode.STREAM_NOT_FOUND: (None, "Postmark has no stream with this ID on this server any more. It may have "
                                       "been deleted after its archive period, or removed in Postmark."),
    ErrorCode.INVALID_ID: ("stream_id", "An ID starts with a letter and uses only lowercase letters (a–z), digits, "
                                        "“-” and “_”, up to 30 characters in all."),
    ErrorCode.ONLY_ONE_INBOUND_STREAM: ("stream_type", "A server has exactly one inbound stream, which Postmark "
                                                       "made for you; new streams are Transactional or Broadcasts."),
    ErrorCode.CANNOT_ARCHIVE_DEFAULT_STREAM: (None, "Postmark never archives a server's default transactional or "
                                                    "inbound stream."),
    ErrorCode.ID_ALREADY_EXISTS: ("stream_id", "This server already has a stream with this ID (archived streams "
                                               "count too). Choose another ID."),
    ErrorCode.DESCRIPTION_TOO_LONG: ("description", "The description can be at most 1000 characters long."),
    ErrorCode.CANNOT_UNARCHIVE: (None, "Postmark can no longer restore this stream: it has been deleted, or it is "
                                       "not archived."),
    ErrorCode.ID_HAS_PM_PREFIX: ("stream_id", "IDs starting with “pm-” are kept for Postmark's own streams. Choose "
                                              "another ID."),
    ErrorCode.DESCRIPTION_HAS_HTML: ("description", "The description cannot contain “<” or “>”."),
    ErrorCode.ID_RESERVED: ("stream_id", "“all” is a word Postmark keeps for itself. Choose another ID."),
    ErrorCode.CUSTOM_UNSUBSCRIBE_NOT_ALLOWED: ("unsubscribe_handling", "Custom unsubscribe handling must first be "
                                               "turned on for your Postmark account by Postmark support. Choose "
                                               "“Postmark” for now; you can change it later."),
    ErrorCode.UNSUBSCRIBE_HANDLING_NOT_SUPPORTED: ("unsubscribe_handling", "Only Broadcasts streams handle "
                                                   "unsubscribes; a Transactional stream has none."),
    ErrorCode.CANNOT_ARCHIVE_YET: (None, "Postmark can't archive this stream yet (this happens with streams made "
                                         "a few minutes ago). Try again a little later."),
    ErrorCode.INVALID_JSON: (None, "Postmark could not read the request. Nothing was changed; try again."),
}


# --- Trouble with Postmark -----------------------------------------------------------------------


class PostmarkTrouble(ServiceError):
    """Postmark could not be asked, or would not answer: nothing about the streams is known or changed.

    `kind` is one of "token_rejected", "token_unreadable", "unavailable", "rate_limited", so a page can say
    who can fix it (an admin replaces the token; everyone else waits a little).
    """

    def __init__(self, message: str, *, kind: str, maybe_done: bool = False):
        super().__init__(message)
        self.kind = kind
        self.maybe_done = maybe_done  # no answer in Postmark's own words: a write may have been done


class StreamGone(ServiceError):
    """The stream is not on the server (any more): purged after its archive period, or removed in Postmark."""


class StreamChanged(ServiceError):
    """The stream changed in Postmark since the edit form was opened; `changes` is {field: (seen, now)}."""

    def __init__(self, message: str, *, current: Stream, changes: dict[str, tuple[Any, Any]]):
        super().__init__(message)
        self.current = current
        self.changes = changes


def _trouble(error: Exception, server: Server) -> PostmarkTrouble:
    if isinstance(error, TokenUnreadable):
        return PostmarkTrouble(f"The token of {server.name} can't be read with this installation's keys, so "
                               "Postmark can't be asked. An admin can re-enter it on the server's page.",
                               kind="token_unreadable")
    if isinstance(error, TokenRejected):
        server_note_token_rejected(server=server)
        return PostmarkTrouble(f"Postmark rejected the token of {server.name}: it may have been reset or deleted "
                               "in Postmark. An admin can paste the current Server API token on the server's page.",
                               kind="token_rejected")
    if isinstance(error, RateLimited):
        return PostmarkTrouble("Postmark asked us to slow down. Wait a few seconds and try again.",
                               kind="rate_limited")
    return PostmarkTrouble(f"Postmark isn't answering for {server.name} right now (it may be slow or down). "
                           "Try again in a minute; nothing was changed.", kind="unavailable",
                           maybe_done=getattr(error, "error_code", None) is None
                           and not isinstance(error, PostmarkNotAsked))


def _ask(server: Server, call: Callable[[Any], _T]) -> _T:
    """Call Postmark for `server`, turning every failure but a refusal or a missing stream into PostmarkTrouble."""
    try:
        answer = call(postmark_client_for(server))
    except (TokenUnreadable, TokenRejected, RateLimited, PostmarkUnavailable) as error:
        raise _trouble(error, server) from None
    server_note_token_accepted(server=server)
    return answer


# --- Reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """A server's streams as the dashboard knows them: fresh from Postmark, or its last copy and why."""

    streams: list[Stream]
    as_of: datetime                        # when Postmark gave this answer
    trouble: PostmarkTrouble | None = None  # set when Postmark failed just now and this is the last copy

    def known_or_raise(self) -> Known:
        return self


def _fresh_seconds() -> float:
    return float(getattr(settings, "STREAMS_FRESH_SECONDS", 30))


def _is_fresh(copy: last_known.Copy | None) -> bool:
    return copy is not None and copy.age.total_seconds() < _fresh_seconds()


def _lock_key(server: Server) -> str:
    return f"streams:asking:{server.pk}"


def _trouble_key(server: Server) -> str:
    return f"streams:trouble:{server.pk}"


def _wait_seconds() -> float:
    """How long a request waits for another one's answer: the client's own timeouts, never more."""
    return float(settings.POSTMARK_CONNECT_TIMEOUT) + float(settings.POSTMARK_READ_TIMEOUT)


_Answer = tuple[Server, list[Stream] | Exception, datetime]  # a server, what Postmark said, when it was asked


def _fetched_many(answers: list[_Answer],
                  copies: dict[Any, last_known.Copy] | None = None) -> dict[Any, Known | PostmarkTrouble]:
    """Take in the answers (or failures) this request asked Postmark for, in one go, and let waiters go.

    An answer that changes nothing in the copy read before asking (`copies`: the usual case) is known at once, and
    written down, with its lock let go, after the page has been sent (`after_response.defer`): the copy's moment is
    all that changes, and other requests for the server wait on the lock until then, as they would have anyway."""
    known: dict[Any, Known | PostmarkTrouble] = {}
    later: list[_Answer] = []
    try:
        for server, answer, _ in answers:
            if isinstance(answer, Exception):
                trouble = answer if isinstance(answer, PostmarkTrouble) else _trouble(answer, server)
                cache.set(_trouble_key(server), (trouble.kind, trouble.message), timeout=_wait_seconds())
                known[server.pk] = trouble
            else:
                server_note_token_accepted(server=server)
        listed = [item for item in answers if not isinstance(item[1], Exception)]
        later = [item for item in listed if (copy := (copies or {}).get(item[0].pk)) and copy.holds(item[1])]
        taken = last_known.take_lists([item for item in listed if not any(item is put_off for put_off in later)])
        known.update({pk: Known(copy.streams, copy.fetched_at) for pk, copy in taken.items()})
        if later:
            moment = timezone.now()
            known.update({server.pk: Known(streams, moment) for server, streams, _ in later})
            read_at = {server.pk: copies[server.pk].fetched_at for server, _, _ in later}
            after_response.defer(partial(_take_in_later, later, read_at, moment))
    finally:
        put_off = {server.pk for server, _, _ in later}
        cache.delete_many([_lock_key(server) for server, _, _ in answers if server.pk not in put_off])
    return known


def _take_in_later(answers: list[_Answer], read_at: dict[Any, datetime], moment: datetime) -> None:
    try:
        last_known.take_unchanged_lists(answers, read_at, now=moment)
    finally:
        cache.delete_many([_lock_key(server) for server, _, _ in answers])


def _awaited(server: Server, before: last_known.Copy | None) -> Known:
    """Another request is asking Postmark for this server: wait for its answer rather than ask again."""
    deadline = time.monotonic() + _wait_seconds()
    while cache.get(_lock_key(server)) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    copy = last_known.load(server)
    if copy is not None and (before is None or copy.fetched_at > before.fetched_at):
        return Known(copy.streams, copy.fetched_at)
    kind, message = cache.get(_trouble_key(server)) or ("unavailable", _SLOW.format(server=server.name))
    raise PostmarkTrouble(message, kind=kind)


_SLOW = "Postmark is taking too long to answer for {server} right now. Try again in a minute; nothing was changed."


@dataclass(frozen=True)
class Unknown:
    """Postmark failed and there is no copy to fall back on."""

    trouble: PostmarkTrouble

    def known_or_raise(self) -> Known:
        raise self.trouble


def _with_fallback(answer: Known | PostmarkTrouble, copy: last_known.Copy | None) -> Known | Unknown:
    """When Postmark fails, the last copy (marked as such) beats a blank page."""
    if isinstance(answer, Known):
        return answer
    if copy is None:
        return Unknown(answer)
    return Known(copy.streams, copy.fetched_at, answer)


def _server_streams(server: Server, *, refresh: bool = False,
                    meanwhile: Callable[[Known], None] | None = None) -> Known:
    """Every stream of the server, archived included: the copy while it is fresh, else one Postmark call.

    Many requests for the same stale server make one call: the first takes a lock in the shared cache and
    asks; the others wait for its answer, never longer than the client's timeouts. `meanwhile`: see
    `_known_for_each`.
    """
    early = (lambda known: meanwhile(known[server.pk])) if meanwhile else None
    return _known_for_each([server], refresh=refresh, meanwhile=early)[server.pk].known_or_raise()


def purge_moment(stream: Stream) -> datetime | None:
    """When Postmark deletes an archived stream (its own date, or archive time + 45 days when it gave none)."""
    if stream.expected_purge_date is not None:
        return stream.expected_purge_date
    if stream.archived_at is not None:
        return stream.archived_at + PURGE_AFTER
    return None


def _type_key(stream: Stream) -> str:
    return stream.stream_type.value.lower()


def _matches(stream: Stream, search: str) -> bool:
    words = search.lower().split()
    haystack = " ".join((stream.id, stream.name, stream.description or "")).lower()
    return all(word in haystack for word in words)


_SORT_KEYS: dict[str, Callable[[Stream], Any]] = {
    "name": lambda stream: (stream.name.lower(), stream.id),
    "type": lambda stream: (_type_key(stream), stream.name.lower(), stream.id),
    "created": lambda stream: (stream.created_at, stream.id),
}


@dataclass
class ServerStreams:
    """A server's streams as a person asked to see them, and what the whole server holds."""

    server: Server
    streams: list[Stream]                      # filtered, searched and sorted
    stream_type: str = "all"
    include_archived: bool = False
    search: str = ""
    sort: str = "name"
    counts: dict[str, int] = field(default_factory=dict)   # by type key: active ones, or all when archived are shown
    archived_count: int = 0
    slots_used: int = 0                        # archived streams take a slot until Postmark deletes them
    total: int = 0                             # every stream on the server
    hidden_archived: int = 0                   # archived streams that match the filters but are left out
    as_of: datetime | None = None              # when Postmark gave the answer these come from
    trouble: PostmarkTrouble | None = None     # Postmark failed just now: this is its last answer

    @property
    def slots_left(self) -> int:
        return max(0, self.server.stream_limit - self.slots_used)

    @property
    def is_filtered(self) -> bool:
        return self.stream_type != "all" or bool(self.search)


def stream_list(*, server: Server, stream_type: str = "all", include_archived: bool = False, search: str = "",
                sort: str = "name", refresh: bool = False,
                meanwhile: Callable[[ServerStreams], None] | None = None) -> ServerStreams:
    """The server's streams, filtered by type, archived or not and a search over ID, name and description.

    From the last-known copy while it is fresh (`refresh` asks Postmark regardless); when Postmark fails,
    from the last copy with `trouble` set. Raises PostmarkTrouble only when there is no copy at all.
    `meanwhile`, when Postmark is asked and there is a copy, is given the same listing made from the copy while
    Postmark answers (a page can be drawn from it, and kept when the answer lists the same).
    """
    stream_type = stream_type if stream_type in TYPE_FILTERS else "all"
    sort = sort if sort in SORTS else "name"
    search = " ".join((search or "").split())[:100]
    choices = {"stream_type": stream_type, "include_archived": include_archived, "search": search, "sort": sort}
    early = (lambda known: meanwhile(_listing(server, known, **choices))) if meanwhile else None
    return _listing(server, _server_streams(server, refresh=refresh, meanwhile=early), **choices)


def _listing(server: Server, known: Known, *, stream_type: str, include_archived: bool, search: str,
             sort: str) -> ServerStreams:
    everything = known.streams
    matching = [stream for stream in everything
                if (stream_type == "all" or _type_key(stream) == stream_type) and _matches(stream, search)]
    shown = [stream for stream in matching if include_archived or not stream.is_archived]
    shown.sort(key=_SORT_KEYS[sort])
    return ServerStreams(
        server=server, streams=shown, stream_type=stream_type, include_archived=include_archived, search=search,
        sort=sort,
        counts=Counter(_type_key(stream) for stream in everything if include_archived or not stream.is_archived),
        archived_count=sum(stream.is_archived for stream in everything), slots_used=len(everything),
        total=len(everything), hidden_archived=len(matching) - len(shown), as_of=known.as_of, trouble=known.trouble,
    )


def stream_get(*, server: Server, stream_id: str) -> Stream:
    """One stream, asked of Postmark now (writers check the current state); the copy learns the answer."""
    asked_at = timezone.now()
    try:
        stream = _ask(server, lambda client: client.get_stream(stream_id))
    except StreamNotFound:
        last_known.take_one(server, stream_id, None, asked_at=asked_at)
        raise StreamGone(REFUSALS[ErrorCode.STREAM_NOT_FOUND][1]) from None
    last_known.take_one(server, stream_id, stream, asked_at=asked_at)
    return stream


@dataclass(frozen=True)
class KnownStream:
    stream: Stream
    as_of: datetime
    trouble: PostmarkTrouble | None = None  # Postmark failed just now: this is its last answer


def stream_read(*, server: Server, stream_id: str, refresh: bool = False) -> KnownStream:
    """One stream for a page, from the server's copy (fresh, else asked for anew, else the last one with its
    trouble). A stream the copy doesn't hold is asked of Postmark alone: it may be newer than the copy."""
    known = _server_streams(server, refresh=refresh)
    held = next((stream for stream in known.streams if stream.id == stream_id), None)
    if held is not None:
        return KnownStream(held, known.as_of, known.trouble)
    if known.trouble is not None:
        raise known.trouble
    return KnownStream(stream_get(server=server, stream_id=stream_id), timezone.now())


@dataclass
class ServerSummary:
    """One server on the team's overview: its streams' counts, the trouble that kept them from us, or both
    (Postmark failed and the counts come from its last answer)."""

    server: Server
    streams: ServerStreams | None = None
    trouble: PostmarkTrouble | None = None
    as_of: datetime | None = None


@dataclass
class TeamOverview:
    servers: list[ServerSummary]
    # (server, stream) for every archived stream of every server, the soonest purge first.
    purging: list[tuple[Server, Stream]]


_FANOUT: ThreadPoolExecutor | None = None
_FANOUT_LOCK = threading.Lock()


def _fanout() -> ThreadPoolExecutor:
    """One pool per process for asking Postmark side by side: at most POSTMARK_CONCURRENCY calls at once."""
    global _FANOUT
    with _FANOUT_LOCK:
        if _FANOUT is None:
            workers = int(getattr(settings, "POSTMARK_CONCURRENCY", 32))
            _FANOUT = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="postmark-fanout")
        return _FANOUT


def _list_or_error(server: Server) -> list[Stream] | Exception:
    """Postmark only, no database: it may run on a fan-out thread."""
    try:
        return postmark_client_for(server).list_streams(include_archived=True)
    except (TokenUnreadable, PostmarkError) as error:
        return error


def _known_for_each(servers: list[Server], *, refresh: bool,
                    meanwhile: Callable[[dict[Any, Known]], None] | None = None) -> dict[Any, Known | Unknown]:
    """Each server's streams: fresh copies cost nothing, every stale server is asked at once (one call per
    server however many requests want it), and Postmark's failures fall back on the last copy.

    `meanwhile`: when servers are asked and each has a copy, it is called on this thread while Postmark answers,
    with what the copies hold (a page draws itself from them instead of waiting idle). It is not called when
    nothing is asked, when a server has no copy yet, or when another request is asking for one of them.
    """
    copies = last_known.load_many(servers)  # first writes an answer this request put off, and lets its lock go
    known: dict[Any, Known | PostmarkTrouble] = {}
    asking, stale = [], []
    for server in servers:
        copy = copies.get(server.pk)
        if not refresh and _is_fresh(copy):
            known[server.pk] = Known(copy.streams, copy.fetched_at)
        else:
            stale.append(server)
    taken = _locks_taken(stale)
    locked = [server for server, got in zip(stale, taken, strict=True) if got]
    waiting = [server for server, got in zip(stale, taken, strict=True) if not got]
    # Another request may have taken Postmark's answer in between our first look and our lock: use it.
    to_ask = _answered_meanwhile(locked, copies, refresh=refresh, into=known)
    if meanwhile is not None and to_ask and not waiting and all(server.pk in copies for server in to_ask):
        answers = _asked_while(to_ask, meanwhile, {**known, **{server.pk: Known(copies[server.pk].streams,
                                                                               copies[server.pk].fetched_at)
                                                              for server in to_ask}})
    elif len(to_ask) == 1:  # one call (a list page, a one-server team): asked on this thread, no hand-over
        server = to_ask[0]
        asked_at = timezone.now()
        answers = [(server, _list_or_error(server), asked_at)]
    else:
        for server in to_ask:
            # In the request's context (copied), so each call keeps to the request's time for Postmark.
            call = _fanout().submit(contextvars.copy_context().run, _list_or_error, server)
            asking.append((server, timezone.now(), call))
        answers = [(server, future.result(), asked_at) for server, asked_at, future in asking]
    # Answers are taken in on this thread: everything touching the database stays here.
    known.update(_fetched_many(answers, copies))
    for server in waiting:
        try:
            known[server.pk] = _awaited(server, copies.get(server.pk))
        except PostmarkTrouble as trouble:
            known[server.pk] = trouble
    return {server.pk: _with_fallback(known[server.pk], copies.get(server.pk)) for server in servers}


def _locks_taken(servers: list[Server]) -> list[bool]:
    """Takes each server's asking lock where it is free, saying which were taken. On Redis in one round trip for
    them all (Django's cache has no `add_many`; 30 servers one by one cost some 9 ms), as `cache.add` would
    write each; on any other cache one `cache.add` each."""
    keys, timeout = [_lock_key(server) for server in servers], _wait_seconds() * 3
    backend = caches[DEFAULT_CACHE_ALIAS]
    if len(keys) < 2 or not isinstance(backend, RedisCache):
        return [cache.add(key, 1, timeout=timeout) for key in keys]
    pipeline = backend._cache.get_client(write=True).pipeline(transaction=False)
    for key in keys:
        pipeline.set(backend.make_and_validate_key(key), 1, ex=backend.get_backend_timeout(timeout), nx=True)
    return [bool(done) for done in pipeline.execute()]


def _asked_while(to_ask: list[Server], meanwhile: Callable[[dict[Any, Known]], None],
                 early: dict[Any, Known]) -> list[_Answer]:
    """Ask Postmark for each server on the fan-out threads and call `meanwhile(early)` here while it answers."""
    started = [threading.Event() for _ in to_ask]

    def ask(server: Server, started: threading.Event) -> list[Stream] | Exception:
        started.set()
        return _list_or_error(server)

    asking = [(server, timezone.now(), _fanout().submit(contextvars.copy_context().run, ask, server, event))
              for server, event in zip(to_ask, started, strict=True)]
    # Each call gets under way before the page is drawn: a fan-out thread that started holds the interpreter until
    # it sends its request (as a direct call would), where a thread not yet started would wait for the drawing.
    for event in started:
        event.wait(timeout=0.05)
    try:
        meanwhile(early)
    except BaseException:  # the answers are still waited for and taken in, and the locks let go
        _fetched_many([(server, future.result(), asked_at) for server, asked_at, future in asking])
        raise
    return [(server, future.result(), asked_at) for server, asked_at, future in asking]


def _answered_meanwhile(locked: list[Server], copies: dict[Any, last_known.Copy], *, refresh: bool,
                        into: dict[Any, Known | PostmarkTrouble]) -> list[Server]:
    """The locked servers still to ask: a copy taken since `copies` were read answers for its server."""
    if not locked:
        return []
    answered_at = last_known.fetched_times(locked)
    to_ask = []
    for server in locked:
        before, after = copies.get(server.pk), answered_at.get(server.pk)
        if after is not None and (before is None or after > before.fetched_at) and (
                not refresh or (timezone.now() - after).total_seconds() < 1):
            cache.delete(_lock_key(server))
            copy = last_known.load(server)  # rare: another request answered between our look and our lock
            into[server.pk] = Known(copy.streams, copy.fetched_at)
        else:
            to_ask.append(server)
    return to_ask


def team_overview(*, team: Team, servers: Iterable[Server] | None = None, refresh: bool = False) -> TeamOverview:
    """Every server of the team with its counts: from fresh copies, and every stale server asked at once."""
    servers = list(team.servers.all() if servers is None else servers)
    known = _known_for_each(servers, refresh=refresh)
    summaries, purging = [], []
    for server in servers:
        answer = known[server.pk]
        if isinstance(answer, Unknown):
            summaries.append(ServerSummary(server, trouble=answer.trouble))
            continue
        streams = answer.streams
        listing = ServerStreams(
            server=server, streams=streams, counts=Counter(_type_key(s) for s in streams if not s.is_archived),
            archived_count=sum(s.is_archived for s in streams), slots_used=len(streams), total=len(streams),
            as_of=answer.as_of, trouble=answer.trouble,
        )
        summaries.append(ServerSummary(server, streams=listing, trouble=answer.trouble, as_of=answer.as_of))
        purging.extend((server, stream) for stream in streams if stream.is_archived)
    purging.sort(key=lambda pair: (purge_moment(pair[1]), pair[0].name, pair[1].id))
    return TeamOverview(summaries, purging)


def stream_ids_on_server(*, server: Server) -> list[str] | None:
    """The IDs in use on the server (archived included) for checking a new ID as someone types.

    From the last-known copy while it is fresh, so each keystroke does not ask Postmark; None when Postmark
    can't be asked and there is no copy, and the check on submit (by Postmark itself) still has the last word.
    """
    try:
        known = _server_streams(server)
    except PostmarkTrouble:
        return None
    return sorted(stream.id for stream in known.streams)


def stream_history(*, team: Team, server: Server, stream_id: str, limit: int = 50) -> list[AuditEvent]:
    # The indexed columns find the stream's entries (its ID in lower case, as the log keeps it for its filters);
    # the exact target keeps a stream whose ID differs only in case out.
    events = AuditEvent.objects.for_team(team).filter(
        stream_id=stream_id.lower(), server_id=str(server.pk), target_type="stream",
        target_id=stream_target(server, stream_id))
    return list(events[:limit])


def stream_can_be_archived(stream: Stream) -> tuple[bool, str]:
    """Whether to offer "Archive", and if not, the reason to show instead of the button."""
    if stream.is_archived:
        return False, "This stream is already archived."
    reason = STREAMS_THAT_CANNOT_BE_ARCHIVED.get(stream.id)
    return (reason is None), reason or ""


# --- Snapshots: what the edit form saw ------------------------------------------------------------

_SNAPSHOT_SALT = "streams.edit.snapshot"
EDITABLE_FIELDS = ("name", "description", "unsubscribe_handling")


def _editable(stream: Stream) -> dict[str, str]:
    return {"name": stream.name, "description": stream.description or "",
            "unsubscribe_handling": stream.unsubscribe_handling.value}


def stream_snapshot(stream: Stream) -> str:
    """A signed note of the editable fields as the form showed them, carried in the form as a hidden field."""
    return signing.dumps({"id": stream.id, **_editable(stream)}, salt=_SNAPSHOT_SALT, compress=True)


def read_snapshot(text: str, *, stream_id: str) -> dict[str, str] | None:
    try:
        seen = signing.loads(text or "", salt=_SNAPSHOT_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(seen, dict) or seen.get("id") != stream_id or any(key not in seen for key in EDITABLE_FIELDS):
        return None
    return {key: seen[key] for key in EDITABLE_FIELDS}


# --- Writing -------------------------------------------------------------------------------------


def stream_audit_target(server: Server, stream_id: str) -> dict[str, str]:
    """How every audit entry about a stream names it."""
    return {"target_type": "stream", "target_id": stream_target(server, stream_id),
            "target_label": f"{stream_id} on {server.name}"[:200]}


def _event(action: str, *, actor: User, team: Team, role: Role, server: Server, stream_id: str,
           changes: dict | None = None) -> dict[str, Any]:
    return {"action": action, "actor": actor, "team": team, "role": role, **stream_audit_target(server, stream_id),
            "changes": changes or {}}


def _refuse_tokens(**fields: str | None) -> None:
    """A token pasted into a stream's details would be shown to everyone in Postmark: stop it before it goes."""
    for field_name, value in fields.items():
        if _TOKEN_SHAPE.search(value or ""):
            raise ServiceError("That looks like a Postmark server token. A token never belongs in a stream's "
                               "details: remove it and try again.", field=field_name)


def _denied(event: dict[str, Any], what: str) -> ServiceError:
    audit.record(**event, outcome=Outcome.DENIED, detail=f"{what} needs the Editor role or higher.")
    return ServiceError(f"{what} needs the Editor role or higher. Ask an admin of your team if you need it.")


def _refused(event: dict[str, Any], error: PostmarkError) -> ServiceError:
    """Postmark said no: record its code, and say why on the right field."""
    field_name, message = REFUSALS.get(error.error_code or -1, (None, None))
    if message is None:
        message = f"Postmark refused this: {error.message}"
    code = f"Postmark code {int(error.error_code)}" if error.error_code is not None else f"HTTP {error.status}"
    audit.record(**event, outcome=Outcome.REFUSED, detail=f"{code}: {error.message}"[:500])
    if isinstance(error, StreamNotFound):
        return StreamGone(message)
    return ServiceError(message, field=field_name)


def _failed(event: dict[str, Any], trouble: PostmarkTrouble, server: Server, *, writes: bool) -> PostmarkTrouble:
    if writes and trouble.maybe_done:
        trouble.message = (f"Postmark stopped answering for {server.name} before saying whether this went through. "
                           "Check the server's streams before trying again.")
    audit.record(**event, outcome=Outcome.FAILED, detail=trouble.message[:500])
    return trouble


def _write(server: Server, event: dict[str, Any], call: Callable[[Any], _T], *, stream_id: str,
           writes: bool = True) -> _T:
    """Make one call for a writer. A change Postmark made (or may have made) reaches the copy at once, so it
    is never mistaken for a change made outside the dashboard."""
    asked_at = timezone.now()
    try:
        answer = _ask(server, call)
    except PostmarkTrouble as trouble:
        if writes and trouble.maybe_done:
            last_known.take_write(server, stream_id, None)
        raise _failed(event, trouble, server, writes=writes) from None
    except PostmarkError as error:
        raise _refused(event, error) from None
    if writes:
        last_known.take_write(server, stream_id, answer)
    elif isinstance(answer, Stream):
        last_known.take_one(server, stream_id, answer, asked_at=asked_at)
    return answer


def stream_create(*, actor: User, team: Team, server: Server, stream_id: str, name: str, stream_type: str,
                  description: str = "", unsubscribe_handling: str | None = None) -> Stream:
    role = role_of(actor, team)
    _refuse_tokens(stream_id=stream_id, name=name, description=description)
    description = description or ""
    handling = unsubscribe_handling or ("Postmark" if stream_type.lower() == "broadcasts" else "None")
    event = _event("stream.create", actor=actor, team=team, role=role, server=server, stream_id=stream_id,
                   changes={"name": [None, name], "type": [None, stream_type], "description": [None, description],
                            "unsubscribe_handling": [None, handling]})
    if not role.at_least(Role.EDITOR):
        raise _denied(event, "Creating a stream")
    stream = _write(server, event, lambda client: client.create_stream(
        id=stream_id, name=name, stream_type=stream_type, description=description or None,
        unsubscribe_handling=handling), stream_id=stream_id)
    audit.record(**event, outcome=Outcome.SUCCESS)
    return stream


def stream_edit(*, actor: User, team: Team, server: Server, stream_id: str, seen: dict[str, str] | None,
                name: str, description: str, unsubscribe_handling: str) -> Stream:
    """Save the edit form, unless the stream changed in Postmark since the form was opened (`seen`)."""
    role = role_of(actor, team)
    _refuse_tokens(name=name, description=description)
    wanted = {"name": name, "description": description or "", "unsubscribe_handling": unsubscribe_handling}
    event = _event("stream.edit", actor=actor, team=team, role=role, server=server, stream_id=stream_id)
    if not role.at_least(Role.EDITOR):
        raise _denied(event, "Editing a stream")
    current = _write(server, event, lambda client: client.get_stream(stream_id), stream_id=stream_id, writes=False)
    now = _editable(current)
    if seen is None or now != seen:
        changed = {key: (seen.get(key) if seen else None, now[key]) for key in EDITABLE_FIELDS
                   if seen is None or seen[key] != now[key]}
        audit.record(**event, outcome=Outcome.REFUSED, detail="The stream changed in Postmark after the form was "
                     f"opened ({', '.join(changed)}); nothing was saved.")
        raise StreamChanged("Someone changed this stream in Postmark after you opened the form, so nothing was "
                            "saved. Check what changed below, then save again if you still want your version.",
                            current=current, changes=changed)
    changes = {key: [now[key], wanted[key]] for key in EDITABLE_FIELDS if wanted[key] != now[key]}
    if not changes:
        return current
    event["changes"] = changes
    edits: dict[str, Any] = {"name": UNSET, "description": UNSET, "unsubscribe_handling": UNSET}
    edits.update({key: value for key, (_, value) in changes.items()})
    stream = _write(server, event, lambda client: client.edit_stream(stream_id, **edits), stream_id=stream_id)
    audit.record(**event, outcome=Outcome.SUCCESS)
    return stream


def stream_archive(*, actor: User, team: Team, server: Server, stream_id: str, confirmation: str) -> ArchiveResult:
    """Archive after the person typed the stream's ID; Postmark deletes it 45 days later unless restored."""
    role = role_of(actor, team)
    event = _event("stream.archive", actor=actor, team=team, role=role, server=server, stream_id=stream_id,
                   changes={"state": ["active", "archived"]})
    if not role.at_least(Role.EDITOR):
        raise _denied(event, "Archiving a stream")
    if (confirmation or "").strip() != stream_id:
        message = f"Type the stream's ID, {stream_id}, exactly as shown, to confirm."
        audit.record(**event, outcome=Outcome.REFUSED, detail=f"Not confirmed: {message}")
        raise ServiceError(message, field="confirmation")
    if stream_id in STREAMS_THAT_CANNOT_BE_ARCHIVED:
        audit.record(**event, outcome=Outcome.REFUSED, detail="A default stream that Postmark never archives.")
        raise ServiceError(STREAMS_THAT_CANNOT_BE_ARCHIVED[stream_id])
    result = _write(server, event, lambda client: client.archive_stream(stream_id), stream_id=stream_id)
    event["changes"]["purge_date"] = [None, result.expected_purge_date.isoformat()]
    audit.record(**event, outcome=Outcome.SUCCESS)
    return result


def stream_restore(*, actor: User, team: Team, server: Server, stream_id: str) -> Stream:
    """Unarchive, until Postmark's purge date; after it, say plainly that Postmark has deleted the stream."""
    role = role_of(actor, team)
    event = _event("stream.restore", actor=actor, team=team, role=role, server=server, stream_id=stream_id,
                   changes={"state": ["archived", "active"]})
    if not role.at_least(Role.EDITOR):
        raise _denied(event, "Restoring a stream")
    try:
        stream = _write(server, event, lambda client: client.unarchive_stream(stream_id), stream_id=stream_id)
    except (StreamGone, ServiceError) as refusal:
        if isinstance(refusal, PostmarkTrouble):
            raise
        raise _why_not_restored(server, stream_id, refusal) from None
    audit.record(**event, outcome=Outcome.SUCCESS)
    return stream


def _why_not_restored(server: Server, stream_id: str, refusal: ServiceError) -> ServiceError:
    """Postmark answers 1232 both for a purged stream and for one that is not archived: tell them apart."""
    try:
        stream = stream_get(server=server, stream_id=stream_id)
    except StreamGone:
        return StreamGone(f"Postmark has deleted the stream {stream_id}: its 45 days in the archive are over, so it "
                          "can no longer be restored. Create a new stream if you need one.")
    except PostmarkTrouble:
        return refusal
    if not stream.is_archived:
        return ServiceError(f"{stream.name} is not archived, so there is nothing to restore.")
    return refusal


def stream_handling_choices(stream_type: StreamType | str) -> list[UnsubscribeHandling]:
    """The unsubscribe handling a stream of this type may have (Postmark's rules)."""
    if str(stream_type).lower() == "broadcasts":
        return [UnsubscribeHandling.POSTMARK, UnsubscribeHandling.CUSTOM]
    return [UnsubscribeHandling.NONE]
