"""The local Postmark: a WSGI application that answers the Message Streams API as Postmark does.

It owns a stand-in for Postmark's side of the six stream calls (servers, their streams, archive and
purge, every status, error code and answer shape of docs/postmark-api.md and of Postmark's examples
in tests/postmark_examples/), plus `/_sandbox/*` control paths with which tests, the demo and
`manage.py sandbox` add servers, move the clock and inject faults (latency, hangs, 429/5xx answers).
It routes the outbound Stats API to sandbox_stats.py, which owns its figures and answers.

It must never talk to the network beyond answering the requests it is handed, never forward anything
to api.postmarkapp.com, and never be wired to a real server token: its tokens are made up, and only
their SHA-256 digests reach the state file. At module level it imports the standard library and
sandbox_stats.py only (no httpx, nothing from client.py), so the client can be tested against it at the
transport.

Validation order (Postmark's reference is silent; the first failing rule answers):
- every stream call: the route (404, 405), then the token (401/10), then the body: not a JSON object,
  or a field of the wrong JSON type such as `"Name": 5`, is 402.
- create: ID (1222 missing or blank, 1237 `all`, 1233 `pm-`, 1227 format) -> Name (1223, 1224)
  -> Description (1231, 1234) -> MessageStreamType (1221, 1228) -> unsubscribe handling (1239, 1238)
  -> ID unused on the server, archived streams included (1230) -> a free slot (1225).
- edit: the stream (1226) -> Name -> Description -> unsubscribe handling; ID and type are ignored.
- archive: the stream (1226) -> not `outbound`/`inbound` (1229). unarchive: a purged ID (1232)
  -> the stream (1226) -> archived (1232).

Other readings where Postmark's reference is silent: create and unarchive answer without `ExpectedPurgeDate`,
exactly as Postmark's wire examples do; `all` and `pm-` are recognised in any case; only
`IncludeArchivedStreams=true` (any case) includes archived streams; an archived stream may still be
edited; archive and unarchive leave `UpdatedAt` alone; timestamps are handed out to the second. Answers
that carry no Postmark code (404, 405, and the 429 and 502 faults) say `ErrorCode: 0` and send no
X-PM-ApiErrorCode header. Faults hit every request outside /_sandbox/, before routing.

The Suppressions and Bounce APIs, their state on each server and their control paths live in
sandbox_suppressions.py, which builds on this module; here are only the hooks that route to it and save it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from dashboard.postmark.sandbox_stats import (
    STATS_MESSAGES,
    ServerStats,
    StatsRefused,
    answer_outbound_stats,
    seed_counts,
    seed_day,
)

EASTERN = ZoneInfo("America/New_York")
PURGE_AFTER = timedelta(days=45)
DEFAULT_MAX_STREAMS = 10
FIRST_SERVER_ID = 100001
STATE_FORMAT = 1
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"

MESSAGES: dict[int, str] = {
    10: "Request does not contain a valid Server token.",
    100: "Postmark is down for scheduled maintenance. Please try again in a few minutes.",
    101: "Postmark had an internal error while handling this request. Please try again.",
    402: "Received invalid JSON input.",
    1221: "The 'MessageStreamType' associated with this request was invalid.",
    1222: "A valid 'ID' must be provided.",
    1223: "A valid 'Name' must be provided.",
    1224: "The 'Name' is too long (100 characters).",
    1225: "You have reached the maximum number of message streams for this server.",
    1226: "The message stream for the provided 'ID' was not found.",
    1227: (
        "The 'ID' must be a non-empty string starting with a letter "
        "(lowercase letters, digits, '-', '_'; up to 30)."
    ),
    1228: "A server can only have one inbound stream.",
    1229: "You cannot archive the default transactional and inbound streams.",
    1230: "The 'ID' provided already exists for this server.",
    1231: "The 'Description' is too long (1000 characters).",
    1232: "You cannot unarchive this message stream anymore.",
    1233: "The 'ID' must not start with the 'pm-' prefix.",
    1234: "The 'Description' must not contain HTML tags.",
    1237: "The 'ID' 'all' is reserved.",
    1238: "This account is not allowed to use Custom unsubscribe handling. Contact Postmark support.",
    1239: "This unsubscribe handling type is not supported for this message stream type.",
    **STATS_MESSAGES,
}

# (ID, Name, MessageStreamType, UnsubscribeHandlingType); servers made before mid-2021 lack the third.
DEFAULT_STREAMS = (
    ("outbound", "Default Transactional Stream", "Transactional", "None"),
    ("inbound", "Default Inbound Stream", "Inbound", "None"),
    ("broadcast", "Default Broadcast Stream", "Broadcasts", "Postmark"),
)
STREAMS_THAT_CANNOT_BE_ARCHIVED = frozenset({"outbound", "inbound"})
STREAM_TYPES = {"transactional": "Transactional", "broadcasts": "Broadcasts", "inbound": "Inbound"}
LIST_FILTERS = {"all": None, **STREAM_TYPES}
HANDLING_TYPES = {"none": "None", "postmark": "Postmark", "custom": "Custom"}
# The first allowed handling is the type's default.
HANDLING_ALLOWED = {"Transactional": ("None",), "Inbound": ("None",), "Broadcasts": ("Postmark", "Custom")}
ID_FORMAT = re.compile(r"[a-z][a-z0-9_-]{0,29}")
NAME_LIMIT = 100
DESCRIPTION_LIMIT = 1000

FAULT_STATUSES = (429, 500, 502, 503)
FAULT_BODIES = ("json", "html", "empty")
# status -> (ErrorCode, Message, body kind when none is asked for); ErrorCode 0 = no Postmark code.
FAULT_ANSWERS = {
    429: (0, "Rate limit exceeded. Slow down and retry later.", "json"),
    500: (101, MESSAGES[101], "json"),
    502: (0, "Bad gateway: the proxy in front of Postmark got no valid answer.", "html"),
    503: (100, MESSAGES[100], "json"),
}


# --- Answers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, body and the headers beyond Content-Type and Content-Length."""

    status: int
    body: bytes = b""
    content_type: str | None = JSON_CONTENT_TYPE
    headers: tuple[tuple[str, str], ...] = ()

    def wsgi_status(self) -> str:
        return f"{self.status} {HTTPStatus(self.status).phrase}"

    def wsgi_headers(self) -> list[tuple[str, str]]:
        headers = [("Content-Type", self.content_type)] if self.content_type else []
        return [*headers, ("Content-Length", str(len(self.body))), *self.headers]


def json_answer(status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> Answer:
    return Answer(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), headers=tuple(headers))


def error_answer(status: int, code: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> Answer:
    """Postmark's error body; the code is echoed in X-PM-ApiErrorCode when there is one."""
    echoed = (("X-PM-ApiErrorCode", str(code)),) if code else ()
    return json_answer(status, {"ErrorCode": code, "Message": message}, (*echoed, *headers))


class Refusal(Exception):
    """Raised anywhere while answering a request to answer with an error instead."""

    def __init__(self, answer: Answer):
        super().__init__(answer.status)
        self.answer = answer


def refuse(code: int) -> Refusal:
    """A Postmark API refusal: 401 for a bad token, 422 for every validation or not-found code."""
    return Refusal(error_answer(401 if code == 10 else 422, code, MESSAGES[code]))


# --- Timestamps (Postmark answers in US Eastern time with the offset) -----------------------------


def postmark_time(moment: datetime | None) -> str | None:
    """`2026-11-23T11:52:06-05:00`."""
    return None if moment is None else moment.astimezone(EASTERN).isoformat(timespec="seconds")


def postmark_time_centiseconds(moment: datetime) -> str:
    """`2026-11-23T11:52:06.00-05:00`, the form of the archive answer's ExpectedPurgeDate."""
    local = moment.astimezone(EASTERN)
    seconds = local.isoformat(timespec="seconds")
    return f"{seconds[:-6]}.{local.microsecond // 10_000:02d}{seconds[-6:]}"


# --- Servers and streams -------------------------------------------------------------------------


def _suppressions_area() -> Any:
    """sandbox_suppressions, imported when first needed: it imports this module, so this one cannot at the top."""
    from dashboard.postmark import sandbox_suppressions

    return sandbox_suppressions


@dataclass
class StreamRecord:
    id: str
    name: str
    description: str | None
    stream_type: str
    handling: str
    created_at: datetime
    updated_at: datetime | None = None
    archived_at: datetime | None = None

    @property
    def purge_at(self) -> datetime | None:
        return None if self.archived_at is None else self.archived_at + PURGE_AFTER


@dataclass
class ServerRecord:
    id: int
    token_digest: str
    name: str
    custom_unsubscribe: bool
    max_streams: int
    streams: dict[str, StreamRecord] = field(default_factory=dict)  # in creation order
    purged_ids: set[str] = field(default_factory=set)
    # Suppressions per stream and bounces: a sandbox_suppressions.RecipientState.
    recipients: Any = field(default_factory=lambda: _suppressions_area().RecipientState())
    stats: ServerStats = field(default_factory=ServerStats)

    def stream(self, stream_id: str) -> StreamRecord:
        try:
            return self.streams[stream_id]
        except KeyError:
            raise refuse(1226) from None

    def add_stream(self, stream: StreamRecord) -> None:
        self.streams[stream.id] = stream
        self.purged_ids.discard(stream.id)

    def purge_due(self, now: datetime) -> bool:
        due = [stream.id for stream in self.streams.values() if stream.purge_at and stream.purge_at <= now]
        for stream_id in due:
            del self.streams[stream_id]
            self.purged_ids.add(stream_id)
        self.recipients.forget_streams(due)
        return bool(due)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def default_streams(now: datetime, *, legacy: bool) -> list[StreamRecord]:
    chosen = DEFAULT_STREAMS[:2] if legacy else DEFAULT_STREAMS
    return [StreamRecord(id_, name, None, type_, handling, now) for id_, name, type_, handling in chosen]


def stream_json(stream: StreamRecord, server_id: int, *, with_purge_date: bool = True) -> dict[str, Any]:
    """A stream in the keys and key order of Postmark's examples."""
    payload: dict[str, Any] = {
        "ID": stream.id,
        "ServerID": server_id,
        "Name": stream.name,
        "Description": stream.description,
        "MessageStreamType": stream.stream_type,
        "CreatedAt": postmark_time(stream.created_at),
        "UpdatedAt": postmark_time(stream.updated_at),
        "ArchivedAt": postmark_time(stream.archived_at),
    }
    if with_purge_date:
        payload["ExpectedPurgeDate"] = postmark_time(stream.purge_at)
    payload["SubscriptionManagementConfiguration"] = {"UnsubscribeHandlingType": stream.handling}
    return payload


# --- Requests ------------------------------------------------------------------------------------

class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # a field that was not sent, unlike one sent as null


def fold_keys(value: Any) -> Any:
    """Postmark matches body keys case-insensitively at every level: compare them lowercased."""
    if isinstance(value, dict):
        return {str(key).lower(): fold_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [fold_keys(item) for item in value]
    return value


def wsgi_path(environ: dict[str, Any]) -> str:
    """PATH_INFO is UTF-8 bytes carried as latin-1 under PEP 3333; httpx's transport hands text."""
    path = environ.get("PATH_INFO", "") or "/"
    with contextlib.suppress(UnicodeError):
        return path.encode("latin-1").decode("utf-8")
    return path


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]  # names lowercased; the first value of a repeated name wins
    token: str | None
    body: bytes

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> Request:
        query: dict[str, str] = {}
        for name, value in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True):
            query.setdefault(name.lower(), value)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        token = environ.get("HTTP_X_POSTMARK_SERVER_TOKEN") or None
        return cls(environ.get("REQUEST_METHOD", "GET").upper(), wsgi_path(environ), query, token, body)

    def json_object(self, *, empty_allowed: bool) -> dict[str, Any]:
        """The body with its keys folded; 402 unless it is a JSON object (or empty, where allowed)."""
        if not self.body.strip():
            if empty_allowed:
                return {}
            raise refuse(402)
        try:
            value = json.loads(self.body.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise refuse(402) from None
        if not isinstance(value, dict):
            raise refuse(402)
        return fold_keys(value)


def typed_field(body: dict[str, Any], key: str, json_type: type) -> Any:
    """MISSING when absent, None when null, else the value; a value of another JSON type is 402."""
    value = body.get(key, MISSING)
    if value is MISSING or value is None or isinstance(value, json_type):
        return value
    raise refuse(402)


@dataclass(frozen=True)
class StreamFields:
    """The stream fields of a create or edit body as sent: MISSING marks one that was not."""

    id: Any
    name: Any
    description: Any
    stream_type: Any
    handling: Any  # MISSING also when the configuration or its handling is null

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> StreamFields:
        config = typed_field(body, "subscriptionmanagementconfiguration", dict)
        handling = typed_field(config, "unsubscribehandlingtype", str) if isinstance(config, dict) else None
        return cls(
            id=typed_field(body, "id", str),
            name=typed_field(body, "name", str),
            description=typed_field(body, "description", str),
            stream_type=typed_field(body, "messagestreamtype", str),
            handling=MISSING if handling is None else handling,
        )


# --- Validators, one per field -------------------------------------------------------------------


def is_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def valid_new_id(value: Any) -> str:
    if not is_text(value):
        raise refuse(1222)
    if value.lower() == "all":
        raise refuse(1237)
    if value.lower().startswith("pm-"):
        raise refuse(1233)
    if not ID_FORMAT.fullmatch(value):
        raise refuse(1227)
    return value


def valid_name(value: Any) -> str:
    if not is_text(value):
        raise refuse(1223)
    if len(value) > NAME_LIMIT:
        raise refuse(1224)
    return value


def valid_description(value: Any) -> str | None:
    if value is MISSING or value is None:
        return None
    if len(value) > DESCRIPTION_LIMIT:
        raise refuse(1231)
    if "<" in value or ">" in value:
        raise refuse(1234)
    return value


def valid_new_stream_type(value: Any) -> str:
    stream_type = STREAM_TYPES.get(value.lower()) if isinstance(value, str) else None
    if stream_type is None:
        raise refuse(1221)
    if stream_type == "Inbound":
        raise refuse(1228)
    return stream_type


def valid_handling(value: Any, stream_type: str, server: ServerRecord) -> str:
    """The handling for a stream of this type; MISSING takes the type's default."""
    allowed = HANDLING_ALLOWED[stream_type]
    if value is MISSING:
        return allowed[0]
    handling = HANDLING_TYPES.get(value.lower())
    if handling not in allowed:
        raise refuse(1239)
    if handling == "Custom" and not server.custom_unsubscribe:
        raise refuse(1238)
    return handling


# --- The six stream calls ------------------------------------------------------------------------


def list_streams(server: ServerRecord, request: Request, now: datetime) -> Answer:
    type_name = (request.query.get("messagestreamtype") or "All").lower()
    if type_name not in LIST_FILTERS:
        raise refuse(1221)
    wanted = LIST_FILTERS[type_name]
    # Only "true" (any case) includes archived streams; anything else keeps the default, false.
    include_archived = request.query.get("includearchivedstreams", "").lower() == "true"
    streams = [
        stream_json(stream, server.id)
        for stream in server.streams.values()
        if wanted in (None, stream.stream_type) and (include_archived or stream.archived_at is None)
    ]
    return json_answer(200, {"MessageStreams": streams, "TotalCount": len(streams)})


def get_stream(server: ServerRecord, request: Request, now: datetime, stream_id: str) -> Answer:
    return json_answer(200, stream_json(server.stream(stream_id), server.id))


def create_stream(server: ServerRecord, request: Request, now: datetime) -> Answer:
    fields = StreamFields.from_body(request.json_object(empty_allowed=False))
    stream_id = valid_new_id(fields.id)
    name = valid_name(fields.name)
    description = valid_description(fields.description)
    stream_type = valid_new_stream_type(fields.stream_type)
    handling = valid_handling(fields.handling, stream_type, server)
    if stream_id in server.streams:
        raise refuse(1230)
    if len(server.streams) >= server.max_streams:
        raise refuse(1225)
    stream = StreamRecord(stream_id, name, description, stream_type, handling, created_at=now)
    server.add_stream(stream)
    return json_answer(200, stream_json(stream, server.id, with_purge_date=False))


def edit_stream(server: ServerRecord, request: Request, now: datetime, stream_id: str) -> Answer:
    fields = StreamFields.from_body(request.json_object(empty_allowed=False))
    stream = server.stream(stream_id)
    name, description, handling = stream.name, stream.description, stream.handling
    if fields.name is not MISSING:
        name = valid_name(fields.name)
    if fields.description is not MISSING:
        description = valid_description(fields.description)
    if fields.handling is not MISSING:
        handling = valid_handling(fields.handling, stream.stream_type, server)
    stream.name, stream.description, stream.handling, stream.updated_at = name, description, handling, now
    return json_answer(200, stream_json(stream, server.id))


def archive_stream(server: ServerRecord, request: Request, now: datetime, stream_id: str) -> Answer:
    request.json_object(empty_allowed=True)
    stream = server.stream(stream_id)
    if stream.id in STREAMS_THAT_CANNOT_BE_ARCHIVED:
        raise refuse(1229)
    if stream.archived_at is None:  # archiving again answers the first archive's purge date
        stream.archived_at = now
    purge_date = postmark_time_centiseconds(stream.purge_at)
    return json_answer(200, {"ID": stream.id, "ServerID": server.id, "ExpectedPurgeDate": purge_date})


def unarchive_stream(server: ServerRecord, request: Request, now: datetime, stream_id: str) -> Answer:
    request.json_object(empty_allowed=True)
    if stream_id in server.purged_ids:
        raise refuse(1232)
    stream = server.stream(stream_id)
    if stream.archived_at is None:
        raise refuse(1232)
    stream.archived_at = None
    return json_answer(200, stream_json(stream, server.id, with_purge_date=False))


def outbound_stats(server: ServerRecord, request: Request, now: datetime, report: str | None) -> Answer:
    """GET /stats/outbound and its daily series: see dashboard/postmark/sandbox_stats.py."""
    try:
        return json_answer(200, answer_outbound_stats((report or "").lower(), request.query, server, now))
    except StatsRefused as refused:
        raise refuse(refused.code) from None


StreamCall = Callable[..., Answer]
# (path, {method: (call, changes state)}); paths match case-insensitively, with or without a final "/".
STREAM_ROUTES: tuple[tuple[re.Pattern[str], dict[str, tuple[StreamCall, bool]]], ...] = tuple(
    (re.compile(path, re.IGNORECASE), methods)
    for path, methods in (
        (r"/message-streams/?", {"GET": (list_streams, False), "POST": (create_stream, True)}),
        (
            r"/message-streams/(?P<stream_id>[^/]+)/?",
            {"GET": (get_stream, False), "PATCH": (edit_stream, True)},
        ),
        (r"/message-streams/(?P<stream_id>[^/]+)/archive/?", {"POST": (archive_stream, True)}),
        (r"/message-streams/(?P<stream_id>[^/]+)/unarchive/?", {"POST": (unarchive_stream, True)}),
        (r"/stats/outbound(?:/(?P<report>sends|bounces|spam|opens|clicks))?/?", {"GET": (outbound_stats, False)}),
    )
)


def route(request: Request) -> tuple[StreamCall, bool, dict[str, str]]:
    """The call for this method and path; 404 for an unknown path, 405 for a wrong method."""
    for pattern, methods in (*STREAM_ROUTES, *_suppressions_area().ROUTES):
        match = pattern.fullmatch(request.path)
        if match is None:
            continue
        if request.method not in methods:
            message = f"The requested resource does not support http method '{request.method}'."
            raise Refusal(error_answer(405, 0, message, [("Allow", ", ".join(methods))]))
        call, changes_state = methods[request.method]
        return call, changes_state, match.groupdict()
    message = f"No HTTP resource was found that matches the request URI '{request.path}'."
    raise Refusal(error_answer(404, 0, message))


# --- Faults --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Faults:
    """What goes wrong on every request outside /_sandbox/; `times` counts down the requests left."""

    latency: float = 0.0
    status: int | None = None
    body: str | None = None
    times: int | None = None
    hang: bool = False

    def __post_init__(self) -> None:
        if not CONTROL_KINDS["number"](self.latency) or self.latency < 0:
            raise ValueError("'latency' must be a number of seconds, 0 or more.")
        if self.status is not None and self.status not in FAULT_STATUSES:
            raise ValueError(f"'status' must be one of {', '.join(map(str, FAULT_STATUSES))}.")
        if self.body is not None and (self.body not in FAULT_BODIES or self.status is None):
            raise ValueError(f"'body' must be one of {', '.join(FAULT_BODIES)}, and needs a 'status'.")
        if self.times is not None and (not CONTROL_KINDS["whole number"](self.times) or self.times < 1):
            raise ValueError("'times' must be a whole number, 1 or more.")
        if not isinstance(self.hang, bool):
            raise ValueError("'hang' must be true or false.")

    @property
    def active(self) -> bool:
        return self.latency > 0 or self.status is not None or self.hang

    def after_one_request(self) -> Faults:
        if self.times is None:
            return self
        return replace(self, times=self.times - 1) if self.times > 1 else Faults()

    def answer(self) -> Answer:
        code, message, default_body = FAULT_ANSWERS[self.status]
        kind = self.body or default_body
        if kind == "empty":
            return Answer(self.status, b"", content_type=None)
        if kind == "html":
            title = f"{self.status} {HTTPStatus(self.status).phrase}"
            page = (
                f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center>"
                "<hr><center>nginx</center></body></html>\n"
            )
            return Answer(self.status, page.encode("utf-8"), content_type=HTML_CONTENT_TYPE)
        return error_answer(self.status, code, message)


# --- Persistence ---------------------------------------------------------------------------------


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _stream_from_json(data: dict[str, Any]) -> StreamRecord:
    moments = {key: _moment(data[key]) for key in ("created_at", "updated_at", "archived_at")}
    texts = {key: data[key] for key in ("id", "name", "description", "stream_type", "handling")}
    return StreamRecord(**texts, **moments)


def _stream_to_json(stream: StreamRecord) -> dict[str, Any]:
    data = asdict(stream)
    for key in ("created_at", "updated_at", "archived_at"):
        data[key] = None if data[key] is None else data[key].isoformat()
    return data


def _server_to_json(server: ServerRecord) -> dict[str, Any]:
    return {
        "id": server.id,
        "token_sha256": server.token_digest,
        "name": server.name,
        "custom_unsubscribe": server.custom_unsubscribe,
        "max_streams": server.max_streams,
        "streams": [_stream_to_json(stream) for stream in server.streams.values()],
        "purged_ids": sorted(server.purged_ids),
        "recipients": server.recipients.to_json(),
        "stats": server.stats.to_json(),
    }


def _server_from_json(data: dict[str, Any]) -> ServerRecord:
    server = ServerRecord(
        data["id"], data["token_sha256"], data["name"], data["custom_unsubscribe"], data["max_streams"]
    )
    server.streams = {stream["id"]: _stream_from_json(stream) for stream in data["streams"]}
    server.purged_ids = set(data["purged_ids"])
    server.recipients = _suppressions_area().RecipientState.from_json(data.get("recipients"))
    server.stats = ServerStats.from_json(data.get("stats"))  # absent in files written before statistics
    return server


def write_atomically(path: str, text: str) -> None:
    """Write a temporary file in the same folder, then rename it over `path`: never half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".sandbox-state-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


class State:
    """Everything the sandbox remembers between restarts: servers, streams, purged IDs, the clock."""

    def __init__(self) -> None:
        self.servers: dict[str, ServerRecord] = {}  # by token digest
        self.clock_offset = timedelta(0)
        self.next_server_id = FIRST_SERVER_ID

    def server_for_token(self, token: str | None) -> ServerRecord:
        server = self.servers.get(token_digest(token)) if token else None
        if server is None:
            raise refuse(10)
        return server

    def purge_due(self, now: datetime) -> bool:
        purged = [server.purge_due(now) for server in self.servers.values()]  # every server, no short cut
        return any(purged)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "clock_offset_seconds": self.clock_offset.total_seconds(),
            "next_server_id": self.next_server_id,
            "servers": [_server_to_json(server) for server in self.servers.values()],
        }

    @classmethod
    def load(cls, path: str) -> State:
        """The state kept in `path`; a fresh one when the file does not exist yet."""
        state = cls()
        if not os.path.exists(path):
            return state
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            if data.get("format") != STATE_FORMAT:
                raise ValueError(f"not format {STATE_FORMAT}")
            state.clock_offset = timedelta(seconds=data["clock_offset_seconds"])
            state.next_server_id = data["next_server_id"]
            servers = [_server_from_json(server) for server in data["servers"]]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{path} is not a sandbox state file this version reads ({error}).") from error
        state.servers = {server.token_digest: server for server in servers}
        return state


# --- Control paths (no token; never faulted) -----------------------------------------------------


def control_body(request: Request, allowed: Iterable[str]) -> dict[str, Any]:
    """A control body: empty or a JSON object with known keys only (a typo must not pass silently)."""
    if not request.body.strip():
        return {}
    try:
        body = json.loads(request.body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError("The body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise ValueError("The body must be a JSON object.")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}.")
    return body


CONTROL_KINDS: dict[str, Callable[[Any], bool]] = {
    "number": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    "whole number": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
}


def control_value(body: dict[str, Any], key: str, kind: str, default: Any) -> Any:
    """body[key] when it is of `kind`; the default when absent or null; ValueError otherwise."""
    value = body.get(key)
    if value is None:
        return default
    if not CONTROL_KINDS[kind](value):
        raise ValueError(f"'{key}' must be a {kind}.")
    return value


# --- The sandbox ---------------------------------------------------------------------------------


class Sandbox:
    """A local Postmark behind one lock, safe under a threaded WSGI server."""

    def __init__(self, *, state_file: str | os.PathLike[str] | None = None, hang_seconds: float = 30.0):
        self._lock = threading.Lock()
        self._state_file = os.fspath(state_file) if state_file else None
        self._state = State.load(self._state_file) if self._state_file else State()
        self._hang_seconds = hang_seconds
        self._faults = Faults()
        self._hang_release = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        request = Request.from_environ(environ)
        if request.path == "/_sandbox" or request.path.startswith("/_sandbox/"):
            answer = self._answer_control(request)
        else:
            answer = self._answer_stream_call(request)
        start_response(answer.wsgi_status(), answer.wsgi_headers())
        return [answer.body]

    # Servers ---------------------------------------------------------------------------------------

    def add_server(
        self,
        token: str,
        *,
        name: str = "",
        custom_unsubscribe: bool = False,
        max_streams: int = DEFAULT_MAX_STREAMS,
        legacy: bool = False,
        traffic: bool = False,
    ) -> int:
        return self._add_server(token, name, custom_unsubscribe, max_streams, legacy, traffic)[0]

    def _add_server(
        self, token: str, name: str, custom_unsubscribe: bool, max_streams: int, legacy: bool, traffic: bool = False
    ) -> tuple[int, bool]:
        """(ServerID, whether it is new); the same token again leaves its server untouched."""
        if not is_text(token):
            raise ValueError("A server needs a non-blank token.")
        if isinstance(max_streams, bool) or not isinstance(max_streams, int) or max_streams < 1:
            raise ValueError("'max_streams' must be a whole number, 1 or more.")
        with self._lock:
            digest = token_digest(token)
            if digest in self._state.servers:
                return self._state.servers[digest].id, False
            server_id = self._state.next_server_id
            self._state.next_server_id += 1
            name = name or f"Sandbox server {server_id}"
            server = ServerRecord(server_id, digest, name, custom_unsubscribe, max_streams)
            server.stats.traffic = traffic  # synthetic traffic only for servers that ask for it
            for stream in default_streams(self._stamp(), legacy=legacy):
                server.add_stream(stream)
            self._state.servers[digest] = server
            self._save()
            return server_id, True

    def has_server(self, token: str) -> bool:
        with self._lock:
            return token_digest(token) in self._state.servers

    def grant_custom_unsubscribe(self, token: str, allowed: bool = True) -> None:
        with self._lock:
            server = self._state.servers.get(token_digest(token))
            if server is None:
                raise LookupError("No sandbox server uses that token.")
            server.custom_unsubscribe = allowed
            self._save()

    def allow_stats_api(self, token: str, allowed: bool = True) -> None:
        """Whether the server's plan has the Stats API; without it every statistics call answers 614."""
        with self._lock:
            self._known_server(token).stats.api_enabled = allowed
            self._save()

    def seed_stats(self, token: str, stream_id: str, day: date, counts: dict[str, int]) -> dict[str, int]:
        """Add exact counts to one day of one stream (Eastern date); the day's seeded counts after."""
        counts = seed_counts(counts)
        with self._lock:
            server = self._known_server(token)
            if stream_id not in server.streams:
                raise LookupError(f"The sandbox server has no stream '{stream_id}'.")
            seeded = server.stats.seed(stream_id, day, counts)
            self._save()
            return seeded

    def _known_server(self, token: str) -> ServerRecord:
        """Called with the lock held."""
        server = self._state.servers.get(token_digest(token)) if isinstance(token, str) else None
        if server is None:
            raise LookupError("No sandbox server uses that token.")
        return server

    def backdate_archive(self, token: str, stream_id: str, *, days: float) -> None:
        """Move an archived stream's archive time `days` back, so its purge date comes that much sooner."""
        if days < 0:
            raise ValueError("An archive can only be backdated, not moved forward.")
        with self._lock:
            server = self._state.servers.get(token_digest(token))
            if server is None:
                raise LookupError("No sandbox server uses that token.")
            stream = server.streams.get(stream_id)
            if stream is None or stream.archived_at is None:
                raise LookupError(f"The sandbox server has no archived stream '{stream_id}'.")
            stream.archived_at = (stream.archived_at - timedelta(days=days)).replace(microsecond=0)
            self._state.purge_due(self._stamp())
            self._save()

    @contextlib.contextmanager
    def changing_server(self, token: str) -> Iterator[tuple[ServerRecord, datetime]]:
        """A server by its token and the time now, under the lock, saved after: for the other API areas' seeding."""
        with self._lock:
            now = self._stamp()
            self._state.purge_due(now)
            server = self._state.servers.get(token_digest(token)) if is_text(token) else None
            if server is None:
                raise LookupError("No sandbox server uses that token.")
            yield server, now
            self._save()

    # Clock -----------------------------------------------------------------------------------------

    def now(self) -> datetime:
        with self._lock:
            return self._now()

    def _now(self) -> datetime:
        return datetime.now(UTC) + self._state.clock_offset

    def _stamp(self) -> datetime:
        """Now to the second: every timestamp the sandbox hands out, so archive answers end in .00."""
        return self._now().replace(microsecond=0)

    def advance_clock(self, *, days: float = 0, hours: float = 0, seconds: float = 0) -> None:
        step = timedelta(days=days, hours=hours, seconds=seconds)
        if step < timedelta(0):
            raise ValueError("The sandbox clock only moves forward.")
        with self._lock:
            self._state.clock_offset += step
            self._state.purge_due(self._stamp())
            self._save()

    # Faults ----------------------------------------------------------------------------------------

    def set_faults(
        self,
        *,
        latency: float = 0.0,
        status: int | None = None,
        body: str | None = None,
        times: int | None = None,
        hang: bool = False,
    ) -> None:
        faults = Faults(latency, status, body, times, hang)
        with self._lock:
            self._release_hanging_requests()
            self._faults = faults

    def clear_faults(self) -> None:
        with self._lock:
            self._release_hanging_requests()
            self._faults = Faults()

    def _release_hanging_requests(self) -> None:
        self._hang_release.set()
        self._hang_release = threading.Event()

    def _take_faults(self) -> tuple[Faults, threading.Event] | None:
        """The faults this request suffers, counted against `times`; None when all is well."""
        with self._lock:
            faults = self._faults
            if not faults.active:
                return None
            self._faults = faults.after_one_request()
            return faults, self._hang_release

    # Reset and persistence -------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._release_hanging_requests()
            self._faults = Faults()
            self._state = State()
            self._save()

    def _save(self) -> None:
        """Called with the lock held, after every change."""
        if self._state_file:
            write_atomically(self._state_file, json.dumps(self._state.to_json(), indent=1))

    # Answering -------------------------------------------------------------------------------------

    def _answer_stream_call(self, request: Request) -> Answer:
        taken = self._take_faults()
        if taken is None:
            return self._answer_as_postmark(request)
        faults, release = taken
        # Waiting on the release event, not sleeping, lets clearing the faults end a delay at once.
        released = bool(faults.latency) and release.wait(faults.latency)
        if released or (faults.hang and release.wait(self._hang_seconds)):
            return self._answer_as_postmark(request)  # released: the faults were cleared or changed
        return faults.answer() if faults.status is not None else self._answer_as_postmark(request)

    def _answer_as_postmark(self, request: Request) -> Answer:
        try:
            call, changes_state, params = route(request)
        except Refusal as refusal:
            return refusal.answer
        with self._lock:
            now = self._stamp()
            changed = self._state.purge_due(now)
            try:
                answer = call(self._state.server_for_token(request.token), request, now, **params)
                changed = changed or changes_state
            except Refusal as refusal:
                answer = refusal.answer
            if changed:
                self._save()
            return answer

    def _answer_control(self, request: Request) -> Answer:
        path = request.path.rstrip("/")
        methods = CONTROL_ROUTES.get(path) or _suppressions_area().CONTROL_ROUTES.get(path)
        if methods is None:
            return json_answer(404, {"Message": f"No sandbox control path {request.path}."})
        if request.method not in methods:
            allow = [("Allow", ", ".join(methods))]
            return json_answer(405, {"Message": f"{request.path} does not answer {request.method}."}, allow)
        try:
            return methods[request.method](self, request)
        except (ValueError, LookupError, OverflowError) as error:
            return json_answer(400, {"Message": str(error)})

    def _control_clock(self, request: Request) -> Answer:
        if request.method == "POST":
            body = control_body(request, ("advance_days", "advance_hours", "advance_seconds"))
            days, hours, seconds = (
                control_value(body, f"advance_{unit}", "number", 0) for unit in ("days", "hours", "seconds")
            )
            self.advance_clock(days=days, hours=hours, seconds=seconds)
        with self._lock:
            now, offset = self._now(), self._state.clock_offset
        # Full precision, unlike Postmark's timestamps: a test compares it with its own clock.
        payload = {"Now": now.astimezone(EASTERN).isoformat(), "OffsetSeconds": offset.total_seconds()}
        return json_answer(200, payload)

    def _control_faults(self, request: Request) -> Answer:
        if request.method == "DELETE":
            self.clear_faults()
        elif request.method == "POST":
            body = control_body(request, ("latency", "status", "body", "times", "hang"))
            self.set_faults(**body)
        with self._lock:
            faults = self._faults
        return json_answer(200, {"Faults": asdict(faults), "Active": faults.active})

    def _control_servers(self, request: Request) -> Answer:
        body = control_body(
            request, ("token", "name", "custom_unsubscribe", "max_streams", "legacy", "traffic", "stats_api")
        )
        server_id, created = self._add_server(
            control_value(body, "token", "string", ""),
            control_value(body, "name", "string", ""),
            control_value(body, "custom_unsubscribe", "boolean", False),
            control_value(body, "max_streams", "whole number", DEFAULT_MAX_STREAMS),
            control_value(body, "legacy", "boolean", False),
            control_value(body, "traffic", "boolean", False),
        )
        if not created and "custom_unsubscribe" in body:
            # A server the sandbox already has: the demo's way to grant (or take back) Custom handling.
            self.grant_custom_unsubscribe(body["token"], body["custom_unsubscribe"])
        if "stats_api" in body:  # false: the server's plan has no Stats API (614), new or not
            self.allow_stats_api(body["token"], control_value(body, "stats_api", "boolean", True))
        return json_answer(201 if created else 200, {"ServerID": server_id})

    def _control_stats(self, request: Request) -> Answer:
        body = control_body(request, ("token", "stream", "date", "counts"))
        stream_id, day = control_value(body, "stream", "string", ""), seed_day(body.get("date"))
        seeded = self.seed_stats(control_value(body, "token", "string", ""), stream_id, day, body.get("counts"))
        return json_answer(200, {"Stream": stream_id, "Date": day.isoformat(), "Counts": seeded})

    def _control_reset(self, request: Request) -> Answer:
        control_body(request, ())
        self.reset()
        return json_answer(200, {"Message": "The sandbox was reset: no servers, no faults, clock offset 0."})


CONTROL_ROUTES: dict[str, dict[str, Callable[[Sandbox, Request], Answer]]] = {
    "/_sandbox/clock": {"GET": Sandbox._control_clock, "POST": Sandbox._control_clock},
    "/_sandbox/faults": {method: Sandbox._control_faults for method in ("GET", "POST", "DELETE")},
    "/_sandbox/servers": {"POST": Sandbox._control_servers},
    "/_sandbox/reset": {"POST": Sandbox._control_reset},
    "/_sandbox/stats": {"POST": Sandbox._control_stats},
}


# --- The process-wide sandbox --------------------------------------------------------------------

_current: Sandbox | None = None
_current_lock = threading.Lock()


def _configured_state_file() -> str | None:
    """settings.POSTMARK_SANDBOX_STATE when Django is configured; None outside Django."""
    try:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
    except ImportError:
        return None
    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return None
    try:
        return getattr(settings, "POSTMARK_SANDBOX_STATE", "") or None
    except ImproperlyConfigured:
        return None


def current() -> Sandbox:
    """The process-wide in-process sandbox, created on first use."""
    global _current
    with _current_lock:
        if _current is None:
            _current = Sandbox(state_file=_configured_state_file())
        return _current


def install(sandbox: Sandbox | None) -> Sandbox | None:
    """Make `sandbox` the process-wide one (None: create afresh on next use); returns the previous."""
    global _current
    with _current_lock:
        previous, _current = _current, sandbox
        return previous
