"""The last-known copy of each server's streams, and the changes made to them outside this dashboard.

It owns `StreamCopy`: reading it, replacing it with a list Postmark answered, patching one stream of it
with a get or with the answer to a write of ours, and noting our own writes so that they are never
mistaken for someone else's. When a list or a get from Postmark differs from the copy in a way no write
of ours explains, it records one audit entry per stream and kind of change, with Postmark as the actor.

It never calls Postmark (the stream services do, and hand it the answers), never decides whether a
copy is fresh enough, and never records anything for the first copy of a server. An answer whose writing a request
put off until after its page was sent (`dashboard.after_response`) is written before any other read or write of the
copies in that request, so they see it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cached_property, wraps
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from dashboard import after_response, audit
from dashboard.models import Server
from dashboard.postmark.client import ArchiveResult, Stream, StreamType, UnsubscribeHandling
from streams.models import StreamCopy

OUTSIDE = "Postmark (changed outside this dashboard)"
PURGE_AFTER = timedelta(days=45)
_R = TypeVar("_R")
# A stream that vanishes this close to its purge date was purged by Postmark, not deleted by someone.
PURGE_SLACK = timedelta(hours=1)
ANSWERED, LOST = "answered", "lost"
EDITABLE = ("name", "description", "unsubscribe_handling")


def stream_target(server: Server, stream_id: str) -> str:
    """How the audit log names a stream: its server and ID."""
    return f"{server.pk}/{stream_id}"


def _after_what_was_put_off(read_or_write: Callable[..., _R]) -> Callable[..., _R]:
    """For every read or write of the copies: an answer this request put off writing (`dashboard.after_response`)
    is written first, so the copies hold it and its lock is let go."""
    @wraps(read_or_write)
    def first_the_put_off(*args, **kwargs) -> _R:
        after_response.run_pending()
        return read_or_write(*args, **kwargs)
    return first_the_put_off


# --- Streams as the copy keeps them --------------------------------------------------------------

_MOMENTS = ("created_at", "updated_at", "archived_at", "expected_purge_date")


def stream_to_json(stream: Stream) -> dict[str, Any]:
    return {
        "id": stream.id, "server_id": stream.server_id, "name": stream.name, "description": stream.description,
        "stream_type": stream.stream_type.value, "unsubscribe_handling": stream.unsubscribe_handling.value,
        **{name: (value.isoformat() if (value := getattr(stream, name)) else None) for name in _MOMENTS},
    }


def stream_from_json(data: dict[str, Any]) -> Stream:
    return Stream(
        id=data["id"], server_id=data["server_id"], name=data["name"], description=data["description"],
        stream_type=StreamType(data["stream_type"]),
        unsubscribe_handling=UnsubscribeHandling(data["unsubscribe_handling"]),
        **{name: (datetime.fromisoformat(data[name]) if data[name] else None) for name in _MOMENTS},
    )


class Copy:
    """A server's streams as Postmark last listed them, archived included, and when it answered.

    The streams are read from their JSON only when asked for: a page often needs just the moment."""

    def __init__(self, raw: list[dict[str, Any]], fetched_at: datetime, streams: list[Stream] | None = None,
                 our_writes: dict | None = None):
        self._raw, self.fetched_at, self._our_writes = raw, fetched_at, our_writes
        if streams is not None:
            self.__dict__["streams"] = streams

    def holds(self, streams: list[Stream]) -> bool:
        """Whether Postmark listing `streams` would change nothing in this copy: the same streams in the same order,
        and no write of ours waiting to be explained (`take_lists` would only renew the moment)."""
        return self._our_writes == {} and len(streams) == len(self._raw) and all(
            stream_to_json(stream) == held for stream, held in zip(streams, self._raw, strict=True))

    @cached_property
    def streams(self) -> list[Stream]:
        return [stream_from_json(item) for item in self._raw]

    @property
    def age(self) -> timedelta:
        return timezone.now() - self.fetched_at

    def find(self, stream_id: str) -> Stream | None:
        return next((stream for stream in self.streams if stream.id == stream_id), None)


def _copy_of(row: StreamCopy, streams: list[Stream] | None = None) -> Copy:
    return Copy(row.streams, row.fetched_at, streams, row.our_writes)


@_after_what_was_put_off
def load(server: Server) -> Copy | None:
    row = StreamCopy.objects.filter(server=server).first()
    return _copy_of(row) if row else None


_READ_WITH_ITS_COPY = "_read_with_its_copy"


def read_with_its_copy(servers) -> Server:
    """The one server of `servers` (a queryset filtered to it), read with its last-known copy in the same query,
    for the request's first read of its streams. Raises Server.DoesNotExist."""
    server = servers.select_related("stream_copy").get()
    server.__dict__[_READ_WITH_ITS_COPY] = True
    return server


@_after_what_was_put_off
def load_many(servers: list[Server]) -> dict[Any, Copy]:
    """The copies of several servers in one query, by server primary key.

    A server read with its copy by `read_with_its_copy` (as a page's `server_of` does) costs no query: that copy
    is used once and then forgotten by the server object, so a later read in the same request (after a write,
    say) goes to the database again. A copy Django cached on the server any other way (a StreamCopy made for it
    sets one) is never trusted."""
    copies, unread = {}, []
    cached = Server.stream_copy.related
    for server in servers:
        if not (server.__dict__.pop(_READ_WITH_ITS_COPY, False) and cached.is_cached(server)):
            unread.append(server)
            continue
        row = cached.get_cached_value(server)
        cached.delete_cached_value(server)
        if row is not None:
            copies[server.pk] = _copy_of(row)
    if unread:
        copies.update({row.server_id: _copy_of(row) for row in StreamCopy.objects.filter(server__in=unread)})
    return copies


@_after_what_was_put_off
def fetched_times(servers: list[Server]) -> dict[Any, datetime]:
    """When Postmark answered each server's copy, without reading the copies themselves."""
    return dict(StreamCopy.objects.filter(server__in=servers).values_list("server_id", "fetched_at"))


# --- What changed outside --------------------------------------------------------------------------


def _state(data: dict[str, Any]) -> str:
    return "archived" if data["archived_at"] else "active"


def _purge_moment(data: dict[str, Any]) -> datetime | None:
    if data["expected_purge_date"]:
        return datetime.fromisoformat(data["expected_purge_date"])
    if data["archived_at"]:
        return datetime.fromisoformat(data["archived_at"]) + PURGE_AFTER
    return None


def _appeared(new: dict[str, Any]) -> list[tuple[str, dict]]:
    changes = {"name": [None, new["name"]], "type": [None, new["stream_type"]],
               "description": [None, new["description"] or ""],
               "unsubscribe_handling": [None, new["unsubscribe_handling"]]}
    entries = [("stream.outside.create", changes)]
    if new["archived_at"]:
        entries.append(("stream.outside.archive", {"state": ["active", "archived"],
                                                   "purge_date": [None, new["expected_purge_date"]]}))
    return entries


def _vanished(old: dict[str, Any], now: datetime) -> list[tuple[str, dict]]:
    purge_at = _purge_moment(old)
    if old["archived_at"] and purge_at is not None and now >= purge_at - PURGE_SLACK:
        return [("stream.purge", {"state": ["archived", "deleted"]})]
    return [("stream.outside.delete", {"state": [_state(old), "deleted"]})]


def _changed(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, dict]]:
    entries = []
    edits = {name: [old[name] or "" if name == "description" else old[name],
                    new[name] or "" if name == "description" else new[name]]
             for name in EDITABLE if (old[name] or "") != (new[name] or "")}
    if edits:
        entries.append(("stream.outside.edit", edits))
    if _state(old) != _state(new):
        if new["archived_at"]:
            entries.append(("stream.outside.archive", {"state": ["active", "archived"],
                                                       "purge_date": [None, new["expected_purge_date"]]}))
        else:
            entries.append(("stream.outside.restore", {"state": ["archived", "active"]}))
    return entries


def _differences(old: dict[str, Any] | None, new: dict[str, Any] | None, now: datetime) -> list[tuple[str, dict]]:
    if old is None and new is None:
        return []
    if old is None:
        return _appeared(new)
    if new is None:
        return _vanished(old, now)
    return _changed(old, new)


def _record(server: Server, stream_id: str, entries: list[tuple[str, dict]], seen_at: datetime) -> None:
    for action, changes in entries:
        purged = action == "stream.purge"
        audit.record(
            action=action, actor=None, team=server.team, actor_label="Postmark" if purged else OUTSIDE,
            target_type="stream", target_id=stream_target(server, stream_id),
            target_label=f"{stream_id} on {server.name}"[:200], changes=changes,
            detail=("Postmark deleted this stream after its 45 days in the archive." if purged else
                    "Made in Postmark (its own pages, or its API) rather than in this dashboard.")
            + f" Noticed when the dashboard read the server's streams at {seen_at:%Y-%m-%d %H:%M:%S} UTC.",
        )


# --- Taking in what Postmark said ---------------------------------------------------------------


def _explained(row: StreamCopy, stream_id: str, asked_at: datetime) -> tuple[bool, bool]:
    """(a write of ours explains any difference in this stream, that write is newer than Postmark's answer).

    A write that finished after Postmark was asked explains everything, and the copy keeps what the write's
    answer said. A write whose answer was lost explains the first news after it, whatever it shows. Settled
    writes are forgotten.
    """
    mark = row.our_writes.get(stream_id)
    if mark is None:
        return False, False
    if datetime.fromisoformat(mark[0]) >= asked_at:
        return True, True
    del row.our_writes[stream_id]
    return mark[1] == LOST, False


def take_list(server: Server, streams: list[Stream], *, asked_at: datetime) -> Copy:
    """Replace the copy with a list Postmark answered (asked for at `asked_at`), recording outside changes."""
    return take_lists([(server, streams, asked_at)])[server.pk]


@_after_what_was_put_off
def take_lists(answers: list[tuple[Server, list[Stream], datetime]], *, now: datetime | None = None) -> dict[Any, Copy]:
    """`take_list` for several servers at once, in a constant number of queries (plus one audit entry for
    each change found outside). `now`: the moment the copies say Postmark answered (by default, now)."""
    if not answers:
        return {}
    now = now or timezone.now()
    with transaction.atomic():
        rows = {row.server_id: row for row in
                StreamCopy.objects.select_for_update().filter(server__in=[server for server, _, _ in answers])}
        new_rows, changed_rows, noticed, parsed = [], [], [], {}
        for server, streams, asked_at in answers:
            answered = {stream.id: stream_to_json(stream) for stream in streams}
            row = rows.get(server.pk)
            if row is None:  # the first copy of a server is where we start from, not a change
                rows[server.pk] = StreamCopy(server=server, streams=list(answered.values()), fetched_at=now)
                new_rows.append(rows[server.pk])
                parsed[server.pk] = streams
            elif row.fetched_at <= asked_at:  # else a list asked for after ours was taken: ours is older news
                found = _merge(row, answered, asked_at, now)
                noticed.extend((server, stream_id, entries) for stream_id, entries in found)
                changed_rows.append(row)
                if row.streams == list(answered.values()):  # no write of ours kept over Postmark's answer
                    parsed[server.pk] = streams
        # One INSERT … ON CONFLICT for every copy, new or changed: cheaper than a CASE per column for each row.
        StreamCopy.objects.bulk_create([*new_rows, *changed_rows], update_conflicts=True, unique_fields=["server"],
                                       update_fields=["streams", "fetched_at", "our_writes"])
        for server, stream_id, entries in noticed:
            _record(server, stream_id, entries, now)
    return {server.pk: _copy_of(rows[server.pk], parsed.get(server.pk)) for server, _, _ in answers}


@_after_what_was_put_off
def take_unchanged_lists(answers: list[tuple[Server, list[Stream], datetime]], read_at: dict[Any, datetime], *,
                         now: datetime) -> None:
    """`take_lists` for lists that held exactly what each copy held when it was read (`read_at`: the copy's moment
    then, by server primary key; see `Copy.holds`): only the moments change, in one UPDATE, not a transaction that
    reads and rewrites every copy. A copy that changed since it was read (a write of ours, a get, another answer)
    gets the whole of `take_lists` instead, which leaves alone the copies renewed here."""
    if not answers:
        return
    by_moment: dict[datetime, list[Any]] = {}
    for server, _, _ in answers:
        by_moment.setdefault(read_at[server.pk], []).append(server.pk)
    # One clause per moment, not per server: copies written down together (an overview's) share their moment.
    unchanged = Q()
    for moment, pks in by_moment.items():
        unchanged |= Q(server__in=pks, fetched_at=moment)
    renewed = StreamCopy.objects.filter(unchanged, our_writes={}).update(fetched_at=now)
    if renewed < len(answers):
        # A renewed copy's moment is now newer than the asking of its answer, which take_lists therefore skips.
        take_lists(answers, now=now)


def _merge(row: StreamCopy, answered: dict[str, dict], asked_at: datetime, now: datetime) -> list[tuple[str, list]]:
    """Put Postmark's list into `row`; the changes no write of ours explains, by stream ID."""
    held = {item["id"]: item for item in row.streams}
    kept, noticed = {}, []
    for stream_id in [*answered, *(key for key in held if key not in answered)]:
        explained, newer = _explained(row, stream_id, asked_at)
        if not explained:
            entries = _differences(held.get(stream_id), answered.get(stream_id), now)
            if entries:
                noticed.append((stream_id, entries))
        chosen = held.get(stream_id) if newer else answered.get(stream_id)
        if chosen is not None:
            kept[stream_id] = chosen
    row.streams, row.fetched_at = list(kept.values()), now
    return noticed


@_after_what_was_put_off
def take_one(server: Server, stream_id: str, stream: Stream | None, *, asked_at: datetime) -> None:
    """Patch the copy with what a get answered (None: Postmark has no such stream), recording outside changes."""
    now = timezone.now()
    with transaction.atomic():
        row = StreamCopy.objects.select_for_update().filter(server=server).first()
        if row is None:
            return
        explained, newer = _explained(row, stream_id, asked_at)
        held = {item["id"]: item for item in row.streams}
        new = stream_to_json(stream) if stream else None
        entries = [] if explained else _differences(held.get(stream_id), new, now)
        if newer:
            pass  # the copy already holds our write's answer, which is newer than this one
        elif new is None:
            held.pop(stream_id, None)
        else:
            held[stream_id] = new
        row.streams = list(held.values())
        row.save(update_fields=["streams", "our_writes"])
        _record(server, stream_id, entries, now)


@_after_what_was_put_off
def take_write(server: Server, stream_id: str, answer: Stream | ArchiveResult | None) -> None:
    """Note a write of ours: `answer` is Postmark's (patched into the copy at once), or None when it was lost."""
    now = timezone.now()
    with transaction.atomic():
        row = StreamCopy.objects.select_for_update().filter(server=server).first()
        if row is None:
            return
        held = {item["id"]: item for item in row.streams}
        if isinstance(answer, Stream):
            held[stream_id] = stream_to_json(answer)
        elif isinstance(answer, ArchiveResult) and stream_id in held:
            held[stream_id] = {**held[stream_id], "archived_at": now.isoformat(),
                               "expected_purge_date": answer.expected_purge_date.isoformat()}
        row.streams = list(held.values())
        row.our_writes[stream_id] = [now.isoformat(), ANSWERED if answer is not None else LOST]
        row.save(update_fields=["streams", "our_writes"])
