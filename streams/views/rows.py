"""What each row of a stream table shows, worked out once in Python instead of per row in the template.

A list of 50 streams used to run about 1,300 template lookups, 100 `{% url %}` reversals and 200 date
formattings per page. Here the addresses are built from one reversal per page, the dates are written in the
reader's zone (fetched once), and the purge countdown is computed once per archived stream; the templates only
place the results. What the rows say is unchanged (tests/streams/test_rows.py compares with the tags).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from html import escape
from urllib.parse import quote

from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from dashboard.postmark.client import Stream, UnsubscribeHandling
from dashboard.templatetags.dashboard import day_text, moment_text, utc_stamp
from streams.purge import PurgeCountdown, countdown_for

HANDLING_TEXT = {
    UnsubscribeHandling.POSTMARK: "By Postmark",
    UnsubscribeHandling.CUSTOM: "By you",
}


@dataclass(frozen=True)
class Moment:
    """A moment as a row shows it: the day, and the full time for the tooltip, both in the reader's zone."""

    day: str
    full: str
    stamp: str  # for `<time datetime>`


@dataclass(frozen=True)
class Countdown:
    """A `PurgeCountdown` with every value the compact countdown shows, computed once."""

    urgency: str
    urgency_text: str
    time_left_text: str
    is_past: bool
    percent_passed: int
    days_passed: int
    period_days: int
    purge_at: Moment

    @cached_property
    def compact_html(self) -> SafeString:
        """What `components/purge_countdown.html` shows with `compact=True`, written here once per row: a table of
        60 archived streams paid a template include for each. The same markup (tests/streams/test_rows.py
        renders both); the template stays for the full countdown of the stream pages."""
        # Plain `html.escape` on each text, as `format_html` would (its per-argument `conditional_escape` was most of
        # the cost for the 60 rows of the overview's purging table); the numbers are ints.
        e, at = escape, self.purge_at
        if self.is_past:
            return SafeString(
                f'<div class="countdown countdown--past countdown--compact"> <span class="badge">{e(self.urgency_text)}'
                f'</span> <span class="countdown__date muted">Postmark\'s purge date was <time '
                f'datetime="{e(at.stamp)}">{e(at.full)}</time>; it can no longer be restored.</span> </div>')
        urgency, days, period = e(self.urgency), int(self.days_passed), int(self.period_days)
        return SafeString(
            f'<div class="countdown countdown--{urgency} countdown--compact"> <div class="countdown__head"> '
            f'<span class="badge badge--{urgency}">{e(self.urgency_text)}</span> <strong class="countdown__left">'
            f'{e(self.time_left_text)} left</strong> </div> <progress class="countdown__bar" max="100" '
            f'value="{int(self.percent_passed)}" aria-label="{days} of {period} days passed">{days} of {period} days '
            f'passed</progress> <span class="countdown__date muted">Postmark deletes it on <time '
            f'datetime="{e(at.stamp)}">{e(at.full)}</time></span> </div>')


@dataclass(frozen=True)
class StreamRow:
    stream: Stream
    detail_url: str
    restore_url: str
    list_url: str  # the stream's server's list
    countdown: Countdown | None
    # What only a server's list shows (the overview's purging table leaves them out: see `server_stream_rows`).
    short_description: str = ""  # the first 90 characters, for the table; the whole in a tooltip
    handling: str = ""
    created: Moment | None = None
    updated: Moment | None = None

    # The template reads the stream's own fields through the row.
    @property
    def id(self) -> str:
        return self.stream.id

    @property
    def name(self) -> str:
        return self.stream.name

    @property
    def is_archived(self) -> bool:
        return self.stream.is_archived


def _moment(value: datetime, zone) -> Moment:
    local = timezone.localtime(value, zone)
    return Moment(day=day_text(local), full=moment_text(local), stamp=utc_stamp(value))


def countdown_shown(countdown: PurgeCountdown | None, zone) -> Countdown | None:
    if countdown is None:
        return None
    return Countdown(
        urgency=countdown.urgency,
        urgency_text=countdown.urgency_text,
        time_left_text=countdown.time_left_text,
        is_past=countdown.is_past,
        percent_passed=countdown.percent_passed,
        days_passed=countdown.days_passed,
        period_days=countdown.period_days,
        purge_at=_moment(countdown.purge_at, zone),
    )


SERVER_PLACEHOLDER = "00000000-0000-4000-8000-000000000000"
STREAM_PLACEHOLDER = "stream-id"


def address_for_each(name: str, *args, placeholders: tuple[str, ...]) -> Callable[..., str]:
    """A function from the URL's last arguments (a server's UUID, a stream ID) to the address of the named page:
    one `reverse()` per page, with each placeholder (a value the URL accepts) swapped for each row's own."""
    head = reverse(name, args=[*args, *placeholders])
    tails = []
    for placeholder in reversed(placeholders):
        head, tail = head.rsplit(f"/{placeholder}/", 1)
        tails.insert(0, tail)

    def address(*values) -> str:
        return head + "".join(
            f"/{quote(str(value), safe='')}/{tail}" for value, tail in zip(values, tails, strict=True)
        )

    return address


def stream_address(team_slug: str, name: str) -> Callable[[object, str], str]:
    """From a server's UUID and a stream ID to the address of the named stream page (`stream_detail`, ...)."""
    return address_for_each(name, team_slug, placeholders=(SERVER_PLACEHOLDER, STREAM_PLACEHOLDER))


def server_address(team_slug: str, name: str) -> Callable[[object], str]:
    """From a server's UUID to the address of the named server page (`server_detail`, `stream_list`, ...)."""
    return address_for_each(name, team_slug, placeholders=(SERVER_PLACEHOLDER,))


def _short(description: str | None) -> str:
    """The first 90 characters, as Truncator cuts them (after NFC normalisation, not counting combining marks).
    Short ASCII text, the usual description, is neither normalised differently nor cut: it is returned as is."""
    if not description:
        return ""
    if description.isascii() and len(description) <= 90:
        return description
    return Truncator(description).chars(90)


def handling_text(stream: Stream) -> str:
    return HANDLING_TEXT.get(stream.unsubscribe_handling, "None")


def stream_rows(
    streams: Iterable[Stream], *, team_slug: str, server_pk, now: datetime | None = None
) -> list[StreamRow]:
    """The rows of one server's streams, in the order given."""
    return server_stream_rows(((server_pk, stream) for stream in streams), team_slug=team_slug, now=now)


def server_stream_rows(
    pairs: Iterable[tuple[object, Stream]], *, team_slug: str, now: datetime | None = None, details: bool = True
) -> list[StreamRow]:
    """The rows of (server UUID, stream) pairs, in the order given: the streams of several servers in one table.
    `details=False` leaves out what only a server's list shows (dates, description, handling): the overview's
    purging table shows a stream's name, links and countdown."""
    zone = timezone.get_current_timezone()
    now = now or timezone.now()
    detail_url = stream_address(team_slug, "stream_detail")
    restore_url = stream_address(team_slug, "stream_restore")
    list_url = server_address(team_slug, "stream_list")
    return [
        StreamRow(
            stream=stream,
            detail_url=detail_url(server_pk, stream.id),
            restore_url=restore_url(server_pk, stream.id),
            list_url=list_url(server_pk),
            countdown=countdown_shown(countdown_for(stream, now), zone),
            **({
                "short_description": _short(stream.description),
                "handling": handling_text(stream),
                "created": _moment(stream.created_at, zone),
                "updated": _moment(stream.updated_at, zone) if stream.updated_at else None,
            } if details else {}),
        )
        for server_pk, stream in pairs
    ]


def list_table_rows(rows: Iterable[StreamRow], *, can_edit: bool, csrf_token: str, next_path: str) -> SafeString:
    """The `<tr>` of each row of a server's stream list, written here rather than by a loop in the template: a
    table of 50 streams ran about 1,000 template lookups. The markup is what `streams/list.html` wrote
    (tests/streams/test_list_rows.py renders the old loop and compares); `csrf_token` and `next_path` are for the
    Restore form each archived row has when the reader can edit."""
    return SafeString(" ".join([_list_row(row, can_edit, csrf_token, next_path) for row in rows]))


def _list_row(row: StreamRow, can_edit: bool, csrf_token: str, next_path: str) -> str:
    # Plain `html.escape` on each value, as `{{ }}` and `format_html` escape text (Django's `escape` is this call
    # made safe): a table of 50 rows made some 800 `conditional_escape` calls through `format_html`.
    stream, e = row.stream, escape
    name, stream_id = e(stream.name), e(stream.id)
    described = f'<a href="{e(row.detail_url)}">{name}</a>'
    if row.short_description:
        described += (f' <div class="muted stream-table__description" title="{e(stream.description)}">'
                      f'{e(row.short_description)}</div>')
    if row.updated:
        updated = f'<span title="{e(row.updated.full)}">{e(row.updated.day)}</span>'
    else:
        updated = '<span class="muted">Not changed</span>'
    if stream.is_archived:
        state = f'<span class="badge">Archived</span> {row.countdown.compact_html if row.countdown else ""}'
        if can_edit:
            state += (f' <form method="post" action="{e(row.restore_url)}" class="inline-form"> '
                      f'<input type="hidden" name="csrfmiddlewaretoken" value="{e(csrf_token)}"> <input type="hidden" '
                      f'name="next" value="{e(next_path)}"> <button type="submit" class="button">Restore<span '
                      f'class="visually-hidden"> {name}</span></button> </form>')
    else:
        state = '<span class="badge badge--calm">Active</span>'
    archived = ' class="stream-row--archived"' if stream.is_archived else ""
    return (f'<tr data-stream="{stream_id}"{archived}> <td> {described} </td> <td class="mono nowrap">{stream_id}</td> '
            f'<td>{e(stream.stream_type.value)}</td> <td class="stream-table__handling">{e(row.handling)}</td> '
            f'<td class="stream-table__date"><span title="{e(row.created.full)}">{e(row.created.day)}</span></td> '
            f'<td class="stream-table__date">{updated}</td> <td class="stream-table__state"> {state} </td> </tr>')


def purging_table_rows(pairs: Iterable[tuple[object, StreamRow]], *, can_edit: bool, csrf_token: str,
                       next_path: str) -> SafeString:
    """The `<tr>` of each archived stream in the overview's *Purging soon* table, from (server, row) pairs: written
    here rather than by a loop in the template, which cost some 8 ms of CPU for the 60 archived streams of 30 servers.
    The markup is what `streams/overview.html` wrote (tests/streams/test_purging_rows.py renders the old loop and
    compares); `csrf_token` and `next_path` are for each row's Restore form when the reader can edit."""
    return SafeString(" ".join([_purging_row(server, row, can_edit, csrf_token, next_path) for server, row in pairs]))


def _purging_row(server, row: StreamRow, can_edit: bool, csrf_token: str, next_path: str) -> str:
    e = escape
    name, server_name = e(row.stream.name), e(server.name)
    restore = (f' <td> <form method="post" action="{e(row.restore_url)}" class="inline-form"> '
               f'<input type="hidden" name="csrfmiddlewaretoken" value="{e(csrf_token)}"> <input type="hidden" '
               f'name="next" value="{e(next_path)}"> <button type="submit" class="button">Restore<span '
               f'class="visually-hidden"> {name} on {server_name}</span></button> </form> </td>') if can_edit else ""
    return (f'<tr data-stream="{e(row.stream.id)}"> <td> <a href="{e(row.detail_url)}">{name}</a> '
            f'<div class="mono muted">{e(row.stream.id)}</div> </td> '
            f'<td><a href="{e(row.list_url)}?archived=1">{server_name}</a></td> '
            f'<td>{row.countdown.compact_html if row.countdown else ""}</td>{restore} </tr>')
