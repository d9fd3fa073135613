"""What each entry of the audit log page shows, worked out once in Python instead of per entry in the template.

A page of 50 entries used to run about 2,000 template lookups (most two levels deep, `entry.event.…`), 100
user-agent summaries (a dozen regular expressions each), 50 time tags and the changed dates through per-call
filters that look the reader's zone up each time. Here each entry becomes one flat row of ready text: the
moment in the reader's zone (fetched once a page), the browser summarised once, each change's before and after
as the template wrote them. The page reads exactly as before (tests/dashboard/test_audit_rows.py renders both
ways and compares).

The entries' items themselves are then written here too (`entries_html`), from the same markup the template
had, with every value escaped as `{{ value }}` escapes it: placing ~30 values and ~12 conditions in each of 50
entries through the template engine cost about 3 ms a page; written here, half a millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from html import escape
from typing import Any

from django.utils import timezone
from django.utils.formats import localize
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst

from dashboard.audit_log import Change, Entry
from dashboard.templatetags.dashboard import moment_text, utc_stamp
from dashboard.user_agents import browser_summary


@dataclass(frozen=True, slots=True)
class ChangeRow:
    label: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class EntryRow:
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


# One entry's item of the list, as templates/dashboard/audit_log.html wrote it with `{% for entry in rows %}`:
# the same lines, the same indentation. Each {field} is filled with escaped text or with the parts below.
_ENTRY = """
              <li class="card audit-entry" data-entry="{number}">
                <div class="audit-entry__head">
                  <p class="audit-entry__sentence">{who}{role} {what}</p>
                  <span class="badge {outcome_class}">{outcome_text}</span>
                </div>
                <p class="audit-entry__meta muted">
                  <time datetime="{stamp}">{when}</time>
                  · from {ip}
                  · <span class="audit-entry__agent">{browser}</span>
                </p>
                <details class="audit-entry__details">
                  <summary>Details{what_changed}</summary>
                  {changes}
                  <dl class="details">
                    {note}
                    <dt>Action</dt><dd><code>{action}</code></dd>
                    {done_to}
                    <dt>Browser</dt><dd>{user_agent}</dd>
                    {request_id}
                    {forwarded_request_id}
                    <dt>Entry number</dt><dd>{number}</dd>
                  </dl>
                </details>
              </li>
            """
_CHANGES = """
                    <div class="table-wrap">
                      <table class="table audit-changes">
                        <caption class="visually-hidden">Values before and after</caption>
                        {thead}
                        <tbody>
                          {rows}
                        </tbody>
                      </table>
                    </div>
                  """
_THEAD = '<thead><tr><th scope="col">Field</th><th scope="col">Before</th><th scope="col">After</th></tr></thead>'
_CHANGE = """
                            <tr>
                              <th scope="row">{label}</th>
                              <td>{before}</td>
                              <td>{after}</td>
                            </tr>
                          """
_NO_CHANGES = """
                    <p class="muted">No values were changed.</p>
                  """


def _escaped(value: str) -> str:
    # As `{{ value }}` writes text: escaped unless it is already safe HTML (conditional_escape, without making a
    # SafeString of each of a page's ~1,000 values).
    return value.__html__() if hasattr(value, "__html__") else escape(value)


def _entry_html(row: EntryRow) -> str:
    e = _escaped
    who = e(row.who)
    if row.person_url:
        who = f'<a href="{e(row.person_url)}" title="Everything {who} did">{who}</a>'
    changes = _NO_CHANGES
    if row.changes:
        changes = _CHANGES.format(thead=_THEAD, rows="".join(
            _CHANGE.format(label=e(change.label), before=e(change.before), after=e(change.after))
            for change in row.changes))
    done_to = ""
    if row.target_type:
        label = f"“{e(row.target_label)}”" if row.target_label else ""
        code = f"<code>{e(row.target_id)}</code>" if row.target_id else ""
        done_to = f"<dt>Done to</dt><dd>{e(row.target_type)} {label} {code}</dd>"
    return _ENTRY.format(
        number=e(row.number),
        who=who,
        role=f" ({e(row.role)})" if row.role else "",
        what=e(row.what),
        outcome_class=e(row.outcome_class),
        outcome_text=e(row.outcome_text),
        stamp=e(row.stamp),
        when=e(row.when),
        ip=f'<span class="mono">{e(row.ip)}</span>' if row.ip else "an unknown address",
        browser=e(row.browser),
        what_changed=": what changed" if row.changes else "",
        changes=changes,
        note=f"<dt>Note</dt><dd>{e(row.detail)}</dd>" if row.detail else "",
        action=e(row.action),
        done_to=done_to,
        user_agent=(f'{e(row.browser_title)}<br><span class="mono muted">{e(row.user_agent)}</span>'
                    if row.user_agent else "Not known"),
        request_id=f"<dt>Request ID</dt><dd><code>{e(row.request_id)}</code></dd>" if row.request_id else "",
        forwarded_request_id=(f"<dt>Proxy's request ID</dt><dd><code>{e(row.forwarded_request_id)}</code></dd>"
                              if row.forwarded_request_id else ""),
    )


def entries_html(rows: list[EntryRow]) -> SafeString:
    """The list items of these rows, for `<ol class="audit-entries">`: every value escaped."""
    return mark_safe("".join(_entry_html(row) for row in rows))  # each value is escaped in _entry_html
