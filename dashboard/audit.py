"""The audit log's one writer: `record(...)`, called only by services.

It owns the registry of action names, the request's context (IP, user agent, request id, set by
`AuditContextMiddleware`) and the rule that refused, failed and denied attempts survive a rollback
of the transaction they were made in. It never records a secret: callers pass last-four values only,
and `record` refuses a change whose value looks like a whole Postmark token.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from dashboard.models import AuditEvent, Role, Team, User

Outcome = AuditEvent.Outcome

# Every action the log knows, with the words issue pages use for it. `record` refuses any other name.
ACTIONS: dict[str, str] = {
    "auth.login.success": "signed in",
    "auth.login.failure": "failed to sign in",
    "auth.logout": "signed out",
    "auth.password.change": "changed their password",
    "auth.password.reset": "set a new password from a reset link",
    "account.time_zone": "chose their time zone",
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
    "access.denied": "was denied access",
}

# A Postmark server token is a UUID; nothing shaped like one may reach the log.
_TOKEN_SHAPE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_REQUEST_ID_SHAPE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class RequestContext:
    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""


_context: ContextVar[RequestContext | None] = ContextVar("audit_request_context", default=None)
# Non-success events written inside a transaction that has not committed yet; see `record`.
_unsettled: ContextVar[list[dict[str, Any]] | None] = ContextVar("audit_unsettled", default=None)


def new_request_id(offered: str | None = None) -> str:
    return offered if offered and _REQUEST_ID_SHAPE.match(offered) else uuid.uuid4().hex


@contextlib.contextmanager
def context(*, ip: str | None = None, user_agent: str = "", request_id: str = "") -> Iterator[RequestContext]:
    """Where events come from, for the duration of a request or a command."""
    current = RequestContext(ip=ip, user_agent=user_agent[:300], request_id=request_id or new_request_id())
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
        AuditEvent(**pending.pop(0)).save()


def current_context() -> RequestContext | None:
    return _context.get()


def _in_real_transaction(using: str) -> bool:
    # The test runner's own wrapping transaction is not one the code opened.
    blocks = connections[using].atomic_blocks
    return any(not getattr(block, "_from_testcase", False) for block in blocks)


def _check_no_secret(changes: Mapping[str, Any], detail: str, target_label: str) -> None:
    text = repr(dict(changes)) + detail + target_label
    if _TOKEN_SHAPE.search(text):
        raise ValueError("An audit event must not hold a server token; record its last four characters.")


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
) -> AuditEvent:
    """Write one audit event. `changes` maps a field to its [old, new] values, in readable words."""
    if action not in ACTIONS:
        raise ValueError(f"'{action}' is not a registered audit action.")
    outcome = Outcome(outcome)
    changes = {name: [values[0], values[1]] for name, values in (changes or {}).items()}
    _check_no_secret(changes, detail, target_label)
    ctx = current_context()
    fields = {
        "occurred_at": timezone.now(),
        "team_id": team.pk if team else None,
        "team_label": team.name if team else "",
        "actor_id": actor.pk if actor else None,
        "actor_label": (actor.email if actor else actor_label)[:254],
        "actor_role": Role(role).value if role else "",
        "ip": ctx.ip if ctx else None,
        "user_agent": ctx.user_agent if ctx else "",
        "request_id": ctx.request_id if ctx else "",
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id)[:100],
        "target_label": target_label[:200],
        "changes": changes,
        "outcome": outcome.value,
        "detail": detail,
    }
    event = AuditEvent(**fields)
    if outcome == Outcome.SUCCESS or not _in_real_transaction(DEFAULT_DB_ALIAS):
        event.save()
        return event
    # An attempt that did not succeed must outlive a rollback: it is written after the commit or, if
    # the transaction rolls back, when the service's `atomic()` or the request's context closes.
    pending = _unsettled.get()
    if pending is None:
        pending = []
        _unsettled.set(pending)
    pending.append(fields)

    def settle() -> None:
        if any(item is fields for item in pending):
            pending[:] = [item for item in pending if item is not fields]
            AuditEvent(**fields).save()

    transaction.on_commit(settle)
    return event
