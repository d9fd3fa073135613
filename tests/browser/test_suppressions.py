"""Suppressions and "Why didn't this person get our e-mail?" in a real browser (issue 17): the lookup and the
remove flow with the keyboard alone, the same without JavaScript, on a 390 px phone, and axe-core on each page.
"""

import re

import pytest
from playwright.sync_api import expect

from dashboard.postmark import sandbox_suppressions
from tests.browser.conftest import PHONE
from tests.conftest import TOKEN_A

ADDRESS = "jamie.rivera@example.com"
FOCUSED = "() => { const e = document.activeElement; return e ? e.outerHTML.slice(0, 120) : 'nothing'; }"


@pytest.fixture
def recipients(sandbox, server_a):
    """Acme Production: the known address hard-bounced on outbound and complained on broadcast."""
    sandbox_suppressions.configure(sandbox, TOKEN_A, delay_seconds=0)
    sandbox_suppressions.add_bounce(sandbox, TOKEN_A, stream="outbound", email=ADDRESS, type="HardBounce")
    sandbox_suppressions.add_bounce(sandbox, TOKEN_A, stream="broadcast", email=ADDRESS, type="SpamComplaint")
    sandbox_suppressions.add_suppression(sandbox, TOKEN_A, stream="outbound", email="ours@example.com")
    return server_a


def suppressions_url(team, server, stream="outbound"):
    return f"/t/{team.slug}/servers/{server.pk}/streams/{stream}/suppressions/"


def focus_by_tabbing(page, target, *, limit=80):
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{limit} presses of Tab never reached {target}; focus is on {page.evaluate(FOCUSED)}")


WIDEST = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
    .filter(e => !e.closest('details:not([open])') && (!e.closest('.table-wrap') || e.classList.contains('table-wrap')))
    .slice(0, 5).map(e => e.outerHTML.slice(0, 100))"""


def fits_a_phone(page):
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide on a {PHONE['width']} px screen: " + " | ".join(
        page.evaluate(WIDEST))


def test_an_editor_looks_up_an_address_and_removes_its_suppression_with_the_keyboard(open_page, axe, editor, team_a,
                                                                                     recipients):
    page = open_page(editor)
    page.goto(f"/t/{team_a.slug}/")
    axe(page)
    page.get_by_role("navigation", name="Acme").get_by_role("link", name="Why not delivered?").click()
    expect(page.get_by_role("heading", name="Why didn't this person get our e-mail?")).to_be_visible()
    axe(page)

    focus_by_tabbing(page, page.get_by_label("E-mail address"))
    page.keyboard.type(ADDRESS)
    page.keyboard.press("Enter")

    results = page.locator("#lookup-results")
    expect(results.get_by_role("heading", name=f"Results for {ADDRESS}")).to_be_visible()
    assert ADDRESS not in page.url
    outbound = results.locator("tr[data-stream='outbound']")
    broadcast = results.locator("tr[data-stream='broadcast']")
    expect(outbound).to_contain_text("Hard bounce: the address does not exist")
    expect(broadcast).to_contain_text("Postmark never lets anyone remove a spam complaint")
    expect(broadcast.get_by_role("button")).to_have_count(0)
    axe(page)

    remove = outbound.get_by_role("button", name=re.compile("^Remove the suppression"))
    focus_by_tabbing(page, remove)
    page.keyboard.press("Enter")

    expect(page.locator("#toasts [data-toast]")).to_contain_text("Removed: Postmark may send to it again")
    expect(page.locator("tr[data-stream='outbound']")).to_contain_text("Not suppressed")
    expect(page.locator("tr[data-stream='broadcast']")).to_contain_text("Suppressed")
    axe(page)


def test_an_editor_removes_a_suppression_from_a_stream_s_list_with_the_keyboard(open_page, axe, editor, team_a,
                                                                               recipients):
    page = open_page(editor)
    page.goto(f"/t/{team_a.slug}/servers/{recipients.pk}/streams/outbound/")
    axe(page)
    page.get_by_role("link", name="See the suppressions of outbound").click()
    expect(page.get_by_role("heading", name="Suppressions of outbound")).to_be_visible()
    expect(page.get_by_text("2 suppressions.")).to_be_visible()
    axe(page)

    box = page.get_by_role("checkbox", name=f"Select {ADDRESS}")
    focus_by_tabbing(page, box)
    page.keyboard.press("Space")
    expect(box).to_be_checked()
    focus_by_tabbing(page, page.get_by_role("button", name="Remove the selected…"))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="What removing means")).to_be_visible()
    axe(page)
    focus_by_tabbing(page, page.get_by_role("button", name="Remove 1 suppression"))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="1 removed, 0 not")).to_be_visible()
    expect(page.locator("tr[data-outcome='done']")).to_contain_text(ADDRESS)
    axe(page)


def test_the_reason_filter_and_the_search_work_in_place_and_keep_the_address_out_of_the_url(open_page, axe, viewer,
                                                                                           team_a, recipients):
    page = open_page(viewer)
    page.goto(suppressions_url(team_a, recipients))
    axe(page)

    page.get_by_role("radio", name=re.compile(r"^Unsubscribes and manual")).check()
    expect(page).to_have_url(re.compile(r"\?reason=ManualSuppression$"))
    expect(page.locator("tr[data-suppression]")).to_have_count(1)
    expect(page.locator("tr[data-suppression]")).to_contain_text("ours@example.com")

    page.get_by_role("radio", name=re.compile(r"^All")).check()
    page.get_by_label("Search by address").fill("jamie")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tr[data-suppression]")).to_have_count(1)
    expect(page.get_by_text("with “jamie” in the address")).to_be_visible()
    assert "jamie" not in page.url
    axe(page)


def test_without_javascript_a_viewer_looks_up_an_address_and_an_editor_adds_suppressions(open_page, viewer, editor,
                                                                                       team_a, recipients):
    page = open_page(viewer, javascript=False)
    page.goto(f"/t/{team_a.slug}/lookup/")
    page.get_by_label("E-mail address").fill(ADDRESS)
    page.get_by_role("button", name="Look it up").click()
    expect(page.get_by_role("heading", name=f"Results for {ADDRESS}")).to_be_visible()
    assert page.url.endswith("/lookup/")
    expect(page.locator("tr[data-stream='outbound']")).to_contain_text("It can be removed: ask an editor")
    page.get_by_role("button", name="Clear").click()
    expect(page.get_by_role("heading", name=re.compile("Results for"))).to_have_count(0)

    page = open_page(editor, javascript=False)
    page.goto(suppressions_url(team_a, recipients))
    page.get_by_role("link", name="Suppress addresses").click()
    page.get_by_label("E-mail addresses").fill("one@example.com, two@example.com\njosé@example.com")
    page.get_by_role("button", name="Suppress these addresses").click()
    expect(page.get_by_text("“josé@example.com” contains “é”")).to_be_visible()
    page.get_by_label("E-mail addresses").fill("one@example.com, two@example.com")
    page.get_by_role("button", name="Suppress these addresses").click()
    expect(page.get_by_role("heading", name="2 suppressed, 0 not")).to_be_visible()


def test_on_a_phone_the_lookup_and_the_suppressions_fit_the_screen(open_page, axe, editor, team_a, recipients):
    page = open_page(editor, viewport=PHONE)
    page.goto(f"/t/{team_a.slug}/lookup/")
    page.get_by_label("E-mail address").fill(ADDRESS)
    page.get_by_role("button", name="Look it up").click()
    expect(page.locator("tr[data-stream='outbound']")).to_contain_text("Hard bounce")
    fits_a_phone(page)
    axe(page)

    page.goto(suppressions_url(team_a, recipients))
    expect(page.locator("tr[data-suppression]")).to_have_count(2)
    fits_a_phone(page)
    axe(page)

    page.goto(suppressions_url(team_a, recipients) + "add/")
    page.get_by_label("E-mail addresses").fill("a@example.com\na@example.com\nnope")
    expect(page.locator("#add-check")).to_contain_text("1 address ready, 1 duplicate left out.")
    expect(page.locator("#add-check")).to_contain_text("“nope” has no “@”")
    fits_a_phone(page)
    axe(page)


def test_a_mistyped_address_is_explained_on_the_form_and_the_next_lookup_clears_it(open_page, axe, viewer, team_a,
                                                                                  recipients):
    page = open_page(viewer)
    page.goto(f"/t/{team_a.slug}/lookup/")
    axe(page)
    field = page.get_by_label("E-mail address")

    field.fill("jamie.rivera")
    field.press("Enter")
    expect(page.locator("#lookup-form")).to_contain_text("“jamie.rivera” has no “@”")
    axe(page)

    page.get_by_label("E-mail address").fill(ADDRESS)
    page.get_by_label("E-mail address").press("Enter")
    expect(page.get_by_role("heading", name=f"Results for {ADDRESS}")).to_be_visible()
    expect(page.locator("#lookup-form")).not_to_contain_text("has no “@”")
    expect(page.locator("tr[data-suppressed]")).to_have_count(2)


def test_without_javascript_an_editor_filters_searches_and_removes_a_suppression(open_page, editor, team_a,
                                                                                 recipients):
    page = open_page(editor, javascript=False)
    page.goto(suppressions_url(team_a, recipients))

    page.get_by_role("radio", name=re.compile(r"^Hard bounces")).check()
    page.get_by_role("button", name="Show suppressions").click()
    expect(page).to_have_url(re.compile(r"[?&]reason=HardBounce(&|$)"))
    expect(page.locator("tr[data-suppression]")).to_have_count(1)

    page.get_by_label("Search by address").fill("rivera")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_text("with “rivera” in the address")).to_be_visible()
    expect(page).to_have_url(re.compile(r"\?reason=HardBounce$"))

    page.get_by_role("checkbox", name=f"Select {ADDRESS}").check()
    page.get_by_role("button", name="Remove the selected…").click()
    expect(page.get_by_role("heading", name="What removing means")).to_be_visible()
    page.get_by_role("button", name="Remove 1 suppression").click()
    expect(page.get_by_role("heading", name="1 removed, 0 not")).to_be_visible()
    page.get_by_role("link", name="Back to the suppressions of outbound").click()
    expect(page.get_by_text("No suppression matches these filters.")).to_be_visible()
