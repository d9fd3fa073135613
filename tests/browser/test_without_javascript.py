"""Using the dashboard with JavaScript turned off (issue 6, item 3).

Every page must work as plain HTML: links, GET forms, POST forms and redirects. axe-core needs JavaScript, so
these pages are not checked by it here (the JavaScript-on tests check the same pages); the watch still fails a
test on any failed request or error answer.
"""

import re

from playwright.sync_api import expect

from streams.services import stream_archive, stream_create


def expect_streams(page, ids: list[str]):
    """The table shows these streams' rows, in this order (waiting for the page that a click asked for)."""
    rows = page.locator("tbody tr[data-stream]")
    expect(rows).to_have_count(len(ids))
    for row, stream_id in zip(rows.all(), ids, strict=True):
        expect(row).to_have_attribute("data-stream", stream_id)


def toast(page):
    return page.get_by_role("status").filter(has=page.locator("[data-toast]"))


def test_a_person_signs_in_and_out_without_javascript(open_page, owner, team_a, password):
    page = open_page(javascript=False)
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    page.get_by_label("E-mail address").fill(owner.email)
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("That e-mail address and password do not match an account.")
    expect(page.get_by_label("E-mail address")).to_have_value(owner.email)

    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(f"/t/{team_a.slug}/$"))  # straight to their team
    expect(page.get_by_text(f"Signed in as {owner.email}")).to_be_visible()
    expect(page.get_by_role("navigation", name="Acme")).to_contain_text("Your role: Owner")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text(f"Signed in as {owner.email}")).to_have_count(0)
    page.goto(f"/t/{team_a.slug}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_an_editor_filters_and_searches_the_streams_without_javascript(open_page, editor, team_a, server_a,
                                                                       streams_url):
    for stream_id, name, stream_type in [("news", "News", "Broadcasts"), ("weekly", "Weekly digest", "Broadcasts"),
                                         ("receipts", "Receipts", "Transactional")]:
        stream_create(actor=editor, team=team_a, server=server_a, stream_id=stream_id, name=name,
                      stream_type=stream_type)
    stream_archive(actor=editor, team=team_a, server=server_a, stream_id="news", confirmation="news")
    page = open_page(editor, javascript=False)
    page.goto(streams_url)

    show = page.get_by_role("button", name="Show streams")
    expect(show).to_be_visible()
    expect(show).not_to_have_class(re.compile("button--quiet"))  # without JavaScript it is the way to filter
    expect(page.get_by_text("5 streams shown.")).to_be_visible()
    expect_streams(page, ["broadcast", "inbound", "outbound", "receipts", "weekly"])  # by name

    page.get_by_role("radio", name=re.compile(r"^Broadcasts")).check()
    show.click()
    expect(page).to_have_url(re.compile(r"[?&]type=broadcasts"))
    expect(page.get_by_role("radio", name=re.compile(r"^Broadcasts"))).to_be_checked()
    expect_streams(page, ["broadcast", "weekly"])
    expect(page.get_by_text("1 archived stream is hidden")).to_be_visible()

    page.get_by_role("checkbox", name=re.compile(r"Include archived")).check()
    show.click()
    expect(page).to_have_url(re.compile(r"[?&]archived=1"))
    expect_streams(page, ["broadcast", "news", "weekly"])
    news = page.locator("tr[data-stream='news']")
    expect(news.get_by_text("Archived", exact=True)).to_be_visible()
    expect(news.get_by_role("button", name="Restore News")).to_be_visible()

    page.get_by_label("Search").fill("digest")
    show.click()
    expect(page).to_have_url(re.compile(r"[?&]q=digest"))
    expect(page.get_by_text("1 stream shown for “digest”.")).to_be_visible()
    expect_streams(page, ["weekly"])
    expect(page.get_by_label("Search")).to_have_value("digest")
    expect(page.get_by_role("checkbox", name=re.compile(r"Include archived"))).to_be_checked()

    page.get_by_label("Search").fill("nothing like this")
    show.click()
    expect(page.get_by_text("No streams match “nothing like this”.")).to_be_visible()
    page.get_by_role("link", name="Clear the search").click()
    expect_streams(page, ["broadcast", "news", "weekly"])


def test_an_editor_creates_a_stream_after_a_mistake_and_edits_it_without_javascript(open_page, editor, streams_url):
    page = open_page(editor, javascript=False)
    page.goto(streams_url)
    page.get_by_role("link", name="New stream").click()
    expect(page.get_by_role("heading", name="Create a stream on Acme Production")).to_be_visible()

    page.get_by_label("Name", exact=True).fill("Billing news")
    page.get_by_label("ID", exact=True).fill("Billing News")
    page.get_by_role("button", name="Create stream").click()

    # The same page again, with what to fix under each field, and what was typed kept.
    expect(page.get_by_role("heading", name="Create a stream on Acme Production")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Billing news")
    expect(page.locator("#id_stream_id_errors")).to_contain_text("lowercase")
    expect(page.locator("#id_stream_type_errors")).not_to_be_empty()
    expect(page.get_by_label("ID", exact=True)).to_have_attribute("aria-invalid", "true")

    page.get_by_label("ID", exact=True).fill("billing-news")
    page.get_by_label("Description (optional)").fill("Monthly billing news")
    page.get_by_role("radio", name=re.compile(r"^Broadcasts")).check()
    page.get_by_role("button", name="Create stream").click()

    expect(page).to_have_url(re.compile(r"/streams/billing-news/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing news billing-news")
    expect(toast(page)).to_contain_text("The stream “Billing news” (billing-news) was created on Acme Production.")
    # Without JavaScript a toast can't be dismissed, so it offers no button that would do nothing.
    expect(page.get_by_role("button", name="Dismiss this message")).to_have_count(0)
    expect(page.locator("dd").filter(has_text="Postmark —")).to_be_visible()

    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_role("heading", name="Edit “Billing news”")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Billing and invoices")
    page.get_by_label("Description (optional)").fill("Invoices and payment reminders")
    page.get_by_role("button", name="Save changes").click()

    expect(page).to_have_url(re.compile(r"/streams/billing-news/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing and invoices billing-news")
    expect(toast(page)).to_contain_text("Your changes to “Billing and invoices” (billing-news) were saved in Postmark.")
    expect(page.locator("dd").filter(has_text="Invoices and payment reminders")).to_be_visible()


def test_an_editor_archives_a_stream_on_the_confirmation_page_and_restores_it_without_javascript(
        open_page, editor, team_a, server_a, streams_url):
    stream_create(actor=editor, team=team_a, server=server_a, stream_id="news", name="News",
                  stream_type="Broadcasts")
    page = open_page(editor, javascript=False)
    page.goto(f"{streams_url}news/")
    expect(page.get_by_role("heading", level=1)).to_have_text("News news")

    page.get_by_role("link", name="Archive…").click()
    expect(page).to_have_url(re.compile(r"/streams/news/archive/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Archive “News” (news)?")
    expect(page.get_by_text("Sending on this stream stops at once.")).to_be_visible()

    page.get_by_label("Type the stream's ID").fill("News")
    page.get_by_role("button", name="Archive news").click()
    expect(page.locator("#id_confirmation_errors")).not_to_be_empty()
    expect(page.get_by_label("Type the stream's ID")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Type the stream's ID").fill("news")
    page.get_by_role("button", name="Archive news").click()
    expect(page).to_have_url(re.compile(r"/streams/news/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("News news Archived")
    expect(toast(page)).to_contain_text("The stream “news” is archived: nothing is sent on it any more.")
    expect(page.get_by_text(re.compile(r"Archived on .+ Nothing is sent on it until it is restored\."))).to_be_visible()

    # In the list it is hidden until asked for, then shown archived, with Restore in its row.
    page.get_by_role("link", name="Streams of Acme Production").first.click()
    expect(page.locator("tr[data-stream='news']")).to_have_count(0)
    page.get_by_role("link", name="show it").click()
    row = page.locator("tr[data-stream='news']")
    expect(row.get_by_text("Archived", exact=True)).to_be_visible()

    row.get_by_role("button", name="Restore News").click()
    expect(page).to_have_url(re.compile(r"/streams/\?archived=1$"))
    expect(toast(page)).to_contain_text("“News” (news) is restored; Postmark sends on it again.")
    expect(page.locator("tr[data-stream='news']").get_by_text("Active", exact=True)).to_be_visible()
