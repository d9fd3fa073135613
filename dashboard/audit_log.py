"""Reading a team's audit log: filters from a query string, pages newest first, entries as sentences, export rows.

Selectors only: nothing here writes (exporting is recorded by `dashboard.services.audit`). Pages are keyset
pages over the (team_id, -occurred_at, -id) index with an opaque `after` cursor, so the thousandth page costs
what the first does: no OFFSET, and no COUNT over the whole log. Each filter compares one indexed column by
equality (a person, an action, an outcome, a server, a stream ID, the accounts of personal entries: see
`audit.filter_columns`), so its pages come off an index that has the team, that column and the time, in order.

A team's log is its own entries plus the sign-ins and account changes of its current members (those are
recorded without a team, since signing in belongs to no team), from the day each joined. Bad filter values
fall back to "no filter" rather than an error.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import islice
from typing import Any

from django.db import connection
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.http import QueryDict
from django.utils.dateformat import format as format_date

from dashboard.audit import ACTIONS
from dashboard.models import AuditEvent, Membership, Role, Server, Team, User

Outcome = AuditEvent.Outcome
PAGE_SIZE = 50
EXPORT_CHUNK = 2000

# The action groups people filter by, in the order the filter lists them; anything else is "other".
GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    # Before "streams": the first group whose prefix matches is an action's group.
    "outside": ("Changed outside the dashboard", ("stream.outside.", "stream.purge")),
    "streams": ("Streams", ("stream.",)),
    "suppressions": ("Suppressions and bounces", ("suppression.", "bounce.")),
    "servers": ("Servers and tokens", ("server.", "token_keys.")),
    "members": ("Members, invitations and the team", ("member.", "invitation.", "team.")),
    "signin": ("Sign-ins and accounts", ("auth.", "account.")),
    "other": ("Other: pages refused, the audit log itself", ()),
}
# Recorded without a team: a member's sign-ins and account changes belong to no team.
PERSONAL_PREFIXES = ("auth.", "account.")

OUTCOMES: dict[str, tuple[str, str]] = {  # value: (what the badge says, badge class)
    Outcome.SUCCESS: ("Done", "badge--calm"),
    Outcome.REFUSED: ("Refused", "badge--warning"),
    Outcome.FAILED: ("Failed", "badge--danger"),
    Outcome.DENIED: ("Not allowed", "badge--danger"),
}
_OUTCOME_IN_SENTENCE = {Outcome.REFUSED: "refused", Outcome.FAILED: "failed", Outcome.DENIED: "not allowed"}

# What someone set out to do, for "tried to …" when it did not happen; ACTIONS has the past tense.
INTENTS: dict[str, str] = {
    "auth.login.success": "sign in",
    "auth.login.failure": "sign in",
    "auth.login.locked": "sign in",
    "auth.logout": "sign out",
    "auth.password.change": "change their password",
    "auth.password.reset": "set a new password from a reset link",
    "account.time_zone": "choose their time zone",
    "auth.otp.setup": "set up two-factor sign-in",
    "auth.otp.verify": "sign in with a two-factor code",
    "auth.otp.failure": "sign in with a two-factor code",
    "auth.otp.recovery": "sign in with a recovery code",
    "auth.otp.recovery_codes": "make new recovery codes",
    "auth.otp.disable": "turn off two-factor sign-in",
    "team.create": "create the team",
    "team.delete": "delete the team",
    "member.invite": "invite a member",
    "invitation.accept": "accept an invitation",
    "invitation.revoke": "revoke an invitation",
    "member.role_change": "change a member's role",
    "member.remove": "remove a member",
    "member.leave": "leave the team",
    "server.connect": "connect a server",
    "server.rename": "rename a server",
    "server.token.replace": "replace a server's token",
    "server.remove": "remove a server",
    "server.stream_limit": "change a server's stream limit",
    "token_keys.rotate": "re-encrypt server tokens under the newest key",
    "stream.create": "create a stream",
    "stream.edit": "edit a stream",
    "stream.archive": "archive a stream",
    "stream.restore": "restore a stream",
    "stream.outside.create": "create a stream",
    "stream.outside.edit": "edit a stream",
    "stream.outside.archive": "archive a stream",
    "stream.outside.restore": "restore a stream",
    "stream.outside.delete": "delete a stream",
    "stream.purge": "delete a stream",
    "stream.reminder": "e-mail a purge reminder about a stream",
    "member.reminders": "turn their purge reminders on or off",
    "suppression.add": "suppress addresses on a stream",
    "suppression.remove": "remove suppressions on a stream",
    "suppression.export": "download the suppressions of a stream",
    "bounce.activate": "reactivate a bounce",
    "access.denied": "open a page",
    "access.csrf": "send a form",
    "audit.export": "export the audit log",
    "audit.prune": "prune the audit log",
}
# The first phrase of a verb found is replaced by the thing it was done to ("archived a stream" ->
# "archived stream billing on Acme Production").
_OBJECTS = [
    ("a server's token", "the token of {label}"),
    ("a server's stream limit", "the stream limit of {label}"),
    ("server tokens", "the token of {label}"),
    ("a member's role", "the role of {label}"),
    ("a stream", "stream {label}"),
    ("a server", "server {label}"),
    ("a bounce", "the bounce of {label}"),
    ("an invitation", "the invitation for {label}"),
    ("a member", "{label}"),
    ("a page", "the page {label}"),
]
FIELD_WORDS = {"name": "Name", "description": "Description", "type": "Type", "state": "State",
               "unsubscribe_handling": "Unsubscribe handling", "purge_date": "Date Postmark would delete it",
               "role": "Role", "status": "Status", "token": "Token", "time_zone": "Time zone",
               "stream_limit": "Stream limit", "sent_to": "Sent to", "purge_reminders": "Purge reminders",
               "suppressed": "Suppressed", "not_suppressed": "Not suppressed",
               "removed": "Removed", "not_removed": "Not removed", "address": "Address", "bounce": "Bounce ID"}
_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_STREAM_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_CURSOR_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def action_group(action: str) -> str:
    for key, (_, prefixes) in GROUPS.items():
        if prefixes and action.startswith(prefixes):
            return key
    return "other"


def actions_in(group: str) -> list[str]:
    return [action for action in ACTIONS if action_group(action) == group]


# --- Who and what can be chosen ------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    user_id: int
    name: str
    email: str
    joined_at: datetime


@dataclass
class Choices:
    """What the filter form offers: people (members, then former members) and servers (current, then removed)."""

    members: list[Member]
    people: list[tuple[int, str]]
    servers: list[tuple[str, str]]

    def names(self) -> dict[int, str]:
        return {member.user_id: member.name or member.email for member in self.members}


_LEAVING = ("member.remove", "member.leave", "server.remove")


def audit_choices(*, team: Team) -> Choices:
    """Three small queries, whatever the size of the log: former people and servers come from the few
    entries that say they left (member.remove/leave, server.remove), through the action index."""
    memberships = Membership.objects.filter(team=team).order_by("user__name", "user__email")
    members = [Member(*row) for row in memberships.values_list("user_id", "user__name", "user__email", "joined_at")]
    people = [(m.user_id, f"{m.name} ({m.email})" if m.name else m.email) for m in members]
    known = {m.user_id for m in members}
    left = AuditEvent.objects.for_team(team).filter(action__in=_LEAVING, outcome=Outcome.SUCCESS)
    left = list(left.order_by("target_label").values_list("action", "target_id", "target_label").distinct())
    for action, target_id, label in left:
        if action != "server.remove" and target_id.isdigit() and int(target_id) not in known:
            known.add(int(target_id))
            people.append((int(target_id), f"{label} (former member)"))
    servers = [(str(pk), name) for pk, name in Server.objects.filter(team=team).values_list("pk", "name")]
    current = {pk for pk, _ in servers}
    for action, target_id, label in left:
        if action == "server.remove" and target_id not in current:
            current.add(target_id)
            servers.append((target_id, f"{label} (removed)"))
    return Choices(members=members, people=people, servers=servers)


# --- Filters -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    person: int | None = None
    person_label: str = ""
    group: str = ""
    server: str = ""  # a server's id, as text
    server_label: str = ""
    stream: str = ""
    outcome: str = ""
    since: date | None = None
    until: date | None = None
    zone: tzinfo = UTC
    unreadable_days: tuple[str, ...] = ()
    typed_since: str = ""  # shown back in the field when it could not be read
    typed_until: str = ""

    @property
    def is_filtered(self) -> bool:
        return any((self.person, self.group, self.server, self.stream, self.outcome, self.since, self.until))

    @property
    def zone_name(self) -> str:
        return str(getattr(self.zone, "key", self.zone))

    def query(self, *, after: str = "") -> QueryDict:
        """The query string of these filters (and a page), defaults left out to keep links short."""
        query = QueryDict(mutable=True)
        for key, value in (("person", self.person), ("group", self.group), ("server", self.server),
                           ("stream", self.stream), ("outcome", self.outcome), ("from", self.since),
                           ("to", self.until), ("after", after)):
            if value:
                query[key] = str(value)
        return query

    def query_string(self, *, after: str = "") -> str:
        query = self.query(after=after)
        return f"?{query.urlencode()}" if query else ""

    def in_words(self) -> str:
        parts = []
        if self.person:
            parts.append(f"by {self.person_label}")
        if self.group:
            parts.append(f"actions: {GROUPS[self.group][0].lower()}")
        if self.server:
            parts.append(f"server {self.server_label}")
        if self.stream:
            parts.append(f"stream ID {self.stream}")
        if self.outcome:
            parts.append(f"outcome: {OUTCOMES[self.outcome][0].lower()}")
        if self.since or self.until:
            days = " ".join(filter(None, (self.since and f"from {format_date(self.since, 'j F Y')}",
                                          self.until and f"to {format_date(self.until, 'j F Y')}")))
            parts.append(f"{days} ({self.zone_name} time)")
        words = "; ".join(parts)
        return words[0].upper() + words[1:] if words else "All entries"


# A day as the pages write it ("3 December 2026", "3 Dec 2026", "December 3, 2026") or as links carry it (ISO).
# No all-digit forms but ISO: 3/12 is March to some readers and December to others.
_DAY_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%d %b %Y", "%B %d %Y", "%b %d %Y")


def _day(value: str | None) -> date | None:
    text = " ".join((value or "").replace(",", " ").split())
    for form in _DAY_FORMATS:
        try:
            day = datetime.strptime(text, form).date()
        except ValueError:
            continue
        return day if 1970 <= day.year <= 9998 else None
    return None


def _unreadable_days(query: QueryDict) -> tuple[str, ...]:
    """What to tell the reader about a typed day that is not one, so it is not silently ignored."""
    said = []
    for key, label in (("from", "From"), ("to", "To")):
        typed = (query.get(key) or "").strip()
        if typed and _day(typed) is None:
            said.append(f"“{typed[:40]}” in {label} is not a day this page can read, so it is left out: "
                        "write it like 3 December 2026.")
    return tuple(said)


def parse_filters(query: QueryDict, *, team: Team, choices: Choices, zone: tzinfo) -> AuditFilters:
    """The filters a query string asks for; an unknown or malformed value is left out, never an error."""
    person, person_label = None, ""
    raw_person = (query.get("person") or "").strip()
    if raw_person.isdigit() and 0 < int(raw_person) < 2**63:
        person = int(raw_person)
        person_label = dict(choices.people).get(person)
        if person_label is None:
            person_label = _person_label_from_log(team, person)
            if person_label is None:
                person = None
            else:  # listed, so the form shows who is chosen
                choices.people.append((person, f"{person_label} (former member)"))
    group = query.get("group", "")
    server = (query.get("server") or "").strip()
    server_label = dict(choices.servers).get(server, "")
    outcome = query.get("outcome", "")
    stream = (query.get("stream") or "").strip()
    since, until = _day(query.get("from")), _day(query.get("to"))
    if since and until and since > until:
        since, until = until, since
    return AuditFilters(
        person=person, person_label=person_label or "",
        group=group if group in GROUPS else "",
        server=server if server_label else "", server_label=server_label,
        stream=stream if _STREAM_ID.match(stream) else "",
        outcome=outcome if outcome in OUTCOMES else "",
        since=since, until=until, zone=zone, unreadable_days=_unreadable_days(query),
        typed_since=(query.get("from") or "").strip()[:40], typed_until=(query.get("to") or "").strip()[:40],
    )


def _person_label_from_log(team: Team, person: int) -> str | None:
    """Someone the lists do not name (their account or membership went without an entry saying so), named as
    this team's log knew them; a person this team's log never saw stays unnamed."""
    label = AuditEvent.objects.for_team(team).filter(actor_id=person).values_list("actor_label", flat=True).first()
    return label or None


# --- Querying ------------------------------------------------------------------------------------


def _start_of(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.min).replace(tzinfo=zone)


def _common(events: QuerySet, filters: AuditFilters) -> QuerySet:
    if filters.person:
        events = events.filter(actor_id=filters.person)
    if filters.outcome:
        events = events.filter(outcome=filters.outcome)
    if filters.since:
        events = events.filter(occurred_at__gte=_start_of(filters.since, filters.zone))
    if filters.until:
        events = events.filter(occurred_at__lt=_start_of(filters.until + timedelta(days=1), filters.zone))
    return events


def _server_entries(server: str, *, pages: bool = True) -> Q:
    # Its own entries, its streams' entries, and pages of it someone was refused (their path names it).
    entries = Q(server_id=server)
    return entries if pages else entries & Q(target_type__in=["server", "stream"])


def _stream_entries(stream: str) -> Q:
    # Stream entries with this ID on any server, and pages of such a stream; IDs are compared in any case.
    return Q(stream_id=stream.lower())


def team_events(team: Team, filters: AuditFilters) -> QuerySet:
    """The team's own entries matching the filters."""
    events = AuditEvent.objects.for_team(team)
    if filters.group:
        events = events.filter(action__in=actions_in(filters.group))
    if filters.server:
        events = events.filter(_server_entries(filters.server))
    if filters.stream:
        events = events.filter(_stream_entries(filters.stream))
    return _common(events, filters)


def _personal_scope(members: list[Member], filters: AuditFilters) -> tuple[list[Member], QuerySet] | None:
    """The members whose personal entries the filters let in, and those entries before whose and since when."""
    if filters.server or filters.stream or filters.group not in ("", "signin"):
        return None
    chosen = [m for m in members if not filters.person or m.user_id == filters.person]
    if not chosen:
        return None
    personal = [action for action in ACTIONS if action.startswith(PERSONAL_PREFIXES)]
    events = AuditEvent.objects.filter(team_id=None, action__in=personal)
    return chosen, _common(events, replace(filters, person=None) if filters.person else filters)


def personal_events(members: list[Member], filters: AuditFilters) -> QuerySet | None:
    """Members' sign-ins and account changes (kept without a team), each from the day they joined, failed
    attempts to sign in as them included; None when the filters rule them all out (a server, a stream,
    another group, or a person who is not a member now)."""
    scope = _personal_scope(members, filters)
    if scope is None:
        return None
    chosen, events = scope
    # An entry's account is its actor or, for a failed sign-in (which has no actor), the account it names.
    # One IN over the accounts and one CASE for the day each joined, however many members there are.
    joined = Case(*(When(account_id=m.user_id, then=Value(m.joined_at)) for m in chosen))
    events = events.filter(account_id__in=[m.user_id for m in chosen],
                           occurred_at__gte=min(m.joined_at for m in chosen))
    return events.alias(joined_at=joined).filter(occurred_at__gte=F("joined_at"))


def personal_events_by_member(members: list[Member], filters: AuditFilters) -> list[QuerySet]:
    """The entries of `personal_events`, one query a member, each newest first off the (team, account, time) index."""
    scope = _personal_scope(members, filters)
    if scope is None:
        return []
    chosen, events = scope
    return [events.filter(account_id=m.user_id, occurred_at__gte=m.joined_at) for m in chosen]


def _own_events(team: Team, filters: AuditFilters) -> QuerySet | None:
    # Sign-ins are never a team's own entries: asking the team's index for them would read all of it.
    return team_events(team, filters) if filters.group != "signin" else None


def _sources(team: Team, filters: AuditFilters, members: list[Member]) -> list[QuerySet]:
    return [events for events in (_own_events(team, filters), personal_events(members, filters)) if events is not None]


@dataclass(frozen=True)
class Cursor:
    occurred_at: datetime
    id: int

    def __str__(self) -> str:
        return f"{self.occurred_at.astimezone(UTC).strftime(_CURSOR_TIME)}_{self.id}"

    @classmethod
    def parse(cls, value: str | None) -> Cursor | None:
        moment, _, pk = (value or "").strip().rpartition("_")
        try:
            occurred_at = datetime.strptime(moment, _CURSOR_TIME).replace(tzinfo=UTC)
        except ValueError:
            return None
        return cls(occurred_at, int(pk)) if pk.isdigit() and 0 < int(pk) < 2**63 else None

    def older(self, events: QuerySet) -> QuerySet:
        # `occurred_at <= t` alone bounds the index range; the OR only settles ties within that one moment.
        return events.filter(occurred_at__lte=self.occurred_at).filter(
            Q(occurred_at__lt=self.occurred_at) | Q(id__lt=self.id))


def _newest_first(events: QuerySet) -> QuerySet:
    return events.order_by("-occurred_at", "-id")


def _key(event: AuditEvent) -> tuple[datetime, int]:
    return event.occurred_at, event.id


# --- Entries as sentences ------------------------------------------------------------------------


@dataclass
class Change:
    label: str
    before: Any
    after: Any
    is_moment: bool = False  # before and after are datetimes, for `local_time` in the template


@dataclass
class Entry:
    event: AuditEvent
    who: str
    person_id: int | None
    role: str
    what: str
    outcome_text: str
    outcome_class: str
    changes: list[Change] = field(default_factory=list)

    @property
    def sentence(self) -> str:
        return f"{self.who}{f' ({self.role})' if self.role else ''} {self.what}"


def _label(event: AuditEvent, names: dict[int, str]) -> str:
    if event.target_type == "member" and event.target_id.isdigit() and int(event.target_id) in names:
        return names[int(event.target_id)]
    return event.target_label


def _with_object(verb: str, event: AuditEvent, label: str) -> str:
    if not label or event.target_type in ("user", "team"):
        return verb
    for phrase, words in _OBJECTS:
        if phrase in verb and (phrase != "a page" or event.target_type == "page"):
            if phrase == "a page" and not label.startswith("/"):  # named as people know it: "New stream on …"
                words = "{label}"
            return verb.replace(phrase, words.format(label=label), 1)
    return f"{verb} ({label})"


# Made by whoever typed the address, who may not be its owner.
_SIGN_IN_ATTEMPTS = ("auth.login.failure", "auth.login.locked")


def describe(event: AuditEvent, names: dict[int, str]) -> Entry:
    """One entry as a sentence: "Dana Editor (editor) archived stream billing-news on Acme Production";
    an attempt that did not happen reads "… tried to archive … — refused: <why>"."""
    label = _label(event, names)
    if event.actor_id is not None:
        who = names.get(event.actor_id) or event.actor_label or "Someone"
    else:
        # No one signed in: a guesser at sign-in, or a visitor with an invitation link that names no one.
        unnamed = event.action in _SIGN_IN_ATTEMPTS or (
            event.action in ("invitation.accept", "access.csrf") and not event.actor_label)
        who = "Someone" if unnamed else (event.actor_label or "The system")
    role = Role(event.actor_role).label.lower() if event.actor_role in Role.values else ""
    outcome = event.outcome
    if outcome == Outcome.SUCCESS:
        what = _with_object(ACTIONS.get(event.action, event.action), event, label) + _from_to(event)
    else:
        if event.action in _SIGN_IN_ATTEMPTS:
            intent = f"sign in as {event.target_label or event.actor_label}"
        elif event.target_type == "page":
            intent = INTENTS.get(event.action, "open a page")
            if event.action == "access.denied":
                intent = _with_object(intent, event, label)
            else:  # a named page ("the page to archive stream …") or, in older entries, its address
                intent = f"{intent} (from {label})" if not label.startswith("/") else f"{intent} (on the page {label})"
        else:
            intent = _with_object(INTENTS.get(event.action, event.action), event, label)
        what = f"tried to {intent} — {_OUTCOME_IN_SENTENCE.get(outcome, outcome)}"
        if event.detail:
            what += f": {event.detail.rstrip('.')}"
    text, css = OUTCOMES.get(outcome, (event.get_outcome_display(), ""))
    changes = [_change(name, values) for name, values in (event.changes or {}).items()
               if isinstance(values, list | tuple) and len(values) == 2]
    return Entry(event=event, who=who, person_id=event.actor_id, role=role, what=what,
                 outcome_text=text, outcome_class=css, changes=changes)


# Where one value is the whole story, the sentence tells it: "changed the role of Victor Viewer from Viewer to Editor".
_TOLD_CHANGES = {"member.role_change": "role", "server.stream_limit": "stream_limit", "server.rename": "name"}


def _from_to(event: AuditEvent) -> str:
    values = (event.changes or {}).get(_TOLD_CHANGES.get(event.action, ""))
    if not isinstance(values, list) or len(values) != 2 or None in values:
        return ""
    # A rename's label is already the new name, so it says where it came from.
    return f" (formerly {values[0]})" if event.action == "server.rename" else f" from {values[0]} to {values[1]}"


def sentence(event: AuditEvent, names: dict[int, str] | None = None) -> str:
    return describe(event, names or {}).sentence


def _shown(value: Any) -> Any:
    if value is None:
        return "(none)"
    if value == "":
        return "(empty)"
    if isinstance(value, str) and _MOMENT.match(value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def _change(name: str, values: list) -> Change:
    before, after = _shown(values[0]), _shown(values[1])
    if name == "state":  # recorded as Postmark's "active"/"archived"; shown as the stream page says it
        before, after = (value.capitalize() if isinstance(value, str) else value for value in (before, after))
    is_moment = any(isinstance(value, datetime) for value in (before, after))
    return Change(FIELD_WORDS.get(name, name.replace("_", " ").capitalize()), before, after, is_moment)


def people_named(events: Iterable[AuditEvent]) -> dict[int, str]:
    """The names of the people these entries mention, by user id, for pages that list entries their own way."""
    return _names(events, {})


def person_and_role(event: AuditEvent, names: dict[int, str]) -> str:
    """How every page names who did something: "Edith Editor (editor)", as the audit log's sentences do."""
    entry = describe(event, names)
    return f"{entry.who} ({entry.role})" if entry.role else entry.who


def _names(events: Iterable[AuditEvent], known: dict[int, str]) -> dict[int, str]:
    """`known` plus the names of anyone else these entries mention (former members): one query at most."""
    wanted = set()
    for event in events:
        if event.actor_id is not None:
            wanted.add(event.actor_id)
        if event.target_type == "member" and event.target_id.isdigit():
            wanted.add(int(event.target_id))
    missing = wanted - known.keys()
    if missing:
        known = {**known, **{user.pk: user.get_full_name()
                             for user in User.objects.filter(pk__in=missing).only("name", "email")}}
    return known


# --- Pages ---------------------------------------------------------------------------------------


@dataclass
class AuditPage:
    entries: list[Entry]
    older: str  # the cursor of the next (older) page, "" on the last page
    after: str  # the cursor of this page, "" for the newest entries
    cursor_invalid: bool = False

    @property
    def is_first(self) -> bool:
        return not self.after


def audit_page(*, team: Team, filters: AuditFilters, after: str | None, choices: Choices,
               size: int = PAGE_SIZE) -> AuditPage:
    """One page, newest first: one query for its entries (on SQLite one per source: the team's entries, its
    members' sign-ins) and at most one for names, however deep the page."""
    cursor = Cursor.parse(after)
    events = _page_events(team, filters, choices.members, cursor, size + 1)
    events.sort(key=_key, reverse=True)
    shown = events[:size]
    names = _names(shown, choices.names())
    older = str(Cursor(shown[-1].occurred_at, shown[-1].id)) if len(events) > size else ""
    return AuditPage(entries=[describe(event, names) for event in shown], older=older,
                     after=str(cursor) if cursor else "", cursor_invalid=bool(after) and cursor is None)


def _page_events(team: Team, filters: AuditFilters, members: list[Member], cursor: Cursor | None,
                 size: int) -> list[AuditEvent]:
    """The newest `size` entries of each source, older than the cursor.

    Where the database takes a LIMIT in each part of a UNION (PostgreSQL), it is one query: the team's entries
    and each member's personal ones, each part reading at most a page off its index. An IN over the members
    would read every entry of theirs to sort them. Elsewhere (SQLite), one query per source."""
    if not connection.features.supports_slicing_ordering_in_compound:
        sources = [cursor.older(source) if cursor else source for source in _sources(team, filters, members)]
        return [event for source in sources for event in _newest_first(source)[:size]]

    def page_of(events: QuerySet) -> QuerySet:
        return _newest_first(cursor.older(events) if cursor else events)[:size]

    own = _own_events(team, filters)
    parts = [page_of(own).query.sql_with_params()] if own is not None else []
    parts += _member_parts(members, filters, page_of)
    if len(parts) < 2:
        return [event for sql, params in parts for event in AuditEvent.objects.raw(sql, params)]
    # The parts' SQL as Django writes a UNION of them, put together here: Django would compile each member's
    # part anew, which with two dozen members cost more than everything else on the page.
    sql = " UNION ALL ".join(f"({part})" for part, _ in parts)
    time_column, id_column = (connection.ops.quote_name(AuditEvent._meta.get_field(name).column)
                              for name in ("occurred_at", "id"))
    sql = f"{sql} ORDER BY {time_column} DESC, {id_column} DESC LIMIT %s"
    return list(AuditEvent.objects.raw(sql, [*(param for _, params in parts for param in params), size]))


# Stand-ins for one member in the SQL of a member's part, which is then repeated with each member's own values.
_SOME_ACCOUNT = -7_654_321  # no account's id, and within any integer column's range
_SOME_DAY = datetime(1, 1, 2, 3, 4, 5, 6789, tzinfo=UTC)


def _member_parts(members: list[Member], filters: AuditFilters, page_of) -> list[tuple[str, list]]:
    """The SQL and parameters of `page_of` each member's personal entries (`personal_events_by_member`),
    compiled once and repeated with each member's account and the day they joined."""
    scope = _personal_scope(members, filters)
    if scope is None:
        return []
    chosen, events = scope
    sql, params = page_of(events.filter(account_id=_SOME_ACCOUNT, occurred_at__gte=_SOME_DAY)).query.sql_with_params()
    account_at = [index for index, param in enumerate(params) if param == _SOME_ACCOUNT]
    day_at = [index for index, param in enumerate(params) if param == _SOME_DAY]
    if len(account_at) != 1 or len(day_at) != 1:  # another filter used a stand-in's value: compiled one by one
        return [page_of(part).query.sql_with_params() for part in personal_events_by_member(chosen, filters)]
    parts = []
    for member in chosen:
        own = list(params)
        own[account_at[0]], own[day_at[0]] = member.user_id, member.joined_at
        parts.append((sql, own))
    return parts


def server_history(*, team: Team, server: Server, limit: int = 10) -> list[Entry]:
    """A server's latest entries, its streams' included, for its page (which every member sees: refused page
    visits stay in the log, for admins)."""
    events = AuditEvent.objects.for_team(team).filter(_server_entries(str(server.pk), pages=False))
    events = list(_newest_first(events)[:limit])
    known = {m.user_id: m.user.get_full_name() for m in Membership.objects.filter(team=team).select_related("user")}
    names = _names(events, known)
    return [describe(event, names) for event in events]


# --- Export --------------------------------------------------------------------------------------

EXPORT_FIELDS = ["id", "time", "team", "person", "role", "action", "sentence", "target_type", "target_id", "target",
                 "outcome", "detail", "changes", "ip", "user_agent", "request_id", "forwarded_request_id"]


def _chunks(rows: Iterator[AuditEvent], size: int) -> Iterator[list[AuditEvent]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def export_rows(*, team: Team, filters: AuditFilters, choices: Choices) -> Iterator[dict[str, Any]]:
    """Every entry of the filtered view, newest first, as plain values; read in chunks, never all at once."""
    streams = [_newest_first(source).iterator(chunk_size=EXPORT_CHUNK)
               for source in _sources(team, filters, choices.members)]
    merged = heapq.merge(*streams, key=_key, reverse=True)
    names = choices.names()
    for chunk in _chunks(merged, EXPORT_CHUNK):
        names = _names(chunk, names)
        for event in chunk:
            yield {
                "id": event.id,
                "time": event.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "team": event.team_label,
                "person": event.actor_label,
                "role": event.actor_role,
                "action": event.action,
                "sentence": sentence(event, names),
                "target_type": event.target_type,
                "target_id": event.target_id,
                "target": event.target_label,
                "outcome": event.outcome,
                "detail": event.detail,
                "changes": event.changes or {},
                "ip": event.ip or "",
                "user_agent": event.user_agent,
                "request_id": event.request_id,
                "forwarded_request_id": event.forwarded_request_id,
            }
