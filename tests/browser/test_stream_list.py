"""A server's streams in a real browser, as any member of the team sees them: from the team's home to a server's
list, then filtering it by type, showing archived streams and searching, with the address following each choice,
and the back button and a reload bringing back the same rows and the same controls."""

import re

import pytest
from playwright.sync_api import expect

from streams.services import stream_archive, stream_create
from tests.browser.conftest import TIME_LEFT


@pytest.fixture
def streams(editor, team_a, server_a):
    """Acme Production's streams: Postmark's three default ones, four more, and an archived promotion."""
    for stream_id, name, stream_type, description in [
        ("billing-receipts", "Billing receipts", "Transactional", "Receipts sent after each payment"),
        ("password-resets", "Password resets", "Transactional", ""),
        ("newsletter", "Monthly newsletter", "Broadcasts", "News for customers who opted in"),
        ("old-promo", "Old promotions", "Broadcasts", "Spring promotion, 2024"),
    ]:
        stream_create(actor=editor, team=team_a, server=server_a, stream_id=stream_id, name=name,
                      stream_type=stream_type, description=description)
    stream_archive(actor=editor, team=team_a, server=server_a, stream_id="old-promo", confirmation="old-promo")
    return f"/t/{team_a.slug}/servers/{server_a.pk}/streams/"


def names_in_table(page):
    """The Name column of the streams table, top to bottom: each stream's name is a link to its page."""
    return page.get_by_role("table", name=re.compile("^Streams of Acme Production")).locator("tbody tr td:first-child"
                                                                                            ).get_by_role("link")


def type_tab(page, label: str):
    return page.get_by_role("group", name="Type").get_by_role("radio", name=re.compile(rf"^{label} \("))


def history_step(page, step: str):
    """Back or Forward: htmx keeps no copies of pages, so it asks the server for that address afresh."""
    with page.expect_response(lambda response: response.request.headers.get("hx-history-restore-request") == "true"):
        getattr(page, step)()


def shown_count(page):
    return page.get_by_role("status").filter(has_text="shown")


def test_a_viewer_goes_from_the_teams_home_to_a_servers_streams(open_page, axe, viewer, team_a, server_a, streams):
    page = open_page(viewer)
    page.goto(f"/t/{team_a.slug}/")
    card = page.get_by_role("article", name="Acme Production")
    for kind, count in [("Transactional", "3"), ("Broadcasts", "2"), ("Inbound", "1"), ("Archived", "1")]:
        expect(card.locator("dt", has_text=kind).locator("+ dd")).to_have_text(count)
    expect(card).to_contain_text("7 of 10 stream slots used")
    purging = page.get_by_role("region", name="Purging soon")
    expect(purging.get_by_role("row").filter(has_text="Old promotions")).to_contain_text(TIME_LEFT)
    axe(page)

    card.get_by_role("link", name="See its streams").click()

    expect(page).to_have_url(re.compile(rf"{streams}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^Streams of Acme Production"))
    expect(names_in_table(page)).to_have_text(["Billing receipts", "Default Broadcast Stream",
                                               "Default Inbound Stream", "Default Transactional Stream",
                                               "Monthly newsletter", "Password resets"])
    expect(shown_count(page)).to_have_text("6 streams shown.")
    expect(type_tab(page, "All")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Include archived (1)")).not_to_be_checked()
    expect(page.get_by_text("1 archived stream is hidden")).to_be_visible()
    axe(page)


def test_a_viewer_filters_shows_archived_and_searches_and_the_address_back_and_reload_follow(open_page, axe, viewer,
                                                                                            streams):
    page = open_page(viewer)
    page.goto(streams)
    for label, count in [("All", 6), ("Transactional", 3), ("Broadcasts", 2), ("Inbound", 1)]:
        expect(type_tab(page, label)).to_have_accessible_name(f"{label} ({count})")
    axe(page)

    type_tab(page, "Broadcasts").check()
    expect(page).to_have_url(re.compile(r"\?type=broadcasts$"))
    expect(names_in_table(page)).to_have_text(["Default Broadcast Stream", "Monthly newsletter"])
    expect(shown_count(page)).to_have_text("2 streams shown.")
    expect(page.get_by_role("table")).to_have_accessible_name(re.compile("Broadcasts only"))

    page.get_by_role("checkbox", name=re.compile("^Include archived")).check()
    expect(page).to_have_url(re.compile(r"\?type=broadcasts&archived=1$"))
    expect(names_in_table(page)).to_have_text(["Default Broadcast Stream", "Monthly newsletter", "Old promotions"])
    archived = page.get_by_role("row").filter(has_text="Old promotions")
    expect(archived).to_contain_text("Archived")
    expect(archived).to_contain_text(TIME_LEFT)
    # With archived streams shown, the type tabs count them too.
    for label, count in [("All", 7), ("Transactional", 3), ("Broadcasts", 3), ("Inbound", 1)]:
        expect(type_tab(page, label)).to_have_accessible_name(f"{label} ({count})")
    axe(page)

    page.get_by_role("searchbox", name="Search").fill("promo")
    expect(page).to_have_url(re.compile(r"\?type=broadcasts&archived=1&q=promo$"))
    expect(names_in_table(page)).to_have_text(["Old promotions"])
    expect(shown_count(page)).to_have_text("1 stream shown for “promo”.")
    expect(type_tab(page, "Broadcasts")).to_be_checked()
    expect(page.get_by_role("checkbox", name=re.compile("^Include archived"))).to_be_checked()

    page.get_by_role("searchbox", name="Search").fill("receipts")
    expect(page.get_by_text("No streams match “receipts”.")).to_be_visible()
    expect(names_in_table(page)).to_have_count(0)
    axe(page)

    # Back: the view before, rows and controls alike.
    history_step(page, "go_back")
    expect(page).to_have_url(re.compile(r"\?type=broadcasts&archived=1&q=promo$"))
    expect(names_in_table(page)).to_have_text(["Old promotions"])
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("promo")

    history_step(page, "go_back")
    expect(page).to_have_url(re.compile(r"\?type=broadcasts&archived=1$"))
    expect(names_in_table(page)).to_have_text(["Default Broadcast Stream", "Monthly newsletter", "Old promotions"])
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("")
    expect(page.get_by_role("checkbox", name=re.compile("^Include archived"))).to_be_checked()
    expect(type_tab(page, "Broadcasts")).to_be_checked()

    history_step(page, "go_back")
    expect(page).to_have_url(re.compile(r"\?type=broadcasts$"))
    expect(names_in_table(page)).to_have_text(["Default Broadcast Stream", "Monthly newsletter"])
    expect(page.get_by_role("checkbox", name=re.compile("^Include archived"))).not_to_be_checked()
    expect(type_tab(page, "Broadcasts")).to_have_accessible_name("Broadcasts (2)")
    expect(type_tab(page, "Broadcasts")).to_be_checked()

    history_step(page, "go_back")
    expect(page).to_have_url(re.compile(rf"{streams}$"))
    expect(names_in_table(page)).to_have_count(6)
    expect(type_tab(page, "All")).to_be_checked()
    axe(page)

    # Forward again, then a reload: the same view, from the address alone.
    history_step(page, "go_forward")
    history_step(page, "go_forward")
    expect(page).to_have_url(re.compile(r"\?type=broadcasts&archived=1$"))
    page.reload()
    expect(names_in_table(page)).to_have_text(["Default Broadcast Stream", "Monthly newsletter", "Old promotions"])
    expect(type_tab(page, "Broadcasts")).to_be_checked()
    expect(type_tab(page, "Broadcasts")).to_have_accessible_name("Broadcasts (3)")
    expect(page.get_by_role("checkbox", name=re.compile("^Include archived"))).to_be_checked()
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("")
    axe(page)
