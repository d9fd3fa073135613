"""What each entry of the audit log page shows, worked out once in Python instead of per entry in the template.

A page of 50 entries used to run about 2,000 template lookups (most two levels deep, `entry.event.…`), 100
user-agent summaries (a dozen regular expressions each), 50 time tags and the changed dates through per-call
filters that look the reader's zone up each time. Here each entry becomes one flat row of ready text: the
moment in the reader's zone (fetched once a page), the browser summarised once, each change's before and after
as the template wrote them. The template only places the results; the page reads exactly as before
(tests/dashboard/test_audit_rows.py renders both ways and compares).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from django.utils import timezone
from django.utils.formats import localize
from django.utils.text import capfirst

from dashboard.audit_log import Change, Entry
from dashboard.templatetags.dashboard import moment_text, utc_stamp
from dashboard.user_agents import browser_summary


class _Row:
    """Django's template lookup tries `row[name]` before `row.name`: answering it spares the raised and caught
    TypeError of each of the page's ~1,800 lookups (a quarter of their cost)."""

    __slots__ = ()

    def __getitem__(self, name: str):
        return getattr(self, name)


@dataclass(frozen=True, slots=True)
class ChangeRow(_Row):
    label: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class EntryRow(_Row):
    """One entry, every value as the page writes it (text; the template escapes it)."""

    number: str  # the entry's id
    person_url: str  # "" when no person did it
    who: str
    role: str
    what: str
    outcome_text: str
    outcome_class: str
    stamp: str  # for `<time datetime>`, in UTC
    when: str  # the moment in the reader's zone, with the zone's label
    ip: str
    browser: str  # "Chrome 131 on Linux"
    changes: list[ChangeRow]
    detail: str
    action: str
    target_type: str
    target_label: str
    target_id: str
    user_agent: str
    request_id: str
    forwarded_request_id: str

    @property
    def browser_title(self) -> str:
        return capfirst(self.browser)


def _local_text(value: datetime, zone: tzinfo) -> str:
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return moment_text(timezone.localtime(value, zone))


def _shown(value: Any, is_moment: bool, zone: tzinfo) -> str:
    # As `{% if change.is_moment and change.before.year %}{{ change.before|local_time }}{% else %}{{ change.before }}`
    # wrote it: a moment in the reader's zone, anything else as the template prints a value (localized numbers).
    if is_moment and isinstance(value, datetime):
        return _local_text(value, zone)
    return value if isinstance(value, str) else str(localize(value))


def _change_row(change: Change, zone: tzinfo) -> ChangeRow:
    return ChangeRow(change.label, _shown(change.before, change.is_moment, zone),
                     _shown(change.after, change.is_moment, zone))


def entry_rows(entries: list[Entry], *, path: str, zone: tzinfo | None = None) -> list[EntryRow]:
    """The rows of a page's entries, in the order given; `path` is the page's own (a person's name links to their
    entries on it)."""
    zone = zone or timezone.get_current_timezone()
    browsers: dict[str, str] = {}  # a page's entries come from a few browsers
    rows = []
    for entry in entries:
        event = entry.event
        occurred_at = event.occurred_at
        user_agent = event.user_agent or ""
        if user_agent not in browsers:
            browsers[user_agent] = browser_summary(user_agent)
        rows.append(EntryRow(
            number=str(event.pk),  # an identifier: never grouped in thousands
            person_url=f"{path}?person={entry.person_id}" if entry.person_id else "",
            who=entry.who,
            role=entry.role,
            what=entry.what,
            outcome_text=entry.outcome_text,
            outcome_class=entry.outcome_class,
            stamp=utc_stamp(occurred_at),
            when=_local_text(occurred_at, zone),
            ip=event.ip or "",
            browser=browsers[user_agent],
            changes=[_change_row(change, zone) for change in entry.changes],
            detail=event.detail,
            action=event.action,
            target_type=event.target_type,
            target_label=event.target_label,
            target_id=event.target_id,
            user_agent=user_agent,
            request_id=event.request_id,
            forwarded_request_id=event.forwarded_request_id,
        ))
    return rows
