"""The local Postmark's Suppressions API and Bounce API, beside the stream calls of sandbox.py.

It owns what the sandbox knows about a server's recipients (`RecipientState`: one suppression list per
stream, the server's bounces, and the settings for the points Postmark's reference leaves open), the four
calls of docs/postmark-suppressions-api.md with their rules, codes and answer shapes, and the control paths
`/_sandbox/suppressions`, `/_sandbox/bounces` and `/_sandbox/suppressions/settings` that seed and tune them.
A server starts with no suppressions and no bounces.

Like sandbox.py it must never talk to the network or hold a real token, and imports the standard library
and sandbox.py only; sandbox.py reaches this module at call time, never at import, so either imports first.

Validation order (the first failing rule answers): the route (404, 405), the token (401/10), the stream
(1226; archived streams answer unless `archived_stream_writes` is "refused", which makes writes 1226), an
injected internal failure (1407), then the query (1404, 1405, 1409 for a date) or the body (1409 for a body
that is not `{"Suppressions": [{...}]}`, 1410 for more than 50 items, 1411 for an item without an address).
Bounces: paging (1000), then the filters; activate: the bounce (1001), then CanActivate (1003).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from dashboard.postmark.sandbox import (
    CONTROL_KINDS,
    EASTERN,
    Answer,
    Refusal,
    Request,
    ServerRecord,
    StreamRecord,
    control_body,
    control_value,
    error_answer,
    json_answer,
    postmark_time,
)

BATCH_LIMIT = 50
PAGE_LIMIT = 500
PAGING_LIMIT = 10_000
DEFAULT_DELAY_SECONDS = 5.0
# Bounce and suppression IDs of a server are its ServerID times this plus a counter: unique across servers.
ID_BLOCK = 1_000_000

REASONS = {"hardbounce": "HardBounce", "spamcomplaint": "SpamComplaint", "manualsuppression": "ManualSuppression"}
ORIGINS = {"recipient": "Recipient", "customer": "Customer", "admin": "Admin"}
# Postmark's staff: only these can be reactivated; a spam complaint never, an unsubscribe per the settings.
REMOVABLE = frozenset({("ManualSuppression", "Customer"), ("HardBounce", "Recipient")})
UNSUBSCRIBE = ("ManualSuppression", "Recipient")
EMAIL_MATCHES = ("exact", "substring")
ARCHIVED_STREAM_WRITES = ("allowed", "refused")

INVALID_ADDRESS = "An invalid email address was provided."
NO_AUTHORITY = "You do not have the required authority to change this suppression."
MESSAGES: dict[int, str] = {
    1000: "The 'count' (1 to 500) and 'offset' (0 or more, count + offset at most 10000) are required.",
    1001: "This bounce was not found.",
    1003: "This bounce cannot be activated.",
    1226: "The message stream for the provided 'ID' was not found.",
    1404: "The 'SuppressionReason' must be HardBounce, SpamComplaint or ManualSuppression.",
    1405: "The 'Origin' must be Recipient, Customer or Admin.",
    1407: "An internal error occurred while processing the suppressions. Please try again.",
    1409: "The request must be a JSON object such as {\"Suppressions\": [{\"EmailAddress\": \"...\"}]}.",
    1410: f"A request can change at most {BATCH_LIMIT} suppressions.",
    1411: "Each suppression needs an 'EmailAddress'.",
}
ADDRESS = re.compile(r"[^@\s\"(),:;<>\[\]\\]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
ADDRESS_LIMIT = 254

# Postmark's bounce types: (Type, TypeCode, Name, Description).
BOUNCE_TYPES = (
    ("HardBounce", 1, "Hard bounce",
     "The server was unable to deliver your message (ex: unknown user, mailbox not found)."),
    ("Transient", 2, "Message delayed",
     "The server could not temporarily deliver your message (ex: Message is delayed due to network "
     "troubles)."),
    ("Unsubscribe", 16, "Unsubscribe request",
     "Unsubscribe or Remove request."),
    ("Subscribe", 32, "Subscribe request",
     "Subscribe request from someone wanting to get added to the mailing list."),
    ("AutoResponder", 64, "Auto responder",
     "Automatic email responder (ex: \"Out of Office\" or \"On Vacation\")."),
    ("AddressChange", 128, "Address change",
     "The recipient has requested an address change."),
    ("DnsError", 256, "DNS error",
     "A temporary DNS error."),
    ("SpamNotification", 512, "Spam notification",
     "The message was delivered, but was either blocked by the user, or classified as spam, bulk mail, or "
     "had rejected content."),
    ("OpenRelayTest", 1024, "Open relay test",
     "The NDR is actually a test email message to see if the mail server is an open relay."),
    ("Unknown", 2048, "Unknown",
     "Unable to classify the NDR."),
    ("SoftBounce", 4096, "Soft bounce",
     "Unable to temporarily deliver message (i.e. mailbox full, account disabled, exceeds quota, out of "
     "disk space)."),
    ("VirusNotification", 8192, "Virus notification",
     "The bounce is actually a virus notification warning about a virus/code infected message."),
    ("ChallengeVerification", 16384, "Spam challenge verification",
     "The bounce is a challenge asking for verification you actually sent the email."),
    ("BadEmailAddress", 100000, "Invalid email address",
     "The address is not a valid email address."),
    ("SpamComplaint", 100001, "Spam complaint",
     "The subscriber explicitly marked this message as spam."),
    ("ManuallyDeactivated", 100002, "Manually deactivated",
     "The email was manually deactivated."),
    ("Unconfirmed", 100003, "Registration not confirmed",
     "Registration not confirmed."),
    ("Blocked", 100006, "ISP block",
     "Blocked from this ISP due to content or blacklisting."),
    ("SMTPApiError", 100007, "SMTP API error",
     "An error occurred while accepting an email through the SMTP API."),
    ("InboundError", 100008, "Processing failed",
     "Unable to deliver inbound message to destination inbound hook."),
    ("DMARCPolicy", 100009, "DMARC Policy",
     "Email rejected due DMARC Policy."),
    ("TemplateRenderingFailed", 100010, "Template rendering failed",
     "An error occurred while attempting to render your template."),
)
BOUNCE_TYPE_BY_NAME = {name.lower(): (name, code, title, text) for name, code, title, text in BOUNCE_TYPES}
# Bounce types after which Postmark stops sending to the address, and the suppression each one leaves.
DEACTIVATING_TYPES = {"HardBounce": "HardBounce", "SpamComplaint": "SpamComplaint", "BadEmailAddress": None,
                      "ManuallyDeactivated": None}


def refuse(code: int) -> Refusal:
    """Every refusal of these two APIs is HTTP 422 with Postmark's body and header."""
    return Refusal(error_answer(422, code, MESSAGES[code]))


def is_address(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= ADDRESS_LIMIT and ADDRESS.fullmatch(value) is not None


# --- State ---------------------------------------------------------------------------------------


@dataclass
class SuppressionSettings:
    """The points Postmark's reference leaves open, settable per server (docs/postmark-suppressions-api.md)."""

    delay_seconds: float = DEFAULT_DELAY_SECONDS  # sandbox-clock seconds before an API-made suppression shows
    unsubscribes_removable: bool = False  # may ManualSuppression/Recipient (an unsubscribe) be deleted?
    email_match: str = "exact"  # the dump's EmailAddress filter: "exact" or "substring", any case
    archived_stream_writes: str = "allowed"  # "refused": suppress/delete on an archived stream answer 1226
    internal_failures: int = 0  # the next n suppression calls answer 422/1407

    def __post_init__(self) -> None:
        if not CONTROL_KINDS["number"](self.delay_seconds) or self.delay_seconds < 0:
            raise ValueError("'delay_seconds' must be a number of seconds, 0 or more.")
        if not isinstance(self.unsubscribes_removable, bool):
            raise ValueError("'unsubscribes_removable' must be true or false.")
        if self.email_match not in EMAIL_MATCHES:
            raise ValueError(f"'email_match' must be one of {', '.join(EMAIL_MATCHES)}.")
        if self.archived_stream_writes not in ARCHIVED_STREAM_WRITES:
            raise ValueError(f"'archived_stream_writes' must be one of {', '.join(ARCHIVED_STREAM_WRITES)}.")
        whole = isinstance(self.internal_failures, int) and not isinstance(self.internal_failures, bool)
        if not whole or self.internal_failures < 0:
            raise ValueError("'internal_failures' must be a whole number, 0 or more.")


@dataclass
class SuppressionRecord:
    id: int
    stream_id: str
    email: str
    reason: str
    origin: str
    created_at: datetime
    shows_at: datetime  # a suppression made through the API shows in the dump only from here on


@dataclass
class BounceRecord:
    id: int
    stream_id: str
    email: str
    type: str
    inactive: bool
    can_activate: bool
    bounced_at: datetime
    message_id: str
    tag: str | None = None
    sender: str = "notifications@example.com"
    subject: str = "Your receipt"
    details: str = "smtp;550 5.1.1 The email account that you tried to reach does not exist."


@dataclass
class RecipientState:
    """One server's suppressions (each bound to a stream) and bounces, in the order they were made."""

    settings: SuppressionSettings = field(default_factory=SuppressionSettings)
    suppressions: list[SuppressionRecord] = field(default_factory=list)
    bounces: list[BounceRecord] = field(default_factory=list)
    last_number: int = 0

    def next_id(self, server_id: int) -> int:
        self.last_number += 1
        return server_id * ID_BLOCK + self.last_number

    def suppression(self, stream_id: str, email: str) -> SuppressionRecord | None:
        wanted = email.lower()
        for record in self.suppressions:
            if record.stream_id == stream_id and record.email.lower() == wanted:
                return record
        return None

    def suppress(self, server_id: int, stream_id: str, email: str, reason: str, origin: str, *,
                 now: datetime, shows_at: datetime) -> SuppressionRecord:
        """The address's suppression on the stream, made now unless it already has one (which stays as it is)."""
        record = self.suppression(stream_id, email)
        if record is None:
            record = SuppressionRecord(self.next_id(server_id), stream_id, email, reason, origin, now, shows_at)
            self.suppressions.append(record)
        return record

    def unsuppress(self, record: SuppressionRecord) -> None:
        self.suppressions.remove(record)
        if record.reason == "HardBounce":
            # Postmark: deleting a HardBounce suppression reactivates the bounce behind it.
            for bounce in self.bounces_of(record.stream_id, record.email):
                if bounce.type == "HardBounce" and bounce.inactive:
                    bounce.inactive = bounce.can_activate = False

    def bounces_of(self, stream_id: str, email: str) -> list[BounceRecord]:
        wanted = email.lower()
        return [b for b in self.bounces if b.stream_id == stream_id and b.email.lower() == wanted]

    def bounce(self, bounce_id: str) -> BounceRecord:
        for record in self.bounces:
            if str(record.id) == bounce_id:
                return record
        raise refuse(1001)

    def forget_streams(self, stream_ids: Iterable[str]) -> None:
        """A purged stream takes its suppressions and bounces with it."""
        gone = set(stream_ids)
        self.suppressions = [record for record in self.suppressions if record.stream_id not in gone]
        self.bounces = [record for record in self.bounces if record.stream_id not in gone]

    def to_json(self) -> dict[str, Any]:
        def moments(data: dict[str, Any]) -> dict[str, Any]:
            return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in data.items()}

        return {
            "settings": asdict(self.settings),
            "suppressions": [moments(asdict(record)) for record in self.suppressions],
            "bounces": [moments(asdict(record)) for record in self.bounces],
            "last_number": self.last_number,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> RecipientState:
        """A server's recipients as saved; a state file from before these APIs has none, and loads empty."""
        if data is None:
            return cls()

        def revived(record: dict[str, Any], *keys: str) -> dict[str, Any]:
            return {**record, **{key: datetime.fromisoformat(record[key]) for key in keys}}

        return cls(
            settings=SuppressionSettings(**data["settings"]),
            suppressions=[SuppressionRecord(**revived(s, "created_at", "shows_at")) for s in data["suppressions"]],
            bounces=[BounceRecord(**revived(b, "bounced_at")) for b in data["bounces"]],
            last_number=data["last_number"],
        )


# --- Answers -------------------------------------------------------------------------------------


def suppression_json(record: SuppressionRecord) -> dict[str, Any]:
    return {
        "EmailAddress": record.email,
        "SuppressionReason": record.reason,
        "Origin": record.origin,
        "CreatedAt": postmark_time(record.created_at),
    }


def bounce_json(record: BounceRecord, server_id: int, *, with_content: bool = False) -> dict[str, Any]:
    """A bounce in the keys and key order of Postmark's examples; `Content` only where a single one is sent."""
    type_name, type_code, name, description = BOUNCE_TYPE_BY_NAME[record.type.lower()]
    payload: dict[str, Any] = {
        "ID": record.id,
        "Type": type_name,
        "TypeCode": type_code,
        "Name": name,
        "Tag": record.tag,
        "MessageID": record.message_id,
        "ServerID": server_id,
        "MessageStream": record.stream_id,
        "Description": description,
        "Details": record.details,
        "Email": record.email,
        "From": record.sender,
        "BouncedAt": postmark_time(record.bounced_at),
        "DumpAvailable": False,
        "Inactive": record.inactive,
        "CanActivate": record.can_activate,
        "Subject": record.subject,
    }
    if with_content:
        headers = f"Return-Path: <>\r\nTo: {record.email}\r\nSubject: {record.subject}\r\n"
        payload["Content"] = f"{headers}\r\n{record.details}"
    return payload


# --- Reading requests ----------------------------------------------------------------------------


def stream_for_call(server: ServerRecord, stream_id: str, *, writing: bool) -> StreamRecord:
    stream = server.streams.get(stream_id)
    if stream is None:
        raise refuse(1226)
    refused = server.recipients.settings.archived_stream_writes == "refused"
    if writing and refused and stream.archived_at is not None:
        raise refuse(1226)
    settings = server.recipients.settings
    if settings.internal_failures:
        settings.internal_failures -= 1
        raise refuse(1407)
    return stream


def query_choice(request: Request, name: str, choices: dict[str, str], code: int) -> str | None:
    """A query value from `choices` in any case; absent or empty is no filter."""
    value = request.query.get(name, "").strip()
    if not value:
        return None
    if value.lower() not in choices:
        raise refuse(code)
    return choices[value.lower()]


def query_moment(request: Request, name: str, code: int, *, end_of_day: bool) -> datetime | None:
    """A date (a whole day in Eastern time) or a date and time (Eastern unless it has an offset)."""
    value = request.query.get(name, "").strip()
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day, time.max if end_of_day else time.min, EASTERN)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise refuse(code) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=EASTERN)


def requested_addresses(request: Request) -> list[str]:
    """The addresses of a `{"Suppressions": [{"EmailAddress": ...}]}` body, keys in any case, in order."""
    try:
        body = request.json_object(empty_allowed=False)
    except Refusal:
        raise refuse(1409) from None
    items = body.get("suppressions")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise refuse(1409)
    if len(items) > BATCH_LIMIT:
        raise refuse(1410)
    addresses = [item.get("emailaddress") for item in items]
    if any(address is None or (isinstance(address, str) and not address.strip()) for address in addresses):
        raise refuse(1411)
    if not all(isinstance(address, str) for address in addresses):
        raise refuse(1409)
    return [address.strip() for address in addresses]


def paging_number(request: Request, name: str) -> int:
    value = request.query.get(name, "").strip()
    if not value.isdigit():
        raise refuse(1000)
    return int(value)


# --- The calls -----------------------------------------------------------------------------------


def dump_suppressions(server: ServerRecord, request: Request, now: datetime, stream_id: str) -> Answer:
    stream = stream_for_call(server, stream_id, writing=False)
    reason = query_choice(request, "suppressionreason", REASONS, 1404)
    origin = query_choice(request, "origin", ORIGINS, 1405)
    since = query_moment(request, "fromdate", 1409, end_of_day=False)
    until = query_moment(request, "todate", 1409, end_of_day=True)
    address = request.query.get("emailaddress", "").strip().lower()
    substring = server.recipients.settings.email_match == "substring"

    def wanted(record: SuppressionRecord) -> bool:
        email = record.email.lower()
        return (
            record.stream_id == stream.id
            and record.shows_at <= now
            and reason in (None, record.reason)
            and origin in (None, record.origin)
            and (since is None or record.created_at >= since)
            and (until is None or record.created_at <= until)
            and (not address or (address in email if substring else address == email))
        )

    shown = [suppression_json(record) for record in server.recipients.suppressions if wanted(record)]
    return json_answer(200, {"Suppressions": shown})


def create_suppressions(server: ServerRecord, request: Request, now: datetime, stream_id: str) -> Answer:
    stream = stream_for_call(server, stream_id, writing=True)
    addresses = requested_addresses(request)
    recipients = server.recipients
    shows_at = now + timedelta(seconds=recipients.settings.delay_seconds)
    results = []
    for address in addresses:
        if not is_address(address):
            results.append(item_result(address, "Failed", INVALID_ADDRESS))
            continue
        # Through the API always ManualSuppression from the Customer; an address already suppressed keeps its own.
        recipients.suppress(server.id, stream.id, address, "ManualSuppression", "Customer", now=now, shows_at=shows_at)
        results.append(item_result(address, "Suppressed"))
    return json_answer(200, {"Suppressions": results})


def delete_suppressions(server: ServerRecord, request: Request, now: datetime, stream_id: str) -> Answer:
    stream = stream_for_call(server, stream_id, writing=True)
    addresses = requested_addresses(request)
    recipients = server.recipients
    results = []
    for address in addresses:
        record = recipients.suppression(stream.id, address) if is_address(address) else None
        if not is_address(address):
            results.append(item_result(address, "Failed", INVALID_ADDRESS))
        elif record is not None and not removable(record, recipients.settings):
            results.append(item_result(address, "Failed", NO_AUTHORITY))
        else:
            if record is not None:  # an address that is not suppressed is "Deleted" all the same
                recipients.unsuppress(record)
            results.append(item_result(address, "Deleted"))
    return json_answer(200, {"Suppressions": results})


def removable(record: SuppressionRecord, settings: SuppressionSettings) -> bool:
    kind = (record.reason, record.origin)
    return kind in REMOVABLE or (kind == UNSUBSCRIBE and settings.unsubscribes_removable)


def item_result(address: str, status: str, message: str | None = None) -> dict[str, Any]:
    return {"EmailAddress": address, "Status": status, "Message": message}


def list_bounces(server: ServerRecord, request: Request, now: datetime) -> Answer:
    count, offset = paging_number(request, "count"), paging_number(request, "offset")
    if not 1 <= count <= PAGE_LIMIT or count + offset > PAGING_LIMIT:
        raise refuse(1000)
    stream_id = request.query.get("messagestream", "").strip() or "outbound"  # Postmark's default stream
    bounce_type = request.query.get("type", "").strip().lower()
    inactive = {"true": True, "false": False}.get(request.query.get("inactive", "").strip().lower())
    email_filter = request.query.get("emailfilter", "").strip().lower()
    tag = request.query.get("tag", "").strip().lower()
    message_id = request.query.get("messageid", "").strip().lower()
    since = query_moment(request, "fromdate", 1000, end_of_day=False)
    until = query_moment(request, "todate", 1000, end_of_day=True)

    def wanted(record: BounceRecord) -> bool:
        return (
            record.stream_id == stream_id
            and bounce_type in ("", record.type.lower())
            and inactive in (None, record.inactive)
            and email_filter in record.email.lower()
            and tag in ("", (record.tag or "").lower())
            and message_id in ("", record.message_id.lower())
            and (since is None or record.bounced_at >= since)
            and (until is None or record.bounced_at <= until)
        )

    # Postmark sorts bounces by BouncedAt, newest first; the later made first among equal times.
    found = [record for record in server.recipients.bounces if wanted(record)]
    found.sort(key=lambda record: (record.bounced_at, record.id), reverse=True)
    page = [bounce_json(record, server.id) for record in found[offset:offset + count]]
    return json_answer(200, {"TotalCount": len(found), "Bounces": page})


def activate_bounce(server: ServerRecord, request: Request, now: datetime, bounce_id: str) -> Answer:
    recipients = server.recipients
    bounce = recipients.bounce(bounce_id)
    if not bounce.can_activate:
        raise refuse(1003)
    bounce.inactive = bounce.can_activate = False
    suppression = recipients.suppression(bounce.stream_id, bounce.email)
    if bounce.type == "HardBounce" and suppression is not None and suppression.reason == "HardBounce":
        recipients.suppressions.remove(suppression)  # the address may be sent to again
    return json_answer(200, {"Message": "OK", "Bounce": bounce_json(bounce, server.id, with_content=True)})


# (path, {method: (call, changes state)}), matched as sandbox.route matches the stream calls.
ROUTES = tuple(
    (re.compile(path, re.IGNORECASE), methods)
    for path, methods in (
        (r"/message-streams/(?P<stream_id>[^/]+)/suppressions/dump/?", {"GET": (dump_suppressions, False)}),
        (r"/message-streams/(?P<stream_id>[^/]+)/suppressions/?", {"POST": (create_suppressions, True)}),
        (r"/message-streams/(?P<stream_id>[^/]+)/suppressions/delete/?", {"POST": (delete_suppressions, True)}),
        (r"/bounces/?", {"GET": (list_bounces, False)}),
        (r"/bounces/(?P<bounce_id>[^/]+)/activate/?", {"PUT": (activate_bounce, True)}),
    )
)


# --- Seeding and settings (Python and the control paths) -----------------------------------------


def choice(value: str, choices: dict[str, str], what: str) -> str:
    chosen = choices.get(value.strip().lower())
    if chosen is None:
        raise ValueError(f"'{what}' must be one of {', '.join(choices.values())}, not {value!r}.")
    return chosen


def seed_stream(server: ServerRecord, stream_id: str) -> str:
    if stream_id not in server.streams:
        raise LookupError(f"The sandbox server has no stream '{stream_id}'.")
    return stream_id


def seed_address(email: str) -> str:
    if not is_address(email):
        raise ValueError(f"'email' must be an e-mail address, not {email!r}.")
    return email


def add_suppression(sandbox: Any, token: str, *, stream: str, email: str, reason: str = "ManualSuppression",
                    origin: str | None = None) -> tuple[int, bool]:
    """(its ID, whether it is new): a suppression that shows at once; one already there takes this reason and origin."""
    reason = choice(reason, REASONS, "reason")
    origin = choice(origin or ("Customer" if reason == "ManualSuppression" else "Recipient"), ORIGINS, "origin")
    email = seed_address(email)
    with sandbox.changing_server(token) as (server, now):
        stream_id = seed_stream(server, stream)
        existing = server.recipients.suppression(stream_id, email)
        if existing is not None:
            existing.reason, existing.origin = reason, origin
            return existing.id, False
        return server.recipients.suppress(server.id, stream_id, email, reason, origin, now=now, shows_at=now).id, True


def add_bounce(sandbox: Any, token: str, *, stream: str, email: str, type: str = "HardBounce",
               inactive: bool | None = None, can_activate: bool | None = None, tag: str | None = None) -> int:
    """A bounce now; an inactive HardBounce or SpamComplaint also suppresses the address there, as Postmark does."""
    bounce_type = BOUNCE_TYPE_BY_NAME.get(type.strip().lower())
    if bounce_type is None:
        raise ValueError(f"'type' must be one of Postmark's bounce types, such as HardBounce, not {type!r}.")
    type_name = bounce_type[0]
    inactive = type_name in DEACTIVATING_TYPES if inactive is None else inactive
    can_activate = inactive and type_name != "SpamComplaint" if can_activate is None else can_activate
    email = seed_address(email)
    with sandbox.changing_server(token) as (server, now):
        stream_id = seed_stream(server, stream)
        recipients = server.recipients
        record = BounceRecord(recipients.next_id(server.id), stream_id, email, type_name, inactive, can_activate,
                              bounced_at=now, message_id=str(uuid.uuid4()), tag=tag)
        recipients.bounces.append(record)
        reason = DEACTIVATING_TYPES.get(type_name)
        if inactive and reason:
            recipients.suppress(server.id, stream_id, email, reason, "Recipient", now=now, shows_at=now)
        return record.id


def configure(sandbox: Any, token: str, **changes: Any) -> SuppressionSettings:
    """Change some of a server's settings (SuppressionSettings' fields); returns them all."""
    with sandbox.changing_server(token) as (server, now):
        settings = SuppressionSettings(**{**asdict(server.recipients.settings), **changes})
        server.recipients.settings = settings
        return settings


def seed_demo(sandbox: Any, token: str, stream: str = "outbound") -> None:
    """A realistic mix on one stream: each kind of suppression, and bounces that explain some of them."""
    add_bounce(sandbox, token, stream=stream, email="maria.gomez@example.com", type="HardBounce", tag="receipt")
    add_bounce(sandbox, token, stream=stream, email="j.okafor@example.org", type="SpamComplaint", tag="newsletter")
    add_bounce(sandbox, token, stream=stream, email="li.wei@example.net", type="SoftBounce", tag="receipt")
    add_bounce(sandbox, token, stream=stream, email="tom@example.com", type="Transient", tag="password-reset")
    add_suppression(sandbox, token, stream=stream, email="old-address@example.com", reason="ManualSuppression")
    add_suppression(sandbox, token, stream=stream, email="no-more-mail@example.org", reason="ManualSuppression",
                    origin="Recipient")
    add_suppression(sandbox, token, stream=stream, email="blocked-by-support@example.com",
                    reason="ManualSuppression", origin="Admin")


def control_suppressions(sandbox: Any, request: Request) -> Answer:
    body = control_body(request, ("token", "stream", "email", "reason", "origin"))
    suppression_id, created = add_suppression(
        sandbox,
        control_value(body, "token", "string", ""),
        stream=control_value(body, "stream", "string", "outbound"),
        email=control_value(body, "email", "string", ""),
        reason=control_value(body, "reason", "string", "ManualSuppression"),
        origin=control_value(body, "origin", "string", None),
    )
    return json_answer(201 if created else 200, {"ID": suppression_id})


def control_bounces(sandbox: Any, request: Request) -> Answer:
    body = control_body(request, ("token", "stream", "email", "type", "inactive", "can_activate", "tag"))
    bounce_id = add_bounce(
        sandbox,
        control_value(body, "token", "string", ""),
        stream=control_value(body, "stream", "string", "outbound"),
        email=control_value(body, "email", "string", ""),
        type=control_value(body, "type", "string", "HardBounce"),
        inactive=control_value(body, "inactive", "boolean", None),
        can_activate=control_value(body, "can_activate", "boolean", None),
        tag=control_value(body, "tag", "string", None),
    )
    return json_answer(201, {"ID": bounce_id})


def control_settings(sandbox: Any, request: Request) -> Answer:
    """POST with the server's token and the settings to change (none: just read them)."""
    body = control_body(request, ("token", *SuppressionSettings.__dataclass_fields__))
    token = control_value(body, "token", "string", "")
    changes = {key: value for key, value in body.items() if key != "token"}
    return json_answer(200, {"Settings": asdict(configure(sandbox, token, **changes))})


CONTROL_ROUTES = {
    "/_sandbox/suppressions": {"POST": control_suppressions},
    "/_sandbox/suppressions/settings": {"POST": control_settings},
    "/_sandbox/bounces": {"POST": control_bounces},
}
