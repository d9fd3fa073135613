"""The Postmark Message Streams client: every HTTP conversation the dashboard has with Postmark.

It owns the six calls of the Message Streams API (list, get, create, edit, archive, unarchive),
the outbound Stats API's calls through the `StatsCalls` it inherits (client_stats.py), the parsing
of Postmark's answers into frozen types (tolerating every variant docs/postmark-api.md lists),
the mapping of Postmark's refusals onto a small error hierarchy a view can act on, the shared
connection pools, and the in-process transport that routes `SANDBOX_URL` to the local sandbox.
This is the only application module that imports httpx.

It must never log, repr or put into an exception a server token, never retry a write
(POST or PATCH): a retried create or archive could act twice on a server people depend on, and
never send a path with a segment that is empty, '.' or '..' or holds a character other than
letters, digits, '-', '_', '.' and '~': every path is built by `_path`, which refuses one.
"""

from __future__ import annotations

import enum
import http.cookiejar
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.request import getproxies
from zoneinfo import ZoneInfo

import httpx
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from dashboard.postmark.client_stats import StatsCalls
from dashboard.postmark.client_suppressions import SuppressionsAndBouncesMixin
from dashboard.postmark.values import CaseInsensitiveEnum

__all__ = [
    "DEFAULT_API_URL",
    "SANDBOX_URL",
    "UNSET",
    "USER_AGENT",
    "ArchiveResult",
    "ErrorCode",
    "PostmarkClient",
    "PostmarkError",
    "PostmarkUnavailable",
    "RateLimited",
    "Stream",
    "StreamNotFound",
    "StreamType",
    "TokenRejected",
    "UnsafePathSegment",
    "UnsubscribeHandling",
    "Unset",
    "ValidationRefused",
    "close_pools",
]

logger = logging.getLogger("dashboard.postmark")

DEFAULT_API_URL = "https://api.postmarkapp.com"
# The .invalid TLD never resolves, so a wiring mistake cannot leak a request to the network.
SANDBOX_URL = "http://sandbox.postmark.invalid"
USER_AGENT = "postmark-streams-dashboard/0.1.0 (+httpx)"
POSTMARK_ZONE = ZoneInfo("America/New_York")
DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_READ_TIMEOUT = 10.0
# Seconds before the first retry of a GET that met a 429/5xx or a connection failure; doubled each time.
DEFAULT_RETRY_BACKOFF = 0.25
MASK = "••••"


# --- Types -------------------------------------------------------------------------------------


class StreamType(CaseInsensitiveEnum):
    TRANSACTIONAL = "Transactional"
    BROADCASTS = "Broadcasts"
    INBOUND = "Inbound"


class UnsubscribeHandling(CaseInsensitiveEnum):
    NONE = "None"
    POSTMARK = "Postmark"
    CUSTOM = "Custom"


class ErrorCode(enum.IntEnum):
    """Postmark's ErrorCode values: the error tables of docs/postmark-api.md and docs/postmark-stats-api.md."""

    INVALID_SERVER_TOKEN = 10
    MAINTENANCE = 100
    POSTMARK_FAILURE = 101
    INVALID_JSON = 402  # From Postmark's general error list, not the streams table.
    INVALID_STREAM_TYPE = 1221
    ID_REQUIRED = 1222
    NAME_REQUIRED = 1223
    NAME_TOO_LONG = 1224
    STREAM_LIMIT_REACHED = 1225
    STREAM_NOT_FOUND = 1226
    INVALID_ID = 1227
    ONLY_ONE_INBOUND_STREAM = 1228
    CANNOT_ARCHIVE_DEFAULT_STREAM = 1229
    ID_ALREADY_EXISTS = 1230
    DESCRIPTION_TOO_LONG = 1231
    CANNOT_UNARCHIVE = 1232
    ID_HAS_PM_PREFIX = 1233
    DESCRIPTION_HAS_HTML = 1234
    ID_RESERVED = 1237
    CUSTOM_UNSUBSCRIBE_NOT_ALLOWED = 1238
    UNSUBSCRIBE_HANDLING_NOT_SUPPORTED = 1239
    CANNOT_ARCHIVE_YET = 1241
    # The Bounce and Suppressions APIs (docs/postmark-suppressions-api.md).
    BOUNCE_QUERY_INVALID = 1000
    BOUNCE_NOT_FOUND = 1001
    BOUNCE_CANNOT_BE_ACTIVATED = 1003
    INVALID_SUPPRESSION_REASON = 1404
    INVALID_SUPPRESSION_ORIGIN = 1405
    SUPPRESSION_NOT_ALLOWED = 1406
    SUPPRESSIONS_INTERNAL_FAILURE = 1407
    INVALID_EMAIL_ADDRESS = 1408
    INVALID_SUPPRESSIONS_REQUEST = 1409
    TOO_MANY_SUPPRESSIONS = 1410
    EMAIL_ADDRESS_REQUIRED = 1411
    # The Stats API (docs/postmark-stats-api.md):
    STATS_NOT_IN_PLAN = 614
    INVALID_DATE = 900
    FROM_DATE_TOO_OLD = 1500
    FROM_DATE_AFTER_TO_DATE = 1502


@dataclass(frozen=True, slots=True)
class Stream:
    id: str
    server_id: int | None
    name: str
    description: str | None
    stream_type: StreamType
    unsubscribe_handling: UnsubscribeHandling
    created_at: datetime
    updated_at: datetime | None
    archived_at: datetime | None
    expected_purge_date: datetime | None

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


@dataclass(frozen=True, slots=True)
class ArchiveResult:
    id: str
    server_id: int | None
    expected_purge_date: datetime


class Unset(enum.Enum):
    """Marks an edit_stream field the caller did not give (None is a value: it clears a field)."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset.UNSET


# --- Errors ------------------------------------------------------------------------------------


class PostmarkError(Exception):
    """Postmark did not do what was asked. `message` is Postmark's own words, or ours."""

    def __init__(self, message: str, *, status: int | None = None, error_code: int | None = None):
        self.message = message
        self.status = status
        self.error_code = _known_code(error_code)
        super().__init__(self._describe())

    def _describe(self) -> str:
        answer = f"HTTP {self.status}" if self.status is not None else "no HTTP answer"
        if self.error_code is not None:
            answer += f", ErrorCode {int(self.error_code)}"
        return f"{self.message} ({answer})"

    def __str__(self) -> str:
        return self._describe()


class TokenRejected(PostmarkError):
    """401 or ErrorCode 10: the server token is wrong, revoked, or an account token."""


class ValidationRefused(PostmarkError):
    """Postmark refused the request on its rules (422 with a code, or another Postmark 4xx)."""


class StreamNotFound(PostmarkError):
    """No such stream on this server (422/1226, or a 404 on a stream's path)."""


class RateLimited(PostmarkError):
    """429: Postmark asks us to slow down."""


class PostmarkUnavailable(PostmarkError):
    """Postmark could not be reached or did not answer in a shape we can read."""


class PostmarkNotAsked(PostmarkUnavailable):
    """The request's time for Postmark (`deadline`) ran out before this call: it was never sent."""


def _known_code(code: int | None) -> int | None:
    if code is None:
        return None
    try:
        return ErrorCode(code)
    except ValueError:
        return int(code)


# --- Parsing Postmark's answers ----------------------------------------------------------------


def _parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 timestamp, got {type(value).__name__}")
    moment = datetime.fromisoformat(value.strip())
    if moment.tzinfo is None:
        # Postmark documents its timestamps in US Eastern time.
        moment = moment.replace(tzinfo=POSTMARK_ZONE)
    return moment


def _parse_optional_datetime(value: object) -> datetime | None:
    return None if value is None else _parse_datetime(value)


def _parse_server_id(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"ServerID must be an integer, got {type(value).__name__}")
    return int(value)


def _require_str(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {type(value).__name__}")
    return value


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} must be a string or null, got {type(value).__name__}")
    return value


def _parse_unsubscribe_handling(
    data: dict[str, Any], stream_type: StreamType
) -> UnsubscribeHandling:
    configuration = data.get("SubscriptionManagementConfiguration") or {}
    value = configuration.get("UnsubscribeHandlingType")
    if value is None:
        # Absent: Postmark's default for the type (Broadcasts: Postmark; others: None).
        is_broadcast = stream_type is StreamType.BROADCASTS
        return UnsubscribeHandling.POSTMARK if is_broadcast else UnsubscribeHandling.NONE
    return UnsubscribeHandling(value)


def _parse_stream(data: object) -> Stream:
    if not isinstance(data, dict):
        raise ValueError("a stream must be a JSON object")
    stream_type = StreamType(_require_str(data, "MessageStreamType"))
    return Stream(
        id=_require_str(data, "ID"),
        server_id=_parse_server_id(data.get("ServerID")),
        name=_require_str(data, "Name"),
        description=_optional_str(data, "Description"),
        stream_type=stream_type,
        unsubscribe_handling=_parse_unsubscribe_handling(data, stream_type),
        created_at=_parse_datetime(data.get("CreatedAt")),
        updated_at=_parse_optional_datetime(data.get("UpdatedAt")),
        archived_at=_parse_optional_datetime(data.get("ArchivedAt")),
        expected_purge_date=_parse_optional_datetime(data.get("ExpectedPurgeDate")),
    )


def _parse_stream_list(data: object) -> list[Stream]:
    if not isinstance(data, dict) or not isinstance(data.get("MessageStreams"), list):
        raise ValueError("a stream list must be an object with a MessageStreams array")
    return [_parse_stream(item) for item in data["MessageStreams"]]


def _parse_archive_result(data: object) -> ArchiveResult:
    if not isinstance(data, dict):
        raise ValueError("an archive answer must be a JSON object")
    return ArchiveResult(
        id=_require_str(data, "ID"),
        server_id=_parse_server_id(data.get("ServerID")),
        expected_purge_date=_parse_datetime(data.get("ExpectedPurgeDate")),
    )


# --- Mapping refusals onto errors --------------------------------------------------------------

_CODES_OF_AN_UNAVAILABLE_POSTMARK = {
    ErrorCode.MAINTENANCE, ErrorCode.POSTMARK_FAILURE, ErrorCode.SUPPRESSIONS_INTERNAL_FAILURE,
}


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _postmark_error_body(response: httpx.Response) -> tuple[int | None, str | None]:
    """Postmark's ErrorCode and Message, or (None, None) when the body is not Postmark's JSON."""
    try:
        data = json.loads(response.content)
    except ValueError:
        data = None
    code = message = None
    if isinstance(data, dict):
        code = _int_or_none(data.get("ErrorCode"))
        text = data.get("Message")
        message = text.strip() if isinstance(text, str) and text.strip() else None
    if code is None:
        code = _int_or_none(response.headers.get("X-PM-ApiErrorCode"))
    return code, message


def _is_stream_path(path: str) -> bool:
    return path.startswith("/message-streams/")


def _refusal(response: httpx.Response, path: str, token: str) -> PostmarkError:
    status = response.status_code
    code, postmark_message = _postmark_error_body(response)
    said = _redact(postmark_message, token) if postmark_message else None
    if status == 401 or code == ErrorCode.INVALID_SERVER_TOKEN:
        fallback = "Postmark rejected the server token (is it a server token, not an account one?)."
        return TokenRejected(said or fallback, status=status, error_code=code)
    if status == 429:
        fallback = "Postmark is rate limiting requests."
        return RateLimited(said or fallback, status=status, error_code=code)
    if status >= 500 or code in _CODES_OF_AN_UNAVAILABLE_POSTMARK:
        fallback = "Postmark is unavailable."
        return PostmarkUnavailable(said or fallback, status=status, error_code=code)
    if code == ErrorCode.STREAM_NOT_FOUND or (status == 404 and _is_stream_path(path)):
        fallback = "Postmark has no message stream with this ID on this server."
        return StreamNotFound(said or fallback, status=status, error_code=code)
    if 400 <= status < 500 and code is not None:
        fallback = f"Postmark refused the request (ErrorCode {code})."
        return ValidationRefused(said or fallback, status=status, error_code=code)
    fallback = "Postmark answered with a body that is not Postmark's JSON."
    return PostmarkUnavailable(fallback, status=status, error_code=code)


def _redact(text: str, token: str) -> str:
    return text.replace(token, MASK) if token else text


# --- Transports and pools ----------------------------------------------------------------------

_POOLS: dict[str, _Pool] = {}
_POOLS_LOCK = threading.Lock()
_SANDBOX_WORKERS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="postmark-sandbox")


class _InProcessSandboxTransport(httpx.BaseTransport):
    """Hands each request to the current sandbox's WSGI app, with the read timeout WSGI lacks."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        from dashboard.postmark import sandbox  # Lazily: the sandbox is a dev/test tool.

        app = sandbox.current()
        read_timeout = (request.extensions.get("timeout") or {}).get("read")
        answer = _SANDBOX_WORKERS.submit(_answer_fully, httpx.WSGITransport(app=app), request)
        try:
            return answer.result(timeout=read_timeout)
        except FutureTimeout:
            raise httpx.ReadTimeout(
                f"the sandbox did not answer within {read_timeout} s", request=request
            ) from None


# --- One request's time for Postmark -------------------------------------------------------------

_DEADLINE: ContextVar[float | None] = ContextVar("postmark_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every call to Postmark made inside waits, in all, at most `seconds` from now: a page that asks twice (the
    create form's ID check, then the create) never holds a hung Postmark for twice the read timeout. Each call
    gets the time left (never more than its own timeouts); one that could not get an answer in what is left is
    not sent. A tighter deadline already set stays."""
    end = time.monotonic() + seconds
    current = _DEADLINE.get()
    token = _DEADLINE.set(end if current is None else min(current, end))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _time_left() -> float | None:
    end = _DEADLINE.get()
    return None if end is None else end - time.monotonic()


def _answer_fully(transport: httpx.WSGITransport, request: httpx.Request) -> httpx.Response:
    response = transport.handle_request(request)
    response.read()  # A hang while the body streams must also count against the read timeout.
    return response


def _timeout(connect: float, read: float) -> httpx.Timeout:
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


def _configured_timeout() -> httpx.Timeout:
    connect = float(getattr(settings, "POSTMARK_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT))
    read = float(getattr(settings, "POSTMARK_READ_TIMEOUT", DEFAULT_READ_TIMEOUT))
    return _timeout(connect, read)


# What httpx.Client would add to every request beside ours (Accept and User-Agent are our own).
_CLIENT_HEADERS = {"Accept-Encoding": "gzip, deflate", "Connection": "keep-alive"}


def _no_cookies() -> http.cookiejar.CookieJar:
    """A jar that keeps and sends nothing: one pool serves every team's servers, so a cookie set in one server's
    answer (by Postmark or a balancer in front of it) must never go out with another server's request."""
    return http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


@dataclass(frozen=True)
class _Pool:
    """One base URL's connections. `client` holds the configuration (timeouts, limits, certificates) and closes
    the connections. Requests go straight to `direct`, its transport: httpx.Client's own sending (redirects,
    auth, cookies, event hooks, none of which a Postmark call uses) cost about 0.2 ms of CPU a call, which a
    team overview paid 30 times at once. When the environment names a proxy, which only the client applies,
    there is no `direct` and the client sends."""

    client: httpx.Client
    direct: httpx.BaseTransport | None

    @classmethod
    def over(cls, transport: httpx.BaseTransport | None, *, straight: bool = True, **options: Any) -> _Pool:
        """A pool over `transport` (None: httpx.Client makes its own), sent to straight unless `straight` is off."""
        client = httpx.Client(transport=transport, follow_redirects=False, cookies=_no_cookies(), **options)
        return cls(client, transport if straight else None)

    @staticmethod
    def request(
        method: str, url: str, params: dict[str, str] | None, content: bytes | None, headers: dict[str, str],
        timeout: httpx.Timeout,
    ) -> httpx.Request:
        """The request as httpx.Client.build_request would make it (its cookie jar adds nothing), whichever way it
        is then sent."""
        return httpx.Request(
            method, url, params=params, content=content, headers={**_CLIENT_HEADERS, **headers},
            extensions={"timeout": timeout.as_dict()},
        )

    def send(self, request: httpx.Request) -> httpx.Response:
        if self.direct is None:
            return self.client.send(request)
        response = self.direct.handle_request(request)
        response.request = request
        try:
            response.read()  # the whole body now, as httpx.Client.send does, so a hang counts against the timeout
        except BaseException:
            response.close()
            raise
        return response


def _pool(base_url: str) -> _Pool:
    with _POOLS_LOCK:
        pool = _POOLS.get(base_url)
        if pool is None:
            in_process = base_url == SANDBOX_URL
            # As many connections as the dashboard makes calls at once, so none waits for the pool.
            concurrency = int(getattr(settings, "POSTMARK_CONCURRENCY", 32))
            limits = httpx.Limits(
                max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=30
            )
            timeout = _configured_timeout()
            if in_process:
                pool = _Pool.over(_InProcessSandboxTransport(), timeout=timeout, trust_env=False)
            elif not getproxies():
                pool = _Pool.over(httpx.HTTPTransport(limits=limits), timeout=timeout, trust_env=False)
            else:  # the environment's proxies, which httpx.Client applies to a transport of its own making
                pool = _Pool.over(None, straight=False, timeout=timeout, limits=limits, trust_env=True)
            _POOLS[base_url] = pool
        return pool


def close_pools() -> None:
    """Close every shared connection pool (tests and shutdown); the next call opens a new one."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.client.close()


# --- The client --------------------------------------------------------------------------------

_T = TypeVar("_T")
_E = TypeVar("_E", bound=enum.Enum)
# Connection-level failures that happen before Postmark could act, so a GET may try again.
_RETRYABLE_FAILURES = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,
    httpx.PoolTimeout,
)


def _wire_value(enum_type: type[_E], value: _E | str) -> str:
    """The documented spelling of a known value; anything else goes as is, for Postmark to judge."""
    try:
        return str(enum_type(value).value)
    except ValueError:
        return value if isinstance(value, str) else str(value)


# RFC 3986's unreserved characters: a segment of only these goes as it is, with nothing to quote or decode.
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")


class UnsafePathSegment(ValueError):
    """A path segment the client will not send: httpx or Postmark could read the path as another endpoint's."""


def _path(*segments: str) -> str:
    """A request's path from its segments; refuses, before anything is sent, one that is not a plain segment."""
    for position, segment in enumerate(segments, start=1):
        if not isinstance(segment, str) or not segment:
            why = "is empty"
        elif segment in {".", ".."}:
            why = f"is '{segment}', which would take the request to another endpoint"
        elif not _SEGMENT.fullmatch(segment):
            why = "holds a character other than letters, digits, '-', '_', '.' and '~'"
        else:
            continue
        raise UnsafePathSegment(f"Nothing was sent to Postmark: segment {position} of the path {why}.")
    return "/" + "/".join(segments)


def _sent_path(request: httpx.Request) -> str:
    """The path as the request carried it, after httpx's normalisation, without the query."""
    return request.url.raw_path.partition(b"?")[0].decode("ascii")


class PostmarkClient(SuppressionsAndBouncesMixin, StatsCalls):
    """One server's view of Postmark's Message Streams API (and, from its mixins, the Suppressions, Bounce
    and Stats APIs); the token is sent per request only."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        retries: int = 2,
        backoff: float | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> None:
        if not isinstance(token, str) or not token.strip() or not token.strip().isprintable():
            raise ValueError("A Postmark server token must be a non-empty printable string.")
        if not token.strip().isascii():
            raise ValueError("A Postmark server token must be ASCII.")
        self._token = token.strip()
        base_url = base_url or getattr(settings, "POSTMARK_API_URL", DEFAULT_API_URL)
        self._base_url = base_url.rstrip("/")
        configured = _configured_timeout()
        self._timeout = _timeout(
            configured.connect if connect_timeout is None else connect_timeout,
            configured.read if read_timeout is None else read_timeout,
        )
        self._retries = max(0, retries)
        if backoff is None:
            backoff = float(getattr(settings, "POSTMARK_RETRY_BACKOFF", DEFAULT_RETRY_BACKOFF))
        self._backoff = max(0.0, backoff)
        self._own_pool = None
        if transport is not None:
            self._own_pool = _Pool.over(transport, timeout=self._timeout, trust_env=False)

    @property
    def base_url(self) -> str:
        return self._base_url

    def __repr__(self) -> str:
        hint = self._token[-4:] if len(self._token) > 8 else ""
        return f"PostmarkClient(base_url={self._base_url!r}, token={MASK}{hint})"

    def close(self) -> None:
        """Close this client's own connection (only when built with `transport=`)."""
        if self._own_pool is not None:
            self._own_pool.client.close()

    # --- The six calls ---

    def list_streams(
        self, *, stream_type: StreamType | str | None = None, include_archived: bool = False
    ) -> list[Stream]:
        wanted = "All"
        if stream_type is not None and str(stream_type).strip().lower() != "all":
            wanted = _wire_value(StreamType, stream_type)
        params = {
            "MessageStreamType": wanted,
            "IncludeArchivedStreams": "true" if include_archived else "false",
        }
        return self._call("GET", _path("message-streams"), _parse_stream_list, params=params)

    def get_stream(self, stream_id: str) -> Stream:
        return self._call("GET", _path("message-streams", stream_id), _parse_stream)

    def create_stream(
        self,
        *,
        id: str,
        name: str,
        stream_type: StreamType | str,
        description: str | None = None,
        unsubscribe_handling: UnsubscribeHandling | str | None = None,
    ) -> Stream:
        body: dict[str, Any] = {
            "ID": id,
            "Name": name,
            "MessageStreamType": _wire_value(StreamType, stream_type),
        }
        if description is not None:
            body["Description"] = description
        if unsubscribe_handling is not None:
            body["SubscriptionManagementConfiguration"] = {
                "UnsubscribeHandlingType": _wire_value(UnsubscribeHandling, unsubscribe_handling)
            }
        return self._call("POST", _path("message-streams"), _parse_stream, body=body)

    def edit_stream(
        self,
        stream_id: str,
        *,
        name: str | Unset = UNSET,
        description: str | None | Unset = UNSET,
        unsubscribe_handling: UnsubscribeHandling | str | Unset = UNSET,
    ) -> Stream:
        body: dict[str, Any] = {}
        if name is not UNSET:
            body["Name"] = name
        if description is not UNSET:
            body["Description"] = description
        if unsubscribe_handling is not UNSET:
            body["SubscriptionManagementConfiguration"] = {
                "UnsubscribeHandlingType": _wire_value(UnsubscribeHandling, unsubscribe_handling)
            }
        if not body:
            raise ValueError("edit_stream needs a name, description or unsubscribe_handling.")
        return self._call("PATCH", _path("message-streams", stream_id), _parse_stream, body=body)

    def archive_stream(self, stream_id: str) -> ArchiveResult:
        return self._call("POST", _path("message-streams", stream_id, "archive"), _parse_archive_result, body={})

    def unarchive_stream(self, stream_id: str) -> Stream:
        return self._call("POST", _path("message-streams", stream_id, "unarchive"), _parse_stream, body={})

    # --- One conversation ---

    def _call(
        self,
        method: str,
        path: str,
        parse: Callable[[object], _T],
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> _T:
        response = self._exchange(method, path, params, body)
        if not response.is_success:
            raise _refusal(response, path, self._token)
        try:
            return parse(response.json())
        except (ValueError, KeyError, TypeError, AttributeError) as problem:
            detail = _redact(f"{type(problem).__name__}: {problem}", self._token)
            raise PostmarkUnavailable(
                f"Postmark answered with a body we cannot read ({detail}).",
                status=response.status_code,
            ) from None

    @sensitive_variables()
    def _exchange(
        self, method: str, path: str, params: dict[str, str] | None, body: dict[str, Any] | None
    ) -> httpx.Response:
        headers = {
            "X-Postmark-Server-Token": self._token,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body).encode()
        attempts_allowed = 1 + self._retries if method == "GET" else 1
        started = time.monotonic()
        attempt, sent, response, failure = 0, None, None, None
        while attempt < attempts_allowed:
            if attempt:
                self._pause(attempt)
            left = _time_left()
            # Less than a tenth of the read timeout can't be expected to bring an answer: don't start the call.
            if left is not None and left < self._timeout.read / 10:
                if sent is None:
                    logger.info("Postmark %s %s not sent: the request's time for Postmark ran out", method, path)
                    raise PostmarkNotAsked(f"Postmark did not answer within {self._timeout.read:g} s, so this "
                                           "request stopped asking it.")
                break  # a retry that can't finish in time: the last attempt's outcome stands
            attempt += 1
            earlier = response
            sent, response, failure = self._send_once(method, path, params, content, headers, left)
            if failure is not None and earlier is not None:
                # A retry cut short (often by the request's own deadline) says less than Postmark's last answer:
                # after a 429, "Postmark is busy" stays the truth, not "Postmark isn't answering".
                response, failure = earlier, None
                break
            if not _worth_retrying(response, failure):
                break
        outcome = response.status_code if response is not None else type(failure).__name__
        elapsed_ms = round((time.monotonic() - started) * 1000)
        # What went on the wire, not what we meant to send: they differ if httpx rewrote the path.
        logger.info(
            "Postmark %s %s -> %s, %d attempt(s), %d ms", method, _sent_path(sent), outcome, attempt, elapsed_ms
        )
        if failure is not None:
            raise _unreachable(failure, self._timeout, self._token) from None
        return response

    @sensitive_variables()
    def _send_once(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
        left: float | None = None,
    ) -> tuple[httpx.Request, httpx.Response | None, httpx.HTTPError | None]:
        pool = self._own_pool or _pool(self._base_url)
        timeout = self._timeout
        if left is not None and left < timeout.read:
            timeout = _timeout(min(timeout.connect, left), left)
        request = pool.request(method, self._base_url + path, params, content, headers, timeout)
        try:
            response = pool.send(request)
        except httpx.HTTPError as failure:
            return request, None, failure
        return request, response, None

    def _pause(self, attempt: int) -> None:
        delay = self._backoff * 2 ** (attempt - 1)
        if delay > 0:
            time.sleep(delay + random.uniform(0, delay / 4))


def _unreachable(
    failure: httpx.HTTPError, timeout: httpx.Timeout, token: str
) -> PostmarkUnavailable:
    detail = _redact(f"{type(failure).__name__}: {failure}", token)
    if isinstance(failure, httpx.ReadTimeout):
        return PostmarkUnavailable(f"Postmark did not answer within {timeout.read:g} s ({detail}).")
    return PostmarkUnavailable(f"Postmark could not be reached ({detail}).")


def _worth_retrying(response: httpx.Response | None, failure: httpx.HTTPError | None) -> bool:
    if failure is not None:
        # Not a read timeout: a hung Postmark would multiply the page's wait by the attempts.
        return isinstance(failure, _RETRYABLE_FAILURES)
    return response is not None and (response.status_code == 429 or response.status_code >= 500)
