"""The purge reminder pages: a person's own switch per team, and who receives them, for owners."""

import pytest
from django.urls import reverse

from dashboard.models import AuditEvent
from reminders.models import PurgeReminder, ReminderOptOut
from tests.conftest import TOKEN_A
from tests.reminders.helpers import archive, watch_and_remind

pytestmark = pytest.mark.django_db
SETTINGS = reverse("reminder_settings")
CHANGE = reverse("reminder_settings_change")


def page_of(team) -> str:
    return reverse("team_reminders", args=[team.slug])


@pytest.mark.parametrize(("persona", "status"), [
    ("anonymous", 302), ("outsider", 404), ("viewer", 403), ("editor", 403), ("admin", 403), ("owner", 200)])
def test_only_owners_see_who_receives_the_teams_reminders(persona, status, cast, team_a, client_as):
    response = client_as(cast[persona]).get(page_of(team_a))

    assert response.status_code == status


def test_owners_see_every_editor_or_higher_and_whether_they_turned_reminders_off(cast, team_a, client_as):
    ReminderOptOut.objects.create(team=team_a, user=cast["admin"])

    text = client_as(cast["owner"]).get(page_of(team_a)).content.decode()

    assert "edith@acme.example" in text and "olivia@acme.example" in text
    assert "victor@acme.example" not in text  # viewers get none
    admin_row = text[text.index("adam@acme.example"):]
    assert admin_row.index("Turned off") < admin_row.index("</tr>")


def test_owners_see_the_reminders_sent_lately(sandbox, cast, team_a, server_a, client_as, mailoutbox):
    archive(sandbox, TOKEN_A, actor=cast["editor"], team=team_a, server=server_a, days_ago=38)
    watch_and_remind(server_a)

    text = client_as(cast["owner"]).get(page_of(team_a)).content.decode()

    assert "Monthly news" in text and "7 days before Postmark deletes it" in text


@pytest.mark.parametrize("persona", ["editor", "admin", "owner"])
def test_an_editor_or_higher_turns_reminders_off_and_on_again(persona, cast, team_a, client_as):
    person = cast[persona]
    browser = client_as(person)

    off = browser.post(CHANGE, {"team": team_a.slug, "receive": "off"}, follow=True)
    assert ReminderOptOut.objects.filter(team=team_a, user=person).exists()
    assert "Purge reminders for Acme are off." in off.content.decode()
    assert "Turn on for Acme" in off.content.decode()

    browser.post(CHANGE, {"team": team_a.slug, "receive": "on"})
    assert not ReminderOptOut.objects.filter(team=team_a, user=person).exists()
    events = AuditEvent.objects.filter(action="member.reminders", actor_id=person.pk).order_by("id")
    assert [event.changes for event in events] == [{"purge_reminders": ["on", "off"]},
                                                   {"purge_reminders": ["off", "on"]}]


def test_a_viewer_is_told_reminders_go_to_editors_and_can_change_nothing(cast, team_a, client_as):
    browser = client_as(cast["viewer"])

    assert "None: they go to Editors and above" in browser.get(SETTINGS).content.decode()
    answer = browser.post(CHANGE, {"team": team_a.slug, "receive": "off"}, follow=True)
    assert "yours in Acme is Viewer, so you get none" in answer.content.decode()
    assert not ReminderOptOut.objects.exists()


def test_a_team_one_is_not_in_changes_nothing_and_says_so_as_for_a_team_that_does_not_exist(cast, team_a, team_b,
                                                                                          client_as):
    browser = client_as(cast["editor"])

    for slug in (team_b.slug, "no-such-team"):
        answer = browser.post(CHANGE, {"team": slug, "receive": "off"}, follow=True)
        assert "You are not a member of that team" in answer.content.decode()
    assert not ReminderOptOut.objects.exists()


def test_signing_in_is_needed_for_ones_reminder_settings(client_as):
    assert client_as(None).get(SETTINGS).status_code == 302
    assert client_as(None).post(CHANGE, {"team": "acme", "receive": "off"}).status_code == 302


def test_the_time_zone_page_leads_to_the_reminder_settings(cast, client_as):
    text = client_as(cast["editor"]).get(reverse("preferences")).content.decode()

    assert f'href="{SETTINGS}"' in text


def test_a_reminder_links_to_the_settings_page_it_unsubscribes_from(sandbox, cast, team_a, server_a, mailoutbox,
                                                                    client_as):
    archive(sandbox, TOKEN_A, actor=cast["editor"], team=team_a, server=server_a, days_ago=38)
    watch_and_remind(server_a)

    link = mailoutbox[0].extra_headers["List-Unsubscribe"].strip("<>")
    assert link.endswith(SETTINGS)
    assert client_as(cast["editor"]).get(SETTINGS).status_code == 200
    assert PurgeReminder.objects.get().status == PurgeReminder.Status.SENT


def test_the_audit_log_tells_of_each_reminder_sent_and_of_turning_them_off(sandbox, cast, team_a, server_a,
                                                                            client_as, mailoutbox):
    archive(sandbox, TOKEN_A, actor=cast["editor"], team=team_a, server=server_a, days_ago=38)
    watch_and_remind(server_a)
    client_as(cast["editor"]).post(CHANGE, {"team": team_a.slug, "receive": "off"})

    text = " ".join(client_as(cast["admin"]).get(reverse("audit_log", args=[team_a.slug])).content.decode().split())

    assert "e-mailed a purge reminder about stream news on Acme Production" in text
    assert "turned their purge reminders on or off" in text
    assert "Sent to" in text and "adam@acme.example, edith@acme.example, olivia@acme.example" in text


@pytest.mark.parametrize(("persona", "offered"), [("owner", True), ("admin", False), ("viewer", False)])
def test_the_members_page_leads_owners_to_who_gets_purge_reminders(persona, offered, cast, team_a, client_as):
    text = client_as(cast[persona]).get(reverse("member_list", args=[team_a.slug])).content.decode()

    assert (f'href="{page_of(team_a)}"' in text) is offered
