"""Using the dashboard with the keyboard alone (issue 6, item 2).

After the first `page.goto` these tests only press keys (Tab, Shift+Tab, arrows, Space, Enter, Escape) and
type; locators only read what the person would perceive (which element has focus, what the page says).
"""

import re

import pytest
from playwright.sync_api import expect

from streams.services import stream_archive, stream_create

FOCUS_IN_OPEN_DIALOG = "() => !!document.activeElement && !!document.activeElement.closest('dialog[open]')"
FOCUSED = "() => { const e = document.activeElement; return e ? e.outerHTML.slice(0, 120) : 'nothing'; }"


@pytest.fixture
def news(server_a, editor, team_a):
    return stream_create(actor=editor, team=team_a, server=server_a, stream_id="news", name="News",
                         stream_type="Broadcasts")


def focus_by_tabbing(page, target, *, key="Tab", limit=80):
    """Press Tab (or Shift+Tab) until `target` has focus, as a person steps through a page."""
    for _ in range(limit):
        page.keyboard.press(key)
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{limit} presses of {key} never reached {target}; focus is on {page.evaluate(FOCUSED)}")


def open_archive_dialog(page, axe):
    """From a stream's page: skip to the main content, Tab to "Archive…", press Enter."""
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the main content")).to_be_focused()
    page.keyboard.press("Enter")
    archive = page.get_by_role("link", name="Archive…")
    focus_by_tabbing(page, archive)
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Type the stream's ID")).to_be_focused()
    axe(page)
    return archive, dialog


def test_an_editor_creates_a_stream_with_the_keyboard_alone(open_page, axe, editor, streams_url):
    page = open_page(editor)
    page.goto(f"{streams_url}new/")
    expect(page.get_by_role("heading", name="Create a stream on Acme Production")).to_be_visible()
    axe(page)

    focus_by_tabbing(page, page.get_by_label("Name", exact=True))
    page.keyboard.type("Billing news")
    expect(page.locator("[data-suggested-id='billing-news']")).to_be_attached()
    expect(page.get_by_label("ID", exact=True)).to_have_value("billing-news")

    page.keyboard.press("Tab")  # the suggested ID is what they want: they step over it
    expect(page.get_by_label("ID", exact=True)).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Description (optional)")).to_be_focused()
    page.keyboard.type("Monthly billing news for customers")

    page.keyboard.press("Tab")  # into the type radios; none is chosen yet, so the first takes focus
    transactional = page.get_by_role("radio", name="Transactional")
    broadcasts = page.get_by_role("radio", name="Broadcasts")
    expect(transactional).to_be_focused()
    expect(transactional).not_to_be_checked()
    page.keyboard.press("Space")
    expect(transactional).to_be_checked()
    page.keyboard.press("ArrowDown")
    expect(broadcasts).to_be_focused()
    expect(broadcasts).to_be_checked()
    # Broadcasts offers its unsubscribe handling, with Postmark's (the usual one) chosen for them.
    postmark = page.get_by_role("radio", name=re.compile(r"^Postmark "))
    expect(postmark).to_be_checked()
    page.keyboard.press("Tab")
    expect(postmark).to_be_focused()

    create = page.get_by_role("button", name="Create stream")
    page.keyboard.press("Tab")
    expect(create).to_be_focused()
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/streams/billing-news/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing news billing-news")
    expect(page.get_by_role("status").filter(has_text="was created")).to_have_text(
        re.compile("The stream “Billing news” \\(billing-news\\) was created on Acme Production."))
    expect(page.locator("dd").filter(has_text="Monthly billing news for customers")).to_be_visible()
    axe(page)


def test_an_editor_archives_a_stream_with_the_keyboard_alone(open_page, axe, editor, streams_url, news):
    page = open_page(editor)
    page.goto(f"{streams_url}news/")
    expect(page.get_by_role("heading", level=1)).to_have_text("News news")
    axe(page)

    _, dialog = open_archive_dialog(page, axe)
    expect(dialog.get_by_role("heading")).to_have_text("Archive “News” (news)?")
    page.keyboard.type("news")
    page.keyboard.press("Enter")

    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_have_text("News news Archived")
    expect(page.locator("#toasts")).to_contain_text("The stream “news” is archived: nothing is sent on it any more.")
    expect(page.get_by_role("button", name="Restore", exact=True)).to_be_visible()
    axe(page)


def test_an_editor_who_types_the_wrong_id_in_the_dialog_is_told_so_and_keeps_the_keyboard_there(
        open_page, axe, editor, streams_url, news):
    page = open_page(editor)
    page.goto(f"{streams_url}news/")
    axe(page)

    open_archive_dialog(page, axe)
    page.keyboard.type("new")
    page.keyboard.press("Enter")

    # The dialog answers, with the field marked, the reason under it and the keyboard back in the field.
    dialog = page.get_by_role("dialog")
    field = dialog.get_by_label("Type the stream's ID")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(dialog.locator("#id_confirmation_errors")).not_to_be_empty()
    expect(page).to_have_url(re.compile(r"/streams/news/(#main)?$"))
    expect(field).to_be_focused()
    axe(page)
    page.keyboard.press("Control+A")
    page.keyboard.type("news")
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_have_text("News news Archived")
    axe(page)


def test_the_archive_dialog_keeps_the_keyboard_inside_it_and_escape_gives_focus_back(open_page, axe, editor,
                                                                                    streams_url, news):
    page = open_page(editor)
    page.goto(f"{streams_url}news/")
    axe(page)
    archive, dialog = open_archive_dialog(page, axe)
    focusable = dialog.locator("a[href], button, input:not([type=hidden])").count()
    assert focusable >= 3, "the ID field, the Archive button and Cancel"

    for key in ("Tab", "Shift+Tab"):
        seen = set()
        for press in range(3 * focusable):
            page.keyboard.press(key)
            assert page.evaluate(FOCUS_IN_OPEN_DIALOG), (
                f"after {press + 1} presses of {key} focus left the dialog: {page.evaluate(FOCUSED)}")
            seen.add(page.evaluate(FOCUSED))
        assert len(seen) == focusable, f"{key} visits every control in the dialog, round and round: {seen}"

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(archive).to_be_focused()
    expect(page.get_by_role("heading", level=1)).to_have_text("News news")


def test_cancel_closes_the_archive_dialog_and_gives_focus_back_to_archive(open_page, axe, editor, streams_url, news):
    page = open_page(editor)
    page.goto(f"{streams_url}news/")
    axe(page)
    archive, dialog = open_archive_dialog(page, axe)

    page.keyboard.type("news")  # started, then thought better of it
    focus_by_tabbing(page, dialog.get_by_role("link", name="Cancel"), limit=5)
    page.keyboard.press("Enter")

    expect(dialog).to_be_hidden()
    expect(archive).to_be_focused()
    expect(page).to_have_url(re.compile(r"/streams/news/(#main)?$"))  # the page stayed; only the skip link's #
    expect(page.get_by_role("heading", level=1)).to_have_text("News news")

    page.keyboard.press("Enter")  # and the same control opens it again, empty
    expect(dialog.get_by_label("Type the stream's ID")).to_be_focused()
    expect(dialog.get_by_label("Type the stream's ID")).to_have_value("")
    axe(page)


def test_messages_after_keyboard_actions_are_announced_errors_at_once(open_page, axe, editor, team_a, server_a,
                                                                      streams_url, news, sandbox):
    stream_archive(actor=editor, team=team_a, server=server_a, stream_id="news", confirmation="news")
    page = open_page(editor)
    page.goto(f"{streams_url}news/")
    axe(page)
    toasts = page.locator("#toasts")
    expect(toasts).to_have_attribute("aria-live", "polite")

    sandbox.set_faults(status=503, times=1)  # Postmark is down for the first try only
    restore = page.get_by_role("button", name="Restore", exact=True)
    focus_by_tabbing(page, restore)
    page.keyboard.press("Enter")

    error = toasts.locator(".toast--error")
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_contain_text("Postmark")
    expect(page.get_by_role("heading", level=1)).to_have_text("News news Archived")
    axe(page)
    # An error stays until dismissed; its button is reached from the end of the page, backwards.
    dismiss = error.get_by_role("button", name="Dismiss this message")
    expect(dismiss).to_be_visible()
    focus_by_tabbing(page, dismiss, key="Shift+Tab")
    page.keyboard.press("Enter")
    expect(error).to_have_count(0)

    focus_by_tabbing(page, restore)
    page.keyboard.press("Enter")

    expect(toasts).to_contain_text("“News” (news) is restored; Postmark sends on it again.")
    expect(toasts.locator(".toast--success")).not_to_have_attribute("role", "alert")
    expect(page.get_by_role("heading", level=1)).to_have_text("News news")
    axe(page)


def test_a_message_that_arrives_with_a_new_page_is_put_into_the_live_region_after_it_loads(open_page, axe, editor,
                                                                                            streams_url, news):
    """Screen readers read changes to a live region, not what a new page already holds: the toast that comes with
    the page after a redirect must be added to #toasts once the page has loaded."""
    page = open_page(editor)
    # Whether the page had loaded when a toast was added: a flag DOMContentLoaded sets, since the observer is told
    # of the parser's additions a moment later (as a microtask), when readyState may already have moved on, though
    # always before DOMContentLoaded, which comes in a task of its own. This listener runs before the page's own.
    page.add_init_script("""
        window.__toastsAdded = [];
        window.__contentLoaded = false;
        document.addEventListener("DOMContentLoaded", function () { window.__contentLoaded = true; });
        new MutationObserver(function (changes) {
          changes.forEach(function (change) {
            change.addedNodes.forEach(function (node) {
              if (node.nodeType === 1 && node.matches("[data-toast]") && change.target.id === "toasts") {
                window.__toastsAdded.push({text: node.textContent.trim(), loaded: window.__contentLoaded});
              }
            });
          });
        }).observe(document, {childList: true, subtree: true});
    """)
    page.goto(f"{streams_url}news/edit/")
    axe(page)
    focus_by_tabbing(page, page.get_by_label("Name", exact=True))
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("News and offers")
    page.keyboard.press("Enter")

    expect(page.locator("#toasts")).to_contain_text("were saved in Postmark")
    added = page.evaluate("window.__toastsAdded")
    # Written by the page as it loads (not announced), then put back once it has loaded (announced).
    assert [entry["loaded"] for entry in added if "were saved in Postmark" in entry["text"]] == [False, True]
    axe(page)
