"""How fresh the stream pages are, seen in a real browser: each page says when Postmark gave the streams it shows
("As of 14:02:11 UTC, 20 seconds ago") and offers "Refresh from Postmark"; a change made in Postmark itself shows
after a refresh and is named in the stream's history and the audit log; when Postmark fails, the last copy stays on
the page with a banner saying what happened and how old that copy is, never passing it off as current.

The live server runs in this process: the faults set on the sandbox hit the pages' own requests, and a copy is made
stale by moving its `fetched_at` back, not by waiting."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dashboard.postmark.client import SANDBOX_URL, PostmarkClient
from streams.models import StreamCopy
from tests.browser.conftest import PHONE
from tests.conftest import TOKEN_A

OUTSIDE = "Postmark (changed outside this dashboard)"
JUST_ASKED = re.compile(r"As of \d\d:\d\d:\d\d UTC, (just now|\d+ seconds ago)\.")
NOT_ANSWERING = ("Postmark isn't answering.", "Postmark isn't answering for Acme Production right now "
                                              "(it may be slow or down). Try again in a minute; nothing was changed.")
BUSY = ("Postmark is busy.", "Postmark asked us to slow down. Wait a few seconds and try again.")
REJECTED = ("Token rejected.", "Postmark rejected the token of Acme Production: it may have been reset or deleted "
                               "in Postmark. An admin can paste the current Server API token on the server's page.")


def _forget_the_token(sandbox):
    sandbox.reset()  # Postmark no longer knows the token: as after someone reset it in Postmark


def _know_the_token_again(sandbox):
    sandbox.add_server(TOKEN_A, name="Acme Production")


# fault -> (how Postmark goes wrong, how it recovers, what the banner says)
FAULTS = {
    "503": (lambda sandbox: sandbox.set_faults(status=503), lambda sandbox: sandbox.clear_faults(), NOT_ANSWERING),
    "429": (lambda sandbox: sandbox.set_faults(status=429), lambda sandbox: sandbox.clear_faults(), BUSY),
    "hang": (lambda sandbox: sandbox.set_faults(hang=True), lambda sandbox: sandbox.clear_faults(), NOT_ANSWERING),
    "token rejected": (_forget_the_token, _know_the_token_again, REJECTED),
}


@pytest.fixture
def postmark_in_trouble(settings, sandbox):
    """postmark_in_trouble(fault) makes Postmark go wrong as FAULTS says and returns the function that makes it well
    again. Meanwhile a page retries a failed call at once, and gives up on a hung Postmark after 0.3 s, which keeps
    the tests fast; before and after, the usual timeout holds: a busy machine must not look like Postmark in trouble."""
    usual = settings.POSTMARK_READ_TIMEOUT

    def go_wrong(fault: str):
        start, stop, _ = FAULTS[fault]
        settings.POSTMARK_RETRY_BACKOFF = 0
        if fault == "hang":  # only here: any slower answer would count as "not answering" too
            settings.POSTMARK_READ_TIMEOUT = 0.3
        start(sandbox)

        def recover():
            stop(sandbox)
            settings.POSTMARK_READ_TIMEOUT = usual

        return recover

    return go_wrong


@pytest.fixture
def postmark():
    """Postmark's own API for Acme Production, as someone using Postmark's pages (not this dashboard) changes it."""
    return PostmarkClient(TOKEN_A, base_url=SANDBOX_URL)


def as_of(page):
    return page.locator("[data-as-of]")


def banner(page):
    return page.locator("[data-trouble]")


def rows(page):
    return page.get_by_role("table").get_by_role("row")


def copy_made_older(server, *, minutes: int) -> datetime:
    """Move the server's last-known copy `minutes` into the past (a stale copy without waiting); its new moment."""
    told_at = timezone.now() - timedelta(minutes=minutes)
    assert StreamCopy.objects.filter(server=server).update(fetched_at=told_at) == 1, "the page took no copy"
    return told_at


def clock(moment: datetime) -> str:
    """A moment as the pages show it to a person in UTC (the browser's zone here): `14:02:11 UTC`."""
    return f"{moment.astimezone(UTC):%H:%M:%S} UTC"


def expect_stale_banner(page, words, told_at: datetime, *, minutes: int):
    heading, message = words
    alert = banner(page)
    expect(alert).to_have_count(1)
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_contain_text(heading)
    expect(alert).to_contain_text(message)
    expect(alert.locator("[data-stale]")).to_have_text(
        f"This page shows what Postmark said at {clock(told_at)}, {minutes} minutes ago; it may have changed since.")


# --- A change made in Postmark, and Refresh ------------------------------------------------------------------------


def test_a_change_made_in_postmark_shows_after_refresh_from_postmark_and_the_history_names_postmark(
        open_page, axe, editor, server_a, streams_url, postmark, settings):
    settings.STREAMS_FRESH_SECONDS = 3600  # the copy stays fresh for this whole test, however slow the machine
    page = open_page(editor)
    page.goto(streams_url)
    expect(as_of(page)).to_contain_text(JUST_ASKED)
    expect(rows(page).filter(has_text="Default Broadcast Stream")).to_have_count(1)
    axe(page)

    postmark.edit_stream("broadcast", name="Monthly newsletter")  # in Postmark's own pages, by someone else
    page.reload()
    expect(rows(page).filter(has_text="Default Broadcast Stream")).to_have_count(1)  # the fresh copy, not asked again
    expect(rows(page).filter(has_text="Monthly newsletter")).to_have_count(0)

    refresh = page.get_by_role("link", name="Refresh from Postmark for Acme Production")
    refresh.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"{streams_url}\?refresh=1$"))
    expect(rows(page).filter(has_text="Monthly newsletter")).to_have_count(1)
    expect(rows(page).filter(has_text="Default Broadcast Stream")).to_have_count(0)
    expect(as_of(page)).to_contain_text(JUST_ASKED)
    expect(banner(page)).to_have_count(0)
    axe(page)

    page.get_by_role("link", name="Monthly newsletter").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Monthly newsletter broadcast")
    entry = page.get_by_role("region", name="History").get_by_role("row").filter(has_text=OUTSIDE)
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("Name: Default Broadcast Stream → Monthly newsletter")
    axe(page)


def test_a_streams_history_does_not_claim_it_leaves_out_changes_made_in_postmark_while_listing_one(
        open_page, axe, viewer, server_a, streams_url, postmark):
    page = open_page(viewer)
    page.goto(streams_url)
    axe(page)
    postmark.edit_stream("broadcast", name="Monthly newsletter")
    page.get_by_role("link", name="Refresh from Postmark for Acme Production").click()
    page.get_by_role("link", name="Monthly newsletter").click()

    history = page.get_by_role("region", name="History")
    expect(history.get_by_role("row").filter(has_text=OUTSIDE)).to_have_count(1)
    axe(page)
    assert "Changes made directly in Postmark are not listed" not in history.inner_text()
    expect(history).to_contain_text("changes made directly in Postmark")


# --- Postmark in trouble, with a copy ------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS)
def test_when_postmark_fails_each_stream_page_keeps_its_last_copy_and_says_how_old_it_is_until_a_refresh(
        fault, open_page, axe, editor, team_a, server_a, streams_url, postmark_in_trouble):
    words = FAULTS[fault][2]
    page = open_page(editor)
    page.goto(streams_url)  # the first visit takes the copy
    expect(rows(page).filter(has_text="Default Broadcast Stream")).to_have_count(1)
    axe(page)
    told_at = copy_made_older(server_a, minutes=5)
    recover = postmark_in_trouble(fault)

    page.reload()
    expect_stale_banner(page, words, told_at, minutes=5)
    expect(as_of(page)).to_contain_text(f"Showing what Postmark said at {clock(told_at)}, 5 minutes ago.")
    expect(rows(page).filter(has_text="Default Broadcast Stream")).to_have_count(1)
    expect(rows(page).filter(has_text="Default Transactional Stream")).to_have_count(1)
    axe(page)

    overview = f"/t/{team_a.slug}/"
    page.goto(overview)
    card = page.get_by_role("article", name="Acme Production")
    expect(card).to_contain_text("3 of 10 stream slots used")  # the copy's counts
    expect_stale_banner(card, words, told_at, minutes=5)
    expect(as_of(page)).to_contain_text(f"Showing what Postmark said at {clock(told_at)}, 5 minutes ago.")
    axe(page)

    page.goto(f"{streams_url}broadcast/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Default Broadcast Stream broadcast")
    about = page.get_by_role("region", name="About this stream")
    expect(about).to_contain_text("Broadcasts")
    expect_stale_banner(page, words, told_at, minutes=5)
    expect(as_of(page)).to_contain_text(f"Showing what Postmark said at {clock(told_at)}, 5 minutes ago.")
    axe(page)

    recover()
    page.get_by_role("link", name="Refresh from Postmark for Acme Production").click()
    expect(page).to_have_url(re.compile(rf"{streams_url}broadcast/\?refresh=1$"))
    expect(banner(page)).to_have_count(0)
    expect(as_of(page)).to_contain_text(JUST_ASKED)
    expect(about).to_contain_text("Broadcasts")
    axe(page)

    page.goto(overview)  # the copy is fresh again: every page of the server says so
    expect(banner(page)).to_have_count(0)
    expect(card).to_contain_text("3 of 10 stream slots used")
    expect(card).not_to_contain_text("Token rejected")
    expect(as_of(page)).to_contain_text(JUST_ASKED)
    axe(page)
    page.goto(streams_url)
    expect(banner(page)).to_have_count(0)
    expect(as_of(page)).to_contain_text(JUST_ASKED)
    expect(rows(page).filter(has_text="Default Broadcast Stream")).to_have_count(1)


# --- Who sees it ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["viewer", "editor", "admin", "owner"])
def test_every_member_sees_how_old_the_streams_are_and_a_way_to_refresh_them(persona, request, open_page, axe,
                                                                             server_a, streams_url):
    page = open_page(request.getfixturevalue(persona))
    page.goto(streams_url)
    expect(as_of(page)).to_contain_text(JUST_ASKED)
    refresh = page.get_by_role("link", name="Refresh from Postmark for Acme Production")
    expect(refresh).to_be_visible()
    expect(refresh).to_have_attribute("href", f"{streams_url}?refresh=1")
    axe(page)


# --- Without JavaScript, and on a phone ----------------------------------------------------------------------------


def test_without_javascript_refresh_from_postmark_is_a_plain_link_and_the_stale_banner_shows(
        open_page, editor, server_a, streams_url, postmark, postmark_in_trouble):
    page = open_page(editor, javascript=False)
    page.goto(streams_url)
    postmark.edit_stream("broadcast", name="Monthly newsletter")
    told_at = copy_made_older(server_a, minutes=7)
    recover = postmark_in_trouble("503")

    page.reload()
    expect_stale_banner(page, NOT_ANSWERING, told_at, minutes=7)
    expect(rows(page).filter(has_text="Default Broadcast Stream")).to_have_count(1)  # the copy, not Postmark's news
    expect(rows(page).filter(has_text="Monthly newsletter")).to_have_count(0)

    recover()
    page.get_by_role("link", name="Refresh from Postmark for Acme Production").click()
    expect(page).to_have_url(re.compile(rf"{streams_url}\?refresh=1$"))
    expect(banner(page)).to_have_count(0)
    expect(as_of(page)).to_contain_text(JUST_ASKED)
    expect(rows(page).filter(has_text="Monthly newsletter")).to_have_count(1)
    expect(rows(page).filter(has_text="Default Broadcast Stream")).to_have_count(0)


def expect_to_fit_a_phone(page):
    """Neither the as-of line nor the banner reaches past the screen's edge, and the page can't be scrolled sideways."""
    for region in (banner(page), as_of(page)):
        box = region.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"{page.url}: {box} leaves the screen"
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide on a {PHONE['width']} px screen"


@pytest.mark.parametrize("fault", ["503", "token rejected"])
def test_on_a_phone_the_age_of_a_stale_copy_and_the_banner_fit_the_screen(
        fault, open_page, axe, viewer, team_a, server_a, streams_url, postmark_in_trouble):
    words = FAULTS[fault][2]
    page = open_page(viewer, viewport=PHONE)
    page.goto(streams_url)
    axe(page)
    told_at = copy_made_older(server_a, minutes=12)
    postmark_in_trouble(fault)

    page.reload()
    expect_stale_banner(page, words, told_at, minutes=12)
    expect(as_of(page)).to_contain_text(f"Showing what Postmark said at {clock(told_at)}, 12 minutes ago.")
    expect_to_fit_a_phone(page)
    axe(page)

    page.goto(f"/t/{team_a.slug}/")
    expect_stale_banner(page, words, told_at, minutes=12)
    expect_to_fit_a_phone(page)
    axe(page)


def test_on_a_phone_a_streams_page_with_a_stale_copy_fits_the_screen(
        open_page, axe, viewer, server_a, streams_url, postmark_in_trouble):
    page = open_page(viewer, viewport=PHONE)
    page.goto(streams_url)
    axe(page)
    told_at = copy_made_older(server_a, minutes=12)
    postmark_in_trouble("503")

    page.goto(f"{streams_url}broadcast/")
    expect_stale_banner(page, NOT_ANSWERING, told_at, minutes=12)
    axe(page)
    expect_to_fit_a_phone(page)


# --- The audit log -------------------------------------------------------------------------------------------------


def test_an_admin_finds_a_change_made_outside_the_dashboard_with_the_audit_logs_filter(
        open_page, axe, admin, team_a, server_a, streams_url, postmark):
    page = open_page(admin)
    page.goto(streams_url)
    axe(page)
    postmark.archive_stream("broadcast")
    page.get_by_role("link", name="Refresh from Postmark for Acme Production").click()
    expect(page).to_have_url(re.compile(rf"{streams_url}\?refresh=1$"))
    expect(rows(page).filter(has_text="Default Broadcast Stream")).to_have_count(0)  # archived: hidden by default

    page.get_by_role("navigation", name="Acme").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log of Acme")).to_be_visible()
    entries = page.locator("[data-entry]")
    expect(entries.filter(has_text="connected")).not_to_have_count(0)  # what people did here is listed too
    axe(page)

    page.get_by_label("What").select_option(label="Changed outside the dashboard")
    expect(page).to_have_url(re.compile(r"[?&]group=outside"))
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text(f"{OUTSIDE} archived stream broadcast on Acme Production")
    axe(page)
