"""A stream's suppressions and a recipient's bounces: reading them, adding, removing, downloading, and
"why didn't this person get our e-mail?" across every stream of every server of a team.

Writers (`suppression_add`, `suppression_remove`, `suppression_export`, `bounce_activate`) check the role,
call Postmark in batches of at most 50 addresses, and record every attempt in the audit log with its
addresses, its outcome and Postmark's own message. An address Postmark marked Failed inside a 200 is never
reported as done. Readers make one Postmark call per stream (the dump has no paging) and page the rows here.

Never: decrypt a token (only `postmark_client_for` does), see a request, or log an address or a token.
"""

from __future__ import annotations

import contextvars
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from dashboard import audit
from dashboard.models import AuditEvent, Role, Server, Team, User
from dashboard.postmark.client import ErrorCode, PostmarkError, StreamNotFound
from dashboard.postmark.client_suppressions import (
    BATCH_LIMIT,
    Bounce,
    Suppression,
    SuppressionBatch,
)
from dashboard.services import ServiceError
from dashboard.services.servers import postmark_client_for, server_note_token_accepted
from dashboard.services.teams import role_of
from dashboard.token_crypto import TokenUnreadable
from streams.last_known import stream_target
from streams.services import PostmarkTrouble, StreamGone, Unknown, _ask, _fanout, _known_for_each, _trouble

Outcome = AuditEvent.Outcome

PAGE_SIZE = 100
# How many addresses one paste may hold: sent in batches of 50, so at most 20 calls to Postmark.
MOST_ADDRESSES = 1000
RECENT_BOUNCES = 10
REASON_FILTERS = ("all", "HardBounce", "SpamComplaint", "ManualSuppression")
ORIGIN_FILTERS = ("all", "Recipient", "Customer", "Admin")
REASON_LABELS = {"HardBounce": "Hard bounces", "SpamComplaint": "Spam complaints",
                 "ManualSuppression": "Unsubscribes and manual"}
ORIGIN_WORDS = {"Recipient": "The recipient", "Customer": "Your team", "Admin": "Postmark's staff"}

# (reason, origin) -> (what it means, why it cannot be removed or "" when it can)
_KINDS: dict[tuple[str, str], tuple[str, str]] = {
    ("HardBounce", "Recipient"): ("Hard bounce: the address does not exist, or its mail server refuses it",
                                   ""),
    ("SpamComplaint", "Recipient"): ("Spam complaint: can never be removed",
                                     "The recipient marked your e-mail as spam. Postmark never lets anyone remove "
                                     "a spam complaint."),
    ("ManualSuppression", "Recipient"): ("Unsubscribed by the recipient",
                                         "The recipient unsubscribed. Only they can undo it, by subscribing again; "
                                         "Postmark does not let us remove it."),
    ("ManualSuppression", "Customer"): ("Suppressed by your team (by hand or through Postmark's API)", ""),
    ("ManualSuppression", "Admin"): ("Suppressed by Postmark's staff",
                                     "Postmark's staff suppressed it. Only Postmark support can remove it."),
}
_UNKNOWN_KIND = ("Suppressed for a reason this dashboard does not know yet ({reason}, from {origin})",
                 "This dashboard does not know whether Postmark lets it be removed, so it does not try.")
REMOVING_MEANS = ("Removing a suppression lets Postmark send to the address again on this stream. If a hard "
                  "bounce's address still does not work, the next message bounces again and Postmark suppresses "
                  "it again.")
# Postmark's own words for a Failed item, and ours for a person.
_ITEM_MESSAGES = {
    "an invalid email address was provided.": "Postmark says this is not a valid e-mail address.",
    "you do not have the required authority to change this suppression.":
        "Postmark does not allow removing this suppression (a spam complaint, an unsubscribe, or one made by "
        "Postmark's staff).",
}
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}")
_SEPARATORS = re.compile(r"[\s,;]+")


# --- Addresses as people type them ---------------------------------------------------------------


def address_problem(text: str) -> str:
    """Why `text` is not an address Postmark takes, in words; "" when it is one."""
    if len(text) > 254:
        return "is longer than 254 characters, the most an e-mail address may have."
    odd = next((char for char in text if not char.isascii() or not char.isprintable()), None)
    if odd is not None:
        shown = odd if odd.isprintable() else f"U+{ord(odd):04X}"
        return (f"contains “{shown}”: Postmark takes addresses written with plain letters (a–z), digits and "
                ". _ + - only. A domain with accents goes in its xn-- form.")
    if "@" not in text:
        return "has no “@”, so it is not an e-mail address."
    if not _ADDRESS.fullmatch(text):
        return "is not an e-mail address Postmark accepts (check the characters around the “@” and the domain)."
    return ""


@dataclass
class ParsedAddresses:
    valid: list[str] = field(default_factory=list)        # in the order typed, duplicates folded
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (as typed, why)
    duplicates: int = 0


def parse_addresses(text: str) -> ParsedAddresses:
    """Addresses one per line or separated by commas, semicolons or spaces; duplicates folded in any case."""
    parsed, seen = ParsedAddresses(), set()
    for piece in _SEPARATORS.split(text or ""):
        if not piece:
            continue
        key = piece.lower()
        if key in seen:
            parsed.duplicates += 1
            continue
        seen.add(key)
        problem = address_problem(piece)
        if problem:
            parsed.invalid.append((piece[:80], problem))
        else:
            parsed.valid.append(piece)
    return parsed


# --- Reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuppressionRow:
    """One suppressed address as a page shows it."""

    email: str
    reason: str
    origin: str
    created_at: datetime

    @classmethod
    def of(cls, suppression: Suppression) -> SuppressionRow:
        return cls(suppression.email_address, str(getattr(suppression.reason, "value", suppression.reason)),
                   str(getattr(suppression.origin, "value", suppression.origin)), suppression.created_at)

    def _kind(self) -> tuple[str, str]:
        kind = _KINDS.get((self.reason, self.origin))
        if kind is None and self.reason == "HardBounce":
            kind = _KINDS[("HardBounce", "Recipient")]
        if kind is None and self.reason == "SpamComplaint":
            kind = _KINDS[("SpamComplaint", "Recipient")]
        if kind is None:
            return _UNKNOWN_KIND[0].format(reason=self.reason, origin=self.origin), _UNKNOWN_KIND[1]
        return kind

    @property
    def meaning(self) -> str:
        return self._kind()[0]

    @property
    def why_not_removable(self) -> str:
        return self._kind()[1]

    @property
    def removable(self) -> bool:
        return not self.why_not_removable

    @property
    def origin_words(self) -> str:
        return ORIGIN_WORDS.get(self.origin, self.origin)


@dataclass(frozen=True)
class SuppressionFilters:
    reason: str = "all"
    origin: str = "all"
    since: date | None = None
    until: date | None = None
    search: str = ""  # part of an address, any case; kept out of URLs by the pages


@dataclass
class SuppressionListing:
    rows: list[SuppressionRow]              # this page's rows, newest first
    matching: int                           # rows matching every filter, on every page
    counts: dict[str, int]                  # by reason, over the rows matching every filter but the reason
    page: int
    pages: int


def _dump(server: Server, stream_id: str, filters: SuppressionFilters) -> list[Suppression]:
    """One Postmark call; origin and dates are filtered by Postmark, the reason and the search here."""
    try:
        return _ask(server, lambda client: client.list_suppressions(
            stream_id, origin=None if filters.origin == "all" else filters.origin,
            since=filters.since, until=filters.until))
    except StreamNotFound:
        raise StreamGone(f"Postmark has no stream “{stream_id}” on {server.name} any more.") from None
    except PostmarkError as error:
        raise PostmarkTrouble(f"Postmark refused to list the suppressions: {error.message}",
                              kind="unavailable") from None


def _matching(suppressions: Iterable[Suppression], filters: SuppressionFilters) -> Iterator[Suppression]:
    needle = filters.search.strip().lower()
    for suppression in suppressions:
        if needle and needle not in suppression.email_address.lower():
            continue
        yield suppression


def _reason_of(suppression: Suppression) -> str:
    return str(getattr(suppression.reason, "value", suppression.reason))


def suppression_list(*, server: Server, stream_id: str, filters: SuppressionFilters, page: int = 1,
                     per_page: int = PAGE_SIZE) -> SuppressionListing:
    """The stream's suppressions matching the filters, newest first, one page of them as rows."""
    counts: Counter[str] = Counter()
    chosen: list[Suppression] = []
    for suppression in _matching(_dump(server, stream_id, filters), filters):
        reason = _reason_of(suppression)
        counts[reason] += 1
        if filters.reason in ("all", reason):
            chosen.append(suppression)
    chosen.sort(key=lambda item: (item.created_at, item.email_address.lower()), reverse=True)
    pages = max(1, -(-len(chosen) // per_page))
    page = min(max(1, page), pages)
    rows = [SuppressionRow.of(item) for item in chosen[(page - 1) * per_page:page * per_page]]
    return SuppressionListing(rows=rows, matching=len(chosen), counts=dict(counts), page=page, pages=pages)


# --- Audit ---------------------------------------------------------------------------------------


def _event(action: str, *, actor: User, team: Team, role: Role, server: Server, stream_id: str) -> dict[str, Any]:
    return {"action": action, "actor": actor, "team": team, "role": role, "target_type": "stream",
            "target_id": stream_target(server, stream_id), "target_label": f"{stream_id} on {server.name}"[:200]}


def _listed(addresses: Iterable[str]) -> str:
    return ", ".join(addresses)


def _require_editor(event: dict[str, Any], what: str) -> None:
    if not event["role"].at_least(Role.EDITOR):
        audit.record(**event, outcome=Outcome.DENIED, detail=f"{what} needs the Editor role or higher.")
        raise ServiceError(f"{what} needs the Editor role or higher. Ask an admin of your team if you need it.")


# --- Changing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressOutcome:
    email: str
    done: bool
    words: str  # what happened to this address, in words


@dataclass
class ChangeReport:
    outcomes: list[AddressOutcome]
    trouble: PostmarkTrouble | None = None  # Postmark stopped answering partway: later batches were not sent

    @property
    def done(self) -> list[AddressOutcome]:
        return [outcome for outcome in self.outcomes if outcome.done]

    @property
    def not_done(self) -> list[AddressOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.done]


def _checked(event: dict[str, Any], emails: list[str]) -> list[str]:
    """The addresses, or a refusal (recorded) in words when any is not one Postmark takes."""
    if not emails:
        raise ServiceError("Give at least one e-mail address.", field="addresses")
    problems = [f"“{email[:80]}” {address_problem(email)}" for email in emails if address_problem(email)]
    if len(emails) > MOST_ADDRESSES:
        problems.insert(0, f"{len(emails)} addresses were given; at most {MOST_ADDRESSES} can be sent at once.")
    if problems:
        audit.record(**event, outcome=Outcome.REFUSED, detail=("Nothing was sent: " + " ".join(problems))[:2000])
        raise ServiceError("Nothing was sent to Postmark. " + " ".join(problems[:5]), field="addresses")
    return emails


def _item_words(message: str | None) -> str:
    if not message:
        return "Postmark did not do it and gave no reason."
    return _ITEM_MESSAGES.get(message.strip().lower(), f"Postmark did not do it: {message}")


def _in_batches(event: dict[str, Any], server: Server, stream_id: str, emails: list[str], *, call: str,
                done_words: str, done_field: str, failed_field: str) -> ChangeReport:
    """Send the addresses 50 at a time; record each batch's outcome per address; stop when Postmark fails."""
    report = ChangeReport(outcomes=[])
    batches = [emails[start:start + BATCH_LIMIT] for start in range(0, len(emails), BATCH_LIMIT)]
    for number, batch in enumerate(batches):
        try:
            answer: SuppressionBatch = _ask(server, lambda client, batch=batch: getattr(client, call)(stream_id, batch))
        except PostmarkTrouble as trouble:
            unsure = trouble.maybe_done
            words = ("Postmark stopped answering before saying whether this was done. Check the list before "
                     "trying again.") if unsure else f"Not done: {trouble.message}"
            audit.record(**event, outcome=Outcome.FAILED, changes={failed_field: [None, _listed(batch)]},
                         detail=trouble.message[:500])
            report.outcomes += [AddressOutcome(email, False, words) for email in batch]
            report.trouble = trouble
            report.outcomes += _not_sent(batches[number + 1:])
            return report
        except PostmarkError as error:
            code = f"Postmark code {int(error.error_code)}" if error.error_code is not None else f"HTTP {error.status}"
            audit.record(**event, outcome=Outcome.REFUSED, changes={failed_field: [None, _listed(batch)]},
                         detail=f"{code}: {error.message}"[:500])
            if isinstance(error, StreamNotFound) or error.error_code == ErrorCode.STREAM_NOT_FOUND:
                words = f"Not done: Postmark has no stream “{stream_id}” on {server.name} any more."
            else:
                words = f"Not done: Postmark refused the request ({error.message})."
            report.outcomes += [AddressOutcome(email, False, words) for email in batch]
            report.outcomes += _not_sent(batches[number + 1:])
            return report
        _record_batch(event, answer, done_field=done_field, failed_field=failed_field)
        report.outcomes += [AddressOutcome(result.email_address, True, done_words) if result.succeeded
                            else AddressOutcome(result.email_address, False, _item_words(result.message))
                            for result in answer.results]
    return report


def _record_batch(event: dict[str, Any], answer: SuppressionBatch, *, done_field: str, failed_field: str) -> None:
    if answer.succeeded:
        audit.record(**event, outcome=Outcome.SUCCESS,
                     changes={done_field: [None, _listed(result.email_address for result in answer.succeeded)]})
    if answer.failed:
        said = "; ".join(f"{result.email_address}: {result.message or 'no reason given'}" for result in answer.failed)
        audit.record(**event, outcome=Outcome.REFUSED,
                     changes={failed_field: [None, _listed(result.email_address for result in answer.failed)]},
                     detail=f"Postmark answered Failed for {len(answer.failed)}: {said}"[:2000])


def _not_sent(batches: list[list[str]]) -> list[AddressOutcome]:
    words = "Not sent: Postmark stopped answering before this address's turn. Nothing was changed for it."
    return [AddressOutcome(email, False, words) for batch in batches for email in batch]


def suppression_add(*, actor: User, team: Team, server: Server, stream_id: str, emails: list[str]) -> ChangeReport:
    """Suppress the addresses on the stream, 50 per call; Postmark shows them in its list after a moment."""
    event = _event("suppression.add", actor=actor, team=team, role=role_of(actor, team), server=server,
                   stream_id=stream_id)
    _require_editor(event, "Suppressing addresses")
    emails = _checked(event, emails)
    return _in_batches(event, server, stream_id, emails, call="suppress",
                       done_words="Suppressed: Postmark will not send to it on this stream. It may take a minute "
                                  "to show in the list.",
                       done_field="suppressed", failed_field="not_suppressed")


@dataclass(frozen=True)
class RemovalCheck:
    email: str
    row: SuppressionRow | None  # None: not in Postmark's list (yet); removing it is harmless
    why_not: str


def suppression_removal_check(*, server: Server, stream_id: str, emails: list[str]) -> list[RemovalCheck]:
    """Each selected address with what Postmark holds for it, and why it cannot be removed ("" when it can)."""
    wanted = {email.lower() for email in emails}
    found = {item.email_address.lower(): SuppressionRow.of(item)
             for item in _dump(server, stream_id, SuppressionFilters()) if item.email_address.lower() in wanted}
    checks = []
    for email in emails:
        row = found.get(email.lower())
        checks.append(RemovalCheck(email, row, row.why_not_removable if row else ""))
    return checks


def suppression_remove(*, actor: User, team: Team, server: Server, stream_id: str, emails: list[str]) -> ChangeReport:
    """Remove the suppressions Postmark allows removing; the others are not sent, and the report says why."""
    event = _event("suppression.remove", actor=actor, team=team, role=role_of(actor, team), server=server,
                   stream_id=stream_id)
    _require_editor(event, "Removing suppressions")
    emails = _checked(event, emails)
    try:
        checks = suppression_removal_check(server=server, stream_id=stream_id, emails=emails)
    except PostmarkTrouble as trouble:
        audit.record(**event, outcome=Outcome.FAILED, changes={"not_removed": [None, _listed(emails)]},
                     detail=trouble.message[:500])
        raise
    kept = [check for check in checks if check.why_not]
    outcomes = [AddressOutcome(check.email, False, f"Not removed: {check.why_not}") for check in kept]
    if kept:
        audit.record(**event, outcome=Outcome.REFUSED, changes={"not_removed": [None, _listed(c.email for c in kept)]},
                     detail="Not sent to Postmark, which does not allow removing them: "
                            + "; ".join(f"{check.email}: {check.row.meaning}" for check in kept)[:1900])
    sendable = [check.email for check in checks if not check.why_not]
    report = ChangeReport(outcomes=outcomes)
    if sendable:
        sent = _in_batches(event, server, stream_id, sendable, call="unsuppress",
                           done_words="Removed: Postmark may send to it again on this stream.",
                           done_field="removed", failed_field="not_removed")
        report.outcomes += sent.outcomes
        report.trouble = sent.trouble
    return report


def suppression_export(*, actor: User, team: Team, server: Server, stream_id: str,
                       filters: SuppressionFilters) -> Iterator[list[str]]:
    """The filtered suppressions as CSV rows (a header first), after recording the download."""
    event = _event("suppression.export", actor=actor, team=team, role=role_of(actor, team), server=server,
                   stream_id=stream_id)
    try:
        suppressions = _dump(server, stream_id, filters)
    except PostmarkTrouble as trouble:
        audit.record(**event, outcome=Outcome.FAILED, detail=trouble.message[:500])
        raise
    chosen = [item for item in _matching(suppressions, filters) if filters.reason in ("all", _reason_of(item))]
    audit.record(**event, outcome=Outcome.SUCCESS, detail=f"{len(chosen)} suppressions downloaded as CSV.",
                 changes=_filter_changes(filters))
    return _csv_rows(chosen)


def _filter_changes(filters: SuppressionFilters) -> dict[str, list[Any]]:
    chosen = {"reason": filters.reason, "origin": filters.origin,
              "from": filters.since.isoformat() if filters.since else "",
              "to": filters.until.isoformat() if filters.until else "", "search": filters.search}
    return {f"filter_{name}": [None, value] for name, value in chosen.items() if value and value != "all"}


def _cell(value: str) -> str:
    """A spreadsheet runs a cell starting with = + - @ as a formula: such text is kept as text."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_rows(suppressions: list[Suppression]) -> Iterator[list[str]]:
    yield ["Email address", "Reason", "Origin", "Suppressed at (UTC)", "What it means", "Can be removed"]
    for item in suppressions:
        row = SuppressionRow.of(item)
        yield [_cell(row.email), _cell(row.reason), _cell(row.origin), row.created_at.astimezone(UTC).isoformat(),
               row.meaning, "yes" if row.removable else f"no: {row.why_not_removable}"]


# --- Bounces -------------------------------------------------------------------------------------


_BOUNCE_REFUSALS = {
    ErrorCode.BOUNCE_NOT_FOUND: "Postmark no longer has this bounce on {server}.",
    ErrorCode.BOUNCE_CANNOT_BE_ACTIVATED: "Postmark can't reactivate this bounce: it is a spam complaint, or the "
                                          "address is already active.",
}


def bounce_activate(*, actor: User, team: Team, server: Server, bounce_id: int, email: str) -> Bounce:
    """Let Postmark send to a bounced address again (only where Postmark says it can be reactivated)."""
    role = role_of(actor, team)
    event = {"action": "bounce.activate", "actor": actor, "team": team, "role": role, "target_type": "bounce",
             "target_id": f"{server.pk}/{bounce_id}", "target_label": f"{email} on {server.name}"[:200],
             "changes": {"address": [None, email], "bounce": [None, str(bounce_id)]}}
    _require_editor(event, "Reactivating a bounce")
    try:
        bounce = _ask(server, lambda client: client.activate_bounce(bounce_id))
    except PostmarkTrouble as trouble:
        audit.record(**event, outcome=Outcome.FAILED, detail=trouble.message[:500])
        raise
    except PostmarkError as error:
        code = f"Postmark code {int(error.error_code)}" if error.error_code is not None else f"HTTP {error.status}"
        audit.record(**event, outcome=Outcome.REFUSED, detail=f"{code}: {error.message}"[:500])
        words = _BOUNCE_REFUSALS.get(error.error_code, "Postmark refused to reactivate it: {message}")
        raise ServiceError(words.format(server=server.name, message=error.message)) from None
    audit.record(**event, outcome=Outcome.SUCCESS)
    return bounce


# --- Why didn't this person get our e-mail? --------------------------------------------------------


@dataclass
class StreamAnswer:
    stream_id: str
    stream_name: str
    archived: bool
    suppression: SuppressionRow | None = None
    bounces: list[Bounce] = field(default_factory=list)


@dataclass
class ServerAnswer:
    server: Server
    streams: list[StreamAnswer] = field(default_factory=list)
    trouble: PostmarkTrouble | None = None

    @property
    def suppressed_on(self) -> list[StreamAnswer]:
        return [stream for stream in self.streams if stream.suppression is not None]


def _stream_facts(client: Any, stream_id: str, email: str) -> tuple[list[Suppression], list[Bounce]] | Exception:
    """Runs on a fan-out thread: Postmark only, no database."""
    try:
        suppressions = client.list_suppressions(stream_id, email=email)
        page = client.list_bounces(count=RECENT_BOUNCES, offset=0, stream_id=stream_id, email_filter=email)
    except PostmarkError as error:
        return error
    wanted = email.lower()
    return ([item for item in suppressions if item.email_address.lower() == wanted],
            [bounce for bounce in page.bounces if bounce.email.lower() == wanted])


def recipient_lookup(*, team: Team, email: str) -> list[ServerAnswer]:
    """Every outbound stream of every server of the team, for one address: its suppression and recent bounces.

    Each server's streams come from the last-known copy while it is fresh; the streams are asked at once,
    on the shared pool of streams.services (at most POSTMARK_CONCURRENCY calls at a time)."""
    problem = address_problem(email)
    if problem:
        raise ServiceError(f"“{email[:80]}” {problem}", field="email")
    servers = list(team.servers.order_by("name", "pk"))
    known = _known_for_each(servers, refresh=False)
    answers, asking = [], []
    for server in servers:
        answer = ServerAnswer(server)
        answers.append(answer)
        streams = known[server.pk]
        if isinstance(streams, Unknown):
            answer.trouble = streams.trouble
            continue
        try:
            client = postmark_client_for(server)
        except TokenUnreadable as error:
            answer.trouble = _trouble(error, server)
            continue
        for stream in streams.streams:
            if stream.stream_type.value == "Inbound":
                continue  # Postmark suppresses and bounces outgoing e-mail only
            found = StreamAnswer(stream.id, stream.name, stream.is_archived)
            answer.streams.append(found)
            # In the request's copied context: each call keeps to the request's time for Postmark.
            call = _fanout().submit(contextvars.copy_context().run, _stream_facts, client, stream.id, email)
            asking.append((answer, found, call))
    for answer, found, future in asking:
        result = future.result()
        if isinstance(result, StreamNotFound):
            answer.streams.remove(found)  # purged since the copy was taken
        elif isinstance(result, Exception):
            if answer.trouble is None:
                answer.trouble = _trouble(result, answer.server)
        else:
            suppressions, found.bounces = result
            found.suppression = SuppressionRow.of(suppressions[0]) if suppressions else None
    for answer in answers:
        if answer.trouble is not None:
            answer.streams = []  # half an answer would say "not suppressed" where nobody knows
        elif answer.streams:
            server_note_token_accepted(server=answer.server)
    return answers
