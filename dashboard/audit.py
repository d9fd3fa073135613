"""The audit log's one writer: `record(...)`, called only by services.

It owns the registry of action names, the request's context (IP, user agent, our own request id and the
proxy's, set by `AuditContextMiddleware`) and the rule that refused, failed and denied attempts survive a rollback
of the transaction they were made in. It never records a secret: callers pass last-four values only, and
`record` refuses an event holding a server token this installation keeps (found by its keyed fingerprint), the
token the calling service has in hand (`secret=`), or an unmasked value in a field named for a secret. Text
that merely looks like a token (any UUID) is ordinary text.

It also owns the log's tamper evidence. Each team's entries form a hash chain (entries without a team form
one more): entry N holds its number `chain_seq`, the hash of entry N-1 and its own hash over all of its
content, so an edited, removed or reordered entry no longer verifies (`verify_chains`). The chain's end is
kept in `AuditChainHead`, whose row is locked while an entry is appended so that concurrent writers take
turns. `prune` is the only code that removes entries, and every committed entry is also written as one JSON
line to the logger "dashboard.audit.ship" for an operator to send to a separate system.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Min, Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from dashboard import token_crypto
from dashboard.models import AuditChainHead, AuditEvent, Role, Server, Team, User

Outcome = AuditEvent.Outcome

# Every action the log knows, with the words issue pages use for it. `record` refuses any other name.
ACTIONS: dict[str, str] = {
    "auth.login.success": "signed in",
    "auth.login.failure": "failed to sign in",
    "auth.login.locked": "was locked out of signing in after too many failures",
    "auth.logout": "signed out",
    "auth.password.change": "changed their password",
    "auth.password.reset": "set a new password from a reset link",
    "account.time_zone": "chose their time zone",
    "auth.otp.setup": "set up two-factor sign-in",
    "auth.otp.verify": "signed in with a two-factor code",
    "auth.otp.failure": "typed a wrong two-factor code",
    "auth.otp.recovery": "signed in with a recovery code",
    "auth.otp.recovery_codes": "made new recovery codes",
    "auth.otp.disable": "turned off two-factor sign-in",
    "team.create": "created the team",
    "team.delete": "deleted the team",
    "member.invite": "invited a member",
    "invitation.accept": "accepted an invitation",
    "invitation.revoke": "revoked an invitation",
    "member.role_change": "changed a member's role",
    "member.remove": "removed a member",
    "member.leave": "left the team",
    "server.connect": "connected a server",
    "server.rename": "renamed a server",
    "server.token.replace": "replaced a server's token",
    "server.remove": "removed a server",
    "server.stream_limit": "changed a server's stream limit",
    "token_keys.rotate": "re-encrypted server tokens under the newest key",
    "stream.create": "created a stream",
    "stream.edit": "edited a stream",
    "stream.archive": "archived a stream",
    "stream.restore": "restored a stream",
    # Changes found in Postmark that no one made here: the actor is Postmark, named for what happened.
    "stream.outside.create": "created a stream",
    "stream.outside.edit": "edited a stream",
    "stream.outside.archive": "archived a stream",
    "stream.outside.restore": "restored a stream",
    "stream.outside.delete": "deleted a stream before its purge date",
    "stream.purge": "deleted a stream after its 45 days in the archive",
    "stream.reminder": "e-mailed a purge reminder about a stream",
    "member.reminders": "turned their purge reminders on or off",
    # Suppressions and bounces: the addresses are in the event, as the team's own record of whom it suppressed.
    "suppression.add": "suppressed addresses on a stream",
    "suppression.remove": "removed suppressions on a stream",
    "suppression.export": "downloaded the suppressions of a stream",
    "bounce.activate": "reactivated a bounce",
    "access.denied": "was denied access",
    "access.csrf": "had a form refused as expired or sent from another site",
    "audit.export": "exported the audit log",
    "audit.prune": "pruned the audit log",
}

# Postmark server tokens are UUIDs: only text of this shape can be one we keep, so only it is looked up.
_TOKEN_SHAPE = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE)
# A change whose name says it holds a secret may show only a masked value: "••••" and the last four characters.
_SECRET_FIELD = re.compile(r"token|password|secret", re.IGNORECASE)
_MASKED = re.compile(r"••••[^•]{0,4}")
# Shorter than any credential Postmark issues; as a needle it would match ordinary words.
_SHORTEST_SECRET = 8
_REQUEST_ID_SHAPE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# The server and stream a page's path names: /t/<team>/servers/<server>/streams/<stream>/...
_PATH_SERVER = re.compile(r"/servers/([^/]+)/")
_PATH_STREAM = re.compile(r"/streams/([^/]+)/")


@dataclass(frozen=True)
class RequestContext:
    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""
    # The id a proxy in front sent (X-Request-ID), kept beside ours when it is of a sane shape; never trusted.
    forwarded_request_id: str = ""


_context: ContextVar[RequestContext | None] = ContextVar("audit_request_context", default=None)
# Non-success events written inside a transaction that has not committed yet; see `record`.
_unsettled: ContextVar[list[dict[str, Any]] | None] = ContextVar("audit_unsettled", default=None)


def new_request_id() -> str:
    """Our own id for a request or a command's run: a client can send any X-Request-ID, so it is never this."""
    return uuid.uuid4().hex


def forwarded_request_id(offered: str | None) -> str:
    """The X-Request-ID a proxy sent, to find the request in its logs; empty unless it is of a sane shape."""
    return offered if offered and _REQUEST_ID_SHAPE.match(offered) else ""


@contextlib.contextmanager
def context(*, ip: str | None = None, user_agent: str = "", request_id: str = "",
            forwarded_request_id: str = "") -> Iterator[RequestContext]:
    """Where events come from, for the duration of a request or a command."""
    current = RequestContext(ip=ip, user_agent=user_agent[:300], request_id=request_id or new_request_id(),
                             forwarded_request_id=forwarded_request_id)
    token = _context.set(current)
    try:
        yield current
    finally:
        _context.reset(token)
        settle_unsettled()


@contextlib.contextmanager
def atomic() -> Iterator[None]:
    """`transaction.atomic()` for services: after it, a refused or failed attempt is on record even
    if the transaction rolled back (the attempt stays recorded though the change it tried does not)."""
    try:
        with transaction.atomic():
            yield
    finally:
        if not _in_real_transaction(DEFAULT_DB_ALIAS):
            settle_unsettled()


def settle_unsettled() -> None:
    """Write again, outside any transaction, the non-success events whose transaction rolled back."""
    pending = _unsettled.get()
    while pending:
        _append(pending.pop(0))


def current_context() -> RequestContext | None:
    return _context.get()


def _in_real_transaction(using: str) -> bool:
    # The test runner's own wrapping transaction is not one the code opened.
    blocks = connections[using].atomic_blocks
    return any(not getattr(block, "_from_testcase", False) for block in blocks)


class SecretInEvent(ValueError):
    """An event would have held a secret; nothing was written. Record the last four characters instead."""


@sensitive_variables()
def _check_no_secret(changes: Mapping[str, Any], texts: Iterable[str], secret: str) -> None:
    for name, values in changes.items():
        if _SECRET_FIELD.search(name) and any(value not in (None, "") and not _MASKED.fullmatch(str(value))
                                              for value in values):
            raise SecretInEvent(f"The audit field '{name}' may hold only a masked value such as ••••1a2b.")
    text = "\n".join([*texts, *_texts_of(changes)])
    if _holds(text, secret) or _holds_a_kept_token(text):
        raise SecretInEvent("An audit event must not hold a server token; record its last four characters.")


def _texts_of(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _texts_of(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts_of(item)
    elif value is not None:
        yield str(value)


@sensitive_variables()
def _holds(text: str, secret: str) -> bool:
    """Whether `text` holds `secret`, in any case, with or without its hyphens (as a token is often pasted)."""
    needle = (secret or "").strip().lower().replace("-", "")
    return len(needle) >= _SHORTEST_SECRET and needle in text.lower().replace("-", "")


@sensitive_variables()
def _holds_a_kept_token(text: str) -> bool:
    """Whether `text` holds the token of any connected server, compared by keyed fingerprint, never decrypted."""
    shapes = {match.group() for match in _TOKEN_SHAPE.finditer(text)}
    if not shapes:
        return False
    candidates = shapes | {_hyphenated(shape.lower()) for shape in shapes}
    ring = token_crypto.key_ring()
    matches = Q()
    for candidate in candidates:
        for key_id, print_ in token_crypto.fingerprints(candidate, ring=ring).items():
            matches |= Q(token_key_id=key_id, token_fingerprint=print_)
    return Server.objects.filter(matches).exists()


TOKEN_TYPED = "That looks like a Postmark server token. A token never belongs here: remove it and try again."


def holds_a_token(text: str) -> bool:
    """Whether text a person typed holds the token of a connected server, which no entry may hold."""
    return _holds_a_kept_token(text or "")


@sensitive_variables()
def masked_tokens(text: str) -> str:
    """What a person typed, with each connected server's token in it shown as ••••and its last four characters."""
    for shape in {match.group() for match in _TOKEN_SHAPE.finditer(text or "")}:
        if _holds_a_kept_token(shape):
            text = text.replace(shape, f"••••{shape[-4:]}")
    return text


def _hyphenated(shape: str) -> str:
    plain = shape.replace("-", "")
    return f"{plain[:8]}-{plain[8:12]}-{plain[12:16]}-{plain[16:20]}-{plain[20:]}"


# An event refused for holding a secret must not show it again in an error report.
@sensitive_variables()
def record(
    *,
    action: str,
    actor: User | None,
    team: Team | None,
    outcome: str = Outcome.SUCCESS,
    role: Role | str | None = None,
    actor_label: str = "",
    target_type: str = "",
    target_id: object = "",
    target_label: str = "",
    changes: Mapping[str, list[Any] | tuple[Any, Any]] | None = None,
    detail: str = "",
    secret: str = "",
) -> AuditEvent:
    """Write one audit event. `changes` maps a field to its [old, new] values, in readable words.

    `secret` is a token the caller has in hand and may not have stored yet: the event must not hold it."""
    fields = _entry_fields(action=action, actor=actor, team=team, outcome=outcome, role=role,
                           actor_label=actor_label, target_type=target_type, target_id=target_id,
                           target_label=target_label, changes=changes, detail=detail, secret=secret)
    if fields["outcome"] == Outcome.SUCCESS or not _in_real_transaction(DEFAULT_DB_ALIAS):
        return _append(fields)
    # An attempt that did not succeed must outlive a rollback: it is written after the commit or, if
    # the transaction rolls back, when the service's `atomic()` or the request's context closes.
    # It takes its place in the chain only then, so the chain never holds a number that was rolled back.
    pending = _unsettled.get()
    if pending is None:
        pending = []
        _unsettled.set(pending)
    pending.append(fields)

    def settle() -> None:
        if any(item is fields for item in pending):
            pending[:] = [item for item in pending if item is not fields]
            _append(fields)

    transaction.on_commit(settle)
    return AuditEvent(**fields)


def record_many(entries: Iterable[Mapping[str, Any]], *, batch_size: int = 1000) -> int:
    """Append many entries at once, for seeding a demo or a benchmark. Each mapping holds `record`'s keyword
    arguments, plus `occurred_at` when it is not now. Checked like `record`, chained and shipped like it."""
    written = 0
    batch: list[dict[str, Any]] = []
    for entry in entries:
        batch.append(_entry_fields(**entry))
        if len(batch) >= batch_size:
            written += _append_batch(batch)
            batch = []
    if batch:
        written += _append_batch(batch)
    return written


@sensitive_variables()
def _entry_fields(
    *,
    action: str,
    actor: User | None,
    team: Team | None,
    outcome: str = Outcome.SUCCESS,
    role: Role | str | None = None,
    actor_label: str = "",
    target_type: str = "",
    target_id: object = "",
    target_label: str = "",
    changes: Mapping[str, list[Any] | tuple[Any, Any]] | None = None,
    detail: str = "",
    occurred_at: datetime | None = None,
    secret: str = "",
) -> dict[str, Any]:
    if action not in ACTIONS:
        raise ValueError(f"'{action}' is not a registered audit action.")
    outcome = Outcome(outcome)
    changes = {name: [values[0], values[1]] for name, values in (changes or {}).items()}
    actor_label = (actor.email if actor else actor_label)[:254]
    _check_no_secret(changes, (actor_label, target_label, detail), secret)
    ctx = current_context()
    return {
        "occurred_at": occurred_at or timezone.now(),
        "team_id": team.pk if team else None,
        "team_label": team.name if team else "",
        "actor_id": actor.pk if actor else None,
        "actor_label": actor_label,
        "actor_role": Role(role).value if role else "",
        "ip": ctx.ip if ctx else None,
        "user_agent": ctx.user_agent if ctx else "",
        "request_id": ctx.request_id if ctx else "",
        "forwarded_request_id": ctx.forwarded_request_id if ctx else "",
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id)[:100],
        "target_label": target_label[:200],
        "changes": changes,
        "outcome": outcome.value,
        "detail": detail,
    } | filter_columns(target_type=target_type, target_id=str(target_id)[:100], actor_id=actor.pk if actor else None)


# Derived from hashed fields, so not hashed themselves: `verify_chains` checks they still say what those say.
FILTER_COLUMNS = ("server_id", "stream_id", "account_id")


def filter_columns(*, target_type: str, target_id: str, actor_id: int | None) -> dict[str, Any]:
    """What the log's filters look an entry up by, kept in indexed columns: the server and the stream (its ID in
    lower case) the target is or names in its path, and the account a personal entry is about (its actor, or
    for an attempt without one, such as a failed sign-in, the account it names as its target)."""
    server, stream, account = "", "", actor_id
    if target_type == "server":
        server = target_id
    elif target_type == "stream" and "/" in target_id:
        server, stream = target_id.partition("/")[0], target_id.rpartition("/")[2].lower()
    elif target_type == "page":
        server_match, stream_match = _PATH_SERVER.search(target_id), _PATH_STREAM.search(target_id)
        server = server_match.group(1) if server_match else ""
        stream = stream_match.group(1).lower() if stream_match else ""
    elif target_type == "user" and actor_id is None and target_id.isdigit() and target_id == str(int(target_id)) \
            and int(target_id) < 2**63:
        account = int(target_id)
    return {"server_id": server, "stream_id": stream, "account_id": account}


# --- The hash chain -----------------------------------------------------------------------------------------

ZERO_HASH = "0" * 64
# The chain head's key for entries that belong to no team (sign-ins, system jobs such as pruning).
NO_TEAM = 0
# What an entry's hash covers: every field but `id` (given by the database after the hash is made) and `hash`.
# The id is still protected: within a chain, ids must rise with `chain_seq`, so swapped ids are caught too.
CHAIN_FIELDS = (
    "occurred_at", "team_id", "team_label", "actor_id", "actor_label", "actor_role", "ip", "user_agent",
    "request_id", "action", "target_type", "target_id", "target_label", "changes", "outcome", "detail",
    "chain_seq", "prev_hash",
)
# Hashed only when set, so every entry written before the field existed keeps its hash (and migration 0004,
# which chains older entries with CHAIN_FIELDS, never needs it).
OPTIONAL_CHAIN_FIELDS = ("forwarded_request_id",)
HASHED_FIELDS = (*CHAIN_FIELDS, *OPTIONAL_CHAIN_FIELDS)

ship_log = logging.getLogger("dashboard.audit.ship")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_content(values: Mapping[str, Any]) -> dict[str, Any]:
    """An entry's hashed content in one fixed form, the same whether it comes from memory or the database."""
    content = {name: values[name] for name in CHAIN_FIELDS}
    content.update({name: values[name] for name in OPTIONAL_CHAIN_FIELDS if values.get(name)})
    content["occurred_at"] = values["occurred_at"].astimezone(UTC).isoformat(timespec="microseconds")
    content["ip"] = _ip_text(values["ip"])
    return content


def entry_hash(content: Mapping[str, Any]) -> str:
    """sha256 over the previous entry's hash followed by this entry's canonical content."""
    text = content["prev_hash"] + canonical_json(content)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def shipped_line(event: AuditEvent) -> str:
    """The JSON line the shipping logger writes: the hashed content plus the entry's id and hash."""
    content = chain_content({name: getattr(event, name) for name in HASHED_FIELDS})
    return canonical_json({**content, "id": event.pk, "hash": event.hash})


def _ip_text(value: str | None) -> str | None:
    # The database may spell an address differently from the request (IPv6 case, zeros); hash one spelling.
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return str(value)


def _team_key(team_id: int | None) -> int:
    return NO_TEAM if team_id is None else team_id


def _chain_filter(team_key: int) -> dict[str, Any]:
    return {"team_id__isnull": True} if team_key == NO_TEAM else {"team_id": team_key}


def _locked_head(team_key: int) -> AuditChainHead:
    """The chain's head row, locked until the transaction ends (PostgreSQL); made on a team's first entry."""
    heads = AuditChainHead.objects.select_for_update()
    head = heads.filter(team_key=team_key).first()
    if head is None:
        AuditChainHead.objects.bulk_create([AuditChainHead(team_key=team_key, seq=0, last_hash=ZERO_HASH)],
                                           ignore_conflicts=True)
        head = heads.get(team_key=team_key)
    return head


def _link(head: AuditChainHead, fields: Mapping[str, Any]) -> AuditEvent:
    event = AuditEvent(**fields, chain_seq=head.seq + 1, prev_hash=head.last_hash)
    event.hash = entry_hash(chain_content({name: getattr(event, name) for name in HASHED_FIELDS}))
    head.seq, head.last_hash = event.chain_seq, event.hash
    return event


def _append(fields: Mapping[str, Any]) -> AuditEvent:
    """Write one entry at the end of its team's chain, and ship it once it is committed."""
    with transaction.atomic(savepoint=False):
        head = _locked_head(_team_key(fields["team_id"]))
        event = _link(head, fields)
        event.save()
        AuditChainHead.objects.filter(pk=head.pk).update(seq=head.seq, last_hash=head.last_hash)
        _ship_on_commit([event])
    return event


def _append_batch(batch: list[dict[str, Any]]) -> int:
    with transaction.atomic(savepoint=False):
        heads = {key: _locked_head(key) for key in sorted({_team_key(fields["team_id"]) for fields in batch})}
        events = [_link(heads[_team_key(fields["team_id"])], fields) for fields in batch]
        AuditEvent.objects.bulk_create(events)
        for head in heads.values():
            AuditChainHead.objects.filter(pk=head.pk).update(seq=head.seq, last_hash=head.last_hash)
        _ship_on_commit(events)
    return len(events)


def _ship_on_commit(events: list[AuditEvent]) -> None:
    lines = [shipped_line(event) for event in events]

    def ship() -> None:
        for line in lines:
            ship_log.info(line)

    transaction.on_commit(ship, robust=True)


# --- Verifying the chains -----------------------------------------------------------------------------------

CONTENT_CHANGED = "its content does not match its hash"
FILTERS_CHANGED = "what the log's filters find it by does not match its content"
MISSING_OR_MOVED = "an entry before it is missing or out of order"
PREVIOUS_REPLACED = "the entry before it was changed or replaced after this one was written"
NEWEST_MISSING = "entries after it are missing"
END_CHANGED = "it is not where the record of its chain says the chain ends"
END_UNKNOWN = "its chain has no record of where it ends"


@dataclass(frozen=True)
class ChainBreak:
    """The first entry that does not verify, and why. `entry_id` is None when a chain lost every entry."""

    reason: str
    team_id: int | None
    team_label: str = ""
    entry_id: int | None = None
    occurred_at: datetime | None = None
    action: str = ""


@dataclass(frozen=True)
class ChainReport:
    entries: int
    chains: int
    broken: ChainBreak | None = None


@dataclass
class _ChainEnd:
    seq: int
    hash: str
    row: tuple | None = None  # the last entry walked, to name it


_WALKED = ("id", "hash", *HASHED_FIELDS, *FILTER_COLUMNS)


def verify_chains(*, team_id: int | None = None) -> ChainReport:
    """Walk every chain (or one team's) in the order the entries were written and recompute each hash.

    A chain starts at entry 1 after the zero hash, or where the latest prune anchored it, and ends where
    its head says. Reads one snapshot of the log, so entries written meanwhile do not look like a break."""
    with _one_snapshot():
        anchors = _prune_anchors()
        heads = AuditChainHead.objects.all() if team_id is None else AuditChainHead.objects.filter(team_key=team_id)
        heads = {head.team_key: head for head in heads}
        entries = AuditEvent.objects.order_by("id")
        if team_id is not None:
            entries = entries.filter(**_chain_filter(team_id))
        ends: dict[int, _ChainEnd] = {}
        count = 0
        for row in entries.values_list(*_WALKED).iterator(chunk_size=2000):
            values = dict(zip(_WALKED, row, strict=True))
            key = _team_key(values["team_id"])
            reason = _check_entry(values, ends.get(key) or _chain_start(key, anchors))
            if reason:
                return ChainReport(count, len(ends), _named(row, reason))
            ends[key] = _ChainEnd(values["chain_seq"], values["hash"], row)
            count += 1
        broken = _check_chain_ends(heads, ends, anchors)
    return ChainReport(count, len(ends), broken)


def _check_entry(values: Mapping[str, Any], end: _ChainEnd) -> str:
    if entry_hash(chain_content(values)) != values["hash"]:
        return CONTENT_CHANGED
    derived = filter_columns(target_type=values["target_type"], target_id=values["target_id"],
                             actor_id=values["actor_id"])
    if any(derived[name] != values[name] for name in FILTER_COLUMNS):
        return FILTERS_CHANGED
    if values["chain_seq"] != end.seq + 1:
        return MISSING_OR_MOVED
    if values["prev_hash"] != end.hash:
        return PREVIOUS_REPLACED
    return ""


def _check_chain_ends(heads: Mapping[int, AuditChainHead], ends: Mapping[int, _ChainEnd],
                      anchors: Mapping[int, tuple[int, str]]) -> ChainBreak | None:
    """Each chain must end where its head says: this catches the removal of a chain's newest entries."""
    for key, head in sorted(heads.items()):
        end = ends.get(key) or _chain_start(key, anchors)
        if (end.seq, end.hash) == (head.seq, head.last_hash):
            continue
        reason = f"{NEWEST_MISSING} (the chain goes on to number {head.seq})" if end.seq < head.seq else END_CHANGED
        if end.row is None:
            label = Team.objects.filter(pk=key).values_list("name", flat=True).first() or ""
            return ChainBreak(f"its entries numbered {end.seq + 1} to {head.seq} are missing",
                              None if key == NO_TEAM else key, label)
        return _named(end.row, reason)
    for key, end in sorted(ends.items()):
        if key not in heads:
            return _named(end.row, END_UNKNOWN)
    return None


def _named(row: tuple, reason: str) -> ChainBreak:
    values = dict(zip(_WALKED, row, strict=True))
    return ChainBreak(reason, values["team_id"], values["team_label"], values["id"], values["occurred_at"],
                      values["action"])


def _chain_start(team_key: int, anchors: Mapping[int, tuple[int, str]]) -> _ChainEnd:
    """Before a chain's first entry: nothing (entry 1 follows the zero hash), or what a prune removed."""
    first_seq, prev_hash = anchors.get(team_key, (1, ZERO_HASH))
    return _ChainEnd(first_seq - 1, prev_hash)


def _prune_anchors() -> dict[int, tuple[int, str]]:
    """Where each pruned chain now starts (number and previous hash), as the latest prune recorded it.

    Read from the prune's own entry, which is itself chained: a removal of old entries that no prune
    explains leaves a chain starting somewhere else, and is caught."""
    latest = (AuditEvent.objects.filter(action="audit.prune", outcome=Outcome.SUCCESS, team_id__isnull=True)
              .order_by("-id").values_list("hash", *HASHED_FIELDS).first())
    if latest is None:
        return {}
    values = dict(zip(HASHED_FIELDS, latest[1:], strict=True))
    if entry_hash(chain_content(values)) != latest[0]:
        return {}  # an edited prune entry explains nothing; the walk names it
    anchors = values["changes"].get("chain anchors", [None, {}])[1] or {}
    return {int(key): (anchor["seq"], anchor["hash"]) for key, anchor in anchors.items()}


@contextlib.contextmanager
def _one_snapshot() -> Iterator[None]:
    with transaction.atomic():
        if connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


# --- Retention ----------------------------------------------------------------------------------------------

# PostgreSQL's triggers (migration 0004) let a DELETE through only while this is 'on' in the transaction.
PRUNE_SETTING = "dashboard.audit_prune"


@dataclass(frozen=True)
class PruneReport:
    cutoff: datetime
    removed: int
    chains: int
    event: AuditEvent | None = None


def prune(*, retention_days: int, dry_run: bool = False, batch_size: int = 2000) -> PruneReport:
    """Remove the entries older than the retention period, oldest first, and record that it happened.

    Only a chain's oldest entries go (a deferred attempt written a little later than its time may stay a
    little longer), so what is left of each chain still verifies: the prune's own entry records where each
    pruned chain now starts. One transaction, so a prune that stops half-way changes nothing."""
    cutoff = timezone.now() - timedelta(days=retention_days)
    candidates = sorted({_team_key(team_id) for team_id in AuditEvent.objects.filter(occurred_at__lt=cutoff)
                         .values_list("team_id", flat=True).distinct()})
    if dry_run:
        return PruneReport(cutoff, sum(_chain_prefix(key, cutoff).count() for key in candidates), len(candidates))
    with transaction.atomic():
        anchors = {key: list(anchor) for key, anchor in _prune_anchors().items()}
        heads = {key: _locked_head(key) for key in sorted({NO_TEAM, *candidates})}
        removed, pruned_chains = 0, 0
        with _prune_allowed():
            for key in candidates:
                # Read under the head's lock, so an entry being appended now is never taken for an old one.
                kept = _kept_from(key, cutoff) or heads[key].seq + 1
                removed_here = _remove_chain_prefix(key, kept, batch_size)
                if removed_here:
                    removed, pruned_chains = removed + removed_here, pruned_chains + 1
                    first = (AuditEvent.objects.filter(**_chain_filter(key)).order_by("chain_seq")
                             .values_list("chain_seq", "prev_hash").first())
                    anchors[key] = list(first or (heads[key].seq + 1, heads[key].last_hash))
        event = record(
            action="audit.prune", actor=None, team=None, actor_label="prune_audit", target_type="audit_log",
            changes={
                "entries removed": [None, removed],
                "written before": [None, cutoff.isoformat(timespec="seconds")],
                "chain anchors": [None, {str(key): {"seq": seq, "hash": prev} for key, (seq, prev) in
                                         sorted(anchors.items())}],
            },
            detail=f"Removed {removed} entries older than {retention_days} days "
                   f"(written before {cutoff:%Y-%m-%d %H:%M} UTC) from {pruned_chains} chains.",
        )
    return PruneReport(cutoff, removed, pruned_chains, event)


def _kept_from(team_key: int, cutoff: datetime) -> int | None:
    """The number of the chain's oldest entry that is not older than the cutoff; everything before it goes."""
    return (AuditEvent.objects.filter(**_chain_filter(team_key), occurred_at__gte=cutoff)
            .aggregate(first=Min("chain_seq"))["first"])


def _chain_prefix(team_key: int, cutoff: datetime):
    prefix = AuditEvent.objects.filter(**_chain_filter(team_key))
    kept = _kept_from(team_key, cutoff)
    return prefix if kept is None else prefix.filter(chain_seq__lt=kept)


def _remove_chain_prefix(team_key: int, first_kept: int, batch_size: int) -> int:
    """DELETE the chain's entries numbered below `first_kept`, a batch of numbers at a time."""
    lowest = AuditEvent.objects.filter(**_chain_filter(team_key)).aggregate(first=Min("chain_seq"))["first"]
    if lowest is None:
        return 0
    qn = connection.ops.quote_name
    team = f"{qn('team_id')} IS NULL" if team_key == NO_TEAM else f"{qn('team_id')} = %s"
    sql = (f"DELETE FROM {qn(AuditEvent._meta.db_table)} WHERE {team} "
           f"AND {qn('chain_seq')} >= %s AND {qn('chain_seq')} < %s")
    removed = 0
    with connection.cursor() as cursor:
        for start in range(lowest, first_kept, batch_size):
            params = [start, min(start + batch_size, first_kept)]
            cursor.execute(sql, params if team_key == NO_TEAM else [team_key, *params])
            removed += cursor.rowcount
    return removed


@contextlib.contextmanager
def _prune_allowed() -> Iterator[None]:
    """Open PostgreSQL's triggers for this transaction's DELETEs, and close them again straight after."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, 'on', true)", [PRUNE_SETTING])
        yield
        cursor.execute("SELECT set_config(%s, 'off', true)", [PRUNE_SETTING])
