"""Postmark in trouble, seen in a real browser: when the sandbox answers 503 or 429, or does not answer at all, the
stream pages show a banner in plain words and stay usable (the team's navigation, the way back), the filtered table
that htmx swaps in says the same, and once Postmark answers again a reload shows the streams and no banner.

The live server runs in this process, so the faults the test sets on the sandbox hit the pages' own requests."""

import re

import pytest
from playwright.sync_api import expect

BUSY = ("Postmark is busy.", "Postmark asked us to slow down. Wait a few seconds and try again.")
NOT_ANSWERING = ("Postmark isn't answering.", "Postmark isn't answering for Acme Production right now "
                                              "(it may be slow or down). Try again in a minute; nothing was changed.")
# fault -> (what the sandbox does, what the banner says)
FAULTS = {
    "503": ({"status": 503}, NOT_ANSWERING),
    "429": ({"status": 429}, BUSY),
    "hang": ({"hang": True}, NOT_ANSWERING),
}


@pytest.fixture
def postmark_gives_up_quickly(settings):
    """A hung Postmark costs a page the read timeout; a short one keeps these tests fast. Returns a function that
    puts the usual timeout back, so the pages after the trouble are not held to the short one."""
    usual = settings.POSTMARK_READ_TIMEOUT
    settings.POSTMARK_READ_TIMEOUT = 0.3

    def restore():
        settings.POSTMARK_READ_TIMEOUT = usual

    return restore


def banner(page):
    return page.locator("[data-trouble]")


def expect_banner(page, words):
    heading, message = words
    alert = banner(page)
    expect(alert).to_have_count(1)
    expect(alert).to_have_attribute("role", "alert")  # read out by a screen reader as it appears
    expect(alert).to_contain_text(heading)
    expect(alert).to_contain_text(message)
    expect(alert).not_to_contain_text("Token rejected")
    expect(alert.get_by_role("link", name="Try again")).to_be_visible()


@pytest.mark.parametrize("fault", FAULTS)
def test_an_editor_is_told_in_plain_words_that_postmark_is_in_trouble_and_can_still_find_their_way(
        fault, open_page, axe, editor, team_a, server_a, sandbox, postmark_gives_up_quickly):
    faults, words = FAULTS[fault]
    streams = f"/t/{team_a.slug}/servers/{server_a.pk}/streams/"
    sandbox.set_faults(**faults)
    page = open_page(editor)

    page.goto(streams)
    expect(page.get_by_role("heading", name="Streams of Acme Production")).to_be_visible()
    expect_banner(page, words)
    expect(page.get_by_role("table")).to_have_count(0)
    axe(page)

    page.get_by_role("navigation", name="Acme").get_by_role("link", name="Members").click()
    expect(page.get_by_role("heading", name="Members of Acme")).to_be_visible()
    expect(banner(page)).to_have_count(0)  # a page that does not ask Postmark is not affected
    axe(page)
    page.go_back()
    expect(page).to_have_url(re.compile(rf"{streams}$"))
    expect_banner(page, words)

    page.goto(f"{streams}broadcast/")  # a stream's page, from a bookmark: the list can't link to it now
    expect(page.get_by_role("heading", level=1)).to_contain_text("broadcast")
    expect_banner(page, words)
    expect(page.get_by_text("This stream's details will show here as soon as Postmark answers.")).to_be_visible()
    axe(page)

    page.get_by_role("navigation", name="Acme").get_by_role("link", name="Servers").click()
    expect(page.get_by_role("heading", name="Acme Production")).to_be_visible()
    expect_banner(page, words)
    axe(page)
    page.go_back()
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Streams of Acme Production").click()
    expect(page).to_have_url(re.compile(rf"{streams}$"))
    expect_banner(page, words)

    sandbox.clear_faults()
    postmark_gives_up_quickly()
    page.reload()
    expect(banner(page)).to_have_count(0)
    rows = page.get_by_role("table").get_by_role("row")
    expect(rows.filter(has_text="Default Broadcast Stream")).to_have_count(1)
    expect(rows.filter(has_text="Default Transactional Stream")).to_have_count(1)
    axe(page)
    page.get_by_role("link", name="Default Broadcast Stream").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Default Broadcast Stream")
    expect(page.get_by_role("region", name="About this stream")).to_contain_text("Broadcasts")
    expect(banner(page)).to_have_count(0)
    axe(page)


@pytest.mark.parametrize("fault", ["503", "hang"])
def test_a_viewer_filtering_the_streams_keeps_postmarks_last_answer_with_its_age_and_the_banner_until_it_answers(
        fault, open_page, axe, viewer, team_a, server_a, sandbox, postmark_gives_up_quickly, settings):
    settings.STREAMS_FRESH_SECONDS = 0  # every view of the list asks Postmark
    faults, words = FAULTS[fault]
    streams = f"/t/{team_a.slug}/servers/{server_a.pk}/streams/"
    page = open_page(viewer)
    page.goto(streams)
    expect(page.get_by_role("table").get_by_role("row").filter(has_text="Default Broadcast Stream")).to_be_visible()
    expect(page.locator("[data-as-of]")).to_contain_text("As of")
    axe(page)

    sandbox.set_faults(**faults)
    page.get_by_role("radio", name=re.compile(r"^Broadcasts")).check()
    expect(page).to_have_url(re.compile(r"\?type=broadcasts$"))
    expect_banner(page, words)
    expect(banner(page).locator("[data-stale]")).to_contain_text("This page shows what Postmark said at")
    expect(page.locator("[data-as-of]")).to_contain_text("Showing what Postmark said at")
    rows = page.get_by_role("table").get_by_role("row")
    expect(rows.filter(has_text="Default Broadcast Stream")).to_have_count(1)  # the last answer, not a blank
    expect(rows.filter(has_text="Default Inbound Stream")).to_have_count(0)
    expect(page.get_by_role("radio", name="Broadcasts (1)")).to_be_checked()
    expect(page.get_by_role("search", name="Filter the streams")).to_be_visible()
    axe(page)

    page.get_by_label("Search").fill("nothing-like-this")
    expect(page).to_have_url(re.compile(r"\?type=broadcasts&q=nothing-like-this$"))
    expect_banner(page, words)
    expect(page.get_by_role("table")).to_have_count(0)
    axe(page)

    sandbox.clear_faults()
    postmark_gives_up_quickly()
    page.get_by_label("Search").fill("default")
    page.get_by_role("radio", name=re.compile(r"^All")).check()
    expect(page).to_have_url(re.compile(r"\?q=default$"))
    expect(banner(page)).to_have_count(0)
    expect(page.locator("[data-as-of]")).to_contain_text("As of")
    rows = page.get_by_role("table").get_by_role("row")
    expect(rows.filter(has_text="Default Broadcast Stream")).to_have_count(1)
    expect(rows.filter(has_text="Default Inbound Stream")).to_have_count(1)
    expect(page.get_by_role("radio", name="Broadcasts (1)")).to_be_visible()
    axe(page)
