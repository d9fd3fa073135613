"""Each person's time zone: their choice, else their browser's (the `tz` cookie), else UTC; the page where
they choose it; and the filters that show every time in it, with the zone's name beside it."""

import html
import re
from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from dashboard.models import AuditEvent
from dashboard.services import ServiceError
from dashboard.services.accounts import account_set_time_zone
from dashboard.templatetags.dashboard import zone_label as local_time_label

pytestmark = pytest.mark.django_db

MOMENT = datetime(2026, 11, 23, 16, 53, tzinfo=UTC)


def page(response) -> str:
    return html.unescape(response.content.decode())


def text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", page(response)).split())


def field_errors(response, field: str) -> str:
    found = re.search(rf'<ul class="field__errors" id="id_{field}_errors">(.*?)</ul>', response.content.decode(), re.S)
    return " ".join(html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", found.group(1))) if found else ""


def shown_in(zone: str, moment: datetime) -> str:
    with timezone.override(zone):
        return Template("{% load dashboard %}{{ moment|local_time }}").render(Context({"moment": moment}))


def server_page(client, server):
    return client.get(reverse("server_detail", args=[server.team.slug, server.pk]))


# --- The filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("zone", "words"), [
    ("Europe/Berlin", "23 November 2026, 17:53 CET"),
    ("America/New_York", "23 November 2026, 11:53 EST"),
    ("UTC", "23 November 2026, 16:53 UTC"),
    ("Europe/Istanbul", "23 November 2026, 19:53 UTC+03:00"),
    ("Asia/Kathmandu", "23 November 2026, 22:38 UTC+05:45"),
    ("Pacific/Auckland", "24 November 2026, 05:53 NZDT"),
])
def test_local_time_shows_the_moment_in_the_active_zone_with_its_name(zone, words):
    assert shown_in(zone, MOMENT) == words


def test_summer_time_has_its_own_name():
    assert shown_in("Europe/Berlin", datetime(2026, 7, 1, 10, 0, tzinfo=UTC)) == "1 July 2026, 12:00 CEST"


def test_local_date_is_the_day_in_the_active_zone():
    with timezone.override("Pacific/Auckland"):
        shown = Template("{% load dashboard %}{{ moment|local_date }}").render(Context({"moment": MOMENT}))
    assert shown == "24 November 2026"


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Pacific/Auckland"])
def test_the_filters_write_what_djangos_date_format_writes(zone):
    # They write the text out themselves for speed; Django's own formatting is the reference they must match.
    from django.utils.dateformat import format as django_format

    moments = [datetime(2026, month, day, hour, minute, second, tzinfo=UTC)
               for month, day, hour, minute, second in [(1, 1, 0, 0, 0), (3, 29, 1, 30, 5), (7, 4, 23, 59, 59),
                                                        (10, 25, 0, 59, 1), (12, 31, 12, 5, 9)]]
    rendered = Template("{% load dashboard %}{{ m|local_time }}|{{ m|local_date }}|{{ m|clock_time }}")
    with timezone.override(zone):
        for moment in moments:
            local = timezone.localtime(moment)
            label = local_time_label(local)
            expected = (f"{django_format(local, 'j F Y, H:i')} {label}|{django_format(local, 'j F Y')}|"
                        f"{django_format(local, 'H:i:s')} {label}")
            assert rendered.render(Context({"m": moment})) == expected


def test_nothing_is_shown_for_a_missing_time():
    shown = Template("{% load dashboard %}[{{ none|local_time }}][{{ none|local_date }}][{{ none|local_time_tag }}]")
    assert shown.render(Context({"none": None})) == "[][][]"


def test_the_time_tag_carries_the_moment_in_utc_for_machines():
    with timezone.override("Europe/Berlin"):
        shown = Template("{% load dashboard %}{{ moment|local_time_tag }}").render(Context({"moment": MOMENT}))
    assert shown == '<time datetime="2026-11-23T16:53:00Z">23 November 2026, 17:53 CET</time>'


# --- Which zone a request is shown in ---------------------------------------------------------------


def test_a_person_who_chose_berlin_sees_times_in_cet_or_cest(client_as, owner, server_a):
    owner.time_zone = "Europe/Berlin"
    owner.save()

    shown = page(server_page(client_as(owner), server_a))

    assert shown_in("Europe/Berlin", server_a.connected_at) in shown
    assert re.search(r", \d\d:\d\d CES?T", shown)
    assert "Time zone: CE" in shown


def test_the_browsers_zone_is_used_when_the_person_chose_none(client_as, owner, server_a):
    browser = client_as(owner)
    browser.cookies["tz"] = "Asia/Tokyo"

    shown = page(server_page(browser, server_a))

    assert shown_in("Asia/Tokyo", server_a.connected_at) in shown
    assert "JST" in shown


def test_the_persons_choice_wins_over_the_browsers_zone(client_as, owner, server_a):
    owner.time_zone = "America/New_York"
    owner.save()
    browser = client_as(owner)
    browser.cookies["tz"] = "Asia/Tokyo"

    shown = page(server_page(browser, server_a))

    assert shown_in("America/New_York", server_a.connected_at) in shown
    assert "JST" not in shown


@pytest.mark.parametrize("cookie", ["Mars/Olympus_Mons", "localtime", "../../etc/passwd", "<script>", ""])
def test_a_made_up_browser_zone_is_ignored_and_times_are_in_utc(client_as, owner, server_a, cookie):
    browser = client_as(owner)
    browser.cookies["tz"] = cookie

    response = server_page(browser, server_a)

    assert response.status_code == 200
    assert shown_in("UTC", server_a.connected_at) in page(response)
    assert "Time zone: UTC" in page(response)


def test_a_saved_zone_that_no_longer_exists_falls_back_to_the_browser(client_as, owner, server_a):
    owner.time_zone = "Atlantis/Capital"
    owner.save()
    browser = client_as(owner)
    browser.cookies["tz"] = "Europe/Berlin"

    assert shown_in("Europe/Berlin", server_a.connected_at) in page(server_page(browser, server_a))


def test_the_zone_is_put_back_to_utc_after_each_request(client_as, owner):
    owner.time_zone = "Asia/Tokyo"
    owner.save()

    client_as(owner).get(reverse("preferences"))

    assert timezone.get_current_timezone_name() == "UTC"


@pytest.mark.parametrize("name", ["login", "password_reset"])
def test_pages_for_people_not_signed_in_still_work_with_or_without_a_browser_zone(client, name):
    assert client.get(reverse(name)).status_code == 200
    client.cookies["tz"] = "Europe/Berlin"
    assert client.get(reverse(name)).status_code == 200
    client.cookies["tz"] = "Nowhere/Special"
    assert client.get(reverse(name)).status_code == 200


def test_the_preferences_page_asks_a_visitor_to_sign_in_first(client):
    response = client.get(reverse("preferences"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- The "Your time zone" page ----------------------------------------------------------------------


def test_the_page_explains_what_the_zone_is_for_and_names_the_browsers_zone(client_as, owner):
    browser = client_as(owner)
    browser.cookies["tz"] = "Europe/Berlin"

    shown = page(browser.get(reverse("preferences")))

    assert "such as when Postmark deletes an archived stream" in shown
    assert "Use my browser's time zone (Europe/Berlin)" in shown
    assert "the zone your browser reports" in shown
    assert '<optgroup label="Europe">' in shown
    assert re.search(r'<option value="Europe/Berlin">Berlin \(UTC\+0[12]:00\)</option>', shown)


def test_without_a_browser_zone_the_page_says_times_are_in_utc(client_as, owner):
    response = client_as(owner).get(reverse("preferences"))

    assert "Use my browser's time zone</option>" in page(response)
    assert "Right now they are shown in UTC, because you have not chosen a zone" in text(response)


def test_saving_a_zone_shows_times_in_it_from_then_on(client_as, owner, server_a):
    browser = client_as(owner)

    response = browser.post(reverse("preferences"), {"time_zone": "Europe/Berlin"}, follow=True)

    owner.refresh_from_db()
    assert owner.time_zone == "Europe/Berlin"
    assert response.redirect_chain[-1][0] == reverse("preferences")
    message = [str(m) for m in response.context["messages"]][0]
    assert message.startswith("Saved. Times are now shown in Europe/Berlin (CE")
    assert re.search(r'<option value="Europe/Berlin" selected>', response.content.decode())
    assert shown_in("Europe/Berlin", server_a.connected_at) in page(server_page(browser, server_a))
    event = AuditEvent.objects.get(action="account.time_zone")
    assert event.actor_id == owner.pk
    assert event.changes == {"time_zone": ["browser's zone", "Europe/Berlin"]}


def test_choosing_the_browsers_zone_again_clears_the_choice(client_as, owner):
    owner.time_zone = "Asia/Tokyo"
    owner.save()
    browser = client_as(owner)
    browser.cookies["tz"] = "Europe/Berlin"

    response = browser.post(reverse("preferences"), {"time_zone": ""}, follow=True)

    owner.refresh_from_db()
    assert owner.time_zone == ""
    assert "Saved. Times now follow your browser's time zone, Europe/Berlin" in page(response)


def test_a_made_up_zone_is_refused_on_the_field_and_nothing_changes(client_as, owner):
    owner.time_zone = "Asia/Tokyo"
    owner.save()

    response = client_as(owner).post(reverse("preferences"), {"time_zone": "Mars/Olympus_Mons"})

    assert response.status_code == 200
    assert "'Mars/Olympus_Mons' is not a time zone we know" in field_errors(response, "time_zone")
    owner.refresh_from_db()
    assert owner.time_zone == "Asia/Tokyo"
    [refused] = AuditEvent.objects.filter(action="account.time_zone")
    assert (refused.outcome, refused.actor_id) == ("refused", owner.pk)
    assert refused.detail.startswith("'Mars/Olympus_Mons' is not a time zone we know.")


def test_the_service_refuses_an_unknown_zone_on_its_field(owner):
    with pytest.raises(ServiceError) as refusal:
        account_set_time_zone(actor=owner, time_zone="Europe/Gotham")
    assert refusal.value.field == "time_zone"


def test_the_service_accepts_any_zone_of_the_database_even_an_old_alias(owner):
    account_set_time_zone(actor=owner, time_zone="US/Eastern")
    owner.refresh_from_db()
    assert owner.time_zone == "US/Eastern"


def test_the_preferences_page_makes_few_queries(client_as, owner, django_assert_max_num_queries):
    browser = client_as(owner)
    with django_assert_max_num_queries(6):
        assert browser.get(reverse("preferences")).status_code == 200


@pytest.mark.parametrize("chosen", ["", "Europe/Berlin", "US/Eastern", "UTC", 'Not<a>"zone"'])
def test_the_time_zone_select_is_the_markup_djangos_own_select_gives(chosen):
    from django import forms

    from dashboard.forms import TimeZoneForm

    form = TimeZoneForm(initial={"time_zone": chosen}, browser_zone="Asia/Tokyo")
    ours = str(form["time_zone"])
    field = form.fields["time_zone"]
    field.widget = forms.Select(attrs=field.widget.attrs, choices=field.widget.choices)
    assert ours == str(form["time_zone"])
    assert ours.count("<option") > 400
