"""A stream's activity in a real browser: the section fills itself in after the page (htmx), the period choice
follows the address, the charts pass axe-core and the CSP (the page's watch fails on a violation), fit a phone,
and everything works with JavaScript off through the section's own page."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dashboard.postmark.client_stats import postmark_today
from tests.browser.conftest import PHONE
from tests.conftest import TOKEN_A


@pytest.fixture
def busy_outbound(sandbox, server_a):
    """The default transactional stream with a week of mail, and a day of bounces above our warning level."""
    today = postmark_today(timezone.now())
    for days_ago in range(7):
        sandbox.seed_stats(TOKEN_A, "outbound", today - timedelta(days=days_ago), {"Sent": 200 + 10 * days_ago})
    sandbox.seed_stats(TOKEN_A, "outbound", today - timedelta(days=3), {"HardBounce": 250, "SpamComplaint": 1})
    return f"/t/acme/servers/{server_a.pk}/streams/outbound/"


def test_the_activity_arrives_after_the_page_and_the_period_follows_the_address(open_page, axe, viewer, busy_outbound):
    page = open_page(viewer)
    page.goto(busy_outbound)

    section = page.locator("#activity")
    expect(section.get_by_role("heading", name="Sent per day")).to_be_visible()
    expect(section).to_contain_text("Needs attention")
    expect(section).to_contain_text("Too many bounces")
    axe(page)

    section.get_by_role("link", name="Last 7 days").click()
    expect(page).to_have_url(f"{page.url.split('?')[0]}?days=7")
    expect(section.get_by_role("link", name="Last 7 days")).to_have_attribute("aria-current", "true")
    section.get_by_text("The numbers, day by day").click()
    expect(section.get_by_role("table")).to_be_visible()
    expect(section.get_by_role("table").locator("tbody tr")).to_have_count(7)
    expect(section.get_by_role("img", name="Sent per day over the last 7 days")).to_have_count(1)
    axe(page)

    page.reload()
    expect(section.get_by_role("link", name="Last 7 days")).to_have_attribute("aria-current", "true")


def test_the_activity_fits_a_phone(open_page, axe, viewer, busy_outbound):
    page = open_page(viewer, viewport=PHONE)
    page.goto(busy_outbound + "?days=90")

    expect(page.locator("#activity").get_by_role("heading", name="Spam complaint rate per day")).to_be_visible()
    axe(page)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide on a {PHONE['width']} px screen"


def test_without_javascript_the_activity_is_one_link_away(open_page, viewer, busy_outbound):
    page = open_page(viewer, javascript=False)
    page.goto(busy_outbound)

    page.get_by_role("link", name="Show this stream's activity").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Activity of")
    expect(page.get_by_role("heading", name="Bounce rate per day")).to_be_visible()

    page.get_by_role("link", name="Last 7 days").click()
    expect(page.locator("#activity tbody tr")).to_have_count(7)


def test_postmark_s_trouble_shows_in_the_section_and_the_page_stays(
    open_page, axe, viewer, busy_outbound, sandbox, settings
):
    page = open_page(viewer)
    page.goto(busy_outbound)
    expect(page.locator("#activity").get_by_role("heading", name="Sent per day")).to_be_visible()
    settings.POSTMARK_RETRY_BACKOFF = 0
    sandbox.set_faults(status=503)
    try:
        page.locator("#activity").get_by_role("link", name="Last 90 days").click()
        expect(page.locator("#activity [data-trouble]")).to_contain_text("Postmark isn't answering")
        expect(page.get_by_role("heading", name="About this stream")).to_be_visible()
        axe(page)
    finally:
        sandbox.clear_faults()


def test_the_stream_list_and_the_overview_show_each_stream_s_sends_after_rendering(
    open_page, axe, viewer, server_a, busy_outbound, streams_url
):
    page = open_page(viewer, viewport=PHONE)
    for address in (streams_url, "/t/acme/"):
        page.goto(address)
        sparklines = page.locator(f'[data-sparklines="{server_a.pk}"]')
        image = sparklines.get_by_role("img", name="Default Transactional Stream (outbound): 1,610 sent")
        expect(image).to_be_visible()
        expect(sparklines).to_contain_text("Needs attention")
        axe(page)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{page.url} is {width} px wide on a {PHONE['width']} px screen"
