"""Teams, people and servers in a real browser: moving between teams with the header's team switcher, inviting
someone who accepts in a browser of their own, connecting a server and replacing its token, and what a viewer is
(not) offered on the pages an editor can act from."""

import re

from django.core import mail
from playwright.sync_api import expect

from dashboard.models import Membership, Role, Server
from dashboard.postmark.sandbox import Sandbox, install
from streams.services import stream_archive, stream_create
from tests.browser.conftest import toasts
from tests.conftest import SPARE_TOKEN

NEW_TOKEN = "dddddddd-0000-4000-8000-00000000d4d4"
UNKNOWN_TOKEN = "eeeeeeee-0000-4000-8000-00000000e5e5"
NEW_PASSWORD = "a quiet harbour at dawn 42"
# Every control that changes something on the pages a viewer can open, by the name a screen reader reads out.
ACTIONS = re.compile(r"^(New stream|Create a stream|Edit|Archive…|Restore( .*)?|Connect a server|Send invitation|"
                     r"Change role|Remove…|Revoke|Replace token…|Remove server…)$")


def actions_on(page):
    return page.get_by_role("link", name=ACTIONS).or_(page.get_by_role("button", name=ACTIONS))


def test_a_person_in_two_teams_moves_between_them_with_the_team_switcher(open_page, axe, editor, team_a, server_a,
                                                                          team_b, server_b):
    Membership.objects.create(team=team_b, user=editor, role=Role.VIEWER)
    page = open_page(editor)
    page.goto(f"/t/{team_a.slug}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme")
    expect(page.get_by_role("navigation", name="Acme")).to_contain_text("Your role: Editor")
    expect(page.get_by_role("heading", name="Acme Production")).to_be_visible()
    axe(page)

    switcher = page.locator("details.team-switcher")
    switcher.locator("summary").click()
    menu = page.get_by_role("list", name="Switch team")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("link", name="Acme (Editor)")).to_have_attribute("aria-current", "true")
    axe(page)
    menu.get_by_role("link", name="Globex (Viewer)").click()

    expect(page).to_have_url(re.compile(rf"/t/{team_b.slug}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Globex")
    expect(switcher.locator("summary")).to_contain_text("Globex")
    expect(page.get_by_role("navigation", name="Globex")).to_contain_text("Your role: Viewer")
    expect(page.get_by_role("navigation", name="Acme")).to_have_count(0)
    expect(page.get_by_role("heading", name="Globex Main")).to_be_visible()
    expect(page.get_by_role("heading", name="Acme Production")).to_have_count(0)
    axe(page)

    switcher.locator("summary").click()
    menu.get_by_role("link", name="Acme (Editor)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme")
    expect(page.get_by_role("heading", name="Acme Production")).to_be_visible()
    expect(page.get_by_role("heading", name="Globex Main")).to_have_count(0)


def test_an_admin_invites_someone_who_accepts_in_their_own_browser_and_joins_with_that_role(
        open_page, axe, admin, team_a):
    page = open_page(admin)
    page.goto(f"/t/{team_a.slug}/members/")
    expect(page.get_by_role("heading", name="Members of Acme")).to_be_visible()
    axe(page)

    page.get_by_label("E-mail address").fill("nina@acme.example")
    page.get_by_label("Role", exact=True).select_option("editor")
    page.get_by_role("button", name="Send invitation").click()

    expect(toasts(page)).to_contain_text("Invitation sent to nina@acme.example as Editor. The link works for 7 days.")
    invitations = page.get_by_role("region", name="Invitations")
    pending = invitations.get_by_role("row").filter(has_text="nina@acme.example")
    expect(pending).to_contain_text("Editor")
    expect(pending).to_contain_text("Waiting for an answer")
    axe(page)

    [message] = mail.outbox
    assert message.to == ["nina@acme.example"]
    link = re.search(r"https?://\S+/invitations/\S+/", message.body).group(0)

    newcomer = open_page()
    newcomer.goto(link)
    expect(newcomer.get_by_role("heading", name="Join Acme")).to_be_visible()
    expect(newcomer.get_by_text("Adam Admin invited nina@acme.example to join Acme as Editor.")).to_be_visible()
    axe(newcomer)
    newcomer.get_by_label("Your name").fill("Nina Newcomer")
    newcomer.get_by_label("Choose a password").fill(NEW_PASSWORD)
    newcomer.get_by_label("Type the password again").fill(NEW_PASSWORD)
    newcomer.get_by_role("button", name="Create my account and join").click()

    expect(newcomer).to_have_url(re.compile(rf"/t/{team_a.slug}/$"))
    expect(toasts(newcomer)).to_contain_text("Welcome to Acme! You joined as Editor.")
    expect(newcomer.get_by_text("Signed in as nina@acme.example")).to_be_visible()
    expect(newcomer.get_by_role("navigation", name="Acme")).to_contain_text("Your role: Editor")
    axe(newcomer)

    page.reload()
    people = page.get_by_role("region", name="People in Acme")
    expect(people.get_by_role("row").filter(has_text="nina@acme.example")).to_contain_text("Nina Newcomer")
    expect(people.get_by_label("Role of Nina Newcomer")).to_have_value("editor")
    expect(invitations.get_by_role("row").filter(has_text="nina@acme.example")).to_contain_text("Accepted")
    axe(page)


def test_an_admin_connects_a_server_after_a_mistake_and_later_replaces_its_token(open_page, axe, admin, team_a,
                                                                                 sandbox):
    sandbox.add_server(SPARE_TOKEN, name="Acme Marketing")
    page = open_page(admin)
    page.goto(f"/t/{team_a.slug}/")
    expect(page.get_by_text("Acme has no Postmark servers yet.")).to_be_visible()
    axe(page)
    page.get_by_role("link", name="Connect a server").first.click()
    expect(page.get_by_role("heading", name="Connect a Postmark server")).to_be_visible()
    axe(page)

    page.get_by_label("Server API token").fill(UNKNOWN_TOKEN)
    page.get_by_label("This is a server in the built-in sandbox").check()
    page.get_by_role("button", name="Check the token and connect").click()
    expect(page.get_by_text("Give the server a name your team will recognise.")).to_be_visible()
    axe(page)

    page.get_by_label("Display name").fill("Acme Marketing")
    page.get_by_label("Server API token").fill(UNKNOWN_TOKEN)
    expect(page.get_by_label("This is a server in the built-in sandbox")).to_be_checked()  # kept from before
    page.get_by_role("button", name="Check the token and connect").click()
    expect(page.get_by_text("Postmark did not accept this token.")).to_be_visible()
    expect(page.get_by_label("Server API token")).to_have_value("")  # a token is never written back into a page
    assert UNKNOWN_TOKEN not in page.content()
    axe(page)

    page.get_by_label("Server API token").fill(SPARE_TOKEN)
    expect(page.get_by_label("This is a server in the built-in sandbox")).to_be_checked()  # kept from before
    page.get_by_role("button", name="Check the token and connect").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Acme Marketing")
    expect(toasts(page)).to_contain_text("Acme Marketing is connected. Postmark accepted its token, which is now "
                                        "stored encrypted and shown only as ••••c3c3.")
    expect(page.get_by_text("••••c3c3 (stored encrypted")).to_be_visible()
    assert SPARE_TOKEN not in page.content()
    axe(page)

    # Someone made a new token for this server in Postmark; the sandbox keeps one token a server, so a fresh
    # sandbox stands for that Postmark, where the same server answers to the new token only.
    renewed = Sandbox()
    assert renewed.add_server(NEW_TOKEN, name="Acme Marketing") == Server.objects.get().postmark_server_id
    previous = install(renewed)
    try:
        page.get_by_role("link", name="Replace token…").click()
        expect(page.get_by_role("heading", name="Replace the token of Acme Marketing")).to_be_visible()
        expect(page.get_by_text("The token stored now ends in ••••c3c3.")).to_be_visible()
        axe(page)
        page.get_by_label("New server API token").fill(NEW_TOKEN)
        page.get_by_role("button", name="Check and save the new token").click()

        expect(page.get_by_role("heading", level=1)).to_contain_text("Acme Marketing")
        expect(toasts(page)).to_contain_text("Postmark accepted the new token for Acme Marketing; it is stored "
                                            "encrypted and shown only as ••••d4d4.")
        expect(page.get_by_text("••••d4d4 (stored encrypted")).to_be_visible()
        assert NEW_TOKEN not in page.content() and SPARE_TOKEN not in page.content()
    finally:
        install(previous)


def test_a_viewer_is_offered_no_changes_where_an_editor_can_act_on_streams(open_page, axe, viewer, editor, team_a,
                                                                         server_a):
    stream_create(actor=editor, team=team_a, server=server_a, stream_id="news", name="News", stream_type="Broadcasts")
    stream_create(actor=editor, team=team_a, server=server_a, stream_id="promo", name="Promo",
                  stream_type="Broadcasts")
    stream_archive(actor=editor, team=team_a, server=server_a, stream_id="promo", confirmation="promo")
    streams = f"/t/{team_a.slug}/servers/{server_a.pk}/streams/"
    # page -> (what anyone there sees, the stream actions an editor sees there)
    pages = {
        f"/t/{team_a.slug}/": ("Purging soon", {"Restore Promo on Acme Production": 1}),
        f"{streams}?archived=1": ("Promo", {"New stream": 1, "Restore Promo": 1}),
        f"{streams}news/": ("News", {"Edit": 1, "Archive…": 1}),
        f"{streams}promo/": ("Archived on", {"Edit": 1, "Restore": 1}),
        f"/t/{team_a.slug}/members/": ("Edith Editor", {}),
    }

    as_viewer = open_page(viewer)
    for path, (shown, _) in pages.items():
        as_viewer.goto(path)
        expect(as_viewer.get_by_role("navigation", name="Acme")).to_contain_text("Your role: Viewer")
        expect(as_viewer.get_by_role("main")).to_contain_text(shown)
        expect(actions_on(as_viewer)).to_have_count(0)
        axe(as_viewer)
    expect(as_viewer.get_by_text("Only admins and owners can invite people or change roles.")).to_be_visible()

    as_editor = open_page(editor)
    for path, (shown, offered) in pages.items():
        as_editor.goto(path)
        expect(as_editor.get_by_role("navigation", name="Acme")).to_contain_text("Your role: Editor")
        expect(as_editor.get_by_role("main")).to_contain_text(shown)
        for name, count in offered.items():
            expect(as_editor.get_by_role("link", name=name, exact=True)
                   .or_(as_editor.get_by_role("button", name=name, exact=True))).to_have_count(count)
        expect(actions_on(as_editor)).to_have_count(sum(offered.values()))
        axe(as_editor)
