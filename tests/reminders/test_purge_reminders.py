"""Purge reminders with the sandbox's clock: each one exactly once, per stream, archive and threshold."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from reminders.models import PurgeReminder
from reminders.services import SENDING_LEASE, reminder_set_receiving, reminders_note, reminders_send
from streams.services import stream_restore
from streams.tasks import watch_server
from tests.conftest import SPARE_TOKEN, TOKEN_A
from tests.reminders.helpers import archive, reminder_rows, reminders_sent, watch_and_remind

pytestmark = pytest.mark.django_db
Threshold, Status = PurgeReminder.Threshold, PurgeReminder.Status


@pytest.fixture
def team(team_a, owner, admin, editor, viewer):
    return team_a


@pytest.fixture
def news_archived(sandbox, team, editor, server_a):
    def archived(days_ago: float):
        archive(sandbox, TOKEN_A, actor=editor, team=team, server=server_a, days_ago=days_ago)

    return archived


def recipients(messages) -> list[str]:
    return sorted(address for message in messages for address in message.to)


def test_a_stream_archived_38_days_ago_gets_exactly_one_7_day_reminder_across_two_runs(news_archived, server_a,
                                                                                        mailoutbox):
    news_archived(38)

    watch_and_remind(server_a)
    watch_and_remind(server_a)

    assert recipients(mailoutbox) == ["adam@acme.example", "edith@acme.example", "olivia@acme.example"]
    assert all(message.subject == "Acme: 1 archived stream will be deleted within 7 days" for message in mailoutbox)
    [reminder] = reminder_rows()
    assert (reminder.threshold, reminder.status) == (Threshold.SEVEN_DAYS, Status.SENT)
    [event] = reminders_sent()
    assert event.target_id == f"{server_a.pk}/news" and event.actor_label == "Purge reminders"
    assert event.changes == {"sent_to": [None, "adam@acme.example, edith@acme.example, olivia@acme.example"]}
    assert "7 days before Postmark deletes it" in event.detail


def test_a_stream_archived_44_days_ago_gets_one_1_day_reminder_and_no_7_day_one(news_archived, server_a, mailoutbox):
    news_archived(44)

    watch_and_remind(server_a)
    watch_and_remind(server_a)

    assert len(mailoutbox) == 3
    assert all("deleted within a day" in message.subject for message in mailoutbox)
    assert [(row.threshold, row.status) for row in reminder_rows()] == [(Threshold.ONE_DAY, Status.SENT)]
    assert len(reminders_sent()) == 1


def test_the_7_day_then_the_1_day_reminder_then_one_notice_once_postmark_purged_the_stream(
        news_archived, sandbox, server_a, mailoutbox):
    news_archived(38)
    watch_and_remind(server_a)
    sandbox.backdate_archive(TOKEN_A, "news", days=6.99)  # 14 minutes before Postmark deletes it
    watch_and_remind(server_a)
    mailoutbox.clear()

    sandbox.advance_clock(hours=1)  # Postmark's purge
    watch_and_remind(server_a)
    watch_and_remind(server_a)

    assert len(mailoutbox) == 3
    assert all(message.subject == "Acme: 1 archived stream deleted by Postmark" for message in mailoutbox)
    assert "Deleted on" in mailoutbox[0].body and "restore it:" not in mailoutbox[0].body
    assert [row.threshold for row in reminder_rows(status=Status.SENT)] == [
        Threshold.SEVEN_DAYS, Threshold.ONE_DAY, Threshold.PURGED]
    notices = [event for event in reminders_sent() if "after Postmark deleted it" in event.detail]
    assert len(notices) == 1 and len(reminders_sent()) == 3


def test_restoring_before_a_threshold_sends_nothing(news_archived, team, editor, server_a, mailoutbox):
    news_archived(30)  # 15 days left: no threshold yet
    watch_and_remind(server_a)

    stream_restore(actor=editor, team=team, server=server_a, stream_id="news")
    watch_and_remind(server_a)

    assert mailoutbox == [] and reminder_rows() == [] and reminders_sent() == []


def test_restoring_cancels_a_reminder_that_was_due_but_not_yet_sent(news_archived, team, editor, server_a,
                                                                     mailoutbox):
    news_archived(38)
    watch_server.call(str(server_a.pk))
    reminders_note()
    assert [row.status for row in reminder_rows()] == [Status.PENDING]

    stream_restore(actor=editor, team=team, server=server_a, stream_id="news")
    reminders_send()
    watch_and_remind(server_a)

    assert mailoutbox == [] and reminders_sent() == []
    assert [row.status for row in reminder_rows()] == [Status.CANCELLED]


def test_archiving_again_after_a_restore_is_a_new_archive_with_reminders_of_its_own(news_archived, sandbox, team,
                                                                                     editor, server_a, mailoutbox):
    news_archived(38)
    watch_and_remind(server_a)
    stream_restore(actor=editor, team=team, server=server_a, stream_id="news")
    watch_and_remind(server_a)

    from streams.services import stream_archive

    stream_archive(actor=editor, team=team, server=server_a, stream_id="news", confirmation="news")
    sandbox.backdate_archive(TOKEN_A, "news", days=39)
    watch_and_remind(server_a)

    assert len(mailoutbox) == 6 and len(reminders_sent()) == 2
    assert len({row.archived_at for row in reminder_rows(status=Status.SENT)}) == 2


def test_viewers_and_people_who_turned_reminders_off_get_none(news_archived, team, editor, admin, server_a,
                                                               mailoutbox):
    reminder_set_receiving(actor=editor, team=team, receive=False)
    reminder_set_receiving(actor=admin, team=team, receive=False)
    news_archived(38)

    watch_and_remind(server_a)

    assert recipients(mailoutbox) == ["olivia@acme.example"]
    assert reminders_sent()[0].changes == {"sent_to": [None, "olivia@acme.example"]}


def test_one_digest_per_team_lists_every_stream_of_every_server(sandbox, team, owner, editor, server_a, mailoutbox):
    from dashboard.services.servers import server_connect

    sandbox.add_server(SPARE_TOKEN, name="Acme Staging")
    staging = server_connect(actor=owner, team=team, name="Acme Staging", token=SPARE_TOKEN, sandbox=True)
    archive(sandbox, TOKEN_A, actor=editor, team=team, server=server_a, days_ago=38)
    archive(sandbox, SPARE_TOKEN, actor=editor, team=team, server=staging, stream_id="promo", name="Spring promo",
            days_ago=44)

    watch_and_remind(server_a, staging)

    assert len(mailoutbox) == 3
    body = mailoutbox[0].body
    assert "Monthly news (ID news) on Acme Production" in body and "Spring promo (ID promo) on Acme Staging" in body
    assert body.index("DELETED WITHIN A DAY") < body.index("DELETED WITHIN 7 DAYS")
    assert mailoutbox[0].subject == ("Acme: 1 archived stream will be deleted within a day, "
                                     "1 archived stream will be deleted within 7 days")
    assert len(reminders_sent()) == 2


def test_the_digest_says_when_in_the_readers_zone_who_archived_it_and_how_to_restore_it(
        news_archived, editor, team, server_a, mailoutbox, settings):
    settings.DASHBOARD_URL = "https://streams.example.com"
    editor.time_zone = "Asia/Tokyo"
    editor.save()
    news_archived(38)

    watch_and_remind(server_a)

    [message] = [message for message in mailoutbox if message.to == ["edith@acme.example"]]
    purge_at = reminder_rows()[0].purge_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    restore = f"https://streams.example.com/t/{team.slug}/servers/{server_a.pk}/streams/news/restore/"
    assert f"Postmark deletes it on {purge_at:%-d %B %Y, %H:%M} JST. Archived by Edith Editor." in message.body
    assert f"To keep it, restore it: {restore}" in message.body
    assert "Times are in Asia/Tokyo." in message.body
    assert message.extra_headers["List-Unsubscribe"] == "<https://streams.example.com/accounts/reminders/>"
    [(html, kind)] = message.alternatives
    assert kind == "text/html" and f'href="{restore}"' in html and "Edith Editor" in html
    for part in (message.subject, message.body, html):
        assert TOKEN_A not in part and TOKEN_A.replace("-", "") not in part


def test_when_the_mail_server_fails_the_reminder_waits_and_goes_out_once_on_the_next_run(
        news_archived, server_a, settings, unused_port):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", unused_port, 5
    news_archived(38)

    watch_and_remind(server_a)
    assert [row.status for row in reminder_rows()] == [Status.PENDING] and reminders_sent() == []

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    watch_and_remind(server_a)
    watch_and_remind(server_a)
    assert len(mail.outbox) == 3 and len(reminders_sent()) == 1


def test_a_claimed_reminder_is_never_sent_by_a_second_run(news_archived, server_a, mailoutbox):
    news_archived(38)
    watch_server.call(str(server_a.pk))
    reminders_note()
    # Another run is sending it right now.
    PurgeReminder.objects.update(status=Status.SENDING, claim="another-run", claimed_at=timezone.now())

    watch_and_remind(server_a)

    assert mailoutbox == [] and reminders_sent() == []


def test_a_reminder_left_half_sent_by_a_run_that_stopped_goes_to_the_others_after_an_hour(
        news_archived, server_a, editor, mailoutbox):
    news_archived(38)
    watch_server.call(str(server_a.pk))
    reminders_note()
    # A run took it, e-mailed the editor and was killed before it finished.
    taken = timezone.now() - SENDING_LEASE
    PurgeReminder.objects.update(status=Status.SENDING, claim="a-killed-run", claimed_at=taken + timedelta(minutes=1),
                                 sent_to=[editor.pk])
    watch_and_remind(server_a)
    assert mailoutbox == []  # within the hour it may still be running: left alone

    PurgeReminder.objects.update(claimed_at=taken - timedelta(minutes=1))
    watch_and_remind(server_a)

    assert recipients(mailoutbox) == ["adam@acme.example", "olivia@acme.example"]
    [reminder] = reminder_rows()
    assert reminder.status == Status.SENT
    [event] = reminders_sent()
    assert event.changes == {"sent_to": [None, "adam@acme.example, edith@acme.example, olivia@acme.example"]}


def test_a_stream_deleted_in_postmark_before_its_date_gets_no_notice(news_archived, server_a, sandbox, mailoutbox):
    from dashboard.postmark.sandbox import Sandbox, install

    news_archived(38)
    watch_and_remind(server_a)
    mailoutbox.clear()
    fresh = Sandbox()  # a Postmark where the stream is gone 7 days early (deleted by its support, say)
    fresh.add_server(TOKEN_A, name="Acme Production")
    install(fresh)
    try:
        watch_and_remind(server_a)
    finally:
        install(sandbox)

    assert mailoutbox == [] and len(reminders_sent()) == 1


def test_a_purge_date_more_than_7_days_away_is_not_due(news_archived, server_a, mailoutbox):
    news_archived(37.9)

    watch_and_remind(server_a)

    assert mailoutbox == [] and reminder_rows() == []
