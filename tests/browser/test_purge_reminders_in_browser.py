"""Purge reminders in a real browser: a person turns them off and on for a team from the time zone page (with the
mouse, the keyboard alone, and JavaScript off), an owner sees who receives them, and both pages fit a phone."""

import pytest
from playwright.sync_api import expect

from reminders.models import ReminderOptOut
from tests.browser.conftest import PHONE, toasts
from tests.conftest import TOKEN_A
from tests.reminders.helpers import archive, watch_and_remind


def expect_to_fit_a_phone(page):
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide on a {PHONE['width']} px screen"


def test_an_editor_finds_the_reminders_from_the_time_zone_page_and_turns_them_off_and_on(open_page, axe, editor,
                                                                                          team_a):
    page = open_page(editor)
    page.goto("/accounts/preferences/")
    axe(page)
    page.get_by_role("link", name="Turn purge reminders on or off for each team").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Purge reminders")
    acme = page.get_by_role("row").filter(has_text="Acme")
    expect(acme).to_contain_text("On")
    axe(page)
    acme.get_by_role("button", name="Turn off for Acme").click()

    expect(toasts(page)).to_contain_text("Purge reminders for Acme are off.")
    expect(acme.get_by_role("button", name="Turn on for Acme")).to_be_visible()
    assert ReminderOptOut.objects.filter(team=team_a, user=editor).exists()
    axe(page)
    acme.get_by_role("button", name="Turn on for Acme").click()
    expect(toasts(page)).to_contain_text("Purge reminders for Acme are on")
    assert not ReminderOptOut.objects.filter(team=team_a, user=editor).exists()


def test_an_editor_turns_reminders_off_with_the_keyboard_alone(open_page, axe, editor, team_a):
    page = open_page(editor)
    page.goto("/accounts/reminders/")
    axe(page)
    button = page.get_by_role("button", name="Turn off for Acme")
    for _ in range(40):  # Tab through the page until the button has the focus, as a keyboard user does
        page.keyboard.press("Tab")
        if button.evaluate("element => element === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached “Turn off for Acme”")
    page.keyboard.press("Enter")

    expect(toasts(page)).to_contain_text("Purge reminders for Acme are off.")
    expect(page.get_by_role("button", name="Turn on for Acme")).to_be_visible()
    axe(page)


def test_reminders_are_turned_off_without_javascript(open_page, editor, team_a):
    page = open_page(editor, javascript=False)
    page.goto("/accounts/reminders/")
    page.get_by_role("button", name="Turn off for Acme").click()

    expect(page.get_by_text("Purge reminders for Acme are off.")).to_be_visible()
    expect(page.get_by_role("button", name="Turn on for Acme")).to_be_visible()
    assert ReminderOptOut.objects.filter(team=team_a, user=editor).exists()


def test_an_owner_sees_who_receives_reminders_and_what_was_sent_on_a_phone(open_page, axe, sandbox, owner, admin,
                                                                          editor, viewer, team_a, server_a):
    ReminderOptOut.objects.create(team=team_a, user=admin)
    archive(sandbox, TOKEN_A, actor=editor, team=team_a, server=server_a, days_ago=38)
    watch_and_remind(server_a)
    page = open_page(owner, viewport=PHONE)
    page.goto("/accounts/reminders/")
    axe(page)
    expect_to_fit_a_phone(page)
    page.get_by_role("link", name="(who receives them)").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Purge reminders of Acme")
    audience = page.locator("section[aria-labelledby=audience-heading]")  # its table's scroll box is a region too
    expect(audience.get_by_role("row").filter(has_text="adam@acme.example")).to_contain_text("Turned off")
    expect(audience.get_by_role("row").filter(has_text="edith@acme.example")).to_contain_text("Receives them")
    expect(audience).not_to_contain_text("victor@acme.example")
    expect(page.locator("section[aria-labelledby=recent-heading]")).to_contain_text("Monthly news")
    axe(page)
    expect_to_fit_a_phone(page)
