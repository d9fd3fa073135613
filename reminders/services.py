"""Purge reminders: an e-mail digest per team, to every member with the Editor role or higher, when an archived
stream is 7 days and 1 day from Postmark deleting it, and a notice once Postmark has.

Two steps, each safe to run twice, on two machines at once, or again after a crash half-way:
- `reminders_note` reads every server's last-known copy (no Postmark call) and notes the reminders due: one row
  per stream, archive and threshold, which the database's unique constraint keeps from ever being a second.
  An archive that ended (restored, deleted before its date, or purged) cancels what it still had waiting; a
  purge adds the notice.
- `reminders_send` claims a team's waiting reminders in one UPDATE (a reminder another run claimed is left to
  it, unless that run stopped without finishing more than SENDING_LEASE ago: then the people it had not reached
  get it), checks each against the copy once more (a stream restored meanwhile gets nothing), e-mails one
  digest per person and records each reminder sent in the audit log, without the e-mail's body.

Never: call Postmark, decrypt a token, or put a token in an e-mail.
"""

from __future__ import annotations

import logging
import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from dashboard import audit
from dashboard.models import AuditEvent, Membership, Role, Server, Team, User
from dashboard.postmark.client import Stream
from dashboard.services import ServiceError
from dashboard.services.teams import role_of
from reminders.models import PurgeReminder, ReminderOptOut
from streams import last_known
from streams.last_known import PURGE_AFTER, PURGE_SLACK, stream_target
from streams.services import purge_moment

logger = logging.getLogger(__name__)
Threshold, Status = PurgeReminder.Threshold, PurgeReminder.Status

THRESHOLDS = ((timedelta(days=1), Threshold.ONE_DAY), (timedelta(days=7), Threshold.SEVEN_DAYS))
# An archive whose purge date passed longer ago than this is settled: its notice was due long since.
SETTLED_AFTER = timedelta(days=7)
RECEIVING_ROLES = (Role.EDITOR, Role.ADMIN, Role.OWNER)
SENDER_LABEL = "Purge reminders"
# The digest's sections, most urgent first, and their headings (the subject counts them in the same words).
SECTIONS = ((Threshold.PURGED, "Deleted by Postmark"), (Threshold.ONE_DAY, "Deleted within a day"),
            (Threshold.SEVEN_DAYS, "Deleted within 7 days"))


# --- Noting what is due ------------------------------------------------------------------------------


def _archive_moment(stream: Stream) -> datetime:
    return stream.archived_at or purge_moment(stream) - PURGE_AFTER


def _due(left: timedelta) -> str | None:
    """The threshold an archive with `left` before its purge has reached (the nearest one only)."""
    if left <= timedelta(0):
        return None
    return next((threshold for span, threshold in THRESHOLDS if left <= span), None)


def reminders_note(*, servers: list[Server] | None = None, now: datetime | None = None) -> None:
    """Note the reminders each server's copy makes due, and settle the archives that ended."""
    now = now or timezone.now()
    servers = list(Server.objects.all() if servers is None else servers)
    copies = last_known.load_many(servers)
    open_by_server: dict[Any, list[PurgeReminder]] = {}
    for reminder in PurgeReminder.objects.filter(server__in=servers, purge_at__gte=now - SETTLED_AFTER).exclude(
            threshold=Threshold.PURGED).exclude(status=Status.CANCELLED):
        open_by_server.setdefault(reminder.server_id, []).append(reminder)
    for server in servers:
        if server.pk in copies:
            _note_server(server, copies[server.pk], open_by_server.get(server.pk, []), now)


def _note_server(server: Server, copy: last_known.Copy, open_reminders: list[PurgeReminder], now: datetime) -> None:
    archived = {stream.id: stream for stream in copy.streams if stream.is_archived}
    noted = {(reminder.stream_id, reminder.archived_at, reminder.threshold) for reminder in open_reminders}
    new = []
    for stream in archived.values():
        threshold = _due(purge_moment(stream) - now)
        if threshold is not None and (stream.id, _archive_moment(stream), threshold) not in noted:
            new.append(PurgeReminder(team_id=server.team_id, server=server, stream_id=stream.id,
                                     stream_name=stream.name[:100], archived_at=_archive_moment(stream),
                                     purge_at=purge_moment(stream), threshold=threshold))
    if new:
        PurgeReminder.objects.bulk_create(new, ignore_conflicts=True)
    for reminder in new:
        if reminder.threshold == Threshold.ONE_DAY:  # a day left: the 7-day one, if still waiting, says too little
            _of_archive(reminder).filter(threshold=Threshold.SEVEN_DAYS, status=Status.PENDING).update(
                status=Status.CANCELLED)
    _settle_ended(server, open_reminders, archived, {stream.id for stream in copy.streams}, now)


def _of_archive(reminder: PurgeReminder):
    return PurgeReminder.objects.filter(server_id=reminder.server_id, stream_id=reminder.stream_id,
                                        archived_at=reminder.archived_at)


def _settle_ended(server: Server, open_reminders: list[PurgeReminder], archived: dict[str, Stream],
                  present: set[str], now: datetime) -> None:
    """Archives with reminders that the copy no longer shows archived: purged (the notice), or restored,
    archived anew or deleted before their date (what still waits is cancelled)."""
    ended: dict[tuple[str, datetime], PurgeReminder] = {}
    for reminder in open_reminders:
        still = archived.get(reminder.stream_id)
        if still is None or _archive_moment(still) != reminder.archived_at:
            ended[(reminder.stream_id, reminder.archived_at)] = reminder
    for reminder in ended.values():
        waiting = _of_archive(reminder).filter(status=Status.PENDING).exclude(threshold=Threshold.PURGED)
        if reminder.stream_id not in present and now >= reminder.purge_at - PURGE_SLACK:
            PurgeReminder.objects.bulk_create([PurgeReminder(
                team_id=server.team_id, server=server, stream_id=reminder.stream_id,
                stream_name=reminder.stream_name, archived_at=reminder.archived_at, purge_at=reminder.purge_at,
                threshold=Threshold.PURGED)], ignore_conflicts=True)
        waiting.update(status=Status.CANCELLED)


# --- Who receives them ---------------------------------------------------------------------------


def reminder_recipients(*, team: Team) -> list[User]:
    """Members with the Editor role or higher who have not turned reminders off, by address."""
    opted_out = ReminderOptOut.objects.filter(team=team).values("user_id")
    return list(User.objects.filter(memberships__team=team, memberships__role__in=RECEIVING_ROLES, is_active=True)
                .exclude(pk__in=opted_out).order_by("email"))


@dataclass(frozen=True)
class Receiver:
    membership: Membership
    receives: bool


def reminder_audience(*, team: Team) -> list[Receiver]:
    """Everyone reminders would go to, and whether each still receives them (for the team's owners)."""
    opted_out = set(ReminderOptOut.objects.filter(team=team).values_list("user_id", flat=True))
    members = (team.memberships.select_related("user").filter(role__in=RECEIVING_ROLES)
               .order_by("user__name", "user__email"))
    return [Receiver(member, member.user_id not in opted_out and member.user.is_active) for member in members]


def reminder_receives(*, user: User, teams: list[Team]) -> dict[Any, bool]:
    """Whether `user` receives reminders from each team (role aside), by team primary key."""
    opted_out = set(ReminderOptOut.objects.filter(user=user, team__in=teams).values_list("team_id", flat=True))
    return {team.pk: team.pk not in opted_out for team in teams}


def reminder_set_receiving(*, actor: User, team: Team, receive: bool) -> bool:
    """Turn one's own purge reminders for `team` on or off; whether anything changed."""
    role = role_of(actor, team)
    if not role.at_least(Role.EDITOR):
        raise ServiceError(f"Purge reminders go to members with the Editor role or higher; yours in {team.name} "
                           f"is {role.label}, so you get none.")
    if receive:
        changed = ReminderOptOut.objects.filter(team=team, user=actor).delete()[0] > 0
    else:
        changed = ReminderOptOut.objects.get_or_create(team=team, user=actor)[1]
    if changed:
        audit.record(action="member.reminders", actor=actor, team=team, role=role, target_type="member",
                     target_id=actor.pk, target_label=actor.email,
                     changes={"purge_reminders": ["off" if receive else "on", "on" if receive else "off"]})
    return changed


def reminders_recent(*, team: Team, limit: int = 20) -> list[PurgeReminder]:
    return list(PurgeReminder.objects.filter(team=team, status=Status.SENT).select_related("server")
                .order_by("-sent_at", "-pk")[:limit])


# --- Sending -------------------------------------------------------------------------------------


# A run that took reminders and stopped (its worker killed, the machine gone) before it finished: after this
# long, its reminders are taken again, for the people it had not reached yet. A run takes seconds.
SENDING_LEASE = timedelta(hours=1)


def _to_send(now: datetime) -> Q:
    """Waiting reminders, and those a run took more than SENDING_LEASE ago without finishing."""
    return Q(status=Status.PENDING) | Q(status=Status.SENDING, claimed_at__lt=now - SENDING_LEASE)


def reminders_send(*, now: datetime | None = None) -> int:
    """E-mail every team's waiting reminders, one digest per person; how many e-mails went out."""
    now = now or timezone.now()
    teams = Team.objects.filter(pk__in=PurgeReminder.objects.filter(_to_send(now)).values("team_id"))
    return sum(_send_for_team(team, now) for team in teams)


def _send_for_team(team: Team, now: datetime) -> int:
    claim = uuid.uuid4().hex
    # One UPDATE: whichever run gets here first takes every waiting reminder; a run racing it takes none. Each
    # person reached is noted on the reminder at once (`sent_to`), so a run that takes over an abandoned one
    # e-mails only the others.
    PurgeReminder.objects.filter(_to_send(now), team=team).update(status=Status.SENDING, claim=claim, claimed_at=now)
    reminders = _still_due(list(PurgeReminder.objects.filter(claim=claim).select_related("server")), now)
    archivers = _archivers(team, reminders) if reminders else {}
    sent = 0
    for person in reminder_recipients(team=team):
        owed = [reminder for reminder in reminders if person.pk not in reminder.sent_to]
        if not owed:
            continue
        try:
            _send_digest(team, person, owed, archivers)
        except Exception:  # any backend's failure (SMTP, an HTTP API): what is left waits for the next run
            logger.exception("Purge reminders for team %s could not be e-mailed; the next run tries again", team.pk)
            PurgeReminder.objects.filter(claim=claim, status=Status.SENDING).update(status=Status.PENDING, claim="")
            return sent
        for reminder in owed:
            reminder.sent_to.append(person.pk)
        PurgeReminder.objects.bulk_update(owed, ["sent_to"])
        sent += 1
    _record_sent(team, reminders, now)
    return sent


def _still_due(reminders: list[PurgeReminder], now: datetime) -> list[PurgeReminder]:
    """The claimed reminders the copy still supports; a stream restored (or gone) since they were noted, or a
    reminder whose purge date already passed, is cancelled instead."""
    copies = last_known.load_many(list({reminder.server for reminder in reminders}))
    due, cancelled = [], []
    for reminder in reminders:
        copy = copies.get(reminder.server_id)
        stream = copy.find(reminder.stream_id) if copy else None
        if reminder.threshold == Threshold.PURGED or (
                stream is not None and stream.is_archived and _archive_moment(stream) == reminder.archived_at
                and purge_moment(stream) > now):
            due.append(reminder)
        else:
            cancelled.append(reminder.pk)
    PurgeReminder.objects.filter(pk__in=cancelled).update(status=Status.CANCELLED)
    return due


def _record_sent(team: Team, reminders: list[PurgeReminder], now: datetime) -> None:
    addresses = dict(User.objects.filter(pk__in={pk for item in reminders for pk in item.sent_to})
                     .values_list("pk", "email"))
    PurgeReminder.objects.filter(pk__in=[reminder.pk for reminder in reminders]).update(status=Status.SENT,
                                                                                       sent_at=now)
    for reminder in reminders:
        sent_to = ", ".join(sorted(addresses.get(pk, "a former member") for pk in reminder.sent_to))
        audit.record(action="stream.reminder", actor=None, actor_label=SENDER_LABEL, team=team,
                     target_type="stream", target_id=stream_target(reminder.server, reminder.stream_id),
                     target_label=f"{reminder.stream_id} on {reminder.server.name}"[:200],
                     changes={"sent_to": [None, sent_to or "nobody: every Editor or higher turned reminders off"]},
                     detail=f"The reminder {reminder.get_threshold_display()}, for the archive of "
                            f"{reminder.archived_at:%Y-%m-%d %H:%M} UTC.")


# --- The e-mail ------------------------------------------------------------------------------------


def _absolute(path: str) -> str:
    return settings.DASHBOARD_URL.rstrip("/") + path


def _archivers(team: Team, reminders: list[PurgeReminder]) -> dict[str, str]:
    """Who archived each stream, by its audit target, from the audit log (newest archive first): a member's
    name, or Postmark's words when it was done outside. Two queries however many streams."""
    targets = {stream_target(reminder.server, reminder.stream_id) for reminder in reminders}
    # The indexed stream column narrows the search to these streams' entries; the exact targets then decide.
    events = (AuditEvent.objects.for_team(team)
              .filter(stream_id__in={reminder.stream_id.lower() for reminder in reminders}, target_type="stream",
                      target_id__in=targets)
              .filter(Q(action="stream.archive", outcome=AuditEvent.Outcome.SUCCESS)
                      | Q(action="stream.outside.archive"))
              .only("target_id", "action", "actor_id", "actor_label"))
    latest: dict[str, AuditEvent] = {}
    for event in events:  # newest first
        latest.setdefault(event.target_id, event)
    names = {person.pk: person.get_full_name() for person in
             User.objects.filter(pk__in={event.actor_id for event in latest.values() if event.actor_id})}
    found = {target: ("someone in Postmark, outside this dashboard" if event.action == "stream.outside.archive"
                      else names.get(event.actor_id) or event.actor_label) for target, event in latest.items()}
    return {target: found.get(target, "someone, before this dashboard watched the server") for target in targets}


def _zone(person: User) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(person.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _item(team: Team, reminder: PurgeReminder, archivers: dict[str, str]) -> dict[str, Any]:
    purged = reminder.threshold == Threshold.PURGED
    restore = reverse("stream_restore", args=[team.slug, reminder.server_id, reminder.stream_id])
    return {"server": reminder.server.name, "name": reminder.stream_name, "id": reminder.stream_id,
            "purge_at": reminder.purge_at, "archived_by": archivers[stream_target(reminder.server, reminder.stream_id)],
            "restore_url": None if purged else _absolute(restore)}


SUBJECT_WORDS = {Threshold.PURGED: "deleted by Postmark", Threshold.ONE_DAY: "will be deleted within a day",
                 Threshold.SEVEN_DAYS: "will be deleted within 7 days"}


def _subject(team: Team, sections: list[dict[str, Any]]) -> str:
    """"Acme: 1 archived stream will be deleted within a day, 2 archived streams will be deleted within 7 days"."""
    counts = [f"{len(section['items'])} archived {'stream' if len(section['items']) == 1 else 'streams'} "
              f"{SUBJECT_WORDS[section['threshold']]}" for section in sections]
    return f"{team.name}: {', '.join(counts)}"


def _send_digest(team: Team, person: User, reminders: list[PurgeReminder], archivers: dict[str, str]) -> None:
    zone = _zone(person)
    order = sorted(reminders, key=lambda item: (item.purge_at, item.server.name, item.stream_id))
    sections = [{"heading": heading, "threshold": threshold, "purged": threshold == Threshold.PURGED,
                 "items": [_item(team, item, archivers) for item in order if item.threshold == threshold]}
                for threshold, heading in SECTIONS]
    sections = [section for section in sections if section["items"]]
    settings_url = _absolute(reverse("reminder_settings"))
    context = {"team": team, "person": person, "zone": zone.key, "settings_url": settings_url,
               "sections": sections, "team_url": _absolute(reverse("team_home", args=[team.slug]))}
    with timezone.override(zone):  # every time in the e-mail is in the reader's zone
        text, html = (render_to_string(f"reminders/email/digest.{kind}", context) for kind in ("txt", "html"))
    message = EmailMultiAlternatives(subject=_subject(team, sections), body=text, to=[person.email],
                                     headers={"List-Unsubscribe": f"<{settings_url}>"})
    message.attach_alternative(html, "text/html")
    message.send()
