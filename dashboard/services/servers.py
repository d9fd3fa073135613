"""Postmark servers of a team: connecting, renaming, replacing tokens, removing, re-encrypting tokens.

A token is checked with Postmark (a stream list call) before it is saved, then stored only
encrypted (`dashboard.token_crypto`), bound to its team and server. `postmark_client_for` is the one
place that decrypts it. Nothing here logs a token or puts more than its last four characters into
an audit event or a message.
"""

import logging
import re
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from dashboard import audit, token_crypto
from dashboard.models import AuditEvent, Role, Server, Team, User
from dashboard.postmark.client import (
    SANDBOX_URL,
    PostmarkClient,
    PostmarkError,
    PostmarkUnavailable,
    RateLimited,
    TokenRejected,
)
from dashboard.services import ServiceError
from dashboard.services.teams import role_of
from dashboard.token_crypto import TokenUnreadable

Outcome = AuditEvent.Outcome
logger = logging.getLogger(__name__)

TOKEN_UNREADABLE = "Token unreadable, re-enter it"
MAX_TOKEN_LENGTH = 200
# Postmark server tokens are UUIDs: a name shaped like one is a token pasted into the wrong field.
_TOKEN_SHAPE = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE)
NAME_LOOKS_LIKE_TOKEN = ("That looks like a server token, not a name. Paste the token in the token field only, "
                         "and give the server a name your team will recognise.")


def name_looks_like_token(name: str) -> bool:
    return bool(_TOKEN_SHAPE.search(name or ""))


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ServiceError("Give the server a name your team will recognise.", field="name")
    if name_looks_like_token(name):
        raise ServiceError(NAME_LOOKS_LIKE_TOKEN, field="name")
    return name


def _label(name: str) -> str:
    """The name for an audit event; never a token someone pasted into the name field."""
    name = " ".join((name or "").split())
    return "" if name_looks_like_token(name) else name


class _PostmarkDidNotAnswer(ServiceError):
    """Postmark could not be asked (unreachable, or slowing us down): the attempt failed, it was not refused."""


def _base_url(*, sandbox: bool) -> str:
    return SANDBOX_URL if sandbox else settings.POSTMARK_API_URL


def postmark_client_for(server: Server) -> PostmarkClient:
    """A client for `server`, with its token decrypted. Raises TokenUnreadable when it cannot be."""
    token = token_crypto.decrypt_token(server.token_ciphertext, team_id=server.team_id, server_id=server.pk)
    return PostmarkClient(token, base_url=_base_url(sandbox=server.is_sandbox))


def server_token_is_readable(server: Server) -> bool:
    try:
        token_crypto.decrypt_token(server.token_ciphertext, team_id=server.team_id, server_id=server.pk)
    except TokenUnreadable:
        return False
    return True


def _clean_token(token: str) -> str:
    token = (token or "").strip()
    if not token:
        raise ServiceError("Paste the server's API token.", field="token")
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii() or not token.isprintable() or " " in token:
        raise ServiceError("That does not look like a Postmark server token. Copy it again from the "
                           "server's API Tokens page in Postmark.", field="token")
    return token


def _same_token_in_team(team: Team, token: str, *, exclude: Server | None = None) -> Server | None:
    matches = Q()
    for key_id, print_ in token_crypto.fingerprints(token).items():
        matches |= Q(token_key_id=key_id, token_fingerprint=print_)
    found = team.servers.filter(matches)
    if exclude is not None:
        found = found.exclude(pk=exclude.pk)
    return found.first()


@sensitive_variables("token")
def _check_with_postmark(token: str, *, sandbox: bool) -> int | None:
    """Postmark's ServerID for this token, or a ServiceError saying in plain words why not."""
    try:
        streams = PostmarkClient(token, base_url=_base_url(sandbox=sandbox)).list_streams(include_archived=True)
    except TokenRejected:
        raise ServiceError("Postmark did not accept this token. Copy the Server API token again from the "
                           "server's API Tokens page in Postmark (an Account API token will not work).",
                           field="token") from None
    except RateLimited:
        raise _PostmarkDidNotAnswer("Postmark asked us to slow down, so the token could not be checked. "
                                    "Nothing was saved; try again in a minute.") from None
    except PostmarkUnavailable:
        raise _PostmarkDidNotAnswer("Postmark could not be reached to check the token. Nothing was saved; "
                                    "try again in a few minutes.") from None
    except PostmarkError as error:
        raise ServiceError(f"Postmark refused to list this server's streams ({error.message}). "
                           "Nothing was saved.") from None
    return next((stream.server_id for stream in streams if stream.server_id is not None), None)


def _store_token(server: Server, token: str) -> None:
    key_id, ciphertext = token_crypto.encrypt_token(token, team_id=server.team_id, server_id=server.pk)
    server.token_ciphertext = ciphertext
    server.token_key_id = key_id
    server.token_fingerprint = token_crypto.fingerprint(token, key_id=key_id)
    server.token_last4 = token_crypto.last_four(token)
    server.token_checked_at = timezone.now()


@sensitive_variables("secret")
def _refusal(error: ServiceError, *, secret: str = "", **event) -> ServiceError:
    failed = isinstance(error, _PostmarkDidNotAnswer)
    audit.record(**event, outcome=Outcome.FAILED if failed else Outcome.REFUSED, detail=error.message, secret=secret)
    return error


@sensitive_variables("token")
def server_connect(*, actor: User, team: Team, name: str, token: str, sandbox: bool = False) -> Server:
    role = role_of(actor, team)
    event = {"action": "server.connect", "actor": actor, "team": team, "role": role, "target_type": "server",
             "target_label": _label(name)}
    try:
        if not role.at_least(Role.ADMIN):
            raise ServiceError("Only admins and owners can connect servers.")
        name = _clean_name(name)
        if sandbox and not settings.POSTMARK_SANDBOX_ENABLED:
            raise ServiceError("The built-in sandbox is switched off on this installation.", field="sandbox")
        token = _clean_token(token)
        event["changes"] = {"token": [None, f"••••{token_crypto.last_four(token)}"]}
        duplicate = _same_token_in_team(team, token)
        if duplicate:
            raise ServiceError(f"This token is already connected to {team.name} as “{duplicate.name}”.", field="token")
        server_id = _check_with_postmark(token, sandbox=sandbox)
        same_server = team.servers.filter(postmark_server_id=server_id).first() if server_id else None
        if same_server:
            raise ServiceError(f"This token belongs to Postmark server {server_id}, which {team.name} has "
                               f"already connected as “{same_server.name}”.", field="token")
    except ServiceError as error:
        raise _refusal(error, secret=token, **event) from None
    server = Server(id=uuid.uuid4(), team=team, name=name, postmark_server_id=server_id, is_sandbox=sandbox,
                    connected_by=actor)
    _store_token(server, token)
    with audit.atomic():
        server.save(force_insert=True)
        event.update(target_id=server.pk, changes={
            "name": [None, name], "Postmark server ID": [None, server_id], **event["changes"]})
        audit.record(**event, secret=token)
    logger.info("Server %s connected to team %s (token ••••%s)", server.pk, team.pk, server.token_last4)
    return server


@sensitive_variables("token")
def server_replace_token(*, actor: User, team: Team, server: Server, token: str) -> Server:
    role = role_of(actor, team)
    old = server.masked_token
    event = {"action": "server.token.replace", "actor": actor, "team": team, "role": role,
             "target_type": "server", "target_id": server.pk, "target_label": server.name}
    try:
        if not role.at_least(Role.ADMIN):
            raise ServiceError("Only admins and owners can replace a server's token.")
        token = _clean_token(token)
        event["changes"] = {"token": [old, f"••••{token_crypto.last_four(token)}"]}
        duplicate = _same_token_in_team(team, token, exclude=server)
        if duplicate:
            raise ServiceError(f"This token is already connected to {team.name} as “{duplicate.name}”.", field="token")
        server_id = _check_with_postmark(token, sandbox=server.is_sandbox)
        if server.postmark_server_id and server_id and server_id != server.postmark_server_id:
            raise ServiceError(f"This token belongs to another Postmark server ({server_id}), not to "
                               f"“{server.name}” ({server.postmark_server_id}). Connect it as a new server instead.",
                               field="token")
    except ServiceError as error:
        raise _refusal(error, secret=token, **event) from None
    _store_token(server, token)
    server.postmark_server_id = server.postmark_server_id or server_id
    server.token_rejected_at = None
    with audit.atomic():
        server.save(update_fields=["token_ciphertext", "token_key_id", "token_fingerprint", "token_last4",
                                   "token_checked_at", "token_rejected_at", "postmark_server_id"])
        audit.record(**event, secret=token)
    return server


def server_note_token_rejected(*, server: Server) -> None:
    """Postmark refused the stored token on some call: the server's pages say so until it is replaced."""
    if server.token_rejected_at is None:
        server.token_rejected_at = timezone.now()
        Server.objects.filter(pk=server.pk, token_rejected_at=None).update(token_rejected_at=server.token_rejected_at)


def server_note_token_accepted(*, server: Server) -> None:
    """Postmark accepted the stored token again (it was fixed on Postmark's side): clear the mark."""
    if server.token_rejected_at is not None:
        server.token_rejected_at = None
        Server.objects.filter(pk=server.pk).update(token_rejected_at=None)


def server_set_stream_limit(*, actor: User, team: Team, server: Server, limit: int) -> Server:
    """The number of streams Postmark allows this server (10 unless Postmark support raised it)."""
    role = role_of(actor, team)
    event = {"action": "server.stream_limit", "actor": actor, "team": team, "role": role, "target_type": "server",
             "target_id": server.pk, "target_label": server.name,
             "changes": {"stream_limit": [server.stream_limit, limit]}}
    if not role.at_least(Role.ADMIN):
        raise _refusal(ServiceError("Only admins and owners can change a server's stream limit."), **event)
    if not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise _refusal(ServiceError("Give a whole number between 1 and 1000.", field="stream_limit"), **event)
    if limit == server.stream_limit:
        return server
    with audit.atomic():
        server.stream_limit = limit
        server.save(update_fields=["stream_limit"])
        audit.record(**event)
    return server


def server_rename(*, actor: User, team: Team, server: Server, name: str) -> Server:
    role = role_of(actor, team)
    name = _clean_name(name)
    if name == server.name:
        return server
    event = {"action": "server.rename", "actor": actor, "team": team, "role": role, "target_type": "server",
             "target_id": server.pk, "target_label": name, "changes": {"name": [server.name, name]}}
    if not role.at_least(Role.ADMIN):
        raise _refusal(ServiceError("Only admins and owners can rename a server."), **event)
    with audit.atomic():
        server.name = name
        server.save(update_fields=["name"])
        audit.record(**event)
    return server


def server_remove(*, actor: User, team: Team, server: Server) -> None:
    role = role_of(actor, team)
    event = {"action": "server.remove", "actor": actor, "team": team, "role": role, "target_type": "server",
             "target_id": server.pk, "target_label": server.name,
             "changes": {"name": [server.name, None], "token": [server.masked_token, None]}}
    if not role.at_least(Role.ADMIN):
        raise _refusal(ServiceError("Only admins and owners can remove a server."), **event)
    with audit.atomic():
        server.delete()
        audit.record(**event, detail="Removed from the dashboard only; the server and its streams stay in Postmark.")


@dataclass
class RotationReport:
    reencrypted: list[str] = field(default_factory=list)
    current: int = 0
    unreadable: list[str] = field(default_factory=list)


def token_keys_rotate(*, actor: User | None, dry_run: bool = False, batch_size: int = 100) -> RotationReport:
    """Re-encrypt every token not yet under the ring's first key. Safe to run again at any time."""
    ring = token_crypto.key_ring()
    report = RotationReport()
    report.current = Server.objects.filter(token_key_id=ring.primary_id).count()
    last_pk = None
    while True:
        batch = Server.objects.exclude(token_key_id=ring.primary_id).select_related("team").order_by("pk")
        if last_pk is not None:
            batch = batch.filter(pk__gt=last_pk)
        batch = list(batch[:batch_size])
        if not batch:
            return report
        last_pk = batch[-1].pk
        for server in batch:
            _rotate_one(server, actor=actor, ring=ring, dry_run=dry_run, report=report)


def _rotate_one(server: Server, *, actor, ring, dry_run: bool, report: RotationReport) -> None:
    label = f"{server.team.name} / {server.name}"
    try:
        token = token_crypto.decrypt_token(server.token_ciphertext, team_id=server.team_id, server_id=server.pk,
                                           ring=ring)
    except TokenUnreadable:
        report.unreadable.append(label)
        return
    if dry_run:
        report.reencrypted.append(label)
        return
    old_key = server.token_key_id
    key_id, ciphertext = token_crypto.encrypt_token(token, team_id=server.team_id, server_id=server.pk, ring=ring)
    with audit.atomic():
        # Only if nobody replaced the token meanwhile; a replaced token is already under the new key.
        changed = Server.objects.filter(pk=server.pk, token_ciphertext=server.token_ciphertext).update(
            token_ciphertext=ciphertext, token_key_id=key_id,
            token_fingerprint=token_crypto.fingerprint(token, key_id=key_id, ring=ring))
        if changed:
            report.reencrypted.append(label)
            audit.record(action="token_keys.rotate", actor=actor, actor_label="" if actor else "rotate_token_keys",
                         team=server.team, target_type="server", target_id=server.pk, target_label=server.name,
                         changes={"encryption key": [old_key, key_id]})


def token_keys_in_use() -> dict[str, int]:
    """How many tokens each key id encrypts."""
    counts = Server.objects.values("token_key_id").annotate(n=Count("pk")).values_list("token_key_id", "n")
    return dict(counts)
