"""The Postmark client's calls of the Suppressions API and the Bounce API, which PostmarkClient inherits.

It owns the typed answers of those calls (suppressions, the per-address outcome of a change, bounces and a
page of them), their parsing (keys and values in any case, fields it does not know ignored), and the checks
made before anything is sent: at most 50 addresses per change, Postmark's paging limits, a whole-number
bounce ID. Requests go through PostmarkClient's own machinery (`_call`: the token header, reads retried,
writes never, refusals mapped onto the client's errors); see docs/postmark-suppressions-api.md.

It must never report an address as changed unless Postmark said so for that address: an item Postmark
marks Failed, or leaves out of its answer, is a failure inside a 200, and `SuppressionBatch.failed` holds it.
It imports nothing from client.py at import time (client.py imports it for PostmarkClient's bases); the
client's helpers are taken at call time, when client.py is loaded.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from dashboard.postmark.values import CaseInsensitiveEnum

__all__ = [
    "BATCH_LIMIT",
    "Bounce",
    "BouncePage",
    "BounceType",
    "Suppression",
    "SuppressionBatch",
    "SuppressionOrigin",
    "SuppressionReason",
    "SuppressionResult",
    "SuppressionStatus",
    "SuppressionsAndBouncesMixin",
    "TooManyAddresses",
]

BATCH_LIMIT = 50
PAGE_LIMIT = 500
PAGING_LIMIT = 10_000


def _client() -> Any:
    from dashboard.postmark import client

    return client


class SuppressionReason(CaseInsensitiveEnum):
    HARD_BOUNCE = "HardBounce"
    SPAM_COMPLAINT = "SpamComplaint"
    MANUAL_SUPPRESSION = "ManualSuppression"


class SuppressionOrigin(CaseInsensitiveEnum):
    RECIPIENT = "Recipient"
    CUSTOMER = "Customer"
    ADMIN = "Admin"


class SuppressionStatus(CaseInsensitiveEnum):
    SUPPRESSED = "Suppressed"
    DELETED = "Deleted"
    FAILED = "Failed"


class BounceType(CaseInsensitiveEnum):
    HARD_BOUNCE = "HardBounce"
    TRANSIENT = "Transient"
    UNSUBSCRIBE = "Unsubscribe"
    SUBSCRIBE = "Subscribe"
    AUTO_RESPONDER = "AutoResponder"
    ADDRESS_CHANGE = "AddressChange"
    DNS_ERROR = "DnsError"
    SPAM_NOTIFICATION = "SpamNotification"
    OPEN_RELAY_TEST = "OpenRelayTest"
    UNKNOWN = "Unknown"
    SOFT_BOUNCE = "SoftBounce"
    VIRUS_NOTIFICATION = "VirusNotification"
    CHALLENGE_VERIFICATION = "ChallengeVerification"
    BAD_EMAIL_ADDRESS = "BadEmailAddress"
    SPAM_COMPLAINT = "SpamComplaint"
    MANUALLY_DEACTIVATED = "ManuallyDeactivated"
    UNCONFIRMED = "Unconfirmed"
    BLOCKED = "Blocked"
    SMTP_API_ERROR = "SMTPApiError"
    INBOUND_ERROR = "InboundError"
    DMARC_POLICY = "DMARCPolicy"
    TEMPLATE_RENDERING_FAILED = "TemplateRenderingFailed"


# The suppressions Postmark lets an API call delete; a spam complaint never (docs/postmark-suppressions-api.md).
REMOVABLE = frozenset({
    (SuppressionReason.MANUAL_SUPPRESSION, SuppressionOrigin.CUSTOMER),
    (SuppressionReason.HARD_BOUNCE, SuppressionOrigin.RECIPIENT),
})


class TooManyAddresses(ValueError):
    """More addresses than Postmark takes in one call (50): nothing was sent; split them into batches."""


@dataclass(frozen=True, slots=True)
class Suppression:
    email_address: str
    reason: SuppressionReason | str  # a reason Postmark adds later stays as its text
    origin: SuppressionOrigin | str
    created_at: datetime

    @property
    def removable(self) -> bool:
        """Whether Postmark lets us delete it: never a spam complaint, nor (our reading) an unsubscribe."""
        return (self.reason, self.origin) in REMOVABLE


@dataclass(frozen=True, slots=True)
class SuppressionResult:
    """What Postmark said about one address of a suppress or unsuppress call."""

    email_address: str
    status: SuppressionStatus | str | None  # None: Postmark's answer did not mention the address
    message: str | None
    succeeded: bool  # True only with the status the call asked for (Suppressed, or Deleted)


@dataclass(frozen=True, slots=True)
class SuppressionBatch:
    """One result per address sent, in the order sent; a 200 from Postmark can still hold failures."""

    results: tuple[SuppressionResult, ...]

    @property
    def succeeded(self) -> tuple[SuppressionResult, ...]:
        return tuple(result for result in self.results if result.succeeded)

    @property
    def failed(self) -> tuple[SuppressionResult, ...]:
        return tuple(result for result in self.results if not result.succeeded)

    @property
    def all_succeeded(self) -> bool:
        return not self.failed


@dataclass(frozen=True, slots=True)
class Bounce:
    id: int
    type: BounceType | str
    type_code: int | None
    name: str | None
    tag: str | None
    message_id: str | None
    server_id: int | None
    stream_id: str | None  # Postmark's MessageStream
    description: str | None
    details: str | None
    email: str
    sender: str | None  # Postmark's From
    bounced_at: datetime
    dump_available: bool
    inactive: bool
    can_activate: bool
    subject: str | None
    content: str | None = None  # only in answers about one bounce


@dataclass(frozen=True, slots=True)
class BouncePage:
    total_count: int  # every bounce matching the filters, beyond this page
    bounces: tuple[Bounce, ...]


# --- Parsing -------------------------------------------------------------------------------------


def _folded(data: object, what: str) -> dict[str, Any]:
    """An object's keys lowercased: Postmark's keys are matched in any case."""
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be a JSON object")
    return {str(key).lower(): value for key, value in data.items()}


def _text(data: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {type(value).__name__}")
    return value


def _known(enum_type: type[enum.Enum], value: object, key: str) -> Any:
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {type(value).__name__}")
    try:
        return enum_type(value)
    except ValueError:
        return value


def _flag(data: dict[str, Any], key: str) -> bool:
    value = data.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise ValueError(f"{key} must be true or false")


def _whole(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise ValueError(f"{key} must be a whole number")
    return int(value)


def _parse_suppression(item: object) -> Suppression:
    data = _folded(item, "a suppression")
    return Suppression(
        email_address=_text(data, "emailaddress", required=True),
        reason=_known(SuppressionReason, data.get("suppressionreason"), "SuppressionReason"),
        origin=_known(SuppressionOrigin, data.get("origin"), "Origin"),
        created_at=_client()._parse_datetime(data.get("createdat")),
    )


def _parse_suppression_list(data: object) -> list[Suppression]:
    items = _folded(data, "a suppression dump").get("suppressions")
    if not isinstance(items, list):
        raise ValueError("a suppression dump must have a Suppressions array")
    return [_parse_suppression(item) for item in items]


def _batch_parser(addresses: list[str], wanted: SuppressionStatus) -> Any:
    """Parses a change's answer into one result per address sent, matched in any case."""

    def parse(data: object) -> SuppressionBatch:
        items = _folded(data, "a suppression answer").get("suppressions")
        if not isinstance(items, list):
            raise ValueError("a suppression answer must have a Suppressions array")
        answered: dict[str, list[SuppressionResult]] = {}
        for item in items:
            fields = _folded(item, "a suppression result")
            address = _text(fields, "emailaddress", required=True)
            status = _known(SuppressionStatus, fields.get("status"), "Status")
            result = SuppressionResult(address, status, _text(fields, "message"), status is wanted)
            answered.setdefault(address.strip().lower(), []).append(result)
        results = []
        for address in addresses:
            said = answered.get(address.strip().lower())
            if said:
                results.append(said.pop(0))
            else:
                unmentioned = "Postmark's answer did not mention this address, so it may not have changed."
                results.append(SuppressionResult(address, None, unmentioned, False))
        return SuppressionBatch(tuple(results))

    return parse


def _parse_bounce(item: object) -> Bounce:
    data = _folded(item, "a bounce")
    client = _client()
    type_code = data.get("typecode")
    return Bounce(
        id=_whole(data.get("id"), "ID"),
        type=_known(BounceType, data.get("type"), "Type"),
        type_code=None if type_code is None else _whole(type_code, "TypeCode"),
        name=_text(data, "name"),
        tag=_text(data, "tag"),
        message_id=_text(data, "messageid"),
        server_id=client._parse_server_id(data.get("serverid")),
        stream_id=_text(data, "messagestream"),
        description=_text(data, "description"),
        details=_text(data, "details"),
        email=_text(data, "email", required=True),
        sender=_text(data, "from"),
        bounced_at=client._parse_datetime(data.get("bouncedat")),
        dump_available=_flag(data, "dumpavailable") if data.get("dumpavailable") is not None else False,
        inactive=_flag(data, "inactive"),
        can_activate=_flag(data, "canactivate"),
        subject=_text(data, "subject"),
        content=_text(data, "content"),
    )


def _parse_bounce_page(data: object) -> BouncePage:
    fields = _folded(data, "a bounce list")
    items = fields.get("bounces")
    if not isinstance(items, list):
        raise ValueError("a bounce list must have a Bounces array")
    return BouncePage(total_count=_whole(fields.get("totalcount"), "TotalCount"),
                      bounces=tuple(_parse_bounce(item) for item in items))


def _parse_activation(data: object) -> Bounce:
    return _parse_bounce(_folded(data, "an activation answer").get("bounce"))


# --- What we send --------------------------------------------------------------------------------


def _addresses(emails: Iterable[str]) -> list[str]:
    if isinstance(emails, str):
        raise TypeError("Give a list of e-mail addresses, not one string.")
    addresses = list(emails)
    if not addresses:
        raise ValueError("Give at least one e-mail address.")
    if not all(isinstance(address, str) for address in addresses):
        raise TypeError("Every e-mail address must be a string.")
    if len(addresses) > BATCH_LIMIT:
        raise TooManyAddresses(
            f"Nothing was sent to Postmark: it takes at most {BATCH_LIMIT} addresses per call, "
            f"and {len(addresses)} were given."
        )
    return addresses


def _day(value: date) -> str:
    """A date for the suppression dump; a moment counts as its day in Postmark's time zone, US Eastern."""
    if isinstance(value, datetime):
        value = value.astimezone(_client().POSTMARK_ZONE).date() if value.tzinfo else value.date()
    return value.isoformat()


def _moment(value: date) -> str:
    """A date or a moment for the bounce list, which reads times as US Eastern."""
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo:
        value = value.astimezone(_client().POSTMARK_ZONE)
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def _paging(count: int, offset: int) -> None:
    for name, value in (("count", count), ("offset", offset)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be a whole number.")
    if not 1 <= count <= PAGE_LIMIT or offset < 0 or count + offset > PAGING_LIMIT:
        raise ValueError(
            f"Nothing was sent to Postmark: count must be 1 to {PAGE_LIMIT}, offset 0 or more, "
            f"and count + offset at most {PAGING_LIMIT}."
        )


class SuppressionsAndBouncesMixin:
    """PostmarkClient's Suppressions API and Bounce API calls; `_call` is PostmarkClient's."""

    _call: Any

    def list_suppressions(
        self,
        stream_id: str,
        *,
        reason: SuppressionReason | str | None = None,
        origin: SuppressionOrigin | str | None = None,
        since: date | None = None,
        until: date | None = None,
        email: str | None = None,
    ) -> list[Suppression]:
        """The stream's suppressions (all of them: Postmark does not page this call); dates are inclusive."""
        client = _client()
        params: dict[str, str] = {}
        if reason is not None:
            params["SuppressionReason"] = client._wire_value(SuppressionReason, reason)
        if origin is not None:
            params["Origin"] = client._wire_value(SuppressionOrigin, origin)
        if since is not None:
            params["fromdate"] = _day(since)
        if until is not None:
            params["todate"] = _day(until)
        if email is not None:
            params["EmailAddress"] = email
        path = client._path("message-streams", stream_id, "suppressions", "dump")
        return self._call("GET", path, _parse_suppression_list, params=params)

    def suppress(self, stream_id: str, emails: Iterable[str]) -> SuppressionBatch:
        """Suppress up to 50 addresses on the stream; Postmark shows them in the dump only after a moment."""
        return self._change_suppressions(stream_id, emails, (), SuppressionStatus.SUPPRESSED)

    def unsuppress(self, stream_id: str, emails: Iterable[str]) -> SuppressionBatch:
        """Delete up to 50 addresses' suppressions; a spam complaint's always comes back Failed."""
        return self._change_suppressions(stream_id, emails, ("delete",), SuppressionStatus.DELETED)

    def _change_suppressions(
        self, stream_id: str, emails: Iterable[str], tail: tuple[str, ...], wanted: SuppressionStatus
    ) -> SuppressionBatch:
        addresses = _addresses(emails)
        path = _client()._path("message-streams", stream_id, "suppressions", *tail)
        body = {"Suppressions": [{"EmailAddress": address} for address in addresses]}
        return self._call("POST", path, _batch_parser(addresses, wanted), body=body)

    def list_bounces(
        self,
        *,
        count: int,
        offset: int,
        stream_id: str | None = None,
        email_filter: str | None = None,
        bounce_type: BounceType | str | None = None,
        inactive: bool | None = None,
        tag: str | None = None,
        message_id: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> BouncePage:
        """A page of the server's bounces, newest first; without `stream_id` Postmark answers for `outbound` only."""
        _paging(count, offset)
        client = _client()
        params: dict[str, str] = {"count": str(count), "offset": str(offset)}
        if stream_id is not None:
            params["messagestream"] = stream_id
        if email_filter is not None:
            params["emailFilter"] = email_filter
        if bounce_type is not None:
            params["type"] = client._wire_value(BounceType, bounce_type)
        if inactive is not None:
            params["inactive"] = "true" if inactive else "false"
        if tag is not None:
            params["tag"] = tag
        if message_id is not None:
            params["messageID"] = message_id
        if since is not None:
            params["fromdate"] = _moment(since)
        if until is not None:
            params["todate"] = _moment(until)
        return self._call("GET", client._path("bounces"), _parse_bounce_page, params=params)

    def activate_bounce(self, bounce_id: int) -> Bounce:
        """Let Postmark send to the bounce's address again (only where CanActivate); the bounce as it is now."""
        if isinstance(bounce_id, bool) or not isinstance(bounce_id, int) or bounce_id < 0:
            raise ValueError("Nothing was sent to Postmark: a bounce ID is a whole number.")
        path = _client()._path("bounces", str(bounce_id), "activate")
        return self._call("PUT", path, _parse_activation)
