"""A stream's life in a real browser, by the people allowed each step: an editor creates one (the form explaining
each mistake as they type, and Postmark's own refusal when it has the last word), edits it, archives it through
the dialog by typing its ID, watches the countdown to Postmark's purge and restores it; an admin then reads all of
it in the audit log, filters it and downloads it as CSV."""

import csv
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils.dateformat import format as format_date
from playwright.sync_api import expect

from dashboard.models import AuditEvent
from dashboard.postmark.client import SANDBOX_URL, PostmarkClient
from streams.services import stream_archive, stream_create, stream_edit, stream_get, stream_restore
from tests.browser.conftest import TIME_LEFT, toasts
from tests.conftest import TOKEN_A


@pytest.fixture
def streams(editor, team_a, server_a):
    """Acme Production's streams page; besides Postmark's default streams it has a newsletter already."""
    stream_create(actor=editor, team=team_a, server=server_a, stream_id="newsletter", name="Monthly newsletter",
                  stream_type="Broadcasts")
    return f"/t/{team_a.slug}/servers/{server_a.pk}/streams/"


def feedback(page, field: str):
    """What the form says under a field (the check as you type fills it in)."""
    return page.locator(f"#id_{field}_feedback")


def purge_days() -> re.Pattern:
    """The day Postmark would delete a stream archived now (either side of midnight, to be safe)."""
    now = datetime.now(UTC) + timedelta(days=45)
    days = {format_date(moment, "j F Y") for moment in (now, now + timedelta(minutes=5))}
    return re.compile("|".join(re.escape(day) for day in days))


def test_an_editor_creates_a_stream_after_the_form_explains_each_mistake_as_they_type(open_page, axe, editor,
                                                                                     streams):
    page = open_page(editor)
    page.goto(streams)
    axe(page)
    page.get_by_role("link", name="New stream").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create a stream on Acme Production")
    expect(page.get_by_text("6 of 10 slots left")).to_be_visible()
    axe(page)
    stream_id, name = page.get_by_label("ID", exact=True), page.get_by_label("Name", exact=True)

    # Each explanation appears while they type, before anything is sent to Postmark.
    stream_id.fill("Billing News")
    expect(feedback(page, "stream_id")).to_contain_text("Use lowercase letters: “Billing News” has capitals.")
    expect(feedback(page, "stream_id")).to_contain_text("It can't contain a space. Put “-” between words.")
    expect(stream_id).to_have_attribute("aria-invalid", "true")
    expect(stream_id).to_have_accessible_description(re.compile("“Billing News” has capitals"))  # read out with it
    expect(feedback(page, "name")).to_be_empty()  # not reached yet, so nothing is said about it
    axe(page)

    stream_id.fill("newsletter")
    expect(feedback(page, "stream_id")).to_have_text(
        "This server already has a stream with this ID (archived streams count too). Choose another ID.")

    name.fill("B")
    name.fill("")
    expect(feedback(page, "name")).to_have_text("Give the stream a name your team will recognise.")
    expect(name).to_have_attribute("aria-invalid", "true")
    axe(page)

    # Corrected: the explanations go away.
    name.fill("Billing news")
    stream_id.fill("billing-news")
    expect(feedback(page, "stream_id")).to_be_empty()
    expect(feedback(page, "name")).to_be_empty()
    expect(stream_id).not_to_have_attribute("aria-invalid", "true")
    page.get_by_label("Description (optional)").fill("Invoices and payment reminders")
    page.get_by_role("radio", name=re.compile("^Broadcasts")).check()
    page.get_by_role("button", name="Create stream").click()

    expect(page).to_have_url(re.compile(rf"{streams}billing-news/$"))
    expect(toasts(page)).to_contain_text("The stream “Billing news” (billing-news) was created on Acme Production.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing news billing-news")
    about = page.get_by_role("region", name="About this stream")
    expect(about).to_contain_text("Invoices and payment reminders")
    expect(about).to_contain_text("Broadcasts")
    expect(about).to_contain_text("Active")
    axe(page)


def test_postmark_refusing_a_new_stream_shows_its_reason_on_the_form(open_page, axe, editor, streams, sandbox):
    page = open_page(editor)
    page.goto(f"{streams}new/")
    axe(page)
    page.get_by_label("Name", exact=True).fill("Billing news")
    expect(page.get_by_label("ID", exact=True)).to_have_value("billing-news")  # suggested from the name
    page.get_by_role("radio", name=re.compile("^Transactional")).check()
    expect(feedback(page, "stream_id")).to_be_empty()

    # Meanwhile a colleague makes a stream with that ID in Postmark's own pages: only Postmark knows yet.
    PostmarkClient(TOKEN_A, base_url=SANDBOX_URL).create_stream(id="billing-news", name="Billing",
                                                              stream_type="Transactional")
    page.get_by_role("button", name="Create stream").click()

    expect(feedback(page, "stream_id")).to_have_text(
        "This server already has a stream with this ID (archived streams count too). Choose another ID.")
    expect(page.get_by_label("ID", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Billing news")  # nothing they typed is lost
    expect(page).to_have_url(re.compile(rf"{streams}new/$"))
    axe(page)
    [refusal] = AuditEvent.objects.filter(action="stream.create", target_id__endswith="/billing-news")
    assert (refusal.outcome, refusal.detail[:13]) == ("refused", "Postmark code"), "Postmark said no, not the form"


@pytest.fixture
def billing(editor, team_a, server_a, streams):
    stream_create(actor=editor, team=team_a, server=server_a, stream_id="billing-news", name="Billing news",
                  stream_type="Broadcasts", description="Invoices and payment reminders")
    return f"{streams}billing-news/"


def test_an_editor_edits_archives_and_restores_a_stream_and_sees_each_step(open_page, axe, editor, streams, billing):
    page = open_page(editor)
    page.goto(billing)
    axe(page)

    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit “Billing news”")
    axe(page)
    page.get_by_label("Name", exact=True).fill("Billing updates")
    page.get_by_label("Description (optional)").fill("Invoices, receipts and payment reminders")
    page.get_by_role("button", name="Save changes").click()

    expect(page).to_have_url(re.compile(rf"{billing}$"))
    expect(toasts(page)).to_contain_text("Your changes to “Billing updates” (billing-news) were saved in Postmark.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing updates billing-news")
    about = page.get_by_role("region", name="About this stream")
    expect(about).to_contain_text("Invoices, receipts and payment reminders")
    axe(page)

    # Archiving: the dialog says what happens and when, and wants the ID typed.
    page.get_by_role("link", name="Archive…").click()
    dialog = page.get_by_role("dialog", name="Archive “Billing updates” (billing-news)?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Sending on this stream stops at once.")
    expect(dialog.get_by_text("Postmark deletes the stream and everything it holds on")).to_contain_text(purge_days())
    expect(dialog).to_contain_text("45 days from now")
    confirmation = dialog.get_by_label("Type the stream's ID, billing-news, to confirm")
    expect(confirmation).to_be_focused()
    axe(page)
    confirmation.fill("billing-news")
    dialog.get_by_role("button", name="Archive billing-news").click()

    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing updates billing-news Archived")
    expect(toasts(page)).to_contain_text("The stream “billing-news” is archived: nothing is sent on it any more. "
                                        "Postmark deletes it on")
    expect(toasts(page).get_by_role("button", name="Restore “billing-news”")).to_be_visible()
    expect(about).to_contain_text(TIME_LEFT)
    expect(about.get_by_text("Postmark deletes it on")).to_contain_text(purge_days())
    expect(page.get_by_role("link", name="Archive…")).to_have_count(0)
    axe(page)

    # In the list, with archived streams shown: the countdown, and Restore.
    page.goto(f"{streams}?archived=1")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Billing updates"))
    expect(row).to_contain_text("Archived")
    expect(row).to_contain_text(TIME_LEFT)
    axe(page)
    row.get_by_role("button", name="Restore Billing updates").click()

    expect(page).to_have_url(re.compile(rf"{streams}\?archived=1$"))
    expect(toasts(page)).to_contain_text("“Billing updates” (billing-news) is restored; Postmark sends on it again.")
    expect(row).to_contain_text("Active")
    expect(row).not_to_contain_text(TIME_LEFT)
    axe(page)

    row.get_by_role("link", name="Billing updates").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing updates billing-news")
    expect(page.get_by_role("region", name="About this stream")).to_contain_text("Active")
    # The stream's own history: each step, by the editor, newest first.
    history = page.get_by_role("region", name="History").locator("tbody tr")
    expect(history).to_have_count(4)
    expect(history.nth(0)).to_contain_text("restored the stream")
    expect(history.nth(1)).to_contain_text("archived the stream")
    expect(history.nth(2)).to_contain_text("edited the stream")
    expect(history.nth(2)).to_contain_text("Name: Billing news → Billing updates")
    expect(history.nth(3)).to_contain_text("created the stream")
    expect(history.filter(has_text="Edith Editor (editor)")).to_have_count(4)
    axe(page)


def test_an_admin_reads_a_streams_life_in_the_audit_log_filters_it_and_downloads_it(open_page, axe, admin, editor,
                                                                                    team_a, server_a, billing):
    seen = stream_get(server=server_a, stream_id="billing-news")
    stream_edit(actor=editor, team=team_a, server=server_a, stream_id="billing-news", name="Billing updates",
                description=seen.description, unsubscribe_handling=seen.unsubscribe_handling.value,
                seen={"name": seen.name, "description": seen.description,
                      "unsubscribe_handling": seen.unsubscribe_handling.value})
    stream_archive(actor=editor, team=team_a, server=server_a, stream_id="billing-news", confirmation="billing-news")
    stream_restore(actor=editor, team=team_a, server=server_a, stream_id="billing-news")

    page = open_page(admin)
    page.goto(f"/t/{team_a.slug}/")
    axe(page)
    page.get_by_role("navigation", name="Acme").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log of Acme")
    entries = page.locator(".audit-entry__sentence")
    on_billing = "stream billing-news on Acme Production"
    expect(entries.filter(has_text="billing-news")).to_have_text([
        f"Edith Editor (editor) restored {on_billing}",
        f"Edith Editor (editor) archived {on_billing}",
        f"Edith Editor (editor) edited {on_billing}",
        f"Edith Editor (editor) created {on_billing}",
    ])
    expect(entries.filter(has_text="connected server Acme Production")).to_have_count(1)
    axe(page)

    # Only this stream's entries since this morning: the entries and the address follow each choice.
    today = datetime.now(UTC)
    page.get_by_label("What").select_option(label="Streams")
    expect(page).to_have_url(re.compile(r"\?group=streams$"))
    expect(entries).to_have_count(5)  # the newsletter's creation too
    # A day is typed as the pages write it, asked for when the field is left, and kept in the address as ISO.
    page.get_by_label("From").fill(format_date(today, "j F Y"))
    page.get_by_label("From").press("Tab")
    expect(page).to_have_url(re.compile(rf"\?group=streams&from={today:%Y-%m-%d}$"))
    page.get_by_label("Stream ID").fill("billing-news")
    expect(page).to_have_url(re.compile(rf"\?group=streams&stream=billing-news&from={today:%Y-%m-%d}$"))
    expect(entries).to_have_count(4)
    expect(page.get_by_role("status").filter(has_text="stream ID billing-news")).to_have_text(
        f"Actions: streams; stream ID billing-news; from {format_date(today, 'j F Y')} (UTC time), newest first.")

    edited = page.locator(".audit-entry").filter(has_text="edited stream billing-news")
    edited.get_by_text("Details: what changed").click()  # leaving the Stream ID box asks for nothing more
    changes = edited.get_by_role("table", name="Values before and after")
    expect(changes.get_by_role("row", name=re.compile("^Name"))).to_have_text(re.compile(
        r"Name\s*Billing news\s*Billing updates"))
    axe(page)

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download CSV").click()
    download = downloading.value
    assert download.suggested_filename.startswith("acme-audit-") and download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(row["action"], row["person"], row["outcome"]) for row in rows] == [
        ("stream.restore", "edith@acme.example", "success"),
        ("stream.archive", "edith@acme.example", "success"),
        ("stream.edit", "edith@acme.example", "success"),
        ("stream.create", "edith@acme.example", "success"),
    ]
    assert rows[2]["sentence"] == f"Edith Editor (editor) edited {on_billing}"
    assert '"name": ["Billing news", "Billing updates"]' in rows[2]["changes"]
